/**
 * Rollouts for real: a 3-member etcd, 3 agents with their own systemd, 2 engines and a controller
 * (test/support/cluster.ts). Every check of what ran where, and when, asks the machines' OWN
 * systemd (MainPID, InvocationID, ExecMainStartTimestampMonotonic, NRestarts, Result) and a
 * start log the unit's processes append to themselves (one line per process start: its VERSION
 * and its cgroup, which names the machine's systemd instance). gitfleet's own words (`rollout
 * status`, `status`) are checked as what a CI job would see, never as the oracle.
 *
 * The subject is a Global unit on all three machines. The tests build on each other, in order:
 * machine by machine, a bad change reverted on its canary, the leading engine killed, a machine
 * lost, a commit superseding a rollout in progress, a pause; then a template's instances (placed by the
 * engine, one per machine), and an http check failing while systemd says active.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, runsVersion, type ClusterMachine, type Observation } from '../support/cluster.js';
import { bodyKey } from '../../src/store/keys.js';
import { freePort } from '../support/etcd.js';
import { tempDir } from '../support/git.js';

const TTL = 3;
const UNIT = 'roll.service';
const tmp = tempDir('gitfleet-e2e-rollout-');
/** Every process of UNIT (of the web instances) appends "VERSION cgroup" here when it starts. */
const START_LOG = join(tmp.dir, 'starts.log');
const WEB_LOG = join(tmp.dir, 'web-starts.log');
const WEB = ['web@1.service', 'web@2.service', 'web@3.service'];

/** A service at `version` whose process logs its own start to `log`, then sleeps. */
const logged = (version: string, log: string, xfleet: string) =>
  `[Unit]\nDescription=rolled out machine by machine\n\n[Service]\nEnvironment=VERSION=${version}\n` +
  `ExecStart=/bin/sh -c 'echo "$$VERSION $$(cat /proc/self/cgroup)" >> ${log}; exec /bin/sleep infinity'\n` +
  `\n[X-Fleet]\n${xfleet}\n`;
/** The Global unit at `version`. */
const roll = (version: string) => logged(version, START_LOG, 'Global=true');
/** The template: one instance per machine. */
const web = (version: string) => logged(version, WEB_LOG, 'Conflicts=web@*.service');
const WEB_YAML = '  web@.service:\n    instances: 3\n    rollout: { maxParallel: 1, minHealthy: 2s }\n';

/** A bad change: it logs that it was tried, then its main process exits 1. */
const broken = (version: string) =>
  `[Unit]\nDescription=a bad change\n\n[Service]\nEnvironment=VERSION=${version}\n` +
  `ExecStartPre=/bin/sh -c 'echo "$$VERSION $$(cat /proc/self/cgroup)" >> ${START_LOG}'\n` +
  'ExecStart=/bin/false\n\n[X-Fleet]\nGlobal=true\n';

const fleetYaml = (rollout: string, extra = '') =>
  `allowEmpty: true\nunits:\n  ${UNIT}:\n    state: launched\n    rollout: ${rollout}\n${extra}`;

const STAGED = '{ maxParallel: 1, minHealthy: 2s }';

let c: Cluster;

before(async () => {
  c = await Cluster.start({ dir: tmp.dir, leaseTtl: TTL, engines: 2, source: 'http', poll: 1 });
});

after(async () => {
  await c?.stop();
  tmp.cleanup();
});

// ---- oracles ---------------------------------------------------------------------------------

/** machine id -> the versions its processes started with, in order (from a start log). */
function starts(log = START_LOG): Map<string, string[]> {
  const out = new Map<string, string[]>(c.machines.map((m) => [m.id, []]));
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [version, cgroup] = line.split(' ');
    if (!version || !cgroup) continue;
    const m = c.machines.find((x) => cgroup.includes(`/gitfleet-${x.instanceName}/`));
    assert.ok(m, `a start log line names a machine's systemd: ${line}`);
    out.get(m.id)!.push(version);
  }
  return out;
}

