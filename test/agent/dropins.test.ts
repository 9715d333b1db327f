/**
 * Drop-ins from a unit repository to running processes: a real git repository read as the
 * controller reads it, its desired state applied to a real etcd, the engine placing units on two
 * machines (agents on private systemd instances). Checked through systemd and /proc: the
 * environment a drop-in sets reaches the process, `systemctl cat` shows the repository's files, a
 * drop-in change replaces the unit in place on its machine, and a type-wide drop-in of the repository
 * reaches no unit gitfleet does not own.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { applyDesired } from '../../src/controller/apply.js';
import { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/log.js';
import { loadCommit } from '../../src/source/git.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { scheduleKey } from '../../src/store/keys.js';
import { SystemdManager } from '../../src/systemd/manager.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { tempDir, TestRepo } from '../support/git.js';
import {
  cmdline,
  eventually,
  isActive,
  mainPid,
  pidAliveIn,
  startSystemd,
  systemctl,
  waitCommand,
  type PrivateSystemd,
} from '../support/systemd.js';

let etcd: EtcdCluster;
const tmp = tempDir('gitfleet-dropins-');
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
  tmp.cleanup();
});

/** The environment of a process, as the kernel has it. */
function environ(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** `systemctl cat UNIT` as [path, text] per file, in the order systemd shows (and applies) them. */
async function cat(inst: PrivateSystemd, unit: string): Promise<Array<[string, string]>> {
  const r = await systemctl(inst, 'cat', unit);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split(/^# (\/\S+)\n/m)
    .slice(1)
    .reduce<Array<[string, string]>>((acc, part, i, all) => {
      if (i % 2 === 0) acc.push([part, all[i + 1]!.replace(/\n+$/, '\n')]);
      return acc;
    }, []);
}

interface Machine {
  id: string;
  inst: PrivateSystemd;
  unitDir: string;
}

async function startMachine(t: TestContext, store: EtcdStore, id: string): Promise<Machine> {
  const inst = await startSystemd(t);
  const mgr = await SystemdManager.connect({ address: inst.busAddress }, { log: () => {} });
  const stateDir = join(inst.dir, `gitfleet-${id}`);
  const unitDir = join(stateDir, 'units');
  const agent = new Agent({
    store,
    machineId: id,
    metadata: {},
    address: '127.0.0.1',
    systemd: mgr,
    unitDir,
    runtimeUnitDir: inst.unitDir,
    stateDir,
    leaseTtlSeconds: 5,
    log: silentLogger,
  });
  // Ends before its systemd stops (after hooks run in reverse order of registration).
  t.after(async () => {
    await agent.stop();
    mgr.close();
  });
  await agent.start();
  return { id, inst, unitDir };
}

const FILES = {
  'fleet.yaml': 'units:\n  web@.service: { instances: 2 }\n',
  'units/sleeper.service':
    '[Unit]\nDescription=sleeps as long as its drop-in says\n\n[Service]\nExecStart=/bin/sleep $SECONDS\n',
  'units/sleeper.service.d/10-seconds.conf': '[Service]\nEnvironment=SECONDS=1001\n',
  'units/web@.service': '[Service]\nExecStart=/bin/sleep $PORT\n',
  'units/web@.service.d/10-port.conf': '[Service]\nEnvironment=PORT=7001\n',
  'units/web@2.service.d/10-port.conf': '[Service]\nEnvironment=PORT=7002\n',
  'units/service.d/50-fleet.conf': '[Service]\nEnvironment=FROM_FLEET=yes\n',
};

test('drop-ins run as systemd merges them, show in systemctl cat, and a change replaces the unit in place', {
  timeout: 120_000,
}, async (t) => {
  const prefix = `/gitfleet-dropins-test-${process.pid}/`;
  const store = new EtcdStore({ endpoints: etcd.endpoints, prefix });
  t.after(() => store.close());
  const machines = [await startMachine(t, store, 'm-a'), await startMachine(t, store, 'm-b')];
  const engine = new Engine({ store, id: 'e1', leaseTtl: 5, resyncSeconds: 0, log: silentLogger });
  t.after(() => engine.stop());
  await engine.start();

  const repo = TestRepo.init(tmp.dir, 'units-repo');
  const apply = async (sha: string) => {
    const r = await loadCommit(repo.dir, sha);
    assert.ok(r.desired, JSON.stringify(r.diagnostics));
    await applyDesired(store, r.desired);
  };
  await apply(repo.commit('units with drop-ins', FILES));

  /** The machine the engine placed `unit` on, once it runs there (checked by systemd). */
  const placed = async (unit: string): Promise<Machine> => {
    let where: Machine | undefined;
    await eventually(
      `${unit} placed and active`,
      async () => {
        const on = [];
        for (const m of machines) if (await store.get(scheduleKey(m.id, unit))) on.push(m);
        where = on.length === 1 ? on[0] : undefined;
        return where !== undefined && (await isActive(where.inst, unit)) === 'active';
      },
      30_000,
    );
    return where!;
  };

  // The drop-in's Environment= is in the process's environment, and ExecStart used it.
  const host = await placed('sleeper.service');
  const pid = await mainPid(host.inst, 'sleeper.service');
  await waitCommand(pid, /^\/bin\/sleep 1001$/);
  assert.equal(environ(pid).SECONDS, '1001');
  assert.equal(environ(pid).FROM_FLEET, 'yes', 'the type-wide drop-in applies to every service of the repo');

  // An instance: the template's drop-in, overridden by the instance's own of the same name.
  const w1 = await placed('web@1.service');
  const w2 = await placed('web@2.service');
  const p1 = await mainPid(w1.inst, 'web@1.service');
  const p2 = await mainPid(w2.inst, 'web@2.service');
  await waitCommand(p1, /^\/bin\/sleep 7001$/);
  await waitCommand(p2, /^\/bin\/sleep 7002$/);
  assert.equal(environ(p1).PORT, '7001');
  assert.equal(environ(p2).PORT, '7002');
  assert.equal(environ(p2).FROM_FLEET, 'yes');

  // systemctl cat on the machine: the repository's files, unit file first, drop-ins by name.
  assert.deepEqual(await cat(host.inst, 'sleeper.service'), [
    [join(host.inst.unitDir, 'sleeper.service'), FILES['units/sleeper.service']],
    [join(host.unitDir, 'sleeper.service.d', '10-seconds.conf'), FILES['units/sleeper.service.d/10-seconds.conf']],
    [join(host.unitDir, 'sleeper.service.d', '50-fleet.conf'), FILES['units/service.d/50-fleet.conf']],
  ]);
  assert.deepEqual(await cat(w2.inst, 'web@2.service'), [
    [join(w2.inst.unitDir, 'web@2.service'), FILES['units/web@.service']],
    [join(w2.unitDir, 'web@2.service.d', '10-port.conf'), FILES['units/web@2.service.d/10-port.conf']],
    [join(w2.unitDir, 'web@2.service.d', '50-fleet.conf'), FILES['units/service.d/50-fleet.conf']],
  ]);

  // The repository's type-wide drop-in is the repository's: a unit of the machine that gitfleet
  // does not own does not get it.
  writeFileSync(join(host.inst.unitDir, 'foreign.service'), '[Service]\nExecStart=/bin/sleep 1003\n');
  await systemctl(host.inst, 'daemon-reload');
  await systemctl(host.inst, 'start', 'foreign.service');
  const foreign = await mainPid(host.inst, 'foreign.service');
  await waitCommand(foreign, /^\/bin\/sleep 1003$/);
  assert.equal(environ(foreign).FROM_FLEET, undefined);

  // A drop-in change: the unit is replaced in place, on the machine it was on.
  await apply(
    repo.commit('longer sleep', { 'units/sleeper.service.d/10-seconds.conf': '[Service]\nEnvironment=SECONDS=1002\n' }),
  );
  await eventually(
    'sleeper.service restarted with the new drop-in',
    async () => /^\/bin\/sleep 1002$/.test(cmdline(await mainPid(host.inst, 'sleeper.service'))),
    30_000,
  );
  const pidAfter = await mainPid(host.inst, 'sleeper.service');
  assert.notEqual(pidAfter, pid);
  assert.equal(pidAliveIn(host.inst, pid), false, 'the old process is gone');
  assert.equal(environ(pidAfter).SECONDS, '1002');
  assert.equal((await placed('sleeper.service')).id, host.id, 'still on its machine');
  const other = machines.find((m) => m !== host)!;
  assert.equal(await isActive(other.inst, 'sleeper.service'), 'inactive');
  assert.equal(await mainPid(w1.inst, 'web@1.service'), p1, 'units the change does not touch keep running');
  assert.equal(await mainPid(host.inst, 'foreign.service'), foreign);

  // Dropping the instance's own drop-in: it falls back to the template's; no file is left behind.
  await apply(repo.commit('one port for all', { 'units/web@2.service.d/10-port.conf': null }));
  await eventually(
    'web@2.service runs with the template drop-in',
    async () => /^\/bin\/sleep 7001$/.test(cmdline(await mainPid(w2.inst, 'web@2.service'))),
    30_000,
  );
  assert.deepEqual(
    (await cat(w2.inst, 'web@2.service')).map(([p]) => p),
    [
      join(w2.inst.unitDir, 'web@2.service'),
      join(w2.unitDir, 'web@2.service.d', '10-port.conf'),
      join(w2.unitDir, 'web@2.service.d', '50-fleet.conf'),
    ],
  );
  assert.equal(
    readFileSync(join(w2.unitDir, 'web@2.service.d', '10-port.conf'), 'utf8'),
    FILES['units/web@.service.d/10-port.conf'],
  );

  // No drop-ins left at all: the unit's drop-in directory and its link go.
  await apply(
    repo.commit('no drop-ins for web', {
      'units/web@.service.d/10-port.conf': null,
      'units/web@.service': '[Service]\nExecStart=/bin/sleep 7009\n',
      'units/service.d/50-fleet.conf': null,
    }),
  );
  await eventually(
    'web@2.service runs without drop-ins',
    async () => /^\/bin\/sleep 7009$/.test(cmdline(await mainPid(w2.inst, 'web@2.service'))),
    30_000,
  );
  assert.deepEqual(
    (await cat(w2.inst, 'web@2.service')).map(([p]) => p),
    [join(w2.inst.unitDir, 'web@2.service')],
  );
  assert.equal(environ(await mainPid(w2.inst, 'web@2.service')).FROM_FLEET, undefined);
});
