/**
 * Drift repair's pace. A launched unit found stopped or failed behind gitfleet's back is started
 * again by the next pass, but a unit that keeps failing must not be restarted in a tight loop:
 * each repair of a unit waits longer before the next (doubling from minMs to maxMs), and a unit
 * that stayed up for a while (twice maxMs since its last repair) starts over at minMs. While a
 * unit's wait runs, the planner leaves its drift start out; when the earliest wait ends, `ready`
 * asks for a pass. The number of repairs per unit goes into its report.
 */
import type { Logger } from '../log.js';
import type { AgentMetrics } from './metrics.js';
import { Backoff } from '../util/backoff.js';
import { steadyNow } from '../util/clock.js';

export interface DriftRepairOptions {
  minMs: number;
  maxMs: number;
  log: Logger;
  /** A unit's wait is over: run a pass. */
  ready(): void;
  /** Told of every repair. */
  metrics?: Pick<AgentMetrics, 'driftRepaired'>;
}

interface UnitRepairs {
  count: number;
  backoff: Backoff;
  /** When the last repair was made, and when the next may be (ms since the epoch). */
  last: number;
  until: number;
}

export class DriftRepair {
  private readonly units = new Map<string, UnitRepairs>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: DriftRepairOptions) {}

  /** A drift start of `unit` is being made now. */
  noteRepair(unit: string, now = steadyNow()): void {
    let u = this.units.get(unit);
    if (!u) {
      u = { count: 0, backoff: new Backoff({ minMs: this.o.minMs, maxMs: this.o.maxMs }), last: now, until: now };
      this.units.set(unit, u);
    } else if (now - u.last >= this.o.maxMs * 2) {
      u.backoff.reset(); // it stayed up for a long while
    }
    const delayMs = u.backoff.next();
    u.count++;
    this.o.metrics?.driftRepaired(unit);
    u.last = now;
    u.until = now + delayMs;
    this.o.log.warn('drift: starting a launched unit found stopped or failed', {
      unit,
      repairs: u.count,
      nextRepairNotBeforeMs: delayMs,
    });
  }

  /** Drift repairs made to `unit` (undefined when none). */
  repairs(unit: string): number | undefined {
    return this.units.get(unit)?.count;
  }

  /** Units whose next drift repair must wait: the planner holds their drift starts back. */
  held(now = steadyNow()): Set<string> {
    const out = new Set<string>();
    for (const [unit, u] of this.units) if (u.until > now) out.add(unit);
    return out;
  }

  /** Ask for a pass when the earliest wait ends (replaces an earlier timer). */
  arm(now = steadyNow()): void {
    this.stop();
    const next = Math.min(...[...this.units.values()].map((u) => u.until).filter((t) => t > now));
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.o.ready();
      },
      next - now + 5,
    );
    this.timer.unref();
  }

  /** The unit was unloaded: its count and its wait are gone. */
  forget(unit: string): void {
    this.units.delete(unit);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
