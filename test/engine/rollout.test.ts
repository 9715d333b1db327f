/** The rollout planner (pure): staging, health, deadlines, revert, hold, supersede. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../../src/desired/policy.js';
import {
  planRollout,
  placementKey,
  type RolloutInput,
  type RolloutOutput,
  type RolloutRecord,
  type UnitHealth,
} from '../../src/engine/rollout.js';
import { rolloutCounts } from '../../src/store/rollouts.js';

const M = ['m1', 'm2', 'm3'];
const policy = (p: Partial<RolloutPolicy> = {}): RolloutPolicy => ({ ...DEFAULT_ROLLOUT, ...p });

/** A Global-like unit g.service on m1..m3: told `told` everywhere, desired `hash`. */
function input(
  over: Partial<Omit<RolloutInput, 'told'>> & {
    hash?: string;
    p?: RolloutPolicy;
    was?: string | null;
    told?: Map<string, string>;
  },
): RolloutInput {
  const hash = over.hash ?? 'new';
  const told = new Map<string, string>();
  if (over.was !== null) for (const m of M) told.set(placementKey(m, 'g.service'), over.was ?? 'old');
  return {
    now: 0,
    commit: 'c2',
    units: [{ name: 'g.service', group: 'g.service', hash, policy: over.p ?? policy() }],
    placement: new Map([['g.service', M]]),
    health: new Map(),
    record: null,
    paused: false,
    ...over,
    told: over.told ?? told,
  };
}
const tells = (o: RolloutOutput) => M.map((m) => o.hashes.get(placementKey(m, 'g.service')));
const states = (o: RolloutOutput) => o.record.groups[0]!.machines.map((m) => m.state);
const healthy = (hash: string, ...ms: string[]) =>
  new Map<string, UnitHealth>(ms.map((m) => [placementKey(m, 'g.service'), { hash, state: 'healthy' }]));

test('the default policy takes every machine at once and succeeds when all are healthy', () => {
  const a = planRollout(input({}));
  assert.deepEqual(tells(a), ['new', 'new', 'new']);
  assert.deepEqual(states(a), ['updating', 'updating', 'updating']);
  assert.equal(a.record.state, 'progressing');
  const b = planRollout(input({ now: 1000, record: a.record, health: healthy('new', ...M) }));
  assert.equal(b.record.state, 'succeeded');
  assert.equal(b.record.ended, 1000);
  assert.deepEqual(rolloutCounts(b.record), { healthy: 3, failed: 0, pending: 0, updating: 0 });
});

test('maxParallel 1: machine by machine, each batch only after the previous one is healthy', () => {
  const p = policy({ maxParallel: { count: 1 } });
  let o = planRollout(input({ p }));
  assert.deepEqual(tells(o), ['new', 'old', 'old']);
  o = planRollout(input({ p, now: 500, record: o.record }));
  assert.deepEqual(tells(o), ['new', 'old', 'old'], 'm1 not healthy yet: nothing else moves');
  o = planRollout(input({ p, now: 1000, record: o.record, health: healthy('new', 'm1') }));
  assert.deepEqual(states(o), ['healthy', 'updating', 'pending']);
  assert.deepEqual(tells(o), ['new', 'new', 'old']);
  o = planRollout(input({ p, now: 2000, record: o.record, health: healthy('new', 'm1', 'm2') }));
  assert.deepEqual(tells(o), ['new', 'new', 'new']);
  o = planRollout(input({ p, now: 3000, record: o.record, health: healthy('new', ...M) }));
  assert.equal(o.record.state, 'succeeded');
});

