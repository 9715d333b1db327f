/**
 * Unit-file parser with systemd 252's exact semantics (src/shared/conf-parser.c `config_parse` and
 * `parse_line`, src/basic/fileio.c `read_line_full`). Pure: text in, ParsedUnit out; never throws on
 * content. Behaviour checked against `systemd-analyze verify` (test/unit/parse.test.ts).
 *
 * What systemd does, step by step, and what this file mirrors:
 *  1. Physical lines end at `\n`, `\r`, `\r\n`, `\n\r` or NUL (a NUL may end such a pair, a
 *     lone `\r` is a line break too). A physical line of 1 MiB or more fails the load, even a comment.
 *  2. A physical line whose first non-blank (space/tab) char is `#` or `;` is dropped, before
 *     continuation handling: it neither continues nor ends a continued value.
 *  3. The first physical line that starts with a UTF-8 BOM has it removed (once per file; a later
 *     BOM stays, and a BOM-prefixed `#` line is NOT a comment, since step 2 saw the BOM first).
 *  4. An odd number of trailing backslashes turns the last one into a space and joins the next
 *     physical line; the joined line may be up to 1 MiB. A continuation open at EOF is still parsed.
 *  5. The logical line is stripped of " \t"; empty lines are skipped; invalid UTF-8 (systemd's
 *     definition: also overlongs, surrogates, noncharacters) fails the load.
 *  6. `[...]` is a section header: it must end with `]` and the name may not contain control
 *     characters, quotes or backslashes, or the load fails. Anything else is `key=value`, split at
 *     the first `=`, both stripped; lines before any section are ignored (with a warning).
 * systemd stops reading a file at its first fatal error; so does this parser (`fatal: true`).
 * Steps 1 and 5's byte rules (line ends, the 1 MiB limit, valid UTF-8) are in physical-lines.ts.
 */
import type { Diagnostic } from '../diag.js';
import {
  byteLen,
  INVALID_CHAR_RE,
  LONG_LINE_MAX,
  splitBytes,
  splitString,
  type PhysicalLines,
} from './physical-lines.js';
import type { ParsedUnit, UnitOption, UnitSection } from './types.js';

function isBlank(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

/** A piece of a logical line: where it starts in the logical string and on which physical line. */
interface Segment {
  /** Offset of the segment's first char within the logical line. */
  start: number;
  /** 1-based physical line. */
  line: number;
  /** 1-based column of the segment's first char on that line. */
  column: number;
}

function locate(segments: Segment[], offset: number): { line: number; column: number } {
  let s = segments[0]!;
  for (let i = 1; i < segments.length && segments[i]!.start <= offset; i++) s = segments[i]!;
  return { line: s.line, column: s.column + (offset - s.start) };
}

function quote(s: string): string {
  const shown = s.length > 60 ? `${s.slice(0, 57)}...` : s;
  return JSON.stringify(shown);
}

/** Characters systemd's string_is_safe() refuses in a section name. */
function unsafeCharIndex(name: string): number {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c > 0 && c < 0x20) || c === 0x7f || c === 0x22 /* " */ || c === 0x27 /* ' */ || c === 0x5c /* \ */) {
      return i;
    }
  }
  return -1;
}

/** Trailing backslashes decide continuation: systemd's loop makes each `\` escape the next char. */
function trailingBackslashes(s: string): number {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s.charCodeAt(i) === 0x5c; i--) n++;
  return n;
}

/**
 * Parse one unit file (or drop-in) as systemd 252 does. `file` is only used in diagnostics.
 * Accepts raw bytes (preferred: invalid UTF-8 is then detected exactly) or an already decoded string.
 * When `fatal` is true, `sections` hold what was read before the fatal line (systemd stops there
 * and refuses the whole file); rules about the unit's meaning should then be skipped.
 */
