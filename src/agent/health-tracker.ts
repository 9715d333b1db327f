/**
 * The health of each unit this machine runs, kept from systemd's signals (never by polling it)
 * and the optional checks, judged by judgeHealth (src/agent/health.ts) and told to the reporter
 * when the verdict changes.
 *
 * Per unit and content (hash): when it turned active, whether it ran at all (for a oneshot), the
 * last facts systemd gave. A verdict of failed sticks until the content changes: a unit that
 * crashed and came back (systemd's Restart=) still failed this content, as a restart count that
 * moved would say. When a unit fails or restarts, systemd is asked once how it ended (Result, exit
 * code or signal, NRestarts; its last journal lines) so the reason keeps systemd's own words.
 */
import { DEFAULT_ROLLOUT, type HealthCheck } from '../desired/policy.js';
import type { UnitState } from '../systemd/manager.js';
import { HealthChecks } from './checks.js';
import { judgeHealth, type UnitFacts } from './health.js';
import { steadyNow } from '../util/clock.js';

export interface TrackedUnit {
  hash: string;
  state: 'launched' | 'loaded';
  minHealthy?: number;
  runsToCompletion: boolean;
  /** A oneshot the agent saw run to success (its start job succeeded), whatever systemd still keeps of it. */
  completed?: boolean;
  health?: HealthCheck;
}

export interface HealthVerdictReport {
  state: 'starting' | 'healthy' | 'failed';
  reason?: string;
}

const NOT_JUDGED: HealthVerdictReport = { state: 'starting', reason: 'not judged yet' };
const UNKNOWN: UnitFacts = { load: 'unknown', active: 'unknown', sub: 'unknown' };

interface Tracked {
  cfg: TrackedUnit;
  facts: UnitFacts;
  activeSince: number | null;
  ran: boolean;
  verdict: HealthVerdictReport | null;
  timer: NodeJS.Timeout | null;
  /** systemd is being asked how the unit ended: the verdict waits for its answer. */
  fetching?: boolean;
}

const isBad = (f: UnitFacts) => f.active === 'failed' || f.sub === 'auto-restart';

export interface HealthTrackerOptions {
  /** A unit's verdict changed: its report is due. */
  changed(unit: string): void;
  /** How a service last ended, when systemd can say. */
  facts?: (unit: string) => Promise<Partial<UnitFacts>>;
  /** The unit's last journal lines, where the machine has a journal (asked when it fails). */
  journal?: (unit: string) => Promise<string[]>;
  now?: () => number;
}

export class HealthTracker {
  private readonly units = new Map<string, Tracked>();
  private readonly checks: HealthChecks;
  private readonly now: () => number;

  constructor(private readonly o: HealthTrackerOptions) {
    this.now = o.now ?? steadyNow;
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
        if (cfg.completed) t.ran = true;
        continue;
      }
      if (t?.timer) clearTimeout(t.timer);
      // New content: what came before says nothing about it. What systemd says now is the start.
      const s = current(unit);
      const facts: UnitFacts = s ? { load: s.load, active: s.active, sub: s.sub } : { ...UNKNOWN };
      const active = s?.active === 'active';
      const fresh: Tracked = {
        cfg,
        facts,
        activeSince: active ? this.now() : null,
        ran: active || cfg.completed === true,
        verdict: null,
        timer: null,
      };
      this.units.set(unit, fresh);
      // Already failed (a fast crash can beat the pass that took the content): judged with systemd's facts.
      if (isBad(facts)) this.fetchFacts(unit, fresh, true);
      // A oneshot that already ran to its end, not seen by this agent (its record lost?): ask systemd.
      else if (cfg.runsToCompletion && !fresh.ran && facts.active === 'inactive') this.fetchFacts(unit, fresh, false);
    }
    this.checks.set(checks);
    for (const unit of desired.keys()) if (!this.units.get(unit)?.fetching) this.judge(unit);
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
    if (isBad(t.facts)) this.fetchFacts(s.name, t, true);
    // A oneshot's run can be too quick for its signals (coalesced to inactive -> inactive): ask systemd.
    else if (t.cfg.runsToCompletion && !t.ran && s.active === 'inactive' && !t.fetching)
      this.fetchFacts(s.name, t, false);
    if (!t.fetching) this.judge(s.name);
  }

  /**
   * Ask systemd how the unit ended before judging it: a failure is reported once, with systemd's
   * Result, exit code or signal and restarts (a rollout records the first failed verdict it sees),
   * and its last journal lines; a oneshot found inactive ran to success if its main process
   * exited 0.
   */
  private fetchFacts(unit: string, t: Tracked, failed: boolean): void {
    const { facts } = this.o;
    const journal = failed ? this.o.journal : undefined;
    if (!facts && !journal) return;
    t.fetching = true;
    // Judged as systemd had it when it failed, even if it came back meanwhile (the failure sticks).
    const then = { ...t.facts };
    const done = (f: Partial<UnitFacts>) => {
      t.fetching = false;
      t.facts = { ...t.facts, ...f };
      if (t.cfg.runsToCompletion && f.mainCode === 1 && f.mainStatus === 0 && f.result === 'success') t.ran = true;
      if (this.units.get(unit) === t) this.judge(unit, { ...then, ...f });
    };
    Promise.all([facts?.(unit).catch(() => ({})) ?? {}, journal?.(unit).catch(() => []) ?? []]).then(([f, lines]) =>
      done(lines.length ? { ...f, journal: lines } : f),
    );
  }

  /**
   * The verdict on `unit` running content `hash` (default: whatever it runs). Content not judged
   * yet (a pass wrote its file but has not configured it here, or systemd is being asked how it
   * failed) is starting: never the verdict on the content it replaces.
   */
  verdict(unit: string, hash?: string): HealthVerdictReport | undefined {
    const t = this.units.get(unit);
    if (hash === undefined) return t?.verdict ?? undefined;
    return t && t.cfg.hash === hash && t.verdict ? t.verdict : NOT_JUDGED;
  }

  stop(): void {
    this.checks.stop();
    for (const t of this.units.values()) if (t.timer) clearTimeout(t.timer);
    this.units.clear();
  }

  private judge(unit: string, facts?: UnitFacts): void {
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
        facts: facts ?? t.facts,
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
