/**
 * A read-only snapshot of the cluster for the CLI's listings: what the controller, engine and
 * agents wrote (src/store/keys.ts). Reads a handful of prefixes; never writes.
 */
import { readDesiredEntries, readRoot, readStatus } from '../controller/apply.js';
import {
  ENGINE_LEADER,
  MACHINES_PREFIX,
  SCHEDULE_PREFIX,
  UNIT_STATE_PREFIX,
  UNSCHEDULED_PREFIX,
  bodyKey,
  splitMachineUnit,
  type ControllerStatus,
  type DesiredEntry,
  type DesiredRoot,
  type MachineRecord,
  type ScheduleEntry,
  type UnitStateReport,
} from '../store/keys.js';
import type { Store } from '../store/store.js';

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
}

function parse<T>(value: string): T | null {
  try {
    return JSON.parse(value) as T;
  } catch {
    return null;
  }
}

export async function readClusterView(
  store: Store,
  parts: { units?: boolean; reports?: boolean } = {},
): Promise<ClusterView> {
  const [{ root }, status, leaderKv, machinesR] = await Promise.all([
    readRoot(store),
    readStatus(store),
    store.get(ENGINE_LEADER),
    store.range(MACHINES_PREFIX),
  ]);
  const machines = machinesR.kvs
    .map((kv) => parse<MachineRecord>(kv.value))
    .filter((m): m is MachineRecord => m !== null);
  machines.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const view: ClusterView = {
    root,
    status,
    leader: leaderKv?.value ?? null,
    units: [],
    machines,
    schedule: new Map(),
    unscheduled: new Map(),
    reports: [],
  };
  if (parts.units !== false && root) {
    const [units, sched, unsched] = await Promise.all([
      readDesiredEntries(store, root),
      store.range(SCHEDULE_PREFIX),
      store.range(UNSCHEDULED_PREFIX),
    ]);
    view.units = units;
    for (const kv of sched.kvs) {
      const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX);
      const entry = parse<ScheduleEntry>(kv.value);
      if (!mu || !entry) continue;
      const list = view.schedule.get(mu.unit) ?? [];
      list.push({ machine: mu.machine, entry });
      view.schedule.set(mu.unit, list);
    }
    for (const kv of unsched.kvs) {
      const r = parse<{ reason: string }>(kv.value);
      view.unscheduled.set(kv.key.slice(UNSCHEDULED_PREFIX.length), r?.reason ?? '');
    }
  }
  if (parts.reports !== false) {
    const states = await store.range(UNIT_STATE_PREFIX);
    for (const kv of states.kvs) {
      const mu = splitMachineUnit(kv.key, UNIT_STATE_PREFIX);
      const report = parse<UnitStateReport>(kv.value);
      if (mu && report) view.reports.push({ unit: mu.unit, machine: mu.machine, report });
    }
    view.reports.sort((a, b) =>
      a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0,
    );
  }
  return view;
}

export async function readBody(store: Store, hash: string): Promise<string | null> {
  return (await store.get(bodyKey(hash)))?.value ?? null;
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
