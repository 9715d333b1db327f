/**
 * The `rollout` and `health` blocks of fleet.yaml (pure): read with positions, every bad value a
 * YML05 error at its line, then resolved per unit (defaults < top-level block < the unit's or its
 * template's block). Durations are systemd time spans ("10s", "2m 30s", "500ms") or a number of
 * seconds.
 */
import { expandFleetSpecifiers } from '../unit/specifiers.js';
import { parseTimespan } from '../unit/lint/timespan.js';
import {
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_HEALTH_TIMEOUT_MS,
  DEFAULT_ROLLOUT,
  type HealthCheck,
  type RolloutPolicy,
} from './policy.js';
import { describe, isPlainObject, type LineCol, type PMap } from './yaml-tree.js';

/** What fleet.yaml's parser lends the block readers: positions and the shared error wording. */
export interface YamlCtx {
  err(at: LineCol, rule: string, message: string): void;
  keyAt(node: PMap | undefined, key: string): LineCol;
  valueAt(node: PMap | undefined, key: string): LineCol;
  unknownKeys(obj: Record<string, unknown>, allowed: readonly string[], node: PMap | undefined, where: string): void;
}

/** A rollout block as written: only the fields it sets. */
export type RolloutSpec = Partial<RolloutPolicy> & { at: LineCol };

/** A health block as written; specifiers (%i, %n, ...) are expanded per unit when resolved. */
export interface HealthSpec {
  check: { kind: 'http'; url: string } | { kind: 'tcp'; address: string } | { kind: 'exec'; argv: string[] };
  intervalMs: number;
  timeoutMs: number;
  at: LineCol;
}

const ROLLOUT_KEYS = ['maxParallel', 'canary', 'minHealthy', 'healthyDeadline', 'progressDeadline', 'autoRevert'];
const HEALTH_KEYS = ['http', 'tcp', 'exec', 'interval', 'timeout'];
const RULE = 'YML05';

export function parseRolloutBlock(
  v: unknown,
  node: PMap | undefined,
  at: LineCol,
  where: string,
  ctx: YamlCtx,
): RolloutSpec | undefined {
  if (!isPlainObject(v)) {
    ctx.err(at, RULE, `${where} must be a mapping of ${ROLLOUT_KEYS.join(', ')}; found ${describe(v)}`);
    return undefined;
  }
  ctx.unknownKeys(v, ROLLOUT_KEYS, node, `in ${where}`);
  const out: RolloutSpec = { at };
  const vAt = (k: string) => ctx.valueAt(node, k);
  let ok = true;
  const bad = (k: string, msg: string) => {
    ctx.err(vAt(k), RULE, `${where}.${k} ${msg}`);
    ok = false;
  };
  if (Object.hasOwn(v, 'maxParallel')) {
    const p = v.maxParallel;
    const pct = typeof p === 'string' ? /^\s*(\d+)\s*%\s*$/.exec(p) : null;
    if (typeof p === 'number' && Number.isInteger(p) && p >= 1) out.maxParallel = { count: p };
    else if (pct && Number(pct[1]) >= 1 && Number(pct[1]) <= 100) out.maxParallel = { percent: Number(pct[1]) };
    else
      bad('maxParallel', `must be a whole number of machines (at least 1) or a percentage 1%-100%; found ${shown(p)}`);
  }
  if (Object.hasOwn(v, 'canary')) {
    const c = v.canary;
    if (typeof c === 'number' && Number.isInteger(c) && c >= 0) out.canary = c;
    else bad('canary', `must be a whole number of machines (0 or more); found ${shown(c)}`);
  }
  for (const [k, field] of [
    ['minHealthy', 'minHealthyMs'],
    ['healthyDeadline', 'healthyDeadlineMs'],
    ['progressDeadline', 'progressDeadlineMs'],
  ] as const) {
    if (!Object.hasOwn(v, k)) continue;
    const ms = durationMs(v[k]);
    if (typeof ms === 'string') bad(k, ms);
    else if (k !== 'minHealthy' && ms === 0) bad(k, 'must be longer than 0');
    else out[field] = ms;
  }
  if (Object.hasOwn(v, 'autoRevert')) {
    if (typeof v.autoRevert === 'boolean') out.autoRevert = v.autoRevert;
    else bad('autoRevert', `must be true or false; found ${shown(v.autoRevert)}`);
  }
  return ok ? out : undefined;
}

