/**
 * The floor of the latency benchmarks: systemd itself. The same kind of unit written and started
 * by hand on the same systemd instance, in the same run, timed the same way (from the first write
 * until the instance signals the unit active over D-Bus, seen by this process). Shared by
 * bench/e2e.ts and bench/up.ts, with the D-Bus signal follower both time against and the figures'
 * formatting (percentiles, ratio, load average).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as dbus from 'dbus-next';
import { SystemdManager, unitObjectPath } from '../src/systemd/manager.js';
import { mapLimit } from '../src/util/pool.js';

// ---- figures ----------------------------------------------------------------------------------

export const pct = (xs: readonly number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
export const ms = (x: number): string => `${Math.round(x)} ms`;
export const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** "p50 X  p95 Y" of a sample, padded for a table. */
export function p50p95(xs: readonly number[]): string {
  return `p50 ${ms(pct(xs, 50)).padStart(7)}   p95 ${ms(pct(xs, 95)).padStart(7)}`;
}

/** "2.1x" of a figure against its floor (both p50s). */
export const ratio = (x: number, floor: number): string => `${(x / floor).toFixed(2)}x`;

// ---- D-Bus: a unit's transitions as its systemd signals them -----------------------------------

const SIGNAL = 4;

/**
 * Follows units' ActiveState and InvocationID through PropertiesChanged signals on an instance's
 * bus (its own D-Bus connection, Subscribe()d), timestamped (performance.now()) as they arrive.
 */
export class UnitSignals {
  /** Per unit object path: last ActiveState and InvocationID seen, and whether it went down since armed. */
  readonly units = new Map<string, { active: string; invocation: string; wentDown: boolean }>();
  private waiter: { path: string; since: string; resolve: (t: number) => void } | null = null;
  /** Called on every ActiveState change (convergence counting). */
  onActive: ((path: string, active: string, now: number) => void) | null = null;
  /** Print every signal of the awaited unit (BENCH_TRACE=1). */
  trace = Boolean(process.env.BENCH_TRACE);

  private constructor(private readonly bus: dbus.MessageBus) {}

  static async open(busAddress: string): Promise<UnitSignals> {
    const bus = dbus.sessionBus({ busAddress });
    bus.on('error', () => {});
    const u = new UnitSignals(bus);
    bus.on('message', (m: dbus.Message) => u.onMessage(m));
    const call = (destination: string, path: string, iface: string, member: string, sig = '', body: unknown[] = []) =>
      bus.call(new dbus.Message({ destination, path, interface: iface, member, signature: sig, body }));
    await call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [
      "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties'," +
        "member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'",
    ]);
    await call(
      'org.freedesktop.systemd1',
      '/org/freedesktop/systemd1',
      'org.freedesktop.systemd1.Manager',
      'Subscribe',
    );
    return u;
  }

  private onMessage(m: dbus.Message): void {
    if (m.type !== SIGNAL || m.member !== 'PropertiesChanged' || !m.path) return;
    const [iface, changed] = m.body as [string, Record<string, dbus.Variant>];
    if (iface !== 'org.freedesktop.systemd1.Unit') return;
    const now = performance.now();
    let u = this.units.get(m.path);
    if (!u) this.units.set(m.path, (u = { active: '', invocation: '', wentDown: false }));
    if (changed.InvocationID) u.invocation = Buffer.from(changed.InvocationID.value as Buffer).toString('hex');
    if (changed.ActiveState) {
      u.active = String(changed.ActiveState.value);
      if (u.active !== 'active') u.wentDown = true;
      this.onActive?.(m.path, u.active, now);
    }
    if (this.trace && this.waiter?.path === m.path) {
      console.log(
        `    trace ${now.toFixed(0)} ${m.path} ${changed.ActiveState?.value ?? ''} ${changed.SubState?.value ?? ''} ` +
          `inv=${u.invocation.slice(0, 8)}`,
      );
    }
    const w = this.waiter;
    if (w && w.path === m.path && u.active === 'active' && (u.wentDown || (u.invocation && u.invocation !== w.since))) {
      this.waiter = null;
      w.resolve(now);
    }
  }

  /** Resolves with the time (performance.now()) `unit` is next seen active in a new invocation. */
  nextActivation(unit: string, sinceInvocation: string, timeoutMs: number): Promise<number> {
    const path = unitObjectPath(unit);
    const u = this.units.get(path);
    if (u) u.wentDown = false;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${unit}: no new activation within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = {
        path,
        since: sinceInvocation,
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      };
    });
  }

  /** The invocation last seen of `unit` ('' if none). */
  invocation(unit: string): string {
    return this.units.get(unitObjectPath(unit))?.invocation ?? '';
  }

  close(): void {
    this.bus.disconnect();
  }
}

