/**
 * Drop-ins as systemd 252 finds and applies them (src/shared/dropin.c unit_file_find_dirs and
 * unit_file_find_dropin_paths, src/basic/conf-files.c). Pure.
 *
 * For a unit, systemd looks in these directories, most specific first: `NAME.d`, for an instance
 * its template's `PREFIX@.TYPE.d` (and that template's own dash prefixes), then each dash prefix
 * of the name (`foo-bar-baz.service` -> `foo-bar-.service.d`, `foo-.service.d`; an instance keeps
 * its instance: `foo-bar@1.service` -> `foo-@1.service.d`, `foo-@.service.d`), and last the
 * type-wide `TYPE.d` (`service.d`). Every `*.conf` file of those directories applies, once per
 * file name: a name found in a more specific directory hides the same name further down. The
 * files are then applied in order of their file names (byte order, as strcmp), whatever directory
 * each came from, after the unit file itself. An assignment in a later file adds to a list setting
 * or replaces a single-valued one; an empty one resets the setting, exactly as a repeated
 * assignment in one file does.
 */
import { isValidUnitName, parseUnitName, unitType } from './names.js';
import type { ParsedUnit, UnitSection, UnitType } from './types.js';
import { UNIT_TYPES } from './types.js';

const TYPES: ReadonlySet<string> = new Set(UNIT_TYPES);

/** What a drop-in directory name (`foo.service.d`) applies to. */
export interface DropInDir {
  /** The directory's name without `.d`: a unit name (`foo.service`, `foo-.service`) or a type (`service`). */
  unit: string;
  /**
   * unit: one unit (`foo.service.d`); template: every instance (`foo@.service.d`); instance: one
   * instance (`foo@1.service.d`); prefix: every unit whose name starts with the prefix
   * (`foo-.service.d`, `foo-@.service.d`); type: every unit of the type (`service.d`).
   */
  kind: 'unit' | 'template' | 'instance' | 'prefix' | 'type';
  type: UnitType;
}

/** The meaning of a directory name, or null when systemd would not read it as a drop-in directory. */
export function parseDropInDir(dirName: string): DropInDir | null {
  if (!dirName.endsWith('.d')) return null;
  const unit = dirName.slice(0, -2);
  if (TYPES.has(unit)) return { unit, kind: 'type', type: unit as UnitType };
  const p = parseUnitName(unit);
  if (!p) return null;
  const kind = p.prefix.endsWith('-') ? 'prefix' : p.template ? 'template' : p.instance !== null ? 'instance' : 'unit';
  return { unit, kind, type: p.type };
}

/** systemd's unit_prefix_is_valid(): non-empty, and only unit-name characters (no '@'). */
function prefixIsValid(prefix: string): boolean {
  return prefix !== '' && /^[A-Za-z0-9:_.\\-]+$/.test(prefix);
}

/** unit_file_find_dirs(): the directories of `name` itself, its template and its dash prefixes. */
function findDirs(name: string, add: (dir: string) => void): void {
  add(name);
  const p = parseUnitName(name);
  if (!p) return;
  if (p.instance) findDirs(`${p.prefix}@.${p.type}`, add);
  // The last dash of the prefix ends the next, more generic name; a trailing dash is chopped once.
  let prefix = p.prefix;
  let chopped = false;
  for (;;) {
    const dash = prefix.lastIndexOf('-');
    if (dash <= 0) return;
    if (dash + 1 < prefix.length || chopped) {
      prefix = prefix.slice(0, dash + 1);
      break;
    }
    prefix = prefix.slice(0, dash);
    chopped = true;
  }
  if (!prefixIsValid(prefix)) return;
  const built = p.instance ? `${prefix}@${p.instance}.${p.type}` : `${prefix}.${p.type}`;
  if (isValidUnitName(built)) findDirs(built, add);
}

/**
 * The drop-in directories systemd reads for `unit`, most specific first, as names without `.d`
 * (`['foo-bar.service', 'foo-.service', 'service']`). Empty for an invalid unit name.
 */
export function dropInDirsOf(unit: string): string[] {
  const type = unitType(unit);
  if (!type || !isValidUnitName(unit)) return [];
  const dirs: string[] = [];
  const add = (d: string) => {
    if (!dirs.includes(d)) dirs.push(d);
  };
  findDirs(unit, add);
  add(type);
  return dirs;
}

/** strcmp() of the UTF-8 bytes: the order systemd applies drop-ins in. */
export function compareFileNames(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** One drop-in that applies to a unit. */
export interface AppliedDropIn<T> {
  /** The directory it is in, without `.d` (`foo.service`, `service`). */
  dir: string;
  /** Its file name (`10-env.conf`). */
  name: string;
  item: T;
}

/**
 * The drop-ins that apply to `unit`, in the order systemd applies them. `dirs` maps a directory
 * name without `.d` to its `*.conf` files by file name.
 */
export function applicableDropIns<T>(
  unit: string,
  dirs: ReadonlyMap<string, ReadonlyMap<string, T>>,
): AppliedDropIn<T>[] {
  const byName = new Map<string, AppliedDropIn<T>>();
  for (const dir of dropInDirsOf(unit)) {
    for (const [name, item] of dirs.get(dir) ?? []) if (!byName.has(name)) byName.set(name, { dir, name, item });
  }
  return [...byName.values()].sort((a, b) => compareFileNames(a.name, b.name));
}

/**
 * The unit as systemd sees it once its drop-ins are applied: the unit file's sections, then each
 * drop-in's options appended to the section of the same name (a section the unit file lacks is
 * added where it first appears). Options and sections from a drop-in carry its `file`, so findings
 * about them are reported in that file. The merged unit has no diagnostics of its own.
 */
export function mergeDropIns(main: ParsedUnit, dropIns: readonly ParsedUnit[]): ParsedUnit {
  if (dropIns.length === 0) return main;
  const sections: UnitSection[] = main.sections.map((s) => ({ ...s, options: [...s.options] }));
  const byName = new Map(sections.map((s) => [s.name, s]));
  for (const d of dropIns) {
    for (const s of d.sections) {
      let into = byName.get(s.name);
      if (!into) {
        into = { name: s.name, line: s.line, file: d.file, options: [] };
        byName.set(s.name, into);
        sections.push(into);
      }
      for (const o of s.options) into.options.push({ ...o, file: d.file });
    }
  }
  return { file: main.file, sections, diagnostics: [], fatal: main.fatal || dropIns.some((d) => d.fatal) };
}
