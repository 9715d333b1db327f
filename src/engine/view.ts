/**
 * What the leading engine knows of the store between passes: the machines, the schedule, the
 * unscheduled reasons and the agents' reports, each read once when this engine takes up
 * leadership (and again after a watch failed, a write's outcome is unknown, or the safety-net
 * resync is due) and kept up to date by watches and by the engine's own writes (src/store/mirror.ts).
 * The desired root and the rollout control key are followed the same way (their watches are the
 * engine's triggers). A pass then reads only the shards it lacks: the cost of a pass follows what
 * changed, not the size of the fleet. After a write whose outcome is unknown only what the engine
 * itself writes (the schedule, the unscheduled reasons, the rollout record, the status) is read
 * again; the machines and the reports are the agents' and stay followed.
 *
 * The latest rollout record and the engine status are written by the leader alone (fenced), so
 * within one term the copy this engine wrote is what is stored; they are read when the view loads.
 */
import {
  DESIRED_ROOT,
  ENGINE_STATUS,
  MACHINES_PREFIX,
  ROLLOUT_CONTROL,
  SCHEDULE_BATCH,
  SCHEDULE_PREFIX,
  UNIT_STATE_PREFIX,
  UNSCHEDULED_PREFIX,
  splitMachineUnit,
  type MachineRecord,
  type RolloutRecord,
  type ScheduleEntry,
  type UnitStateReport,
} from '../store/keys.js';
import { PrefixMirror } from '../store/mirror.js';
import type { StoredSchedule } from '../store/readers.js';
import {
  decodeMachineRecord,
  decodeScheduleEntry,
  decodeUnitStateReport,
  decodeUnscheduledEntry,
  type MalformedRecordError,
} from '../store/records.js';
import { readStoredRollout } from '../store/rollouts.js';
import type { KeyValue, Op, Store, WatchEvent } from '../store/store.js';
import { placementKey } from './rollout.js';

export interface StoredRollout {
  record: RolloutRecord | null;
  head: string | null;
  shards: ReadonlyMap<string, string>;
}

export class EngineView {
  /** Registered machines by id. */
  readonly machines = new Map<string, MachineRecord>();
  readonly schedule: StoredSchedule = { revision: 0, byUnit: new Map(), openBatches: [] };
  private readonly open = new Set<string>();
  /** unit -> why it is on no machine (null: malformed). */
  readonly reasons = new Map<string, string | null>();
  /** `machine/unit` -> the agent's report. */
  readonly reports = new Map<string, UnitStateReport>();
  rollout: StoredRollout = { record: null, head: null, shards: new Map() };
  status: string | null = null;
  /** The desired root and the rollout control key as stored (decoded by the pass), or null. */
  rootKv: KeyValue | null = null;
  controlKv: KeyValue | null = null;
  /** When the view was last read whole (ms, performance.now()); 0: it must be read before use. */
  loadedAt = 0;
  /** A write's outcome is unknown: what the engine writes must be read again before use. */
  ownStale = false;
  private readonly mirrors: PrefixMirror<unknown>[];
  /** The mirrors of what the engine writes. */
  private readonly own: PrefixMirror<unknown>[];

