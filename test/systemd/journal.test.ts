/**
 * A private systemd instance has a journal of its own (src/systemd/namespace.ts), and gitfleet reads
 * a unit's lines from it (src/systemd/journal.ts) and its status from systemd (unitStatus()).
 * Oracles: `journalctl -D` on the instance's journal directory, `systemctl --user show`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { journalctlArgs, parseEntry, readJournal, unitCgroupPath } from '../../src/systemd/journal.js';
import { SystemdManager } from '../../src/systemd/manager.js';
import { eventually, showProperty, startSystemd, stopSystemd, type PrivateSystemd } from '../support/systemd.js';

describe('the journal of a private systemd instance', () => {
  let inst: PrivateSystemd;
  let mgr: SystemdManager;
  let cgroup: string;

  before(async () => {
    inst = await startSystemd();
    mgr = await SystemdManager.connect({ address: inst.busAddress }, { callTimeoutMs: 10_000 });
    cgroup = await mgr.managerCgroup();
  });
  after(async () => {
    mgr?.close();
    if (inst) await stopSystemd(inst);
  });

  const write = (name: string, text: string) => mgr.writeUnitFile(inst.unitDir, name, text);
  const oracle = (...args: string[]) =>
    execFileSync('journalctl', ['-D', inst.journalDir!, '--no-pager', ...args], { encoding: 'utf8' });

  test('journald runs inside the instance: a unit stdout and stderr lines are in its journal', async () => {
    assert.ok(inst.journalDir, 'the instance has a journal directory');
    assert.ok(existsSync(inst.journalDir!));
    // Alive a moment after its lines, so that journald can still read its cgroup (see below).
    const talk = "[Service]\nExecStart=/bin/sh -c 'echo to stdout; echo to stderr >&2; sleep 0.3; exit 3'\n";
    await write('talk.service', talk);
    await mgr.startUnit('talk.service');
    await eventually('the exit is logged', () => /talk\.service: Failed with result/.test(oracle('-o', 'cat')));
    const text = oracle('-o', 'cat');
    assert.match(text, /^to stdout$/m);
    assert.match(text, /^to stderr$/m);
    // The manager's own lines about the unit are there too (it logs to that journal).
    assert.match(text, /talk\.service: Main process exited, code=exited, status=3/);
  });

  test('readJournal gives a unit its own lines (stdout, the manager about it), not another one', async () => {
    const lines = 'for i in 1 2 3 4 5; do echo one-$i; done';
    await write('one.service', `[Service]\nExecStart=/bin/sh -c '${lines}; exec sleep 30'\n`);
    await write('two.service', "[Service]\nExecStart=/bin/sh -c 'echo two-1'\n");
    await mgr.startUnit('one.service');
    await mgr.startUnit('two.service');
    const source = { kind: 'directory' as const, directory: inst.journalDir!, managerCgroup: cgroup };
    await eventually('one.service lines were logged', async () =>
      (await readJournal(source, { unit: 'one.service', lines: 50 })).lines.some((l) => l.message === 'one-5'),
    );
    const r = await readJournal(source, { unit: 'one.service', lines: 50 });
    const messages = r.lines.map((l) => l.message);
    for (const i of [1, 2, 3, 4, 5]) assert.ok(messages.includes(`one-${i}`), messages.join('\n'));
    assert.ok(!messages.some((m) => m.startsWith('two-')), 'no line of two.service');
    const own = r.lines.find((l) => l.message === 'one-1')!;
    assert.equal(own.identifier, 'sh');
    assert.ok(own.pid && own.pid > 0);
    const now = Date.now();
    assert.ok(
      Math.abs(own.time / 1000 - now) < 60_000,
      'a real timestamp (µs since the epoch, within a minute of now)',
    );

    // -n: the last N; after a cursor: only what came after it.
    const last2 = await readJournal(source, { unit: 'one.service', lines: 2 });
    assert.deepEqual(
      last2.lines.map((l) => l.message),
      messages.slice(-2),
    );
    const upTo = r.lines.findIndex((l) => l.message === 'one-3');
    const cursorAt3 = (await readJournal(source, { unit: 'one.service', lines: upTo + 1 })).cursor;
    assert.ok(cursorAt3);
    const first = await readJournal(source, { unit: 'one.service', lines: 50 });
    const afterAll = await readJournal(source, { unit: 'one.service', lines: 50, after: first.cursor! });
    assert.deepEqual(afterAll.lines, [], 'nothing after the last line');
    assert.equal(afterAll.cursor, first.cursor, 'the cursor stays where it was');
  });

  test('unitStatus reports what systemctl show says: main PID, exit code and status, Result, NRestarts', async () => {
    // Restarts twice, then hits its start limit and stays failed (a failed unit stays loaded).
    await write(
      'crash.service',
      "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=3\n[Service]\nExecStart=/bin/sh -c 'echo crashing; exit 7'\n" +
        'Restart=on-failure\nRestartSec=50ms\n',
    );
    await mgr.startUnit('crash.service');
    await eventually('crash.service gave up', async () => (await mgr.unitStatus('crash.service')).active === 'failed');
    const s = await mgr.unitStatus('crash.service');
    assert.equal(s.nRestarts, Number(await showProperty(inst, 'crash.service', 'NRestarts')));
    assert.ok(s.nRestarts >= 2, `NRestarts ${s.nRestarts}`);
    assert.equal(s.execMainPid, Number(await showProperty(inst, 'crash.service', 'ExecMainPID')));
    assert.ok(s.execMainPid > 0);
    assert.equal(s.execMainCode, 'exited');
    assert.equal(s.execMainStatus, 7);
    assert.equal(s.result, await showProperty(inst, 'crash.service', 'Result'));
    assert.equal(s.slice, await showProperty(inst, 'crash.service', 'Slice'));
    assert.equal(s.mainPid, 0);

    await write('sleeper.service', '[Service]\nExecStart=/bin/sleep 300\n');
    const before = Date.now();
    await mgr.startUnit('sleeper.service');
    const live = await mgr.unitStatus('sleeper.service');
    assert.equal(live.active, 'active');
    assert.equal(live.mainPid, Number(await showProperty(inst, 'sleeper.service', 'MainPID')));
    assert.ok(live.mainPid > 0);
    assert.ok(live.since !== null && live.since / 1000 >= before - 1_000, `since ${live.since}, started ${before}`);
    assert.equal(live.since, live.activeEnterTimestamp);
    process.kill(live.mainPid, 'SIGKILL');
    await eventually('sleeper failed', async () => (await mgr.unitStatus('sleeper.service')).active === 'failed');
    const killed = await mgr.unitStatus('sleeper.service');
    assert.equal(killed.execMainCode, 'killed');
    assert.equal(killed.execMainStatus, 9);
    assert.equal(killed.result, 'signal');
    assert.equal(killed.result, await showProperty(inst, 'sleeper.service', 'Result'));
  });

  test('a unit in a nested slice is matched by its cgroup path', async () => {
    // The process stays alive after its line: journald learns a sender's cgroup from /proc when it
    // reads the stream, and a process that has already exited leaves its line without one.
    const deep = "[Service]\nSlice=team-web.slice\nExecStart=/bin/sh -c 'echo deep line; exec sleep 30'\n";
    await write('deep.service', deep);
    await mgr.startUnit('deep.service');
    const s = await mgr.unitStatus('deep.service');
    assert.equal(s.slice, 'team-web.slice');
    const source = { kind: 'directory' as const, directory: inst.journalDir!, managerCgroup: cgroup };
    await eventually('deep line is read', async () =>
      (await readJournal(source, { unit: 'deep.service', lines: 20, slice: s.slice })).lines.some(
        (l) => l.message === 'deep line',
      ),
    );
  });
});

describe('journal reading (pure parts)', () => {
  test('cgroup paths follow systemd slice nesting', () => {
    assert.equal(unitCgroupPath('/a/gitfleet-x', 'app.slice', 'w.service'), '/a/gitfleet-x/app.slice/w.service');
    assert.equal(unitCgroupPath('/a/b', 'x-y-z.slice', 'u.service'), '/a/b/x.slice/x-y.slice/x-y-z.slice/u.service');
    assert.equal(unitCgroupPath('/', 'system.slice', 'sshd.service'), '/system.slice/sshd.service');
    assert.equal(unitCgroupPath('/m/', '-.slice', 'u.service'), '/m/u.service');
  });

  test('journalctl arguments by where the unit runs', () => {
    assert.deepEqual(journalctlArgs({ kind: 'system' }, { unit: 'a.service', lines: 5 }).slice(-2), [
      '-u',
      'a.service',
    ]);
    assert.deepEqual(journalctlArgs({ kind: 'user', managerCgroup: '/u' }, { unit: 'a.service', lines: 5 }).slice(-5), [
      '_SYSTEMD_USER_UNIT=a.service',
      '+',
      'USER_UNIT=a.service',
      '+',
      '_SYSTEMD_CGROUP=/u/app.slice/a.service',
    ]);
    const d = journalctlArgs(
      { kind: 'directory', directory: '/j', managerCgroup: '/cg' },
      { unit: 'a.service', lines: 5, after: 'C' },
    );
    assert.ok(d.includes('--after-cursor=C'));
    assert.deepEqual(d.slice(-7, -5), ['-D', '/j']);
    assert.equal(d.at(-1), '_SYSTEMD_CGROUP=/cg/app.slice/a.service');
  });

  test('entries: byte-array messages decoded, long ones cut, bad lines skipped', () => {
    const e = parseEntry(
      JSON.stringify({ __CURSOR: 'c1', __REALTIME_TIMESTAMP: '1700000000000000', MESSAGE: [104, 105], _PID: '12' }),
    );
    assert.equal(e?.line.message, 'hi');
    assert.equal(e?.line.pid, 12);
    assert.equal(e?.line.priority, 6);
    const long = parseEntry(JSON.stringify({ __CURSOR: 'c2', MESSAGE: 'x'.repeat(10_000) }));
    assert.equal(long?.line.message.length, 2048);
    assert.equal(parseEntry('not json'), null);
    assert.equal(parseEntry(JSON.stringify({ MESSAGE: 'no cursor' })), null);
  });
});
