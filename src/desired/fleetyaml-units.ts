/**
 * fleet.yaml's `units:` block (pure): each entry's name, state, instances, and its rollout and
 * health blocks (read in policy-yaml.ts), plus the desired-state words shared with `defaults:`.
 * Kept apart from fleetyaml.ts, which reads the top level, because the per-unit rules (templates
 * and their instances above all) are most of the format.
 */
import { DESIRED_STATES, type DesiredStateName, type FleetSpecUnit } from './types.js';
import { instantiate, isTemplate, isValidUnitName, templateOf, unitNameError } from '../unit/names.js';
import { parseHealthBlock, parseRolloutBlock, type YamlCtx } from './policy-yaml.js';
import { closest } from './suggest.js';
import { childMap, describe, isPlainObject, type LineCol, type PMap, type PNode, type Positions } from './yaml-tree.js';

/** `instances: N` larger than this is refused: a typo must not create a million units. */
export const MAX_INSTANCES = 10_000;

const UNIT_KEYS = ['state', 'instances', 'rollout', 'health'] as const;

/** fleetctl verbs and systemd words people reach for, mapped to the state they mean. */
const STATE_HINTS: Record<string, DesiredStateName> = {
  start: 'launched',
  started: 'launched',
  running: 'launched',
  active: 'launched',
  launch: 'launched',
  enabled: 'launched',
  stop: 'loaded',
  stopped: 'loaded',
  load: 'loaded',
  submit: 'inactive',
  submitted: 'inactive',
  unload: 'inactive',
  unloaded: 'inactive',
  disabled: 'inactive',
  inactive: 'inactive',
};

/**
 * The units of a `units:` value (`node` its positions, `at` where the value starts); entries with
 * errors are reported through `ctx` (an entry with a bad name is left out).
 */
export function parseUnitsBlock(
  units: unknown,
  node: PMap | undefined,
  at: LineCol,
  pos: Positions,
  ctx: YamlCtx,
): Record<string, FleetSpecUnit> {
  const out: Record<string, FleetSpecUnit> = {};
  if (!isPlainObject(units)) {
    ctx.err(at, 'YML01', `units must be a mapping of unit names to states; found ${describe(units)}`);
    return out;
  }
  for (const name of Object.keys(units)) {
    const entry = units[name];
    const kAt = ctx.keyAt(node, name);
    const vAt = ctx.valueAt(node, name);
    const nameErr = isValidUnitName(name) ? null : (unitNameError(name) ?? 'not a valid unit name');
    if (nameErr) {
      ctx.err(kAt, 'YML01', `'${name}' in units is not a valid unit name: ${nameErr}`);
      continue;
    }
    const unit: FleetSpecUnit = { line: kAt.line, column: kAt.column };
    if (entry === null) {
      // `name:` with nothing after it: listed, default state.
    } else if (typeof entry === 'string') {
      const s = checkState(entry, vAt, `the state of ${name}`, ctx);
      if (s) unit.state = s;
    } else if (isPlainObject(entry)) {
      parseUnitEntry(name, entry, childMap(node, name), unit, pos, ctx);
    } else {
      ctx.err(
        vAt,
        'YML01',
        `units.${name} must be a state (inactive, loaded, launched) or a mapping {state, instances}; found ` +
          `${describe(entry)}`,
      );
    }
    out[name] = unit;
  }
  return out;
}

/** A unit given as a mapping: its state, rollout, health and instances, set on `unit`. */
function parseUnitEntry(
  name: string,
  entry: Record<string, unknown>,
  eNode: PMap | undefined,
  unit: FleetSpecUnit,
  pos: Positions,
  ctx: YamlCtx,
): void {
  ctx.unknownKeys(entry, UNIT_KEYS, eNode, `in units.${name}`);
  if (Object.hasOwn(entry, 'state')) {
    const s = checkState(entry.state, ctx.valueAt(eNode, 'state'), `the state of ${name}`, ctx);
    if (s) unit.state = s;
  }
  if (Object.hasOwn(entry, 'rollout') && entry.rollout !== null) {
    const rAt = ctx.keyAt(eNode, 'rollout');
    const tmpl = templateOf(name);
    if (tmpl && !isTemplate(name)) {
      ctx.err(rAt, 'YML05', `units.${name}.rollout: the instances of a template roll out together; set it on ${tmpl}`);
    } else {
      const r = parseRolloutBlock(entry.rollout, childMap(eNode, 'rollout'), rAt, `units.${name}.rollout`, ctx);
      if (r) unit.rollout = r;
    }
  }
  if (Object.hasOwn(entry, 'health') && entry.health !== null) {
    const h = parseHealthBlock(entry.health, childMap(eNode, 'health'), ctx.keyAt(eNode, 'health'), name, ctx);
    if (h) unit.health = h;
  }
  if (Object.hasOwn(entry, 'instances')) {
    const iAt = ctx.keyAt(eNode, 'instances');
    if (!isTemplate(name)) {
      ctx.err(iAt, 'YML01', `instances are only for templates (name@.type); ${name} is not a template`);
    } else {
      const inst = checkInstances(name, entry.instances, eNode?.entries.get('instances')?.value, iAt, pos, ctx);
      if (inst) unit.instances = inst;
    }
  }
}

