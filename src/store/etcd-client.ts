/**
 * How the etcd3 client under EtcdStore is set up, each setting answering a pitfall of etcd3 or grpc:
 * a deadline on every unary call and none on streams (etcd3 #137), grpc keepalive pings so a
 * half-open TCP connection is noticed, a receive limit above grpc's 4 MiB, fault handling of our
 * own (etcd-faults.ts), and TLS and password authentication checked for consistency before any
 * connection is tried.
 */
import type { IOptions } from 'etcd3';
import { backoffStrategy } from '../util/backoff.js';
import { WATCH_BACKOFF, hostBreaker, passThrough, retryOnOtherHosts } from './etcd-faults.js';

export interface EtcdStoreOptions {
  /** Client URLs, http:// or https:// (not mixed). */
  endpoints: string[];
  /** Namespace every key lives under; '/' is appended when missing. Default '/gitfleet/'. */
  prefix?: string;
  /** PEM contents (openStore reads the files). ca verifies the server; cert + key authenticate this client. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** etcd user/password authentication (both or neither). */
  user?: string;
  password?: string;
  /** Deadline of each unary call (get, range page, put, delete, txn, lease grant/revoke). Default 1500 ms. */
  callTimeoutMs?: number;
  /** How long watch() waits for etcd to accept a new watch. Default 3000 ms. */
  watchCreateTimeoutMs?: number;
  /** Keys per range page. Default 1000 (halved automatically when a page exceeds the receive limit). */
  pageSize?: number;
  /** Where handler exceptions and other non-fatal problems are reported. Default: the project logger (warn). */
  log?: (message: string) => void;
}

/** A page of 1,000 unit bodies easily passes grpc's default 4 MiB; paging keeps pages bounded. */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/** etcd3's options for `opts`, with unary calls given `timeout` ms; throws on inconsistent options. */
export function etcdClientOptions(opts: EtcdStoreOptions, timeout: number): IOptions {
  const options: IOptions = {
    hosts: opts.endpoints,
    // Streams (watch, lease keep-alive) must get no deadline or they die when it passes (etcd3 #137).
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    dialTimeout: timeout,
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      // Only while a call or stream is open: etcd's server refuses pings on a connection with no
      // stream (its enforcement policy does not permit them) and, after two, closes it with
      // "too many pings"; a connection with nothing open has nothing to lose when it half-opens.
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
    },
    faultHandling: {
      global: retryOnOtherHosts(opts.endpoints.length) as unknown as NonNullable<IOptions['faultHandling']>['global'],
      // Only where there is another member to turn to: with one endpoint, skipping it would turn a
      // slow etcd into an outage of every call this process makes (hundreds of agents retrying at
      // once when it opened), for no gain.
      host: ((h: string) => (opts.endpoints.length > 1 ? hostBreaker(h) : passThrough)) as unknown as NonNullable<
        IOptions['faultHandling']
      >['host'],
      watchBackoff: backoffStrategy(WATCH_BACKOFF) as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'],
    },
  };
  if ((opts.cert === undefined) !== (opts.key === undefined)) {
    throw new Error('etcd store: a client certificate and its key go together (give both or neither)');
  }
  if (opts.ca || opts.cert) {
    if (!opts.endpoints.every((u) => u.startsWith('https://'))) {
      throw new Error(
        `etcd store: TLS certificates were given but not every endpoint is https:// (${opts.endpoints.join(',')})`,
      );
    }
    options.credentials = {
      // grpc accepts null for "the system's roots"; etcd3's type says Buffer.
      rootCertificate: (opts.ca ?? null) as Buffer,
      ...(opts.cert ? { certChain: opts.cert } : {}),
      ...(opts.key ? { privateKey: opts.key } : {}),
    };
  }
  if (opts.user !== undefined) {
    if (opts.password === undefined) throw new Error(`etcd store: user "${opts.user}" given without a password`);
    options.auth = { username: opts.user, password: opts.password };
  }
  return options;
}
