/**
 * What a plan says (src/engine/schedule.ts): where each unit runs, why the others run nowhere, and
 * the decisions that differ from the current schedule, each with its reason in words.
 */
import { describeMetadata, machineIdMatches, metadataMatches } from '../fleet/constraints.js';
import type { DesiredEntry } from '../store/keys.js';
import { CONFLICT, REPLACED, staticWhy, type Mach, type Unit } from './schedule-model.js';
import type { Decision, ScheduleResult } from './schedule.js';

/** Why no machine is eligible for `u` by MachineID/MachineMetadata. */
export function noEligibleReason(u: Unit, sortedMachines: readonly Mach[]): string {
  const c = u.entry.constraints;
  if (sortedMachines.length === 0) return 'no machines are registered';
  if (c.machineId !== undefined) {
    const byId = sortedMachines.filter((m) => machineIdMatches(c.machineId!, m.id));
    if (byId.length === 0) return `no machine with id ${c.machineId} is registered`;
    return `${staticWhy(u, byId[0]!)} (MachineID ${c.machineId})`;
  }
  // Name the smallest set of keys no machine satisfies together, adding keys in name order.
  const keys = Object.keys(c.machineMetadata).sort();
  for (const k of keys) {
    if (!sortedMachines.some((m) => metadataMatches(m.meta, { [k]: c.machineMetadata[k]! }))) {
      return `no machine has ${describeMetadata({ [k]: c.machineMetadata[k]! })}`;
    }
  }
  return `no machine has ${describeMetadata(c.machineMetadata)}`;
}

export function blockedEverywhereReason(u: Unit, candidates: Mach[], blockers: Map<string, number>): string {
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

export function scheduleResult(
  units: ReadonlyMap<string, Unit>,
  entries: ReadonlyMap<string, DesiredEntry>,
  current: ReadonlyMap<string, string>,
): ScheduleResult {
  const assign = new Map<string, string>();
  const unscheduled = new Map<string, string>();
  const decisions: Decision[] = [];
  const names = new Set<string>([...units.keys(), ...current.keys()]);
  for (const name of [...names].sort()) {
    const u = units.get(name);
    const from = current.get(name);
    if (!u) {
      const e = entries.get(name);
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
