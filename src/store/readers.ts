/**
 * The readers of stored state: what the controller, the engine and the CLI read from the store,
 * each read one way for all of them (keys from keys.ts, values decoded by records.ts). A record
 * that must exist and does not, or one that is malformed, is a MissingRecordError or a
 * MalformedRecordError naming the key; readers of many records of one kind hand each bad one to
 * `onBad` and leave it out (or, for the schedule, keep its key so the engine can overwrite it).
 */
import {
  CONTROLLER_STATUS,
  DESIRED_ROOT,
  ENGINE_LEADER,
  MACHINES_PREFIX,
  SCHEDULE_BATCH,
  SCHEDULE_PREFIX,
  UNIT_STATE_PREFIX,
  UNSCHEDULED_PREFIX,
  bodyKey,
  machineKey,
  shardKey,
  shardOf,
  splitMachineUnit,
  type ControllerStatus,
  type DesiredEntry,
  type DesiredRoot,
  type MachineRecord,
  type ScheduleEntry,
  type UnitStateReport,
} from './keys.js';
import {
  decodeAll,
  decodeUnitBody,
  decodeControllerStatusOrEmpty,
  decodeDesiredRoot,
  decodeLeader,
  decodeMachineRecord,
  decodeOr,
  decodeScheduleEntry,
  decodeUnitStateReport,
  decodeUnscheduledEntry,
  requireShard,
  type MalformedRecordError,
} from './records.js';
import type { Store } from './store.js';
import type { UnitFiles } from '../unit/body.js';

/** Where a reader of many records reports one it left out (or kept without a value). */
export type OnBadRecord = (e: MalformedRecordError) => void;

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The desired root in force (null before the first apply), and its mod revision (0 when absent). */
export async function readRoot(store: Store): Promise<{ root: DesiredRoot | null; modRevision: number }> {
  const kv = await store.get(DESIRED_ROOT);
  if (!kv) return { root: null, modRevision: 0 };
  return { root: decodeDesiredRoot(kv), modRevision: kv.modRevision };
}

/** The controller status, with the mod revision to guard a rewrite on (null when never written). */
export async function readStatusRecord(
  store: Store,
): Promise<{ status: ControllerStatus; modRevision: number | null }> {
  const kv = await store.get(CONTROLLER_STATUS);
  return { status: decodeControllerStatusOrEmpty(kv), modRevision: kv?.modRevision ?? null };
}

/** The controller status (the empty one when nothing was ever applied or refused). */
export async function readStatus(store: Store): Promise<ControllerStatus> {
  return (await readStatusRecord(store)).status;
}

/**
 * Every unit of `root`, in the root's shard order. Shards are immutable (content-addressed), so
 * `cache` (shard hash -> units) never goes stale; the caller prunes it. A shard the root names but
 * the store lacks is a MissingRecordError.
 */
export async function readRootUnits(
  store: Store,
  root: DesiredRoot,
  cache?: Map<string, DesiredEntry[]>,
): Promise<DesiredEntry[]> {
  const hashes = Object.values(root.shards);
  const missing = hashes.filter((h) => !cache?.has(h));
  const read = new Map<string, DesiredEntry[]>();
  const kvs = missing.length ? await store.getMany(missing.map(shardKey)) : [];
  kvs.forEach((kv, i) => {
    const h = missing[i]!;
    const units = requireShard(kv, shardKey(h), root.commit).units;
    read.set(h, units);
    cache?.set(h, units);
  });
  const out: DesiredEntry[] = [];
  for (const h of hashes) out.push(...(read.get(h) ?? cache!.get(h)!));
  return out;
}

/** Every unit of `root`, sorted by name (see readRootUnits). */
export async function readDesiredEntries(
  store: Store,
  root: DesiredRoot,
  cache?: Map<string, DesiredEntry[]>,
): Promise<DesiredEntry[]> {
  return (await readRootUnits(store, root, cache)).sort(byName);
}

/** One unit's entry in `root` (null when the root has no such unit): only its shard is read. */
export async function readDesiredEntry(store: Store, root: DesiredRoot, name: string): Promise<DesiredEntry | null> {
  const h = root.shards[shardOf(name)];
  if (!h) return null;
  const shard = requireShard(await store.get(shardKey(h)), shardKey(h), root.commit);
  return shard.units.find((u) => u.name === name) ?? null;
}

