/**
 * gitfleet's unit-file linter (docs/lint.md's rule catalogue). Pure: content in, diagnostics out.
 *
 *     lintUnitFile(name, content, ctx) -> { unit, diagnostics }
 *
 * runs NAM01 on the file name, the parser (SYN01-06), the per-assignment rules (options.ts), the
 * whole-unit rules (units.ts) and the [X-Fleet] checks (FLT01-03, src/unit/xfleet.ts).
 * lintUnitFiles() does the same for a set of files of one repo, adding what needs all of them.
 * A drop-in is checked on its own by lintDropIn() (syntax, keys, values, at its own positions);
 * the whole-unit rules and [X-Fleet] then judge the unit merged with its drop-ins (ctx.dropIns).
 */
import { sortDiagnostics, type Diagnostic } from '../../diag.js';
import { unitNameError, unitType } from '../names.js';
import { parseUnit } from '../parse.js';
import type { ParsedUnit } from '../types.js';
import { parseFleetSection } from '../xfleet.js';
import { machineOfCycleDiagnostics, type FleetUnitRef } from '../xfleet-cycles.js';
import { keyType } from './keys.js';
import { checkOptions } from './options.js';
import { Reporter } from './report.js';
import { checkUnit } from './units.js';
import { getSection, lastOption } from '../parse.js';
import { mergeDropIns, type DropInDir } from '../dropins.js';

export { RULES, ruleInfo, type RuleInfo } from './rules.js';

/** The unit names of a repository, as the repo rules ask about them: one name at a time. */
export interface UnitNames {
  has(name: string): boolean;
}

export interface LintContext {
  /** Path shown in diagnostics (relative to the repo root, or as given on the command line). */
  file: string;
  /**
   * Unit file names present in the repo (templates as `foo@.service`). Enables the repo rules:
   * DEP02, TRG02, TRG03. Without it those rules stay silent.
   */
  repoUnits?: UnitNames;
  /** The unit's desired state from fleet.yaml, for INS01. */
  state?: 'inactive' | 'loaded' | 'launched';
  /**
   * The unit's drop-ins (each parsed and checked by lintDropIn()), in the order systemd applies
   * them: the whole-unit rules and [X-Fleet] judge the unit merged with them.
   */
  dropIns?: readonly ParsedUnit[];
}

export interface LintResult {
  /** The parsed unit file; null when systemd would refuse the file outright (fatal syntax error). */
  unit: ParsedUnit | null;
  /** The unit merged with ctx.dropIns (the unit itself without them); null with `unit`. */
  merged: ParsedUnit | null;
  diagnostics: Diagnostic[];
}

/**
 * Lint one unit file. `name` is the unit's file name (`web@.service`); `content` its bytes (preferred:
 * invalid UTF-8 is then detected exactly) or text. Never throws: a bug in a rule becomes a warning
 * naming the rule, so a linter bug cannot block a deploy.
 */
export function lintUnitFile(name: string, content: Uint8Array | string, ctx: LintContext): LintResult {
  const r = new Reporter(ctx.file);
  const guard = guarded(r);
  const nameError = unitNameError(name);
  if (nameError)
    r.at(0, 0, 'NAM01', 'error', `file name ${JSON.stringify(name)} is not a valid unit name: ${nameError}`);
  const type = unitType(name);
  if (content.length === 0) {
    // systemd's null_or_empty_path(): a 0-byte unit file is a masked unit (like a link to /dev/null).
    r.at(
      0,
      0,
      'MSK01',
      'warning',
      'empty file: systemd treats a 0-byte unit file as masked, so this unit can never start',
    );
    const empty = parseUnit(content, ctx.file);
    return { unit: empty, merged: mergeDropIns(empty, ctx.dropIns ?? []), diagnostics: sortDiagnostics(r.diagnostics) };
  }

  const parsed = parseChecked(content, ctx.file, r, guard);
  if (!parsed) return { unit: null, merged: null, diagnostics: sortDiagnostics(r.diagnostics) };
  guard('key and value', () => checkOptions(parsed, name, nameError ? null : type, r));
  const merged = mergeDropIns(parsed, ctx.dropIns ?? []);
  unitRules(name, merged, ctx, r, guard, !nameError);
  return { unit: parsed, merged, diagnostics: sortDiagnostics(r.diagnostics) };
}

