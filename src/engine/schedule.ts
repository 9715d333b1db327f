/**
 * The schedule planner (pure): desired units + live machines + current schedule -> where every
 * unit runs, why the others run nowhere, and the decisions that differ from the current schedule.
 *
 * Semantics (fleet's engine/reconciler.go + agent/state.go AbleToRun, with the changes noted):
 * - Only units that are not `inactive` and not Global are placed (agents run Global units).
 * - Stability: a unit stays where it is while its machine is live and it still may run there
 *   (MachineID, MachineMetadata, co-location, no conflict). A joining machine moves nothing; a
 *   machine that is gone, or whose metadata no longer fits, loses its units.
 * - New or displaced units go to the least-loaded eligible machine (load = units placed on it in
 *   this plan), ties broken by machine id.
 * - MachineOf (and the implicit pairing of a .timer/.socket/.path unit with the unit it triggers)
 *   puts a unit on the machine of the unit it names; if that unit is not placed, neither is this
 *   one. A leader is placed where its followers can also go when such a machine exists (fleet
 *   placed the leader blindly and then left the follower unscheduled). Cycles (A MachineOf B and B
 *   MachineOf A, or foo.service MachineOf foo.socket) are one group, led by the first by name.
 * - Conflicts: globs (Go path.Match) checked both ways against the units on the machine. When a
 *   commit makes two units that share a machine conflict, the later one (leaders first, then by
 *   name) moves.
 * - Replaces: R and a unit E its globs match never share a machine; if they would, E yields: R is
 *   preferably placed where it evicts nothing, but when R can only go where E is (MachineID,
 *   MachineOf, metadata, or every machine has such a unit), E is evicted to another machine. Units
 *   that replace each other, directly or around a cycle (circular Replaces), are treated as a plain
 *   conflict: neither evicts the other (fleet ignored such pairs), so evictions cannot loop.
 * - Fixpoint: planning the result again changes nothing (units that found no room are retried
 *   until no placement changes), so the engine never flaps between two schedules.
 * - Conflicts with and Replaces of Global units are ignored (they are on no schedule), as in fleet.
 * - Deterministic: same input, same output (orders are by name and machine id).
 */
import type { DesiredEntry, MachineRecord } from '../store/keys.js';
import { isPlaceable, machineIdMatches } from '../fleet/constraints.js';
import { findReplaceCycles, pendingFollowers, resolveLeaders } from './schedule-graph.js';
import {
  CONFLICT,
  EVICT,
  FITS,
  LoadIndex,
  NO_UNITS,
  NONE,
  REPLACED,
  byName,
  cmpStr,
  lighter,
  load,
  makeUnit,
  relation,
  staticOk,
  staticWhy,
  viaText,
  type Mach,
  type Unit,
} from './schedule-model.js';
import { blockedEverywhereReason, noEligibleReason, scheduleResult } from './schedule-output.js';

export interface ScheduleInput {
  /** Every desired unit; constraints parsed and specifiers expanded. */
  units: readonly DesiredEntry[];
  /** Live machines (their registration lease is alive). */
  machines: readonly MachineRecord[];
  /** Current schedule: unit -> machine id. */
  current: ReadonlyMap<string, string>;
  /**
   * Machines that are silent but not (yet) gone (src/engine/liveness.ts): the units they have stay
   * exactly where they are, unchecked (the machine is not there to check), and they take no new ones.
   */
  held?: ReadonlySet<string>;
  /**
   * Incremental planning (src/engine/schedule-incremental.ts): per machine, units an earlier plan
   * placed there that this plan does not see but that count as load.
   */
  baseLoad?: ReadonlyMap<string, number>;
}

/** One change against the current schedule: placed (to), moved (from, to), or taken off (from). */
export interface Decision {
  unit: string;
  from?: string;
  to?: string;
  reason: string;
}

export interface ScheduleResult {
  /** unit -> machine, for every placed unit, in unit-name order. */
  assign: Map<string, string>;
  /** unit -> why it is on no machine, for units that should run but cannot (not inactive/Global). */
  unscheduled: Map<string, string>;
  /** Changes against `current`, in unit-name order. */
  decisions: Decision[];
}

/** Plan the schedule. See the file comment for the semantics. */
export function planSchedule(input: ScheduleInput): ScheduleResult {
  return new Planner(input).run();
}

class Planner {
  private readonly units = new Map<string, Unit>();
  private readonly entries = new Map<string, DesiredEntry>();
  private readonly machines = new Map<string, Mach>();
  private readonly sortedMachines: Mach[];
  /** metadata key -> value -> machines. */
  private readonly metaIndex = new Map<string, Map<string, Set<Mach>>>();
  private readonly eligibleCache = new Map<string, Mach[]>();

