// The agent against a real etcd and real private systemd instances. Results are checked through
// the oracle (systemctl --user against the instance, /proc) and by reading etcd directly.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Agent, AgentError } from '../../src/agent/agent.js';
import { SystemdManager } from '../../src/systemd/manager.js';
import { silentLogger } from '../../src/log.js';
import { EtcdStore } from '../../src/store/etcd.js';
import {
  DESIRED_ROOT,
  bodyKey,
  machineKey,
  scheduleKey,
  unitStateKey,
  type DesiredEntry,
  type DesiredRoot,
  type MachineRecord,
  type UnitStateReport,
} from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';
import { NO_CONSTRAINTS } from '../../src/unit/types.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import {
  eventually,
  isActive,
  mainPid,
  pidAliveIn,
  showProperty,
  startSystemd,
  stopSystemd,
  systemctl,
  waitCommand,
  type PrivateSystemd,
} from '../support/systemd.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let etcd: EtcdCluster;
let prefixCounter = 0;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

/** A store on its own key prefix (one per test), closed when the test ends. */
function openStore(t: TestContext, prefix: string, endpoints = etcd.endpoints): EtcdStore {
  const s = new EtcdStore({ endpoints, prefix });
  t.after(() => s.close());
  return s;
}

interface Machine {
  id: string;
  inst: PrivateSystemd;
  mgr: SystemdManager;
  store: EtcdStore;
  agent: Agent;
  unitDir: string;
  stateDir: string;
}

interface MachineOptions {
  id: string;
  prefix: string;
  metadata?: Record<string, string>;
  inst?: PrivateSystemd;
  stateDir?: string;
  onExit?: 'leave' | 'stop';
  endpoints?: string[];
  ttl?: number;
  resyncMs?: number;
  /** Tell the agent systemd's runtime unit directory (as `gitfleet agent` does). */
  runtimeUnitDir?: boolean;
}

/** A private systemd (unless given), a SystemdManager, a store and a started Agent; all ended after the test. */
async function startMachine(t: TestContext, o: MachineOptions): Promise<Machine> {
  let inst = o.inst;
  if (!inst) {
    const own = await startSystemd();
    inst = own;
    t.after(() => stopSystemd(own));
  }
  const mgr = await SystemdManager.connect({ address: inst.busAddress }, { log: () => {} });
  const store = new EtcdStore({ endpoints: o.endpoints ?? etcd.endpoints, prefix: o.prefix });
  const stateDir = o.stateDir ?? join(inst.dir, `gitfleet-${o.id}`);
  const unitDir = join(stateDir, 'units');
  const agent = new Agent({
    store,
    machineId: o.id,
    metadata: o.metadata ?? {},
    address: '127.0.0.1',
    systemd: mgr,
    unitDir,
    stateDir,
    onExit: o.onExit ?? 'leave',
    leaseTtlSeconds: o.ttl ?? 3,
    log: silentLogger,
    driftBackoff: { minMs: 200, maxMs: 2_000 },
    ...(o.resyncMs ? { resyncMs: o.resyncMs } : {}),
    ...(o.runtimeUnitDir ? { runtimeUnitDir: inst.unitDir } : {}),
  });
  // Registered before start() so a failing start is cleaned up too; ends before its systemd stops.
  t.after(async () => {
    await agent.stop();
    mgr.close();
    await store.close();
  });
  await agent.start();
  return { id: o.id, inst, mgr, store, agent, unitDir, stateDir };
}

function newPrefix(): string {
  return `/gitfleet-agent-test-${process.pid}-${++prefixCounter}/`;
}

/** Schedule `unit` with `content` on `machine` as the engine would (body by hash + schedule key). */
async function schedule(
  admin: Store,
  machine: string,
  unit: string,
  content: string,
  state: 'loaded' | 'launched',
): Promise<string> {
  const hash = sha256(content);
  await admin.put(bodyKey(hash), content);
  await admin.put(scheduleKey(machine, unit), JSON.stringify({ hash, state }));
  return hash;
}

async function report(admin: Store, machine: string, unit: string): Promise<UnitStateReport | null> {
  const kv = await admin.get(unitStateKey(machine, unit));
  return kv ? (JSON.parse(kv.value) as UnitStateReport) : null;
}

const isLink = (p: string) => {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};

/** When the instance last (re)loaded its units (CLOCK_MONOTONIC µs): it moves on every daemon-reload. */
const unitsLoadedAt = async (inst: PrivateSystemd) =>
  (await systemctl(inst, 'show', '-p', 'UnitsLoadTimestampMonotonic', '--value')).stdout.trim();

