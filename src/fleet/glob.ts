/**
 * The glob semantics of fleet's `Conflicts=` and `Replaces=`: Go's `path.Match`, which fleet called
 * (agent/state.go `globMatches`). Ported rather than taken from picomatch/minimatch because those
 * differ from path.Match in ways users would notice: they treat `!`/`{a,b}`/`**`/extglobs as
 * special, accept `[!...]` as negation, and never report a malformed pattern.
 *
 * Syntax (Go's doc):
 *   '*'          any sequence of non-'/' characters
 *   '?'          any single non-'/' character
 *   '[' ['^'] { range } ']'   character class (must be non-empty); range: c, '\\'c, lo '-' hi
 *   '\\' c       the character c
 *   c            the character c (c not one of * ? \\ [)
 * The pattern must match the whole name. A malformed pattern (Go's ErrBadPattern) matches nothing,
 * as in fleet, where the error was only logged at debug level; the linter reports it (see
 * `globError`).
 *
 * Works on Unicode code points where Go works on UTF-8 runes: identical for valid text.
 */

export interface CompiledGlob {
  pattern: string;
  /** Null when the pattern is well formed; else why it is not (it then matches nothing). */
  error: string | null;
  match(name: string): boolean;
}

const SPECIAL = /[*?[\\]/;
const cache = new Map<string, CompiledGlob>();

/** Compile (and cache) a pattern. Patterns without metacharacters compare by equality. */
export function compileGlob(pattern: string): CompiledGlob {
  let g = cache.get(pattern);
  if (g) return g;
  if (!SPECIAL.test(pattern)) {
    g = { pattern, error: null, match: (name) => name === pattern };
  } else {
    const pat = Array.from(pattern);
    const error = validate(pat);
    if (error) {
      g = { pattern, error, match: () => false };
    } else {
      // Unit names never contain '/', and for such names a RegExp is equivalent to path.Match and
      // much faster; names with '/' take the literal port.
      const re = toRegExp(pat);
      g = {
        pattern,
        error: null,
        match: (name) => (name.includes('/') ? goMatch(pat, Array.from(name)) : re.test(name)),
      };
    }
  }
  if (cache.size > 10_000) cache.clear(); // bound memory if patterns churn over a long run
  cache.set(pattern, g);
  return g;
}

/** Go's path.Match for a well-formed pattern; false for a malformed one. */
export function globMatch(pattern: string, name: string): boolean {
  return compileGlob(pattern).match(name);
}

/** The literal port of Go's path.Match (no fast path): false for a malformed pattern. */
export function pathMatch(pattern: string, name: string): boolean {
  const pat = Array.from(pattern);
  return validate(pat) === null && goMatch(pat, Array.from(name));
}

/** Null when `pattern` is a well-formed path.Match pattern, else a message naming the problem. */
export function globError(pattern: string): string | null {
  return compileGlob(pattern).error;
}

/** True when the pattern has glob metacharacters (it is not an exact unit name). */
export function isGlob(pattern: string): boolean {
  return SPECIAL.test(pattern);
}

/**
 * A RegExp equal to path.Match on names without '/' (a star-free chunk then matches leftmost, so
 * Go's non-backtracking scan and a backtracking RegExp accept the same names). Only for patterns
 * `validate` accepted.
 */
function toRegExp(pat: string[]): RegExp {
  const cp = (ch: string) => `\\u{${ch.codePointAt(0)!.toString(16)}}`;
  let src = '^';
  let i = 0;
  while (i < pat.length) {
    const ch = pat[i]!;
    if (ch === '*') {
      src += '[^/]*';
      i++;
    } else if (ch === '?') {
      src += '[^/]';
      i++;
    } else if (ch === '[') {
      i++;
      let negated = false;
      if (pat[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: string[] = [];
      let n = 0;
      for (;;) {
        if (pat[i] === ']' && n > 0) {
          i++;
          break;
        }
        if (pat[i] === '\\') i++;
        const lo = pat[i++]!;
        let hi = lo;
        if (pat[i] === '-') {
          i++;
          if (pat[i] === '\\') i++;
          hi = pat[i++]!;
        }
        // Go accepts a reversed range and it matches nothing; a RegExp would throw.
        if (lo.codePointAt(0)! <= hi.codePointAt(0)!) ranges.push(lo === hi ? cp(lo) : `${cp(lo)}-${cp(hi)}`);
        n++;
      }
      if (ranges.length === 0) src += negated ? '[\\s\\S]' : '(?!)';
      else src += `[${negated ? '^' : ''}${ranges.join('')}]`;
    } else {
      if (ch === '\\') i++;
      src += cp(pat[i]!);
      i++;
    }
  }
  return new RegExp(src + '$', 'u');
}

// ---- the port of Go's src/path/match.go ------------------------------------------------------

class BadPattern extends Error {}

/** Every chunk must parse; this is what Go checks before returning false without an error. */
function validate(pattern: string[]): string | null {
  let rest = pattern;
  try {
    while (rest.length > 0) {
      const { chunk, rest: r } = scanChunk(rest);
      rest = r;
      matchChunk(chunk, []);
    }
  } catch (e) {
    if (e instanceof BadPattern) return e.message;
    throw e;
  }
  return null;
}

function goMatch(pattern: string[], name: string[]): boolean {
  pat: while (pattern.length > 0) {
    const sc = scanChunk(pattern);
    const { star, chunk } = sc;
    pattern = sc.rest;
    if (star && chunk.length === 0) {
      // Trailing * matches the rest of the name unless it has a '/'.
      return !name.includes('/');
    }
    const t = matchChunk(chunk, name);
    // For the last chunk the name must be exhausted, else a later position may still match.
    if (t !== null && (t.length === 0 || pattern.length > 0)) {
      name = t;
      continue;
    }
    if (star) {
      // Try skipping i+1 characters; a star cannot skip '/'.
      for (let i = 0; i < name.length && name[i] !== '/'; i++) {
        const t2 = matchChunk(chunk, name.slice(i + 1));
        if (t2 !== null) {
          if (pattern.length === 0 && t2.length > 0) continue;
          name = t2;
          continue pat;
        }
      }
    }
    return false;
  }
  return name.length === 0;
}

/** The next segment of the pattern: a star-free chunk, possibly preceded by stars. */
function scanChunk(pattern: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let star = false;
  let p = 0;
  while (p < pattern.length && pattern[p] === '*') {
    p++;
    star = true;
  }
  let inrange = false;
  for (let i = p; i < pattern.length; i++) {
    switch (pattern[i]) {
      case '\\':
        if (i + 1 < pattern.length) i++;
        break;
      case '[':
        inrange = true;
        break;
      case ']':
        inrange = false;
        break;
      case '*':
        if (!inrange) return { star, chunk: pattern.slice(p, i), rest: pattern.slice(i) };
        break;
    }
  }
  return { star, chunk: pattern.slice(p), rest: [] };
}

/**
 * Does `chunk` (literals, classes, '?') match the start of `s`? Returns the rest of `s`, or null.
 * Keeps parsing after a mismatch so a malformed chunk always throws BadPattern.
 */
function matchChunk(chunk: string[], s: string[]): string[] | null {
  let failed = false;
  let c = 0;
  let si = 0;
  while (c < chunk.length) {
    if (!failed && si >= s.length) failed = true;
    const ch = chunk[c]!;
    if (ch === '[') {
      let r = '';
      if (!failed) r = s[si++]!;
      c++;
      let negated = false;
      if (c < chunk.length && chunk[c] === '^') {
        negated = true;
        c++;
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (c < chunk.length && chunk[c] === ']' && nrange > 0) {
          c++;
          break;
        }
        const lo = getEsc(chunk, c);
        c = lo.next;
        let hi = lo;
        if (chunk[c] === '-') {
          hi = getEsc(chunk, c + 1);
          c = hi.next;
        }
        if (!failed && cmp(lo.r, r) <= 0 && cmp(r, hi.r) <= 0) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (ch === '?') {
      if (!failed) {
        if (s[si] === '/') failed = true;
        si++;
      }
      c++;
    } else {
      if (ch === '\\') {
        c++;
        if (c >= chunk.length) throw new BadPattern('a trailing "\\" escapes nothing');
      }
      if (!failed) {
        if (chunk[c] !== s[si]) failed = true;
        si++;
      }
      c++;
    }
  }
  return failed ? null : s.slice(si);
}

/** Compare two single code points as Go compares runes. */
function cmp(a: string, b: string): number {
  return a.codePointAt(0)! - b.codePointAt(0)!;
}

/** A possibly escaped character inside a class; it may not be the last thing in the chunk. */
function getEsc(chunk: string[], c: number): { r: string; next: number } {
  if (c >= chunk.length || chunk[c] === '-' || chunk[c] === ']') {
    throw new BadPattern(
      c >= chunk.length
        ? 'a character class "[" is not closed'
        : `a character class has "${chunk[c]}" where a character is expected (escape it with "\\")`,
    );
  }
  if (chunk[c] === '\\') {
    c++;
    if (c >= chunk.length) throw new BadPattern('a character class "[" is not closed');
  }
  const r = chunk[c]!;
  c++;
  if (c >= chunk.length) throw new BadPattern('a character class "[" is not closed');
  return { r, next: c };
}
