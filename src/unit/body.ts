/**
 * A unit's body: the files an agent writes for it, as one text that is stored, hashed and compared.
 * Pure.
 *
 * A unit without drop-ins is its unit file's canonical text, exactly as before drop-ins existed
 * (so its hash did not change). A unit with drop-ins is a JSON object
 *
 *     {"unit":"<canonical unit file>","dropIns":[{"name":"10-env.conf","text":"<canonical drop-in>"}, ...]}
 *
 * with the drop-ins in the order systemd applies them (by file name, byte order), each name once.
 * The two never mix up: canonical unit text (src/unit/serialize.ts) is empty or starts with a
 * section header (or a BOM), never with `{`. The encoding is deterministic (JSON.stringify of
 * exactly these keys in this order), so the same files always give the same body and hash.
 */
import { compareFileNames, mergeDropIns } from './dropins.js';
import { parseUnit } from './parse.js';
import type { ParsedUnit } from './types.js';

export interface DropInText {
  /** File name in the unit's drop-in directory (`10-env.conf`). */
  name: string;
  /** Canonical text. */
  text: string;
}

export interface UnitFiles {
  /** The unit file's canonical text. */
  unit: string;
  /** Sorted by name (compareFileNames); empty for a unit without drop-ins. */
  dropIns: DropInText[];
}

/** A body that is not one this format produces. */
export class UnitBodyError extends Error {
  override name = 'UnitBodyError';
}

/**
 * A drop-in file name gitfleet deploys: what systemd reads from a drop-in directory (`*.conf`, not
 * hidden), and safe as a file name in the agent's directory (no `/`, no control characters, at most
 * 255 bytes).
 */
export function isDropInFileName(name: string): boolean {
  return (
    name.length > '.conf'.length &&
    name.endsWith('.conf') &&
    !name.startsWith('.') &&
    !/[/\u0000-\u001f\u007f]/.test(name) &&
    Buffer.byteLength(name, 'utf8') <= 255
  );
}

/** The body of these files. Drop-ins are sorted here; a name given twice is an error. */
export function encodeUnitFiles(files: UnitFiles): string {
  if (files.dropIns.length === 0) return files.unit;
  const dropIns = [...files.dropIns].sort((a, b) => compareFileNames(a.name, b.name));
  for (let i = 0; i < dropIns.length; i++) {
    const d = dropIns[i]!;
    if (!isDropInFileName(d.name)) throw new UnitBodyError(`invalid drop-in file name ${JSON.stringify(d.name)}`);
    if (i > 0 && dropIns[i - 1]!.name === d.name) throw new UnitBodyError(`drop-in ${d.name} given twice`);
  }
  return JSON.stringify({ unit: files.unit, dropIns: dropIns.map((d) => ({ name: d.name, text: d.text })) });
}

/** The files of a body; UnitBodyError when it is not exactly what encodeUnitFiles() writes. */
export function decodeUnitFiles(body: string): UnitFiles {
  if (!body.startsWith('{')) return { unit: body, dropIns: [] };
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new UnitBodyError(`not valid JSON: ${(e as Error).message}`);
  }
  const o = v as { unit?: unknown; dropIns?: unknown };
  if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.unit !== 'string')
    throw new UnitBodyError('expected {"unit": TEXT, "dropIns": [...]}');
  if (!Array.isArray(o.dropIns) || o.dropIns.length === 0)
    throw new UnitBodyError('"dropIns" must be a non-empty list (a unit without drop-ins is stored as its text)');
  const dropIns: DropInText[] = [];
  for (const d of o.dropIns as unknown[]) {
    const x = d as { name?: unknown; text?: unknown };
    if (typeof x !== 'object' || x === null || typeof x.name !== 'string' || typeof x.text !== 'string')
      throw new UnitBodyError('each drop-in must be {"name": FILE, "text": TEXT}');
    dropIns.push({ name: x.name, text: x.text });
  }
  const files = { unit: o.unit, dropIns };
  let again: string;
  try {
    again = encodeUnitFiles(files);
  } catch (e) {
    throw new UnitBodyError((e as Error).message);
  }
  if (again !== body) throw new UnitBodyError('not in canonical form (order of drop-ins, keys or spacing)');
  return files;
}

/**
 * The files one after the other, each under a `# PATH` line, as `systemctl cat` shows a unit:
 * `# web@1.service`, then `# web@1.service.d/10-env.conf`, ... A unit without drop-ins is its text
 * alone.
 */
export function renderUnitFiles(unit: string, files: UnitFiles): string {
  if (files.dropIns.length === 0) return files.unit;
  const parts = [`# ${unit}\n${files.unit}`];
  for (const d of files.dropIns) parts.push(`# ${unit}.d/${d.name}\n${d.text}`);
  return parts.join('\n');
}

/** The unit the files make, as systemd reads it: the unit file merged with its drop-ins in order. */
export function parseUnitFiles(files: UnitFiles, file: string): ParsedUnit {
  const dropIns = files.dropIns.map((d) => parseUnit(d.text, `${file}.d/${d.name}`));
  return mergeDropIns(parseUnit(files.unit, file), dropIns);
}
