/**
 * Writes one commit's desired state to the store so that every observer sees all of it or none
 * of it, whatever its size:
 *   1. unit bodies and shards that the store lacks (content-addressed, invisible until referenced),
 *      in transactions of at most MAX_TXN_OPS operations;
 *   2. one transaction that flips DESIRED_ROOT and the controller status, guarded on the root's
 *      mod revision (two controllers cannot interleave);
 *   3. garbage: bodies and shards referenced by neither the new root nor the one it replaced.
 * Applying the same commit again writes nothing.
 */
import type { Diagnostic } from '../diag.js';
import type { DesiredState } from '../desired/types.js';
import {
  BODIES_PREFIX,
  CONTROLLER_STATUS,
  DESIRED_ROOT,
  SHARDS_PREFIX,
  bodyKey,
  shardKey,
  shardOf,
  type ControllerStatus,
  type DesiredRoot,
  type DesiredShard,
} from '../store/keys.js';
import { MAX_TXN_OPS, type Compare, type Op, type Store } from '../store/store.js';
import { layoutDesired, rootOf, sameContent } from './layout.js';

export interface ApplyOptions {
  /** Clock, for tests. */
  now?: () => Date;
  /**
   * Called when the store already holds another commit: may `candidate` replace `applied`?
   * The controller answers with git ancestry (no force-push unless allowed).
   */
  mayReplace?: (applied: string, candidate: string) => Promise<boolean>;
  /**
   * Shards by hash, kept across passes by a long-running controller: shards are immutable, so the
   * ones it wrote (or read) last time need no reading again. Pruned to the two roots in use.
   */
  shardCache?: Map<string, DesiredShard['units']>;
}

export type ApplyOutcome =
  | { result: 'applied'; commit: string; writes: number; previous: string | null }
  | { result: 'unchanged'; commit: string }
  | { result: 'superseded'; commit: string; applied: string; reason: string };

const BODY_PREFIX_LEN = BODIES_PREFIX.length;
const SHARD_PREFIX_LEN = SHARDS_PREFIX.length;

export async function readRoot(store: Store): Promise<{ root: DesiredRoot | null; modRevision: number }> {
  const kv = await store.get(DESIRED_ROOT);
  if (!kv) return { root: null, modRevision: 0 };
  return { root: JSON.parse(kv.value) as DesiredRoot, modRevision: kv.modRevision };
}

export async function readStatus(store: Store): Promise<ControllerStatus> {
  const kv = await store.get(CONTROLLER_STATUS);
  return kv ? (JSON.parse(kv.value) as ControllerStatus) : { applied: null, refused: null };
}

