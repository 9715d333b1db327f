/**
 * The health of each unit this machine runs, kept from systemd's signals (never by polling it)
 * and the optional checks, judged by judgeHealth (src/agent/health.ts) and told to the reporter
 * when the verdict changes.
 *
 * Per unit and content (hash): when it turned active, whether it ran at all (for a oneshot), the
 * last facts systemd gave. A verdict of failed sticks until the content changes: a unit that
 * crashed and came back (systemd's Restart=) still failed this content, as a restart count that
 * moved would say. When a unit fails or restarts, systemd is asked once how it ended (Result, exit
 * code or signal, NRestarts) so the reason keeps systemd's own words.
 */
import { DEFAULT_ROLLOUT, type HealthCheck } from '../desired/policy.js';
import type { UnitState } from '../systemd/manager.js';
import { HealthChecks } from './checks.js';
import { judgeHealth, type UnitFacts } from './health.js';

export interface TrackedUnit {
  hash: string;
  state: 'launched' | 'loaded';
  minHealthy?: number;
  runsToCompletion: boolean;
  health?: HealthCheck;
}

export interface HealthVerdictReport {
  state: 'starting' | 'healthy' | 'failed';
  reason?: string;
}

const UNKNOWN: UnitFacts = { load: 'unknown', active: 'unknown', sub: 'unknown' };

interface Tracked {
  cfg: TrackedUnit;
  facts: UnitFacts;
  activeSince: number | null;
  ran: boolean;
  verdict: HealthVerdictReport | null;
  timer: NodeJS.Timeout | null;
}

export interface HealthTrackerOptions {
  /** A unit's verdict changed: its report is due. */
  changed(unit: string): void;
  /** How a service last ended, when systemd can say. */
  facts?: (unit: string) => Promise<Partial<UnitFacts>>;
  now?: () => number;
}

export class HealthTracker {
  private readonly units = new Map<string, Tracked>();
  private readonly checks: HealthChecks;
  private readonly now: () => number;

  constructor(private readonly o: HealthTrackerOptions) {
    this.now = o.now ?? Date.now;
    this.checks = new HealthChecks((unit) => this.judge(unit));
  }

  /** What runs here now (after a pass): new content starts its judgement afresh. */
  configure(desired: ReadonlyMap<string, TrackedUnit>, current: (unit: string) => UnitState | undefined): void {
    for (const [unit, t] of this.units) {
      if (desired.has(unit)) continue;
      if (t.timer) clearTimeout(t.timer);
      this.units.delete(unit);
    }
    const checks = new Map<string, HealthCheck>();
    for (const [unit, cfg] of desired) {
      if (cfg.health) checks.set(unit, cfg.health);
      const t = this.units.get(unit);
      if (t && t.cfg.hash === cfg.hash) {
        t.cfg = cfg;
        continue;
      }
      if (t?.timer) clearTimeout(t.timer);
      // New content: what came before says nothing about it. What systemd says now is the start.
      const s = current(unit);
      const facts: UnitFacts = s ? { load: s.load, active: s.active, sub: s.sub } : { ...UNKNOWN };
      const active = s?.active === 'active';
      this.units.set(unit, {
        cfg,
        facts,
        activeSince: active ? this.now() : null,
        ran: active,
        verdict: null,
        timer: null,
      });
    }
    this.checks.set(checks);
    for (const unit of desired.keys()) this.judge(unit);
  }

  /** systemd said this of a unit (a signal or a listing). */
  observe(s: UnitState): void {
    const t = this.units.get(s.name);
    if (!t) return;
    const was = t.facts.active;
    t.facts = { ...t.facts, load: s.load, active: s.active, sub: s.sub };
    if (s.active === 'active') {
      if (was !== 'active' || t.activeSince === null) t.activeSince = this.now();
      t.ran = true;
    } else {
      if (s.active === 'activating' || s.active === 'deactivating') t.ran = true;
      t.activeSince = null;
    }
    const bad = s.active === 'failed' || s.sub === 'auto-restart';
    if (bad && this.o.facts) {
      this.o
        .facts(s.name)
        .then((f) => {
          const now = this.units.get(s.name);
          if (now === t) t.facts = { ...t.facts, ...f };
          this.judge(s.name);
        })
        .catch(() => this.judge(s.name));
    }
    this.judge(s.name);
  }

  verdict(unit: string): HealthVerdictReport | undefined {
    return this.units.get(unit)?.verdict ?? undefined;
  }

  stop(): void {
    this.checks.stop();
    for (const t of this.units.values()) if (t.timer) clearTimeout(t.timer);
    this.units.clear();
  }

  private judge(unit: string): void {
    const t = this.units.get(unit);
    if (!t) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    let next: HealthVerdictReport;
    {
      const v = judgeHealth({
        now: this.now(),
        state: t.cfg.state,
        runsToCompletion: t.cfg.runsToCompletion,
        minHealthyMs: t.cfg.minHealthy ?? DEFAULT_ROLLOUT.minHealthyMs,
        facts: t.facts,
        activeSince: t.cfg.runsToCompletion ? (t.ran ? 0 : null) : t.activeSince,
        restartsAtStart: undefined,
        hasCheck: t.cfg.health !== undefined,
        check: this.checks.result(unit),
      });
      next = v.reason ? { state: v.state, reason: v.reason } : { state: v.state };
      // A failure sticks for this content; systemd's facts arriving later only sharpen its reason.
      if (t.verdict?.state === 'failed' && next.state !== 'failed') next = t.verdict;
      if (v.recheckAt !== null && next.state !== 'failed') {
        t.timer = setTimeout(() => this.judge(unit), Math.max(0, v.recheckAt - this.now()) + 5);
        t.timer.unref();
      }
    }
    if (JSON.stringify(next) === JSON.stringify(t.verdict)) return;
    t.verdict = next;
    this.o.changed(unit);
  }
}
