/**
 * Where the controller reads commits from: a local repository (bare or not), or a remote mirrored
 * into a local bare repository: http(s) with isomorphic-git (smart HTTP, credentials from a file),
 * SSH and git:// with the git CLI (src/source/ssh.ts). Every read after the fetch is local.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { sha256 } from '../util/hash.js';
import { findGitdir } from './gitdir.js';
import { commonDirOf, readHeadFile } from './worktree.js';
import { CredentialsError, readCredentials } from './credentials.js';
import { displayRemote, remoteKind, type RemoteKind } from './remote.js';
import { fetchWithGitCli, RemoteFetchError, type SshAuth } from './ssh.js';

/** How a remote is reached: SSH key and known hosts, https credentials file (docs/cli.md). */
export interface RemoteAuth extends SshAuth {
  credentialsFile?: string;
}

export interface RepoLocation {
  kind: 'local' | 'remote';
  /** The git directory that holds objects and refs (for a remote: the mirror). */
  gitdir: string;
  /** The git directory whose HEAD names the branch to follow (differs from gitdir in a linked worktree). */
  headGitdir: string;
  /** What the user gave (path or URL), for messages. */
  display: string;
  url?: string;
  transport?: RemoteKind;
  auth?: RemoteAuth;
}

export function isRemote(repo: string): boolean {
  return remoteKind(repo) !== null;
}

export function locateRepo(repo: string, stateDir: string, auth: RemoteAuth = {}): RepoLocation {
  const transport = remoteKind(repo);
  if (transport) {
    let where: { display: string; host: string };
    try {
      where = displayRemote(repo);
    } catch {
      throw new Error(`--repo: "${repo}" is not a valid URL`);
    }
    // The mirror is named by the remote without its credentials: a new token keeps the mirror.
    const id = sha256(where.display).slice(0, 16);
    const host = where.host.replace(/[^A-Za-z0-9.-]/g, '_') || 'remote';
    const gitdir = join(resolve(stateDir), 'mirrors', `${host}-${id}.git`);
    const url = transport === 'http' ? new URL(repo).href : repo;
    return { kind: 'remote', gitdir, headGitdir: gitdir, display: where.display, url, transport, auth };
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

/** Mirrors whose `origin` this process has pointed at a URL. */
const remoteSet = new Map<string, string>();

/**
 * Fetch `branch` (or the remote's default branch) into the mirror and point the mirror's
 * refs/heads/<branch> at it. Returns the branch and its head commit. A failure says why
 * (authentication, host key, no such repository, cannot connect), as a RemoteFetchError.
 */
export async function fetchRemote(
  loc: RepoLocation,
  branch: string | null,
): Promise<{ branch: string; commit: string }> {
  if (!loc.url) throw new Error('fetchRemote needs a remote location');
  if (loc.transport !== 'http') return fetchWithGitCli(loc.gitdir, loc.url, loc.display, branch, loc.auth ?? {});
  if (!fs.existsSync(join(loc.gitdir, 'HEAD'))) {
    fs.mkdirSync(loc.gitdir, { recursive: true });
    await git.init({ fs, gitdir: loc.gitdir, bare: true });
    remoteSet.delete(loc.gitdir);
  }
  // isomorphic-git needs a remote with a fetch refspec; (re)pointed at the URL once per process
  // (rewriting the config on every fetch was a fifth of a webhook-triggered fetch).
  if (remoteSet.get(loc.gitdir) !== loc.url) {
    await git.addRemote({ fs, gitdir: loc.gitdir, remote: 'origin', url: loc.url, force: true });
    remoteSet.set(loc.gitdir, loc.url);
  }
  const file = loc.auth?.credentialsFile;
  let r: Awaited<ReturnType<typeof git.fetch>>;
  try {
    const creds = file ? readCredentials(file, loc.url) : undefined;
    r = await git.fetch({
      fs,
      http,
      gitdir: loc.gitdir,
      remote: 'origin',
      ...(branch ? { ref: branch, remoteRef: branch } : {}),
      singleBranch: true,
      tags: false,
      ...(creds ? { onAuth: () => creds } : {}),
    });
  } catch (e) {
    remoteSet.delete(loc.gitdir); // the next fetch writes the remote again, whatever happened to it
    throw new RemoteFetchError(explainHttpFailure(e, loc.display, file));
  }
  const b = branch ?? (r.defaultBranch ? r.defaultBranch.replace(/^refs\/heads\//, '') : null);
  if (!b) throw new Error(`${loc.display}: the remote names no default branch; pass --branch`);
  if (!r.fetchHead) throw new Error(`${loc.display}: branch ${b} not found on the remote`);
  await git.writeRef({ fs, gitdir: loc.gitdir, ref: `refs/heads/${b}`, value: r.fetchHead, force: true });
  return { branch: b, commit: r.fetchHead };
}

function explainHttpFailure(e: unknown, display: string, file: string | undefined): string {
  if (e instanceof CredentialsError) return e.message;
  const status = (e as { data?: { statusCode?: number } }).data?.statusCode;
  const code = (e as { code?: string }).code;
  const msg = (e as Error)?.message ?? String(e);
  if (status === 401 || status === 403)
    return file
      ? `${display}: authentication failed with the credentials in ${file} (HTTP ${status})`
      : `${display}: authentication failed: the server wants credentials (HTTP ${status}); give them with ` +
          '--git-credentials FILE';
  if (status === 404) return `${display}: no git repository at that URL (HTTP 404)`;
  if (status) return `${display}: the server answered HTTP ${status}`;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) return `${display}: cannot connect to the server (${msg})`;
  if (code === 'ENOTFOUND' || /ENOTFOUND|EAI_AGAIN/.test(msg)) return `${display}: cannot resolve the host name`;
  return `${display}: ${msg}`;
}
