/**
 * Incremental planning (pure): the schedule planner run only on the units a change touches, with
 * the same result as planning everything (test/engine/schedule-incremental.test.ts checks both
 * against each other).
 *
 * The previous plan's input and result are kept as a memo. When the machines are the same, the
 * stored schedule is what that plan placed, and every unit whose placement inputs changed (added,
 * removed, its state, constraints or trigger changed) is *isolated* (no Conflicts, Replaces,
 * MachineOf or trigger of its own, and no other unit names it or has a glob matching it), then
 * those units relate to the others only through the machines' load. Planning just them, on
 * machines that carry the others' placements as a base load, decides what the full plan would:
 * the others stay where they are (stability), and the changed ones are kept or placed least-loaded
 * in the same order. A unit whose content alone changed needs no placement at all. Anything else
 * (a machine joined or left, a related unit changed, many units changed) is planned in full; so is
 * any placement change while silent machines are held, but with the same machines and held ones
 * and no placement input changed, the plan is the memo's, held or not (passes that follow the
 * agents' reports while many machines are silent).
 */
import { triggerTarget } from '../fleet/constraints.js';
import { compileGlob, type CompiledGlob } from '../fleet/glob.js';
import type { DesiredEntry, MachineRecord } from '../store/keys.js';
import { planSchedule, type ScheduleInput, type ScheduleResult } from './schedule.js';

export interface PlanMemo {
  /** The units planned, by name. */
  units: ReadonlyMap<string, DesiredEntry>;
  /** The machines planned on (ids and metadata) and the silent ones held (src/engine/liveness.ts). */
  machines: string;
  result: ScheduleResult;
  /** Units placed per machine by `result`. */
  loads: ReadonlyMap<string, number>;
  /** Names some unit points at (MachineOf, the unit a trigger activates). */
  referenced: ReadonlySet<string>;
  /** Every Conflicts and Replaces glob of the units. */
  globs: readonly CompiledGlob[];
}

export interface IncrementalResult {
  result: ScheduleResult;
  memo: PlanMemo;
  /** Which way it was planned: only the changed units, or everything. */
  planned: 'incremental' | 'full';
  /** Why everything was planned (empty when only the changed units were). */
  why?: string;
  /** Units planned. */
  count: number;
}

/** Plan `input`, only the units that changed since `memo` when that gives the same result. */
export function planScheduleIncremental(memo: PlanMemo | null, input: ScheduleInput): IncrementalResult {
  const byName = new Map<string, DesiredEntry>();
  for (const e of input.units) byName.set(e.name, e);
  const machines = machinesKey(input.machines, input.held);
  const changed = memo && byName.size === input.units.length ? changedUnits(memo, byName) : null;
  const why = !memo
    ? 'no previous plan'
    : !changed
      ? 'a name twice'
      : (input.held?.size ?? 0) > 0 && changed.length > 0
        ? 'silent machines held'
        : machines !== memo.machines
          ? 'the machines changed'
          : changed.length > Math.max(64, byName.size / 20)
            ? 'many units changed'
            : !sameMap(input.current, memo.result.assign)
              ? 'the stored schedule is not the last plan'
              : !changed.every((n) => isolated(n, memo.units.get(n), memo) && isolated(n, byName.get(n), memo))
                ? 'a related unit changed'
                : null;
  if (why !== null || !memo || !changed) {
    const result = planSchedule(input);
    const full = { planned: 'full' as const, why: why ?? '', count: input.units.length };
    return { result, memo: memoOf(byName, machines, result), ...full };
  }
  if (changed.length === 0) {
    // Nothing to place; the schedule is the memo's, so nothing differs from it.
    const result = { ...memo.result, decisions: [] };
    return { result, memo: { ...memo, units: byName, result }, planned: 'incremental', count: 0 };
  }

  const names = new Set(changed);
  const baseLoad = new Map(memo.loads);
  const current = new Map<string, string>();
  for (const n of changed) {
    const m = memo.result.assign.get(n);
    if (m === undefined) continue;
    current.set(n, m);
    baseLoad.set(m, baseLoad.get(m)! - 1);
  }
  const sub = planSchedule({
    units: changed.map((n) => byName.get(n)).filter((e): e is DesiredEntry => e !== undefined),
    machines: input.machines,
    current,
    baseLoad,
  });
  const result: ScheduleResult = {
    assign: mergeByName(memo.result.assign, names, sub.assign),
    unscheduled: mergeByName(memo.result.unscheduled, names, sub.unscheduled),
    decisions: sub.decisions,
  };
  const loads = new Map(baseLoad);
  for (const m of sub.assign.values()) loads.set(m, (loads.get(m) ?? 0) + 1);
  return {
    result,
    memo: { ...memo, units: byName, result, loads },
    planned: 'incremental',
    count: changed.length,
  };
}

