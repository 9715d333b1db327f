// SystemdManager against real private systemd user instances (test/support/systemd.ts), checked
// through an independent oracle: systemctl --user / busctl --user against the instance and /proc.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  SystemdError,
  SystemdManager,
  SystemdUnavailableError,
  unitNameFromObjectPath,
  unitObjectPath,
  type UnitState,
} from '../../src/systemd/manager.js';
import {
  busctlProperty,
  eventually,
  isActive,
  mainPid,
  mainPidAlive,
  pidAliveIn,
  showProperty,
  startSystemd,
  stopSystemd,
  systemctl,
  waitCommand,
  type PrivateSystemd,
} from '../support/systemd.js';

/** Record every 'unit-state' event from now on. */
function recordStates(mgr: SystemdManager): UnitState[] {
  const seen: UnitState[] = [];
  mgr.on('unit-state', (s: UnitState) => seen.push(s));
  return seen;
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('SystemdManager on one private systemd instance', () => {
  let inst: PrivateSystemd;
  let mgr: SystemdManager;
  let dir: string;

  before(async () => {
    inst = await startSystemd();
    mgr = await SystemdManager.connect({ address: inst.busAddress }, { callTimeoutMs: 10_000 });
    dir = join(inst.dir, 'gitfleet-units');
  });
  after(async () => {
    mgr?.close();
    if (inst) await stopSystemd(inst);
  });

  test('the instance runs in its own cgroup, not the root one, and answers on its bus', async () => {
    const cg = readFileSync(`/proc/${inst.pid}/cgroup`, 'utf8');
    assert.match(cg, new RegExp(`memory:.*/gitfleet-${inst.name}/`));
    assert.doesNotMatch(cg, /^\d+:memory:\/$/m);
    assert.equal(await busctlProperty(inst, 'init.scope', 'org.freedesktop.systemd1.Unit', 'ActiveState'), 'active');
    assert.match(await mgr.systemState(), /^(running|degraded)$/);
  });

  test('write + link + start runs a real process; signals and the oracle agree; stop ends it', async () => {
    const seen = recordStates(mgr);
    const path = await mgr.writeUnitFile(dir, 'sleeper.service', '[Service]\nExecStart=/bin/sleep 1000\n');
    const changes = await mgr.linkUnitFiles([path]);
    assert.deepEqual(
      changes.map((c) => [c.type, c.file, c.destination]),
      [['symlink', join(inst.unitDir, 'sleeper.service'), path]],
    );
    assert.equal(readlinkSync(join(inst.unitDir, 'sleeper.service')), path);

    assert.equal(await mgr.startUnit('sleeper.service'), 'done');
    assert.equal(await isActive(inst, 'sleeper.service'), 'active');
    const pid = await mainPid(inst, 'sleeper.service');
    assert.ok(pidAliveIn(inst, pid), `MainPID ${pid} should be alive in the instance's cgroup`);
    await waitCommand(pid, /^\/bin\/sleep 1000$/);
    await eventually('unit-state active/running for sleeper.service', () =>
      seen.some(
        (s) => s.name === 'sleeper.service' && s.load === 'loaded' && s.active === 'active' && s.sub === 'running',
      ),
    );
    assert.deepEqual(await mgr.getUnitState('sleeper.service'), {
      name: 'sleeper.service',
      load: 'loaded',
      active: 'active',
      sub: 'running',
    });

    assert.equal(await mgr.stopUnit('sleeper.service'), 'done');
    assert.equal(await isActive(inst, 'sleeper.service'), 'inactive');
    await eventually(`process ${pid} gone`, () => !pidAliveIn(inst, pid));
    await eventually('unit-state inactive/dead for sleeper.service', () =>
      seen.some((s) => s.name === 'sleeper.service' && s.active === 'inactive' && s.sub === 'dead'),
    );
  });

  test('a changed unit file needs a daemon-reload; after reload + restart the new command runs', async () => {
    const path = await mgr.writeUnitFile(dir, 'replace.service', '[Service]\nExecStart=/bin/sleep 1001\n');
    await mgr.linkUnitFiles([path]);
    assert.equal(await mgr.startUnit('replace.service'), 'done');
    const oldPid = await mainPid(inst, 'replace.service');
    assert.equal(await mgr.needsDaemonReload('replace.service'), false);

    await mgr.writeUnitFile(dir, 'replace.service', '[Service]\nExecStart=/bin/sleep 1002\n');
    assert.equal(await mgr.needsDaemonReload('replace.service'), true);
    assert.equal(await showProperty(inst, 'replace.service', 'NeedDaemonReload'), 'yes');
    await mgr.reload();
    assert.equal(await mgr.needsDaemonReload('replace.service'), false);
    assert.equal(await showProperty(inst, 'replace.service', 'NeedDaemonReload'), 'no');
    // Reload alone leaves the running process as it is.
    assert.equal(await mainPid(inst, 'replace.service'), oldPid);

    assert.equal(await mgr.stopUnit('replace.service'), 'done');
    assert.equal(await mgr.startUnit('replace.service'), 'done');
    const newPid = await mainPid(inst, 'replace.service');
    assert.notEqual(newPid, oldPid);
    await waitCommand(newPid, /^\/bin\/sleep 1002$/);
    assert.ok(await mainPidAlive(inst, 'replace.service'));
    await eventually(`old process ${oldPid} gone`, () => !pidAliveIn(inst, oldPid));
    assert.equal(await mgr.restartUnit('replace.service'), 'done');
    assert.notEqual(await mainPid(inst, 'replace.service'), newPid);
    await mgr.stopUnit('replace.service');
  });

  test('a stopped unit nothing refers to is forgotten: started, it reads its new file; staleUnits', async () => {
    const path = await mgr.writeUnitFile(dir, 'forget.service', '[Service]\nExecStart=/bin/sleep 1010\n');
    await mgr.linkUnitFiles([path]);
    assert.equal(await mgr.startUnit('forget.service'), 'done');
    await mgr.writeUnitFile(dir, 'forget.service', '[Service]\nExecStart=/bin/sleep 1011\n');
    assert.deepEqual(await mgr.staleUnits(['forget.service', 'never-loaded.service']), ['forget.service']);
    assert.equal(await mgr.stopUnit('forget.service'), 'done');
    assert.deepEqual(await mgr.staleUnits(['forget.service']), []);
    assert.equal(await mgr.startUnit('forget.service'), 'done');
    await waitCommand(await mainPid(inst, 'forget.service'), /^\/bin\/sleep 1011$/);
    assert.equal(await showProperty(inst, 'forget.service', 'NeedDaemonReload'), 'no');
    // A template always counts as stale: instances made from it hold its old definition.
    assert.deepEqual(await mgr.staleUnits(['tpl@.service']), ['tpl@.service']);
    await mgr.stopUnit('forget.service');
  });

  test("'unit-state' carries the LoadState systemd has, also once a daemon-reload changed it", async () => {
    const seen = recordStates(mgr);
    const path = await mgr.writeUnitFile(dir, 'orphan.service', '[Service]\nExecStart=/bin/sleep 1012\n');
    await mgr.linkUnitFiles([path]);
    assert.equal(await mgr.startUnit('orphan.service'), 'done');
    await eventually('unit-state loaded/active', () =>
      seen.some((s) => s.name === 'orphan.service' && s.load === 'loaded' && s.active === 'active'),
    );
    // Its link removed and systemd reloaded: it still runs, but systemd has no file for it any more.
    await mgr.disableUnitFiles(['orphan.service']);
    await mgr.reload();
    assert.equal(await showProperty(inst, 'orphan.service', 'LoadState'), 'not-found');
    assert.equal(await mgr.stopUnit('orphan.service'), 'done');
    await eventually('unit-state inactive', () =>
      seen.some((s) => s.name === 'orphan.service' && s.active === 'inactive'),
    );
    const last = seen.filter((s) => s.name === 'orphan.service').at(-1)!;
    assert.deepEqual([last.load, last.active], ['not-found', 'inactive']);
  });

  test('a brand-new unit file starts without any daemon-reload', async () => {
    // Look the name up first so systemd has a cached "not-found" for it: it must still find the
    // file written afterwards.
    assert.equal((await mgr.getUnitState('fresh.service')).load, 'not-found');
    const path = await mgr.writeUnitFile(dir, 'fresh.service', '[Service]\nExecStart=/bin/sleep 1003\n');
    await mgr.linkUnitFiles([path]);
    assert.equal(await mgr.startUnit('fresh.service'), 'done');
    assert.equal(await isActive(inst, 'fresh.service'), 'active');
    await mgr.stopUnit('fresh.service');
  });

  test('template instances: one file per instance with %i, each runs its own process', async () => {
    const content = '[Service]\nExecStart=/bin/sleep 20%i\n';
    const paths = [];
    for (const i of ['1', '2']) paths.push(await mgr.writeUnitFile(dir, `web@${i}.service`, content));
    await mgr.linkUnitFiles(paths);
    assert.equal(await mgr.startUnit('web@1.service'), 'done');
    assert.equal(await mgr.startUnit('web@2.service'), 'done');
    await waitCommand(await mainPid(inst, 'web@1.service'), /^\/bin\/sleep 201$/);
    await waitCommand(await mainPid(inst, 'web@2.service'), /^\/bin\/sleep 202$/);
    assert.deepEqual(
      (await mgr.listUnits(['web@1.service', 'web@2.service'])).map((s) => [s.name, s.active]),
      [
        ['web@1.service', 'active'],
        ['web@2.service', 'active'],
      ],
    );
    for (const i of ['1', '2']) await mgr.stopUnit(`web@${i}.service`);
  });

  test('a socket-activated service answers a real connection', async () => {
    const sock = join(inst.runtimeDir, 'echo.sock');
    const s = await mgr.writeUnitFile(dir, 'echo.socket', `[Socket]\nListenStream=${sock}\nAccept=yes\n`);
    const svc = await mgr.writeUnitFile(
      dir,
      'echo@.service',
      '[Service]\nExecStart=/bin/cat\nStandardInput=socket\nStandardOutput=socket\n',
    );
    await mgr.linkUnitFiles([s, svc]);
    assert.equal(await mgr.startUnit('echo.socket'), 'done');
    assert.equal(await isActive(inst, 'echo.socket'), 'active');
    const reply = await new Promise<string>((resolve, reject) => {
      const c = connect(sock);
      let got = '';
      c.on('data', (d) => {
        got += d.toString();
        if (got.includes('\n')) {
          c.end();
          resolve(got);
        }
      });
      c.on('error', reject);
      c.write('hello gitfleet\n');
      setTimeout(() => reject(new Error(`no echo within 5 s (got ${JSON.stringify(got)})`)), 5_000).unref();
    });
    assert.equal(reply, 'hello gitfleet\n');
    assert.match(
      (await systemctl(inst, 'show', '-p', 'NAccepted', '--value', 'echo.socket')).stdout.trim(),
      /^[1-9]\d*$/,
    );
    await mgr.stopUnit('echo.socket');
  });

  test(
    'a template is listed by its unit file: loaded once linked, not-found before; plain units ' + 'alongside',
    async () => {
      const before_ = await mgr.listUnits(['tpl@.service', 'none.service']);
      assert.deepEqual(before_.map((u) => [u.name, u.load]).sort(), [
        ['none.service', 'not-found'],
        ['tpl@.service', 'not-found'],
      ]);
      const p = await mgr.writeUnitFile(dir, 'tpl@.service', '[Service]\nExecStart=/bin/sleep 1000\n');
      await mgr.linkUnitFiles([p]);
      const after_ = await mgr.listUnits(['tpl@.service', 'none.service']);
      assert.deepEqual(
        after_.find((u) => u.name === 'tpl@.service'),
        { name: 'tpl@.service', load: 'loaded', active: 'inactive', sub: 'dead' },
      );
      assert.equal((await systemctl(inst, 'is-enabled', 'tpl@.service')).stdout.trim(), 'linked-runtime');
    },
  );

  test('a timer really triggers its service', async () => {
    const out = join(inst.dir, 'tick.out');
    const svc = await mgr.writeUnitFile(
      dir,
      'tick.service',
      `[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo tick >> ${out}; sleep 0.3'\n`,
    );
    const tmr = await mgr.writeUnitFile(
      dir,
      'tick.timer',
      '[Timer]\nOnActiveSec=100ms\nOnUnitActiveSec=50ms\nAccuracySec=1ms\n',
    );
    await mgr.linkUnitFiles([svc, tmr]);
    const seen = recordStates(mgr);
    assert.equal(await mgr.startUnit('tick.timer'), 'done');
    await eventually('tick.service ran twice', () => {
      try {
        return readFileSync(out, 'utf8').split('\n').filter(Boolean).length >= 2;
      } catch {
        return false;
      }
    });
    assert.equal(await isActive(inst, 'tick.timer'), 'active');
    assert.ok(
      seen.some((s) => s.name === 'tick.service' && s.active === 'activating'),
      'saw tick.service activating',
    );
    await mgr.stopUnit('tick.timer');
  });

  test(
    '[Install] is honoured at runtime: enable links into default.target.wants, disable removes ' + 'every link',
    async () => {
      const path = await mgr.writeUnitFile(
        dir,
        'installed.service',
        '[Service]\nExecStart=/bin/sleep 1004\n[Install]\nWantedBy=default.target\n',
      );
      await mgr.linkUnitFiles([path]);
      const r = await mgr.enableUnitFiles(['installed.service']);
      assert.equal(r.carriesInstallInfo, true);
      const wants = join(inst.unitDir, 'default.target.wants', 'installed.service');
      assert.ok(isSymlink(wants), `${wants} should be a symlink`);
      assert.equal((await systemctl(inst, 'is-enabled', 'installed.service')).stdout.trim(), 'enabled-runtime');

      const plain = await mgr.writeUnitFile(dir, 'noinstall.service', '[Service]\nExecStart=/bin/sleep 1005\n');
      await mgr.linkUnitFiles([plain]);
      assert.equal((await mgr.enableUnitFiles(['noinstall.service'])).carriesInstallInfo, false);

      await mgr.disableUnitFiles(['installed.service', 'noinstall.service']);
      assert.equal(isSymlink(wants), false);
      assert.equal(isSymlink(join(inst.unitDir, 'installed.service')), false);
      assert.equal(isSymlink(join(inst.unitDir, 'noinstall.service')), false);
      // Nothing left to unlink (as after a reboot wiped /run): not an error, alone or in a batch.
      assert.deepEqual(await mgr.disableUnitFiles(['installed.service']), []);
      assert.deepEqual(
        await mgr.disableUnitFiles(['installed.service', 'noinstall.service', 'never-existed.service']),
        [],
      );
      await mgr.removeUnitFile(dir, 'installed.service');
      await mgr.removeUnitFile(dir, 'noinstall.service');
      await mgr.removeUnitFile(dir, 'noinstall.service'); // already gone: fine
      await mgr.reload();
      assert.equal((await mgr.getUnitState('installed.service')).load, 'not-found');
    },
  );

  test('job results: a failing unit reports "failed", an unknown unit a typed NoSuchUnit-style error', async () => {
    const path = await mgr.writeUnitFile(dir, 'fails.service', '[Service]\nType=oneshot\nExecStart=/bin/false\n');
    await mgr.linkUnitFiles([path]);
    assert.equal(await mgr.startUnit('fails.service'), 'failed');
    assert.equal(await isActive(inst, 'fails.service'), 'failed');
    await mgr.resetFailed('fails.service');
    assert.equal(await isActive(inst, 'fails.service'), 'inactive');

    await assert.rejects(mgr.startUnit('does-not-exist.service'), (e: unknown) => {
      assert.ok(e instanceof SystemdError);
      assert.equal(e.type, 'org.freedesktop.systemd1.NoSuchUnit');
      assert.match(e.message, /does-not-exist\.service/);
      return true;
    });
    assert.deepEqual(await mgr.getUnitState('does-not-exist.service'), {
      name: 'does-not-exist.service',
      load: 'not-found',
      active: 'inactive',
      sub: 'dead',
    });
  });

  test('many concurrent starts each get their own job result', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `many${i}.service`);
    const paths = [];
    for (const n of names)
      paths.push(await mgr.writeUnitFile(dir, n, `[Service]\nExecStart=/bin/sleep ${3000 + names.indexOf(n)}\n`));
    await mgr.linkUnitFiles(paths);
    const results = await Promise.all(names.map((n) => mgr.startUnit(n)));
    assert.deepEqual(
      results,
      names.map(() => 'done'),
    );
    const states = await mgr.listUnits(names);
    assert.ok(states.every((s) => s.active === 'active'));
    assert.deepEqual(
      await Promise.all(names.map((n) => mgr.stopUnit(n))),
      names.map(() => 'done'),
    );
  });

  test('unit object paths: our escaping matches systemd, and decoding inverts it', async () => {
    for (const name of [
      'a.service',
      'web@1.service',
      'x-y_z.service',
      'dev-disk-by\\x2duuid.device',
      '9lives.service',
    ]) {
      assert.equal(unitNameFromObjectPath(unitObjectPath(name)), name);
    }
    const r = await systemctl(inst, 'show', '-p', 'Id', '--value', 'web@1.service');
    assert.equal(r.stdout.trim(), 'web@1.service');
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: inst.busAddress };
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(
      'busctl',
      [
        '--user',
        'call',
        'org.freedesktop.systemd1',
        '/org/freedesktop/systemd1',
        'org.freedesktop.systemd1.Manager',
        'LoadUnit',
        's',
        'x-y_z@a.b.service',
      ],
      { env },
    ).toString();
    assert.equal(out.trim(), `o "${unitObjectPath('x-y_z@a.b.service')}"`);
  });

  test('StartUnit is followed by its active signal and daemon-reload returns, ten times (times printed)', async (t) => {
    const path = await mgr.writeUnitFile(dir, 'lat.service', '[Service]\nExecStart=/bin/sleep 1006\n');
    await mgr.linkUnitFiles([path]);
    const startMs: number[] = [];
    const reloadMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const active = new Promise<void>((resolve) => {
        const on = (s: UnitState) => {
          if (s.name === 'lat.service' && s.active === 'active') {
            mgr.off('unit-state', on);
            resolve();
          }
        };
        mgr.on('unit-state', on);
      });
      await mgr.startUnit('lat.service');
      await active;
      startMs.push(performance.now() - t0);
      await mgr.stopUnit('lat.service');
      const r0 = performance.now();
      await mgr.reload();
      reloadMs.push(performance.now() - r0);
    }
    t.diagnostic(`StartUnit -> ActiveState=active signal: median ${median(startMs).toFixed(1)} ms (n=10)`);
    t.diagnostic(`Reload: median ${median(reloadMs).toFixed(1)} ms (n=10)`);
    // How long these take is for bench/ to measure; here, that each signal came and each call returned.
    assert.equal(startMs.length, 10);
    assert.equal(reloadMs.length, 10);
  });
});

