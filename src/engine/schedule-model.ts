/**
 * The schedule planner's working model (src/engine/schedule.ts): machines and units as the planner
 * holds them during one plan, how two units relate (Conflicts, Replaces), the static constraints
 * (MachineID, MachineMetadata), and the machines ordered by load.
 */
import type { DesiredEntry } from '../store/keys.js';
import { describeMetadata, machineIdMatches, metadataMatches } from '../fleet/constraints.js';
import { compileGlob, type CompiledGlob } from '../fleet/glob.js';

export type Via = 'MachineOf' | 'triggers' | 'group';

export interface Mach {
  id: string;
  meta: Record<string, string>;
  /** Units placed here by an earlier plan that this one leaves alone (incremental planning): they count as load. */
  base: number;
  /** Units placed here in this plan, in placement order. */
  units: Set<Unit>;
  /** The subset with Conflicts/Replaces globs: the only residents that can object to a newcomer without globs. */
  patUnits: Set<Unit>;
}

export interface Unit {
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

export const NONE = 0;
export const CONFLICT = 1;
/** The newcomer replaces the resident: the resident may be evicted. */
export const EVICT = 2;
/** The resident replaces the newcomer. */
export const REPLACED = 3;

export const NO_UNITS: readonly Unit[] = Object.freeze([]);
/** fit()'s answer when nothing objects (shared: most checks end here). */
export const FITS = Object.freeze({ evict: NO_UNITS, blocker: null, kind: NONE });

export const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
export const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A machine's load: units placed on it, by this plan or (incremental planning) an earlier one. */
export function load(m: Mach): number {
  return m.base + m.units.size;
}

/** A placeable unit as the planner starts it: on no machine, no relations resolved yet. */
export function makeUnit(e: DesiredEntry): Unit {
  const conflicts = e.constraints.conflicts.map(compileGlob);
  const replaces = e.constraints.replaces.map(compileGlob);
  return {
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
  };
}

/** How newcomer `a` relates to resident `b`. */
export function relation(a: Unit, b: Unit): number {
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

export function staticOk(u: Unit, m: Mach): boolean {
  const c = u.entry.constraints;
  if (c.machineId !== undefined && !machineIdMatches(c.machineId, m.id)) return false;
  return metadataMatches(m.meta, c.machineMetadata);
}

/** Why `u` may not run on `m` by its static constraints ("machine m1 does not have region=eu"). */
export function staticWhy(u: Unit, m: Mach): string {
  const c = u.entry.constraints;
  if (c.machineId !== undefined && !machineIdMatches(c.machineId, m.id))
    return `machine ${m.id} is not MachineID ${c.machineId}`;
  return `machine ${m.id} does not have ${describeMetadata(c.machineMetadata)}`;
}

/**
 * Every machine, ordered by (load, id), kept up to date as units come and go: an unconstrained
 * unit (most units) finds the least-loaded machine that fits without scanning all machines.
 */
export class LoadIndex {
  /** buckets[load] = machines with that many units, by id. */
  private readonly buckets: Mach[][] = [];

  constructor(machines: readonly Mach[]) {
    for (const m of machines) this.bucket(load(m)).push(m); // machines come sorted by id
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

export function lighter(a: Mach, b: Mach): boolean {
  const la = load(a);
  const lb = load(b);
  return la < lb || (la === lb && a.id < b.id);
}

export function viaText(via: Via): string {
  return via === 'triggers' ? 'triggers' : via === 'MachineOf' ? 'MachineOf' : 'must run with';
}