test('a failed canary with autoRevert: only the canary took the change, and it gets the old content back', () => {
  const p = policy({ canary: 1, autoRevert: true });
  let o = planRollout(input({ p }));
  assert.deepEqual(tells(o), ['new', 'old', 'old']);
  const failed = new Map<string, UnitHealth>([
    [placementKey('m1', 'g.service'), { hash: 'new', state: 'failed', reason: 'exit-code 1' }],
  ]);
  o = planRollout(input({ p, now: 1000, record: o.record, health: failed }));
  assert.equal(o.record.state, 'reverted');
  assert.deepEqual(tells(o), ['old', 'old', 'old']);
  assert.deepEqual(states(o), ['reverted', 'pending', 'pending']);
  assert.match(o.record.reason!, /g\.service held at old: exit-code 1 on m1/);
  // A later commit that leaves g.service alone keeps it held.
  const held = planRollout(input({ p, commit: 'c3', now: 2000, record: o.record }));
  assert.equal(held.record.state, 'reverted');
  assert.deepEqual(tells(held), ['old', 'old', 'old']);
  // A commit that changes it starts over, from what each machine runs.
  const fixed = planRollout(input({ p, commit: 'c4', hash: 'fixed', now: 3000, record: held.record }));
  assert.equal(fixed.record.state, 'progressing');
  assert.deepEqual(tells(fixed), ['fixed', 'old', 'old']);
});

test('without autoRevert a failure stops the rollout where it failed', () => {
  const p = policy({ maxParallel: { count: 1 } });
  let o = planRollout(input({ p }));
  const failed = new Map<string, UnitHealth>([
    [placementKey('m1', 'g.service'), { hash: 'new', state: 'failed', reason: 'exit-code 1' }],
  ]);
  o = planRollout(input({ p, now: 1000, record: o.record, health: failed }));
  assert.equal(o.record.state, 'failed');
  assert.deepEqual(tells(o), ['new', 'old', 'old']);
});

test('not healthy by healthyDeadline is a failure, with what the agent last said', () => {
  const p = policy({ healthyDeadlineMs: 5000 });
  let o = planRollout(input({ p }));
  assert.equal(o.nextCheckAt, 5000);
  const starting = new Map<string, UnitHealth>(
    M.map((m) => [placementKey(m, 'g.service'), { hash: 'new', state: 'starting', reason: 'activating' }]),
  );
  o = planRollout(input({ p, now: 5000, record: o.record, health: starting }));
  assert.equal(o.record.state, 'failed');
  assert.match(o.record.groups[0]!.machines[0]!.reason!, /not healthy within 5s: activating/);
});

test('the progress deadline fails the rollout as a whole', () => {
  const p = policy({ maxParallel: { count: 1 }, progressDeadlineMs: 10_000, healthyDeadlineMs: 60_000 });
  let o = planRollout(input({ p }));
  o = planRollout(input({ p, now: 10_000, record: o.record }));
  assert.equal(o.record.state, 'failed');
  assert.match(o.record.reason!, /progress deadline \(10s\)/);
});

test('a new commit supersedes a running rollout; the new one starts from what each machine is told', () => {
  const p = policy({ maxParallel: { count: 1 } });
  const a = planRollout(input({ p }));
  const told = new Map<string, string>([
    [placementKey('m1', 'g.service'), 'new'],
    [placementKey('m2', 'g.service'), 'old'],
    [placementKey('m3', 'g.service'), 'old'],
  ]);
  const b = planRollout(input({ p, commit: 'c3', hash: 'newer', now: 100, record: a.record, told }));
  assert.equal(b.superseded?.state, 'superseded');
  assert.equal(b.superseded?.commit, 'c2');
  assert.equal(b.record.previous, 'c2');
  assert.deepEqual(tells(b), ['newer', 'old', 'old']);
  assert.deepEqual(
    b.record.groups[0]!.machines.map((m) => m.from),
    ['new', 'old', 'old'],
  );
});

test('a unit the commit adds needs no staging; an unchanged unit is not in the record', () => {
  const p = policy({ maxParallel: { count: 1 } });
  const added = planRollout(input({ p, was: null }));
  assert.equal(added.record.groups[0]!.change, 'added');
  assert.deepEqual(tells(added), ['new', 'new', 'new']);
  const same = planRollout(input({ p, was: 'new' }));
  assert.deepEqual(same.record.groups, []);
  assert.equal(same.record.state, 'succeeded');
});

test('a removed unit is tracked until no machine reports it', () => {
  const told = new Map([[placementKey('m1', 'gone.service'), 'x']]);
  const base = { commit: 'c2', units: [], placement: new Map(), told, paused: false, record: null };
  const a = planRollout({
    ...base,
    now: 0,
    health: new Map([[placementKey('m1', 'gone.service'), { hash: 'x', state: 'healthy' as const }]]),
  });
  assert.equal(a.record.groups[0]!.change, 'removed');
  assert.equal(a.record.state, 'progressing');
  const b = planRollout({ ...base, now: 10, record: a.record, health: new Map() });
  assert.equal(b.record.state, 'succeeded');
});