/**
 * The whole-unit rules and [X-Fleet] alone, on a unit already merged with its drop-ins: for an
 * instance whose own drop-ins (`web@1.service.d/`) make it differ from its template.
 */
export function lintMergedUnit(name: string, merged: ParsedUnit, ctx: LintContext): Diagnostic[] {
  const r = new Reporter(ctx.file);
  unitRules(name, merged, ctx, r, guarded(r), unitNameError(name) === null);
  return sortDiagnostics(r.diagnostics);
}

function unitRules(
  name: string,
  merged: ParsedUnit,
  ctx: LintContext,
  r: Reporter,
  guard: (what: string, fn: () => void) => void,
  validName: boolean,
): void {
  if (validName) guard('unit', () => checkUnit(merged, name, unitType(name), ctx, r));
  guard('[X-Fleet]', () => {
    r.diagnostics.push(...parseFleetSection(merged, name).diagnostics);
  });
}

/** A rule that throws becomes a LINT warning naming the checks, so a linter bug cannot block a deploy. */
function guarded(r: Reporter): (what: string, fn: () => void) => void {
  return (what, fn) => {
    try {
      fn();
    } catch (e) {
      r.at(
        0,
        0,
        'LINT',
        'warning',
        `gitfleet's ${what} checks failed on this file (a gitfleet bug; please report it): ` +
          `${(e as Error)?.message ?? String(e)}`,
      );
    }
  };
}

/** Parse with the parser's findings reported; null when systemd would refuse the file (or the parser threw). */
function parseChecked(
  content: Uint8Array | string,
  file: string,
  r: Reporter,
  guard: (what: string, fn: () => void) => void,
): ParsedUnit | null {
  const holder: { unit?: ParsedUnit } = {};
  guard('syntax', () => {
    holder.unit = parseUnit(content, file);
  });
  const parsed = holder.unit;
  if (!parsed) return null;
  r.diagnostics.push(...parsed.diagnostics.filter((d) => !isExecSeparator(parsed, d)));
  return parsed.fatal ? null : parsed;
}

/**
 * Lint one drop-in file (`foo.service.d/10-env.conf`) on its own, at positions in its own file:
 * syntax, sections, keys and values for the type of unit its directory applies to. `dir` is the
 * directory's name (`foo.service.d`). The whole-unit rules see it through lintUnitFile()'s
 * ctx.dropIns. Returns the parse (null when systemd would refuse the file) and the findings.
 */
export function lintDropIn(dir: DropInDir, content: Uint8Array | string, file: string): LintResult {
  const r = new Reporter(file);
  const guard = guarded(r);
  const parsed = parseChecked(content, file, r, guard);
  if (!parsed) return { unit: null, merged: null, diagnostics: sortDiagnostics(r.diagnostics) };
  // A drop-in for many units cannot know the name its %n, %i, ... expand to: those checks only warn.
  const name = dir.kind === 'prefix' || dir.kind === 'type' ? null : dir.unit;
  guard('key and value', () => checkOptions(parsed, name, dir.type, r));
  const install = getSection(parsed, 'Install');
  if (install && (dir.kind === 'prefix' || dir.kind === 'type')) {
    r.section(
      install,
      'DRP03',
      'warning',
      `[Install] in a ${dir.kind === 'type' ? 'type-wide' : 'prefix'} drop-in: systemctl enable reads it only from ` +
        `a unit's own NAME.d/ (or its template's), but gitfleet deploys every drop-in into each unit's own NAME.d/, ` +
        `where it is read; move it there so the repository says what runs`,
    );
  }
  return { unit: parsed, merged: parsed, diagnostics: sortDiagnostics(r.diagnostics) };
}

