/**
 * How healthy one unit is on this machine (pure, the clock passed in): what the agent reports for
 * a rollout to gate on. From systemd's own signals, never by polling systemd:
 * - a service is healthy once it has been active (for Type=notify systemd says active only after
 *   READY=1) for `minHealthyMs` without a restart, and its health check, if any, passes;
 * - it failed when systemd says failed, when it is restarting (auto-restart), or when it restarted
 *   since it took this content;
 * - a oneshot is healthy when it ran to success; a timer, socket or path when active (waiting,
 *   listening); a unit that should only be loaded when it is loaded.
 * The reason keeps what systemd says: the result, the exit code or signal, the restarts, and the
 * unit's last journal lines where the machine has a journal.
 */

export interface UnitFacts {
  load: string;
  active: string;
  sub: string;
  /** systemd's Result of the service (success, exit-code, signal, core-dump, timeout, ...). */
  result?: string;
  /** NRestarts of the service. */
  restarts?: number;
  /** ExecMainCode (1 exited, 2 killed, 3 dumped) and ExecMainStatus (exit status or signal number). */
  mainCode?: number;
  mainStatus?: number;
  /** The unit's last journal lines (messages), where the machine keeps a journal. */
  journal?: string[];
}

export interface HealthInput {
  now: number;
  /** launched: should run; loaded: only loaded. */
  state: 'launched' | 'loaded';
  /** A oneshot that runs to completion (no RemainAfterExit). */
  runsToCompletion: boolean;
  minHealthyMs: number;
  facts: UnitFacts;
  /** When the agent last saw the unit turn active (ms), or null while it is not active. */
  activeSince: number | null;
  /** NRestarts when the unit took its current content (the baseline). */
  restartsAtStart: number | undefined;
  /** The health check, when there is one: its last result (undefined before the first). */
  check?: { ok: boolean; reason: string } | undefined;
  hasCheck: boolean;
}

export interface HealthVerdict {
  state: 'starting' | 'healthy' | 'failed';
  reason?: string;
  /** When the verdict may change without a new signal (minHealthy running out), or null. */
  recheckAt: number | null;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  6: 'SIGABRT',
  8: 'SIGFPE',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  14: 'SIGALRM',
  15: 'SIGTERM',
};

/** "exit-code 1", "signal SIGKILL", "core-dump SIGSEGV", "timeout", ... from what systemd reports. */
export function describeFailure(f: UnitFacts): string {
  const parts: string[] = [];
  const result = f.result && f.result !== 'success' ? f.result : f.active === 'failed' ? 'failed' : '';
  if (f.mainCode === 1 && f.mainStatus !== undefined && f.mainStatus !== 0) {
    parts.push(`${result || 'exit-code'} ${f.mainStatus}`);
  } else if ((f.mainCode === 2 || f.mainCode === 3) && f.mainStatus !== undefined) {
    parts.push(`${result || 'signal'} ${SIGNALS[f.mainStatus] ?? `signal ${f.mainStatus}`}`);
  } else if (result) {
    parts.push(result);
  }
  if (f.restarts) parts.push(`${f.restarts} restart${f.restarts === 1 ? '' : 's'}`);
  const what = parts.join(', ') || `${f.active}/${f.sub}`;
  return f.journal?.length ? `${what}; journal: ${f.journal.join(' | ')}` : what;
}

export function judgeHealth(h: HealthInput): HealthVerdict {
  const f = h.facts;
  if (h.state === 'loaded') {
    return f.load === 'loaded'
      ? { state: 'healthy', recheckAt: null }
      : {
          state: f.load === 'error' || f.load === 'bad-setting' ? 'failed' : 'starting',
          reason: `load ${f.load}`,
          recheckAt: null,
        };
  }
  if (f.active === 'failed') return { state: 'failed', reason: describeFailure(f), recheckAt: null };
  if (f.sub === 'auto-restart')
    return { state: 'failed', reason: `restarting (${describeFailure(f)})`, recheckAt: null };
  if (h.restartsAtStart !== undefined && f.restarts !== undefined && f.restarts > h.restartsAtStart) {
    return { state: 'failed', reason: `restarted since it took this content (${describeFailure(f)})`, recheckAt: null };
  }
  if (h.runsToCompletion) {
    if (f.active === 'inactive' && (f.result === undefined || f.result === 'success') && h.activeSince !== null) {
      return { state: 'healthy', recheckAt: null };
    }
    if (f.active === 'active') return { state: 'healthy', recheckAt: null };
    return { state: 'starting', reason: `${f.active}/${f.sub}`, recheckAt: null };
  }
  if (f.active !== 'active' || h.activeSince === null) {
    return { state: 'starting', reason: `${f.active}/${f.sub}`, recheckAt: null };
  }
  const upFor = h.now - h.activeSince;
  if (upFor < h.minHealthyMs) {
    return {
      state: 'starting',
      reason: `active for less than ${h.minHealthyMs} ms`,
      recheckAt: h.activeSince + h.minHealthyMs,
    };
  }
  if (h.hasCheck) {
    if (!h.check) return { state: 'starting', reason: 'health check not run yet', recheckAt: null };
    if (!h.check.ok) return { state: 'starting', reason: `health check failing: ${h.check.reason}`, recheckAt: null };
  }
  return { state: 'healthy', recheckAt: null };
}
