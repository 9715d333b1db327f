/**
 * Which kind of place a `--repo` names, as git itself reads it: an http(s) URL, an SSH remote
 * (`ssh://[user@]host[:port]/path`, `git+ssh://`, or git's scp-like `[user@]host:path`), git's
 * own protocol (`git://`), or a local path. The rule for scp-like names is git's: a ':' with no
 * '/' before it (so `./a:b` and `/srv/a:b` are paths).
 */
export type RemoteKind = 'http' | 'ssh' | 'git';

export function remoteKind(repo: string): RemoteKind | null {
  if (/^https?:\/\//i.test(repo)) return 'http';
  if (/^(ssh|git\+ssh|ssh\+git):\/\//i.test(repo)) return 'ssh';
  if (/^git:\/\//i.test(repo)) return 'git';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return null; // another scheme (file://): not ours
  const colon = repo.indexOf(':');
  if (colon > 0) {
    const slash = repo.indexOf('/');
    if (slash < 0 || slash > colon) return 'ssh';
  }
  return null;
}

/** A remote as shown in messages and used to name its mirror: no password or token in it. */
export function displayRemote(repo: string): { display: string; host: string } {
  const kind = remoteKind(repo);
  if (kind === 'http' || (kind && repo.includes('://'))) {
    const u = new URL(repo);
    const user = kind === 'ssh' && u.username ? `${u.username}@` : '';
    return { display: `${u.protocol}//${user}${u.host}${u.pathname}`, host: u.hostname };
  }
  // scp-like: [user@]host:path
  const at = repo.indexOf('@');
  const colon = repo.indexOf(':');
  return { display: repo, host: repo.slice(at >= 0 && at < colon ? at + 1 : 0, colon) };
}