const sleepUnit = (n: number, extra = '') =>
  `[Unit]\nDescription=sleeper ${n}\n\n[Service]\nExecStart=/bin/sleep ${n}\n${extra}`;

describe('agent', () => {
  test('registers its machine under a lease; a second agent with the same machine id is refused', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-dup', prefix, metadata: { role: 'web' } });
    const kv = await admin.get(machineKey('m-dup'));
    assert.ok(kv, 'machine record written');
    assert.notEqual(kv.lease, '0', 'bound to a lease');
    const rec = JSON.parse(kv.value) as MachineRecord;
    assert.deepEqual([rec.id, rec.address, rec.metadata], ['m-dup', '127.0.0.1', { role: 'web' }]);

    // Same id, another machine (its own state dir, hence another instance token): refused, clearly.
    await assert.rejects(
      startMachine(t, { id: 'm-dup', prefix, inst: m.inst, stateDir: join(m.inst.dir, 'other-machine') }),
      (e: unknown) =>
        e instanceof AgentError &&
        /machine id m-dup is already registered by a live agent at 127\.0\.0\.1/.test(e.message) &&
        /cloned \/etc\/machine-id/.test(e.message),
    );
    // The first registration is untouched.
    assert.equal((await admin.get(machineKey('m-dup')))?.value, kv.value);
  });

  test('load, launch, stop and unload a unit; reports follow systemd', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-life', prefix });
    const content = sleepUnit(2001);

    const hash = await schedule(admin, 'm-life', 'life.service', content, 'loaded');
    await eventually(
      'life.service loaded',
      async () => (await report(admin, 'm-life', 'life.service'))?.load === 'loaded',
    );
    assert.equal(await isActive(m.inst, 'life.service'), 'inactive');
    assert.equal(readFileSync(join(m.unitDir, 'life.service'), 'utf8'), content);
    assert.ok(isLink(join(m.inst.unitDir, 'life.service')));

    await schedule(admin, 'm-life', 'life.service', content, 'launched');
    await eventually('life.service active (oracle)', async () => (await isActive(m.inst, 'life.service')) === 'active');
    const pid = await mainPid(m.inst, 'life.service');
    assert.ok(pidAliveIn(m.inst, pid));
    await eventually('report says active/running', async () => {
      const r = await report(admin, 'm-life', 'life.service');
      return r?.active === 'active' && r.sub === 'running' && r.hash === hash;
    });

    await schedule(admin, 'm-life', 'life.service', content, 'loaded');
    await eventually(
      'life.service stopped (launched -> loaded)',
      async () => (await isActive(m.inst, 'life.service')) === 'inactive',
    );
    await eventually(`process ${pid} gone`, () => !pidAliveIn(m.inst, pid));
    await eventually(
      'report says inactive',
      async () => (await report(admin, 'm-life', 'life.service'))?.active === 'inactive',
    );

    await schedule(admin, 'm-life', 'life.service', content, 'launched');
    await eventually('life.service active again', async () => (await isActive(m.inst, 'life.service')) === 'active');
    const pid2 = await mainPid(m.inst, 'life.service');

    await admin.delete(scheduleKey('m-life', 'life.service'));
    await eventually('file removed', () => !existsSync(join(m.unitDir, 'life.service')));
    assert.equal(isLink(join(m.inst.unitDir, 'life.service')), false);
    await eventually(`process ${pid2} gone`, () => !pidAliveIn(m.inst, pid2));
    await eventually('report deleted', async () => (await report(admin, 'm-life', 'life.service')) === null);
    await m.agent.idle();
    assert.equal((await m.mgr.getUnitState('life.service')).load, 'not-found');
  });

  test('a changed hash replaces the unit in place; [Install] is honoured', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-repl', prefix });
    await schedule(
      admin,
      'm-repl',
      'repl.service',
      sleepUnit(2002, '\n[Install]\nWantedBy=default.target\n'),
      'launched',
    );
    await eventually('repl.service active', async () => (await isActive(m.inst, 'repl.service')) === 'active');
    assert.ok(isLink(join(m.inst.unitDir, 'default.target.wants', 'repl.service')), 'enabled at runtime');
    const oldPid = await mainPid(m.inst, 'repl.service');

    const hash2 = await schedule(
      admin,
      'm-repl',
      'repl.service',
      sleepUnit(2003, '\n[Install]\nWantedBy=default.target\n'),
      'launched',
    );
    await eventually('report has the new hash and runs', async () => {
      const r = await report(admin, 'm-repl', 'repl.service');
      return r?.hash === hash2 && r.active === 'active';
    });
    const newPid = await mainPid(m.inst, 'repl.service');
    assert.notEqual(newPid, oldPid);
    await waitCommand(newPid, /^\/bin\/sleep 2003$/);
    assert.equal(await showProperty(m.inst, 'repl.service', 'NeedDaemonReload'), 'no');
    await eventually(`old process ${oldPid} gone`, () => !pidAliveIn(m.inst, oldPid));
  });

  test('a changed unit nothing refers to restarts with its new file, its link kept, no daemon-reload', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-fresh', prefix, runtimeUnitDir: true });
    await schedule(admin, 'm-fresh', 'fresh.service', sleepUnit(2005), 'launched');
    await eventually('fresh.service active', async () => (await isActive(m.inst, 'fresh.service')) === 'active');
    const oldPid = await mainPid(m.inst, 'fresh.service');
    await m.agent.idle();
    const loadedAt = await unitsLoadedAt(m.inst);
    const link = lstatSync(join(m.inst.unitDir, 'fresh.service'));

    for (const n of [2006, 2007]) {
      const hash = await schedule(admin, 'm-fresh', 'fresh.service', sleepUnit(n), 'launched');
      await eventually(`report has the hash of sleep ${n}, active`, async () => {
        const r = await report(admin, 'm-fresh', 'fresh.service');
        return r?.hash === hash && r.active === 'active';
      });
      await waitCommand(await mainPid(m.inst, 'fresh.service'), new RegExp(`^/bin/sleep ${n}$`));
      assert.equal(await showProperty(m.inst, 'fresh.service', 'NeedDaemonReload'), 'no');
    }
    assert.equal(await unitsLoadedAt(m.inst), loadedAt, 'no daemon-reload');
    assert.equal(lstatSync(join(m.inst.unitDir, 'fresh.service')).ino, link.ino, 'the same link');
    await eventually(`old process ${oldPid} gone`, () => !pidAliveIn(m.inst, oldPid));
  });

  test('a changed unit another unit refers to restarts with its new file after a daemon-reload', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-held', prefix, runtimeUnitDir: true });
    await schedule(admin, 'm-held', 'dep.service', sleepUnit(2008), 'launched');
    await schedule(
      admin,
      'm-held',
      'anchor.service',
      '[Unit]\nWants=dep.service\n\n[Service]\nExecStart=/bin/sleep 2009\n',
      'launched',
    );
    await eventually('both active', async () => (await isActive(m.inst, 'anchor.service')) === 'active');
    await eventually('dep active', async () => (await isActive(m.inst, 'dep.service')) === 'active');
    await m.agent.idle();
    const loadedAt = await unitsLoadedAt(m.inst);

    // anchor.service keeps dep.service loaded while it is stopped: only a reload makes systemd read the new file.
    const hash = await schedule(admin, 'm-held', 'dep.service', sleepUnit(2010), 'launched');
    await eventually('report has the new hash, active', async () => {
      const r = await report(admin, 'm-held', 'dep.service');
      return r?.hash === hash && r.active === 'active';
    });
    await waitCommand(await mainPid(m.inst, 'dep.service'), /^\/bin\/sleep 2010$/);
    assert.equal(await showProperty(m.inst, 'dep.service', 'NeedDaemonReload'), 'no');
    assert.notEqual(await unitsLoadedAt(m.inst), loadedAt, 'a daemon-reload was made');
  });

  test('steady state: resync passes send nothing to etcd (lease keep-alives aside)', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-quiet', prefix, resyncMs: 100 });
    await schedule(admin, 'm-quiet', 'quiet.service', sleepUnit(2018), 'launched');
    await eventually(
      'quiet.service reported active',
      async () => (await report(admin, 'm-quiet', 'quiet.service'))?.active === 'active',
    );
    await m.agent.idle();
    const before = { ...m.store.stats() };
    const passes = m.agent.passes;
    await new Promise((r) => setTimeout(r, 600));
    await m.agent.idle();
    assert.ok(m.agent.passes >= passes + 3, `resync passes ran (${m.agent.passes - passes})`);
    assert.deepEqual(m.store.stats(), before);
  });

  test('template instances each run their own process', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-tpl', prefix });
    const tpl = '[Service]\nExecStart=/bin/sleep 30%i\n';
    await schedule(admin, 'm-tpl', 'web@1.service', tpl, 'launched');
    await schedule(admin, 'm-tpl', 'web@2.service', tpl, 'launched');
    await eventually(
      'both instances active',
      async () =>
        (await isActive(m.inst, 'web@1.service')) === 'active' &&
        (await isActive(m.inst, 'web@2.service')) === 'active',
    );
    await waitCommand(await mainPid(m.inst, 'web@1.service'), /^\/bin\/sleep 301$/);
    await waitCommand(await mainPid(m.inst, 'web@2.service'), /^\/bin\/sleep 302$/);
  });

  test(
    'a launched socket and its loaded service: a connection activates the service and the agent leaves it ' + 'running',
    async (t) => {
      const prefix = newPrefix();
      const admin = openStore(t, prefix);
      const m = await startMachine(t, { id: 'm-sock', prefix });
      const sock = join(m.inst.runtimeDir, 'hold.sock');
      await schedule(admin, 'm-sock', 'hold.socket', `[Socket]\nListenStream=${sock}\n`, 'launched');
      // Accept=no: systemd hands the listening socket over; the service just holds it open.
      await schedule(
        admin,
        'm-sock',
        'hold.service',
        '[Service]\nExecStart=/bin/sleep 2004\nStandardInput=socket\n',
        'loaded',
      );
      await eventually('hold.socket listening', async () => (await isActive(m.inst, 'hold.socket')) === 'active');
      assert.equal(await isActive(m.inst, 'hold.service'), 'inactive');
      await new Promise<void>((resolve, reject) => {
        const c: Socket = connect(sock, () => {
          c.end();
          resolve();
        });
        c.on('error', reject);
      });
      await eventually(
        'hold.service activated by its socket',
        async () => (await isActive(m.inst, 'hold.service')) === 'active',
      );
      const pid = await mainPid(m.inst, 'hold.service');
      await m.agent.idle();
      await eventually(
        'report says hold.service active',
        async () => (await report(admin, 'm-sock', 'hold.service'))?.active === 'active',
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        await isActive(m.inst, 'hold.service'),
        'active',
        'the agent did not stop a loaded unit its socket started',
      );
      assert.equal(await mainPid(m.inst, 'hold.service'), pid);
    },
  );

  test('a oneshot that ran to success is reported healthy; one that failed, failed with its exit status', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-once', prefix });
    const out = join(m.inst.dir, 'agent-once.out');
    const ok = await schedule(
      admin,
      'm-once',
      'once.service',
      `[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo ran >> ${out}'\n`,
      'launched',
    );
    const bad = await schedule(
      admin,
      'm-once',
      'bad-once.service',
      '[Service]\nType=oneshot\nExecStart=/bin/sh -c "exit 3"\n',
      'launched',
    );
    await eventually('once.service reported healthy', async () => {
      const r = await report(admin, 'm-once', 'once.service');
      return r?.hash === ok && r.health?.state === 'healthy';
    });
    // systemd's word: it ran once, exited 0, and is inactive again (not restarted by gitfleet).
    assert.equal(readFileSync(out, 'utf8'), 'ran\n');
    assert.equal(await showProperty(m.inst, 'once.service', 'Result'), 'success');
    assert.equal(await isActive(m.inst, 'once.service'), 'inactive');
    await eventually('bad-once.service reported failed', async () => {
      const r = await report(admin, 'm-once', 'bad-once.service');
      return r?.hash === bad && r.health?.state === 'failed' && /exit-code 3/.test(r.health.reason ?? '');
    });
    assert.equal(await isActive(m.inst, 'bad-once.service'), 'failed');
  });

  test('a timer scheduled with its service triggers it', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-timer', prefix });
    const out = join(m.inst.dir, 'agent-tick.out');
    await schedule(
      admin,
      'm-timer',
      'tock.service',
      `[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo tock >> ${out}'\n`,
      'loaded',
    );
    await schedule(
      admin,
      'm-timer',
      'tock.timer',
      '[Timer]\nOnActiveSec=50ms\nOnUnitActiveSec=100ms\nAccuracySec=1ms\n',
      'launched',
    );
    await eventually(
      'tock.service ran twice',
      () => existsSync(out) && readFileSync(out, 'utf8').split('\n').filter(Boolean).length >= 2,
    );
    assert.equal(await isActive(m.inst, 'tock.timer'), 'active');
  });

  test('Global units run on every agent whose metadata matches', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const a = await startMachine(t, { id: 'm-ga', prefix, metadata: { role: 'web' } });
    const b = await startMachine(t, { id: 'm-gb', prefix, metadata: { role: 'db' } });
    const everywhere = '[Service]\nExecStart=/bin/sleep 2005\n';
    const webOnly = '[Service]\nExecStart=/bin/sleep 2006\n';
    const entry = (name: string, content: string, md: Record<string, string[]>): DesiredEntry => ({
      name,
      hash: sha256(content),
      state: 'launched',
      constraints: { ...NO_CONSTRAINTS, global: true, machineMetadata: md },
    });
    await admin.put(bodyKey(sha256(everywhere)), everywhere);
    await admin.put(bodyKey(sha256(webOnly)), webOnly);
    const root: DesiredRoot = {
      commit: 'c1',
      at: new Date().toISOString(),
      shards: {},
      count: 2,
      global: [entry('everywhere.service', everywhere, {}), entry('webonly.service', webOnly, { role: ['web'] })],
    };
    await admin.put(DESIRED_ROOT, JSON.stringify(root));
    await eventually(
      'everywhere.service on both',
      async () =>
        (await isActive(a.inst, 'everywhere.service')) === 'active' &&
        (await isActive(b.inst, 'everywhere.service')) === 'active',
    );
    await eventually(
      'webonly.service on the web machine',
      async () => (await isActive(a.inst, 'webonly.service')) === 'active',
    );
    await a.agent.idle();
    await b.agent.idle();
    assert.equal(existsSync(join(b.unitDir, 'webonly.service')), false);
    assert.equal(await isActive(b.inst, 'webonly.service'), 'inactive');
    assert.equal((await report(admin, 'm-ga', 'everywhere.service'))?.active, 'active');
    assert.equal((await report(admin, 'm-gb', 'everywhere.service'))?.active, 'active');
    assert.equal(await report(admin, 'm-gb', 'webonly.service'), null);

    // Removing the Global unit from the root unloads it everywhere.
    await admin.put(DESIRED_ROOT, JSON.stringify({ ...root, global: [root.global[1]], count: 1 }));
    await eventually(
      'everywhere.service unloaded on both',
      () => !existsSync(join(a.unitDir, 'everywhere.service')) && !existsSync(join(b.unitDir, 'everywhere.service')),
    );
    assert.equal(await isActive(a.inst, 'webonly.service'), 'active');
  });

  test(
    "drift: a launched unit stopped behind the agent's back is started again and the repair is reported; " +
      'one that crashed stays failed',
    async (t) => {
      const prefix = newPrefix();
      const admin = openStore(t, prefix);
      const m = await startMachine(t, { id: 'm-drift', prefix });
      await schedule(admin, 'm-drift', 'drift.service', sleepUnit(2007), 'launched');
      await eventually('drift.service active', async () => (await isActive(m.inst, 'drift.service')) === 'active');
      const pid = await mainPid(m.inst, 'drift.service');
      // Stopped with systemctl (not a crash): drift, repaired.
      assert.equal((await systemctl(m.inst, 'stop', 'drift.service')).code, 0);
      await eventually('drift.service restarted with a new process', async () => {
        const p = await mainPid(m.inst, 'drift.service');
        return p !== 0 && p !== pid && pidAliveIn(m.inst, p);
      });
      await eventually('report counts one drift repair', async () => {
        const r = await report(admin, 'm-drift', 'drift.service');
        return r?.driftRepairs === 1 && r.active === 'active';
      });
      // Killed (a crash, and no Restart=): systemd let it fail; gitfleet leaves it so and says so.
      process.kill(await mainPid(m.inst, 'drift.service'), 'SIGKILL');
      await eventually('drift.service failed', async () => (await isActive(m.inst, 'drift.service')) === 'failed');
      await eventually(
        'reported failed',
        async () => (await report(admin, 'm-drift', 'drift.service'))?.active === 'failed',
      );
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(await isActive(m.inst, 'drift.service'), 'failed');
      assert.equal((await report(admin, 'm-drift', 'drift.service'))?.driftRepairs, 1);
    },
  );

  test('a unit systemd lets fail stays failed and is reported so: gitfleet never restarts it', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-crash', prefix });
    await schedule(admin, 'm-crash', 'crash.service', '[Service]\nExecStart=/bin/false\n', 'launched');
    await eventually('crash.service failed', async () => (await isActive(m.inst, 'crash.service')) === 'failed');
    const first = (await systemctl(m.inst, 'show', '-p', 'InvocationID', '--value', 'crash.service')).stdout.trim();
    await new Promise((r) => setTimeout(r, 1_500));
    await m.agent.idle();
    const again = (await systemctl(m.inst, 'show', '-p', 'InvocationID', '--value', 'crash.service')).stdout.trim();
    assert.equal(again, first, 'the failed unit was not started again');
    assert.equal(await isActive(m.inst, 'crash.service'), 'failed');
    const r = await report(admin, 'm-crash', 'crash.service');
    assert.equal(r?.active, 'failed');
    assert.equal(r?.driftRepairs, undefined);
  });

  test('unloads a unit whose runtime link vanished (as after a reboot): the file is still removed', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-nolink', prefix });
    await schedule(admin, 'm-nolink', 'nolink.service', sleepUnit(2019), 'loaded');
    await eventually('nolink.service linked', () => isLink(join(m.inst.unitDir, 'nolink.service')));
    await m.agent.idle();
    rmSync(join(m.inst.unitDir, 'nolink.service'));
    await admin.delete(scheduleKey('m-nolink', 'nolink.service'));
    await eventually('nolink.service file removed', () => !existsSync(join(m.unitDir, 'nolink.service')));
    await eventually('its report deleted', async () => (await report(admin, 'm-nolink', 'nolink.service')) === null);
  });

  test('a scheduled name that is not a unit name (path traversal) is never written anywhere', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-evil', prefix });
    await schedule(admin, 'm-evil', '../evil.service', sleepUnit(2020), 'launched');
    await schedule(admin, 'm-evil', 'fine.service', sleepUnit(2021), 'launched');
    await eventually('fine.service active', async () => (await isActive(m.inst, 'fine.service')) === 'active');
    await m.agent.idle();
    assert.equal(existsSync(join(m.stateDir, 'evil.service')), false);
    assert.equal(existsSync(join(m.unitDir, '..', 'evil.service')), false);
    assert.equal(await report(admin, 'm-evil', '../evil.service'), null);
  });

  test('never touches a unit it does not own', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const inst = await startSystemd();
    t.after(() => stopSystemd(inst));
    const mgr = await SystemdManager.connect({ address: inst.busAddress });
    t.after(() => mgr.close());
    await mgr.linkUnitFiles([
      await mgr.writeUnitFile(
        join(inst.dir, 'admin-units'),
        'foreign.service',
        '[Service]\nExecStart=/bin/sleep 2008\n',
      ),
    ]);
    await mgr.startUnit('foreign.service');
    const m = await startMachine(t, { id: 'm-own', prefix, inst });
    await schedule(admin, 'm-own', 'mine.service', sleepUnit(2009), 'launched');
    await eventually('mine.service active', async () => (await isActive(inst, 'mine.service')) === 'active');
    await admin.delete(scheduleKey('m-own', 'mine.service'));
    await eventually('mine.service unloaded', () => !existsSync(join(m.unitDir, 'mine.service')));
    await m.agent.idle();
    assert.equal(await isActive(inst, 'foreign.service'), 'active');
    assert.ok(isLink(join(inst.unitDir, 'foreign.service')));
    assert.equal(await report(admin, 'm-own', 'foreign.service'), null);
  });

  test(
    'SIGTERM-style stop leaves units running; the restarted agent takes over without restarting them; onExit=stop ' +
      'unloads',
    async (t) => {
      const prefix = newPrefix();
      const admin = openStore(t, prefix);
      const inst = await startSystemd();
      t.after(() => stopSystemd(inst));
      const stateDir = join(inst.dir, 'gitfleet-m-exit');
      const first = await startMachine(t, { id: 'm-exit', prefix, inst, stateDir });
      await schedule(admin, 'm-exit', 'keep.service', sleepUnit(2010), 'launched');
      await eventually('keep.service active', async () => (await isActive(inst, 'keep.service')) === 'active');
      const pid = await mainPid(inst, 'keep.service');
      const since = await showProperty(inst, 'keep.service', 'ActiveEnterTimestampMonotonic');
      await first.agent.stop();
      assert.equal(await isActive(inst, 'keep.service'), 'active');

      // Same machine, same state dir, lease still live: it takes its own record over.
      const second = await startMachine(t, { id: 'm-exit', prefix, inst, stateDir, onExit: 'stop' });
      await second.agent.idle();
      assert.equal(await mainPid(inst, 'keep.service'), pid);
      assert.equal(await showProperty(inst, 'keep.service', 'ActiveEnterTimestampMonotonic'), since);

      await second.agent.stop();
      assert.equal(await isActive(inst, 'keep.service'), 'inactive');
      assert.equal(existsSync(join(second.unitDir, 'keep.service')), false);
      assert.equal(isLink(join(inst.unitDir, 'keep.service')), false);
      await eventually(
        'machine record gone (lease revoked)',
        async () => (await admin.get(machineKey('m-exit'))) === null,
      );
    },
  );

  test(
    'systemd daemon-reexec under a running agent: it carries on (new units start, drift is still ' + 'seen)',
    async (t) => {
      const prefix = newPrefix();
      const admin = openStore(t, prefix);
      const m = await startMachine(t, { id: 'm-reexec', prefix });
      await schedule(admin, 'm-reexec', 'before.service', sleepUnit(2011), 'launched');
      await eventually('before.service active', async () => (await isActive(m.inst, 'before.service')) === 'active');
      assert.equal((await systemctl(m.inst, 'daemon-reexec')).code, 0);
      await schedule(admin, 'm-reexec', 'after.service', sleepUnit(2012), 'launched');
      await eventually(
        'after.service active after the re-exec',
        async () => (await isActive(m.inst, 'after.service')) === 'active',
      );
      const pid = await mainPid(m.inst, 'before.service');
      assert.equal((await systemctl(m.inst, 'stop', 'before.service')).code, 0);
      await eventually('before.service repaired after the re-exec', async () => {
        const p = await mainPid(m.inst, 'before.service');
        return p !== 0 && p !== pid;
      });
    },
  );
});

