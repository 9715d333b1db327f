import { sha256 } from '../util/hash.js';

/** shardOf's answers: a pass asks for the same names again and again (a rollout record's groups). */
const known = new Map<string, string>();
const KNOWN_MAX = 200_000;

/** Shard index for a unit name: first byte of sha256(name), as two hex digits. */
export function shardOf(name: string): string {
  let idx = known.get(name);
  if (idx === undefined) {
    idx = sha256(name).slice(0, 2);
    if (known.size >= KNOWN_MAX) known.clear();
    known.set(name, idx);
  }
  return idx;
}
