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
 *   SRC08 E the commit cannot be read at all (src/controller/load.ts)
 *   DRP02 W a file in a drop-in directory that systemd does not read (not `*.conf`, hidden), so it is
 *           not deployed; E for a `*.conf` name gitfleet cannot deploy (control characters, too long)
 * A drop-in (`foo.service.d/10-env.conf`, any drop-in directory src/unit/dropins.ts knows) is read
 * with the same checks as a unit file, and so is refused the same ways.
 */
import { posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import type { RepoFile } from '../desired/types.js';
import { isDropInFileName } from '../unit/body.js';
import { parseDropInDir } from '../unit/dropins.js';
import { UNIT_TYPES } from '../unit/types.js';

/** Unit files and fleet.yaml larger than this are refused. */
export const MAX_REPO_FILE_BYTES = 1024 * 1024;

const UNIT_SUFFIX = new RegExp(`\\.(${UNIT_TYPES.join('|')})$`);

/** True for names that are read as unit files: by suffix only (name validity is the linter's NAM01). */
export function hasUnitSuffix(name: string): boolean {
  return UNIT_SUFFIX.test(name);
}

/**
 * What a file (not a directory) of the unit directory is read as: a unit file (by its suffix), a
 * drop-in (a `*.conf` file directly in a drop-in directory such as `foo.service.d/` or
 * `service.d/`), or nothing. A file in a drop-in directory that is not a drop-in is never a unit
 * file either: `ignored` holds the DRP02 finding that says so.
 */
export function fileRole(
  path: string,
  name: string,
): { role: 'unit' | 'dropIn' | 'other' } | { role: 'ignored'; diagnostic: Diagnostic } {
  const dir = posix.basename(posix.dirname(path));
  if (posix.dirname(path) !== '.' && parseDropInDir(dir)) {
    if (isDropInFileName(name)) return { role: 'dropIn' };
    const conf = name.endsWith('.conf') && !name.startsWith('.');
    const message = conf
      ? `drop-in ${JSON.stringify(name)} cannot be deployed: its name has control characters or is over 255 bytes`
      : `${name.startsWith('.') ? 'hidden file' : `'${name}'`} in drop-in directory ${dir}/ is not read by systemd ` +
        `(only *.conf files, not hidden) and is not deployed`;
    return { role: 'ignored', diagnostic: refusedDiag(path, 'DRP02', message, conf ? 'error' : 'warning') };
  }
  return { role: hasUnitSuffix(name) ? 'unit' : 'other' };
}

/** SRC01 for a drop-in directory that is a symbolic link (null for any other name). */
export function dropInDirLinkDiag(path: string, name: string): Diagnostic | null {
  if (!parseDropInDir(name)) return null;
  return refusedDiag(
    path,
    'SRC01',
    `drop-in directory ${name} is a symbolic link; links are never followed: commit the directory itself`,
  );
}

/** What a reader returns for one directory tree of a commit or of the file system. */
export interface ReadFilesResult {
  /** Unit-suffixed files that passed the checks, sorted by path. */
  files: RepoFile[];
  /** Drop-ins (`NAME.d/*.conf`) that passed the same checks, sorted by path; `name` is the file name. */
  dropIns: RepoFile[];
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
