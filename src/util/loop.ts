import type { Logger } from '../log.js';

export interface LoopOptions {
  /** Safety-net resync period; 0 disables it. Events, not this timer, drive the work. */
  resyncMs?: number;
  /** Retry after a failed pass: starts at minMs, doubles up to maxMs, resets after a success. */
  backoff?: { minMs: number; maxMs: number };
  log?: Logger;
}

/**
 * One reconcile loop, shared by controller, engine and agent: a pass runs when triggered, never
 * two at once; triggers that arrive during a pass coalesce into one more pass after it. A failed
 * pass is retried with exponential backoff. Level-triggered: a pass re-reads what it needs, so it
 * does not matter how many triggers were merged.
 */
export class ReconcileLoop {
  private running: Promise<void> | null = null;
  private pending = false;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private delayMs: number;
  /** Passes completed without error, and failed passes: for tests and status. */
  passes = 0;
  failures = 0;
  lastError: Error | null = null;

  constructor(
    private readonly name: string,
    private readonly pass: () => Promise<void>,
    private readonly opts: LoopOptions = {},
  ) {
    this.delayMs = opts.backoff?.minMs ?? 200;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => this.trigger('resync'), this.opts.resyncMs);
      this.resyncTimer.unref?.();
    }
    this.trigger('start');
  }

  /** Ask for a pass soon. Cheap; call it from every event. */
  trigger(reason = 'event'): void {
    if (this.stopped) return;
    this.opts.log?.debug(`${this.name}: triggered`, { reason });
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.retryTimer) {
      // A retry is already scheduled: an event is a reason to try now.
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.running = this.runPass();
  }

  private async runPass(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r)); // let a burst of events coalesce
    do {
      this.pending = false;
      try {
        await this.pass();
        this.passes++;
        this.lastError = null;
        this.delayMs = this.opts.backoff?.minMs ?? 200;
      } catch (e) {
        this.failures++;
        this.lastError = e as Error;
        this.opts.log?.warn(`${this.name}: pass failed, retrying`, { error: e as Error, retryInMs: this.delayMs });
        this.pending = false;
        if (!this.stopped) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.trigger('retry');
          }, this.delayMs);
          this.retryTimer.unref?.();
        }
        this.delayMs = Math.min(this.delayMs * 2, this.opts.backoff?.maxMs ?? 10_000);
        break;
      }
    } while (this.pending && !this.stopped);
    this.running = null;
  }

  /** Resolve after the pass in flight (if any) and every coalesced one have run. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.retryTimer = this.resyncTimer = null;
    await this.idle();
  }
}
