import { retryAfterMs, retryKind } from '../errors.js';
import type { Logger } from '../log.js';
import { Backoff } from './backoff.js';

export interface LoopOptions {
  /** Safety-net resync period; 0 disables it. Events, not this timer, drive the work. */
  resyncMs?: number;
  /** Retry after a transient failure: starts at minMs, doubles up to maxMs, resets after a success. */
  backoff?: { minMs: number; maxMs: number };
  /**
   * A fatal error stopped the loop (src/errors.ts): the component reports it and exits, or shows
   * it in its status. Without a handler the error is logged.
   */
  onFatal?: (e: Error) => void;
  log?: Logger;
}

/**
 * One reconcile loop, shared by controller, engine and agent: a pass runs when triggered, never
 * two at once; triggers that arrive during a pass coalesce into one more pass after it.
 * Level-triggered: a pass re-reads what it needs, so it does not matter how many triggers were
 * merged. What a failed pass leads to depends on the error's kind (src/errors.ts): transient ->
 * retry with exponential backoff; waiting -> retry after the time it asks for; stalled -> no
 * retry until the next trigger (new input); fatal -> the loop stops and onFatal is told.
 */
export class ReconcileLoop {
  private running: Promise<void> | null = null;
  private pending = false;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  /** Passes completed without error, and failed passes: for tests and status. */
  passes = 0;
  failures = 0;
  lastError: Error | null = null;
  /** Set when a fatal error stopped the loop. */
  fatal: Error | null = null;
  /** The stalled error last logged at warn: the same one again (a resync) is logged at debug. */
  private lastStalled: string | null = null;

  constructor(
    private readonly name: string,
    private readonly pass: () => Promise<void>,
    private readonly opts: LoopOptions = {},
  ) {
    this.backoff = new Backoff({ minMs: opts.backoff?.minMs ?? 200, maxMs: opts.backoff?.maxMs ?? 10_000 });
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
        this.lastStalled = null;
        this.backoff.reset();
      } catch (e) {
        this.failures++;
        this.lastError = e as Error;
        const newInput = this.pending;
        this.pending = false;
        this.failed(e as Error, newInput);
        break;
      }
    } while (this.pending && !this.stopped);
    this.running = null;
  }

  private failed(e: Error, newInput: boolean): void {
    const kind = retryKind(e);
    if (kind === 'fatal') {
      this.fatal = e;
      this.stopped = true;
      if (this.resyncTimer) clearInterval(this.resyncTimer);
      this.resyncTimer = null;
      this.opts.log?.error(`${this.name}: stopped by a fatal error`, { error: e });
      this.opts.onFatal?.(e);
      return;
    }
    if (kind === 'stalled') {
      // Waits for new input: the next trigger (a watch event, a push) runs the pass again.
      const repeat = this.lastStalled === e.message;
      this.lastStalled = e.message;
      this.opts.log?.[repeat ? 'debug' : 'warn'](`${this.name}: pass stalled until new input`, { error: e });
      if (newInput) setImmediate(() => this.trigger('input arrived during a stalled pass'));
      return;
    }
    if (this.stopped) return;
    const delay = kind === 'waiting' ? (retryAfterMs(e) ?? this.backoff.peek()) : this.backoff.next();
    this.opts.log?.warn(`${this.name}: pass failed, retrying`, { error: e, retryInMs: delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.trigger('retry');
    }, delay);
    this.retryTimer.unref?.();
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
