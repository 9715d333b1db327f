/**
 * One engine pass, planned (pure): what is stored + which machines are really there -> the writes
 * that make the schedule, the rollout record and the engine's status what they should be.
 *
 *   placement   planSchedule (src/engine/schedule.ts): where every placed unit runs; a machine
 *               that is silent but not gone (src/engine/liveness.ts) keeps what it has.
 *   rollout     planRollout (src/engine/rollout.ts): which content each machine is told, and how
 *               far the commit's rollout got. Global units are placed by the agents themselves
 *               (from the desired root); the engine writes them a schedule entry (a pin) only
 *               while their rollout is staged, to hold back the machines whose turn has not come.
 *   writes      only the difference with what is stored.
 */
import { DEFAULT_ROLLOUT, isUngated } from '../desired/policy.js';
import { metadataMatches } from '../fleet/constraints.js';
import type { Logger } from '../log.js';
import {
  ENGINE_STATUS,
  scheduleBatchKey,
  scheduleKey,
  unscheduledKey,
  type DesiredEntry,
  type DesiredRoot,
  type EngineStatus,
  type MachineRecord,
  type RolloutRecord,
  type ScheduleEntry,
  type UnitStateReport,
  type UnscheduledEntry,
} from '../store/keys.js';
import { currentPlacement, type StoredSchedule } from '../store/readers.js';
import { rolloutOps } from '../store/rollouts.js';
import type { Op } from '../store/store.js';
import { isTemplate, templateOf } from '../unit/names.js';
import type { LivenessVerdict } from './liveness.js';
import { placementKey, planRollout, type RolloutSubject, type UnitHealth } from './rollout.js';
import type { Decision } from './schedule.js';
import { planScheduleIncremental, type PlanMemo } from './schedule-incremental.js';

/** What the last pass did (for tests, status and the benchmark). */
export interface PassReport {
  /** Store revision the pass read the schedule at. */
  revision: number;
  units: number;
  machines: number;
  assigned: number;
  unscheduled: number;
  decisions: Decision[];
  /** Operations written (puts + deletes) and transactions used. */
  ops: number;
  txns: number;
  /** The latest rollout as this pass left it. */
  rollout: { commit: string; state: RolloutRecord['state'] };
  /** Whether the placement was planned for the changed units only, or in full (and why). */
  planned: 'incremental' | 'full';
  plannedWhy?: string;
  /** Milliseconds reading, planning, writing. */
  readMs: number;
  planMs: number;
  writeMs: number;
}

export interface PassInput {
  now: number;
  root: DesiredRoot;
  units: readonly DesiredEntry[];
  liveness: LivenessVerdict;
  schedule: StoredSchedule;
  /** unit -> why it is unscheduled, as stored (null: malformed). */
  reasons: ReadonlyMap<string, string | null>;
  /** `machine/unit` -> the agent's report. */
  reports: ReadonlyMap<string, UnitStateReport>;
  /** The latest rollout record, and its stored JSON (to write only what changed). */
  rollout: { record: RolloutRecord | null; head: string | null; shards: ReadonlyMap<string, string> };
  paused: boolean;
  /** The engine status as stored (JSON), or null. */
  status: string | null;
  /** The previous pass's placement (incremental planning), or null. */
  memo?: PlanMemo | null;
}

export interface PassPlan {
  ops: Op[];
  /** Keys of deletes that move a unit to another machine (written first). */
  moves: Set<string>;
  decisions: Decision[];
  assigned: number;
  unscheduled: number;
  record: RolloutRecord;
  superseded: RolloutRecord | null;
  /** When the plan may change without new input (a grace, a hold or a rollout deadline ends). */
  nextCheckAt: number | null;
  /** The latest rollout record as stored once `ops` are written (the next pass's `rollout`). */
  stored: { record: RolloutRecord; head: string; shards: Map<string, string> };
  /** The engine status as stored once `ops` are written. */
  statusJson: string;
  /** This pass's placement, for the next pass; and whether it placed only what changed. */
  memo: PlanMemo;
  planned: 'incremental' | 'full';
  plannedWhy: string;
}

