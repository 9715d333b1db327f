/**
 * Remotes reached over SSH (and git://) are mirrored with the git CLI: isomorphic-git, which reads
 * every repository afterwards, speaks only smart HTTP. The mirror is a bare repository of gitfleet's
 * own; `git fetch` brings the followed branch into it. SSH runs non-interactively (BatchMode: never
 * a prompt in a daemon) with the key and known-hosts file given, and a host key that is not in
 * that file is refused (StrictHostKeyChecking=yes), never accepted on first use.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';

export interface SshAuth {
  /** Private key file (`--ssh-key`, $GITFLEET_SSH_KEY). */
  key?: string;
  /** known_hosts file to check the host key against (`--ssh-known-hosts`, $GITFLEET_SSH_KNOWN_HOSTS). */
  knownHosts?: string;
}

/** A remote that cannot be fetched; the message says why, in words a user can act on. */
export class RemoteFetchError extends Error {
  override name = 'RemoteFetchError';
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** GIT_SSH_COMMAND for git: the user's own ssh command ($GIT_SSH_COMMAND, else ssh) plus our options. */
export function sshCommand(auth: SshAuth, base = process.env.GIT_SSH_COMMAND || 'ssh'): string {
  const opts = ['-o BatchMode=yes'];
  if (auth.key) opts.push(`-i ${shq(auth.key)}`, '-o IdentitiesOnly=yes');
  if (auth.knownHosts)
    opts.push(
      `-o UserKnownHostsFile=${shq(auth.knownHosts)}`,
      '-o GlobalKnownHostsFile=/dev/null',
      '-o StrictHostKeyChecking=yes',
    );
  return `${base} ${opts.join(' ')}`;
}

/** Why a git command against `display` failed, from what git and ssh said. */
export function explainGitFailure(stderr: string, display: string, auth: SshAuth): string {
  const s = stderr;
  const last = s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'git failed';
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(s))
    return (
      `${display}: host key verification failed: the server's host key is not in ` +
      `${auth.knownHosts ?? 'your known_hosts'} (give the right one with --ssh-known-hosts FILE)`
    );
  if (/UNPROTECTED PRIVATE KEY FILE|bad permissions/i.test(s))
    return `${display}: ssh refuses the key ${auth.key ?? ''}: it is readable by others (chmod 600 it)`;
  if (/Load key .*: (No such file|invalid format)|no such identity/i.test(s))
    return `${display}: ssh cannot load the key ${auth.key ?? ''}: ${last}`;
  if (/Permission denied|Authentication failed|publickey/i.test(s))
    return (
      `${display}: authentication failed: the server did not accept ` +
      `${auth.key ? `the key ${auth.key}` : 'any key (give one with --ssh-key FILE)'}`
    );
  if (/Could not resolve hostname/i.test(s)) return `${display}: cannot resolve the host name (${last})`;
  if (/Connection refused|Connection timed out|No route to host|Network is unreachable/i.test(s))
    return `${display}: cannot connect to the server (${last})`;
  if (/cannot run ssh|ssh: not found|ssh: No such file/i.test(s))
    return `${display}: SSH needs an ssh client, and none is installed (install openssh-client)`;
  if (/couldn't find remote ref/i.test(s)) return `${display}: ${last.replace(/^fatal: /, '')}`;
  if (/does not appear to be a git repository|not found|No such file or directory|does not exist/i.test(s))
    return `${display}: no git repository at that path on the server (${last})`;
  return `${display}: ${last}`;
}

function runGit(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    execFile('git', args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return res({ stdout, stderr });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return rej(
          new RemoteFetchError(
            'SSH needs the git CLI: ssh:// and user@host:path repositories are fetched with git, which is not ' +
              'installed (or not on PATH); https repositories work without it',
          ),
        );
      rej(Object.assign(new Error(stderr || err.message), { stderr: stderr || err.message }));
    });
  });
}

/**
 * Fetch `branch` (or the remote's default branch) of `url` into the bare mirror `gitdir` with the
 * git CLI. Returns the branch and its head commit.
 */
export async function fetchWithGitCli(
  gitdir: string,
  url: string,
  display: string,
  branch: string | null,
  auth: SshAuth,
): Promise<{ branch: string; commit: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_SSH_COMMAND: sshCommand(auth),
  };
  const fail = (e: unknown): never => {
    if (e instanceof RemoteFetchError) throw e;
    throw new RemoteFetchError(explainGitFailure((e as { stderr?: string }).stderr ?? String(e), display, auth));
  };
  if (!fs.existsSync(join(gitdir, 'HEAD'))) {
    fs.mkdirSync(gitdir, { recursive: true });
    await runGit(['init', '--bare', '-q', gitdir], env).catch(fail);
  }
  let b = branch;
  if (!b) {
    const { stdout } = await runGit(['ls-remote', '--symref', url, 'HEAD'], env).catch(fail);
    const m = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(stdout);
    if (!m) throw new RemoteFetchError(`${display}: the remote names no default branch; pass --branch`);
    b = m[1]!;
  }
  await runGit(
    [
      '--git-dir',
      gitdir,
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      url,
      `+refs/heads/${b}:refs/heads/${b}`,
    ],
    env,
  ).catch(fail);
  const { stdout } = await runGit(
    ['--git-dir', gitdir, 'rev-parse', '--verify', `refs/heads/${b}^{commit}`],
    env,
  ).catch(fail);
  return { branch: b, commit: stdout.trim() };
}