export function parseUnit(content: string | Uint8Array, file: string): ParsedUnit {
  const diagnostics: Diagnostic[] = [];
  const sections: UnitSection[] = [];
  const unit: ParsedUnit = { file, sections, diagnostics, fatal: false };
  const byName = new Map<string, UnitSection>();

  let phys: PhysicalLines;
  if (typeof content === 'string') {
    phys = { lines: splitString(content), badBytes: null, byteLengths: null };
  } else {
    phys = splitBytes(content);
  }
  const { lines, badBytes, byteLengths } = phys;
  // Strings can hold code points systemd refuses (lone surrogates, noncharacters); scan once.
  const textMayBeInvalid =
    badBytes !== null ||
    (typeof content === 'string' ? INVALID_CHAR_RE.test(content) : lines.some((l) => INVALID_CHAR_RE.test(l)));

  const diag = (line: number, column: number, rule: string, severity: Diagnostic['severity'], message: string) => {
    diagnostics.push({ file, line, column, rule, severity, message });
  };

  let current: UnitSection | null = null;
  let bomSeen = false;
  // The logical line being built while continuation lines are joined.
  let cont: string | null = null;
  let contBad = false;
  let segments: Segment[] = [];

  /** systemd's parse_line(). Returns false on a fatal error (stop reading). */
  const parseLogical = (p: string, segs: Segment[], bad: boolean): boolean => {
    let a = 0;
    let b = p.length;
    while (a < b && isBlank(p[a])) a++;
    while (b > a && isBlank(p[b - 1])) b--;
    if (a === b) return true;
    const start = locate(segs, a);

    if (bad || (textMayBeInvalid && INVALID_CHAR_RE.test(p.slice(a, b)))) {
      diag(start.line, 0, 'SYN04', 'error', 'line is not valid UTF-8: systemd refuses to load the file');
      return false;
    }

    if (p.charCodeAt(a) === 0x5b /* [ */) {
      const header = p.slice(a, b);
      if (p.charCodeAt(b - 1) !== 0x5d /* ] */ || b - a < 2) {
        diag(
          start.line,
          start.column,
          'SYN01',
          'error',
          `invalid section header ${quote(header)}: a header line must end with ']'; systemd refuses to load the file`,
        );
        return false;
      }
      const name = p.slice(a + 1, b - 1);
      const bad = unsafeCharIndex(name);
      if (bad >= 0) {
        const at = locate(segs, a + 1 + bad);
        diag(
          at.line,
          at.column,
          'SYN01',
          'error',
          `section header ${quote(header)} contains a control character, quote or backslash; systemd refuses to load ` +
            `the file`,
        );
        return false;
      }
      let section = byName.get(name);
      if (!section) {
        section = { name, line: start.line, options: [] };
        byName.set(name, section);
        sections.push(section);
      }
      current = section;
      return true;
    }

    const l = p.slice(a, b);
    if (!current) {
      diag(
        start.line,
        start.column,
        'SYN03',
        'warning',
        `assignment before the first section header is ignored: ${quote(l)}`,
      );
      return true;
    }
    const eq = l.indexOf('=');
    if (eq < 0) {
      diag(start.line, start.column, 'SYN02', 'warning', `line without '=' is ignored: ${quote(l)}`);
      return true;
    }
    if (eq === 0) {
      diag(start.line, start.column, 'SYN02', 'warning', `assignment without a key name is ignored: ${quote(l)}`);
      return true;
    }
    let ke = eq;
    while (ke > 0 && isBlank(l[ke - 1])) ke--;
    const key = l.slice(0, ke);
    let vs = eq + 1;
    while (vs < l.length && isBlank(l[vs])) vs++;
    const value = l.slice(vs);

    // valueColumn is on the option's own line; a value that starts on a continuation line points
    // just past the '=' (or at the key when even the '=' is on a later line).
    const eqAt = locate(segs, a + eq);
    let valueColumn = start.column;
    if (eqAt.line === start.line) {
      const v = locate(segs, a + vs);
      valueColumn = v.line === start.line && value !== '' ? v.column : eqAt.column + 1;
    }
    const option: UnitOption = {
      section: current.name,
      key,
      value,
      line: start.line,
      column: start.column,
      valueColumn,
    };
    current.options.push(option);

    // There are no trailing comments: `Restart=always # x` keeps `# x` in the value.
    const m = /[ \t][#;]/.exec(value);
    if (m) {
      const at = locate(segs, a + vs + m.index + 1);
      diag(
        at.line,
        at.column,
        'SYN06',
        'warning',
        `'${value[m.index + 1]}' after a value is not a comment in unit files: ${key}= includes ` +
          `${quote(value.slice(m.index + 1))}`,
      );
    }
    return true;
  };

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    const rawBytes = byteLengths ? byteLengths[i]! : byteLen(raw);
    if (rawBytes >= LONG_LINE_MAX) {
      diag(
        lineNo,
        0,
        'SYN04',
        'error',
        `line is ${rawBytes} bytes long; systemd refuses lines of 1 MiB (${LONG_LINE_MAX} bytes) or more`,
      );
      unit.fatal = true;
      return unit;
    }

    let k = 0;
    while (k < raw.length && isBlank(raw[k])) k++;
    const first = raw.charCodeAt(k);
    if (first === 0x23 /* # */ || first === 0x3b /* ; */) {
      if (trailingBackslashes(raw) % 2 === 1) {
        diag(
          lineNo,
          raw.length,
          'SYN05',
          'info',
          "comment line ends with '\\': comments are dropped before continuations are joined, so it continues nothing",
        );
      }
      continue;
    }

    let l = raw;
    // The BOM is invisible in editors: columns count from the char after it.
    const column = 1;
    if (!bomSeen && raw.charCodeAt(0) === 0xfeff) {
      l = raw.slice(1);
      bomSeen = true;
    }
    const bad = badBytes?.has(i) === true;

    let p: string;
    if (cont !== null) {
      if (
        (cont.length + l.length) * 3 > LONG_LINE_MAX &&
        Buffer.byteLength(cont, 'utf8') + Buffer.byteLength(l, 'utf8') > LONG_LINE_MAX
      ) {
        diag(
          lineNo,
          0,
          'SYN04',
          'error',
          `continued line grows past 1 MiB (${LONG_LINE_MAX} bytes) here; systemd refuses to load the file`,
        );
        unit.fatal = true;
        return unit;
      }
      segments.push({ start: cont.length, line: lineNo, column });
      cont += l;
      contBad ||= bad;
      p = cont;
    } else {
      p = l;
    }

    if (l.length > 0 && trailingBackslashes(l) % 2 === 1) {
      // The escaping backslash becomes a space and the next physical line is appended.
      const joined = p.slice(0, -1) + ' ';
      if (cont === null) {
        segments = [{ start: 0, line: lineNo, column }];
        contBad = bad;
      }
      cont = joined;
      continue;
    }

    const segs: Segment[] = cont !== null ? segments : [{ start: 0, line: lineNo, column }];
    const ok = parseLogical(p, segs, cont !== null ? contBad : bad);
    cont = null;
    if (!ok) {
      unit.fatal = true;
      return unit;
    }
  }
  if (cont !== null && !parseLogical(cont, segments, contBad)) unit.fatal = true;
  return unit;
}