/** Read every unit of a root (shards fetched by key; they are immutable, so `cache` never goes stale). */
export async function readDesiredEntries(
  store: Store,
  root: DesiredRoot,
  cache?: Map<string, DesiredShard['units']>,
): Promise<DesiredShard['units']> {
  const out: DesiredShard['units'] = [];
  await Promise.all(
    Object.values(root.shards).map(async (h) => {
      let units = cache?.get(h);
      if (!units) {
        const kv = await store.get(shardKey(h));
        if (!kv) return;
        units = (JSON.parse(kv.value) as DesiredShard).units;
        cache?.set(h, units);
      }
      out.push(...units);
    }),
  );
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Read one unit's entry: only its shard is fetched. */
export async function readDesiredEntry(
  store: Store,
  root: DesiredRoot,
  name: string,
): Promise<DesiredShard['units'][number] | null> {
  const h = root.shards[shardOf(name)];
  if (!h) return null;
  const kv = await store.get(shardKey(h));
  return kv ? ((JSON.parse(kv.value) as DesiredShard).units.find((u) => u.name === name) ?? null) : null;
}

async function writeBatched(store: Store, ops: Op[]): Promise<void> {
  for (let i = 0; i < ops.length; i += MAX_TXN_OPS) {
    await store.txn([], ops.slice(i, i + MAX_TXN_OPS));
  }
}

export async function applyDesired(
  store: Store,
  desired: DesiredState,
  opts: ApplyOptions = {},
): Promise<ApplyOutcome> {
  const now = opts.now ?? (() => new Date());
  const layout = layoutDesired(desired);
  for (let attempt = 0; ; attempt++) {
    const { root: current, modRevision } = await readRoot(store);
    const at = now().toISOString();
    const next = rootOf(desired.commit, at, layout);
    if (current && sameContent(current, next)) {
      // Same commit, same content: nothing to write (a refusal of a later commit stays recorded).
      return { result: 'unchanged', commit: desired.commit };
    }
    if (current && current.commit !== desired.commit && opts.mayReplace) {
      if (!(await opts.mayReplace(current.commit, desired.commit))) {
        return {
          result: 'superseded',
          commit: desired.commit,
          applied: current.commit,
          reason: `${desired.commit} does not descend from the applied commit ${current.commit}`,
        };
      }
    }

    // 1. What the store lacks: shards not in the current root, bodies not referenced by it.
    const haveShards = new Set(current ? Object.values(current.shards) : []);
    const cache = opts.shardCache ?? new Map<string, DesiredShard['units']>();
    const currentEntries = current ? await readDesiredEntries(store, current, cache) : [];
    const haveBodies = new Set(currentEntries.map((e) => e.hash));
    const ops: Op[] = [];
    for (const [hash, text] of layout.bodies)
      if (!haveBodies.has(hash)) ops.push({ op: 'put', key: bodyKey(hash), value: text });
    for (const s of layout.shards.values())
      if (!haveShards.has(s.hash)) ops.push({ op: 'put', key: shardKey(s.hash), value: s.json });
    await writeBatched(store, ops);

    // 2. The flip: one transaction, guarded on the root we read.
    const guard: Compare = { key: DESIRED_ROOT, target: 'modRevision', op: '==', value: modRevision };
    // A refusal described the branch's head; a newer commit now applies, so it is history.
    const newStatus: ControllerStatus = { applied: { commit: desired.commit, at }, refused: null };
    const flip = await store.txn(
      [guard],
      [
        { op: 'put', key: DESIRED_ROOT, value: JSON.stringify(next) },
        { op: 'put', key: CONTROLLER_STATUS, value: JSON.stringify(newStatus) },
      ],
    );
    if (!flip.succeeded) {
      if (attempt >= 5)
        throw new Error('desired state changed under the controller five times in a row; giving up this pass');
      continue; // another controller applied meanwhile: re-read and decide again
    }

    // 3. Garbage: keep what the new and the previous root reference.
    const removed = await collectGarbage(
      store,
      next,
      current ? Object.values(current.shards) : [],
      haveBodies,
      layout.bodies,
    );
    for (const s of layout.shards.values()) cache.set(s.hash, JSON.parse(s.json).units);
    const inUse = new Set([...Object.values(next.shards), ...haveShards]);
    for (const h of cache.keys()) if (!inUse.has(h)) cache.delete(h);
    return {
      result: 'applied',
      commit: desired.commit,
      writes: ops.length + 2 + removed,
      previous: current?.commit ?? null,
    };
  }
}

async function collectGarbage(
  store: Store,
  next: DesiredRoot,
  previousShards: string[],
  previousBodies: Set<string>,
  nextBodies: Map<string, string>,
): Promise<number> {
  const keepShards = new Set([...Object.values(next.shards), ...previousShards]);
  const keepBodies = new Set([...nextBodies.keys(), ...previousBodies]);
  const ops: Op[] = [];
  const [shardKeys, bodyKeys] = await Promise.all([
    store.range(SHARDS_PREFIX, { keysOnly: true }),
    store.range(BODIES_PREFIX, { keysOnly: true }),
  ]);
  for (const kv of shardKeys.kvs)
    if (!keepShards.has(kv.key.slice(SHARD_PREFIX_LEN))) ops.push({ op: 'delete', key: kv.key });
  for (const kv of bodyKeys.kvs)
    if (!keepBodies.has(kv.key.slice(BODY_PREFIX_LEN))) ops.push({ op: 'delete', key: kv.key });
  await writeBatched(store, ops);
  return ops.length;
}

/**
 * The branch head is the applied commit again (e.g. reset back to it): a refusal on record no
 * longer describes the branch. Writes only when there is one to clear.
 */
export async function clearRefusal(store: Store): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const kv = await store.get(CONTROLLER_STATUS);
    if (!kv) return false;
    const status = JSON.parse(kv.value) as ControllerStatus;
    if (!status.refused) return false;
    const r = await store.txn(
      [{ key: CONTROLLER_STATUS, target: 'modRevision', op: '==', value: kv.modRevision }],
      [{ op: 'put', key: CONTROLLER_STATUS, value: JSON.stringify({ applied: status.applied, refused: null }) }],
    );
    if (r.succeeded) return true;
  }
  throw new Error('controller status changed under the controller five times in a row');
}

/**
 * Record that a commit was refused (lint errors, invalid fleet.yaml, empty, force-push). Changes
 * nothing else; refusing the same commit again for the same reason writes nothing.
 */
export async function recordRefusal(
  store: Store,
  commit: string,
  reason: string,
  diagnostics: Diagnostic[],
  now: () => Date = () => new Date(),
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const kv = await store.get(CONTROLLER_STATUS);
    const status: ControllerStatus = kv ? JSON.parse(kv.value) : { applied: null, refused: null };
    if (status.refused && status.refused.commit === commit && status.refused.reason === reason) return false;
    const next: ControllerStatus = {
      applied: status.applied,
      refused: { commit, at: now().toISOString(), reason, diagnostics },
    };
    const guard: Compare = kv
      ? { key: CONTROLLER_STATUS, target: 'modRevision', op: '==', value: kv.modRevision }
      : { key: CONTROLLER_STATUS, target: 'createRevision', op: '==', value: 0 };
    const r = await store.txn([guard], [{ op: 'put', key: CONTROLLER_STATUS, value: JSON.stringify(next) }]);
    if (r.succeeded) return true;
  }
  throw new Error('controller status changed under the controller five times in a row');
}
