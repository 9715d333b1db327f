/**
 * The [X-Fleet] section with fleet's semantics (coreos/fleet job/job.go, unit/unit.go;
 * fleet's own semantics), turned into typed FleetConstraints plus diagnostics. Pure.
 *
 * fleet's reading, kept here:
 *  - A value that starts AND ends with `"` holds several values: split at spaces outside quotes,
 *    quotes dropped (`MachineMetadata="region=us" "disk=ssd"`). Any other value is one value.
 *  - `%n %N %p %i` are expanded in every value (unitPrintf); nothing else is.
 *  - MachineID: the first value wins (MachineID, then X-ConditionMachineID, then
 *    X-ConditionMachineBootID); a machine matches on its full id or its 8-char short id.
 *  - MachineMetadata: `key=value` with exactly one '=' and both sides non-empty; the same key ORs,
 *    different keys AND.
 *  - Global: the last value wins; true when it is true/yes/1/on/t (any case).
 *  - Keys are case-sensitive.
 * Where fleet silently ignored a broken value (a MachineMetadata without '=', `Global=y`, an
 * unquoted list), gitfleet reports it: such mistakes would otherwise place units where nobody meant.
 *
 * Rules: FLT01 (warning) unknown or deprecated key; FLT02 (error) invalid combination; FLT03
 * (error) invalid value.
 *
 * Drop-ins (src/unit/dropins.ts): the section is read from the unit merged with its drop-ins, so
 * their [X-Fleet] options add to the unit file's; an empty assignment in a drop-in (`MachineID=`)
 * drops what the unit file and earlier drop-ins gave that key (in the unit file itself, where it
 * can only be a mistake, it stays FLT03).
 *
 * This file combines a section's values into constraints and checks their combinations (FLT02);
 * xfleet-values.ts holds the keys and the grammar of one value, xfleet-cycles.ts the MachineOf=
 * cycles across units.
 */
import type { Diagnostic } from '../diag.js';
import { globMatch, isGlob } from '../fleet/glob.js';
import { parseUnitName } from './names.js';
import { expandFleetSpecifiers } from './specifiers.js';
import type { FleetConstraints, ParsedUnit, UnitOption } from './types.js';
import {
  checkValue,
  KEYS,
  MACHINE_ID_ORDER,
  splitFleetValue,
  suggestKey,
  TRUTHY,
  type FleetKey,
  type FleetValue,
} from './xfleet-values.js';

export const FLEET_SECTION = 'X-Fleet';

/**
 * For a template (`web@.service`) values are expanded as for this sample instance, so that checks
 * like "MachineOf names a valid unit" see what every instance will see.
 */
export const TEMPLATE_SAMPLE_INSTANCE = 'INSTANCE';

export interface FleetSection {
  /** The unit's file (for diagnostics). */
  file: string;
  constraints: FleetConstraints;
  diagnostics: Diagnostic[];
  /** True when the unit has an [X-Fleet] section. */
  present: boolean;
  /** Every value that fed each constraint, with its option (for diagnostics across units). */
  values: Record<FleetKey, FleetValue[]>;
}

function emptyValues(): Record<FleetKey, FleetValue[]> {
  return { MachineID: [], MachineOf: [], MachineMetadata: [], Conflicts: [], Global: [], Replaces: [] };
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * Read the unit's [X-Fleet] section for the unit named `unitName` (the instance name for an
 * instance: `%i` expands to its instance). Diagnostics carry the unit's file and the position of
 * the offending option. Cross-unit checks (mutual MachineOf) are in machineOfCycleDiagnostics() (xfleet-cycles.ts).
 */
