/**
 * The drop-ins of a unit repository (pure): found under the unit directory, each linted on its own
 * (at positions in its own file), indexed by the directory systemd matches them by, and checked to
 * apply to some unit the repository deploys (DRP01). Which drop-ins apply to a unit, and in which
 * order, is systemd's rule (src/unit/dropins.ts).
 *
 * Drop-in directories may sit anywhere under the unit directory, as unit files may: like unit
 * names, directory names are one namespace, so `a/web.service.d/` and `b/web.service.d/` are one
 * directory for gitfleet (the same file name in both is SRC06).
 */
import { posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import { applicableDropIns, dropInDirsOf, parseDropInDir, type DropInDir } from '../unit/dropins.js';
import { lintDropIn, type LintResult } from '../unit/lint/index.js';
import { parseUnitName } from '../unit/names.js';
import type { ParsedUnit } from '../unit/types.js';
import { byBlob, type MemoPass } from './memo.js';
import { closest } from './suggest.js';
import type { RepoFile } from './types.js';

export interface AnalyzedDropIn {
  /** Repo path (`units/web.service.d/10-env.conf`). */
  path: string;
  /** File name (`10-env.conf`): what it is deployed as, in the unit's own drop-in directory. */
  name: string;
  /** The directory it is in, as systemd matches it. */
  dir: DropInDir;
  /** Parsed; null when systemd would refuse the file (its diagnostics say why). */
  unit: ParsedUnit | null;
  /** Its git blob id, when read from a commit. */
  oid?: string;
}

/** Directory (its name without `.d`: `web.service`, `service`) -> file name -> drop-in. */
export type DropInIndex = Map<string, Map<string, AnalyzedDropIn>>;

/**
 * Lint and index the drop-ins among `files` that are under `inUnitDir` (a predicate on repo
 * paths). Two drop-ins of one directory name and file name are SRC06: only the first (by path) counts.
 */
export function indexDropIns(
  files: readonly RepoFile[],
  inUnitDir: (path: string) => boolean,
  memo?: MemoPass,
): { index: DropInIndex; diagnostics: Diagnostic[] } {
  const index: DropInIndex = new Map();
  const diagnostics: Diagnostic[] = [];
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (!inUnitDir(f.path)) continue;
    const dirName = posix.basename(posix.dirname(f.path));
    const dir = parseDropInDir(dirName);
    if (!dir) continue;
    let files = index.get(dir.unit);
    if (!files) index.set(dir.unit, (files = new Map()));
    const first = files.get(f.name);
    if (first) {
      const why = 'each drop-in directory name and file name may appear once';
      diagnostics.push(duplicateDiag(f.path, `drop-in ${dirName}/${f.name} is also defined by ${first.path}: ${why}`));
      continue;
    }
    const r = lintedDropIn(dir, f, memo);
    diagnostics.push(...r.diagnostics);
    files.set(f.name, { path: f.path, name: f.name, dir, unit: r.unit, ...(f.oid ? { oid: f.oid } : {}) });
  }
  return { index, diagnostics };
}

/** lintDropIn, or what it found for the same path and blob before (its directory is in the path). */
function lintedDropIn(dir: DropInDir, f: RepoFile, memo?: MemoPass): LintResult {
  const lint = () => lintDropIn(dir, f.content, f.path);
  return memo ? byBlob(memo.dropIns, f.path, f.oid, lint) : lint();
}

/** SRC06: a second file where one name (of a unit, of a drop-in) may appear once. */
export function duplicateDiag(file: string, message: string): Diagnostic {
  return { file, line: 0, column: 0, rule: 'SRC06', severity: 'error', message };
}

/** The drop-ins that apply to `unit`, in the order systemd applies them. */
const NO_DROP_INS: AnalyzedDropIn[] = Object.freeze([]) as unknown as AnalyzedDropIn[];

export function dropInsOf(index: DropInIndex, unit: string): AnalyzedDropIn[] {
  if (index.size === 0) return NO_DROP_INS;
  return applicableDropIns(unit, index).map((a) => a.item);
}

/**
 * DRP01: drop-in directories that apply to none of `units` (every unit file, template and instance
 * the repository deploys). One naming a unit is an error (its settings would reach no machine,
 * most likely a typo); a prefix or type-wide one that matches nothing now is a warning.
 */
export function unusedDropInDirs(index: DropInIndex, units: ReadonlySet<string>): Diagnostic[] {
  if (index.size === 0) return [];
  const used = new Set<string>();
  for (const u of units) for (const d of dropInDirsOf(u)) if (index.has(d)) used.add(d);
  const out: Diagnostic[] = [];
  for (const [unit, files] of index) {
    if (used.has(unit)) continue;
    const first = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1))[0]!;
    const dirPath = posix.dirname(first.path);
    const { kind } = first.dir;
    const generic = kind === 'prefix' || kind === 'type';
    const hint = generic ? undefined : closest(unit, [...units]);
    const what =
      kind === 'type'
        ? `applies to every .${unit} unit, and the repo has none`
        : kind === 'prefix'
          ? `applies to the .${first.dir.type} units whose names start with ${parseUnitName(unit)?.prefix}, and the ` +
            'repo has none'
          : `is for ${unit}, which the repo does not deploy (no unit file` +
            `${kind === 'instance' ? ', no such instance in fleet.yaml' : ''})`;
    out.push({
      file: dirPath,
      line: 0,
      column: 0,
      rule: 'DRP01',
      severity: generic ? 'warning' : 'error',
      message:
        `drop-in directory ${unit}.d/ ${what}: gitfleet deploys drop-ins only with the repo's units, so its files ` +
        `reach no machine${hint ? `; did you mean ${hint}.d/?` : ''}`,
    });
  }
  return out;
}