/** `v` as a desired state, or undefined after a YML04 error that suggests the state meant. */
export function checkState(v: unknown, at: LineCol, what: string, ctx: YamlCtx): DesiredStateName | undefined {
  if (typeof v === 'string' && (DESIRED_STATES as readonly string[]).includes(v)) return v as DesiredStateName;
  const shown = typeof v === 'string' ? `'${v}'` : describe(v);
  const hint = typeof v === 'string' ? (STATE_HINTS[v.toLowerCase()] ?? closest(v, DESIRED_STATES)) : undefined;
  ctx.err(
    at,
    'YML04',
    `${what} is ${shown}: a state must be inactive, loaded or launched` + (hint ? `; did you mean '${hint}'?` : ''),
  );
  return undefined;
}

/** A template's `instances:` (a count N for 1..N, or a list of names), or undefined after errors. */
function checkInstances(
  template: string,
  v: unknown,
  node: PNode | undefined,
  at: LineCol,
  pos: Positions,
  ctx: YamlCtx,
): string[] | undefined {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) {
      ctx.err(at, 'YML01', `instances of ${template} must be a whole number >= 0 or a list of names; found ${v}`);
      return undefined;
    }
    if (v > MAX_INSTANCES) {
      ctx.err(at, 'YML01', `instances of ${template} is ${v}; at most ${MAX_INSTANCES} instances per template`);
      return undefined;
    }
    return Array.from({ length: v }, (_, i) => String(i + 1));
  }
  if (!Array.isArray(v)) {
    ctx.err(at, 'YML01', `instances of ${template} must be a number N (1..N) or a list of names; found ${describe(v)}`);
    return undefined;
  }
  if (v.length > MAX_INSTANCES) {
    ctx.err(at, 'YML01', `instances of ${template} lists ${v.length} names; at most ${MAX_INSTANCES} per template`);
    return undefined;
  }
  const out: string[] = [];
  const seen = new Set<string>();
  let ok = true;
  v.forEach((item, i) => {
    const iAt = node && node.kind === 'seq' && node.items[i] ? pos.of(node.items[i]!.offset) : at;
    const inst =
      typeof item === 'string'
        ? item
        : typeof item === 'number' && Number.isInteger(item) && item >= 0
          ? String(item)
          : undefined;
    if (inst === undefined) {
      ctx.err(iAt, 'YML01', `an instance of ${template} must be a name or a whole number; found ${describe(item)}`);
      ok = false;
      return;
    }
    const why = instanceProblem(template, inst);
    if (why) {
      ctx.err(iAt, 'YML01', `instance '${inst}' of ${template} does not make a valid unit name: ${why}`);
      ok = false;
      return;
    }
    if (seen.has(inst)) {
      ctx.err(iAt, 'YML01', `instance '${inst}' of ${template} is listed twice`);
      ok = false;
      return;
    }
    seen.add(inst);
    out.push(inst);
  });
  return ok ? out : undefined;
}

/** The unit name of instance `inst` of `template`, as fleet.yaml means it (see instanceProblem). */
export function instanceName(template: string, inst: string): string {
  return instantiate(template, inst, { escape: false });
}

/**
 * Instances in fleet.yaml are taken literally (already escaped, as in the unit name `web@a.service`),
 * not run through systemd-escape: `[a-b]` means web@a-b.service.
 */
function instanceProblem(template: string, inst: string): string | undefined {
  if (inst === '') return 'it is empty';
  try {
    instantiate(template, inst, { escape: false });
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
