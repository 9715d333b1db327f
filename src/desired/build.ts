/**
 * The desired state of a commit (pure): every unit to run, with canonical content, hash, state and
 * [X-Fleet] constraints. Deterministic for given files. Any error finding means no desired state:
 * nothing from such a commit is ever deployed.
 */
import { hasErrors, sortDiagnostics, type Diagnostic } from '../diag.js';
import type { DesiredState, DesiredStateName, DesiredUnit, RepoFile } from './types.js';
import { FLEET_YAML } from './fleetyaml.js';
import { instanceName } from './fleetyaml-units.js';
import { resolveHealth, resolveRollout } from './policy-yaml.js';
import {
  analyzeRepo,
  posKey,
  type AnalyzedUnit,
  type AnalyzeOptions,
  type RepoAnalysis,
  type RepoSnapshot,
} from './repo.js';
import { bodyOf, type UnitBody } from './body.js';
import type { MemoPass } from './memo.js';
import { dropInsOf, type AnalyzedDropIn } from './dropins.js';
import { MAX_REPO_FILE_BYTES } from '../source/files.js';
import { mergeDropIns } from '../unit/dropins.js';
import { isTemplate, templateOf } from '../unit/names.js';
import type { ParsedUnit } from '../unit/types.js';
import { parseFleetSection, type FleetSection } from '../unit/xfleet.js';
import { machineOfCycleDiagnostics, type FleetUnitRef } from '../unit/xfleet-cycles.js';

export interface DesiredResult {
  /** null when any diagnostic is an error. */
  desired: DesiredState | null;
  /** Every finding, sorted (file, line, column, rule). Warnings do not block. */
  diagnostics: Diagnostic[];
  /** The analysis it was built from (parsed units, spec): for callers that render more. */
  analysis: RepoAnalysis;
}

/**
 * Build the desired state of `commit` from its files (see analyzeRepo for what `files` and
 * `fleetYaml` are). Template files are never units themselves; their instances (fleet.yaml
 * `instances`, or entries named `tmpl@inst.type`) are, with the template's canonical content and
 * constraints parsed under the instance's name (so `%i` expands). A file named like an instance
 * (`web@1.service`) is its own unit and takes precedence over the template, as in systemd.
 */
