/**
 * Rollout records in the store: reading them back whole, and the writes that store one (only the
 * shards that changed). The layout is in keys.ts; the engine plans records (src/engine/rollout.ts)
 * and writes these operations under its fence; `gitfleet rollout` and `status` read them.
 */
import {
  ROLLOUT_CONTROL,
  ROLLOUT_LATEST,
  ROLLOUTS_KEPT,
  ROLLOUTS_PREFIX,
  rolloutHeadKey,
  rolloutPrefix,
  rolloutShardKey,
  shardOf,
  type RolloutControl,
  type RolloutGroup,
  type RolloutHead,
  type RolloutRecord,
  type RolloutShard,
} from './keys.js';
import {
  decodeRolloutControl,
  decodeRolloutHead,
  decodeRolloutLatest,
  decodeRolloutShard,
  MissingRecordError,
} from './records.js';
import type { Compare, KeyValue, Op, Store } from './store.js';

/**
 * Keys per request when a record is read: its shards are large (~100 KiB each at 100,000 units), and
 * one request for all of a big record (30 MB) outran the call deadline; pages of this many arrive
 * in time and still make one consistent snapshot.
 */
const RECORD_PAGE = 16;

/** Counts of machine states over a record: a reverted machine counts as failed. */
export function rolloutCounts(r: { groups: readonly RolloutGroup[] }): RolloutHead['counts'] {
  const c = { healthy: 0, failed: 0, pending: 0, updating: 0 };
  for (const g of r.groups)
    for (const m of g.machines) {
      if (m.state === 'reverted') c.failed++;
      else c[m.state]++;
    }
  return c;
}

function groupsByShard(groups: readonly RolloutGroup[]): Map<string, RolloutGroup[]> {
  const byShard = new Map<string, RolloutGroup[]>();
  for (const g of groups) {
    const idx = shardOf(g.unit);
    let list = byShard.get(idx);
    if (!list) byShard.set(idx, (list = []));
    list.push(g);
  }
  return byShard;
}

/**
 * The record split as stored: its head, and shard index -> shard JSON. With `stored` (the record
 * as last stored, and its shards' JSON), a shard whose groups are the very same objects as there
 * is not serialised again.
 */
export function layoutRollout(
  r: RolloutRecord,
  stored?: { record: RolloutRecord | null; shards: ReadonlyMap<string, string> },
): { head: RolloutHead; shards: Map<string, string> } {
  const byShard = groupsByShard(r.groups);
  const old = stored?.record?.commit === r.commit ? groupsByShard(stored.record.groups) : null;
  const shards = new Map<string, string>();
  for (const idx of [...byShard.keys()].sort()) {
    const groups = byShard.get(idx)!;
    const was = old?.get(idx);
    const json =
      was && was.length === groups.length && was.every((g, i) => g === groups[i]) ? stored!.shards.get(idx) : undefined;
    shards.set(idx, json ?? JSON.stringify({ groups } satisfies RolloutShard));
  }
  const { groups: _groups, ...rest } = r;
  return { head: { ...rest, counts: rolloutCounts(r), shards: [...shards.keys()] }, shards };
}

/**
 * The writes that store `r`, given what is stored of it now (`before`: its head JSON and shard
 * JSONs, empty for a new record): changed shards, removed shards, the head, and the latest pointer
 * when the record is new. Nothing when nothing changed.
 */
export function rolloutOps(
  r: RolloutRecord,
  before: { head: string | null; shards: ReadonlyMap<string, string>; record?: RolloutRecord | null },
): { ops: Op[]; head: string; shards: Map<string, string> } {
  const { head, shards } = layoutRollout(
    r,
    before.record !== undefined ? { record: before.record, shards: before.shards } : undefined,
  );
  const ops: Op[] = [];
  for (const [idx, json] of shards) {
    if (before.shards.get(idx) !== json) ops.push({ op: 'put', key: rolloutShardKey(r.commit, idx), value: json });
  }
  for (const idx of before.shards.keys()) {
    if (!shards.has(idx)) ops.push({ op: 'delete', key: rolloutShardKey(r.commit, idx) });
  }
  const headJson = JSON.stringify(head);
  if (headJson !== before.head) ops.push({ op: 'put', key: rolloutHeadKey(r.commit), value: headJson });
  if (before.head === null) {
    ops.push({ op: 'put', key: ROLLOUT_LATEST, value: JSON.stringify({ commit: r.commit }) });
  }
  return { ops, head: headJson, shards };
}

/** The commit of the newest rollout record, or null. */
export async function latestRolloutCommit(store: Store): Promise<string | null> {
  const kv = await store.get(ROLLOUT_LATEST);
  return kv ? decodeRolloutLatest(kv) : null;
}

/** The rollout record of `commit` (default: the newest), whole, or null when there is none. */
export async function readRollout(store: Store, commit?: string): Promise<RolloutRecord | null> {
  const c = commit ?? (await latestRolloutCommit(store));
  if (!c) return null;
  return recordOf(c, (await store.range(rolloutPrefix(c), { pageSize: RECORD_PAGE })).kvs);
}

