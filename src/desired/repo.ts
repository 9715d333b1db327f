/**
 * A unit repository at one commit (or one directory), analysed: fleet.yaml read, unit files found
 * under its `path`, each file linted with the repo as context, and fleet.yaml checked against the
 * files that exist (YML02, YML03). Pure: the readers in src/source/ do the I/O.
 */
import { posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import type { FleetSpec, RepoFile } from './types.js';
import { FLEET_YAML, defaultFleetSpec, parseFleetYaml, type FleetYamlResult } from './fleetyaml.js';
import { instanceName } from './fleetyaml-units.js';
import { mergeDropIns } from '../unit/dropins.js';
import { lintMergedUnit } from '../unit/lint/index.js';
import { dropInsOf, duplicateDiag, indexDropIns, unusedDropInDirs, type DropInIndex } from './dropins.js';
import { isTemplate, templateOf } from '../unit/names.js';
import { machineOfCycleDiagnostics } from '../unit/xfleet-cycles.js';
import { closest } from './suggest.js';
import { byBlob, type MemoPass } from './memo.js';
import { unitFacts, type UnitFacts } from './unitfacts.js';

/** What a reader (git commit or directory) hands to the pure analysis. */
export interface RepoSnapshot {
  /** Directory of fleet.yaml relative to the repo root ('' = root): `--path`. */
  base: string;
  /** fleet.yaml at `base`, or null when there is none (or it was refused: see diagnostics). */
  fleetYaml: RepoFile | null;
  /** fleet.yaml as the reader parsed it to find the unit directory (null with fleetYaml). */
  fleetYamlResult: FleetYamlResult | null;
  /** Unit-suffixed files under the unit directory that passed the reader's checks. */
  files: RepoFile[];
  /** Drop-ins (`NAME.d/*.conf`) under the unit directory that passed the same checks. */
  dropIns: RepoFile[];
  /** Paths of unit-suffixed entries the reader refused (symlinks, binary, too large, ...). */
  rejected: string[];
  /** The reader's findings (SRC*, SYN04). */
  diagnostics: Diagnostic[];
}

export interface AnalyzeOptions {
  /** Where fleet.yaml would be when `fleetYaml` is null (default ''): the unit directory then. */
  base?: string;
  /** Paths of unit files the reader refused; their names count as present for YML02. */
  rejected?: readonly string[];
  /** `fleetYaml` already parsed (by the reader): used instead of parsing it again. */
  fleetYamlResult?: FleetYamlResult | null;
  /** The drop-ins the reader found (`NAME.d/*.conf`); those outside the unit directory are ignored. */
  dropIns?: readonly RepoFile[];
  /**
   * What earlier commits' analysis found, by file and blob id (memo.ts): files whose facts hold are
   * not linted again. The result is the same with or without it.
   */
  memo?: MemoPass;
}

/**
 * fleet.yaml parsed, and the unit directory it names (`base` when there is no fleet.yaml or it is
 * invalid: its neighbours are still read, so one run reports every problem). Readers call this
 * once per commit and hand the result on in the snapshot.
 */
export function parseSnapshotFleetYaml(
  fleetYaml: RepoFile | null,
  base: string,
  memo?: MemoPass,
): { result: FleetYamlResult | null; unitDir: string } {
  const result = fleetYaml ? parsedFleetYaml(fleetYaml, memo) : null;
  return { result, unitDir: (result?.spec ?? defaultFleetSpec(base)).path };
}

/** parseFleetYaml, or what it gave for the same path and blob before. */
function parsedFleetYaml(f: RepoFile, memo?: MemoPass): FleetYamlResult {
  const parse = () => parseFleetYaml(f.content, f.path);
  return memo ? byBlob(memo.fleetYaml, f.path, f.oid, parse) : parse();
}

/** One unit file of the repository, analysed (unitfacts.ts: compact, no parse tree but a template's). */
export type AnalyzedUnit = UnitFacts;

export interface RepoAnalysis {
  /** null when fleet.yaml is invalid. */
  spec: FleetSpec | null;
  /** Directory the unit files were taken from, relative to the repo root ('' = root). */
  unitDir: string;
  /** One entry per unit file under unitDir, sorted by name (duplicate names: the first path only). */
  units: AnalyzedUnit[];
  /** The drop-ins under unitDir, by directory (dropInsOf() says which apply to a unit). */
  dropIns: DropInIndex;
  /** Every finding: fleet.yaml, duplicate names, fleet.yaml vs files, and each file's lint. */
  diagnostics: Diagnostic[];
}

/**
 * Analyse a repository's files. `files` may hold files outside the unit directory (they are
 * ignored); `fleetYaml` null means the default spec (every unit file, launched).
 */
export function analyzeRepo(
  files: readonly RepoFile[],
  fleetYaml: RepoFile | null,
  opts: AnalyzeOptions = {},
): RepoAnalysis {
  const diagnostics: Diagnostic[] = [];
  const base = opts.base ?? (fleetYaml ? dirOf(fleetYaml.path) : '');
  let spec: FleetSpec | null;
  if (fleetYaml) {
    const r = opts.fleetYamlResult ?? parseFleetYaml(fleetYaml.content, fleetYaml.path);
    spec = r.spec;
    diagnostics.push(...r.diagnostics);
  } else spec = defaultFleetSpec(base);
  // With an invalid fleet.yaml, still lint the files next to it so one run reports everything.
  const unitDir = spec ? spec.path : base;
  const effective = spec ?? defaultFleetSpec(base);
  const fleetYamlPath = fleetYaml?.path ?? (base ? `${base}/${FLEET_YAML}` : FLEET_YAML);

  // Unit files under unitDir; a name may appear once (two files named alike in subdirectories
  // would be two different units with one name).
  const byName = new Map<string, RepoFile>();
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (!isUnder(f.path, unitDir)) continue;
    const first = byName.get(f.name);
    if (first) {
      const why = `each unit name may appear once under '${unitDir || '.'}'`;
      diagnostics.push(duplicateDiag(f.path, `unit ${f.name} is also defined by ${first.path}: ${why}`));
      continue;
    }
    byName.set(f.name, f);
  }
  const rejectedNames = new Set((opts.rejected ?? []).filter((p) => isUnder(p, unitDir)).map((p) => posix.basename(p)));

  // Names the linter may treat as present: files, refused files, and the instances fleet.yaml asks for.
  const repoUnits = new Set<string>([...byName.keys(), ...rejectedNames]);
  for (const [name, entry] of Object.entries(effective.units)) {
    if (isTemplate(name) && byName.has(name))
      for (const i of entry.instances ?? []) repoUnits.add(instanceName(name, i));
    else if (!isTemplate(name) && templateOf(name) && byName.has(templateOf(name)!)) repoUnits.add(name);
  }

  // fleet.yaml entries must name units the repo has.
  if (spec) {
    const present = [...byName.keys()];
    for (const [name, entry] of Object.entries(spec.units)) {
      if (byName.has(name) || rejectedNames.has(name)) continue;
      const tmpl = isTemplate(name) ? null : templateOf(name);
      const where = `under '${unitDir || '.'}'`;
      if (tmpl) {
        if (byName.has(tmpl) || rejectedNames.has(tmpl)) continue; // an instance of a template we have
        diagnostics.push({
          file: fleetYamlPath,
          line: entry.line,
          column: entry.column,
          rule: 'YML03',
          severity: 'error',
          message: `${name} is an instance of ${tmpl}, but there is no unit file ${tmpl} ${where}`,
        });
      } else {
        const hint = closest(name, present);
        const rule = isTemplate(name) && entry.instances?.length ? 'YML03' : 'YML02';
        const what =
          rule === 'YML03'
            ? `instances of ${name} are listed, but there is no template file ${name} ${where}`
            : `fleet.yaml names ${name}, but there is no unit file ${name} ${where}`;
        diagnostics.push({
          file: fleetYamlPath,
          line: entry.line,
          column: entry.column,
          rule,
          severity: 'error',
          message: what + (hint ? `; did you mean '${hint}'?` : ''),
        });
      }
    }
  }

  const dropIns = indexDropIns(opts.dropIns ?? [], (p) => isUnder(p, unitDir), opts.memo);
  diagnostics.push(...dropIns.diagnostics);
  const parsedDropIns = (name: string) => dropInsOf(dropIns.index, name).flatMap((d) => (d.unit ? [d.unit] : []));

  // Instances without a unit file of their own, by template (only needed when there are drop-ins).
  const instancesOf = new Map<string, string[]>();
  for (const inst of dropIns.index.size ? repoUnits : []) {
    const t = templateOf(inst);
    if (!t || byName.has(inst)) continue;
    let list = instancesOf.get(t);
    if (!list) instancesOf.set(t, (list = []));
    list.push(inst);
  }
  const seen = new Set<string>();
  let seenUpTo = 0;

  const units: AnalyzedUnit[] = [];
  for (const name of [...byName.keys()].sort()) {
    const file = byName.get(name)!;
    const state = effective.units[name]?.state ?? effective.defaults.state;
    const unitDropIns = dropInsOf(dropIns.index, name);
    const facts = unitFacts(name, file, state, unitDropIns, repoUnits, opts.memo);
    for (const d of facts.diagnostics) diagnostics.push(d);
    units.push(facts);
    // An instance with drop-ins of its own is another unit than its template: judge it whole too,
    // without repeating what the template's lint found at the same places.
    const instances = facts.unit ? (instancesOf.get(name) ?? []) : [];
    const ctx = { file: file.path, repoUnits, state, dropIns: instances.length ? parsedDropIns(name) : [] };
    for (const inst of instances) {
      const own = parsedDropIns(inst);
      if (sameList(own, ctx.dropIns)) continue;
      const instState = effective.units[inst]?.state ?? state;
      const found = lintMergedUnit(inst, mergeDropIns(facts.unit!, own), { ...ctx, state: instState, dropIns: own });
      for (; seenUpTo < diagnostics.length; seenUpTo++) seen.add(posKey(diagnostics[seenUpTo]!));
      for (const d of found) if (!seen.has(posKey(d))) diagnostics.push(d);
    }
  }
  if (dropIns.index.size)
    diagnostics.push(...unusedDropInDirs(dropIns.index, new Set([...byName.keys(), ...repoUnits])));
  // Across files: MachineOf cycles among the plain units (instances are checked in buildDesired).
  diagnostics.push(
    ...machineOfCycleDiagnostics(
      units.flatMap((u) => (u.fleet && !u.template ? [{ name: u.name, fleet: u.fleet }] : [])),
    ),
  );
  return { spec, unitDir, units, dropIns: dropIns.index, diagnostics };
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Where a finding is: instances repeat their template's findings at the same places. */
export function posKey(d: Diagnostic): string {
  return `${d.file}\0${d.line}\0${d.column}\0${d.rule}`;
}

function dirOf(p: string): string {
  const d = posix.dirname(p);
  return d === '.' ? '' : d;
}

/** Is repo path `p` inside directory `dir` ('' = everything)? */
export function isUnder(p: string, dir: string): boolean {
  return dir === '' || p.startsWith(dir + '/');
}
