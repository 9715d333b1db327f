/**
 * Exponential backoff: the one helper behind every retry delay in gitfleet (the reconcile loop's,
 * the engine's election, etcd watch reconnects, D-Bus reconnects, an agent's drift repairs,
 * reports and registration). Starts at minMs, doubles up to maxMs, and starts over after reset().
 */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /**
   * Spread, 0..1: each delay next() returns is shortened by up to this fraction, at random, so
   * that many processes that failed together (every agent when etcd was overloaded) do not all
   * retry at the same moment. The growth itself is not randomised. Default 0.
   */
  jitter?: number;
}

export class Backoff {
  private delay: number;
  constructor(private readonly opts: BackoffOptions) {
    this.delay = opts.minMs;
  }

  /** The delay to wait now; the next call returns a longer one. */
  next(): number {
    const d = this.delay;
    this.delay = grow(d, this.opts);
    return this.opts.jitter ? d * (1 - this.opts.jitter * Math.random()) : d;
  }

  /** The delay next() would return, without advancing. */
  peek(): number {
    return this.delay;
  }

  /** After a success: the next failure waits minMs again. */
  reset(): void {
    this.delay = this.opts.minMs;
  }
}

function grow(delay: number, opts: BackoffOptions): number {
  return Math.min(delay * (opts.factor ?? 2), opts.maxMs);
}

/** An immutable backoff strategy: the same delays, in the shape etcd3's watch backoff takes. */
export interface BackoffStrategy {
  duration: number;
  next(): BackoffStrategy;
}

export function backoffStrategy(opts: BackoffOptions, duration = opts.minMs): BackoffStrategy {
  return { duration, next: () => backoffStrategy(opts, grow(duration, opts)) };
}

/**
 * Resolve after `ms`. The timer does not keep the process alive unless `keepAlive` is set: for a
 * wait that is all the process has left to do (an agent retrying its first registration while the
 * store is unreachable), so the process waits instead of exiting with the promise unsettled.
 */
export function sleep(ms: number, opts: { keepAlive?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (!opts.keepAlive) timer.unref();
  });
}
