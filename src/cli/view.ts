/**
 * A read-only snapshot of the cluster for the CLI's listings: what the controller, engine and
 * agents wrote, read through the store's readers (src/store/readers.ts). Never writes.
 */
import {
  ENGINE_STATUS,
  type ControllerStatus,
  type DesiredEntry,
  type DesiredRoot,
  type EngineStatus,
  type MachineRecord,
  type RolloutRecord,
  type ScheduleEntry,
  type UnitStateReport,
} from '../store/keys.js';
import {
  readDesiredEntries,
  readLeader,
  readMachines,
  readReports,
  readRoot,
  readSchedule,
  readStatus,
  readUnscheduled,
} from '../store/readers.js';
import { decodeEngineStatus, MalformedRecordError } from '../store/records.js';
import { readRollout } from '../store/rollouts.js';
import type { Store } from '../store/store.js';
import { withStore, type StoreFlags } from './common.js';

export interface ClusterView {
  root: DesiredRoot | null;
  status: ControllerStatus;
  leader: string | null;
  units: DesiredEntry[];
  machines: MachineRecord[];
  /** unit -> machines it is scheduled on (one, except Global units which agents run themselves). */
  schedule: Map<string, { machine: string; entry: ScheduleEntry }[]>;
  unscheduled: Map<string, string>;
  /** Reports from agents, sorted by unit then machine. */
  reports: { unit: string; machine: string; report: UnitStateReport }[];
  /** Records left out because they are malformed (each names its key). */
  malformed: MalformedRecordError[];
  /** The latest rollout, and what the leading engine holds back (null: nothing recorded). */
  rollout: RolloutRecord | null;
  engine: EngineStatus | null;
}

export async function readClusterView(
  store: Store,
  parts: { units?: boolean; reports?: boolean } = {},
): Promise<ClusterView> {
  const malformed: MalformedRecordError[] = [];
  const onBad = (e: MalformedRecordError) => malformed.push(e);
  const [{ root }, status, leader, machines, rollout, engineKv] = await Promise.all([
    readRoot(store),
    readStatus(store),
    readLeader(store),
    readMachines(store, onBad),
    readRollout(store),
    store.get(ENGINE_STATUS),
  ]);
  let engine: EngineStatus | null = null;
  if (engineKv) {
    try {
      engine = decodeEngineStatus(engineKv);
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      onBad(e);
    }
  }
  const view: ClusterView = {
    root,
    status,
    leader,
    units: [],
    machines,
    schedule: new Map(),
    unscheduled: new Map(),
    reports: [],
    malformed,
    rollout,
    engine,
  };
  if (parts.units !== false && root) {
    const [units, sched, unsched] = await Promise.all([
      readDesiredEntries(store, root),
      readSchedule(store, onBad),
      readUnscheduled(store, onBad),
    ]);
    view.units = units;
    for (const [unit, byMachine] of sched.byUnit) {
      const list: { machine: string; entry: ScheduleEntry }[] = [];
      for (const [machine, entry] of byMachine) if (entry) list.push({ machine, entry });
      if (list.length) view.schedule.set(unit, list);
    }
    for (const [unit, reason] of unsched) view.unscheduled.set(unit, reason ?? '');
  }
  if (parts.reports !== false) view.reports = await readReports(store, onBad);
  return view;
}

/**
 * The view for one CLI listing: the store opened as the flags say, read, closed; one line on
 * stderr per record left out, so a listing never hides one silently.
 */
export async function readClusterViewFor(
  flags: StoreFlags,
  parts: { units?: boolean; reports?: boolean } = {},
): Promise<ClusterView> {
  const view = await withStore(flags, (s) => readClusterView(s, parts));
  for (const e of view.malformed) warnLeftOut(e);
  return view;
}

/** A record a reader left out, said on stderr (the command goes on without it). */
export function warnLeftOut(e: MalformedRecordError): void {
  process.stderr.write(`gitfleet: warning: ${e.message} (left out)\n`);
}

/** fleet's unit state from what systemd reports: launched (running), loaded, failed or inactive. */
export function currentState(report: UnitStateReport | undefined): 'launched' | 'loaded' | 'failed' | 'inactive' {
  if (!report) return 'inactive';
  if (report.active === 'failed') return 'failed';
  if (
    report.active === 'active' ||
    report.active === 'activating' ||
    report.active === 'reloading' ||
    report.active === 'deactivating'
  )
    return 'launched';
  if (report.load === 'loaded') return 'loaded';
  return 'inactive';
}

/** A machine as fleetctl shows it: short id (8 chars) unless --full, and its address. */
export function machineLabel(id: string, address: string | undefined, full: boolean): string {
  const short = full ? id : id.slice(0, 8);
  return address ? `${short}/${address}` : short;
}