function optionsOf(unit: ParsedUnit, section: string): UnitOption[] {
  for (const s of unit.sections) if (s.name === section) return s.options;
  return [];
}

/**
 * List semantics (After=, ExecStart=, Environment=, ...): every assignment appends, an empty
 * assignment resets the list. One entry per assignment, NOT split into words.
 */
export function effectiveValues(unit: ParsedUnit, section: string, key: string): string[] {
  let out: string[] = [];
  for (const o of optionsOf(unit, section)) {
    if (o.key !== key) continue;
    if (o.value === '') out = [];
    else out.push(o.value);
  }
  return out;
}

/** The options behind effectiveValues(): the assignments still in effect after the last reset. */
export function effectiveOptions(unit: ParsedUnit, section: string, key: string): UnitOption[] {
  let out: UnitOption[] = [];
  for (const o of optionsOf(unit, section)) {
    if (o.key !== key) continue;
    if (o.value === '') out = [];
    else out.push(o);
  }
  return out;
}

/**
 * Scalar semantics: the last assignment wins. Returns '' when the last assignment is empty (which
 * for most scalar settings means "back to the default") and undefined when the key never appears.
 */
export function lastValue(unit: ParsedUnit, section: string, key: string): string | undefined {
  return lastOption(unit, section, key)?.value;
}

/** The option lastValue() reads, for diagnostics that need its position. */
export function lastOption(unit: ParsedUnit, section: string, key: string): UnitOption | undefined {
  const opts = optionsOf(unit, section);
  for (let i = opts.length - 1; i >= 0; i--) if (opts[i]!.key === key) return opts[i];
  return undefined;
}

/** The section named exactly `name` (case-sensitive, as systemd), if present. */
export function getSection(unit: ParsedUnit, name: string): UnitSection | undefined {
  return unit.sections.find((s) => s.name === name);
}
