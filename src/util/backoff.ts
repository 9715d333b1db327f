/**
 * Exponential backoff: the one helper behind every retry delay in gitfleet (the reconcile loop's,
 * an agent's drift repairs, reports and registration). Starts at minMs, doubles up to maxMs,
 * and starts over after reset().
 */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  /** Growth per failure (default 2). */
  factor?: number;
}

export class Backoff {
  private delay: number;
  constructor(private readonly opts: BackoffOptions) {
    this.delay = opts.minMs;
  }

  /** The delay to wait now; the next call returns a longer one. */
  next(): number {
    const d = this.delay;
    this.delay = Math.min(this.delay * (this.opts.factor ?? 2), this.opts.maxMs);
    return d;
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
