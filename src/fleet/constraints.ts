/**
 * Pure checks of fleet's [X-Fleet] constraints against one machine, shared by the engine's planner
 * and the agent (which runs Global units on machines whose metadata matches).
 */
import type { DesiredEntry } from '../store/keys.js';

/**
 * fleet's MachineState.MatchID: the full machine id, or its 8-character short form (what
 * `fleetctl list-machines` shows).
 */
export function machineIdMatches(required: string, machineId: string): boolean {
  return machineId === required || (machineId.length > 8 && required.length === 8 && machineId.startsWith(required));
}

/**
 * fleet's machine.HasMetadata: for every required key the machine's value is one of the accepted
 * values (same key ORed, different keys ANDed). No requirement matches every machine.
 */
export function metadataMatches(
  machine: Readonly<Record<string, string>>,
  required: Readonly<Record<string, readonly string[]>>,
): boolean {
  for (const key in required) {
    const have = machine[key];
    if (have === undefined || !required[key]!.includes(have)) return false;
  }
  return true;
}

/** "region=eu", "region=eu or region=us", "(region=eu or region=us) and disk=ssd". */
export function describeMetadata(required: Readonly<Record<string, readonly string[]>>): string {
  const keys = Object.keys(required).sort();
  const parts = keys.map((k) => {
    const alts = required[k]!.map((v) => `${k}=${v}`);
    return alts.length > 1 && keys.length > 1 ? `(${alts.join(' or ')})` : alts.join(' or ');
  });
  return parts.join(' and ');
}

const TRIGGER = /^(.+)\.(timer|socket|path)$/;

/**
 * The unit a .timer, .socket or .path unit activates: its `Unit=` when the controller recorded one
 * (`entry.triggers`), else systemd's convention (foo.timer -> foo.service, foo@1.timer ->
 * foo@1.service). Null for other unit types. A socket with Accept=yes spawns foo@<conn>.service
 * instances itself; by the convention it names foo.service, which is usually not a unit of the repo,
 * and then nothing is co-located.
 */
export function triggerTarget(entry: Pick<DesiredEntry, 'name' | 'triggers'>): string | null {
  const m = TRIGGER.exec(entry.name);
  if (!m) return null;
  if (entry.triggers && entry.triggers !== entry.name) return entry.triggers;
  return `${m[1]}.service`;
}

/** A unit the engine places on one machine: not inactive, not Global (agents run those). */
export function isPlaceable(entry: Pick<DesiredEntry, 'state' | 'constraints'>): boolean {
  return entry.state !== 'inactive' && !entry.constraints.global;
}