/** What each starts() list gained since `before`. */
function startedSince(before: Map<string, string[]>, log = START_LOG): Map<string, string[]> {
  const now = starts(log);
  return new Map([...now].map(([m, vs]) => [m, vs.slice(before.get(m)?.length ?? 0)]));
}

/** The units these tests follow, on every machine. */
const FOLLOWED = [UNIT, 'probe.service', ...WEB];
const observe = () => c.observe(FOLLOWED);

/** Observe until `problem` finds none; fail with the last problem and the logs. */
const settle = (what: string, ms: number, problem: (o: Observation) => string) => c.settle(what, ms, FOLLOWED, problem);

/** '' when every machine of `machines` runs `version` of UNIT, else what does not. */
function allRun(version: string, machines: readonly ClusterMachine[] = c.machines) {
  return (o: Observation) =>
    machines
      .filter((m) => !runsVersion(o.get(m.id)?.get(UNIT), version))
      .map((m) => `${m.id}: ${JSON.stringify(o.get(m.id)?.get(UNIT))}`)
      .join('; ');
}

/** UNIT's identity on each machine: what must not change where nothing should restart. */
function identity(o: Observation, m: ClusterMachine): string {
  const u = o.get(m.id)?.get(UNIT);
  return u ? `pid=${u.mainPid} inv=${u.invocation} restarts=${u.nRestarts} start=${u.mainStartMono}` : 'none';
}

interface RolloutJson {
  commit: string;
  state: string;
  reason: string | null;
  units: {
    unit: string;
    state: string;
    machines: { machine: string; state: string; hash: string | null; reason: string | null }[];
  }[];
}

