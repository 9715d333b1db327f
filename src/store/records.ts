/**
 * Every value gitfleet reads from the store is decoded here, next to the keyspace (keys.ts) that
 * names it. Nobody else parses stored JSON. What comes out is validated to the type it claims to
 * be; a record that is not is handled one way everywhere: `MalformedRecordError`, naming the key
 * and what is wrong with it. A record that must exist but does not (a shard the root names) is a
 * `MissingRecordError`. Both are stalled errors: retrying cannot help until someone rewrites the
 * record, and the watch that sees it rewritten triggers the next pass.
 *
 * Readers that take many records of one kind (machines, reports) use `decodeAll`, which hands
 * each bad one to a callback instead of failing the lot: one corrupt machine record must not hide
 * every other machine.
 */
import type { HealthCheck, RolloutPolicy } from '../desired/policy.js';
import type { Diagnostic } from '../diag.js';
import { StalledError } from '../errors.js';
import { decodeUnitFiles, UnitBodyError, type UnitFiles } from '../unit/body.js';
import { sha256 } from '../util/hash.js';
import type {
  ControllerStatus,
  DesiredEntry,
  DesiredRoot,
  DesiredGlobals,
  DesiredShard,
  EngineStatus,
  InspectAnswer,
  InspectRequest,
  MachineRecord,
  RolloutControl,
  RolloutGroup,
  RolloutHead,
  RolloutMachine,
  RolloutShard,
  ScheduleEntry,
  UnitStateReport,
  UnscheduledEntry,
} from './keys.js';
import { INSPECT_MAX_LINES } from './keys.js';
import type { KeyValue } from './store.js';

/** A stored value is not what its key holds. */
export class MalformedRecordError extends StalledError {
  override name = 'MalformedRecordError';
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`malformed record at ${key}: ${problem}`);
  }
}

/** A record that must exist (named by another) is absent. */
export class MissingRecordError extends StalledError {
  override name = 'MissingRecordError';
  constructor(
    readonly key: string,
    readonly why: string,
  ) {
    super(`missing record ${key}: ${why}`);
  }
}

// ---- a small validator: each check returns the value typed, or throws Bad with a path ----------
// The path is a stack of keys, turned into text only when a check fails: the engine decodes every
// shard of a 100,000-unit commit, so the happy path allocates nothing but the values it returns.

class Bad extends Error {}
type Path = (string | number)[];
type Check<T> = (v: unknown, path: Path) => T;

const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const pathText = (path: Path) =>
  path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('') || 'the value';
const fail = (path: Path, want: string, v: unknown): never => {
  throw new Bad(`${pathText(path)} must be ${want}, not ${describe(v)}`);
};

const str: Check<string> = (v, p) => (typeof v === 'string' ? v : fail(p, 'a string', v));
const num: Check<number> = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? v : fail(p, 'a number', v));
const bool: Check<boolean> = (v, p) => (typeof v === 'boolean' ? v : fail(p, 'true or false', v));
const oneOf =
  <T extends string>(...values: T[]): Check<T> =>
  (v, p) =>
    typeof v === 'string' && (values as string[]).includes(v) ? (v as T) : fail(p, values.join(' or '), v);
/** Check `v` under `key` of the path. */
function at<T>(check: Check<T>, v: unknown, path: Path, key: string | number): T {
  path.push(key);
  const out = check(v, path);
  path.pop();
  return out;
}
const arr =
  <T>(item: Check<T>): Check<T[]> =>
  (v, p) => {
    if (!Array.isArray(v)) return fail(p, 'an array', v);
    const out = new Array<T>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = at(item, v[i], p, i);
    return out;
  };
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const dict =
  <T>(item: Check<T>): Check<Record<string, T>> =>
  (v, p) => {
    if (!isObj(v)) return fail(p, 'an object', v);
    const out: Record<string, T> = {};
    for (const k of Object.keys(v)) out[k] = at(item, v[k], p, k);
    return out;
  };
const nullable =
  <T>(c: Check<T>): Check<T | null> =>
  (v, p) =>
    v === null ? null : c(v, p);
type Shape = Record<string, Check<unknown>>;
type Out<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> };
/** An object with these fields (required) and these (optional: absent or undefined). Extra fields are kept out. */
function obj<R extends Shape, O extends Shape = Record<never, never>>(
  required: R,
  optional?: O,
): Check<Out<R> & Partial<Out<O>>> {
  const req = Object.entries(required);
  const opt = Object.entries(optional ?? {});
  return (v, p) => {
    if (!isObj(v)) return fail(p, 'an object', v);
    const out: Record<string, unknown> = {};
    for (const [k, check] of req) out[k] = at(check, v[k], p, k);
    for (const [k, check] of opt) if (v[k] !== undefined) out[k] = at(check, v[k], p, k);
    return out as Out<R> & Partial<Out<O>>;
  };
}

// ---- the records -----------------------------------------------------------------------------

