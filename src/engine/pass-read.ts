/**
 * What a pass reads before it plans: the view (src/engine/view.ts) read whole once a term, after a
 * watch failed and when the safety-net resync is due; only what the engine writes after a write
 * whose outcome is unknown; otherwise nothing, since the watches and the engine's own writes keep
 * it. The desired root and the rollout control key are the view's (their watch events trigger
 * passes), so the only read left is the shards of the root not yet cached, a few at a time.
 */
import type { DesiredEntry, DesiredRoot } from '../store/keys.js';
import { readRootUnits } from '../store/readers.js';
import { decodeDesiredRoot, decodeRolloutControl } from '../store/records.js';
import type { Store, WatchEvent } from '../store/store.js';
import { mapLimit } from '../util/pool.js';
import type { EngineView } from './view.js';

/** Shards per read of the root's units (each read's shards are cached when it returns), and reads at once. */
const SHARDS_PER_READ = 8;
const READS_AT_ONCE = 2;

export interface PassRead {
  /** The view was read whole by this pass (not only followed). */
  fresh: boolean;
  root: DesiredRoot;
  /** The root's mod revision. */
  rootRevision: number;
  units: DesiredEntry[];
  paused: boolean;
}

export async function readPass(opts: {
  store: Store;
  view: EngineView;
  /** Shard hash -> its units. Shards are content-addressed, so an entry never goes stale. */
  shardCache: Map<string, DesiredEntry[]>;
  /** Safety-net resync period (ms; 0: never). */
  resyncMs: number;
  /** Mod revision of the root the last pass planned (0: none). */
  plannedRoot: number;
  handlers: { onEvents: (events: WatchEvent[]) => void; onError: (err: Error) => void };
}): Promise<PassRead | null> {
  const { store, view, handlers: h } = opts;
  let fresh = false;
  // The safety-net resync waits while a new root is to be planned: at 100,000 units reading the
  // view whole takes seconds (and failed, again and again, while the controller was busy), and a
  // one-unit change waited behind it.
  const rootChanged = (view.rootKv?.modRevision ?? 0) !== opts.plannedRoot;
  const stale = opts.resyncMs > 0 && !rootChanged && performance.now() - view.loadedAt > opts.resyncMs;
  if (view.loadedAt === 0 || stale) {
    await view.load(store, h.onEvents, h.onError);
    fresh = true;
  } else if (view.ownStale) await view.reloadOwn(store, h.onEvents, h.onError);
  // No desired state was ever applied: the caller schedules nothing and removes nothing.
  const rootKv = view.rootKv;
  if (!rootKv) return null;
  const root = decodeDesiredRoot(rootKv);
  const paused = view.controlKv ? decodeRolloutControl(view.controlKv).paused : false;
  // The controller writes shards before the root; a missing one was collected after a newer
  // commit replaced this root: the pass stalls (MissingRecordError) and the newer root's watch
  // event runs the next one.
  const cache = opts.shardCache;
  const missing = Object.entries(root.shards).filter(([, hash]) => !cache.has(hash));
  // A few at a time, each cached as it arrives: at 100,000 units a root has 256 shards, tens of MB
  // in all; asked for at once, the last outran the store's deadline (1.5 s a call) while etcd sent
  // the first, and since one failure failed them all, every retry asked for all of them again.
  const chunks: Array<Record<string, string>> = [];
  for (let i = 0; i < missing.length; i += SHARDS_PER_READ)
    chunks.push(Object.fromEntries(missing.slice(i, i + SHARDS_PER_READ)));
  await mapLimit(chunks, READS_AT_ONCE, (shards) => readRootUnits(store, { ...root, shards }, cache));
  const units = await readRootUnits(store, root, cache);
  const wanted = new Set(Object.values(root.shards));
  for (const hash of opts.shardCache.keys()) if (!wanted.has(hash)) opts.shardCache.delete(hash);
  return { fresh, root, rootRevision: rootKv.modRevision, units, paused };
}
