/**
 * Unit names as systemd 252 defines them (src/basic/unit-name.c): validity, template/instance
 * split, instantiation, and `systemd-escape` compatible escaping. Pure.
 */
import { UNIT_TYPES, type UnitType } from './types.js';

/** systemd's UNIT_NAME_MAX is 256 including the NUL: names are at most 255 bytes. */
export const UNIT_NAME_MAX = 255;

const TYPES: ReadonlySet<string> = new Set(UNIT_TYPES);

/** systemd's VALID_CHARS: letters, digits and `:-_.\` (the backslash appears in escaped names). */
function isValidChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x3a /* : */ ||
    c === 0x2d /* - */ ||
    c === 0x5f /* _ */ ||
    c === 0x2e /* . */ ||
    c === 0x5c /* \ */
  );
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Why `name` is not a valid unit name (plain, template or instance), or null when it is valid.
 * Positions are 1-based characters.
 */
export function unitNameError(name: string): string | null {
  if (name === '') return 'unit name is empty';
  const len = byteLength(name);
  if (len > UNIT_NAME_MAX) return `unit name is ${len} bytes long; at most ${UNIT_NAME_MAX} are allowed`;
  const dot = name.lastIndexOf('.');
  if (dot < 0) return `unit name ${JSON.stringify(name)} has no type suffix (.service, .socket, .timer, ...)`;
  if (dot === 0) return `unit name ${JSON.stringify(name)} has nothing before its type suffix`;
  const suffix = name.slice(dot + 1);
  if (!TYPES.has(suffix)) {
    return (
      `unknown unit type suffix ${JSON.stringify('.' + suffix)}; expected one of ` +
      `${UNIT_TYPES.map((t) => '.' + t).join(', ')}`
    );
  }
  let at = -1;
  for (let i = 0; i < dot; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x40 /* @ */) {
      if (at < 0) at = i;
      continue;
    }
    if (!isValidChar(c)) {
      const ch = String.fromCodePoint(name.codePointAt(i)!);
      const why = ch === '/' ? ' (a unit name is not a path)' : '';
      return (
        `invalid character ${JSON.stringify(ch)} at position ${i + 1} of unit name ${JSON.stringify(name)}${why}; ` +
        "allowed are letters, digits, ':', '-', '_', '.', '\\' and '@'"
      );
    }
  }
  if (at === 0) return `unit name ${JSON.stringify(name)} may not start with '@'`;
  return null;
}

/** True for valid plain, template (`foo@.service`) and instance (`foo@bar.service`) names. */
export function isValidUnitName(name: string): boolean {
  return unitNameError(name) === null;
}

/** The type named by the suffix after the last '.', or null; does not check the rest of the name. */
export function unitType(name: string): UnitType | null {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return null;
  const suffix = name.slice(dot + 1);
  return TYPES.has(suffix) ? (suffix as UnitType) : null;
}

export interface UnitName {
  /** Before the first '@' (or the whole name without suffix): `foo` of `foo@bar.service`. */
  prefix: string;
  /** Between the first '@' and the last '.'; '' for a template, null for a plain unit. */
  instance: string | null;
  /** True for `foo@.service`. */
  template: boolean;
  type: UnitType;
}

/** Split a valid unit name into its parts; null when the name is not valid. */
export function parseUnitName(name: string): UnitName | null {
  if (!isValidUnitName(name)) return null;
  const dot = name.lastIndexOf('.');
  const type = name.slice(dot + 1) as UnitType;
  const at = name.indexOf('@');
  if (at < 0 || at > dot) return { prefix: name.slice(0, dot), instance: null, template: false, type };
  const instance = name.slice(at + 1, dot);
  return { prefix: name.slice(0, at), instance, template: instance === '', type };
}

/**
 * A unit name as a user types it: without a type suffix it means the service (`hello` ->
 * `hello.service`, `web@1` -> `web@1.service`), as systemctl and fleetctl read it.
 */
export function withDefaultSuffix(name: string): string {
  return unitType(name) ? name : `${name}.service`;
}

/** `foo@.service`: a template, never started itself (only its instances are). */
export function isTemplate(name: string): boolean {
  return parseUnitName(name)?.template === true;
}

export function isInstance(name: string): boolean {
  const p = parseUnitName(name);
  return p !== null && p.instance !== null && p.instance !== '';
}

/** `foo@bar.service` -> `foo@.service`; null when `name` is not a valid instance name. */
export function templateOf(name: string): string | null {
  const p = parseUnitName(name);
  if (!p || p.instance === null || p.instance === '') return null;
  return `${p.prefix}@.${p.type}`;
}

/** Thrown for input that cannot be escaped, unescaped or instantiated; the message says why. */
export class UnitNameError extends Error {
  override name = 'UnitNameError';
}

const HEX = '0123456789abcdef';

function escapeByte(b: number): string {
  return '\\x' + HEX[b >> 4]! + HEX[b & 15]!;
}

/** systemd's do_escape(): `/` -> `-`; `-`, `\` and bytes outside [A-Za-z0-9:_.] -> `\xNN`; leading `.` escaped. */
function doEscape(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (i === 0 && b === 0x2e) out += escapeByte(b);
    else if (b === 0x2f) out += '-';
    else if (b === 0x2d || b === 0x5c || !isValidChar(b)) out += escapeByte(b);
    else out += String.fromCharCode(b);
  }
  return out;
}

