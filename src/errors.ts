/**
 * One error hierarchy, and the type of an error decides what happens next (as in Flux's
 * source-controller): every reconcile loop and retry in gitfleet switches on `retryKind(e)`.
 *
 * - transient: back off and try again (etcd unreachable, a D-Bus call timed out, a network blip).
 * - waiting:   try again after a given time (a lock held by someone else, a rate limit).
 * - stalled:   nothing will change until new input arrives (a refused commit waits for the next
 *              push; a deposed engine waits for the next election). Not retried on a timer.
 * - fatal:     stop and say why (credentials refused, a request etcd will never accept, the store
 *              closed, a machine id already live elsewhere). Never retried: the process reports
 *              it and exits 1, or the status says it.
 *
 * An error from outside gitfleet (a library's, a bug) counts as transient: retried with backoff
 * and logged each time, so it is seen without stopping the component.
 */

export type RetryKind = 'transient' | 'waiting' | 'stalled' | 'fatal';

/** Base of gitfleet's own errors: `kind` says how the caller retries. */
export abstract class GitfleetError extends Error {
  abstract readonly kind: RetryKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Back off and retry. */
export class TransientError extends GitfleetError {
  readonly kind = 'transient';
  override name = 'TransientError';
}

/** Retry after `retryAfterMs`. */
export class WaitingError extends GitfleetError {
  readonly kind = 'waiting';
  override name = 'WaitingError';
  constructor(
    message: string,
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wait for new input; retrying on a timer cannot help. */
export class StalledError extends GitfleetError {
  readonly kind = 'stalled';
  override name = 'StalledError';
}

/** Stop and say why; never retried. */
export class FatalError extends GitfleetError {
  readonly kind = 'fatal';
  override name = 'FatalError';
}

/** How to retry after `e`: its own kind for gitfleet's errors, transient for anything else. */
export function retryKind(e: unknown): RetryKind {
  return e instanceof GitfleetError ? e.kind : 'transient';
}

/** The delay a WaitingError asks for, or undefined. */
export function retryAfterMs(e: unknown): number | undefined {
  return e instanceof WaitingError ? e.retryAfterMs : undefined;
}