// ---- the floor --------------------------------------------------------------------------------

/** An instance to measure the floor on: its bus and its runtime unit directory (a systemd unit path). */
export interface FloorTarget {
  busAddress: string;
  unitDir: string;
}

/**
 * Units written into the instance's runtime unit directory and driven over D-Bus (the calls
 * `systemctl --user` makes), timed to the active signal. Names start with `floor-`; stop() stops
 * and removes every one it made.
 */
export class Floor {
  private readonly made = new Set<string>();

  private constructor(
    private readonly target: FloorTarget,
    readonly mgr: SystemdManager,
    readonly signals: UnitSignals,
  ) {}

  static async open(target: FloorTarget): Promise<Floor> {
    mkdirSync(target.unitDir, { recursive: true });
    const mgr = await SystemdManager.connect({ address: target.busAddress }, { log: () => {} });
    return new Floor(target, mgr, await UnitSignals.open(target.busAddress));
  }

  /** Write a unit file into the runtime unit directory (removed again by stop()). */
  writeUnit(unit: string, text: string): void {
    this.made.add(unit);
    writeFileSync(join(this.target.unitDir, unit), text);
  }

  /** A brand-new unit: write its file, StartUnit (systemd finds a new file by itself). */
  async newUnit(unit: string, text: string): Promise<number> {
    const active = this.signals.nextActivation(unit, '', 30_000);
    const t0 = performance.now();
    this.writeUnit(unit, text);
    await this.mgr.startUnit(unit);
    return (await active) - t0;
  }

  /**
   * A changed unit, as an administrator changes one: rewrite its file, daemon-reload, restart
   * (`systemctl daemon-reload && systemctl restart`); with `reload: false`, the least systemd needs
   * for a unit nothing refers to: rewrite, stop, start (stopped, it is forgotten and its file read
   * afresh by the start).
   */
  async changedUnit(unit: string, text: string, opts: { reload: boolean }): Promise<number> {
    const active = this.signals.nextActivation(unit, this.signals.invocation(unit), 30_000);
    const t0 = performance.now();
    this.writeUnit(unit, text);
    if (opts.reload) {
      await this.mgr.reload();
      await this.mgr.restartUnit(unit);
    } else {
      await this.mgr.stopUnit(unit);
      await this.mgr.startUnit(unit);
    }
    return (await active) - t0;
  }

  /**
   * Many new units at once: every file written, then every StartUnit of `start` (default: all of
   * them) in flight together. Resolves with the time from the first write until all are active.
   */
  async manyUnits(units: Record<string, string>, start: readonly string[] = Object.keys(units)): Promise<number> {
    const names = start;
    const paths = new Set(names.map(unitObjectPath));
    const left = new Set(paths);
    let done: (t: number) => void = () => {};
    const all = new Promise<number>((r) => (done = r));
    this.signals.onActive = (path, active, now) => {
      if (active === 'active' && left.delete(path) && left.size === 0) done(now);
    };
    const t0 = performance.now();
    for (const [unit, text] of Object.entries(units)) this.writeUnit(unit, text);
    await Promise.all(names.map((u) => this.mgr.startUnit(u)));
    const t = await all;
    this.signals.onActive = null;
    return t - t0;
  }

  /** Stop every unit made here and remove its file (systemd then forgets them). */
  async stop(): Promise<void> {
    await mapLimit([...this.made], 32, (u) => this.mgr.stopUnit(u).catch(() => 'failed'));
    for (const u of this.made) rmSync(join(this.target.unitDir, u), { force: true });
    this.made.clear();
  }

  close(): void {
    this.signals.close();
    this.mgr.close();
  }
}