/** NAME_MAX and PATH_MAX of Linux, which systemd's path checks use. */
const NAME_MAX = 255;
const PATH_MAX = 4096;

/**
 * systemd's path_simplify(): drop empty and "." components and trailing slashes, keep "..".
 * Components longer than NAME_MAX are left for the validity check to reject.
 */
function pathSimplify(path: string): string {
  if (path === '') return path;
  const absolute = path.startsWith('/');
  const parts = path.split('/').filter((c) => c !== '' && c !== '.');
  const joined = parts.join('/');
  if (absolute) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** systemd's path_is_normalized() applied to a simplified path: valid, no "..", no ".". */
function pathProblem(path: string): string | null {
  if (byteLength(path) >= PATH_MAX) return `is longer than PATH_MAX (${PATH_MAX} bytes)`;
  for (const c of path.split('/')) {
    if (c === '..') return "contains a '..' component";
    if (c === '.') return 'is the current directory';
    if (byteLength(c) > NAME_MAX) return `has a component longer than NAME_MAX (${NAME_MAX} bytes)`;
  }
  return null;
}

/**
 * Escape a string as `systemd-escape` does (or `systemd-escape --path` with `{ path: true }`).
 * Path mode simplifies the path first (`//` and `.` components vanish, `/` becomes `-`) and throws
 * UnitNameError for paths systemd refuses (a `..` component, overlong names).
 */
export function escape(str: string, opts: { path?: boolean } = {}): string {
  if (!opts.path) return doEscape(str);
  const p = pathSimplify(str);
  if (p === '' || p === '/') return '-';
  const problem = pathProblem(p);
  if (problem) throw new UnitNameError(`cannot escape path ${JSON.stringify(str)}: it ${problem}`);
  return doEscape(p.replace(/\/+$/, '').replace(/^\/+/, ''));
}

function unhex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** systemd's unit_name_unescape(): `-` -> `/`, `\xNN` -> byte; any other `\` is an error. */
function doUnescape(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x2d) out.push(0x2f);
    else if (b === 0x5c) {
      const hi = unhex(bytes[i + 2] ?? -1);
      const lo = unhex(bytes[i + 3] ?? -1);
      if (bytes[i + 1] !== 0x78 /* x */ || hi < 0 || lo < 0) {
        throw new UnitNameError(`cannot unescape ${JSON.stringify(s)}: '\\' at byte ${i + 1} is not followed by xNN`);
      }
      out.push((hi << 4) | lo);
      i += 3;
    } else out.push(b);
  }
  try {
    return utf8Strict.decode(Uint8Array.from(out));
  } catch {
    throw new UnitNameError(`cannot unescape ${JSON.stringify(s)}: the result is not valid UTF-8`);
  }
}

/**
 * Undo escape(), as `systemd-escape --unescape [--path]`. Path mode turns `-` into `/`, refuses a
 * result with a leading/trailing slash or a non-normalized path, and prefixes `/`.
 * Throws UnitNameError on malformed input.
 */
export function unescape(str: string, opts: { path?: boolean } = {}): string {
  if (!opts.path) return doUnescape(str);
  if (str === '') throw new UnitNameError('cannot unescape an empty string as a path');
  if (str === '-') return '/';
  const w = doUnescape(str);
  if (w.startsWith('/') || w.endsWith('/')) {
    throw new UnitNameError(`cannot unescape ${JSON.stringify(str)} as a path: it would start or end with '/'`);
  }
  const p = '/' + w;
  const problem = pathProblem(p) ?? (p.includes('//') ? "contains '//'" : null);
  if (problem) throw new UnitNameError(`cannot unescape ${JSON.stringify(str)} as a path: the result ${problem}`);
  return p;
}

/**
 * `foo@.service` + instance -> `foo@<instance>.service`, as `systemd-escape --template=foo@.service`
 * does: the instance is escaped first (pass `{ escape: false }` for an already escaped instance,
 * `{ path: true }` to escape it as a path). Throws UnitNameError when the template is not a
 * template, the instance is empty or has invalid characters, or the result is too long.
 */
export function instantiate(
  templateName: string,
  instance: string,
  opts: { escape?: boolean; path?: boolean } = {},
): string {
  const t = parseUnitName(templateName);
  if (!t?.template) {
    throw new UnitNameError(`${JSON.stringify(templateName)} is not a valid template unit name (like foo@.service)`);
  }
  const inst = opts.escape === false ? instance : escape(instance, { path: opts.path });
  if (inst === '') throw new UnitNameError(`cannot instantiate ${templateName} with an empty instance`);
  for (let i = 0; i < inst.length; i++) {
    const c = inst.charCodeAt(i);
    if (c !== 0x40 && !isValidChar(c)) {
      throw new UnitNameError(
        `instance ${JSON.stringify(inst)} has an invalid character ${JSON.stringify(inst[i])} at position ${i + 1}`,
      );
    }
  }
  const name = `${t.prefix}@${inst}.${t.type}`;
  const err = unitNameError(name);
  if (err) throw new UnitNameError(`cannot instantiate ${templateName} with ${JSON.stringify(instance)}: ${err}`);
  return name;
}