/** A unit body by content hash, checked against it, as its files; null when the store lacks it. */
export async function readBody(store: Store, hash: string): Promise<UnitFiles | null> {
  const kv = await store.get(bodyKey(hash));
  return kv ? decodeUnitBody(kv, hash) : null;
}

/** The engine that leads, or null when none does. */
export async function readLeader(store: Store): Promise<string | null> {
  const kv = await store.get(ENGINE_LEADER);
  return kv ? decodeLeader(kv) : null;
}

/**
 * The live machines, in id order, exactly as the engine schedules onto them (and `plan --etcd`
 * previews). A machine's id is its key's; a key that is not one machine's is skipped, and a
 * malformed record goes to `onBad` (that machine counts as not live).
 */
export async function readMachines(store: Store, onBad: OnBadRecord): Promise<MachineRecord[]> {
  const { kvs } = await store.range(MACHINES_PREFIX);
  const mine = kvs.filter((kv) => {
    const id = kv.key.slice(MACHINES_PREFIX.length);
    return id !== '' && !id.includes('/');
  });
  return decodeAll(mine, decodeMachineRecord, onBad).map(({ kv, value }) => ({
    ...value,
    id: kv.key.slice(MACHINES_PREFIX.length),
  }));
}

/** One machine's record, or null when it is not registered. */
export async function readMachine(store: Store, id: string): Promise<MachineRecord | null> {
  const kv = await store.get(machineKey(id));
  return kv ? { ...decodeMachineRecord(kv), id } : null;
}

/** The schedule as stored: unit -> machine -> entry (null: a malformed entry, reported to onBad). */
export interface StoredSchedule {
  /** Store revision the schedule was read at. */
  revision: number;
  byUnit: Map<string, Map<string, ScheduleEntry | null>>;
  /** Machines whose batch marker (SCHEDULE_BATCH) is present: a multi-transaction write was cut short. */
  openBatches: string[];
}

export async function readSchedule(store: Store, onBad: OnBadRecord): Promise<StoredSchedule> {
  const { kvs, revision } = await store.range(SCHEDULE_PREFIX);
  const byUnit = new Map<string, Map<string, ScheduleEntry | null>>();
  const openBatches: string[] = [];
  for (const kv of kvs) {
    const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX);
    if (!mu) continue;
    if (mu.unit === SCHEDULE_BATCH) {
      openBatches.push(mu.machine);
      continue;
    }
    let byMachine = byUnit.get(mu.unit);
    if (!byMachine) byUnit.set(mu.unit, (byMachine = new Map()));
    byMachine.set(mu.machine, decodeOr(kv, decodeScheduleEntry, onBad) ?? null);
  }
  return { revision, byUnit, openBatches };
}

/**
 * Where each scheduled unit runs now, as the planner takes it: a unit stored on several machines
 * (which the engine never writes) counts on the live one with the lowest id, else the lowest id.
 */
export function currentPlacement(schedule: StoredSchedule, machines: readonly MachineRecord[]): Map<string, string> {
  const live = new Set(machines.map((m) => m.id));
  const current = new Map<string, string>();
  for (const [unit, byMachine] of schedule.byUnit) {
    const ms = [...byMachine.keys()].sort();
    current.set(unit, ms.find((m) => live.has(m)) ?? ms[0]!);
  }
  return current;
}

/** Why each unscheduled unit is on no machine (null: a malformed record, reported to onBad). */
export async function readUnscheduled(store: Store, onBad: OnBadRecord): Promise<Map<string, string | null>> {
  const { kvs } = await store.range(UNSCHEDULED_PREFIX);
  const out = new Map<string, string | null>();
  for (const kv of kvs) {
    out.set(kv.key.slice(UNSCHEDULED_PREFIX.length), decodeOr(kv, decodeUnscheduledEntry, onBad)?.reason ?? null);
  }
  return out;
}

/** What agents report of their units, sorted by unit then machine; malformed reports go to onBad. */
export async function readReports(
  store: Store,
  onBad: OnBadRecord,
): Promise<{ unit: string; machine: string; report: UnitStateReport }[]> {
  const { kvs } = await store.range(UNIT_STATE_PREFIX);
  const out: { unit: string; machine: string; report: UnitStateReport }[] = [];
  for (const { kv, value } of decodeAll(kvs, decodeUnitStateReport, onBad)) {
    const mu = splitMachineUnit(kv.key, UNIT_STATE_PREFIX);
    if (mu) out.push({ unit: mu.unit, machine: mu.machine, report: value });
  }
  return out.sort((a, b) =>
    a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0,
  );
}
