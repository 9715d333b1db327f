/**
 * Canonical serialization and content hash of a unit. Comments, blank lines, continuations, CRLF,
 * a BOM and repeated section headers do not change a unit's identity; the canonical text is what
 * gitfleet stores and hashes. Pure.
 */
import { sha256 } from '../util/hash.js';
import { parseUnit } from './parse.js';
import type { ParsedUnit } from './types.js';

const BOM = '\uFEFF';

/**
 * Canonical text: sections in first-appearance order, `[Name]` then `Key=value` lines in order,
 * one blank line between sections, a trailing newline, no comments ('' for a unit without sections).
 *
 * Values are written as they are, with two exceptions needed so that parsing the output gives the
 * same unit back (parse(serialize(u)) equals u in sections, keys and values):
 *  - a value ending in an odd number of backslashes (possible when the source had blanks after the
 *    last `\`) gets one trailing space, or systemd would read the `\` as a continuation;
 *  - keys that systemd only read because a BOM hid a leading `#`/`;`, or that begin with a BOM,
 *    get a BOM where the parser would otherwise strip or skip them (a garbage-in case; such keys
 *    are unknown to systemd anyway).
 */
export function serializeUnit(unit: ParsedUnit): string {
  const parts: string[] = [];
  // systemd strips the first BOM at the start of any line, once per file.
  let bomUsed = false;
  for (let i = 0; i < unit.sections.length; i++) {
    const section = unit.sections[i]!;
    if (i > 0) parts.push('\n');
    parts.push('[', section.name, ']\n');
    for (const o of section.options) {
      let key = o.key;
      const c = key.charCodeAt(0);
      if (c === 0x23 /* # */ || c === 0x3b /* ; */) {
        // Only a stripped BOM makes such a line an assignment rather than a comment.
        if (!bomUsed) key = BOM + key;
        bomUsed = true;
      } else if (c === 0xfeff && !bomUsed) {
        // Spend the one-time BOM strip on an empty line so this key keeps its BOM.
        parts.push(BOM, '\n');
        bomUsed = true;
      }
      let value = o.value;
      if (endsInOddBackslashes(value)) value += ' ';
      parts.push(key, '=', value, '\n');
    }
  }
  return parts.join('');
}

function endsInOddBackslashes(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s.charCodeAt(i) === 0x5c; i--) n++;
  return n % 2 === 1;
}

/**
 * Content hash of a unit: sha256 hex of its canonical serialization. Accepts a parsed unit or raw
 * content (parsed first; `file` only names it in diagnostics, which are discarded here).
 */
export function unitHash(unit: ParsedUnit | string | Uint8Array): string {
  const parsed = typeof unit === 'string' || unit instanceof Uint8Array ? parseUnit(unit, '<content>') : unit;
  return sha256(serializeUnit(parsed));
}

export interface CanonicalUnit {
  /** Canonical serialization (serializeUnit). */
  text: string;
  /** sha256 hex of `text`. */
  hash: string;
  /** The parse, with its diagnostics and `fatal` flag: check them before trusting text/hash. */
  unit: ParsedUnit;
}

/** Parse, serialize and hash in one step. */
export function canonicalize(content: string | Uint8Array, file: string): CanonicalUnit {
  const unit = parseUnit(content, file);
  const text = serializeUnit(unit);
  return { text, hash: sha256(text), unit };
}
