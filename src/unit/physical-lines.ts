/**
 * A unit file's physical lines, as systemd 252's read_line_full() (src/basic/fileio.c) cuts them:
 * where lines end (`\n`, `\r`, `\r\n`, `\n\r`, NUL), how long one may be (1 MiB), and which lines
 * are not valid UTF-8 by systemd's definition. Kept apart from parse.ts, which reads these lines
 * as systemd's parse_line() does, because byte-level decoding is its own set of rules.
 */

/** systemd's LONG_LINE_MAX: 1 MiB, in bytes. */
export const LONG_LINE_MAX = 1024 * 1024;

/** systemd's EOL rule as a regex: one of \r \n, optionally the other, optionally a NUL; or a NUL. */
const EOL_RE = /(?:\r\n?|\n\r?)\0?|\0/;

/**
 * Code points systemd's utf8_is_valid() rejects that a JS string can hold: lone surrogates and
 * Unicode noncharacters (U+FDD0..U+FDEF, U+xxFFFE/U+xxFFFF in every plane).
 */
export const INVALID_CHAR_RE = new RegExp(
  [
    '[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])', // a high surrogate alone
    '(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]', // a low surrogate alone
    '[\\uFDD0-\\uFDEF\\uFFFE\\uFFFF]', // noncharacters of the first plane
    // U+xxFFFE and U+xxFFFF of planes 1-16: the last high surrogate of each plane, then DFFE/DFFF
    '[\\uD83F\\uD87F\\uD8BF\\uD8FF\\uD93F\\uD97F\\uD9BF\\uD9FF' +
      '\\uDA3F\\uDA7F\\uDABF\\uDAFF\\uDB3F\\uDB7F\\uDBBF\\uDBFF][\\uDFFE\\uDFFF]',
  ].join('|'),
);

export interface PhysicalLines {
  lines: string[];
  /** Lines whose bytes were not valid UTF-8 (decoded with replacement characters). null: none. */
  badBytes: Set<number> | null;
  /** Exact UTF-8 byte length per line when known (from bytes); null: compute from the string. */
  byteLengths: number[] | null;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Physical lines of already decoded text. */
export function splitString(text: string): string[] {
  // Fast path for the usual `\n`-only file.
  const lines = text.includes('\r') || text.includes('\0') ? text.split(EOL_RE) : text.split('\n');
  // Text after the last EOL is a line only when non-empty (read_line returns 0 at a bare EOF).
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function isEolByte(b: number): boolean {
  return b === 0x0a || b === 0x0d || b === 0x00;
}

/** Split raw bytes into physical lines (EOL bytes are ASCII, so splitting bytes is safe). */
export function splitBytes(bytes: Uint8Array): PhysicalLines {
  try {
    return { lines: splitString(strictDecoder.decode(bytes)), badBytes: null, byteLengths: null };
  } catch {
    // Some bytes are not UTF-8: decode line by line so that only lines systemd would actually read
    // (not comments) count as invalid.
  }
  const lines: string[] = [];
  const byteLengths: number[] = [];
  const badBytes = new Set<number>();
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    let j = i;
    while (j < n && !isEolByte(bytes[j]!)) j++;
    const chunk = bytes.subarray(i, j);
    try {
      lines.push(strictDecoder.decode(chunk));
    } catch {
      badBytes.add(lines.length);
      lines.push(lenientDecoder.decode(chunk));
    }
    byteLengths.push(j - i);
    if (j >= n) break;
    // Consume one EOL marker: \r or \n, optionally the other one, optionally a NUL; or a NUL.
    const c = bytes[j]!;
    j++;
    if (c !== 0x00) {
      const other = c === 0x0a ? 0x0d : 0x0a;
      if (j < n && bytes[j] === other) j++;
      if (j < n && bytes[j] === 0x00) j++;
    }
    i = j;
  }
  return { lines, badBytes, byteLengths };
}

/**
 * UTF-8 byte length, exact only when it could reach the 1 MiB limit: every UTF-16 unit is at most
 * 3 bytes, so a shorter string is reported by its char count (a lower bound, cheap).
 */
export function byteLen(s: string): number {
  return s.length * 3 < LONG_LINE_MAX ? s.length : Buffer.byteLength(s, 'utf8');
}
