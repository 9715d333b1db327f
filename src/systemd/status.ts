/**
 * A unit's status as `systemctl status` shows it, from the D-Bus properties systemd exposes (read
 * by SystemdManager.unitStatus()). Pure.
 */

/** A unit as `systemctl status` shows it (unitStatus()). Timestamps are µs since the epoch, null when never. */
export interface UnitStatus {
  name: string;
  load: string;
  active: string;
  sub: string;
  /** The unit type's Result: "success", "exit-code", "signal", "timeout", "core-dump", ... ('' when it has none). */
  result: string;
  /** The running main process (0 when none). */
  mainPid: number;
  /** The last main process started, running or not (0 when none), and how it ended. */
  execMainPid: number;
  /** "exited", "killed" or "dumped" once it ended; null while it runs or when it never ran. */
  execMainCode: 'exited' | 'killed' | 'dumped' | null;
  /** Exit status, or the signal number when killed/dumped. */
  execMainStatus: number;
  /** Since when the unit is in its current active state (what `systemctl status` prints after "since"). */
  since: number | null;
  activeEnterTimestamp: number | null;
  /** Restarts systemd made by Restart= (a service's NRestarts; 0 for other types). */
  nRestarts: number;
  slice: string;
  /** The unit file systemd loaded. */
  fragmentPath: string;
}

/** The D-Bus interface of each unit type that has a Result (and, for services, ExecMain*, NRestarts). */
export const UNIT_TYPE_IFACES: Record<string, string> = {
  service: 'Service',
  socket: 'Socket',
  timer: 'Timer',
  mount: 'Mount',
  automount: 'Automount',
  swap: 'Swap',
  path: 'Path',
  scope: 'Scope',
};

/** CLD_* codes of waitid(2), as ExecMainCode reports them. */
const EXIT_CODES: Record<number, UnitStatus['execMainCode']> = { 1: 'exited', 2: 'killed', 3: 'dumped' };

/** Unit + type properties (plain values) -> UnitStatus. Pure; exported for tests. */
export function statusFromProperties(
  name: string,
  unit: Record<string, unknown>,
  own: Record<string, unknown>,
): UnitStatus {
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const ts = (v: unknown) => (n(v) > 0 ? n(v) : null);
  const active = String(unit.ActiveState ?? '');
  const since =
    active === 'active' || active === 'reloading'
      ? ts(unit.ActiveEnterTimestamp)
      : active === 'activating'
        ? ts(unit.InactiveExitTimestamp)
        : active === 'deactivating'
          ? ts(unit.ActiveExitTimestamp)
          : ts(unit.InactiveEnterTimestamp);
  return {
    name,
    load: String(unit.LoadState ?? ''),
    active,
    sub: String(unit.SubState ?? ''),
    result: typeof own.Result === 'string' ? own.Result : '',
    mainPid: n(own.MainPID),
    execMainPid: n(own.ExecMainPID),
    execMainCode: EXIT_CODES[n(own.ExecMainCode)] ?? null,
    execMainStatus: n(own.ExecMainStatus),
    since,
    activeEnterTimestamp: ts(unit.ActiveEnterTimestamp),
    nRestarts: n(own.NRestarts),
    slice: typeof own.Slice === 'string' ? own.Slice : '',
    fragmentPath: String(unit.FragmentPath ?? ''),
  };
}