export function buildDesired(
  files: readonly RepoFile[],
  fleetYaml: RepoFile | null,
  commit: string,
  opts: AnalyzeOptions & { extraDiagnostics?: readonly Diagnostic[] } = {},
): DesiredResult {
  const analysis = analyzeRepo(files, fleetYaml, opts);
  const diagnostics: Diagnostic[] = [...(opts.extraDiagnostics ?? []), ...analysis.diagnostics];
  const seen = new Set(diagnostics.map(diagKey));
  const add = (d: Diagnostic): void => {
    const k = diagKey(d);
    if (!seen.has(k)) {
      seen.add(k);
      diagnostics.push(d);
    }
  };
  const { spec } = analysis;
  if (!spec || hasErrors(diagnostics)) return { desired: null, diagnostics: sortDiagnostics(diagnostics), analysis };

  const files_ = new Map(analysis.units.map((u) => [u.name, u]));
  const units = new Map<string, DesiredUnit>();

  // Instances asked for: template -> instance -> state.
  const wanted = new Map<string, Map<string, DesiredStateName>>();
  const want = (tmpl: string, unitName: string, state: DesiredStateName): void => {
    let m = wanted.get(tmpl);
    if (!m) wanted.set(tmpl, (m = new Map()));
    m.set(unitName, state);
  };
  for (const [name, entry] of Object.entries(spec.units)) {
    if (isTemplate(name)) {
      for (const i of entry.instances ?? []) {
        const inst = instanceName(name, i);
        // An explicit `web@blue.service:` entry sets that instance's state; it is applied below.
        if (!spec.units[inst]) want(name, inst, entry.state ?? spec.defaults.state);
      }
    } else if (!files_.has(name)) {
      const tmpl = templateOf(name);
      if (tmpl) want(tmpl, name, entry.state ?? spec.units[tmpl]?.state ?? spec.defaults.state);
    }
  }

  const fleetRefs: FleetUnitRef[] = [];
  /** Templates that an Accept=yes socket spawns instances of. */
  const socketTemplates = new Set<string>();
  // Findings already made at a place (by the template's lint) are not repeated per instance.
  const seenAt = new Set(diagnostics.map(posKey));
  for (const u of analysis.units) {
    if (!u.loaded || u.canonical === null) continue; // unreachable without an error diagnostic
    const main = u.canonical;
    if (!u.template) {
      const fleet = u.fleet ?? fleetFailed(u, add);
      if (!fleet) continue;
      fleetRefs.push({ name: u.name, fleet });
      const du: DesiredUnit = {
        name: u.name,
        ...(u.body ?? bodyOf(main, u.dropIns)),
        state: u.state,
        constraints: fleet.constraints,
        source: u.path,
      };
      const t = u.trigger;
      if (t) {
        du.triggers = t.unit;
        if (t.template && u.state !== 'inactive') socketTemplates.add(t.unit);
      }
      units.set(u.name, du);
      continue;
    }
    if (!u.unit) continue; // a template keeps its parse (unitfacts.ts)
    // Instances with the same drop-ins have the same body: encoded and hashed once.
    const bodies = new Map<string, UnitBody>();
    for (const [inst, state] of wanted.get(u.name) ?? []) {
      if (files_.has(inst)) {
        add({
          file: files_.get(inst)!.path,
          line: 0,
          column: 0,
          rule: 'YML01',
          severity: 'warning',
          message:
            `${inst} is both a unit file and an instance of ${u.name} in fleet.yaml: the file is used, as ` +
            `systemd would`,
        });
        continue;
      }
      // Its own drop-ins (web@1.service.d/) may make an instance differ from its template.
      const dropIns = dropInsOf(analysis.dropIns, inst);
      const merged = mergeDropIns(u.unit, parsedOf(dropIns));
      const fleet = fleetOrError(merged, inst, u.path, add);
      if (!fleet) continue;
      // The template's own X-Fleet findings are in the lint already; an instance can add new ones
      // (e.g. %i expanding to something invalid).
      for (const d of fleet.diagnostics) if (!seenAt.has(posKey(d))) add(d);
      fleetRefs.push({ name: inst, fleet });
      const bodyKey = dropIns.map((d) => d.path).join('\0');
      let body = bodies.get(bodyKey);
      if (!body) bodies.set(bodyKey, (body = bodyOf(main, dropIns)));
      const du = { name: inst, ...body, state, constraints: fleet.constraints, source: u.path };
      units.set(inst, du);
    }
  }
  // A socket with Accept=yes makes systemd spawn instances of its template itself: the template
  // must be on the socket's machine, loaded (a template is never started by gitfleet).
  for (const tmpl of socketTemplates) {
    const t = files_.get(tmpl);
    if (!t?.loaded || t.canonical === null || units.has(tmpl)) continue; // TRG02/TRG03 report a missing one
    const fleet = t.fleet ?? fleetFailed(t, add);
    if (!fleet) continue;
    units.set(tmpl, {
      name: tmpl,
      ...(t.body ?? bodyOf(t.canonical, t.dropIns)),
      state: 'loaded',
      constraints: fleet.constraints,
      source: t.path,
    });
  }
  // Rollout and health policy: a unit's own entry, else its template's, over the top-level block.
  const policies = spec.rollout !== undefined || Object.values(spec.units).some((e) => e.rollout || e.health);
  for (const du of policies ? units.values() : []) {
    const tmpl = templateOf(du.name);
    const own = spec.units[du.name];
    const tEntry = tmpl ? spec.units[tmpl] : undefined;
    const block = (tmpl && !isTemplate(du.name) ? tEntry : own)?.rollout;
    if (spec.rollout || block) du.rollout = resolveRollout([spec.rollout, block], () => {});
    const health = own?.health ?? tEntry?.health;
    if (health) du.health = resolveHealth(health, du.name);
  }
  // MachineOf cycles across every unit that would run, instances included.
  for (const d of machineOfCycleDiagnostics(fleetRefs)) add(d);
  // A body is one etcd value: its files together have the limit each file has on its own.
  for (const du of units.values()) {
    if (!du.dropIns) continue;
    const bytes = Buffer.byteLength(du.content);
    if (bytes <= MAX_REPO_FILE_BYTES) continue;
    add({
      file: du.source,
      line: 0,
      column: 0,
      rule: 'SRC03',
      severity: 'error',
      message:
        `${du.name} with its drop-ins is ${bytes} bytes as stored; the limit for a unit's files together is ` +
        `${MAX_REPO_FILE_BYTES} (1 MiB)`,
    });
  }

  if (units.size === 0 && !spec.allowEmpty) {
    add({
      file: fleetYaml?.path ?? (opts.base ? `${opts.base}/${FLEET_YAML}` : FLEET_YAML),
      line: 0,
      column: 0,
      rule: 'EMPTY01',
      severity: 'error',
      message:
        `this commit has no units to run under '${analysis.unitDir || '.'}': refused, because applying it ` +
        `would destroy every unit in the cluster (set allowEmpty: true in fleet.yaml to allow it)`,
    });
  }
  sortDiagnostics(diagnostics);
  if (hasErrors(diagnostics)) return { desired: null, diagnostics, analysis };
  const sorted = [...units.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { desired: { commit, units: sorted }, diagnostics, analysis };
}

/**
 * buildDesired over what a reader returned (src/source/git.ts, src/source/fsrepo.ts); with a memo
 * pass, files analysed for an earlier commit are not analysed again (the result is the same).
 */
export function desiredFromSnapshot(snap: RepoSnapshot, commit: string, memo?: MemoPass): DesiredResult {
  return buildDesired(snap.files, snap.fleetYaml, commit, {
    base: snap.base,
    rejected: snap.rejected,
    fleetYamlResult: snap.fleetYamlResult,
    extraDiagnostics: snap.diagnostics,
    dropIns: snap.dropIns,
    memo,
  });
}

function parsedOf(dropIns: readonly AnalyzedDropIn[]): ParsedUnit[] {
  return dropIns.flatMap((d) => (d.unit ? [d.unit] : []));
}

/** [X-Fleet] of `name`; a failure is a gitfleet bug and must block the deploy, not misplace units. */
function fleetOrError(unit: ParsedUnit, name: string, path: string, add: (d: Diagnostic) => void): FleetSection | null {
  try {
    return parseFleetSection(unit, name);
  } catch (e) {
    add(fleetBug(path, name, (e as Error)?.message ?? String(e)));
    return null;
  }
}

/** The unit file's [X-Fleet] could not be read (unitfacts.ts kept why): the same finding. */
function fleetFailed(u: AnalyzedUnit, add: (d: Diagnostic) => void): null {
  add(fleetBug(u.path, u.name, u.fleetError ?? 'unknown error'));
  return null;
}

function fleetBug(file: string, name: string, why: string): Diagnostic {
  const message = `cannot read [X-Fleet] of ${name} (a gitfleet bug; please report it): ${why}`;
  return { file, line: 0, column: 0, rule: 'LINT', severity: 'error', message };
}

function diagKey(d: Diagnostic): string {
  return `${d.file}\0${d.line}\0${d.column}\0${d.rule}\0${d.message}`;
}
