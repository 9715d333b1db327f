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
  DESIRED_GLOBALS,
  DESIRED_ROOT,
  SHARDS_PREFIX,
  bodyKey,
  shardKey,
  type ControllerStatus,
  type DesiredEntry,
  type DesiredGlobals,
  type DesiredRoot,
} from '../store/keys.js';
import { layoutDesired, rootOf, sameContent } from '../store/layout.js';
import { readDesiredEntries, readRoot, readSchedule, readStatusRecord } from '../store/readers.js';
import { readRollout } from '../store/rollouts.js';
import { decodeDesiredGlobals, MalformedRecordError, MissingRecordError } from '../store/records.js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, type Compare, type Op, type Store } from '../store/store.js';
import { mapLimit } from '../util/pool.js';

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
  shardCache?: Map<string, DesiredEntry[]>;
  /**
   * Most bytes of keys and values per write transaction (default: two thirds of etcd's
   * --max-request-bytes), so that a commit of many large unit files is written in several.
   */
  requestBytes?: number;
  /**
   * The root this controller last wrote and its mod revision, kept across passes: the next apply
   * writes guarded on it without reading it first. Updated by every apply; when another writer
   * moved the root meanwhile the guard fails, and the apply reads it and decides again.
   */
  known?: KnownRoot;
}

/** See ApplyOptions.known. */
export interface KnownRoot {
  root: DesiredRoot | null;
  modRevision: number;
  /** DESIRED_GLOBALS as this controller last wrote or read it, when known. */
  globals?: StoredGlobals;
}

/** The Global units DESIRED_GLOBALS holds (JSON of the list; null: no key) and its mod revision (0: none). */
interface StoredGlobals {
  json: string | null;
  modRevision: number;
}

async function readGlobals(store: Store): Promise<StoredGlobals> {
  const kv = await store.get(DESIRED_GLOBALS);
  if (!kv) return { json: null, modRevision: 0 };
  try {
    return { json: JSON.stringify(decodeDesiredGlobals(kv).global), modRevision: kv.modRevision };
  } catch (e) {
    // Written anew with the next flip.
    if (e instanceof MalformedRecordError) return { json: null, modRevision: kv.modRevision };
    throw e;
  }
}

export type ApplyOutcome =
  | { result: 'applied'; commit: string; writes: number; previous: string | null }
  | { result: 'unchanged'; commit: string }
  | { result: 'superseded'; commit: string; applied: string; reason: string };

const BODY_PREFIX_LEN = BODIES_PREFIX.length;
const SHARD_PREFIX_LEN = SHARDS_PREFIX.length;
const DEFAULT_REQUEST_BYTES = Math.floor((MAX_REQUEST_BYTES * 2) / 3);

/** Write transactions in flight at once: a big commit's content is written side by side. */
const WRITE_LANES = 4;