  constructor(private readonly input: ScheduleInput) {
    for (const e of input.units) this.entries.set(e.name, e);
    this.sortedMachines = [...input.machines]
      .map(
        (m): Mach => ({
          id: m.id,
          meta: m.metadata ?? {},
          base: input.baseLoad?.get(m.id) ?? 0,
          units: new Set<Unit>(),
          patUnits: new Set<Unit>(),
        }),
      )
      .sort((a, b) => cmpStr(a.id, b.id));
    for (const m of this.sortedMachines) {
      this.machines.set(m.id, m);
      for (const [k, v] of Object.entries(m.meta)) {
        let byValue = this.metaIndex.get(k);
        if (!byValue) this.metaIndex.set(k, (byValue = new Map()));
        let set = byValue.get(v);
        if (!set) byValue.set(v, (set = new Set()));
        set.add(m);
      }
    }
    for (const e of [...input.units].sort(byName)) {
      if (!isPlaceable(e) || this.units.has(e.name)) continue;
      this.units.set(e.name, makeUnit(e));
    }
  }

  /** Machines by (load, id); built after the keep phase, when placements start. */
  private loadIndex: LoadIndex | null = null;
  /**
   * The same for each set of eligible machines (MachineID/MachineMetadata), made when first
   * needed: a constrained unit visits its machines lightest first too, and stops at the first that
   * fits, instead of scanning every eligible machine (at 10,000 machines that scan was the plan).
   */
  private readonly subIndexes = new Map<Mach[], LoadIndex>();
  private readonly indexesOf = new Map<Mach, LoadIndex[]>();
  /** Evictions left in this plan: a safety cap; Replaces cycles are already conflicts, so chains end. */
  private evictionBudget = 0;

  run(): ScheduleResult {
    const order = resolveLeaders(this.units, this.entries);
    findReplaceCycles(this.units);
    this.evictionBudget = 4 * this.units.size + 16;
    this.keep(order);
    this.loadIndex = new LoadIndex(this.sortedMachines);
    this.placeAll(order.filter((u) => !u.machine));
    // A unit that found no room may find some after later evictions freed it: retry until nothing
    // changes, so that planning the result again changes nothing (the engine must reach a fixpoint).
    for (;;) {
      const before = this.placedCount();
      this.placeAll(order.filter((u) => !u.machine && !u.blocked));
      if (this.placedCount() === before) break;
    }
    return scheduleResult(this.units, this.entries, this.input.current);
  }

  private loadMoved(m: Mach, before: number): void {
    this.loadIndex!.moved(m, before, load(m));
    for (const ix of this.indexesOf.get(m) ?? []) ix.moved(m, before, load(m));
  }

  private subIndex(candidates: Mach[]): LoadIndex {
    let ix = this.subIndexes.get(candidates);
    if (!ix) {
      this.subIndexes.set(candidates, (ix = new LoadIndex(candidates)));
      for (const m of candidates) {
        let list = this.indexesOf.get(m);
        if (!list) this.indexesOf.set(m, (list = []));
        list.push(ix);
      }
    }
    return ix;
  }

  private placedCount(): number {
    let n = 0;
    for (const m of this.sortedMachines) n += m.units.size;
    return n;
  }

  /** Place the queue in order; units evicted by Replaces are appended (with their followers). */
  private placeAll(queue: Unit[]): void {
    for (let i = 0; i < queue.length; i++) {
      const u = queue[i]!;
      if (u.machine) continue;
      for (const v of this.place(u)) queue.push(v);
    }
  }

  // ---- relations -------------------------------------------------------------------------------

  /**
   * May `u` join machine `m`? Returns the residents it would evict (Replaces), or the first
   * resident that keeps it out.
   */
  private fit(u: Unit, m: Mach, allowEvict: boolean): { evict: readonly Unit[]; blocker: Unit | null; kind: number } {
    const scan = u.hasPatterns ? m.units : m.patUnits;
    if (scan.size === 0) return FITS;
    let evict: Unit[] | null = null;
    for (const b of scan) {
      if (b === u) continue;
      const rel = relation(u, b);
      if (rel === NONE) continue;
      if (rel === EVICT && allowEvict && this.evictionBudget > 0) {
        (evict ??= []).push(b);
        continue;
      }
      return { evict: evict ?? NO_UNITS, blocker: b, kind: rel === REPLACED ? REPLACED : CONFLICT };
    }
    return evict ? { evict, blocker: null, kind: NONE } : FITS;
  }