/**
 * The parser's SYN06 ("';' after a value is not a comment") is wrong for Exec lines, where a lone
 * ';' separates commands (`ExecStart=/bin/a ; /bin/b`): those findings are dropped.
 */
function isExecSeparator(unit: ParsedUnit, d: Diagnostic): boolean {
  if (d.rule !== 'SYN06' || !d.message.startsWith("';'")) return false;
  return unit.sections.some((s) =>
    s.options.some((o) => o.line === d.line && keyType(s.name, o.key) === 'PATH [ARGUMENT [...]]'),
  );
}

export interface RepoUnitFile {
  /** Unit file name (`web@.service`). */
  name: string;
  /** Path for diagnostics. */
  file: string;
  content: Uint8Array | string;
  state?: LintContext['state'];
}

/**
 * Lint every unit file of one repo: lintUnitFile() on each with the repo's unit names (for DEP02,
 * TRG02, TRG03), plus the checks across units (FLT02 for MachineOf= cycles).
 */
export function lintUnitFiles(files: readonly RepoUnitFile[]): {
  units: Map<string, ParsedUnit>;
  diagnostics: Diagnostic[];
} {
  const repoUnits = new Set(files.map((f) => f.name));
  const units = new Map<string, ParsedUnit>();
  const diagnostics: Diagnostic[] = [];
  const fleet: FleetUnitRef[] = [];
  for (const f of files) {
    const res = lintUnitFile(f.name, f.content, { file: f.file, repoUnits, state: f.state });
    diagnostics.push(...res.diagnostics);
    if (res.unit) {
      units.set(f.name, res.unit);
      try {
        fleet.push({ name: f.name, fleet: parseFleetSection(res.unit, f.name) });
      } catch {
        // already reported by lintUnitFile's guard
      }
    }
  }
  diagnostics.push(...sharedBusNames(files, units));
  try {
    diagnostics.push(...machineOfCycleDiagnostics(fleet));
  } catch (e) {
    diagnostics.push({
      file: '',
      line: 0,
      column: 0,
      rule: 'LINT',
      severity: 'warning',
      message: `gitfleet's MachineOf= cycle check failed (a gitfleet bug): ${(e as Error).message}`,
    });
  }
  return { units, diagnostics: sortDiagnostics(diagnostics) };
}

/**
 * SVC07: two services of the repo that claim the same BusName=. systemd refuses to load the second
 * one it meets on a machine ("Two services allocated for the same bus name"); which one depends on
 * load order, so both are reported.
 */
function sharedBusNames(files: readonly RepoUnitFile[], units: ReadonlyMap<string, ParsedUnit>): Diagnostic[] {
  const byBus = new Map<string, { file: RepoUnitFile; line: number; column: number }[]>();
  for (const f of files) {
    const unit = f.name.endsWith('.service') ? units.get(f.name) : undefined;
    const o = unit && lastOption(unit, 'Service', 'BusName');
    if (!o || o.value === '' || o.value.includes('%')) continue;
    byBus.set(o.value, [...(byBus.get(o.value) ?? []), { file: f, line: o.line, column: o.valueColumn }]);
  }
  const out: Diagnostic[] = [];
  for (const [bus, claims] of byBus) {
    if (claims.length < 2) continue;
    for (const c of claims) {
      const others = claims.filter((x) => x !== c).map((x) => x.file.name);
      out.push({
        file: c.file.file,
        line: c.line,
        column: c.column,
        rule: 'SVC07',
        severity: 'warning',
        message:
          `BusName=${bus} is also claimed by ${others.join(', ')}: systemd refuses to load the second of them on a ` +
          'machine that has both',
      });
    }
  }
  return out;
}
