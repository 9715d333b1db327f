/**
 * fleet.yaml -> FleetSpec (pure). The format is in docs/cli.md; docs/fleet.schema.json is the
 * published JSON Schema and test/desired/schema.test.ts keeps the two in agreement.
 *
 * fleet.yaml comes from git and is untrusted: yaml-read.ts reads it safely (size and depth caps, no
 * anchors or aliases, no duplicate keys). This file checks the top level (path, allowEmpty,
 * defaults, rollout); fleetyaml-units.ts checks the `units:` block; every finding carries line and
 * column.
 */
import { posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import type { FleetSpec } from './types.js';
import { checkState, parseUnitsBlock } from './fleetyaml-units.js';
import { parseRolloutBlock, resolveRollout, type YamlCtx } from './policy-yaml.js';
import { closest } from './suggest.js';
import { readYamlDocument } from './yaml-read.js';
import { childMap, describe, isPlainObject, offsetOf, type PMap } from './yaml-tree.js';

export const FLEET_YAML = 'fleet.yaml';

const TOP_KEYS = ['path', 'defaults', 'allowEmpty', 'rollout', 'units'] as const;
const DEFAULTS_KEYS = ['state'] as const;

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
  const doc = readYamlDocument(content, file, err);
  if (!doc) return { spec: null, diagnostics: diags };
  const { value, tree, pos } = doc;

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
        const s = checkState(d.state, valueAt(dNode, 'state'), 'defaults.state', ctx);
        if (s) spec.defaults.state = s;
      }
    }
  }

  if (Object.hasOwn(value, 'units') && value.units !== null) {
    spec.units = parseUnitsBlock(value.units, childMap(top, 'units'), valueAt(top, 'units'), pos, ctx);
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