const constraints = obj(
  {
    machineMetadata: dict(arr(str)),
    machineOf: arr(str),
    conflicts: arr(str),
    global: bool,
    replaces: arr(str),
  },
  { machineId: str },
);
const maxParallel: Check<RolloutPolicy['maxParallel']> = (v, p) =>
  isObj(v) && 'percent' in v ? obj({ percent: num })(v, p) : obj({ count: num })(v, p);
const rollout: Check<RolloutPolicy> = obj({
  maxParallel,
  canary: num,
  minHealthyMs: num,
  healthyDeadlineMs: num,
  progressDeadlineMs: num,
  autoRevert: bool,
});
const health: Check<HealthCheck> = (v, p) => {
  const timing = { intervalMs: num, timeoutMs: num };
  const kind = isObj(v) ? v.kind : undefined;
  if (kind === 'http') return obj({ kind: oneOf('http'), url: str, ...timing })(v, p);
  if (kind === 'tcp') return obj({ kind: oneOf('tcp'), host: str, port: num, ...timing })(v, p);
  if (kind === 'exec') return obj({ kind: oneOf('exec'), argv: arr(str), ...timing })(v, p);
  return fail([...p, 'kind'], 'http, tcp or exec', kind);
};
const scheduleEntry: Check<ScheduleEntry> = obj(
  { hash: str, state: oneOf('loaded', 'launched') },
  { minHealthy: num, health },
);
const desiredEntry: Check<DesiredEntry> = obj(
  { name: str, hash: str, state: oneOf('inactive', 'loaded', 'launched'), constraints },
  { triggers: str, rollout, health },
);
const desiredRoot: Check<DesiredRoot> = obj({
  commit: str,
  at: str,
  shards: dict(str),
  global: arr(desiredEntry),
  count: num,
});
const desiredShard: Check<DesiredShard> = obj({ units: arr(desiredEntry) });
const desiredGlobals: Check<DesiredGlobals> = obj({ commit: str, global: arr(desiredEntry) });
const unscheduledEntry: Check<UnscheduledEntry> = obj({ reason: str });
const machineRecord: Check<MachineRecord> = obj(
  { id: str, address: str, metadata: dict(str), version: str, startedAt: str },
  { instance: str, ttl: num },
);
const unitStateReport: Check<UnitStateReport> = obj(
  { load: str, active: str, sub: str, hash: str },
  { driftRepairs: num, health: obj({ state: oneOf('starting', 'healthy', 'failed') }, { reason: str }) },
);
const engineStatus: Check<EngineStatus> = obj({
  holding: nullable(obj({ silent: num, known: num, since: str, until: str })),
  silent: arr(str),
});
const diagnostic: Check<Diagnostic> = obj({
  file: str,
  line: num,
  column: num,
  rule: str,
  severity: oneOf('error', 'warning', 'info'),
  message: str,
});
const controllerStatus: Check<ControllerStatus> = obj({
  applied: nullable(obj({ commit: str, at: str })),
  refused: nullable(obj({ commit: str, at: str, reason: str, diagnostics: arr(diagnostic) })),
});

const counts = obj({ healthy: num, failed: num, pending: num, updating: num });
const rolloutState = oneOf('progressing', 'succeeded', 'failed', 'reverted', 'paused', 'superseded');
const rolloutHead: Check<RolloutHead> = obj({
  commit: str,
  previous: nullable(str),
  state: rolloutState,
  started: num,
  ended: nullable(num),
  reason: nullable(str),
  counts,
  shards: arr(str),
});
const rolloutMachine: Check<RolloutMachine> = obj({
  machine: str,
  state: oneOf('pending', 'updating', 'healthy', 'failed', 'reverted'),
  from: nullable(str),
  since: num,
  reason: nullable(str),
});
const rolloutGroup: Check<RolloutGroup> = obj({
  unit: str,
  change: oneOf('changed', 'added', 'removed'),
  state: oneOf('progressing', 'succeeded', 'failed', 'reverted'),
  to: nullable(str),
  from: nullable(str),
  policy: rollout,
  machines: arr(rolloutMachine),
  reason: nullable(str),
});
const rolloutShard: Check<RolloutShard> = obj({ groups: arr(rolloutGroup) });
const rolloutControl: Check<RolloutControl> = obj({ paused: bool, at: str });
const rolloutLatest = obj({ commit: str });
const int =
  (min: number, max: number): Check<number> =>
  (v, p) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? (v as number)
      : fail(p, `a whole number from ${min} to ${max}`, v);
const inspectRequest: Check<InspectRequest> = obj(
  { unit: str, lines: int(0, INSPECT_MAX_LINES), status: bool },
  { after: str },
);
const journalLine = obj({ time: num, identifier: str, pid: nullable(num), priority: num, message: str });
const unitStatus = obj({
  name: str,
  load: str,
  active: str,
  sub: str,
  result: str,
  mainPid: num,
  execMainPid: num,
  execMainCode: nullable(oneOf('exited', 'killed', 'dumped')),
  execMainStatus: num,
  since: nullable(num),
  activeEnterTimestamp: nullable(num),
  nRestarts: num,
  slice: str,
  fragmentPath: str,
});
const inspectAnswer: Check<InspectAnswer> = obj(
  { machine: str, unit: str },
  {
    error: str,
    status: unitStatus,
    lines: arr(journalLine),
    cursor: nullable(str),
    journalError: str,
    truncated: bool,
  },
);