/** Names whose placement inputs differ between the memo and now (a new content hash alone does not count). */
function changedUnits(memo: PlanMemo, now: ReadonlyMap<string, DesiredEntry>): string[] {
  const out: string[] = [];
  for (const [name, e] of now) {
    const old = memo.units.get(name);
    if (old !== e && !samePlacement(old, e)) out.push(name);
  }
  for (const name of memo.units.keys()) if (!now.has(name)) out.push(name);
  return out.sort();
}

function samePlacement(a: DesiredEntry | undefined, b: DesiredEntry): boolean {
  return (
    a !== undefined &&
    a.state === b.state &&
    a.triggers === b.triggers &&
    JSON.stringify(a.constraints) === JSON.stringify(b.constraints)
  );
}

/** Relates to no other unit: nothing of its own points anywhere, and nothing points at it. */
function isolated(name: string, e: DesiredEntry | undefined, memo: PlanMemo): boolean {
  if (memo.referenced.has(name) || memo.globs.some((g) => g.match(name))) return false;
  if (!e) return true;
  const c = e.constraints;
  return c.conflicts.length === 0 && c.replaces.length === 0 && c.machineOf.length === 0 && !triggerTarget(e);
}

function memoOf(units: ReadonlyMap<string, DesiredEntry>, machines: string, result: ScheduleResult): PlanMemo {
  const referenced = new Set<string>();
  const patterns = new Set<string>();
  for (const e of units.values()) {
    for (const t of e.constraints.machineOf) referenced.add(t);
    const t = triggerTarget(e);
    if (t) referenced.add(t);
    for (const g of e.constraints.conflicts) patterns.add(g);
    for (const g of e.constraints.replaces) patterns.add(g);
  }
  const loads = new Map<string, number>();
  for (const m of result.assign.values()) loads.set(m, (loads.get(m) ?? 0) + 1);
  return { units, machines, result, loads, referenced, globs: [...patterns].sort().map(compileGlob) };
}

/** What the plan knows of machines: a held machine that turns gone (or comes back) is a change too. */
function machinesKey(machines: readonly MachineRecord[], held: ReadonlySet<string> | undefined): string {
  const sorted = [...machines].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return JSON.stringify([sorted.map((m) => [m.id, m.metadata ?? {}]), [...(held ?? [])].sort()]);
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** `base` without `drop`, with `add`, in name order (both come in name order). */
function mergeByName<V>(
  base: ReadonlyMap<string, V>,
  drop: ReadonlySet<string>,
  add: ReadonlyMap<string, V>,
): Map<string, V> {
  const out = new Map<string, V>();
  const extra = [...add];
  let i = 0;
  for (const [k, v] of base) {
    if (drop.has(k)) continue;
    while (i < extra.length && extra[i]![0] < k) {
      out.set(extra[i]![0], extra[i]![1]);
      i++;
    }
    out.set(k, v);
  }
  for (; i < extra.length; i++) out.set(extra[i]![0], extra[i]![1]);
  return out;
}
