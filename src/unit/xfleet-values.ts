/**
 * The [X-Fleet] keys and the grammar of one value, as coreos/fleet reads them (job/job.go,
 * unit/unit.go): which keys exist and what their deprecated names map to, fleet's multi-value
 * split, and the FLT01/FLT03 checks of a single value. Kept apart from xfleet.ts, which combines
 * the values of a whole section into constraints, so that each value's rules can be read alone.
 */
import type { Diagnostic } from '../diag.js';
import { globError, isGlob } from '../fleet/glob.js';
import { isValidUnitName, parseUnitName, unitNameError } from './names.js';
import type { UnitOption } from './types.js';

/** What a key sets, after mapping fleet's deprecated names. */
export type FleetKey = 'MachineID' | 'MachineOf' | 'MachineMetadata' | 'Conflicts' | 'Global' | 'Replaces';

interface KeyInfo {
  key: FleetKey;
  /** Set for fleet's pre-0.8 names: the message of the FLT01 warning. */
  deprecated?: string;
}

/** fleet's validRequirements (job/job.go). */
export const KEYS: ReadonlyMap<string, KeyInfo> = new Map<string, KeyInfo>([
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

/** Where fleet looks for the machine id, in order: the first key with a value wins. */
export const MACHINE_ID_ORDER = ['MachineID', 'X-ConditionMachineID', 'X-ConditionMachineBootID'];

/** The words fleet reads as true and as false in Global= (compared in lower case). */
export const TRUTHY = new Set(['true', 'yes', '1', 'on', 't']);
const FALSY = new Set(['false', 'no', '0', 'off', 'f']);

/** One value of an [X-Fleet] option after fleet's multi-value split and specifier expansion. */
export interface FleetValue {
  value: string;
  /** The value as written (before %-expansion). */
  raw: string;
  option: UnitOption;
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

/** The known key closest to a mistyped one (case-only differences always qualify). */
export function suggestKey(key: string): string | null {
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

/** `a b` -> `"a" "b"`: how to write several values so that fleet reads them as several. */
const quoteEach = (value: string) =>
  value
    .split(/\s+/)
    .map((p) => `"${p}"`)
    .join(' ');

export type DiagFn = (o: UnitOption, rule: string, severity: Diagnostic['severity'], message: string) => void;

/** Validate one value of a known key; false when it must not feed the constraints. */
export function checkValue(key: FleetKey, fv: FleetValue, unitName: string, diag: DiagFn): boolean {
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
          unquotedList && parts.length > 2 ? `; for several pairs quote each one: ${o.key}=${quoteEach(value)}` : '';
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
          `${o.key}=${show} is read by fleet as ONE unit name; for several, quote each: ${o.key}=${quoteEach(value)}`,
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
            `for several, quote each: ${o.key}=${quoteEach(value)}`,
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
