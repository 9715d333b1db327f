/**
 * 'unit-state' events from systemd's PropertiesChanged signals (src/systemd/manager.ts): the
 * signals of one event-loop turn coalesced per unit, what they leave out read once, consecutive
 * duplicates dropped, and batches emitted in order (one after another).
 *
 * A unit's LoadState is never in a PropertiesChanged signal. It is read (ListUnitsByNames) the
 * first time a unit signals, then kept until systemd removes the unit (UnitRemoved) or reloads
 * (Reloading): so a signal costs no read, where a read per signal batch used to cost the agent
 * most of its CPU when it started hundreds of units.
 */
import type * as dbus from 'dbus-next';
import { unitNameFromObjectPath, unitObjectPath } from './dbus.js';

export interface UnitStateOf {
  name: string;
  load: string;
  active: string;
  sub: string;
}

export interface UnitStatesOptions {
  /** Read the states of these units (what the signals left out). */
  read(names: string[]): Promise<UnitStateOf[]>;
  emit(s: UnitStateOf): void;
  /** A read failed (logged by the caller, unless the connection is gone). */
  failed(e: Error): void;
  /** The connection was closed by its owner: nothing more is emitted. */
  closed(): boolean;
}

export class UnitStates {
  /** Last state emitted per unit name (to drop duplicate emissions). */
  private readonly emitted = new Map<string, UnitStateOf>();
  /** Per unit object path: what this turn's PropertiesChanged signals said. */
  private readonly dirty = new Map<string, Partial<UnitStateOf>>();
  /** Per unit object path: its LoadState as last read. */
  private readonly loadStates = new Map<string, string>();
  private flushScheduled = false;
  /** The flush in flight: flushes run one after another, so states are emitted in order. */
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly o: UnitStatesOptions) {}

  /** A PropertiesChanged signal of the Unit interface of the unit at `path`. */
  changed(path: string, changed: Record<string, dbus.Variant>, invalidated: string[]): void {
    const d = this.dirty.get(path) ?? {};
    const take = (prop: string, key: 'load' | 'active' | 'sub') => {
      if (changed[prop] !== undefined) d[key] = String(changed[prop].value);
      else if (invalidated.includes(prop)) delete d[key];
    };
    take('LoadState', 'load');
    take('ActiveState', 'active');
    take('SubState', 'sub');
    this.dirty.set(path, d);
    this.scheduleFlush();
  }

  /** systemd reloaded: every LoadState may have changed. */
  reloading(): void {
    this.loadStates.clear();
  }

  /** systemd removed the unit at `path` (it may come back with another LoadState). */
  removed(path: string): void {
    this.loadStates.delete(path);
  }

  /** Signals may have been missed: forget everything they said. */
  forget(): void {
    this.emitted.clear();
    this.loadStates.clear();
    this.dirty.clear();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flushing.then(() => this.flush().catch((e: Error) => this.o.failed(e)));
    });
  }

  /** Emit one 'unit-state' per unit touched this turn; read what the signals left out. */
  private async flush(): Promise<void> {
    if (this.o.closed()) return;
    const batch = [...this.dirty];
    this.dirty.clear();
    const complete: UnitStateOf[] = [];
    const missing: string[] = [];
    for (const [path, d] of batch) {
      const name = unitNameFromObjectPath(path);
      if (name === null) continue;
      d.load ??= this.loadStates.get(path);
      if (d.load !== undefined && d.active !== undefined && d.sub !== undefined) {
        complete.push({ name, load: d.load, active: d.active, sub: d.sub });
      } else {
        missing.push(name);
      }
    }
    if (missing.length > 0) {
      const read = await this.o.read(missing);
      for (const s of read) this.loadStates.set(unitObjectPath(s.name), s.load);
      complete.push(...read);
    }
    for (const s of complete) {
      const last = this.emitted.get(s.name);
      if (last && last.load === s.load && last.active === s.active && last.sub === s.sub) continue;
      this.emitted.set(s.name, s);
      this.o.emit(s);
    }
  }
}
