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
import {
  describeMetadata,
  isPlaceable,
  machineIdMatches,
  metadataMatches,
  triggerTarget,
} from '../fleet/constraints.js';
import { compileGlob, type CompiledGlob } from '../fleet/glob.js';

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

type Via = 'MachineOf' | 'triggers' | 'group';

interface Mach {
  id: string;
  meta: Record<string, string>;
  /** Units placed here in this plan, in placement order. */
  units: Set<Unit>;
  /** The subset with Conflicts/Replaces globs: the only residents that can object to a newcomer without globs. */
  patUnits: Set<Unit>;
}

interface Unit {
  name: string;
  entry: DesiredEntry;
  conflicts: CompiledGlob[];
  replaces: CompiledGlob[];
  hasPatterns: boolean;
  /** Placeable units this one must share a machine with (after folding cycles into their anchor). */
  leaders: { u: Unit; via: Via }[];
  followers: Unit[];
  /** Why it can never be placed in this plan (MachineOf a unit that is not placeable), or null. */
  blocked: string | null;
  machine: Mach | null;
  /** Id of the Replaces cycle this unit is on (units on one cycle only conflict), or -1. */
  replaceCycle: number;
  /** Why it left its current machine (for decisions). */
  left: string | null;
  /** How it was placed (for decisions). */
  placedHow: string | null;
  unscheduled: string | null;
}

const NONE = 0;
const CONFLICT = 1;
/** The newcomer replaces the resident: the resident may be evicted. */
const EVICT = 2;
/** The resident replaces the newcomer. */
const REPLACED = 3;

