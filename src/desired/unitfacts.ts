/**
 * One unit file of a repository, linted and reduced to what the desired state needs of it (pure):
 * its findings, its canonical text and body, its [X-Fleet] and what it activates. The parse tree is
 * dropped as soon as these are taken (a template's is kept: its instances are built from it), so a
 * commit of many units never holds every tree at once.
 *
 * A file's facts depend on its path (name and where diagnostics point), its content, its desired
 * state, the drop-ins that apply to it, and the answers to what its lint asked about the other
 * units' names (DEP02, TRG02, TRG03). With a memo pass (memo.ts) the facts of a file whose key is
 * unchanged and whose questions get the same answers are reused instead of linting it again.
 */
import type { Diagnostic } from '../diag.js';
import { lintUnitFile, type UnitNames } from '../unit/lint/index.js';
import { isTemplate } from '../unit/names.js';
import { serializeUnit } from '../unit/serialize.js';
import type { ParsedUnit } from '../unit/types.js';
import { parseFleetSection, type FleetSection } from '../unit/xfleet.js';
import { bodyOf, triggerOf, type UnitBody } from './body.js';
import type { AnalyzedDropIn } from './dropins.js';
import type { DesiredStateName, RepoFile } from './types.js';
import type { MemoPass } from './memo.js';

export interface UnitFacts {
  /** Unit name (the file name). */
  name: string;
  /** Repo path of the file. */
  path: string;
  /** Desired state from fleet.yaml (entry, else defaults); for a template, its entry's state if any. */
  state: DesiredStateName;
  /** The drop-ins that apply to it, in systemd's order (a template: those every instance has). */
  dropIns: readonly AnalyzedDropIn[];
  /** isTemplate(name) */
  template: boolean;
  /** The linter's findings for this file (with its drop-ins merged). */
  diagnostics: readonly Diagnostic[];
  /** False when systemd could not load the file at all (the diagnostics say why). */
  loaded: boolean;
  /** The parsed unit file: kept for templates only (their instances are built from it). */
  unit: ParsedUnit | null;
  /** Canonical text of the unit file (serializeUnit); null when not loaded. */
  canonical: string | null;
  /** Its body with its drop-ins (content, hash); null when not loaded (or not encodable). */
  body: UnitBody | null;
  /** [X-Fleet] of the merged unit under its own name (templates: as a sample instance). */
  fleet: FleetSection | null;
  /** Why reading [X-Fleet] failed (a gitfleet bug), when it did. */
  fleetError: string | null;
  /** For a timer, path or socket: the unit it activates (see triggerOf). */
  trigger: { unit: string; template: boolean } | null;
}

/** Facts with what they were computed from, as a memo keeps them (by path). */
interface KeptFacts {
  oid: string;
  dropInsKey: string;
  facts: UnitFacts;
  /** Each name the lint asked the repository about, prefixed '+' (present) or '-' (absent). */
  asked: readonly string[];
}

const NONE: readonly Diagnostic[] = Object.freeze([]);
const NO_NAMES: readonly string[] = Object.freeze([]);
const NO_VALUES = Object.freeze([]) as unknown as never[];

/**
 * What parseFleetSection returns for a unit without [X-Fleet] and nothing to say about it, shared
 * (frozen) by every such unit: most units of a large repository have none, and a commit of
 * 100,000 units would otherwise keep ten arrays and objects per unit for it.
 */
const ABSENT: Omit<FleetSection, 'file'> = Object.freeze({
  constraints: Object.freeze({
    machineMetadata: Object.freeze({}),
    machineOf: NO_VALUES,
    conflicts: NO_VALUES,
    global: false,
    replaces: NO_VALUES,
  }) as FleetSection['constraints'],
  diagnostics: NONE as Diagnostic[],
  present: false,
  values: Object.freeze({
    MachineID: NO_VALUES,
    MachineOf: NO_VALUES,
    MachineMetadata: NO_VALUES,
    Conflicts: NO_VALUES,
    Global: NO_VALUES,
    Replaces: NO_VALUES,
  }) as FleetSection['values'],
});

