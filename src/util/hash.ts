import { createHash } from 'node:crypto';

/** sha256 of a string (UTF-8) or bytes, as lowercase hex: unit content hashes, shard hashes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