/** A record from the keys under its prefix (one range read). */
function recordOf(c: string, kvs: readonly KeyValue[]): RolloutRecord | null {
  const headKv = kvs.find((kv) => kv.key === rolloutHeadKey(c));
  if (!headKv) return null;
  const head = decodeRolloutHead(headKv);
  const groups: RolloutGroup[] = [];
  for (const idx of head.shards) {
    const key = rolloutShardKey(c, idx);
    const kv = kvs.find((x) => x.key === key);
    if (!kv) throw new MissingRecordError(key, `the rollout head of ${c} names it`);
    groups.push(...decodeRolloutShard(kv).groups);
  }
  groups.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
  const { counts: _counts, shards: _shards, ...rest } = head;
  return { ...rest, groups };
}

/** Whether `gitfleet rollout pause` is in force. */
export async function readRolloutControl(store: Store): Promise<RolloutControl> {
  const kv = await store.get(ROLLOUT_CONTROL);
  return kv ? decodeRolloutControl(kv) : { paused: false, at: '' };
}

/** The hash a machine is told to run under the record. */
export function toldHash(g: RolloutRecord['groups'][number], m: RolloutRecord['groups'][number]['machines'][number]) {
  return m.state === 'pending' || m.state === 'reverted' ? m.from : g.to;
}

/** The contract's JSON shape (times as ISO strings). */
export function rolloutJson(r: RolloutRecord): unknown {
  return {
    commit: r.commit,
    state: r.state,
    started: new Date(r.started).toISOString(),
    ended: r.ended === null ? null : new Date(r.ended).toISOString(),
    reason: r.reason,
    previous: r.previous,
    units: r.groups.map((g) => ({
      unit: g.unit,
      change: g.change,
      state: g.state,
      machines: g.machines.map((m) => ({ machine: m.machine, state: m.state, hash: toldHash(g, m), reason: m.reason })),
    })),
    counts: rolloutCounts(r),
  };
}

/** The latest record whole, with its stored JSON (so the engine writes only what changed). */
export async function readStoredRollout(
  store: Store,
): Promise<{ record: RolloutRecord | null; head: string | null; shards: Map<string, string> }> {
  const commit = await latestRolloutCommit(store);
  if (!commit) return { record: null, head: null, shards: new Map() };
  const res = await store.range(rolloutPrefix(commit), { pageSize: RECORD_PAGE });
  const headKv = res.kvs.find((kv) => kv.key === rolloutHeadKey(commit));
  if (!headKv) return { record: null, head: null, shards: new Map() };
  const shards = new Map<string, string>();
  const groupsPrefix = `${rolloutPrefix(commit)}groups/`;
  for (const kv of res.kvs)
    if (kv.key.startsWith(groupsPrefix)) shards.set(kv.key.slice(groupsPrefix.length), kv.value);
  return { record: recordOf(commit, res.kvs), head: headKv.value, shards };
}

/** Delete all but the newest ROLLOUTS_KEPT records (never `keep`), under the leader's fence. */
export async function pruneRollouts(store: Store, fence: Compare, keep: string): Promise<number> {
  const { kvs } = await store.range(ROLLOUTS_PREFIX, { keysOnly: true });
  const commits = [...new Set(kvs.map((kv) => kv.key.slice(ROLLOUTS_PREFIX.length).split('/')[0]!))];
  if (commits.length <= ROLLOUTS_KEPT) return 0;
  const started = new Map<string, number>();
  await Promise.all(
    commits.map(async (c) => {
      const kv = await store.get(rolloutHeadKey(c));
      started.set(c, kv ? decodeRolloutHead(kv).started : 0);
    }),
  );
  const old = commits
    .filter((c) => c !== keep)
    .sort((a, b) => started.get(b)! - started.get(a)!)
    .slice(ROLLOUTS_KEPT - 1);
  for (let i = 0; i < old.length; i += 100) {
    await store.txn(
      [fence],
      old.slice(i, i + 100).map((c) => ({ op: 'deletePrefix', prefix: rolloutPrefix(c) }) as Op),
    );
  }
  return old.length;
}

/** One line per unit: "web@.service  2/3 healthy, 1 updating". */
export function progressLine(g: RolloutRecord['groups'][number]): string {
  const c = rolloutCounts({ groups: [g] });
  const parts = [`${c.healthy}/${g.machines.length} healthy`];
  if (c.updating) parts.push(`${c.updating} updating`);
  if (c.pending) parts.push(`${c.pending} pending`);
  const failed = g.machines.filter((m) => m.state === 'failed' || m.state === 'reverted');
  if (failed.length) parts.push(`${failed.length} ${g.state === 'reverted' ? 'reverted' : 'failed'}`);
  const why = failed.length ? ` (${failed.map((m) => `${m.reason ?? m.state} on ${m.machine}`).join('; ')})` : '';
  return `${g.unit} ${g.change}: ${parts.join(', ')}${why}`;
}