  constructor(onBad: (e: MalformedRecordError) => void) {
    const machineId = (key: string) => {
      const id = key.slice(MACHINES_PREFIX.length);
      return id !== '' && !id.includes('/') ? id : null;
    };
    const machines = new PrefixMirror<MachineRecord>(MACHINES_PREFIX, {
      decode: decodeMachineRecord,
      onBad,
      set: (key, v) => {
        const id = machineId(key);
        if (id === null) return;
        if (v) this.machines.set(id, { ...v, id });
        else this.machines.delete(id);
      },
      deleted: (key) => {
        const id = machineId(key);
        if (id !== null) this.machines.delete(id);
      },
    });
    const schedule = new PrefixMirror<ScheduleEntry | null>(SCHEDULE_PREFIX, {
      // A machine's batch marker is no entry: only its presence counts (setEntry).
      decode: (kv) => (kv.key.endsWith(`/${SCHEDULE_BATCH}`) ? null : decodeScheduleEntry(kv)),
      onBad,
      set: (key, v) => this.setEntry(key, v, true),
      deleted: (key) => this.setEntry(key, null, false),
    });
    const unscheduled = new PrefixMirror<{ reason: string }>(UNSCHEDULED_PREFIX, {
      decode: decodeUnscheduledEntry,
      onBad,
      set: (key, v) => this.reasons.set(key.slice(UNSCHEDULED_PREFIX.length), v?.reason ?? null),
      deleted: (key) => this.reasons.delete(key.slice(UNSCHEDULED_PREFIX.length)),
    });
    const reports = new PrefixMirror<UnitStateReport>(UNIT_STATE_PREFIX, {
      decode: decodeUnitStateReport,
      onBad,
      set: (key, v) => {
        const mu = splitMachineUnit(key, UNIT_STATE_PREFIX);
        if (!mu) return;
        if (v) this.reports.set(placementKey(mu.machine, mu.unit), v);
        else this.reports.delete(placementKey(mu.machine, mu.unit));
      },
      deleted: (key) => {
        const mu = splitMachineUnit(key, UNIT_STATE_PREFIX);
        if (mu) this.reports.delete(placementKey(mu.machine, mu.unit));
      },
    });
    const exact = (want: string, to: (kv: KeyValue | null) => void) =>
      new PrefixMirror<KeyValue>(want, {
        decode: (kv) => kv,
        set: (key, v) => key === want && to(v),
        deleted: (key) => key === want && to(null),
      });
    const root = exact(DESIRED_ROOT, (kv) => (this.rootKv = kv));
    const control = exact(ROLLOUT_CONTROL, (kv) => (this.controlKv = kv));
    this.own = [schedule, unscheduled] as PrefixMirror<unknown>[];
    this.mirrors = [machines, schedule, unscheduled, reports, root, control] as PrefixMirror<unknown>[];
  }

  private setEntry(key: string, v: ScheduleEntry | null, present: boolean): void {
    const mu = splitMachineUnit(key, SCHEDULE_PREFIX);
    if (!mu) return;
    if (mu.unit === SCHEDULE_BATCH) {
      if (present) this.open.add(mu.machine);
      else this.open.delete(mu.machine);
      this.schedule.openBatches = [...this.open].sort();
      return;
    }
    let byMachine = this.schedule.byUnit.get(mu.unit);
    if (present) {
      if (!byMachine) this.schedule.byUnit.set(mu.unit, (byMachine = new Map()));
      byMachine.set(mu.machine, v);
    } else if (byMachine) {
      byMachine.delete(mu.machine);
      if (byMachine.size === 0) this.schedule.byUnit.delete(mu.unit);
    }
  }

  /**
   * Read everything and follow it: `onEvents` after each batch of watch events is applied,
   * `onError` when a watch ended (call load again).
   */
  async load(store: Store, onEvents: (events: WatchEvent[]) => void, onError: (err: Error) => void): Promise<void> {
    this.loadedAt = 0;
    await this.read(store, this.mirrors, onEvents, onError);
    this.loadedAt = performance.now();
  }

  /** Read again (and follow) only what the engine writes, after a write whose outcome is unknown. */
  async reloadOwn(
    store: Store,
    onEvents: (events: WatchEvent[]) => void,
    onError: (err: Error) => void,
  ): Promise<void> {
    this.ownStale = true;
    await this.read(store, this.own, onEvents, onError);
    this.ownStale = false;
  }

  private async read(
    store: Store,
    mirrors: PrefixMirror<unknown>[],
    onEvents: (events: WatchEvent[]) => void,
    onError: (err: Error) => void,
  ): Promise<void> {
    const [revisions, rollout, status] = await Promise.all([
      Promise.all(mirrors.map((m) => m.load(store, onEvents, onError))),
      readStoredRollout(store),
      store.get(ENGINE_STATUS),
    ]);
    this.schedule.revision = Math.max(this.schedule.revision, ...revisions.map((r) => r.revision));
    this.rollout = rollout;
    this.status = status?.value ?? null;
  }

  /** A fenced transaction of this engine succeeded at `revision`. */
  written(ops: readonly Op[], revision: number): void {
    for (const m of this.mirrors) m.written(ops, revision);
    if (revision > this.schedule.revision) this.schedule.revision = revision;
  }

  /** Registered machines, by id. */
  machineList(): MachineRecord[] {
    return [...this.machines.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Stop following; the next use must load again. */
  async close(): Promise<void> {
    this.loadedAt = 0;
    await Promise.all(this.mirrors.map((m) => m.close()));
  }
}
