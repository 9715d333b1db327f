/**
 * The optional health checks of fleet.yaml (http, tcp, exec), run by the agent on its own machine
 * at each check's interval. Only a change of result is passed on (a report is written on
 * transitions, not on every probe): passing to failing and back, or a failure for another reason.
 * Every probe is bounded by its timeout; a check that hangs never delays the next one or anything
 * else in the agent.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import type { HealthCheck } from '../desired/policy.js';

export interface CheckResult {
  ok: boolean;
  reason: string;
}

/** Run one probe of `check`; resolves (never rejects) within its timeout. */
export async function probe(check: HealthCheck): Promise<CheckResult> {
  const ms = check.timeoutMs;
  if (check.kind === 'http') {
    try {
      const res = await fetch(check.url, { signal: AbortSignal.timeout(ms), redirect: 'manual' });
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status < 400
        ? { ok: true, reason: `HTTP ${res.status}` }
        : { ok: false, reason: `HTTP ${res.status} from ${check.url}` };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${ms} ms` : (err.cause?.code ?? err.message);
      return { ok: false, reason: `${check.url}: ${why}` };
    }
  }
  if (check.kind === 'tcp') {
    return new Promise((resolve) => {
      const where = `${check.host}:${check.port}`;
      const sock = connect({ host: check.host, port: check.port });
      const done = (r: CheckResult) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done({ ok: false, reason: `${where}: no connection within ${ms} ms` }), ms);
      sock.once('connect', () => done({ ok: true, reason: `connected to ${where}` }));
      sock.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, reason: `${where}: ${e.code ?? e.message}` }));
    });
  }
  return new Promise((resolve) => {
    execFile(check.argv[0]!, check.argv.slice(1), { timeout: ms, killSignal: 'SIGKILL' }, (err, _out, stderr) => {
      if (!err) return resolve({ ok: true, reason: 'exit 0' });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      const last = String(stderr).trim().split('\n').pop()?.slice(0, 200);
      const why = e.killed ? `killed after ${ms} ms` : typeof e.code === 'number' ? `exit ${e.code}` : String(e.code);
      resolve({ ok: false, reason: `${check.argv[0]}: ${why}${last ? `: ${last}` : ''}` });
    });
  });
}

/**
 * Runs the checks of the units that have one; `onChange(unit, result)` hears each first result and
 * each change. `set` replaces the whole list (units without a check are dropped).
 */
export class HealthChecks {
  private readonly running = new Map<string, { key: string; timer: NodeJS.Timeout; last?: CheckResult }>();
  private stopped = false;

  constructor(private readonly onChange: (unit: string, result: CheckResult) => void) {}

  /** The last result of `unit`'s check, or undefined before its first probe. */
  result(unit: string): CheckResult | undefined {
    return this.running.get(unit)?.last;
  }

  has(unit: string): boolean {
    return this.running.has(unit);
  }

  set(checks: ReadonlyMap<string, HealthCheck>): void {
    if (this.stopped) return;
    for (const [unit, r] of this.running) {
      const c = checks.get(unit);
      if (!c || JSON.stringify(c) !== r.key) {
        clearTimeout(r.timer);
        this.running.delete(unit);
      }
    }
    for (const [unit, check] of checks) {
      if (this.running.has(unit)) continue;
      const entry = { key: JSON.stringify(check), timer: setTimeout(() => {}, 0) as NodeJS.Timeout };
      this.running.set(unit, entry);
      this.schedule(unit, check, entry, 0);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.running.values()) clearTimeout(r.timer);
    this.running.clear();
  }

  private schedule(
    unit: string,
    check: HealthCheck,
    entry: { key: string; timer: NodeJS.Timeout; last?: CheckResult },
    delay: number,
  ): void {
    entry.timer = setTimeout(async () => {
      const r = await probe(check);
      if (this.stopped || this.running.get(unit) !== entry) return;
      // A failing check that fails otherwise (refused, then HTTP 503) is news too: the reason a
      // rollout records at its deadline is the check's last answer.
      const changed = !entry.last || entry.last.ok !== r.ok || (!r.ok && entry.last.reason !== r.reason);
      entry.last = r;
      if (changed) {
        try {
          this.onChange(unit, r);
        } catch {
          // a listener's bug must not stop the checks
        }
      }
      this.schedule(unit, check, entry, check.intervalMs);
    }, delay);
    entry.timer.unref();
  }
}
