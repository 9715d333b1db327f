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
 */
import type { Diagnostic } from '../diag.js';
import { globError, globMatch, isGlob } from '../fleet/glob.js';
import { isValidUnitName, parseUnitName, unitNameError } from './names.js';
import { expandFleetSpecifiers } from './specifiers.js';
import type { FleetConstraints, ParsedUnit, UnitOption } from './types.js';

export const FLEET_SECTION = 'X-Fleet';

/** What a key sets, after mapping fleet's deprecated names. */
export type FleetKey = 'MachineID' | 'MachineOf' | 'MachineMetadata' | 'Conflicts' | 'Global' | 'Replaces';

interface KeyInfo {
  key: FleetKey;
  /** Set for fleet's pre-0.8 names: the message of the FLT01 warning. */
  deprecated?: string;
}

/** fleet's validRequirements (job/job.go). */
const KEYS: ReadonlyMap<string, KeyInfo> = new Map<string, KeyInfo>([
  ['MachineID', { key: 'MachineID' }],
  ['MachineOf', { key: 'MachineOf' }],
  ['MachineMetadata', { key: 'MachineMetadata' }],
  ['Conflicts', { key: 'Conflicts' }],
  ['Global', { key: 'Global' }],
  ['Replaces', { key: 'Replaces' }],
  [
    'X-ConditionMachineID',
    { key: 'MachineID', deprecated: 'X-ConditionMachineID is deprecated since fleet 0.8: use MachineID=' },
  ],
  [
    'X-ConditionMachineBootID',
    {
      key: 'MachineID',
      deprecated:
        'X-ConditionMachineBootID is deprecated: a boot id changes on every boot; it is read as MachineID=, use that',
    },
  ],
  [
    'X-ConditionMachineOf',
    { key: 'MachineOf', deprecated: 'X-ConditionMachineOf is deprecated since fleet 0.8: use MachineOf=' },
  ],
  [
    'X-ConditionMachineMetadata',
    {
      key: 'MachineMetadata',
      deprecated: 'X-ConditionMachineMetadata is deprecated since fleet 0.8: use MachineMetadata=',
    },
  ],
  ['X-Conflicts', { key: 'Conflicts', deprecated: 'X-Conflicts is deprecated since fleet 0.8: use Conflicts=' }],
]);

const MACHINE_ID_ORDER = ['MachineID', 'X-ConditionMachineID', 'X-ConditionMachineBootID'];

const TRUTHY = new Set(['true', 'yes', '1', 'on', 't']);
const FALSY = new Set(['false', 'no', '0', 'off', 'f']);

/**
 * For a template (`web@.service`) values are expanded as for this sample instance, so that checks
 * like "MachineOf names a valid unit" see what every instance will see.
 */
export const TEMPLATE_SAMPLE_INSTANCE = 'INSTANCE';

/** One value of an [X-Fleet] option after fleet's multi-value split and specifier expansion. */
export interface FleetValue {
  value: string;
  /** The value as written (before %-expansion). */
  raw: string;
  option: UnitOption;
}

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

/**
 * fleet's parseMultivalueLine(): a value that starts and ends with `"` is split at spaces outside
 * quotes, quotes removed; anything else is a single value. Empty pieces (from runs of spaces) are
 * dropped here, where fleet kept them as empty values that could only ever fail to match.
 */
export function splitFleetValue(value: string): string[] {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return [value];
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') {
      quoted = !quoted;
      continue;
    }
    if (ch === ' ' && !quoted) {
      if (cur !== '') out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

function suggestKey(key: string): string | null {
  const lower = key.toLowerCase();
  let best: string | null = null;
  let bestD = 3;
  for (const k of KEYS.keys()) {
    if (KEYS.get(k)!.deprecated) continue;
    if (k.toLowerCase() === lower) return k;
    const d = levenshtein(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
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
 * the offending option. Cross-unit checks (mutual MachineOf) are in machineOfCycleDiagnostics().
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

type DiagFn = (o: UnitOption, rule: string, severity: Diagnostic['severity'], message: string) => void;

/** Validate one value of a known key; false when it must not feed the constraints. */
function checkValue(key: FleetKey, fv: FleetValue, unitName: string, diag: DiagFn): boolean {
  const { value, option: o } = fv;
  const unquotedList = !o.value.startsWith('"') && /\s/.test(value);
  const show =
    value === fv.raw ? JSON.stringify(value) : `${JSON.stringify(fv.raw)} (${JSON.stringify(value)} for ${unitName})`;
  switch (key) {
    case 'MachineID':
      if (value === '' || /\s/.test(value)) {
        diag(o, 'FLT03', 'error', `MachineID=${show} is not a machine id (a 32-char id or its 8-char short form)`);
        return false;
      }
      return true;
    case 'MachineMetadata': {
      const parts = value.split('=');
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
        const hint =
          unquotedList && parts.length > 2
            ? `; for several pairs quote each one: ${o.key}=${value
                .split(/\s+/)
                .map((p) => `"${p}"`)
                .join(' ')}`
            : '';
        diag(
          o,
          'FLT03',
          'error',
          `${o.key}=${show} is not key=value (exactly one '=', both sides non-empty); fleet would silently ignore ` +
            `it${hint}`,
        );
        return false;
      }
      return true;
    }
    case 'Global': {
      const l = value.toLowerCase();
      if (!TRUTHY.has(l) && !FALSY.has(l)) {
        diag(
          o,
          'FLT03',
          'error',
          `Global=${show} is not a boolean fleet understands (true/yes/1/on/t or false/no/0/off/f); fleet would read ` +
            `it as false`,
        );
        return false;
      }
      return true;
    }
    case 'MachineOf': {
      if (unquotedList) {
        diag(
          o,
          'FLT03',
          'error',
          `${o.key}=${show} is read by fleet as ONE unit name; for several, quote each: ${o.key}=${value
            .split(/\s+/)
            .map((p) => `"${p}"`)
            .join(' ')}`,
        );
        return false;
      }
      const err = unitNameError(value);
      if (err) {
        diag(o, 'FLT03', 'error', `${o.key}=${show} is not a valid unit name: ${err}`);
        return false;
      }
      if (parseUnitName(value)?.template) {
        diag(
          o,
          'FLT03',
          'error',
          `${o.key}=${show} names a template, which never runs itself; name an instance (e.g. with %i)`,
        );
        return false;
      }
      return true;
    }
    case 'Conflicts':
    case 'Replaces': {
      if (unquotedList) {
        diag(
          o,
          'FLT03',
          'error',
          `${o.key}=${show} is read by fleet as ONE pattern and can match no unit; ` +
            `for several, quote each: ${o.key}=${value
              .split(/\s+/)
              .map((p) => `"${p}"`)
              .join(' ')}`,
        );
        return false;
      }
      const err = globError(value);
      if (err) {
        diag(o, 'FLT03', 'error', `${o.key}=${show} is not a valid glob (fleet would match nothing): ${err}`);
        return false;
      }
      if (!isGlob(value) && !isValidUnitName(value)) {
        diag(o, 'FLT03', 'error', `${o.key}=${show} is neither a glob nor a valid unit name: ${unitNameError(value)}`);
        return false;
      }
      return true;
    }
  }
}

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
export function machineOfCycleDiagnostics(units: readonly FleetUnitRef[]): Diagnostic[] {
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
