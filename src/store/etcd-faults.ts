/**
 * How EtcdStore meets etcd's faults: the fault-handling policies it gives etcd3, and the
 * classification of every etcd3/grpc error into gitfleet's kinds (src/errors.ts), so that the
 * loops above retry by kind: StoreUnavailableError (transient) when retrying later may help,
 * StoreAccessError, StoreRequestError or StoreClosedError (fatal) when it cannot.
 */
import { grpcMessage } from './grpcmessage.js';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';
import { GitfleetError } from '../errors.js';
import { StoreAccessError, StoreClosedError, StoreRequestError, StoreUnavailableError } from './store.js';

/** A host that timed out this many times in a row is skipped for BREAKER_OPEN_MS. */
const BREAKER_THRESHOLD = 2;
const BREAKER_OPEN_MS = 1000;

/** A call blocked because its host recently timed out repeatedly (our circuit breaker). */
class HostSkippedError extends Error {
  override name = 'HostSkippedError';
}

// ---- fault handling ----------------------------------------------------------------------------
// etcd3 takes cockatiel policies (structurally typed); the two below are what we need and nothing
// more, written here rather than importing cockatiel, which is only a transitive dependency.
//  - global: try the call on each endpoint at most once, and only after fast failures (so a dead
//    member is stepped over, a single dead etcd costs one attempt, not etcd3's default three, and
//    no call takes much longer than one deadline).
//  - host: after BREAKER_THRESHOLD consecutive deadline expiries, skip the host for BREAKER_OPEN_MS
//    (etcd3 then tries the next host, or fails at once when none is left). Connection refusals are
//    fast already and do not trip it, so a restarted etcd is used again immediately.

const noEvent = () => ({ dispose() {} });

/**
 * Worth another host: the call failed fast (connection refused, member without a leader, host
 * skipped). A deadline expiry is not retried: it spent the caller's time budget already, and a
 * retry would turn one deadline into several.
 */
function retryableElsewhere(e: unknown): boolean {
  return e instanceof GRPCUnavailableError || e instanceof HostSkippedError;
}

export function retryOnOtherHosts(attempts: number) {
  return {
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      const signal = new AbortController().signal;
      for (let i = 1; ; i++) {
        try {
          return await fn({ signal });
        } catch (e) {
          if (i >= attempts || !retryableElsewhere(e)) throw e;
        }
      }
    },
  };
}

export function hostBreaker(host: string) {
  let timeouts = 0;
  let openUntil = 0;
  return {
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      if (Date.now() < openUntil) {
        throw new HostSkippedError(
          `etcd at ${host} timed out ${BREAKER_THRESHOLD} times in a row; skipped for ${BREAKER_OPEN_MS} ms`,
        );
      }
      try {
        const r = await fn({ signal: new AbortController().signal });
        timeouts = 0;
        return r;
      } catch (e) {
        if (e instanceof GRPCDeadlineExceededError) {
          // Stays at the threshold after opening: the first call after the pause that also times
          // out re-opens at once (half-open).
          timeouts = Math.min(timeouts + 1, BREAKER_THRESHOLD);
          if (timeouts >= BREAKER_THRESHOLD) openUntil = Date.now() + BREAKER_OPEN_MS;
        }
        throw e;
      }
    },
  };
}

/** A host policy that only runs the call: for a store with a single endpoint (no other host). */
export const passThrough = {
  onSuccess: noEvent,
  onFailure: noEvent,
  // async, as etcd3 expects of a policy: a call that throws at once becomes a rejection.
  async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
    return await fn({ signal: new AbortController().signal });
  },
};

/** Watch reconnect delays: 100 ms doubling to 1 s (etcd3's default grows to 30 s). */
export const WATCH_BACKOFF = { minMs: 100, maxMs: 1000 };

/** What the classification names: the endpoints, the prefix, the deadline; and whether closed. */
export interface FailureContext {
  endpoints: string[];
  prefix: string;
  callTimeoutMs: number;
  /** The store was closed by its owner. */
  closed: boolean;
}

/** An etcd3/grpc error as one of gitfleet's, naming the call (`what`) and where it went. */
export function classifyEtcdError(e: unknown, what: string, ctx: FailureContext): Error {
  if (e instanceof GitfleetError) return e; // classified already

  if (e instanceof ClientClosedError || ctx.closed) return new StoreClosedError(what);
  const msg = grpcMessage(e instanceof Error ? e.message : String(e));
  const where = `etcd ${ctx.endpoints.join(',')}`;
  if (
    e instanceof HostSkippedError ||
    (e instanceof Error && isRecoverableError(e) && !(e instanceof GRPCResourceExhastedError))
  ) {
    const why = e instanceof GRPCDeadlineExceededError ? `no answer within ${ctx.callTimeoutMs} ms` : msg;
    return new StoreUnavailableError(`${what}: ${where} is unavailable (${why})`, { cause: e });
  }
  if (e instanceof EtcdAuthenticationFailedError) {
    return new StoreAccessError(`${what}: ${where} refused the user name or password (authentication failed)`, {
      cause: e,
    });
  }
  if (/user name is empty/.test(msg)) {
    return new StoreAccessError(
      `${what}: ${where} has auth on and this client named no user: give --etcd-user and --etcd-password-file ` +
        '(or a client certificate whose common name is an etcd user)',
      { cause: e },
    );
  }
  if (e instanceof EtcdInvalidAuthTokenError) {
    // etcd3 has already authenticated again once and the new token was refused too.
    return new StoreAccessError(`${what}: ${where} refused the authentication token (invalid auth token)`, {
      cause: e,
    });
  }
  if (e instanceof EtcdPermissionDeniedError) {
    return new StoreAccessError(`${what}: ${where} denied permission under "${ctx.prefix}"`, { cause: e });
  }
  // etcd says "request is too large" past --max-request-bytes, and its grpc layer refuses a
  // message more than 0.5 MiB beyond that before etcd sees it.
  if (/request is too large|received message larger than max/i.test(msg)) {
    return new StoreRequestError(
      `${what}: ${where} refused the request as too large (etcd's --max-request-bytes, default 1.5 MiB): write ` +
        `less per request`,
      { cause: e },
    );
  }
  if (/too many operations in txn request/i.test(msg)) {
    return new StoreRequestError(
      `${what}: ${where} refused a transaction with too many operations (etcd's --max-txn-ops): split the write`,
      { cause: e },
    );
  }
  if (/duplicate key given in txn request/i.test(msg)) {
    return new StoreRequestError(`${what}: ${where} refused a transaction that names one key twice (duplicate key)`, {
      cause: e,
    });
  }
  return new Error(`${what}: ${where} failed: ${msg}`, { cause: e });
}