export function planPass(input: PassInput): PassPlan {
  const { units, liveness: v, schedule } = input;
  const globals = units.filter((u) => u.constraints.global && u.state !== 'inactive');
  const globalNames = new Set(globals.map((u) => u.name));

  // Placement. Global units' pins are not placements: the planner never sees them.
  const held = new Set(v.held);
  const placedSchedule: StoredSchedule = {
    ...schedule,
    byUnit: new Map([...schedule.byUnit].filter(([u]) => !globalNames.has(u))),
  };
  const known: MachineRecord[] = [...v.live, ...v.held.map((id) => stub(id))];
  const current = currentPlacement(placedSchedule, known);
  const placed = planScheduleIncremental(input.memo ?? null, { units, machines: v.live, current, held });
  const plan = placed.result;

  // The rollout: subjects, where they run, what each machine is told now and how healthy it is.
  const byName = new Map(units.map((u) => [u.name, u]));
  const { subjects, placement, told } = rolloutView({
    units,
    assign: plan.assign,
    live: v.live,
    held: v.held,
    schedule,
    reports: input.reports,
  });
  const health = new Map<string, UnitHealth>();
  for (const [key, r] of input.reports) health.set(key, healthOf(r));
  const ro = planRollout({
    now: input.now,
    commit: input.root.commit,
    units: subjects,
    placement,
    told,
    health,
    record: input.rollout.record,
    paused: input.paused,
  });
  const staged = new Set(
    ro.record.groups.filter((g) => !isUngated(g.policy) || g.state === 'reverted').map((g) => g.unit),
  );

  // The schedule's difference.
  const ops: Op[] = [];
  const moves = new Set<string>();
  for (const m of schedule.openBatches) ops.push({ op: 'delete', key: scheduleBatchKey(m) });
  for (const unit of new Set([...schedule.byUnit.keys(), ...placement.keys()])) {
    const e = byName.get(unit);
    const isGlobal = globalNames.has(unit);
    const pinned = isGlobal && staged.has(subjectGroup(unit));
    const targets = isGlobal
      ? pinned
        ? placement.get(unit)!
        : []
      : plan.assign.has(unit)
        ? [plan.assign.get(unit)!]
        : [];
    const stored = schedule.byUnit.get(unit);
    for (const m of stored?.keys() ?? []) {
      if (targets.includes(m)) continue;
      const key = scheduleKey(m, unit);
      ops.push({ op: 'delete', key });
      if (targets.length > 0) moves.add(key);
    }
    for (const m of targets) {
      const want = entryFor(e!, ro.hashes.get(placementKey(m, unit)) ?? e!.hash);
      const have = stored?.get(m);
      if (!have || !sameEntry(have, want))
        ops.push({ op: 'put', key: scheduleKey(m, unit), value: JSON.stringify(want) });
    }
  }
  for (const [unit, reason] of plan.unscheduled) {
    if (input.reasons.get(unit) === reason) continue;
    ops.push({ op: 'put', key: unscheduledKey(unit), value: JSON.stringify({ reason } satisfies UnscheduledEntry) });
  }
  for (const unit of input.reasons.keys())
    if (!plan.unscheduled.has(unit)) ops.push({ op: 'delete', key: unscheduledKey(unit) });

  // The rollout record (and the one it superseded), then the engine's status.
  const none = { head: null, shards: new Map<string, string>() };
  if (ro.superseded) ops.push(...rolloutOps(ro.superseded, input.rollout).ops);
  const latest = rolloutOps(
    ro.record,
    !ro.superseded && ro.record.commit === input.rollout.record?.commit ? input.rollout : none,
  );
  ops.push(...latest.ops);
  const status: EngineStatus = {
    holding: v.holding
      ? {
          silent: v.holding.silent,
          known: v.holding.known,
          since: new Date(v.holding.since).toISOString(),
          until: new Date(v.holding.until).toISOString(),
        }
      : null,
    silent: [...v.held],
  };
  const statusJson = JSON.stringify(status);
  if (statusJson !== input.status) ops.push({ op: 'put', key: ENGINE_STATUS, value: statusJson });

  const next = [v.nextChangeAt, ro.nextCheckAt].filter((t): t is number => t !== null);
  return {
    ops,
    moves,
    decisions: plan.decisions,
    assigned: plan.assign.size,
    unscheduled: plan.unscheduled.size,
    record: ro.record,
    superseded: ro.superseded,
    nextCheckAt: next.length ? Math.min(...next) : null,
    stored: { record: ro.record, head: latest.head, shards: latest.shards },
    statusJson,
    memo: placed.memo,
    planned: placed.planned,
    plannedWhy: placed.why ?? '',
  };

  function subjectGroup(unit: string): string {
    return subjects.find((s) => s.name === unit)?.group ?? unit;
  }
}

