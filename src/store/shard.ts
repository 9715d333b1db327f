import { createHash } from 'node:crypto';

/** Shard index for a unit name: first byte of sha256(name), as two hex digits. */
export function shardOf(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 2);
}
