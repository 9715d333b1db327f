import { steadyNow } from './clock.js';

/**
 * A loop's timers besides its own: wake it at a given time (a deadline), or soon but at most
 * every so often (a burst of events). Timers never keep the process alive.
 */
export class Wakeup {
  private atTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;

  constructor(private readonly wake: (reason: string) => void) {}

  /** Wake at `time` (ms since the epoch on the steady clock, util/clock.ts), replacing an earlier one; null cancels. */
  at(time: number | null, reason = 'timer'): void {
    if (this.atTimer) clearTimeout(this.atTimer);
    this.atTimer = null;
    if (time === null) return;
    this.atTimer = setTimeout(
      () => {
        this.atTimer = null;
        this.wake(reason);
      },
      Math.max(0, time - steadyNow()) + 20,
    );
    this.atTimer.unref();
  }

  /** Wake in `ms` unless a wake of this kind is already pending (at most one per `ms`). */
  soon(ms: number, reason: string): void {
    if (this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.wake(reason);
    }, ms);
    this.soonTimer.unref();
  }

  cancel(): void {
    if (this.atTimer) clearTimeout(this.atTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.atTimer = this.soonTimer = null;
  }
}
