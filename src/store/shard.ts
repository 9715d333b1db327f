import { sha256 } from '../util/hash.js';

/** Shard index for a unit name: first byte of sha256(name), as two hex digits. */
export function shardOf(name: string): string {
  return sha256(name).slice(0, 2);
}
