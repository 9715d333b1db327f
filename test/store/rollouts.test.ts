/** Rollout records round-trip through a store: only changed shards are rewritten. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ROLLOUT } from '../../src/desired/policy.js';
import type { RolloutRecord } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { readRollout, rolloutOps } from '../../src/store/rollouts.js';

const record = (n: number): RolloutRecord => ({
  commit: 'c1',
  previous: null,
  state: 'progressing',
  started: 1,
  ended: null,
  reason: null,
  groups: Array.from({ length: n }, (_, i) => ({
    unit: `u${i}.service`,
    change: 'changed' as const,
    state: 'progressing' as const,
    to: 'new',
    from: 'old',
    policy: DEFAULT_ROLLOUT,
    machines: [{ machine: 'm1', state: 'updating' as const, from: 'old', since: 1, reason: null }],
    reason: null,
  })).sort((a, b) => (a.unit < b.unit ? -1 : 1)),
});

test('a record is stored in shards and read back whole; a change rewrites one shard and the head', async () => {
  const store = new MemoryStore();
  const r = record(300);
  const first = rolloutOps(r, { head: null, shards: new Map() });
  for (let i = 0; i < first.ops.length; i += 100) await store.txn([], first.ops.slice(i, i + 100));
  const back = await readRollout(store);
  assert.deepEqual(back, r);
  r.groups[7]!.machines[0]!.state = 'healthy';
  const second = rolloutOps(r, { head: first.head, shards: first.shards });
  assert.deepEqual(
    second.ops.map((o) => ('key' in o ? o.key : '')).sort(),
    [
      'rollouts/c1/groups/' + [...second.shards.keys()].find((k) => second.shards.get(k) !== first.shards.get(k)),
      'rollouts/c1/head',
    ].sort(),
  );
  assert.deepEqual(rolloutOps(r, { head: second.head, shards: second.shards }).ops, []);
  await store.close();
});

test('given the stored record, a shard of the very same groups keeps its JSON; a new group is written', () => {
  const r = record(300);
  const first = rolloutOps(r, { head: null, shards: new Map() });
  const same = rolloutOps({ ...r }, { head: first.head, shards: first.shards, record: r });
  assert.deepEqual(same.ops, []);
  const changed = { ...r, groups: r.groups.map((g, i) => (i === 7 ? { ...g, state: 'succeeded' as const } : g)) };
  const withStored = rolloutOps(changed, { head: first.head, shards: first.shards, record: r });
  const fresh = rolloutOps(changed, { head: first.head, shards: first.shards });
  assert.deepEqual(withStored, fresh);
  // The changed group's shard only (the head's machine counts did not change).
  assert.deepEqual(
    withStored.ops.map((o) => o.op),
    ['put'],
  );
});