const NO_UNITS: readonly Unit[] = Object.freeze([]);
/** fit()'s answer when nothing objects (shared: most checks end here). */
const FITS = Object.freeze({ evict: NO_UNITS, blocker: null, kind: NONE });

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

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
      .map((m) => ({ id: m.id, meta: m.metadata ?? {}, units: new Set<Unit>(), patUnits: new Set<Unit>() }))
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
      const conflicts = e.constraints.conflicts.map(compileGlob);
      const replaces = e.constraints.replaces.map(compileGlob);
      this.units.set(e.name, {
        name: e.name,
        entry: e,
        conflicts,
        replaces,
        hasPatterns: conflicts.length + replaces.length > 0,
        leaders: [],
        followers: [],
        blocked: null,
        machine: null,
        replaceCycle: -1,
        left: null,
        placedHow: null,
        unscheduled: null,
      });
    }
  }

  /** Machines by (load, id); built after the keep phase, when placements start. */
  private loadIndex: LoadIndex | null = null;
  /** Evictions left in this plan: a safety cap; Replaces cycles are already conflicts, so chains end. */
  private evictionBudget = 0;

  run(): ScheduleResult {
    const order = this.resolveLeaders();
    this.findReplaceCycles();
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
    return this.result();
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

  /**
   * Units that replace each other, directly or around a cycle (a replaces b replaces c replaces a),
   * only conflict: none of them evicts another, so no plan (and no sequence of plans) loops.
   */
  private findReplaceCycles(): void {
    const replacers = [...this.units.values()].filter((u) => u.replaces.length > 0);
    if (replacers.length < 2) return;
    const all = [...this.units.values()];
    const targets = new Map<Unit, Unit[]>();
    for (const r of replacers) {
      const out: Unit[] = [];
      for (const g of r.replaces) {
        if (g.error) continue;
        const exact = this.units.get(g.pattern);
        if (exact && !/[*?[\\]/.test(g.pattern)) {
          if (exact !== r && exact.replaces.length > 0) out.push(exact);
          continue;
        }
        for (const u of all) if (u !== r && u.replaces.length > 0 && g.match(u.name)) out.push(u);
      }
      targets.set(r, out);
    }
    let id = 0;
    for (const comp of stronglyConnected(replacers, (r) => targets.get(r) ?? [])) {
      if (comp.length < 2) continue;
      for (const u of comp) u.replaceCycle = id;
      id++;
    }
  }

  // ---- co-location graph -----------------------------------------------------------------------

  /**
   * Resolve MachineOf and trigger edges to leaders, fold cycles into their first member, and return
   * the processing order: leaders before followers, otherwise by name.
   */
  private resolveLeaders(): Unit[] {
    const raw = new Map<Unit, { u: Unit; via: Via }[]>();
    for (const u of this.units.values()) {
      const edges: { u: Unit; via: Via }[] = [];
      for (const target of [...new Set(u.entry.constraints.machineOf)].sort()) {
        if (target === u.name) continue;
        const l = this.units.get(target);
        if (l) {
          edges.push({ u: l, via: 'MachineOf' });
          continue;
        }
        const e = this.entries.get(target);
        u.blocked ??= !e
          ? `MachineOf ${target}, which does not exist`
          : e.constraints.global
            ? `MachineOf ${target}, which is a Global unit (not placed by the engine)`
            : `MachineOf ${target}, which is not scheduled (its desired state is inactive)`;
      }
      // A timer/socket/path unit follows the unit it activates, when that unit is placed at all.
      const t = triggerTarget(u.entry);
      const tu = t ? this.units.get(t) : undefined;
      if (tu && tu !== u && !edges.some((x) => x.u === tu)) edges.push({ u: tu, via: 'triggers' });
      raw.set(u, edges);
    }

    // With edges follower -> leader, leaders' components come first.
    const comps = stronglyConnected([...this.units.values()], (u) => raw.get(u)!.map((x) => x.u));

    const order: Unit[] = [];
    for (const comp of comps) {
      comp.sort(byName);
      const anchor = comp[0]!;
      const members = new Set(comp);
      for (const u of comp) {
        u.leaders = raw.get(u)!.filter((x) => !members.has(x.u));
        if (u !== anchor) u.leaders.push({ u: anchor, via: raw.get(u)!.find((x) => x.u === anchor)?.via ?? 'group' });
        for (const l of u.leaders) l.u.followers.push(u);
        order.push(u);
      }
    }
    return order;
  }

  // ---- relations -------------------------------------------------------------------------------

  /** How newcomer `a` relates to resident `b`. */
  private relation(a: Unit, b: Unit): number {
    const aRb = a.replaces.length > 0 && a.replaces.some((g) => g.match(b.name));
    const bRa = b.replaces.length > 0 && b.replaces.some((g) => g.match(a.name));
    if (aRb || bRa) {
      // Circular Replaces (directly or around a cycle): neither may evict the other.
      if ((aRb && bRa) || (a.replaceCycle >= 0 && a.replaceCycle === b.replaceCycle)) return CONFLICT;
      return aRb ? EVICT : REPLACED;
    }
    if (a.conflicts.length > 0 && a.conflicts.some((g) => g.match(b.name))) return CONFLICT;
    if (b.conflicts.length > 0 && b.conflicts.some((g) => g.match(a.name))) return CONFLICT;
    return NONE;
  }

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
      const rel = this.relation(u, b);
      if (rel === NONE) continue;
      if (rel === EVICT && allowEvict && this.evictionBudget > 0) {
        (evict ??= []).push(b);
        continue;
      }
      return { evict: evict ?? NO_UNITS, blocker: b, kind: rel === REPLACED ? REPLACED : CONFLICT };
    }
    return evict ? { evict, blocker: null, kind: NONE } : FITS;
  }

  private staticOk(u: Unit, m: Mach): boolean {
    const c = u.entry.constraints;
    if (c.machineId !== undefined && !machineIdMatches(c.machineId, m.id)) return false;
    return metadataMatches(m.meta, c.machineMetadata);
  }

  /** Why `u` may not run on `m` by its static constraints ("machine m1 does not have region=eu"). */
  private staticWhy(u: Unit, m: Mach): string {
    const c = u.entry.constraints;
    if (c.machineId !== undefined && !machineIdMatches(c.machineId, m.id))
      return `machine ${m.id} is not MachineID ${c.machineId}`;
    return `machine ${m.id} does not have ${describeMetadata(c.machineMetadata)}`;
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

  /** Why no machine is eligible for `u` by MachineID/MachineMetadata. */
  private noEligibleReason(u: Unit): string {
    const c = u.entry.constraints;
    if (this.sortedMachines.length === 0) return 'no machines are registered';
    if (c.machineId !== undefined) {
      const byId = this.sortedMachines.filter((m) => machineIdMatches(c.machineId!, m.id));
      if (byId.length === 0) return `no machine with id ${c.machineId} is registered`;
      return `${this.staticWhy(u, byId[0]!)} (MachineID ${c.machineId})`;
    }
    // Name the smallest set of keys no machine satisfies together, adding keys in name order.
    const keys = Object.keys(c.machineMetadata).sort();
    for (const k of keys) {
      if (!this.sortedMachines.some((m) => metadataMatches(m.meta, { [k]: c.machineMetadata[k]! }))) {
        return `no machine has ${describeMetadata({ [k]: c.machineMetadata[k]! })}`;
      }
    }
    return `no machine has ${describeMetadata(c.machineMetadata)}`;
  }

  // ---- assignment bookkeeping ------------------------------------------------------------------

  private assign(u: Unit, m: Mach): void {
    u.machine = m;
    u.unscheduled = null;
    const before = m.units.size;
    m.units.add(u);
    if (u.hasPatterns) m.patUnits.add(u);
    if (this.loadIndex && m.units.size !== before) this.loadIndex.moved(m, before, m.units.size);
  }

  private unassign(u: Unit): void {
    const m = u.machine;
    if (!m) return;
    const before = m.units.size;
    m.units.delete(u);
    m.patUnits.delete(u);
    u.machine = null;
    if (this.loadIndex && m.units.size !== before) this.loadIndex.moved(m, before, m.units.size);
  }

  // ---- phase 1: keep what may stay -------------------------------------------------------------

  /** A silent machine's stand-in: holds its units, is no candidate for any other. */
  private readonly heldMachines = new Map<string, Mach>();
  private heldMachine(id: string): Mach {
    let m = this.heldMachines.get(id);
    if (!m) this.heldMachines.set(id, (m = { id, meta: {}, units: new Set(), patUnits: new Set() }));
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
      } else if (!this.staticOk(u, m)) {
        u.left = this.staticWhy(u, m);
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
          if (e !== r && !victims.has(e) && this.relation(r, e) === EVICT) {
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
      u.unscheduled = this.noEligibleReason(u);
      return [];
    }
    const pending = this.pendingFollowers(u);
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
        if (pending.length === 0 || pending.every((p) => this.staticOk(p, m) && !this.fit(p, m, true).blocker)) {
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
    u.unscheduled = this.blockedEverywhereReason(u, candidates, blockers);
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
    if (!this.staticOk(u, m)) {
      u.unscheduled = `must run with ${lead} on ${m.id}, but ${this.staticWhy(u, m)}`;
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

  /** Followers (transitively) of `u` that still need a machine and could go with it. */
  private pendingFollowers(u: Unit): Unit[] {
    if (u.followers.length === 0) return [];
    const out: Unit[] = [];
    const seen = new Set<Unit>([u]);
    const walk = (x: Unit) => {
      for (const f of x.followers) {
        if (seen.has(f)) continue;
        seen.add(f);
        if (f.machine || f.blocked) continue;
        out.push(f);
        walk(f);
      }
    };
    walk(u);
    return out;
  }

  private blockedEverywhereReason(u: Unit, candidates: Mach[], blockers: Map<string, number>): string {
    const names = [...blockers.keys()].sort();
    const shown = names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
    const kinds = new Set(blockers.values());
    const verb =
      kinds.has(REPLACED) && kinds.has(CONFLICT)
        ? 'conflicts with or is replaced by'
        : kinds.has(REPLACED)
          ? 'is replaced by'
          : 'conflicts with';
    const c = u.entry.constraints;
    let where: string;
    if (candidates.length === 1) where = `on ${candidates[0]!.id}, its only eligible machine`;
    else if (Object.keys(c.machineMetadata).length > 0)
      where = `on every machine with ${describeMetadata(c.machineMetadata)}`;
    else where = 'on every machine';
    return `${verb} ${shown} ${where}`;
  }

  // ---- output ------------------------------------------------------------------------------------

  private result(): ScheduleResult {
    const assign = new Map<string, string>();
    const unscheduled = new Map<string, string>();
    const decisions: Decision[] = [];
    const names = new Set<string>([...this.units.keys(), ...this.input.current.keys()]);
    for (const name of [...names].sort()) {
      const u = this.units.get(name);
      const from = this.input.current.get(name);
      if (!u) {
        const e = this.entries.get(name);
        const reason = !e
          ? 'removed from the desired state'
          : e.constraints.global
            ? 'Global unit: the agents run it on every matching machine'
            : 'desired state is inactive';
        decisions.push({ unit: name, from: from!, reason });
        continue;
      }
      if (u.machine) {
        assign.set(name, u.machine.id);
        if (from === u.machine.id) continue;
        const d: Decision = { unit: name, to: u.machine.id, reason: u.placedHow ?? 'placed' };
        if (from !== undefined) {
          d.from = from;
          d.reason = `${u.left ?? 'moved'}; moved (${d.reason})`;
        }
        decisions.push(d);
      } else {
        unscheduled.set(name, u.unscheduled ?? 'not placed');
        if (from !== undefined)
          decisions.push({ unit: name, from, reason: `${u.left ?? 'left'}; ${u.unscheduled ?? 'not placed'}` });
      }
    }
    return { assign, unscheduled, decisions };
  }
}

/**
 * Tarjan's strongly connected components, iterative (10,000-deep chains must not overflow the
 * stack). Components come out leaves-first: for an edge a -> b, b's component precedes a's.
 */
function stronglyConnected<T>(nodes: readonly T[], edges: (n: T) => readonly T[]): T[][] {
  const index = new Map<T, number>();
  const low = new Map<T, number>();
  const onStack = new Set<T>();
  const stack: T[] = [];
  const comps: T[][] = [];
  let next = 0;
  const visit = (n: T) => {
    index.set(n, next);
    low.set(n, next++);
    stack.push(n);
    onStack.add(n);
  };
  for (const root of nodes) {
    if (index.has(root)) continue;
    visit(root);
    const work: { n: T; out: readonly T[]; i: number }[] = [{ n: root, out: edges(root), i: 0 }];
    while (work.length) {
      const top = work[work.length - 1]!;
      if (top.i < top.out.length) {
        const w = top.out[top.i++]!;
        if (!index.has(w)) {
          visit(w);
          work.push({ n: w, out: edges(w), i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.n, Math.min(low.get(top.n)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.n;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.n)!));
      }
      if (low.get(top.n) === index.get(top.n)) {
        const comp: T[] = [];
        let w: T;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.n);
        comps.push(comp);
      }
    }
  }
  return comps;
}

/**
 * Every machine, ordered by (load, id), kept up to date as units come and go: an unconstrained
 * unit (most units) finds the least-loaded machine that fits without scanning all machines.
 */
class LoadIndex {
  /** buckets[load] = machines with that many units, by id. */
  private readonly buckets: Mach[][] = [];

  constructor(machines: readonly Mach[]) {
    for (const m of machines) this.bucket(m.units.size).push(m); // machines come sorted by id
  }

  private bucket(load: number): Mach[] {
    while (this.buckets.length <= load) this.buckets.push([]);
    return this.buckets[load]!;
  }

  moved(m: Mach, from: number, to: number): void {
    const a = this.bucket(from);
    const i = lowerBound(a, m.id);
    if (a[i] === m) a.splice(i, 1);
    const b = this.bucket(to);
    b.splice(lowerBound(b, m.id), 0, m);
  }

  /** Visit machines lightest first, ties by id, until `visit` returns true. */
  visitInOrder(visit: (m: Mach) => boolean): void {
    for (const b of this.buckets) for (const m of b) if (visit(m)) return;
  }
}

function lowerBound(a: Mach[], id: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lighter(a: Mach, b: Mach): boolean {
  return a.units.size < b.units.size || (a.units.size === b.units.size && a.id < b.id);
}

function viaText(via: Via): string {
  return via === 'triggers' ? 'triggers' : via === 'MachineOf' ? 'MachineOf' : 'must run with';
}