  /** Machines `u` may run on by MachineID and MachineMetadata, by id. Cached per constraint set. */
  private eligible(u: Unit): Mach[] {
    const c = u.entry.constraints;
    const mdKeys = Object.keys(c.machineMetadata);
    if (c.machineId === undefined && mdKeys.length === 0) return this.sortedMachines;
    const sig = JSON.stringify([c.machineId ?? null, mdKeys.sort().map((k) => [k, [...c.machineMetadata[k]!].sort()])]);
    let list = this.eligibleCache.get(sig);
    if (list) return list;
    let pool: Iterable<Mach> = this.sortedMachines;
    if (c.machineId !== undefined) pool = this.sortedMachines.filter((m) => machineIdMatches(c.machineId!, m.id));
    if (mdKeys.length > 0) {
      // Intersect, over keys, the union of machines having any accepted value.
      const sets = mdKeys.map((k) => {
        const byValue = this.metaIndex.get(k);
        const union = new Set<Mach>();
        for (const v of c.machineMetadata[k]!) for (const m of byValue?.get(v) ?? []) union.add(m);
        return union;
      });
      pool = [...pool].filter((m) => sets.every((s) => s.has(m)));
    }
    list = [...pool];
    this.eligibleCache.set(sig, list);
    return list;
  }

  // ---- assignment bookkeeping ------------------------------------------------------------------

  private assign(u: Unit, m: Mach): void {
    u.machine = m;
    u.unscheduled = null;
    const before = load(m);
    m.units.add(u);
    if (u.hasPatterns) m.patUnits.add(u);
    if (this.loadIndex && load(m) !== before) this.loadMoved(m, before);
  }

  private unassign(u: Unit): void {
    const m = u.machine;
    if (!m) return;
    const before = load(m);
    m.units.delete(u);
    m.patUnits.delete(u);
    u.machine = null;
    if (this.loadIndex && load(m) !== before) this.loadMoved(m, before);
  }

  // ---- phase 1: keep what may stay -------------------------------------------------------------

  /** A silent machine's stand-in: holds its units, is no candidate for any other. */
  private readonly heldMachines = new Map<string, Mach>();
  private heldMachine(id: string): Mach {
    let m = this.heldMachines.get(id);
    if (!m) this.heldMachines.set(id, (m = { id, meta: {}, base: 0, units: new Set(), patUnits: new Set() }));
    return m;
  }

  private keep(order: Unit[]): void {
    // Tentatively keep every unit whose machine is live and still fits its static constraints.
    const tentative = new Map<Unit, Mach>();
    const byMachine = new Map<Mach, Unit[]>();
    for (const u of order) {
      const mid = this.input.current.get(u.name);
      if (mid === undefined) continue;
      const m = this.machines.get(mid);
      if (!m && this.input.held?.has(mid)) {
        this.assign(u, this.heldMachine(mid));
        continue;
      }
      if (!m) {
        u.left = `machine ${mid} is gone`;
      } else if (u.blocked) {
        u.left = u.blocked;
      } else if (!staticOk(u, m)) {
        u.left = staticWhy(u, m);
      } else {
        tentative.set(u, m);
        let list = byMachine.get(m);
        if (!list) byMachine.set(m, (list = []));
        list.push(u);
      }
    }
    // A unit replaced by another unit on its machine yields to it.
    const victims = new Set<Unit>();
    for (const [m, list] of byMachine) {
      for (const r of list) {
        if (r.replaces.length === 0) continue;
        for (const e of list) {
          if (e !== r && !victims.has(e) && relation(r, e) === EVICT) {
            victims.add(e);
            e.left = `replaced by ${r.name} on ${m.id}`;
          }
        }
      }
    }
    // Keep in order (leaders first): a unit stays if its leaders stay on its machine and nothing kept there objects.
    for (const u of order) {
      const m = tentative.get(u);
      if (!m || victims.has(u)) continue;
      const away = u.leaders.find((l) => l.u.machine !== m);
      if (away) {
        u.left = `must run with ${away.u.name}, which is not on ${m.id}`;
        continue;
      }
      const f = this.fit(u, m, false);
      if (f.blocker) {
        u.left =
          f.kind === REPLACED
            ? `replaced by ${f.blocker.name} on ${m.id}`
            : `conflicts with ${f.blocker.name} on ${m.id}`;
        continue;
      }
      this.assign(u, m);
    }
  }

  // ---- phase 2: place the rest -----------------------------------------------------------------

