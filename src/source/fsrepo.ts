/**
 * A unit repository read from a plain directory (`gitfleet lint DIR`), with the same untrusted-input
 * checks as a commit: symlinks are reported and never followed (neither files nor directories),
 * special files are never opened, oversized, binary and non-UTF-8 unit files are refused.
 */
import fs from 'node:fs';
import { join, posix } from 'node:path';
import type { Diagnostic } from '../diag.js';
import type { RepoFile } from '../desired/types.js';
import { parseSnapshotFleetYaml, type RepoSnapshot } from '../desired/repo.js';
import { FLEET_YAML } from '../desired/fleetyaml.js';
import {
  MAX_REPO_FILE_BYTES,
  byPath,
  checkContent,
  dropInDirLinkDiag,
  fileRole,
  normalizeSubPath,
  refusedDiag,
  symlinkDiag,
  type ReadFilesResult,
} from './files.js';

/** Directories never descended into. */
const SKIP_DIRS = new Set(['.git', 'node_modules']);

/**
 * Read the unit files under `root/subPath`, recursively. Paths in the result are relative to
 * `root`, '/'-separated, as for a commit. A missing or non-directory `subPath` is an error diagnostic.
 */
export function readDirFiles(root: string, subPath = ''): ReadFilesResult {
  const out: ReadFilesResult = { files: [], dropIns: [], diagnostics: [], rejected: [] };
  const sub = normalizeSubPath(subPath);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(join(root, sub));
  } catch {
    out.diagnostics.push(refusedDiag(sub || '.', 'SRC05', `unit directory '${sub || root}' does not exist`));
    return out;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    const why = st.isSymbolicLink() ? 'is a symbolic link (never followed)' : 'is not a directory';
    out.diagnostics.push(refusedDiag(sub || '.', 'SRC05', `unit directory '${sub || root}' ${why}`));
    return out;
  }
  const queue = [sub];
  while (queue.length) {
    const rel = queue.shift()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(join(root, rel), { withFileTypes: true });
    } catch (e) {
      out.diagnostics.push(
        refusedDiag(rel || '.', 'SRC05', `cannot read directory: ${(e as Error).message}`, 'warning'),
      );
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = rel ? posix.join(rel, e.name) : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) queue.push(path);
        continue;
      }
      const role = fileRole(path, e.name);
      if (role.role === 'ignored') {
        out.diagnostics.push(role.diagnostic);
        continue;
      }
      if (role.role === 'other') {
        const d = e.isSymbolicLink() ? dropInDirLinkDiag(path, e.name) : null;
        if (d) out.diagnostics.push(d);
        continue;
      }
      const dropIn = role.role === 'dropIn';
      const what = dropIn ? 'drop-in' : 'unit file';
      const refuse = (d: Diagnostic) => {
        out.diagnostics.push(d);
        if (!dropIn) out.rejected.push(path);
      };
      if (e.isSymbolicLink()) refuse(symlinkDiag(path, what));
      else if (!e.isFile())
        refuse(refusedDiag(path, 'SRC02', `'${path}' is not a regular file (a FIFO, socket or device); not read`));
      else {
        const r = readRegular(root, path, what, true);
        if ('diagnostic' in r) refuse(r.diagnostic);
        else (dropIn ? out.dropIns : out.files).push({ path, name: e.name, content: r.content });
      }
    }
  }
  out.files.sort(byPath);
  out.dropIns.sort(byPath);
  return out;
}

/**
 * Open without following links and without blocking (a FIFO swapped in after readdir must not
 * hang us), check it is a regular file of acceptable size, then read it.
 */
function readRegular(
  root: string,
  path: string,
  what: string,
  checkUtf8: boolean,
): { content: Uint8Array } | { diagnostic: Diagnostic } {
  let fd: number;
  try {
    fd = fs.openSync(join(root, path), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { diagnostic: symlinkDiag(path, what) };
    return { diagnostic: refusedDiag(path, 'SRC02', `cannot read ${what}: ${(e as Error).message}`) };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile())
      return { diagnostic: refusedDiag(path, 'SRC02', `${what} '${path}' is not a regular file; not read`) };
    if (st.size > MAX_REPO_FILE_BYTES) {
      return {
        diagnostic: refusedDiag(
          path,
          'SRC03',
          `${what} is ${st.size} bytes; the limit is ${MAX_REPO_FILE_BYTES} (1 MiB)`,
        ),
      };
    }
    const content = fs.readFileSync(fd);
    const bad = checkContent(path, content, what, checkUtf8);
    return bad
      ? { diagnostic: bad }
      : { content: new Uint8Array(content.buffer, content.byteOffset, content.byteLength) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The directory counterpart of readCommitSnapshot: fleet.yaml at `root/path` (if any), then the
 * unit files under its `path:`.
 */
export function readDirSnapshot(root: string, opts: { path?: string } = {}): RepoSnapshot {
  const base = normalizeSubPath(opts.path ?? '');
  const fyPath = base ? `${base}/${FLEET_YAML}` : FLEET_YAML;
  const diagnostics: Diagnostic[] = [];
  let fleetYaml: RepoFile | null = null;
  let lst: fs.Stats | undefined;
  try {
    lst = fs.lstatSync(join(root, fyPath));
  } catch {
    // no fleet.yaml: the default spec
  }
  if (lst) {
    if (lst.isSymbolicLink()) diagnostics.push(symlinkDiag(fyPath, FLEET_YAML));
    else {
      const r = readRegular(root, fyPath, FLEET_YAML, false);
      if ('diagnostic' in r) diagnostics.push(r.diagnostic);
      else fleetYaml = { path: fyPath, name: FLEET_YAML, content: r.content };
    }
  }
  const fleet = parseSnapshotFleetYaml(fleetYaml, base);
  const read = readDirFiles(root, fleet.unitDir);
  return {
    base,
    fleetYaml,
    fleetYamlResult: fleet.result,
    files: read.files,
    dropIns: read.dropIns,
    rejected: read.rejected,
    diagnostics: [...diagnostics, ...read.diagnostics],
  };
}