describe('SystemdManager across systemd restarts and separate instances', () => {
  test('after daemon-reexec the manager resubscribes and still emits unit states', async (t) => {
    const inst = await startSystemd(t);
    const mgr = await SystemdManager.connect({ address: inst.busAddress });
    t.after(() => mgr.close());
    const dir = join(inst.dir, 'gitfleet-units');
    await mgr.linkUnitFiles([
      await mgr.writeUnitFile(dir, 'survivor.service', '[Service]\nExecStart=/bin/sleep 1007\n'),
    ]);
    await mgr.startUnit('survivor.service');
    const pid = await mainPid(inst, 'survivor.service');

    const resynced = new Promise<void>((resolve) => mgr.once('resync', () => resolve()));
    const r = await systemctl(inst, 'daemon-reexec');
    assert.equal(r.code, 0, r.stderr);
    await resynced;
    // Same systemd PID (re-executed in place), the unit kept running through it.
    assert.ok(pidAliveIn(inst, inst.pid));
    assert.equal(await mainPid(inst, 'survivor.service'), pid);

    const seen = recordStates(mgr);
    await mgr.linkUnitFiles([await mgr.writeUnitFile(dir, 'after.service', '[Service]\nExecStart=/bin/sleep 1008\n')]);
    // Started by someone else (the oracle): only signals can tell the manager about it.
    assert.equal((await systemctl(inst, 'start', 'after.service')).code, 0);
    await eventually('unit-state active for after.service after the re-exec', () =>
      seen.some((s) => s.name === 'after.service' && s.active === 'active'),
    );
    assert.equal(await mgr.stopUnit('after.service'), 'done');
  });

  test('two instances side by side do not interfere: stopping x.service in one leaves the other running', async (t) => {
    const [a, b] = await Promise.all([startSystemd(t), startSystemd(t)]);
    const ma = await SystemdManager.connect({ address: a.busAddress });
    const mb = await SystemdManager.connect({ address: b.busAddress });
    t.after(() => {
      ma.close();
      mb.close();
    });
    for (const [inst, m] of [
      [a, ma],
      [b, mb],
    ] as const) {
      await m.linkUnitFiles([
        await m.writeUnitFile(join(inst.dir, 'gitfleet-units'), 'x.service', '[Service]\nExecStart=/bin/sleep 1009\n'),
      ]);
      assert.equal(await m.startUnit('x.service'), 'done');
    }
    const pa = await mainPid(a, 'x.service');
    const pb = await mainPid(b, 'x.service');
    assert.notEqual(pa, pb);
    assert.ok(pidAliveIn(a, pa) && !pidAliveIn(b, pa), "A's process is in A's cgroup only");
    assert.ok(pidAliveIn(b, pb) && !pidAliveIn(a, pb), "B's process is in B's cgroup only");

    assert.equal(await ma.stopUnit('x.service'), 'done');
    await eventually("A's x.service process gone", () => !pidAliveIn(a, pa));
    assert.equal(await isActive(a, 'x.service'), 'inactive');
    assert.equal(await isActive(b, 'x.service'), 'active');
    assert.ok(await mainPidAlive(b, 'x.service'));
    assert.equal(await mainPid(b, 'x.service'), pb);
  });

  test(
    'when systemd goes away, calls fail with SystemdUnavailableError instead of hanging; stop() ' + 'cleans up',
    async (t) => {
      const inst = await startSystemd(t);
      const mgr = await SystemdManager.connect(
        { address: inst.busAddress },
        { reconnect: false, callTimeoutMs: 3_000 },
      );
      t.after(() => mgr.close());
      await mgr.linkUnitFiles([
        await mgr.writeUnitFile(
          join(inst.dir, 'gitfleet-units'),
          'orphan.service',
          '[Service]\nExecStart=/bin/sleep 1010\n',
        ),
      ]);
      await mgr.startUnit('orphan.service');
      const unitPid = await mainPid(inst, 'orphan.service');
      const disconnected = new Promise<Error>((resolve) => mgr.once('disconnected', resolve));
      await inst.stop();
      assert.equal(inst.exited, true);
      assert.ok(!pidAliveIn(inst, unitPid));
      assert.throws(() => process.kill(inst.pid, 0));
      for (const d of inst.cgroupDirs) assert.throws(() => lstatSync(d), `${d} removed`);
      assert.ok((await disconnected) instanceof SystemdUnavailableError);
      await assert.rejects(mgr.getUnitState('orphan.service'), SystemdUnavailableError);
    },
  );
});