/** `ops` cut into transactions of at most MAX_TXN_OPS operations and about `maxBytes` bytes each. */
function batches(ops: Op[], maxBytes = DEFAULT_REQUEST_BYTES): Op[][] {
  const out: Op[][] = [];
  let batch: Op[] = [];
  let bytes = 0;
  for (const o of ops) {
    const size = opBytes(o);
    if (batch.length > 0 && (batch.length === MAX_TXN_OPS || bytes + size > maxBytes)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(o);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

function opBytes(o: Op): number {
  return (
    Buffer.byteLength(o.op === 'deletePrefix' ? o.prefix : o.key) + (o.op === 'put' ? Buffer.byteLength(o.value) : 0)
  );
}

/** Write `ops` in transactions (see batches()), a few at once: nothing depends on their order. */
async function writeBatched(store: Store, ops: Op[], maxBytes?: number): Promise<void> {
  await mapLimit(batches(ops, maxBytes), WRITE_LANES, (b) => store.txn([], b));
}

/**
 * The units of the root in force, to know what the store already holds. A shard of it that is
 * missing or malformed is reported and treated as absent: this commit writes what it needs anew.
 */
async function readCurrentEntries(
  store: Store,
  current: DesiredRoot,
  cache: Map<string, DesiredEntry[]>,
): Promise<{ entries: DesiredEntry[]; intact: boolean }> {
  try {
    return { entries: await readDesiredEntries(store, current, cache), intact: true };
  } catch (e) {
    if (e instanceof MissingRecordError || e instanceof MalformedRecordError) return { entries: [], intact: false };
    throw e;
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
    const at = now().toISOString();
    const next = rootOf(desired.commit, at, layout);
    // The root the last apply wrote stands in for a read on the first try, only to write: a
    // decision not to write (nothing changed, or not a descendant) is made on what the store holds.
    const known = attempt === 0 && opts.known?.modRevision ? opts.known : null;
    const hint = known && !(known.root && sameContent(known.root, next)) ? known : null;
    const knownGlobals = hint ? opts.known?.globals : undefined;
    const [{ root: current, modRevision }, storedGlobals] = await Promise.all([
      hint ?? readRoot(store),
      knownGlobals ?? readGlobals(store),
    ]);
    if (current && sameContent(current, next)) {
      // Same commit, same content: nothing to write (a refusal of a later commit stays recorded).
      return { result: 'unchanged', commit: desired.commit };
    }
    if (current && current.commit !== desired.commit && opts.mayReplace) {
      if (!(await opts.mayReplace(current.commit, desired.commit))) {
        if (hint) continue; // read the store before refusing
        return {
          result: 'superseded',
          commit: desired.commit,
          applied: current.commit,
          reason: `${desired.commit} does not descend from the applied commit ${current.commit}`,
        };
      }
    }

    // 1. What the store lacks: shards not in the current root, bodies not referenced by it.
    const cache = opts.shardCache ?? new Map<string, DesiredEntry[]>();
    const { entries: currentEntries, intact } = current
      ? await readCurrentEntries(store, current, cache)
      : { entries: [], intact: true };
    const haveShards = new Set(current && intact ? Object.values(current.shards) : []);
    const haveBodies = new Set(currentEntries.map((e) => e.hash));
    const ops: Op[] = [];
    for (const [hash, text] of layout.bodies)
      if (!haveBodies.has(hash)) ops.push({ op: 'put', key: bodyKey(hash), value: text });
    for (const s of layout.shards.values())
      if (!haveShards.has(s.hash)) ops.push({ op: 'put', key: shardKey(s.hash), value: s.json });
    // 2. The flip: one transaction, guarded on the root we read; with the new content in it when
    // it all fits in one (a commit that changes a few units: one write, not two).
    const guard: Compare = { key: DESIRED_ROOT, target: 'modRevision', op: '==', value: modRevision };
    // And on the Global units' key as it was read: another controller's flip between the two reads
    // would otherwise leave its Global units beside this root.
    const globalsGuard: Compare = {
      key: DESIRED_GLOBALS,
      target: 'modRevision',
      op: '==',
      value: storedGlobals.modRevision,
    };
    // A refusal described the branch's head; a newer commit now applies, so it is history.
    const newStatus: ControllerStatus = { applied: { commit: desired.commit, at }, refused: null };
    const flipOps: Op[] = [
      { op: 'put', key: DESIRED_ROOT, value: JSON.stringify(next) },
      { op: 'put', key: CONTROLLER_STATUS, value: JSON.stringify(newStatus) },
    ];
    // The Global units' own key, only when they change (the agents follow it, not the root).
    const globalsJson = JSON.stringify(next.global);
    const writeGlobals = globalsJson !== storedGlobals.json;
    if (writeGlobals) {
      const value: DesiredGlobals = { commit: desired.commit, global: next.global };
      flipOps.push({ op: 'put', key: DESIRED_GLOBALS, value: JSON.stringify(value) });
    }
    const together =
      ops.length + flipOps.length <= MAX_TXN_OPS && batches([...ops, ...flipOps], opts.requestBytes).length === 1;
    if (!together) await writeBatched(store, ops, opts.requestBytes);
    const flip = await store.txn([guard, globalsGuard], together ? [...ops, ...flipOps] : flipOps);
    if (!flip.succeeded) {
      if (opts.known) {
        opts.known.modRevision = 0;
        opts.known.globals = undefined;
      }
      if (attempt >= 5)
        throw new Error('desired state changed under the controller five times in a row; giving up this pass');
      continue; // another controller applied meanwhile: re-read and decide again
    }
    if (opts.known) {
      opts.known.root = next;
      opts.known.modRevision = flip.revision;
      opts.known.globals = {
        json: globalsJson,
        modRevision: writeGlobals ? flip.revision : storedGlobals.modRevision,
      };
    }

    // 3. Garbage: keep what the new and the previous root reference.
    const removed = await collectGarbage(
      store,
      next,
      current ? Object.values(current.shards) : [],
      haveBodies,
      layout.bodies,
    );
    for (const s of layout.shards.values()) cache.set(s.hash, s.units);
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
  const bodyCandidates = bodyKeys.kvs.filter((kv) => !keepBodies.has(kv.key.slice(BODY_PREFIX_LEN)));
  if (bodyCandidates.length > 0) {
    // Content a machine is still told to run (a staged or reverted rollout holds older content
    // back) stays: never collect what a schedule entry or the rollout record names.
    for (const h of await hashesStillNamed(store)) keepBodies.add(h);
    for (const kv of bodyCandidates)
      if (!keepBodies.has(kv.key.slice(BODY_PREFIX_LEN))) ops.push({ op: 'delete', key: kv.key });
  }
  await writeBatched(store, ops);
  return ops.length;
}

/** Body hashes the schedule or the latest rollout record names. */
async function hashesStillNamed(store: Store): Promise<Set<string>> {
  const out = new Set<string>();
  const [sched, rollout] = await Promise.all([readSchedule(store, () => {}), readRollout(store).catch(() => null)]);
  for (const byMachine of sched.byUnit.values()) for (const e of byMachine.values()) if (e) out.add(e.hash);
  for (const g of rollout?.groups ?? []) {
    if (g.from) out.add(g.from);
    if (g.to) out.add(g.to);
    for (const m of g.machines) if (m.from) out.add(m.from);
  }
  return out;
}

/**
 * The branch head is the applied commit again (e.g. reset back to it): a refusal on record no
 * longer describes the branch. Writes only when there is one to clear.
 */
export async function clearRefusal(store: Store): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { status, modRevision } = await readStatusRecord(store);
    if (modRevision === null || !status.refused) return false;
    const r = await store.txn(
      [{ key: CONTROLLER_STATUS, target: 'modRevision', op: '==', value: modRevision }],
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
    const { status, modRevision } = await readStatusRecord(store);
    if (status.refused && status.refused.commit === commit && status.refused.reason === reason) return false;
    const next: ControllerStatus = {
      applied: status.applied,
      refused: { commit, at: now().toISOString(), reason, diagnostics },
    };
    const guard: Compare =
      modRevision !== null
        ? { key: CONTROLLER_STATUS, target: 'modRevision', op: '==', value: modRevision }
        : { key: CONTROLLER_STATUS, target: 'createRevision', op: '==', value: 0 };
    const r = await store.txn([guard], [{ op: 'put', key: CONTROLLER_STATUS, value: JSON.stringify(next) }]);
    if (r.succeeded) return true;
  }
  throw new Error('controller status changed under the controller five times in a row');
}