export function parseHealthBlock(
  v: unknown,
  node: PMap | undefined,
  at: LineCol,
  unit: string,
  ctx: YamlCtx,
): HealthSpec | undefined {
  const where = `units.${unit}.health`;
  if (!unit.endsWith('.service')) {
    ctx.err(at, RULE, `${where}: a health check is for services; ${unit} is not a .service`);
    return undefined;
  }
  if (!isPlainObject(v)) {
    ctx.err(at, RULE, `${where} must be a mapping with one of http, tcp or exec; found ${describe(v)}`);
    return undefined;
  }
  ctx.unknownKeys(v, HEALTH_KEYS, node, `in ${where}`);
  const kinds = (['http', 'tcp', 'exec'] as const).filter((k) => Object.hasOwn(v, k));
  if (kinds.length !== 1) {
    const found = kinds.length === 0 ? 'none' : kinds.join(' and ');
    ctx.err(at, RULE, `${where} needs exactly one of http, tcp or exec; found ${found}`);
    return undefined;
  }
  const kind = kinds[0]!;
  const kAt = ctx.valueAt(node, kind);
  const raw = v[kind];
  let check: HealthSpec['check'] | undefined;
  if (kind === 'http') {
    const problem = typeof raw === 'string' ? httpProblem(raw) : `must be a URL; found ${shown(raw)}`;
    if (problem) ctx.err(kAt, RULE, `${where}.http ${problem}`);
    else check = { kind, url: raw as string };
  } else if (kind === 'tcp') {
    const problem = typeof raw === 'string' ? tcpProblem(raw) : `must be host:port; found ${shown(raw)}`;
    if (problem) ctx.err(kAt, RULE, `${where}.tcp ${problem}`);
    else check = { kind, address: raw as string };
  } else {
    const argv = typeof raw === 'string' ? raw.trim().split(/\s+/) : raw;
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string' && a !== '')) {
      ctx.err(kAt, RULE, `${where}.exec must be a command line or a list of words; found ${shown(raw)}`);
    } else if (!argv[0]!.startsWith('/')) {
      ctx.err(
        kAt,
        RULE,
        `${where}.exec must start with an absolute path (the agent runs no shell); found '${argv[0]}'`,
      );
    } else check = { kind, argv: argv as string[] };
  }
  const interval = Object.hasOwn(v, 'interval') ? durationMs(v.interval) : DEFAULT_HEALTH_INTERVAL_MS;
  const timeout = Object.hasOwn(v, 'timeout') ? durationMs(v.timeout) : DEFAULT_HEALTH_TIMEOUT_MS;
  let ok = check !== undefined;
  if (typeof interval === 'string' || interval === 0) {
    ctx.err(ctx.valueAt(node, 'interval'), RULE, `${where}.interval ${interval || 'must be longer than 0'}`);
    ok = false;
  }
  if (typeof timeout === 'string' || timeout === 0) {
    ctx.err(ctx.valueAt(node, 'timeout'), RULE, `${where}.timeout ${timeout || 'must be longer than 0'}`);
    ok = false;
  }
  if (ok && (timeout as number) > (interval as number)) {
    ctx.err(ctx.valueAt(node, 'timeout'), RULE, `${where}.timeout must not be longer than its interval`);
    ok = false;
  }
  return ok ? { check: check!, intervalMs: interval as number, timeoutMs: timeout as number, at } : undefined;
}

/**
 * One unit's policy: the defaults, then each block in order (the top-level `rollout`, then the
 * unit's or its template's). Errors in the combination (a deadline shorter than what it must wait
 * for) go to `err` at the block that set the later value.
 */
export function resolveRollout(
  blocks: readonly (RolloutSpec | undefined)[],
  err: (at: LineCol, rule: string, message: string) => void,
): RolloutPolicy {
  const p: RolloutPolicy = { ...DEFAULT_ROLLOUT };
  let last: LineCol | undefined;
  for (const b of blocks) {
    if (!b) continue;
    const { at, ...fields } = b;
    Object.assign(p, fields);
    last = at;
  }
  if (last && p.healthyDeadlineMs <= p.minHealthyMs) {
    err(
      last,
      RULE,
      `rollout: healthyDeadline (${p.healthyDeadlineMs} ms) must be longer than minHealthy (${p.minHealthyMs} ms)`,
    );
  }
  if (last && p.progressDeadlineMs < p.healthyDeadlineMs) {
    err(
      last,
      RULE,
      `rollout: progressDeadline (${p.progressDeadlineMs} ms) must not be shorter than healthyDeadline ` +
        `(${p.healthyDeadlineMs} ms)`,
    );
  }
  return p;
}

/** The check as the agent of `unitName` runs it: fleet's specifiers (%i, %n, %p, %N) expanded. */
export function resolveHealth(spec: HealthSpec, unitName: string): HealthCheck {
  const x = (s: string) => expandFleetSpecifiers(s, unitName);
  const timing = { intervalMs: spec.intervalMs, timeoutMs: spec.timeoutMs };
  const c = spec.check;
  if (c.kind === 'http') return { kind: 'http', url: x(c.url), ...timing };
  if (c.kind === 'exec') return { kind: 'exec', argv: c.argv.map(x), ...timing };
  const address = x(c.address);
  const i = address.lastIndexOf(':');
  return {
    kind: 'tcp',
    host: address.slice(0, i).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(i + 1)),
    ...timing,
  };
}

/** A duration in ms, or why the value is not one. */
function durationMs(v: unknown): number | string {
  if (typeof v === 'number') {
    return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : `must be a duration (0 or more); found ${v}`;
  }
  if (typeof v !== 'string') return `must be a duration like 10s, 2m or 500ms; found ${shown(v)}`;
  const r = parseTimespan(v, 'sec');
  if (!r.ok) return `must be a duration like 10s, 2m or 500ms; '${v}': ${r.reason}`;
  if (r.value === 'infinity') return `must be a finite duration; found '${v}'`;
  return Number(r.value / 1000n);
}

/** Why a health URL cannot be used, or null. Specifiers stand for names, so a sample one is put in. */
function httpProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url.replace(/%[inpN]/g, '1'));
  } catch {
    return `must be an http:// or https:// URL; found '${url}'`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return `must be an http:// or https:// URL; found a ${u.protocol.replace(':', '')} URL '${url}'`;
  }
  return null;
}

function tcpProblem(address: string): string | null {
  const a = address.replace(/%[inpN]/g, '1');
  const i = a.lastIndexOf(':');
  const port = Number(a.slice(i + 1));
  if (i <= 0 || !/^\d+$/.test(a.slice(i + 1)) || port < 1 || port > 65535) {
    return `must be host:port with a port 1-65535; found '${address}'`;
  }
  return null;
}

function shown(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : describe(v);
}
