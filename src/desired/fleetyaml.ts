/**
 * fleet.yaml -> FleetSpec (pure). The format is in docs/cli.md; docs/fleet.schema.json is the
 * published JSON Schema and test/desired/schema.test.ts keeps the two in agreement.
 *
 * fleet.yaml comes from git and is untrusted: it is read with js-yaml's core schema (no custom
 * tags), size- and depth-capped, anchors and aliases are refused outright (no alias expansion means
 * no "billion laughs"), duplicate keys are errors, and every finding carries line and column.
 */
import * as yaml from 'js-yaml';
import { posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import { DESIRED_STATES, type DesiredStateName, type FleetSpec, type FleetSpecUnit } from './types.js';
import { instantiate, isTemplate, isValidUnitName, templateOf, unitNameError } from '../unit/names.js';
import { parseHealthBlock, parseRolloutBlock, resolveRollout, type YamlCtx } from './policy-yaml.js';
import { closest } from './suggest.js';
import {
  buildPositionTree,
  describe,
  isPlainObject,
  offsetOf,
  Positions,
  yamlError,
  type LineCol,
  type PMap,
  type PNode,
} from './yaml-tree.js';

/** fleet.yaml larger than this is refused before parsing. */
export const MAX_FLEET_YAML_BYTES = 1024 * 1024;
/** Nesting deeper than this is refused (the real format needs 4 levels). */
export const MAX_FLEET_YAML_DEPTH = 16;
/** `instances: N` larger than this is refused: a typo must not create a million units. */
export const MAX_INSTANCES = 10_000;

export const FLEET_YAML = 'fleet.yaml';

const TOP_KEYS = ['path', 'defaults', 'allowEmpty', 'rollout', 'units'] as const;
const DEFAULTS_KEYS = ['state'] as const;
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

/** The spec used when a repository has no fleet.yaml: every unit file launched, from `base`. */
export function defaultFleetSpec(base = ''): FleetSpec {
  return { path: normalizeBase(base), defaults: { state: 'launched' }, allowEmpty: false, units: {} };
}

export interface FleetYamlResult {
  /** null when fleet.yaml has errors (diagnostics say which). */
  spec: FleetSpec | null;
  diagnostics: Diagnostic[];
}

/**
 * Parse and validate fleet.yaml. `file` is its path relative to the repo root (diagnostics name it,
 * and `path:` inside it is relative to its directory, so the returned `spec.path` is relative to the
 * repo root). Never throws on bad content.
 */
export function parseFleetYaml(content: string | Uint8Array, file: string): FleetYamlResult {
  const diags: Diagnostic[] = [];
  const err = (line: number, column: number, rule: string, message: string): void => {
    diags.push({ file, line, column, rule, severity: 'error', message });
  };
  const size = typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.byteLength;
  if (size > MAX_FLEET_YAML_BYTES) {
    err(0, 0, 'YML01', `fleet.yaml is ${size} bytes; the limit is ${MAX_FLEET_YAML_BYTES} (1 MiB)`);
    return { spec: null, diagnostics: diags };
  }
  let text: string;
  if (typeof content === 'string') text = content;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(content);
    } catch {
      err(0, 0, 'YML01', 'fleet.yaml is not valid UTF-8');
      return { spec: null, diagnostics: diags };
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const pos = new Positions(text);

  let events: yaml.Event[];
  try {
    events = yaml.parseEvents(text, { filename: file, maxDepth: MAX_FLEET_YAML_DEPTH });
  } catch (e) {
    yamlError(e, err, text);
    return { spec: null, diagnostics: diags };
  }

  // Refuse anchors and aliases before anything is constructed: nothing in fleet.yaml needs them,
  // and refusing them is the simplest complete defence against alias expansion bombs.
  let documents = 0;
  for (const ev of events) {
    if (ev.type === yaml.EVENT_ID.DOCUMENT) documents++;
    const anchor = 'anchorStart' in ev ? ev.anchorStart : -1;
    if (ev.type === yaml.EVENT_ID.ALIAS || anchor >= 0) {
      const at = pos.of(Math.max(0, anchor - 1));
      err(at.line, at.column, 'YML01', 'anchors (&name) and aliases (*name) are not allowed in fleet.yaml');
      return { spec: null, diagnostics: diags };
    }
  }
  if (documents > 1) {
    err(0, 0, 'YML01', `fleet.yaml must hold one YAML document, found ${documents} (remove the '---' separators)`);
    return { spec: null, diagnostics: diags };
  }

  let value: unknown;
  try {
    const docs = yaml.constructFromEvents(events, {
      source: text,
      filename: file,
      schema: yaml.CORE_SCHEMA,
      maxAliases: 0,
    });
    value = docs.length === 0 ? null : docs[0];
  } catch (e) {
    yamlError(e, err, text);
    return { spec: null, diagnostics: diags };
  }
  const tree = buildPositionTree(events, text);

  const base = posix.dirname(file) === '.' ? '' : posix.dirname(file);
  const spec = defaultFleetSpec(base);
  if (value === null || value === undefined) return { spec, diagnostics: diags };
  if (!isPlainObject(value)) {
    const at = pos.of(offsetOf(tree));
    err(
      at.line,
      at.column,
      'YML01',
      `fleet.yaml must be a mapping of ${TOP_KEYS.join(', ')}; found ${describe(value)}`,
    );
    return { spec: null, diagnostics: diags };
  }
  const top = tree && tree.kind === 'map' ? tree : undefined;
  const keyAt = (node: PMap | undefined, key: string) => pos.of(node?.entries.get(key)?.keyOffset ?? offsetOf(node));
  const valueAt = (node: PMap | undefined, key: string) => pos.of(offsetOf(node?.entries.get(key)?.value ?? node));

  unknownKeys(value, TOP_KEYS, top, 'at the top level of fleet.yaml');
  const ctx: YamlCtx = {
    err: (at, rule, message) => err(at.line, at.column, rule, message),
    keyAt,
    valueAt,
    unknownKeys,
  };

  if (Object.hasOwn(value, 'rollout') && value.rollout !== null) {
    const r = parseRolloutBlock(value.rollout, childMap(top, 'rollout'), keyAt(top, 'rollout'), 'rollout', ctx);
    if (r) spec.rollout = r;
  }

  if (Object.hasOwn(value, 'path')) {
    const p = value.path;
    const at = valueAt(top, 'path');
    if (typeof p !== 'string')
      err(at.line, at.column, 'YML01', `path must be a directory name (a string); found ${describe(p)}`);
    else {
      const problem = pathProblem(p);
      if (problem) err(at.line, at.column, 'YML01', `path '${p}' ${problem}`);
      else spec.path = normalizeBase(posix.join(base, p));
    }
  }

  if (Object.hasOwn(value, 'allowEmpty')) {
    const v = value.allowEmpty;
    const at = valueAt(top, 'allowEmpty');
    if (typeof v !== 'boolean')
      err(at.line, at.column, 'YML01', `allowEmpty must be true or false; found ${describe(v)}`);
    else spec.allowEmpty = v;
  }

  if (Object.hasOwn(value, 'defaults') && value.defaults !== null) {
    const d = value.defaults;
    const dNode = childMap(top, 'defaults');
    if (!isPlainObject(d)) {
      const at = valueAt(top, 'defaults');
      err(
        at.line,
        at.column,
        'YML01',
        `defaults must be a mapping (defaults: {state: launched}); found ${describe(d)}`,
      );
    } else {
      unknownKeys(d, DEFAULTS_KEYS, dNode, 'in defaults');
      if (Object.hasOwn(d, 'state')) {
        const s = checkState(d.state, valueAt(dNode, 'state'), 'defaults.state');
        if (s) spec.defaults.state = s;
      }
    }
  }

  if (Object.hasOwn(value, 'units') && value.units !== null) {
    const units = value.units;
    const uNode = childMap(top, 'units');
    if (!isPlainObject(units)) {
      const at = valueAt(top, 'units');
      err(at.line, at.column, 'YML01', `units must be a mapping of unit names to states; found ${describe(units)}`);
    } else {
      for (const name of Object.keys(units)) {
        const entry = units[name];
        const kAt = keyAt(uNode, name);
        const vAt = valueAt(uNode, name);
        const nameErr = isValidUnitName(name) ? null : (unitNameError(name) ?? 'not a valid unit name');
        if (nameErr) {
          err(kAt.line, kAt.column, 'YML01', `'${name}' in units is not a valid unit name: ${nameErr}`);
          continue;
        }
        const out: FleetSpecUnit = { line: kAt.line, column: kAt.column };
        if (entry === null) {
          // `name:` with nothing after it: listed, default state.
        } else if (typeof entry === 'string') {
          const s = checkState(entry, vAt, `the state of ${name}`);
          if (s) out.state = s;
        } else if (isPlainObject(entry)) {
          const eNode = childMap(uNode, name);
          unknownKeys(entry, UNIT_KEYS, eNode, `in units.${name}`);
          if (Object.hasOwn(entry, 'state')) {
            const s = checkState(entry.state, valueAt(eNode, 'state'), `the state of ${name}`);
            if (s) out.state = s;
          }
          if (Object.hasOwn(entry, 'rollout') && entry.rollout !== null) {
            const rAt = keyAt(eNode, 'rollout');
            const tmpl = templateOf(name);
            if (tmpl && !isTemplate(name)) {
              err(
                rAt.line,
                rAt.column,
                'YML05',
                `units.${name}.rollout: the instances of a template roll out together; set it on ${tmpl}`,
              );
            } else {
              const r = parseRolloutBlock(entry.rollout, childMap(eNode, 'rollout'), rAt, `units.${name}.rollout`, ctx);
              if (r) out.rollout = r;
            }
          }
          if (Object.hasOwn(entry, 'health') && entry.health !== null) {
            const h = parseHealthBlock(entry.health, childMap(eNode, 'health'), keyAt(eNode, 'health'), name, ctx);
            if (h) out.health = h;
          }
          if (Object.hasOwn(entry, 'instances')) {
            const iAt = keyAt(eNode, 'instances');
            if (!isTemplate(name)) {
              err(
                iAt.line,
                iAt.column,
                'YML01',
                `instances are only for templates (name@.type); ${name} is not a template`,
              );
            } else {
              const inst = checkInstances(name, entry.instances, eNode?.entries.get('instances')?.value, iAt);
              if (inst) out.instances = inst;
            }
          }
        } else {
          err(
            vAt.line,
            vAt.column,
            'YML01',
            `units.${name} must be a state (inactive, loaded, launched) or a mapping {state, instances}; found ` +
              `${describe(entry)}`,
          );
        }
        spec.units[name] = out;
      }
    }
  }

  // Each unit's combined policy must make sense (a deadline no shorter than what it waits for).
  resolveRollout([spec.rollout], ctx.err);
  for (const u of Object.values(spec.units)) if (u.rollout) resolveRollout([spec.rollout, u.rollout], ctx.err);

  return { spec: diags.some((d) => d.severity === 'error') ? null : spec, diagnostics: diags };

  function unknownKeys(
    obj: Record<string, unknown>,
    allowed: readonly string[],
    node: PMap | undefined,
    where: string,
  ): void {
    for (const k of Object.keys(obj)) {
      if ((allowed as readonly string[]).includes(k)) continue;
      const at = keyAt(node, k);
      const hint = closest(k, allowed);
      err(
        at.line,
        at.column,
        'YML01',
        `unknown field '${k}' ${where}` +
          (hint ? `; did you mean '${hint}'?` : `; expected one of: ${allowed.join(', ')}`),
      );
    }
  }

  function checkState(v: unknown, at: LineCol, what: string): DesiredStateName | undefined {
    if (typeof v === 'string' && (DESIRED_STATES as readonly string[]).includes(v)) return v as DesiredStateName;
    const shown = typeof v === 'string' ? `'${v}'` : describe(v);
    const hint = typeof v === 'string' ? (STATE_HINTS[v.toLowerCase()] ?? closest(v, DESIRED_STATES)) : undefined;
    err(
      at.line,
      at.column,
      'YML04',
      `${what} is ${shown}: a state must be inactive, loaded or launched` + (hint ? `; did you mean '${hint}'?` : ''),
    );
    return undefined;
  }

  function checkInstances(template: string, v: unknown, node: PNode | undefined, at: LineCol): string[] | undefined {
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0) {
        err(
          at.line,
          at.column,
          'YML01',
          `instances of ${template} must be a whole number >= 0 or a list of names; found ${v}`,
        );
        return undefined;
      }
      if (v > MAX_INSTANCES) {
        err(
          at.line,
          at.column,
          'YML01',
          `instances of ${template} is ${v}; at most ${MAX_INSTANCES} instances per template`,
        );
        return undefined;
      }
      return Array.from({ length: v }, (_, i) => String(i + 1));
    }
    if (!Array.isArray(v)) {
      err(
        at.line,
        at.column,
        'YML01',
        `instances of ${template} must be a number N (1..N) or a list of names; found ${describe(v)}`,
      );
      return undefined;
    }
    if (v.length > MAX_INSTANCES) {
      err(
        at.line,
        at.column,
        'YML01',
        `instances of ${template} lists ${v.length} names; at most ${MAX_INSTANCES} per template`,
      );
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
        err(
          iAt.line,
          iAt.column,
          'YML01',
          `an instance of ${template} must be a name or a whole number; found ${describe(item)}`,
        );
        ok = false;
        return;
      }
      const why = instanceProblem(template, inst);
      if (why) {
        err(iAt.line, iAt.column, 'YML01', `instance '${inst}' of ${template} does not make a valid unit name: ${why}`);
        ok = false;
        return;
      }
      if (seen.has(inst)) {
        err(iAt.line, iAt.column, 'YML01', `instance '${inst}' of ${template} is listed twice`);
        ok = false;
        return;
      }
      seen.add(inst);
      out.push(inst);
    });
    return ok ? out : undefined;
  }

  function childMap(node: PMap | undefined, key: string): PMap | undefined {
    const v = node?.entries.get(key)?.value;
    return v && v.kind === 'map' ? v : undefined;
  }
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

/** Why `p` cannot be fleet.yaml's `path`, or undefined when it is fine. */
function pathProblem(p: string): string | undefined {
  if (p.includes('\0')) return 'contains a NUL character';
  if (p.includes('\\')) return "contains '\\': use '/' between directories";
  if (p.startsWith('/')) return 'is absolute: it must be relative to the directory of fleet.yaml';
  if (p.split('/').includes('..')) return "leaves the repository ('..' is not allowed)";
  return undefined;
}

/** 'a//b/./c/' -> 'a/b/c'; '.' and '' -> ''. */
function normalizeBase(p: string): string {
  const n = posix.normalize(p === '' ? '.' : p).replace(/\/+$/, '');
  return n === '.' ? '' : n;
}
