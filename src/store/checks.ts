/**
 * Checks both stores make before doing anything, so they refuse the same requests with the same
 * words (and the memory store never loads etcd's client).
 */
import { createLogger } from '../log.js';
import { MAX_TXN_OPS, StoreRequestError, type Compare, type Op } from './store.js';

export const DEFAULT_PREFIX = '/gitfleet/';

/** Ensure a namespace prefix ends with '/': etcd3 namespaces are plain concatenation. */
export function normalizePrefix(prefix: string): string {
  if (prefix === '') throw new Error('store prefix must not be empty (the default is "/gitfleet/")');
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** Refuse what etcd (default --max-txn-ops) would refuse, before sending anything. */
export function checkTxnSize(compares: Compare[], success: Op[], failure: Op[]): void {
  for (const [name, n] of [
    ['compares', compares.length],
    ['success ops', success.length],
    ['failure ops', failure.length],
  ] as const) {
    if (n > MAX_TXN_OPS) {
      throw new StoreRequestError(
        `txn has ${n} ${name}; a transaction takes at most ${MAX_TXN_OPS} (etcd's --max-txn-ops): split the write ` +
          `into several transactions`,
      );
    }
  }
}

/** etcd's leases last whole seconds, at least one. */
export function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new Error(`lease TTL must be a whole number of seconds, at least 1 (got ${ttlSeconds})`);
  }
}

/** Where a store reports what it caught (handler exceptions): the project logger, at warn. */
export function defaultLog(): (message: string) => void {
  const log = createLogger('store');
  return (m) => log.warn(m);
}
