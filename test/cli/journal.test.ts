/**
 * "Why did it fail?" through the CLI, against real parts: a 3-member etcd, two agents as child
 * processes with their own private systemd (each with its own journald), an engine and a controller
 * following a local repository (test/support/cluster.ts; run under flock /tmp/gitfleet-cluster.lock).
 *
 * `gitfleet journal` and `gitfleet status UNIT` are checked against each machine's own systemd and
 * journal: `journalctl -D` on the instance's journal, `systemctl --user show`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InspectSession } from '../../src/cli/inspect.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { Cluster, gitfleetArgv, type ClusterMachine } from '../support/cluster.js';
import { tempDir } from '../support/git.js';
import { eventually, showProperty, systemctl, type PrivateSystemd } from '../support/systemd.js';

const UNITS = {
  'fleet.yaml': 'units:\n  talk.service: launched\n  crash.service: loaded\n  everywhere.service: launched\n',
  // A line every 200 ms, numbered: -f must see numbers that came after it started.
  'talk.service':
    "[Service]\nExecStart=/bin/sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'\n" +
    '[X-Fleet]\nMachineMetadata=region=a\n',
  // Loaded only: the test starts it by hand; it fails three times, then stays failed. It lives a
  // moment after its line: journald learns a sender's unit from its cgroup in /proc when it reads
  // the line, and the line of a process already gone has none (so no unit's journal shows it).
  'crash.service':
    '[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=3\n[Service]\n' +
    "ExecStart=/bin/sh -c 'echo about to fail >&2; sleep 0.3; exit 7'\nRestart=on-failure\nRestartSec=50ms\n" +
    '[X-Fleet]\nMachineMetadata=region=b\n',
  'everywhere.service':
    "[Service]\nExecStart=/bin/sh -c 'echo here I am; exec sleep infinity'\n[X-Fleet]\nGlobal=true\n",
};

describe('gitfleet journal and status UNIT on a real cluster', () => {
  const tmp = tempDir('gitfleet-journal-');
  let cluster: Cluster;
  let a: ClusterMachine;
  let b: ClusterMachine;
  let sysA: PrivateSystemd;
  let sysB: PrivateSystemd;

  before(async () => {
    cluster = await Cluster.start({
      dir: tmp.dir,
      machines: [
        { id: `j${process.pid}a`, metadata: { region: 'a' } },
        { id: `j${process.pid}b`, metadata: { region: 'b' } },
      ],
      engines: 1,
      source: 'local',
    });
    [a, b] = cluster.machines as [ClusterMachine, ClusterMachine];
    await cluster.source.push('units', UNITS);
    sysA = (await cluster.machineSystemd(a))!;
    sysB = (await cluster.machineSystemd(b))!;
    await eventually(
      'talk and everywhere run',
      async () =>
        (await systemctl(sysA, 'is-active', 'talk.service')).stdout.trim() === 'active' &&
        (await systemctl(sysB, 'is-active', 'everywhere.service')).stdout.trim() === 'active' &&
        (await systemctl(sysB, 'is-enabled', 'crash.service')).stdout.trim() !== '',
      30_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${cluster.logs()}`);
    });
  });
  after(async () => {
    await cluster?.stop();
    tmp.cleanup();
  });

  const journalOf = (inst: PrivateSystemd) =>
    execFileSync('journalctl', ['-D', inst.journalDir!, '--no-pager', '-o', 'cat'], { encoding: 'utf8' });

  test('journal UNIT prints the lines of the machine that runs it, as its own journal has them', async () => {
    await eventually('a few ticks', () => /^tick 5$/m.test(journalOf(sysA)), 15_000);
    const r = await cluster.cli('journal', 'talk.service', '-n', '5');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 5, r.stdout);
    for (const l of lines)
      assert.match(l, new RegExp(`^\\w{3} \\d\\d \\d\\d:\\d\\d:\\d\\d ${a.id.slice(0, 8)} sh\\[\\d+\\]: tick \\d+$`));
    // The oracle: every line shown is in that machine's journal, none in the other's.
    const own = journalOf(sysA);
    for (const l of lines) assert.ok(own.includes(l.slice(l.indexOf(': ') + 2)), l);
    assert.doesNotMatch(journalOf(sysB), /^tick /m);
    // Without a suffix, a name is a .service, as systemctl takes it.
    const bare = await cluster.cli('journal', 'talk', '-n', '1');
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stdout, /tick \d+/);
    // JSON lines for scripts.
    const json = await cluster.cli('journal', 'talk.service', '-n', '2', '--format', 'json');
    const entries = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(entries.length, 2);
    assert.equal(entries[0].machine, a.id);
    assert.match(entries[0].message, /^tick \d+$/);
  });

  test('a Global unit: lines from every machine; --machine keeps one', async () => {
    const both = await cluster.cli('journal', 'everywhere.service');
    assert.equal(both.code, 0, both.stderr);
    for (const m of [a, b]) assert.match(both.stdout, new RegExp(`${m.id.slice(0, 8)} sh\\[\\d+\\]: here I am`));
    const one = await cluster.cli('journal', 'everywhere.service', '--machine', b.id);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`${b.id.slice(0, 8)} .*here I am`));
    assert.doesNotMatch(one.stdout, new RegExp(a.id.slice(0, 8)));
    const bad = await cluster.cli('journal', 'everywhere.service', '--machine', 'nosuch');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--machine nosuch: no such machine/);
    const ambiguous = await cluster.cli('journal', 'everywhere.service', '--machine', `j${process.pid}`);
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /matches 2 machines: give more of it/);
  });

  test('status UNIT of a failed unit: what systemctl status says, exit 1', async () => {
    await systemctl(sysB, 'start', 'crash.service');
    await eventually(
      'crash.service gave up',
      async () => (await showProperty(sysB, 'crash.service', 'ActiveState')) === 'failed',
      15_000,
    );
    const r = await cluster.cli('status', 'crash.service');
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const pid = await showProperty(sysB, 'crash.service', 'ExecMainPID');
    const restarts = await showProperty(sysB, 'crash.service', 'NRestarts');
    const result = await showProperty(sysB, 'crash.service', 'Result');
    assert.match(r.stdout, new RegExp(`× crash\\.service on ${b.id.slice(0, 8)}`));
    assert.match(
      r.stdout,
      new RegExp(`Active: failed \\(failed\\) \\(Result: ${result}\\) since \\d{4}-\\d\\d-\\d\\d`),
    );
    assert.match(r.stdout, new RegExp(`Main PID: ${pid} \\(code=exited, status=7\\)`));
    assert.match(r.stdout, new RegExp(`Restarts: ${restarts}\\n`));
    assert.ok(Number(restarts) >= 2);
    assert.match(r.stdout, /about to fail/);
    assert.match(r.stdout, /crash\.service: Main process exited, code=exited, status=7/);

    const json = JSON.parse((await cluster.cli('status', 'crash.service', '--format', 'json')).stdout);
    const live = json.live[0];
    assert.equal(live.machine, b.id);
    assert.equal(live.status.execMainPid, Number(pid));
    assert.equal(live.status.execMainCode, 'exited');
    assert.equal(live.status.execMainStatus, 7);
    assert.equal(live.status.nRestarts, Number(restarts));
    assert.equal(live.status.result, result);
    assert.ok(live.lines.some((l: { message: string }) => l.message === 'about to fail'));
  });

  test('status UNIT of a running unit: its main PID, as systemd has it; exit 0', async () => {
    const r = await cluster.cli('status', 'talk.service');
    assert.equal(r.code, 0, r.stderr);
    const pid = await showProperty(sysA, 'talk.service', 'MainPID');
    assert.match(r.stdout, new RegExp(`Main PID: ${pid}\\n`));
    assert.match(r.stdout, /Active: active \(running\) since /);
    assert.match(r.stdout, /tick \d+/);
  });

  test('journal -f follows: lines written after it started, until Ctrl-C (exit 0)', async () => {
    const first = await cluster.cli('journal', 'talk.service', '-n', '1');
    const start = Number(/tick (\d+)/.exec(first.stdout)![1]);
    const child = spawn(
      process.execPath,
      gitfleetArgv(['journal', 'talk.service', '-n', '1', '-f', '--etcd', cluster.endpoints]),
      { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await eventually(
        'ticks well after the start arrive',
        () => [...out.matchAll(/tick (\d+)/g)].some((m) => Number(m[1]) >= start + 10),
        20_000,
      );
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, err);
    const seen = [...out.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    // In order, no line twice, none skipped between the first and the last.
    for (let i = 1; i < seen.length; i++) assert.equal(seen[i], seen[i - 1]! + 1, out);
  });

  test('an agent answers only for units gitfleet runs on it; the asker leaves no keys behind', async () => {
    const store = new EtcdStore({ endpoints: cluster.etcd.endpoints, prefix: '/gitfleet/', log: () => {} });
    try {
      const session = await InspectSession.open(store);
      // dbus.service runs in that machine's systemd, but gitfleet did not put it there.
      const [ans] = await session.ask([a.id], { unit: 'dbus.service', lines: 10, status: true });
      await session.close();
      assert.ok(ans && 'answer' in ans, JSON.stringify(ans));
      assert.match(ans.answer.error ?? '', /gitfleet runs no unit dbus\.service on machine/);
      assert.equal(ans.answer.lines, undefined);
      assert.equal(ans.answer.status, undefined);
      await eventually('no inspect keys left', async () => (await store.range('inspect/')).kvs.length === 0, 15_000);
    } finally {
      await store.close();
    }
  });

  test('a unit that runs nowhere, and a machine that does not answer, are said plainly', async () => {
    const none = await cluster.cli('journal', 'nosuch.service');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /unit nosuch\.service runs on no machine/);
    const store = new EtcdStore({ endpoints: cluster.etcd.endpoints, prefix: '/gitfleet/', log: () => {} });
    try {
      const session = await InspectSession.open(store);
      const [ans] = await session.ask(['ghost'], { unit: 'talk.service', lines: 1, status: false }, 500);
      await session.close();
      assert.deepEqual(ans, {
        machine: 'ghost',
        error: 'machine ghost did not answer within 0.5 s (is its agent running?)',
      });
    } finally {
      await store.close();
    }
  });
});