export function parseFleetSection(unit: ParsedUnit, unitName: string): FleetSection {
  const diagnostics: Diagnostic[] = [];
  const values = emptyValues();
  const file = unit.file;
  const diag = (
    o: UnitOption | null,
    rule: string,
    severity: Diagnostic['severity'],
    message: string,
    atValue = true,
  ) => {
    diagnostics.push({
      file: o?.file ?? file,
      line: o ? o.line : 0,
      column: o ? (atValue ? o.valueColumn : o.column) : 0,
      rule,
      severity,
      message,
    });
  };

  // Expand as fleet would for this unit; a template is checked as one of its instances.
  const parsedName = parseUnitName(unitName);
  const expandAs = parsedName?.template
    ? `${parsedName.prefix}@${TEMPLATE_SAMPLE_INSTANCE}.${parsedName.type}`
    : unitName;

  const machineIdByKey = new Map<string, FleetValue[]>();
  let present = false;
  for (const section of unit.sections) {
    if (section.name !== FLEET_SECTION) {
      if (section.name.toLowerCase() === FLEET_SECTION.toLowerCase()) {
        diagnostics.push({
          file: section.file ?? file,
          line: section.line,
          column: 1,
          rule: 'FLT01',
          severity: 'warning',
          message:
            `section [${section.name}] is not [${FLEET_SECTION}]: section names are case-sensitive, so fleet ` +
            `would ignore these options`,
        });
      }
      continue;
    }
    present = true;
    for (const o of section.options) {
      const info = KEYS.get(o.key);
      if (!info) {
        const hint = suggestKey(o.key);
        diag(
          o,
          'FLT01',
          'warning',
          `unknown [X-Fleet] key ${o.key}=${hint ? ` (did you mean ${hint}=?)` : ''}; known: MachineID, MachineOf, ` +
            `MachineMetadata, Conflicts, Global, Replaces`,
          false,
        );
        continue;
      }
      if (info.deprecated) diag(o, 'FLT01', 'warning', info.deprecated, false);
      if (o.value === '' && o.file !== undefined) {
        // In a drop-in, an empty assignment resets what came before, as for systemd's list settings.
        values[info.key] = [];
        if (info.key === 'MachineID') machineIdByKey.clear();
        continue;
      }
      const pieces = splitFleetValue(o.value);
      if (pieces.length === 0 || (pieces.length === 1 && pieces[0] === '')) {
        diag(o, 'FLT03', 'error', `${o.key}= has an empty value`);
        continue;
      }
      for (const raw of pieces) {
        const fv: FleetValue = { value: expandFleetSpecifiers(raw, expandAs), raw, option: o };
        if (!checkValue(info.key, fv, unitName, diag)) continue;
        values[info.key].push(fv);
        if (info.key === 'MachineID') {
          const list = machineIdByKey.get(o.key) ?? [];
          list.push(fv);
          machineIdByKey.set(o.key, list);
        }
      }
    }
  }

  // MachineID: fleet takes the first value of the first key present, in MACHINE_ID_ORDER.
  let machineId: string | undefined;
  for (const k of MACHINE_ID_ORDER) {
    const list = machineIdByKey.get(k);
    if (list && list.length > 0) {
      machineId = list[0]!.value;
      break;
    }
  }
  const distinctIds = uniq(values.MachineID.map((v) => v.value));
  if (distinctIds.length > 1) {
    const other = values.MachineID.find((v) => v.value !== machineId)!;
    diag(
      other.option,
      'FLT02',
      'error',
      `MachineID is given several different values (${distinctIds.join(', ')}): a unit runs on one machine, and ` +
        `fleet would silently use ${machineId}`,
    );
  }

  const machineMetadata: Record<string, string[]> = {};
  for (const v of values.MachineMetadata) {
    const eq = v.value.indexOf('=');
    const k = v.value.slice(0, eq);
    const list = machineMetadata[k] ?? (machineMetadata[k] = []);
    const val = v.value.slice(eq + 1);
    if (!list.includes(val)) list.push(val);
  }

  const lastGlobal = values.Global[values.Global.length - 1];
  const global = lastGlobal !== undefined && TRUTHY.has(lastGlobal.value.toLowerCase());

  const constraints: FleetConstraints = {
    machineMetadata,
    machineOf: uniq(values.MachineOf.map((v) => v.value)),
    conflicts: uniq(values.Conflicts.map((v) => v.value)),
    global,
    replaces: uniq(values.Replaces.map((v) => v.value)),
  };
  if (machineId !== undefined) constraints.machineId = machineId;

  // Combinations.
  if (global) {
    for (const key of ['MachineID', 'MachineOf', 'Conflicts', 'Replaces'] as const) {
      for (const v of firstPerOption(values[key])) {
        diag(
          v.option,
          'FLT02',
          'error',
          `${v.option.key}= cannot be combined with Global=${lastGlobal!.raw}: a global unit runs on every machine ` +
            `whose metadata matches; only MachineMetadata= may accompany Global=`,
          false,
        );
      }
    }
  } else if (machineId !== undefined) {
    for (const key of ['MachineOf', 'MachineMetadata'] as const) {
      for (const v of firstPerOption(values[key])) {
        diag(
          v.option,
          'FLT02',
          'error',
          `${v.option.key}= cannot be combined with MachineID=: MachineID already names the one machine the unit ` +
            `runs on`,
          false,
        );
      }
    }
  }
  const self = parsedName?.template ? expandAs : unitName;
  for (const v of values.MachineOf) {
    if (v.value === self) {
      diag(
        v.option,
        'FLT02',
        'error',
        `MachineOf=${v.raw} names the unit itself (${self}); a unit cannot follow itself`,
      );
    }
    for (const c of values.Conflicts) {
      if (c.value === v.value || (isGlob(c.value) && globMatch(c.value, v.value))) {
        diag(
          c.option,
          'FLT02',
          'error',
          `Conflicts=${c.raw} excludes ${v.value}, which MachineOf= requires on the same machine: the unit can never ` +
            `be placed`,
        );
      }
    }
  }
  for (const r of values.Replaces) {
    for (const c of values.Conflicts) {
      const same =
        r.value === c.value ||
        (!isGlob(r.value) && isGlob(c.value) && globMatch(c.value, r.value)) ||
        (!isGlob(c.value) && isGlob(r.value) && globMatch(r.value, c.value));
      if (same) {
        diag(
          r.option,
          'FLT02',
          'error',
          `Replaces=${r.raw} and Conflicts=${c.raw} name the same unit: replacing it evicts it from this machine, ` +
            `conflicting refuses to share one; use one of them`,
        );
      }
    }
  }

  return { file, constraints, diagnostics, present, values };
}

/** One entry per option (an option holding several values is reported once). */
function firstPerOption(vs: FleetValue[]): FleetValue[] {
  const seen = new Set<UnitOption>();
  return vs.filter((v) => {
    if (seen.has(v.option)) return false;
    seen.add(v.option);
    return true;
  });
}
