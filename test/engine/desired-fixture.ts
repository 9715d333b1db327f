/**
 * A minimal desired state in a store, for the engine's tests: one shard per unit-name shard index
 * (src/store/shard.ts), each unit a plain placeable service, and the root naming the shards.
 */
import { DESIRED_ROOT, shardKey, shardOf, type DesiredEntry, type DesiredRoot } from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';

export async function writeDesired(store: Store, commit: string, names: string[]): Promise<void> {
  const shards = new Map<string, DesiredEntry[]>();
  for (const name of names.sort()) {
    const e: DesiredEntry = {
      name,
      hash: `h-${name}`,
      state: 'launched',
      constraints: { machineMetadata: {}, machineOf: [], conflicts: [], global: false, replaces: [] },
    };
    (shards.get(shardOf(name)) ?? shards.set(shardOf(name), []).get(shardOf(name))!).push(e);
  }
  const root: DesiredRoot = { commit, at: new Date().toISOString(), shards: {}, global: [], count: names.length };
  for (const [idx, units] of shards) {
    const hash = `${commit}-${idx}`;
    await store.put(shardKey(hash), JSON.stringify({ units }));
    root.shards[idx] = hash;
  }
  await store.put(DESIRED_ROOT, JSON.stringify(root));
}