/** The record of `commit` (default: the latest) as `rollout status --format json` gives it. */
async function rolloutJson(commit?: string): Promise<RolloutJson> {
  const r = await c.cli('rollout', 'status', ...(commit ? [commit] : []), '--format', 'json');
  assert.ok(r.code === 0 || r.code === 1, `rollout status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as RolloutJson;
}

/** `gitfleet rollout status COMMIT --wait`, as a CI job runs it. */
const waitRollout = (commit: string) => c.cli('rollout', 'status', commit, '--wait', '--timeout', '90');

const byId = (id: string) => c.machines.find((m) => m.id === id)!;

// ---- the tests -------------------------------------------------------------------------------

describe("rollouts on a 3-machine cluster, checked through each machine's systemd", () => {
  test('a new Global unit goes everywhere at once and its rollout succeeds', async () => {
    const commit = await c.source.push('roll v1', { 'fleet.yaml': fleetYaml(STAGED), [UNIT]: roll('v1') });
    await settle('every machine runs v1', 30_000, allRun('v1'));
    const wait = await waitRollout(commit);
    assert.equal(wait.code, 0, `rollout status --wait: ${wait.stdout}${wait.stderr}\n${c.logs()}`);
    assert.match(wait.stdout, /succeeded/);
    for (const [m, vs] of starts()) assert.deepEqual(vs, ['v1'], `${m} started v1 once`);
  });

  test('maxParallel 1, minHealthy 2s: machine by machine, each new process 2 s or more after the last', async () => {
    const before = starts();
    const commit = await c.source.push('roll v2', { [UNIT]: roll('v2') });
    const obs = await settle('every machine runs v2', 60_000, allRun('v2'));
    const times = c.machines.map((m) => obs.get(m.id)!.get(UNIT)!.mainStartMono).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => (t - times[i]!) / 1000);
    for (const [i, gap] of gaps.entries())
      assert.ok(gap >= 2000, `batch ${i + 2} started ${gap} ms after batch ${i + 1}: less than minHealthy (2 s)`);
    process.stderr.write(`# batches started ${gaps.map((g) => `${Math.round(g)} ms`).join(', ')} apart\n`);
    for (const [m, vs] of startedSince(before)) assert.deepEqual(vs, ['v2'], `${m} took v2 once`);
    assert.equal((await waitRollout(commit)).code, 0);
    const status = await c.cli('status');
    assert.equal(status.code, 0, status.stdout);
  });

  let heldAt: string;
  test('a bad change (canary 1, autoRevert) reaches one machine, which then runs the previous content', async () => {
    const before = starts();
    const obs0 = await observe();
    const revert = '{ maxParallel: 1, canary: 1, minHealthy: 2s, autoRevert: true }';
    const commit = await c.source.push('roll v3: broken', { 'fleet.yaml': fleetYaml(revert), [UNIT]: broken('v3') });
    const wait = await waitRollout(commit);
    assert.equal(wait.code, 1, `rollout status --wait exits 1 when reverted: ${wait.stdout}${wait.stderr}`);
    assert.match(wait.stdout, /reverted/);
    const tried = [...startedSince(before)].filter(([, vs]) => vs.includes('v3')).map(([m]) => m);
    assert.equal(tried.length, 1, `exactly one machine tried v3: ${JSON.stringify([...startedSince(before)])}`);
    const canary = byId(tried[0]!);
    const obs = await settle('the canary runs v2 again', 30_000, allRun('v2'));
    const since = startedSince(before);
    assert.deepEqual(since.get(canary.id), ['v3', 'v2'], 'the canary tried v3, then started v2 again');
    const u = obs.get(canary.id)!.get(UNIT)!;
    assert.equal(u.environment, 'VERSION=v2', "the canary's systemd has the previous definition back");
    assert.notEqual(u.invocation, obs0.get(canary.id)!.get(UNIT)!.invocation, 'a new process on the canary');
    for (const m of c.machines.filter((x) => x !== canary)) {
      assert.deepEqual(since.get(m.id), [], `${m.id} never restarted`);
      assert.equal(identity(obs, m), identity(obs0, m), `${m.id}: same MainPID, invocation, NRestarts`);
      assert.equal(obs.get(m.id)!.get(UNIT)!.environment, 'VERSION=v2', `${m.id} still has v2's definition`);
    }
    const record = await rolloutJson(commit);
    assert.equal(record.state, 'reverted');
    const failed = record.units[0]!.machines.find((m) => m.machine === canary.id)!;
    assert.match(failed.reason ?? '', /exit-code 1/, 'the reason keeps what systemd said');

    const status = await c.cli('status');
    assert.equal(status.code, 1, `status exits 1 while the rollout is reverted: ${status.stdout}`);
    const held = /(\S+) held at ([0-9a-f]{7}): (.*)/.exec(status.stdout);
    assert.ok(held, `status says what is held and why: ${status.stdout}`);
    assert.equal(held[1], UNIT);
    assert.match(held[3]!, new RegExp(`exit-code 1.*${canary.id}|${canary.id}.*exit-code 1`));
    heldAt = held[2]!;
    process.stderr.write(`# gitfleet status: ${held[0]}\n`);
  });

  test('the group stays held at the old content until a commit changes it: the next good one rolls out', async () => {
    assert.ok(heldAt);
    // Two commits that leave the unit alone: still held, nothing restarts, the old content stays in etcd.
    const obs0 = await observe();
    for (const n of [1, 2]) {
      const commit = await c.source.push(`note ${n}`, {
        'fleet.yaml': `${fleetYaml('{ maxParallel: 1, canary: 1, minHealthy: 2s, autoRevert: true }')}# note ${n}\n`,
      });
      await c.waitFor(
        `the rollout of note ${n} is recorded`,
        async () => (await c.cli('rollout', 'status', commit)).stdout !== '',
      );
      const status = await c.cli('status');
      assert.equal(status.code, 1, `still held after note ${n}: ${status.stdout}`);
      assert.match(status.stdout, new RegExp(`${UNIT} held at ${heldAt}`));
    }
    const obs1 = await observe();
    assert.deepEqual(
      c.machines.map((m) => identity(obs1, m)),
      c.machines.map((m) => identity(obs0, m)),
      'nothing restarted',
    );
    const told = (await rolloutJson()).units[0]!.machines.map((m) => m.hash);
    for (const hash of new Set(told))
      assert.ok(await c.store.get(bodyKey(hash!)), `the held content ${hash} is still in etcd`);
    const before = starts();
    const commit = await c.source.push('roll v4', { [UNIT]: roll('v4') });
    await settle('every machine runs v4', 60_000, allRun('v4'));
    const wait = await waitRollout(commit);
    assert.equal(wait.code, 0, `${wait.stdout}${wait.stderr}`);
    for (const [m, vs] of startedSince(before)) assert.deepEqual(vs, ['v4'], `${m} took v4 once`);
    const status = await c.cli('status');
    assert.equal(status.code, 0, `status exits 0 again: ${status.stdout}`);
    assert.doesNotMatch(status.stdout, /held at/);
  });

  test('the leading engine killed mid-rollout: the other carries on from the record', async () => {
    const before = starts();
    const commit = await c.source.push('roll v5', { 'fleet.yaml': fleetYaml(STAGED), [UNIT]: roll('v5') });
    await settle('one machine runs v5', 30_000, (o) =>
      c.machines.some((m) => runsVersion(o.get(m.id)?.get(UNIT), 'v5')) ? '' : 'no machine runs v5 yet',
    );
    const leader = await c.leaderEngine();
    leader.proc!.signal('SIGKILL');
    assert.ok(await leader.proc!.waitExit(10_000), 'the leading engine exited');
    try {
      await settle('every machine runs v5', (TTL + 60) * 1000, allRun('v5'));
      const wait = await waitRollout(commit);
      assert.equal(wait.code, 0, `${wait.stdout}${wait.stderr}`);
      assert.notEqual(await c.leader(), leader.id, 'the other engine leads');
      for (const [m, vs] of startedSince(before)) assert.deepEqual(vs, ['v5'], `${m} took v5 exactly once`);
      const obs = await observe();
      const times = c.machines.map((m) => obs.get(m.id)!.get(UNIT)!.mainStartMono).sort((a, b) => a - b);
      for (let i = 1; i < times.length; i++)
        assert.ok(times[i]! - times[i - 1]! >= 2_000_000, 'still one machine at a time, each after minHealthy');
    } finally {
      c.startEngine(leader);
    }
  });

  test('a machine lost mid-rollout leaves it: the others finish; back, it takes the new content', async () => {
    const before = starts();
    const slow = '{ maxParallel: 1, minHealthy: 4s }';
    const commit = await c.source.push('roll v6', { 'fleet.yaml': fleetYaml(slow), [UNIT]: roll('v6') });
    const obs0 = await settle('one machine runs v6', 30_000, (o) =>
      c.machines.some((m) => runsVersion(o.get(m.id)?.get(UNIT), 'v6')) ? '' : 'no machine runs v6 yet',
    );
    // A machine whose turn has not come: its agent gone, its systemd (and v5) runs on.
    const waiting = c.machines.filter((m) => runsVersion(obs0.get(m.id)?.get(UNIT), 'v5'));
    assert.equal(waiting.length, 2, 'the first batch is one machine');
    const lost = waiting[waiting.length - 1]!;
    await c.killAgent(lost, 'SIGKILL');
    const others = c.machines.filter((m) => m !== lost);
    try {
      await settle('the others run v6', (TTL + 60) * 1000, allRun('v6', others));
      const wait = await waitRollout(commit);
      assert.equal(wait.code, 0, `the rollout finishes without the lost machine: ${wait.stdout}${wait.stderr}`);
      const record = await rolloutJson(commit);
      assert.deepEqual(
        record.units[0]!.machines.map((m) => m.machine).sort(),
        others.map((m) => m.id).sort(),
        'the lost machine left the rollout',
      );
      const obs = await observe();
      assert.ok(runsVersion(obs.get(lost.id)?.get(UNIT), 'v5'), 'the lost machine still runs what it had');
      for (const m of others) assert.deepEqual(startedSince(before).get(m.id), ['v6'], `${m.id} took v6 once`);
      assert.deepEqual(startedSince(before).get(lost.id), [], 'nothing restarted on the lost machine');
    } finally {
      await c.startAgent(lost);
    }
    await settle('every machine runs v6', 30_000, allRun('v6'));
    for (const [m, vs] of startedSince(before)) assert.deepEqual(vs, ['v6'], `${m} took v6 once`);
  });

  test('a commit superseding a running rollout: no machine is left half-way', async () => {
    const before = starts();
    const slow = '{ maxParallel: 1, minHealthy: 4s }';
    const v7 = await c.source.push('roll v7', { [UNIT]: roll('v7') });
    await settle('one machine runs v7', 30_000, (o) =>
      c.machines.some((m) => runsVersion(o.get(m.id)?.get(UNIT), 'v7')) ? '' : 'no machine runs v7 yet',
    );
    const v8 = await c.source.push('roll v8', { 'fleet.yaml': fleetYaml(slow), [UNIT]: roll('v8') });
    const wait7 = await waitRollout(v7);
    assert.equal(wait7.code, 1, `a superseded rollout is not a success for CI: ${wait7.stdout}`);
    assert.match(wait7.stdout, /superseded/);
    await settle('every machine runs v8', 60_000, allRun('v8'));
    assert.equal((await waitRollout(v8)).code, 0);
    assert.equal((await rolloutJson(v7)).state, 'superseded');
    const since = startedSince(before);
    const took7 = [...since].filter(([, vs]) => vs.includes('v7')).map(([m]) => m);
    assert.ok(
      took7.length >= 1 && took7.length < 3,
      `v7 reached some machines, not all: ${JSON.stringify([...since])}`,
    );
    for (const [m, vs] of since)
      assert.deepEqual(vs, took7.includes(m) ? ['v7', 'v8'] : ['v8'], `${m}: each content at most once, v8 last`);
  });

  test('rollout pause holds a rollout before its first batch; resume lets it go on', async () => {
    const pause = await c.cli('rollout', 'pause');
    assert.equal(pause.code, 0, pause.stderr);
    let resumed = false;
    try {
      const before = starts();
      const obs0 = await observe();
      const commit = await c.source.push('roll v9', { [UNIT]: roll('v9') });
      await c.waitFor('the rollout is recorded as paused', async () => {
        const r = await c.cli('rollout', 'status', commit, '--format', 'json');
        return r.stdout !== '' && (JSON.parse(r.stdout) as RolloutJson).state === 'paused';
      });
      await new Promise((r) => setTimeout(r, 3_000));
      const obs = await observe();
      for (const m of c.machines) {
        assert.deepEqual(startedSince(before).get(m.id), [], `${m.id} did not take v9 while paused`);
        assert.equal(identity(obs, m), identity(obs0, m), `${m.id} not restarted`);
      }
      const status = await c.cli('status');
      assert.equal(status.code, 0, `paused is not a failure: ${status.stdout}`);
      assert.match(status.stdout, /rollout: +[0-9a-f]{12} paused: 0 healthy, 0 updating, 3 pending/);
      assert.equal((await c.cli('rollout', 'resume')).code, 0);
      resumed = true;
      await settle('every machine runs v9', 60_000, allRun('v9'));
      assert.equal((await waitRollout(commit)).code, 0);
      for (const [m, vs] of startedSince(before)) assert.deepEqual(vs, ['v9'], `${m} took v9 once`);
    } finally {
      if (!resumed) await c.cli('rollout', 'resume');
    }
  });

  test("a template's instances roll out one machine at a time too (through the engine's schedule)", async () => {
    const added = await c.source.push('web v1', {
      'fleet.yaml': fleetYaml('{ maxParallel: 1, minHealthy: 4s }', WEB_YAML),
      'web@.service': web('v1'),
    });
    /** machine -> the web instance its systemd runs at `version` ('' when it runs none). */
    const instances = (o: Observation, version: string) =>
      c.machines.map((m) => WEB.find((u) => runsVersion(o.get(m.id)?.get(u), version)) ?? '');
    await settle('one web instance at v1 on each machine', 30_000, (o) =>
      instances(o, 'v1').includes('') ? `web at v1: ${instances(o, 'v1').join(', ')}` : '',
    );
    assert.equal((await waitRollout(added)).code, 0);
    const before = starts(WEB_LOG);
    const obs0 = await observe();
    const placed = instances(obs0, 'v1');
    const changed = await c.source.push('web v2', { 'web@.service': web('v2') });
    const obs = await settle('every web instance runs v2', 60_000, (o) =>
      instances(o, 'v2').join() === placed.join() ? '' : `web at v2: ${instances(o, 'v2').join(', ')}`,
    );
    const times = c.machines.map((m, i) => obs.get(m.id)!.get(placed[i]!)!.mainStartMono).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++)
      assert.ok(times[i]! - times[i - 1]! >= 2_000_000, `batch ${i + 1} started within minHealthy of batch ${i}`);
    for (const [m, vs] of startedSince(before, WEB_LOG)) assert.deepEqual(vs, ['v2'], `${m} took v2 once`);
    const wait = await waitRollout(changed);
    assert.equal(wait.code, 0, `${wait.stdout}${wait.stderr}`);
    assert.match(wait.stdout, /web@\.service changed: 3\/3 healthy/);
  });

  test('an http health check failing while systemd says active fails the machine at healthyDeadline', async () => {
    const port = await freePort();
    const server =
      `${process.execPath} -e "require('http').createServer((q, s) => { s.statusCode = 503; s.end() })` +
      `.listen(${port}, '127.0.0.1')"`;
    const probe = `[Unit]\nDescription=serves http, never healthy\n\n[Service]\nExecStart=${server}\n`;
    // The deadline leaves node room to start listening on a loaded machine: the check must have answered 503.
    const extra =
      WEB_YAML +
      '  probe.service:\n    state: launched\n    rollout: { minHealthy: 1s, healthyDeadline: 10s }\n' +
      `    health: { http: "http://127.0.0.1:${port}/healthz", interval: 500ms, timeout: 400ms }\n`;
    const commit = await c.source.push('probe', { 'fleet.yaml': fleetYaml(STAGED, extra), 'probe.service': probe });
    const obs0 = await settle('probe.service active on one machine', 30_000, (o) =>
      [...o.values()].filter((u) => u.get('probe.service')?.active === 'active').length === 1 ? '' : 'not yet',
    );
    const [machine, units] = [...obs0].find(([, u]) => u.get('probe.service')?.active === 'active')!;
    const was = units.get('probe.service')!;
    const wait = await waitRollout(commit);
    assert.equal(wait.code, 1, `${wait.stdout}${wait.stderr}`);
    const record = await rolloutJson(commit);
    assert.equal(record.state, 'failed');
    const m = record.units.find((u) => u.unit === 'probe.service')!.machines[0]!;
    assert.equal(m.machine, machine);
    assert.equal(m.state, 'failed');
    assert.match(m.reason ?? '', /not healthy within 10s: .*health check failing: HTTP 503/);
    const obs = await observe();
    const now = obs.get(machine)!.get('probe.service')!;
    assert.equal(now.active, 'active', 'systemd says active all along');
    assert.equal(now.invocation, was.invocation, 'gitfleet did not restart it');
    assert.equal(now.nRestarts, 0);
    const status = await c.cli('status');
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stdout, /probe\.service stopped: .*HTTP 503/);
  });
});
