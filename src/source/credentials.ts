/**
 * https credentials for a remote repository, read from a file (`--git-credentials FILE`) so they
 * never appear in a command line or a process list. The file holds one of:
 *   - lines in git-credential-store's format, `https://USER:PASSWORD@HOST[/PATH]` (the line whose
 *     host, and path prefix if it has one, match the remote is used);
 *   - one line `USER:PASSWORD`;
 *   - one line with just a token (sent as the password of user `x-access-token`, which GitHub
 *     expects; GitLab and Gitea accept any user with a token: write `USER:TOKEN` to pick one).
 * Blank lines and lines starting with '#' are ignored.
 */
import fs from 'node:fs';

export interface HttpCredentials {
  username: string;
  password: string;
}

/** A credentials file that cannot be used; the message names the file. */
export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

export function readCredentials(file: string, url: string): HttpCredentials {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CredentialsError(
      `--git-credentials: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new CredentialsError(`--git-credentials: ${file} is empty`);
  const target = new URL(url);
  const stored = lines.filter((l) => /^https?:\/\//i.test(l));
  if (stored.length) {
    for (const l of stored) {
      let u: URL;
      try {
        u = new URL(l);
      } catch {
        continue;
      }
      const path = u.pathname.replace(/\/+$/, '');
      if (u.host !== target.host || (path && !target.pathname.startsWith(path))) continue;
      return { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
    }
    throw new CredentialsError(`--git-credentials: ${file} has no line for ${target.host}`);
  }
  const line = lines[0]!;
  const colon = line.indexOf(':');
  return colon > 0
    ? { username: line.slice(0, colon), password: line.slice(colon + 1) }
    : { username: 'x-access-token', password: line };
}
