/**
 * Where the controller reads commits from: a local repository (bare or not), or an http(s)
 * remote mirrored into a local bare repository with isomorphic-git (smart HTTP; no SSH).
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { commonDirOf, readHeadFile } from './worktree.js';

export interface RepoLocation {
  kind: 'local' | 'remote';
  /** The git directory that holds objects and refs (for a remote: the mirror). */
  gitdir: string;
  /** The git directory whose HEAD names the branch to follow (differs from gitdir in a linked worktree). */
  headGitdir: string;
  /** What the user gave (path or URL), for messages. */
  display: string;
  url?: string;
}

export function isRemote(repo: string): boolean {
  return /^https?:\/\//i.test(repo);
}

/** Find the git dir of a local repository: `<dir>/.git` (or a gitfile), or `<dir>` itself when bare. */
export function findGitdir(dir: string): string {
  const abs = resolve(dir);
  const dotgit = join(abs, '.git');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dotgit);
  } catch {
    /* not a work tree */
  }
  if (st?.isDirectory()) return dotgit;
  if (st?.isFile()) {
    const m = /^gitdir:\s*(.+)\s*$/m.exec(fs.readFileSync(dotgit, 'utf8'));
    if (m) return resolve(abs, m[1]!);
  }
  if (fs.existsSync(join(abs, 'HEAD')) && fs.existsSync(join(abs, 'objects')) && fs.existsSync(join(abs, 'refs')))
    return abs;
  if (!fs.existsSync(abs)) throw new Error(`repository ${dir} does not exist`);
  throw new Error(`${dir} is not a git repository (no .git, and not a bare repository)`);
}

export function locateRepo(repo: string, stateDir: string): RepoLocation {
  if (isRemote(repo)) {
    let u: URL;
    try {
      u = new URL(repo);
    } catch {
      throw new Error(`--repo: "${repo}" is not a valid URL`);
    }
    const id = createHash('sha256').update(u.href).digest('hex').slice(0, 16);
    const gitdir = join(resolve(stateDir), 'mirrors', `${u.hostname}-${id}.git`);
    return {
      kind: 'remote',
      gitdir,
      headGitdir: gitdir,
      display: `${u.protocol}//${u.host}${u.pathname}`,
      url: u.href,
    };
  }
  const found = findGitdir(repo);
  return { kind: 'local', gitdir: commonDirOf(found), headGitdir: found, display: repo };
}

/** The branch a local repository's HEAD names, e.g. "main"; null when detached. */
export function headBranch(loc: RepoLocation): string | null {
  const ref = readHeadFile(loc.headGitdir)?.ref;
  return ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
}

/** Resolve refs/heads/<branch> to a commit sha; null when the branch does not exist (yet). */
export async function resolveBranch(gitdir: string, branch: string): Promise<string | null> {
  try {
    const sha = await git.resolveRef({ fs, gitdir, ref: `refs/heads/${branch}` });
    return /^[0-9a-f]{40}$/.test(sha) ? sha : null;
  } catch {
    return null;
  }
}

/**
 * Fetch `branch` (or the remote's default branch) into the mirror and point the mirror's
 * refs/heads/<branch> at it. Returns the branch and its head commit.
 */
export async function fetchRemote(
  loc: RepoLocation,
  branch: string | null,
): Promise<{ branch: string; commit: string }> {
  if (!loc.url) throw new Error('fetchRemote needs a remote location');
  if (!fs.existsSync(join(loc.gitdir, 'HEAD'))) {
    fs.mkdirSync(loc.gitdir, { recursive: true });
    await git.init({ fs, gitdir: loc.gitdir, bare: true });
  }
  // isomorphic-git needs a remote with a fetch refspec; (re)point it at the URL every time.
  await git.addRemote({ fs, gitdir: loc.gitdir, remote: 'origin', url: loc.url, force: true });
  const r = await git.fetch({
    fs,
    http,
    gitdir: loc.gitdir,
    remote: 'origin',
    ...(branch ? { ref: branch, remoteRef: branch } : {}),
    singleBranch: true,
    tags: false,
  });
  const b = branch ?? (r.defaultBranch ? r.defaultBranch.replace(/^refs\/heads\//, '') : null);
  if (!b) throw new Error(`${loc.display}: the remote names no default branch; pass --branch`);
  if (!r.fetchHead) throw new Error(`${loc.display}: branch ${b} not found on the remote`);
  await git.writeRef({ fs, gitdir: loc.gitdir, ref: `refs/heads/${b}`, value: r.fetchHead, force: true });
  return { branch: b, commit: r.fetchHead };
}

/** May `candidate` replace `applied`? Only when it descends from it (or is it). */
export async function descendsFrom(gitdir: string, candidate: string, applied: string): Promise<boolean> {
  if (candidate === applied) return true;
  try {
    return await git.isDescendent({ fs, gitdir, oid: candidate, ancestor: applied, depth: -1 });
  } catch {
    // The applied commit is not in this repository at all: not a descendant as far as we can tell.
    return false;
  }
}