  /** Place one unit; returns the units it evicted (to be placed again). */
  private place(u: Unit): Unit[] {
    if (u.blocked) {
      u.unscheduled = u.blocked;
      return [];
    }
    if (u.leaders.length > 0) return this.placeFollower(u);

    const candidates = this.eligible(u);
    if (candidates.length === 0) {
      u.unscheduled = noEligibleReason(u, this.sortedMachines);
      return [];
    }
    const pending = pendingFollowers(u);
    // Tiers: 0 = fits without evicting and its pending followers fit too; 1 = fits without
    // evicting; 2 = fits by evicting. Least loaded, then lowest id, within the best tier.
    // A holder rather than three lets: consider() below assigns them.
    const best: { t0: Mach | null; t1: Mach | null; t2: { m: Mach; evict: readonly Unit[] } | null } = {
      t0: null,
      t1: null,
      t2: null,
    };
    const blockers = new Map<string, number>();
    /** Rank one machine into its tier; true once a tier-0 machine is found (nothing can beat it). */
    const consider = (m: Mach): boolean => {
      const f = this.fit(u, m, true);
      if (f.blocker) {
        if (!blockers.has(f.blocker.name)) blockers.set(f.blocker.name, f.kind);
        return false;
      }
      if (f.evict.length === 0) {
        if (pending.length === 0 || pending.every((p) => staticOk(p, m) && !this.fit(p, m, true).blocker)) {
          best.t0 = m;
          return true;
        }
        if (!best.t1 || lighter(m, best.t1)) best.t1 = m;
      } else if (!best.t2 || lighter(m, best.t2.m)) {
        best.t2 = { m, evict: f.evict };
      }
      return false;
    };
    if (candidates === this.sortedMachines && this.loadIndex) {
      this.loadIndex.visitInOrder(consider);
    } else if (this.loadIndex) {
      this.subIndex(candidates).visitInOrder(consider);
    } else {
      for (const m of candidates) if (!best.t0 || lighter(m, best.t0)) consider(m);
    }
    const how =
      u.entry.constraints.machineId !== undefined
        ? `MachineID ${u.entry.constraints.machineId}`
        : 'least-loaded eligible machine';
    const chosen = best.t0 ?? best.t1;
    if (chosen) {
      this.assign(u, chosen);
      u.placedHow = how;
      return [];
    }
    if (best.t2) return this.assignEvicting(u, best.t2.m, best.t2.evict, how);
    u.unscheduled = blockedEverywhereReason(u, candidates, blockers);
    return [];
  }

  private placeFollower(u: Unit): Unit[] {
    const missing = u.leaders.find((l) => !l.u.machine);
    if (missing) {
      u.unscheduled = `${viaText(missing.via)} ${missing.u.name}, which is not scheduled`;
      return [];
    }
    const m = u.leaders[0]!.u.machine!;
    if (u.leaders.some((l) => l.u.machine !== m)) {
      const names = u.leaders.map((l) => l.u.name);
      u.unscheduled =
        `must run with ${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}, which are on ` +
        `different machines`;
      return [];
    }
    const lead = u.leaders.map((l) => l.u.name).join(', ');
    if (!staticOk(u, m)) {
      u.unscheduled = `must run with ${lead} on ${m.id}, but ${staticWhy(u, m)}`;
      return [];
    }
    const f = this.fit(u, m, true);
    if (f.blocker) {
      u.unscheduled =
        `must run with ${lead} on ${m.id}, but ${f.kind === REPLACED ? 'is replaced by' : 'conflicts with'} ` +
        `${f.blocker.name} there`;
      return [];
    }
    const via = u.leaders[0]!.via;
    return this.assignEvicting(u, m, f.evict, `with ${lead} (${via === 'triggers' ? 'the unit it triggers' : via})`);
  }

  /** Assign `u` to `m`, evicting `evict` and their followers there. Returns what must be placed again. */
  private assignEvicting(u: Unit, m: Mach, evict: readonly Unit[], how: string): Unit[] {
    const out: Unit[] = [];
    const seen = new Set<Unit>();
    const drop = (v: Unit, reason: string) => {
      if (seen.has(v) || v.machine !== m) return;
      seen.add(v);
      this.unassign(v);
      v.left = reason;
      out.push(v);
      for (const f of v.followers) drop(f, `must run with ${v.name}, which was replaced on ${m.id}`);
    };
    for (const v of evict) {
      this.evictionBudget--;
      drop(v, `replaced by ${u.name} on ${m.id}`);
    }
    this.assign(u, m);
    u.placedHow = how;
    // Followers re-placed after their leaders: keep the processing order (leaders first).
    return out;
  }
}
