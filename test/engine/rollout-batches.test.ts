/** Which machines a change reaches in which batch (pure): what `gitfleet plan --etcd` shows. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../../src/desired/policy.js';
import { previewBatches } from '../../src/engine/rollout-batches.js';
import { placementKey, planRollout, type RolloutSubject } from '../../src/engine/rollout.js';

const M = ['m1', 'm2', 'm3', 'm4', 'm5'];
const policy = (p: Partial<RolloutPolicy> = {}): RolloutPolicy => ({ ...DEFAULT_ROLLOUT, ...p });

/** A Global-like g.service on every machine of M, each told `old`. */
function global(p: RolloutPolicy, hash = 'new') {
  const units: RolloutSubject[] = [{ name: 'g.service', group: 'g.service', hash, policy: p }];
  const told = new Map(M.map((m) => [placementKey(m, 'g.service'), 'old']));
  return { commit: 'c2', units, placement: new Map([['g.service', M]]), told };
}

const names = (b: { name: string; machines: string[] }[]) => b.map((x) => `${x.name}: ${x.machines.join(' ')}`);

test('canary first, then maxParallel at a time, in the order the engine takes them', () => {
  const [g] = previewBatches(global(policy({ canary: 1, maxParallel: { count: 2 } })));
  assert.equal(g!.change, 'changed');
  assert.deepEqual(names(g!.batches), ['canary: m1', 'batch 1: m2 m3', 'batch 2: m4 m5']);
  assert.equal(g!.held, null);
});

test('the default policy: one batch of every machine; a percentage of the machines per batch', () => {
  assert.deepEqual(names(previewBatches(global(policy()))[0]!.batches), ['batch 1: m1 m2 m3 m4 m5']);
  const [g] = previewBatches(global(policy({ maxParallel: { percent: 40 } })));
  assert.deepEqual(names(g!.batches), ['batch 1: m1 m2', 'batch 2: m3 m4', 'batch 3: m5']);
});

test("a template's instances roll out together, each on its machine; an added unit goes at once", () => {
  const p = policy({ maxParallel: { count: 1 } });
  const units: RolloutSubject[] = [
    ...['web@1.service', 'web@2.service', 'web@3.service'].map((name) => ({
      name,
      group: 'web@.service',
      hash: 'w2',
      policy: p,
    })),
    { name: 'new.service', group: 'new.service', hash: 'n1', policy: p },
  ];
  const placement = new Map([
    ['web@1.service', ['m3']],
    ['web@2.service', ['m1']],
    ['web@3.service', ['m2']],
    ['new.service', ['m4']],
  ]);
  const told = new Map([
    [placementKey('m3', 'web@1.service'), 'w1'],
    [placementKey('m1', 'web@2.service'), 'w1'],
    [placementKey('m2', 'web@3.service'), 'w1'],
  ]);
  const out = previewBatches({ commit: 'c2', units, placement, told });
  assert.deepEqual(
    out.map((g) => [g.unit, g.change, names(g.batches)]),
    [
      ['new.service', 'added', ['at once: m4']],
      ['web@.service', 'changed', ['batch 1: m1', 'batch 2: m2', 'batch 3: m3']],
    ],
  );
});

test('a group held by a reverted rollout of the same content reaches no machine', () => {
  const input = global(policy({ canary: 1, autoRevert: true }));
  let r = planRollout({ ...input, now: 0, health: new Map(), record: null, paused: false });
  const failed = new Map([
    [placementKey('m1', 'g.service'), { hash: 'new', state: 'failed' as const, reason: 'exit-code 1' }],
  ]);
  r = planRollout({ ...input, now: 1, health: failed, record: r.record, paused: false });
  assert.equal(r.record.state, 'reverted');
  const [g] = previewBatches({ ...input, commit: 'c3', record: r.record });
  assert.deepEqual(g!.batches, []);
  assert.match(g!.held!, /exit-code 1 on m1/);
});