test('pause holds the next batch; resume goes on', () => {
  const p = policy({ maxParallel: { count: 1 } });
  let o = planRollout(input({ p }));
  o = planRollout(input({ p, now: 1000, record: o.record, health: healthy('new', 'm1'), paused: true }));
  assert.equal(o.record.state, 'paused');
  assert.deepEqual(tells(o), ['new', 'old', 'old']);
  o = planRollout(input({ p, now: 2000, record: o.record, health: healthy('new', 'm1') }));
  assert.equal(o.record.state, 'progressing');
  assert.deepEqual(tells(o), ['new', 'new', 'old']);
});

test('a machine lost mid-rollout leaves the group; the machine that takes its units waits its turn', () => {
  const p = policy({ maxParallel: { count: 1 } });
  let o = planRollout(input({ p }));
  // m3 (pending) dies; its unit is placed on m4.
  const placement = new Map([['g.service', ['m1', 'm2', 'm4']]]);
  o = planRollout(input({ p, now: 500, record: o.record, placement }));
  assert.deepEqual(
    o.record.groups[0]!.machines.map((m) => [m.machine, m.state]),
    [
      ['m1', 'updating'],
      ['m2', 'pending'],
      ['m4', 'pending'],
    ],
  );
  assert.equal(o.hashes.get(placementKey('m4', 'g.service')), 'old');
});

test('instances of a template roll out as one group, machine by machine', () => {
  const p = policy({ maxParallel: { count: 1 } });
  const units = ['web@1.service', 'web@2.service', 'web@3.service'].map((name) => ({
    name,
    group: 'web@.service',
    hash: 'new',
    policy: p,
  }));
  const placement = new Map([
    ['web@1.service', ['m1']],
    ['web@2.service', ['m1']],
    ['web@3.service', ['m2']],
  ]);
  const told = new Map([...placement].map(([u, [m]]) => [placementKey(m!, u), 'old']));
  const base = { commit: 'c2', units, placement, told, paused: false };
  let o = planRollout({ ...base, now: 0, record: null, health: new Map() });
  assert.equal(o.record.groups.length, 1);
  assert.equal(o.record.groups[0]!.unit, 'web@.service');
  assert.deepEqual([...o.hashes].sort(), [
    ['m1/web@1.service', 'new'],
    ['m1/web@2.service', 'new'],
    ['m2/web@3.service', 'old'],
  ]);
  // One instance healthy on m1 is not enough: both must be.
  const h1 = new Map<string, UnitHealth>([['m1/web@1.service', { hash: 'new', state: 'healthy' }]]);
  o = planRollout({ ...base, now: 10, record: o.record, health: h1 });
  assert.equal(o.hashes.get('m2/web@3.service'), 'old');
  h1.set('m1/web@2.service', { hash: 'new', state: 'healthy' });
  o = planRollout({ ...base, now: 20, record: o.record, health: h1 });
  assert.equal(o.hashes.get('m2/web@3.service'), 'new');
});

test('the record survives a restart: planning again from the stored record changes nothing', () => {
  const p = policy({ maxParallel: { count: 1 } });
  const a = planRollout(input({ p }));
  const stored: RolloutRecord = JSON.parse(JSON.stringify(a.record));
  const b = planRollout(input({ p, now: 10, record: stored }));
  assert.deepEqual(tells(b), tells(a));
  assert.deepEqual(states(b), states(a));
});

test('a rollout of 150,000 units is planned: its next deadline is the earliest of all of them', () => {
  const n = 150_000;
  const units = Array.from({ length: n }, (_, i) => ({
    name: `u${i}.service`,
    group: `u${i}.service`,
    hash: 'new',
    policy: policy({ healthyDeadlineMs: 60_000 + i }),
  }));
  const placement = new Map(units.map((u) => [u.name, ['m1']]));
  const o = planRollout({
    now: 0,
    commit: 'c1',
    units,
    placement,
    told: new Map(),
    health: new Map(),
    record: null,
    paused: false,
  });
  assert.equal(o.record.groups.length, n);
  assert.equal(o.nextCheckAt, 60_000);
});
