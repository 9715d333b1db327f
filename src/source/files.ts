/**
 * Checks shared by the git reader and the directory reader: which files of a unit repository are
 * read at all, and which of those are refused before any parser sees them. Everything read from a
 * repository is untrusted input.
 *
 * Rule ids (in addition to docs/lint.md; docs/plan.md lists them):
 *   SRC01 E a unit file or fleet.yaml that is a symlink (never followed)
 *   SRC02 W a submodule or special file where unit files live (not read); E when it has a unit name
 *   SRC03 E a unit file or fleet.yaml over 1 MiB
 *   SRC04 E a binary unit file (contains NUL bytes)
 *   SYN04 E a unit file that is not valid UTF-8 (systemd refuses to load it)
 *   SRC07 E a drop-in (`foo.service.d/*.conf`): gitfleet deploys whole unit files, so the drop-in
 *           would silently not reach any machine; its settings belong in the unit file
 *   SRC08 E the commit cannot be read at all (src/controller/load.ts)
 */
import { posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import type { RepoFile } from '../desired/types.js';
import { UNIT_TYPES } from '../unit/types.js';

/** Unit files and fleet.yaml larger than this are refused. */
export const MAX_REPO_FILE_BYTES = 1024 * 1024;

const UNIT_SUFFIX = new RegExp(`\\.(${UNIT_TYPES.join('|')})$`);

/** True for names that are read as unit files: by suffix only (name validity is the linter's NAM01). */
export function hasUnitSuffix(name: string): boolean {
  return UNIT_SUFFIX.test(name);
}

const DROP_IN = new RegExp(`(^|/)([^/]+\\.(${UNIT_TYPES.join('|')}))\\.d/[^/]+\\.conf$`);

/**
 * A drop-in would change a unit on a host, but gitfleet deploys whole unit files: refuse it with a
 * clear message instead of deploying the unit without it.
 */
export function dropInDiag(path: string): Diagnostic | null {
  const m = DROP_IN.exec(path);
  if (!m) return null;
  return refusedDiag(
    path,
    'SRC07',
    `drop-in for ${m[2]}: gitfleet deploys whole unit files and does not apply drop-ins; move these settings into ` +
      `${m[2]} itself`,
  );
}

/** What a reader returns for one directory tree of a commit or of the file system. */
export interface ReadFilesResult {
  /** Unit-suffixed files that passed the checks, sorted by path. */
  files: RepoFile[];
  /** Findings about entries that were refused or skipped. */
  diagnostics: Diagnostic[];
  /** Repo paths of unit-suffixed entries that were refused (so "missing unit" findings are not piled on). */
  rejected: string[];
}

export function refusedDiag(
  file: string,
  rule: string,
  message: string,
  severity: Diagnostic['severity'] = 'error',
): Diagnostic {
  return { file, line: 0, column: 0, rule, severity, message };
}

/**
 * Check a regular file's bytes; a diagnostic when it must be refused. `what` says what the file is
 * for the message ("unit file", "fleet.yaml").
 */
export function checkContent(path: string, content: Uint8Array, what: string, checkUtf8 = true): Diagnostic | null {
  if (content.byteLength > MAX_REPO_FILE_BYTES) {
    return refusedDiag(
      path,
      'SRC03',
      `${what} is ${content.byteLength} bytes; the limit is ${MAX_REPO_FILE_BYTES} (1 MiB)`,
    );
  }
  const nul = content.indexOf(0);
  if (nul >= 0) {
    return refusedDiag(path, 'SRC04', `${what} is binary (a NUL byte at offset ${nul}); unit files are text`);
  }
  if (checkUtf8) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(content);
    } catch {
      return refusedDiag(path, 'SYN04', `${what} is not valid UTF-8: systemd refuses to load it`);
    }
  }
  return null;
}

export function symlinkDiag(path: string, what: string): Diagnostic {
  return refusedDiag(path, 'SRC01', `${what} is a symbolic link; links are never followed: commit the file itself`);
}

export function byPath(a: RepoFile, b: RepoFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * Normalise a `--path` ('a/./b/' -> 'a/b', '.' -> ''). Throws an Error naming the option when the
 * path is absolute or leaves the repository.
 */
export function normalizeSubPath(p: string): string {
  if (p === '' || p === '.') return '';
  if (posix.isAbsolute(p) || p.split('/').includes('..'))
    throw new Error(`--path '${p}' must be a relative path inside the repository`);
  const n = posix.normalize(p).replace(/\/+$/, '');
  return n === '.' ? '' : n;
}