/** Each placement decision of a pass, logged. */
export function logDecisions(log: Logger, decisions: readonly Decision[]): void {
  for (const d of decisions) {
    const moved = { ...(d.from ? { from: d.from } : {}), ...(d.to ? { to: d.to } : {}) };
    log.info('schedule', { unit: d.unit, ...moved, reason: d.reason });
  }
}

/** What the rollout planner works on: its subjects, where they run and what each machine is told now. */
export interface RolloutView {
  subjects: RolloutSubject[];
  placement: Map<string, string[]>;
  told: Map<string, string>;
}

/**
 * The rollout planner's view of a placement (pure; `gitfleet plan --etcd` previews from it too):
 * placed units where `assign` puts them, Global units on every live machine whose metadata
 * matches (and silent ones that still report them); a machine is told what its schedule entry
 * names, or for a Global unit without one, what its agent reports running.
 */
export function rolloutView(input: {
  units: readonly DesiredEntry[];
  assign: ReadonlyMap<string, string>;
  live: readonly MachineRecord[];
  held: readonly string[];
  schedule: StoredSchedule;
  reports: ReadonlyMap<string, UnitStateReport>;
}): RolloutView {
  const globals = input.units.filter((u) => u.constraints.global && u.state !== 'inactive');
  const byName = new Map(input.units.map((u) => [u.name, u]));
  const placement = new Map<string, string[]>();
  for (const [unit, m] of input.assign) placement.set(unit, [m]);
  for (const g of globals) {
    const ms = input.live.filter((m) => metadataMatches(m.metadata, g.constraints.machineMetadata)).map((m) => m.id);
    for (const id of input.held) if (input.reports.has(placementKey(id, g.name))) ms.push(id);
    placement.set(g.name, ms.sort());
  }
  const told = new Map<string, string>();
  for (const [unit, byMachine] of input.schedule.byUnit) {
    for (const [m, e] of byMachine) if (e) told.set(placementKey(m, unit), e.hash);
  }
  for (const g of globals) {
    for (const m of placement.get(g.name)!) {
      const key = placementKey(m, g.name);
      const r = input.reports.get(key);
      if (!told.has(key) && r?.hash) told.set(key, r.hash);
    }
  }
  const subjects: RolloutSubject[] = [];
  for (const name of placement.keys()) {
    const e = byName.get(name)!;
    const tmpl = templateOf(name);
    const group = tmpl && !isTemplate(name) ? tmpl : name;
    subjects.push({ name, group, hash: e.hash, policy: e.rollout ?? DEFAULT_ROLLOUT });
  }
  subjects.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { subjects, placement, told };
}

/** The schedule entry that tells a machine to run `hash` of unit `e`. */
function entryFor(e: DesiredEntry, hash: string): ScheduleEntry {
  const want: ScheduleEntry = { hash, state: e.state as ScheduleEntry['state'] };
  if (e.rollout && e.rollout.minHealthyMs !== DEFAULT_ROLLOUT.minHealthyMs) want.minHealthy = e.rollout.minHealthyMs;
  if (e.health) want.health = e.health;
  return want;
}

function sameEntry(a: ScheduleEntry, b: ScheduleEntry): boolean {
  return (
    a.hash === b.hash &&
    a.state === b.state &&
    a.minHealthy === b.minHealthy &&
    JSON.stringify(a.health) === JSON.stringify(b.health)
  );
}

/** A report's health; an agent that does not judge health (an older one) is judged by its state. */
function healthOf(r: UnitStateReport): UnitHealth {
  if (r.health) return { hash: r.hash, state: r.health.state, ...(r.health.reason ? { reason: r.health.reason } : {}) };
  if (r.active === 'failed') return { hash: r.hash, state: 'failed', reason: `${r.active}/${r.sub}` };
  return { hash: r.hash, state: r.active === 'active' ? 'healthy' : 'starting' };
}

function stub(id: string): MachineRecord {
  return { id, address: '', metadata: {}, version: '', startedAt: '' };
}
