/**
 * The one [X-Fleet] check that needs every unit of a commit at once: MachineOf= cycles. The rest of
 * the section is read unit by unit (xfleet.ts).
 */
import type { Diagnostic } from '../diag.js';
import type { FleetSection } from './xfleet.js';

/** A unit's parsed [X-Fleet] as needed for cross-unit checks. */
export interface FleetUnitRef {
  name: string;
  fleet: FleetSection;
}

/**
 * FLT02 for MachineOf cycles across units (A MachineOf B and B MachineOf A, or longer): fleet would
 * never place any of them, since each waits for the other. One diagnostic per unit in a cycle, at
 * its MachineOf= option.
 */
export function machineOfCycleDiagnostics(all: readonly FleetUnitRef[]): Diagnostic[] {
  // Only units with MachineOf= can be in a cycle; one without is where a walk ends anyway.
  const units = all.filter((u) => u.fleet.constraints.machineOf.length > 0);
  const byName = new Map(units.map((u) => [u.name, u] as const));
  const out: Diagnostic[] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (name: string) => {
    state.set(name, 'active');
    stack.push(name);
    const u = byName.get(name)!;
    for (const next of u.fleet.constraints.machineOf) {
      if (next === name || !byName.has(next)) continue; // self-reference is reported per unit
      const s = state.get(next);
      if (s === 'active') {
        const cycle = stack.slice(stack.indexOf(next));
        const text = [...cycle, next].join(' -> ');
        for (const member of cycle) {
          if (reported.has(member)) continue;
          reported.add(member);
          const m = byName.get(member)!;
          const succ = cycle[(cycle.indexOf(member) + 1) % cycle.length]!;
          const v = m.fleet.values.MachineOf.find((x) => x.value === succ);
          out.push({
            file: m.fleet.file,
            line: v?.option.line ?? 0,
            column: v?.option.valueColumn ?? 0,
            rule: 'FLT02',
            severity: 'error',
            message: `MachineOf= forms a cycle (${text}): each unit waits for the other to be placed, so none ever is`,
          });
        }
      } else if (s === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const u of units) if (!state.has(u.name)) visit(u.name);
  return out;
}
