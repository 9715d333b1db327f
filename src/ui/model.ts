/**
 * Pure: the cluster as the page shows it, in sections of rows keyed by id. The server keeps the
 * last rows it sent and pushes only rows that changed (events.ts); the page keeps the same maps
 * and redraws a section when a patch for it arrives. A section is one function here, one map in
 * the stream and one renderer in static/app.js: rollouts are the section waiting for its records.
 */
import { rolloutHeadKey, rolloutShardKey } from '../store/keys.js';
import { decodeRolloutHead, decodeRolloutShard, MalformedRecordError } from '../store/records.js';
import { progressLine } from '../store/rollouts.js';
import type { KeyValue } from '../store/store.js';
import type { DesiredStateName } from '../desired/types.js';
import type { ControllerStatus, DesiredEntry, MachineRecord, ScheduleEntry, UnitStateReport } from '../store/keys.js';

/** What the model reads: ClusterState's fields (state.ts), as plain data. */
export interface ClusterSnapshot {
  status: ControllerStatus;
  units: ReadonlyMap<string, DesiredEntry>;
  leader: string | null;
  machines: ReadonlyMap<string, MachineRecord>;
  schedule: ReadonlyMap<string, ReadonlyMap<string, ScheduleEntry>>;
  unscheduled: ReadonlyMap<string, string>;
  reports: ReadonlyMap<string, ReadonlyMap<string, UnitStateReport>>;
  problems: ReadonlyMap<string, string>;
  /** Every prefix is read and watched (false while re-reading after a failure). */
  live: boolean;
  /** Why reading the cluster fails, while it does. */
  error: string | null;
  /** The newest rollout's commit, and the rollout records as stored (decoded here). */
  latestRollout: string | null;
  rolloutKvs: ReadonlyMap<string, KeyValue>;
}

export const SECTIONS = ['summary', 'machines', 'units', 'rollouts'] as const;
export type SectionName = (typeof SECTIONS)[number];
export type Sections = Record<SectionName, Map<string, unknown>>;

export interface SummaryRow {
  applied: ControllerStatus['applied'];
  refused: ControllerStatus['refused'];
  leader: string | null;
  machines: number;
  /** Units by desired state; `failed`: units some machine reports failed. */
  units: { launched: number; loaded: number; inactive: number; failed: number };
  /** Records that could not be read: key and what is wrong. */
  problems: { key: string; problem: string }[];
  live: boolean;
  error: string | null;
}

export interface MachineRow {
  id: string;
  address: string;
  metadata: Record<string, string>;
  version: string;
  startedAt: string;
  /** Units placed on it or reported by it. */
  units: number;
  active: number;
  failed: number;
}

export interface Placement {
  machine: string;
  /** The engine placed it here (Global units are run by every matching agent without a placement). */
  scheduled: boolean;
  load: string | null;
  active: string | null;
  sub: string | null;
  /** Hash of what the machine runs ('' unknown, null no report). */
  hash: string | null;
  /** The machine runs other content than the applied commit says. */
  outdated: boolean;
  /** Times its agent restarted it after finding it stopped or failed. */
  driftRepairs: number;
}

export interface UnitRow {
  name: string;
  /** null: not in the applied commit (being removed where it still runs). */
  desired: DesiredStateName | null;
  hash: string | null;
  global: boolean;
  triggers: string | null;
  /** Why it is on no machine, as the engine said. */
  unscheduled: string | null;
  machines: Placement[];
}