/** Parse `kv.value` as JSON and check it; MalformedRecordError names the key on failure. */
function decodeJson<T>(kv: KeyValue, check: Check<T>): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(kv.value);
  } catch {
    throw new MalformedRecordError(kv.key, 'not JSON');
  }
  try {
    return check(parsed, []);
  } catch (e) {
    if (e instanceof Bad) throw new MalformedRecordError(kv.key, e.message);
    throw e;
  }
}

export const decodeDesiredRoot = (kv: KeyValue): DesiredRoot => decodeJson(kv, desiredRoot);
export const decodeDesiredShard = (kv: KeyValue): DesiredShard => decodeJson(kv, desiredShard);
export const decodeDesiredGlobals = (kv: KeyValue): DesiredGlobals => decodeJson(kv, desiredGlobals);
export const decodeScheduleEntry = (kv: KeyValue): ScheduleEntry => decodeJson(kv, scheduleEntry);
export const decodeUnscheduledEntry = (kv: KeyValue): UnscheduledEntry => decodeJson(kv, unscheduledEntry);
export const decodeMachineRecord = (kv: KeyValue): MachineRecord => decodeJson(kv, machineRecord);
export const decodeUnitStateReport = (kv: KeyValue): UnitStateReport => decodeJson(kv, unitStateReport);
export const decodeEngineStatus = (kv: KeyValue): EngineStatus => decodeJson(kv, engineStatus);
export const decodeControllerStatus = (kv: KeyValue): ControllerStatus => decodeJson(kv, controllerStatus);
export const decodeInspectRequest = (kv: KeyValue): InspectRequest => decodeJson(kv, inspectRequest);
export const decodeInspectAnswer = (kv: KeyValue): InspectAnswer => decodeJson(kv, inspectAnswer);

export const decodeRolloutHead = (kv: KeyValue): RolloutHead => decodeJson(kv, rolloutHead);
export const decodeRolloutShard = (kv: KeyValue): RolloutShard => decodeJson(kv, rolloutShard);
export const decodeRolloutControl = (kv: KeyValue): RolloutControl => decodeJson(kv, rolloutControl);
export const decodeRolloutLatest = (kv: KeyValue): string => decodeJson(kv, rolloutLatest).commit;

/** The controller status, or the empty one when nothing was ever applied. */
export const decodeControllerStatusOrEmpty = (kv: KeyValue | null): ControllerStatus =>
  kv ? decodeControllerStatus(kv) : { applied: null, refused: null };

/** A unit body: the canonical text, checked against the hash its key names. */
export function decodeBody(kv: KeyValue, hash: string): string {
  if (sha256(kv.value) !== hash) throw new MalformedRecordError(kv.key, `content does not hash to ${hash}`);
  return kv.value;
}

/** A unit body as the files it stands for (src/unit/body.ts: the unit file and its drop-ins). */
export function decodeUnitBody(kv: KeyValue, hash: string): UnitFiles {
  const text = decodeBody(kv, hash);
  try {
    return decodeUnitFiles(text);
  } catch (e) {
    if (e instanceof UnitBodyError) throw new MalformedRecordError(kv.key, `not a unit body: ${e.message}`);
    throw e;
  }
}

/** The leader key's value: the engine id. */
export function decodeLeader(kv: KeyValue): string {
  if (kv.value.length === 0) throw new MalformedRecordError(kv.key, 'empty engine id');
  return kv.value;
}

/** A shard that must exist (the root names it): decoded, or MissingRecordError. */
export function requireShard(kv: KeyValue | null, key: string, root: string): DesiredShard {
  if (!kv) throw new MissingRecordError(key, `the desired root of commit ${root} names it`);
  return decodeDesiredShard(kv);
}

/** Decode one record; a malformed one goes to `onBad` and comes back as undefined. */
export function decodeOr<T>(
  kv: KeyValue,
  decode: (kv: KeyValue) => T,
  onBad: (e: MalformedRecordError) => void,
): T | undefined {
  try {
    return decode(kv);
  } catch (e) {
    if (!(e instanceof MalformedRecordError)) throw e;
    onBad(e);
    return undefined;
  }
}

/**
 * Decode each record; a malformed one goes to `onBad` (to log, or to show as broken) and is left
 * out, so one bad record does not hide the others.
 */
export function decodeAll<T>(
  kvs: readonly KeyValue[],
  decode: (kv: KeyValue) => T,
  onBad: (e: MalformedRecordError) => void,
): Array<{ kv: KeyValue; value: T }> {
  const out: Array<{ kv: KeyValue; value: T }> = [];
  for (const kv of kvs) {
    const value = decodeOr(kv, decode, onBad);
    if (value !== undefined) out.push({ kv, value });
  }
  return out;
}
