/**
 * The one interface gitfleet needs from its store: etcd for clusters, an in-memory store for one
 * machine. Both implementations pass the same contract tests (test/store/contract.ts).
 *
 * Keys given to a Store are relative to its namespace (the --prefix, e.g. "/gitfleet/"); only
 * src/store/keys.ts builds key strings.
 */
import { FatalError, TransientError } from '../errors.js';

export interface RangeOptions {
  /** Keys (and revisions) without their values. */
  keysOnly?: boolean;
  /**
   * At most this many keys per request, for a prefix of large values (a 100,000-unit rollout
   * record's shards are ~100 KiB each): pages that each arrive well within a call's deadline.
   * The pages are still one consistent snapshot. Stores that do not page ignore it.
   */
  pageSize?: number;
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id ('0' when the key has no lease). */
  lease: string;
}

export type CompareOp = '==' | '!=' | '<' | '>';

export type Compare =
  | { key: string; target: 'modRevision' | 'createRevision' | 'version'; op: CompareOp; value: number }
  | { key: string; target: 'value'; op: '==' | '!='; value: string }
  | { key: string; target: 'lease'; op: '==' | '!='; value: string };

export type Op =
  | { op: 'put'; key: string; value: string; lease?: string }
  | { op: 'delete'; key: string }
  | { op: 'deletePrefix'; prefix: string };

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (the header revision). */
  revision: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision the range was read at: watch from revision + 1 to miss nothing. */
  revision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For 'delete': key and modRevision (of the deletion) are set, value is ''. */
  kv: KeyValue;
}

export interface WatchHandler {
  /** Events of one revision batch, in revision order. Exceptions thrown here are caught and logged. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch could not continue (e.g. its start revision was compacted). The watch is closed;
   * the caller re-reads with range() and watches again (level-triggered recovery).
   */
  onError?(err: Error): void;
}

export interface Watch {
  close(): Promise<void>;
}

export interface Lease {
  id: string;
  ttlSeconds: number;
  /** Revoke the lease now: every key bound to it disappears at once. */
  revoke(): Promise<void>;
  /** Stop keep-alives without revoking: the keys disappear when the TTL runs out. */
  release(): void;
}

export interface LeaseOptions {
  /** Called once when the store says the lease is gone (expired or revoked elsewhere). */
  onLost?(err: Error): void;
}

/** Counters of what a client sent: the benchmarks' "etcd writes" figures. */
export interface StoreStats {
  puts: number;
  deletes: number;
  txns: number;
  ranges: number;
}

export interface Store {
  get(key: string): Promise<KeyValue | null>;
  /**
   * Several keys at once, in as few round trips as the store allows (etcd: read-only transactions
   * of up to GET_MANY_BATCH ranges, a few at once); the answers in the order of `keys`, null
   * where a key is absent. Each batch is one consistent read; batches may be of different revisions.
   */
  getMany(keys: readonly string[]): Promise<Array<KeyValue | null>>;
  /** Every key that starts with `prefix`, in key order. Implementations page large ranges. */
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  put(key: string, value: string, opts?: { lease?: string }): Promise<number>;
  delete(key: string): Promise<number>;
  /** All compares true -> `success` ops, else `failure` ops; atomic. At most 128 ops per branch. */
  txn(compares: Compare[], success: Op[], failure?: Op[]): Promise<TxnResult>;
  grantLease(ttlSeconds: number, opts?: LeaseOptions): Promise<Lease>;
  /** Watch every key under `prefix` starting at `fromRevision` (inclusive; default: now). */
  watch(prefix: string, fromRevision: number | undefined, handler: WatchHandler): Promise<Watch>;
  stats(): StoreStats;
  close(): Promise<void>;
}

/** The store could not be reached or did not answer in time: retry later, state is unchanged or unknown. */
export class StoreUnavailableError extends TransientError {
  override name = 'StoreUnavailableError';
}

/**
 * etcd refused who we are or what we may touch (authentication failed, an invalid auth token,
 * permission denied under the prefix). Fatal: retrying with the same credentials cannot help;
 * the process says so and exits.
 */
export class StoreAccessError extends FatalError {
  override name = 'StoreAccessError';
}

/**
 * A request the store will never accept as it stands (too large, too many operations in one
 * transaction, a key twice in one transaction). Fatal: sending it again gets the same answer.
 */
export class StoreRequestError extends FatalError {
  override name = 'StoreRequestError';
}

/** The store was closed by its owner: nothing more can be done with this client. Fatal. */
export class StoreClosedError extends FatalError {
  override name = 'StoreClosedError';
  constructor(what: string) {
    super(`${what}: the store is closed`);
  }
}

/** The max ops per transaction both stores enforce (etcd's default --max-txn-ops). */
export const MAX_TXN_OPS = 128;

/**
 * Keys per read-only transaction of getMany: within MAX_TXN_OPS, and small enough that the answer
 * of a batch of the largest values (1 MiB unit bodies) stays within the client's receive limit.
 */
export const GET_MANY_BATCH = 32;

/** etcd's default --max-request-bytes: the largest put or transaction it accepts. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