/** The newest commit's rollout, one row per unit (a template's instances are one), with each machine. */
export interface RolloutRow {
  commit: string;
  /** The whole rollout's state: progressing, succeeded, failed, reverted, paused, superseded. */
  state: string;
  reason: string | null;
  unit: string;
  change: string;
  /** "2/3 healthy, 1 updating" */
  progress: string;
  machines: { machine: string; state: string; reason: string | null }[];
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function summaryRow(s: ClusterSnapshot): SummaryRow {
  const units = { launched: 0, loaded: 0, inactive: 0, failed: 0 };
  for (const u of s.units.values()) units[u.state]++;
  for (const byMachine of s.reports.values()) {
    if ([...byMachine.values()].some((r) => r.active === 'failed')) units.failed++;
  }
  return {
    applied: s.status.applied,
    refused: s.status.refused,
    leader: s.leader,
    machines: s.machines.size,
    units,
    problems: [...s.problems].sort(([a], [b]) => byString(a, b)).map(([key, problem]) => ({ key, problem })),
    live: s.live,
    error: s.error,
  };
}

export function unitRow(s: ClusterSnapshot, name: string): UnitRow | null {
  const d = s.units.get(name);
  const sched = s.schedule.get(name);
  const reports = s.reports.get(name);
  if (!d && !sched && !reports) return null;
  const machines = [...new Set([...(sched?.keys() ?? []), ...(reports?.keys() ?? [])])].sort(byString);
  return {
    name,
    desired: d?.state ?? null,
    hash: d?.hash ?? null,
    global: d?.constraints.global ?? false,
    triggers: d?.triggers ?? null,
    unscheduled: s.unscheduled.get(name) ?? null,
    machines: machines.map((machine) => {
      const r = reports?.get(machine);
      return {
        machine,
        scheduled: sched?.has(machine) ?? false,
        load: r?.load ?? null,
        active: r?.active ?? null,
        sub: r?.sub ?? null,
        hash: r?.hash ?? null,
        outdated: Boolean(d && r?.hash && r.hash !== d.hash),
        driftRepairs: r?.driftRepairs ?? 0,
      };
    }),
  };
}

export function unitRows(s: ClusterSnapshot): Map<string, UnitRow> {
  const names = new Set([...s.units.keys(), ...s.schedule.keys(), ...s.reports.keys()]);
  const out = new Map<string, UnitRow>();
  for (const name of [...names].sort(byString)) out.set(name, unitRow(s, name)!);
  return out;
}

export function machineRows(s: ClusterSnapshot): Map<string, MachineRow> {
  const count = new Map<string, { units: Set<string>; active: number; failed: number }>();
  const of = (m: string) => {
    let c = count.get(m);
    if (!c) count.set(m, (c = { units: new Set(), active: 0, failed: 0 }));
    return c;
  };
  for (const [unit, byMachine] of s.schedule) for (const m of byMachine.keys()) of(m).units.add(unit);
  for (const [unit, byMachine] of s.reports) {
    for (const [m, r] of byMachine) {
      const c = of(m);
      c.units.add(unit);
      if (r.active === 'active') c.active++;
      if (r.active === 'failed') c.failed++;
    }
  }
  const out = new Map<string, MachineRow>();
  for (const id of [...s.machines.keys()].sort(byString)) {
    const m = s.machines.get(id)!;
    const c = count.get(id);
    out.set(id, {
      id,
      address: m.address,
      metadata: m.metadata,
      version: m.version,
      startedAt: m.startedAt,
      units: c?.units.size ?? 0,
      active: c?.active ?? 0,
      failed: c?.failed ?? 0,
    });
  }
  return out;
}

/** The newest rollout's rows; a malformed or half-written record shows nothing (its key is a problem). */
export function rolloutRows(s: ClusterSnapshot): Map<string, RolloutRow> {
  const out = new Map<string, RolloutRow>();
  const c = s.latestRollout;
  if (!c) return out;
  const headKv = s.rolloutKvs.get(rolloutHeadKey(c));
  if (!headKv) return out;
  try {
    const head = decodeRolloutHead(headKv);
    for (const idx of head.shards) {
      const kv = s.rolloutKvs.get(rolloutShardKey(c, idx));
      if (!kv) return out;
      for (const g of decodeRolloutShard(kv).groups) {
        out.set(`${c}/${g.unit}`, {
          commit: c,
          state: head.state,
          reason: head.reason,
          unit: g.unit,
          change: g.change,
          progress: progressLine(g).slice(g.unit.length + g.change.length + 3),
          machines: g.machines.map((m) => ({ machine: m.machine, state: m.state, reason: m.reason })),
        });
      }
    }
  } catch (e) {
    if (!(e instanceof MalformedRecordError)) throw e;
    return new Map();
  }
  return new Map([...out].sort((a, b) => byString(a[0], b[0])));
}

export function sectionsOf(s: ClusterSnapshot): Sections {
  return {
    summary: new Map([['cluster', summaryRow(s)]]),
    machines: machineRows(s),
    units: unitRows(s),
    rollouts: rolloutRows(s),
  };
}