/** `f`, or the shared equivalent when the unit has no [X-Fleet] at all. */
function compactFleet(f: FleetSection): FleetSection {
  const c = f.constraints;
  const empty =
    !f.present &&
    f.diagnostics.length === 0 &&
    c.machineId === undefined &&
    Object.keys(c.machineMetadata).length === 0 &&
    c.machineOf.length + c.conflicts.length + c.replaces.length === 0 &&
    !c.global;
  return empty ? { ...ABSENT, file: f.file } : f;
}

/** Records the names asked about, with the answers (the facts hold while the answers do). */
class AskedNames implements UnitNames {
  readonly asked: string[] = [];
  constructor(private readonly names: UnitNames) {}
  has(name: string): boolean {
    const r = this.names.has(name);
    this.asked.push((r ? '+' : '-') + name);
    return r;
  }
}

function sameAnswers(asked: readonly string[], names: UnitNames): boolean {
  for (const a of asked) if (names.has(a.slice(1)) !== (a[0] === '+')) return false;
  return true;
}

/** Lint one unit file and keep what the desired state needs of it. */
export function computeUnitFacts(
  name: string,
  file: RepoFile,
  state: DesiredStateName,
  dropIns: readonly AnalyzedDropIn[],
  repoUnits: UnitNames,
): UnitFacts {
  const parsedDropIns = dropIns.flatMap((d) => (d.unit ? [d.unit] : []));
  const r = lintUnitFile(name, file.content, { file: file.path, repoUnits, state, dropIns: parsedDropIns });
  let fleet: FleetSection | null = null;
  let fleetError: string | null = null;
  if (r.merged) {
    try {
      fleet = compactFleet(parseFleetSection(r.merged, name));
    } catch (e) {
      fleetError = (e as Error)?.message ?? String(e);
    }
  }
  const canonical = r.unit ? serializeUnit(r.unit) : null;
  let body: UnitBody | null = null;
  if (canonical !== null) {
    try {
      body = bodyOf(canonical, dropIns);
    } catch {
      // not encodable (a drop-in name given twice): buildDesired meets it again and says so
    }
  }
  const template = isTemplate(name);
  return {
    name,
    path: file.path,
    state,
    dropIns,
    template,
    diagnostics: r.diagnostics.length ? r.diagnostics : NONE,
    loaded: r.unit !== null,
    unit: template ? r.unit : null,
    canonical,
    body,
    fleet,
    fleetError,
    trigger: r.merged ? triggerOf(r.merged, name) : null,
  };
}

/**
 * The facts of a unit file: from the memo pass when the same blob at the same path, with the same
 * state and drop-ins, was analysed before and its lint's questions about other units get the same
 * answers now; else computed (and kept in the pass).
 */
export function unitFacts(
  name: string,
  file: RepoFile,
  state: DesiredStateName,
  dropIns: readonly AnalyzedDropIn[],
  repoUnits: UnitNames,
  memo?: MemoPass,
): UnitFacts {
  const dropInsKey = memo && file.oid ? dropInsKeyOf(dropIns) : null;
  if (dropInsKey === null) return computeUnitFacts(name, file, state, dropIns, repoUnits);
  const hit = memo!.units.get(file.path) as KeptFacts | undefined;
  if (
    hit &&
    hit.oid === file.oid &&
    hit.facts.state === state &&
    hit.dropInsKey === dropInsKey &&
    sameAnswers(hit.asked, repoUnits)
  )
    return hit.facts;
  const names = new AskedNames(repoUnits);
  const facts = computeUnitFacts(name, file, state, dropIns, names);
  const asked = names.asked.length ? names.asked : NO_NAMES;
  memo!.units.set(file.path, { oid: file.oid!, dropInsKey, facts, asked } satisfies KeptFacts);
  return facts;
}

/** The drop-ins' paths and blob ids ('' for none); null when one has no blob id. */
function dropInsKeyOf(dropIns: readonly AnalyzedDropIn[]): string | null {
  let key = '';
  for (const d of dropIns) {
    if (!d.oid) return null;
    key += `${d.path}\0${d.oid}\0`;
  }
  return key;
}