// ---- faults: etcd down, lease lost --------------------------------------------------------

/** A TCP proxy in front of etcd whose connections the test can cut and restore (network faults). */
async function startProxy(
  t: TestContext,
  target: string,
): Promise<{ endpoint: string; cut(): void; restore(): Promise<void> }> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(url.port), url.hostname);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const cut = () => {
    server?.close();
    server = null;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  t.after(cut);
  return { endpoint: `http://127.0.0.1:${port}`, cut, restore: listen };
}

describe('agent under faults', () => {
  test('etcd killed and restarted under a running agent: no unit restarts, and the agent resumes', async (t) => {
    const prefix = newPrefix();
    const admin = openStore(t, prefix);
    const m = await startMachine(t, { id: 'm-etcd', prefix, ttl: 10 });
    await schedule(admin, 'm-etcd', 'steady.service', sleepUnit(2013), 'launched');
    await schedule(admin, 'm-etcd', 'bumped.service', sleepUnit(2017), 'launched');
    await eventually(
      'steady and bumped active',
      async () =>
        (await isActive(m.inst, 'steady.service')) === 'active' &&
        (await isActive(m.inst, 'bumped.service')) === 'active',
    );
    const pid = await mainPid(m.inst, 'steady.service');
    const since = await showProperty(m.inst, 'steady.service', 'ActiveEnterTimestampMonotonic');

    await etcd.kill(0);
    // Drift while etcd is down: systemd still works, so the agent repairs it; its report waits for etcd.
    assert.equal((await systemctl(m.inst, 'stop', 'bumped.service')).code, 0);
    await eventually(
      'bumped.service repaired while etcd is down',
      async () => (await isActive(m.inst, 'bumped.service')) === 'active',
    );
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await isActive(m.inst, 'steady.service'), 'active');
    await etcd.restart(0);

    await schedule(admin, 'm-etcd', 'later.service', sleepUnit(2014), 'launched');
    await eventually(
      'later.service active after etcd came back',
      async () => (await isActive(m.inst, 'later.service')) === 'active',
      15_000,
    );
    assert.equal(await mainPid(m.inst, 'steady.service'), pid);
    assert.equal(await showProperty(m.inst, 'steady.service', 'ActiveEnterTimestampMonotonic'), since);
    assert.equal(await showProperty(m.inst, 'steady.service', 'NRestarts'), '0');
    assert.equal((await report(admin, 'm-etcd', 'steady.service'))?.active, 'active');
    await eventually(
      'the repair made during the outage is reported',
      async () => (await report(admin, 'm-etcd', 'bumped.service'))?.driftRepairs === 1,
    );
  });

  test(
    'restarted after its lease expired: the new process first unloads what was rescheduled away, then ' + 'registers',
    async (t) => {
      const prefix = newPrefix();
      const admin = openStore(t, prefix);
      const inst = await startSystemd();
      t.after(() => stopSystemd(inst));
      const stateDir = join(inst.dir, 'gitfleet-m-back');
      const first = await startMachine(t, { id: 'm-back', prefix, inst, stateDir, ttl: 2 });
      const stoppedAt = join(inst.dir, 'moved2.stopped');
      await schedule(
        admin,
        'm-back',
        'moved2.service',
        `[Service]\nExecStart=/bin/sh -c "trap 'date +%%s%%3N > ${stoppedAt}; exit 0' TERM; while :; do sleep 0.05; ` +
          `done"\n`,
        'launched',
      );
      await schedule(admin, 'm-back', 'stays2.service', sleepUnit(2017), 'launched');
      await eventually(
        'both active',
        async () =>
          (await isActive(inst, 'moved2.service')) === 'active' &&
          (await isActive(inst, 'stays2.service')) === 'active',
      );
      const staysPid = await mainPid(inst, 'stays2.service');
      await first.agent.stop(); // leave: units keep running, the lease runs out
      await eventually('machine record expired', async () => (await admin.get(machineKey('m-back'))) === null, 10_000);
      await admin.delete(scheduleKey('m-back', 'moved2.service')); // the engine moved it away

      const second = await startMachine(t, { id: 'm-back', prefix, inst, stateDir, ttl: 2 });
      await second.agent.idle();
      const again = JSON.parse((await admin.get(machineKey('m-back')))!.value) as MachineRecord;
      assert.equal(await isActive(inst, 'moved2.service'), 'inactive');
      const stopMs = Number(readFileSync(stoppedAt, 'utf8').trim());
      assert.ok(
        stopMs <= Date.parse(again.startedAt),
        `stopped at ${stopMs}, registered at ${Date.parse(again.startedAt)}`,
      );
      assert.equal(await mainPid(inst, 'stays2.service'), staysPid);
    },
  );

  test(
    'lease expired while cut off: on return it first unloads what was rescheduled away, then registers ' + 'again',
    async (t) => {
      const prefix = newPrefix();
      const admin = openStore(t, prefix);
      const proxy = await startProxy(t, etcd.endpoints[0]!);
      const m = await startMachine(t, { id: 'm-lease', prefix, endpoints: [proxy.endpoint], ttl: 2 });
      // moved.service writes the time (ms) it got SIGTERM: the evidence for "unloaded before registering".
      const stoppedAt = join(m.inst.dir, 'moved.stopped');
      await schedule(
        admin,
        'm-lease',
        'moved.service',
        `[Service]\nExecStart=/bin/sh -c "trap 'date +%%s%%3N > ${stoppedAt}; exit 0' TERM; while :; do sleep 0.05; ` +
          `done"\n`,
        'launched',
      );
      await schedule(admin, 'm-lease', 'stays.service', sleepUnit(2016), 'launched');
      await eventually(
        'both active',
        async () =>
          (await isActive(m.inst, 'moved.service')) === 'active' &&
          (await isActive(m.inst, 'stays.service')) === 'active',
      );
      const staysPid = await mainPid(m.inst, 'stays.service');
      const before = JSON.parse((await admin.get(machineKey('m-lease')))!.value) as MachineRecord;

      proxy.cut();
      // The lease expires (TTL 2 s): the machine record and its reports vanish; an engine moves a unit away.
      await eventually('machine record expired', async () => (await admin.get(machineKey('m-lease'))) === null, 10_000);
      assert.equal(await report(admin, 'm-lease', 'stays.service'), null);
      await admin.delete(scheduleKey('m-lease', 'moved.service'));
      assert.equal(await isActive(m.inst, 'moved.service'), 'active', 'cut off, the agent keeps every unit as it is');

      await proxy.restore();
      await eventually('registered again', async () => (await admin.get(machineKey('m-lease'))) !== null, 15_000);
      const again = JSON.parse((await admin.get(machineKey('m-lease')))!.value) as MachineRecord;
      assert.notEqual(again.startedAt, before.startedAt);
      await eventually('moved.service unloaded', async () => (await isActive(m.inst, 'moved.service')) === 'inactive');
      // Ordering: moved.service was stopped before the machine registered again.
      const stopMs = Number(readFileSync(stoppedAt, 'utf8').trim());
      assert.ok(
        stopMs <= Date.parse(again.startedAt),
        `stopped at ${stopMs}, registered at ${Date.parse(again.startedAt)}`,
      );
      // The unit still scheduled here never stopped, and its report is back.
      assert.equal(await mainPid(m.inst, 'stays.service'), staysPid);
      await eventually(
        'stays.service reported again',
        async () => (await report(admin, 'm-lease', 'stays.service'))?.active === 'active',
        10_000,
      );
    },
  );
});
