/**
 * Real signing keys for tests, made with the real tools: SSH keys with ssh-keygen, OpenPGP keys
 * with gpg in a private GnuPG home. Commits are signed by git itself (`commit -S`), as a user's
 * git would sign them.
 *
 * gpg starts a gpg-agent for its home when it signs; close() ends exactly that agent
 * (`gpgconf --homedir HOME --kill gpg-agent`) and removes the home.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, type FileSpec, type TestRepo } from './git.js';

/** The committer email of every test commit (test/support/git.ts). */
export const COMMITTER = 'test@example.invalid';

export interface SshKey {
  /** Private key file (no passphrase); `${file}.pub` is the public key. */
  file: string;
  /** "ssh-ed25519 AAAA..." */
  publicKey: string;
  /** An allowed-signers line for `principal` (default: the test committer). */
  allowedLine(principal?: string, options?: string): string;
}

export function makeSshKey(dir: string, name: string): SshKey {
  const file = join(dir, `${name}.ssh`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], { stdio: 'pipe' });
  const publicKey = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    file,
    publicKey,
    allowedLine: (principal = COMMITTER, options) => `${principal} ${options ? `${options} ` : ''}${publicKey}\n`,
  };
}

export interface PgpKey {
  email: string;
  fingerprint: string;
}

/** A GnuPG home of signing keys. */
export class GpgHome {
  readonly home: string;
  /** A gpg.program for git that signs from this home (optionally at a faked time). */
  private readonly programs = new Map<string, string>();

  constructor(readonly dir: string) {
    this.home = join(dir, 'gnupg-signing');
    mkdirSync(this.home, { recursive: true });
    chmodSync(this.home, 0o700);
  }

  gpg(args: string[], input?: string): string {
    return execFileSync('gpg', ['--homedir', this.home, '--batch', ...args], {
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** A new signing key; `fakedTime` (e.g. 20200101T000000) with `expire` (e.g. 1d) makes one that has expired. */
  generate(name: string, email: string, opts: { expire?: string; fakedTime?: string } = {}): PgpKey {
    this.gpg([
      ...(opts.fakedTime ? ['--faked-system-time', opts.fakedTime] : []),
      '--passphrase',
      '',
      '--quick-gen-key',
      `${name} <${email}>`,
      'ed25519',
      'sign',
      opts.expire ?? 'never',
    ]);
    const fpr = this.gpg(['--with-colons', '--list-keys', email])
      .split('\n')
      .find((l) => l.startsWith('fpr:'))!
      .split(':')[9]!;
    return { email, fingerprint: fpr };
  }

  /** Revoke a key in this home with the revocation certificate gpg made with it. */
  revoke(key: PgpKey): void {
    const cert = readFileSync(join(this.home, 'openpgp-revocs.d', `${key.fingerprint}.rev`), 'utf8');
    // gpg guards the certificate against accidental import with a leading ':'.
    this.gpg(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
  }

  /** Armored public keys, as `gpg --armor --export` writes a trusted-keys file. */
  exportKeys(file: string, keys: PgpKey[]): string {
    writeFileSync(file, this.gpg(['--armor', '--export', ...keys.map((k) => k.fingerprint)]));
    return file;
  }

  program(fakedTime?: string): string {
    const key = fakedTime ?? '';
    let p = this.programs.get(key);
    if (!p) {
      p = join(this.dir, `gpg-sign${this.programs.size}.sh`);
      const faked = fakedTime ? ` --faked-system-time ${fakedTime}` : '';
      writeFileSync(p, `#!/bin/sh\nexec gpg --homedir '${this.home}'${faked} "$@"\n`, { mode: 0o755 });
      this.programs.set(key, p);
    }
    return p;
  }

  /** End this home's gpg-agent (started by signing) and nothing else. */
  close(): void {
    try {
      execFileSync('gpgconf', ['--homedir', this.home, '--kill', 'gpg-agent'], { stdio: 'pipe' });
    } catch {
      // no agent was started
    }
  }
}

export type Signer = { ssh: SshKey } | { gpg: GpgHome; key: PgpKey; fakedTime?: string } | null;

/** git -c options that make `commit -S` sign with `signer`. */
export function signingConfig(signer: Exclude<Signer, null>): string[] {
  if ('ssh' in signer) return ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${signer.ssh.file}.pub`];
  return [
    '-c',
    'gpg.format=openpgp',
    '-c',
    `gpg.program=${signer.gpg.program(signer.fakedTime)}`,
    '-c',
    `user.signingkey=${signer.key.fingerprint}`,
  ];
}

/** Write `files`, stage everything, commit signed by `signer` (null: unsigned); returns the commit. */
export function commitAs(
  repo: TestRepo,
  signer: Signer,
  message: string,
  files: Record<string, FileSpec> = {},
): string {
  repo.write(files);
  repo.git('add', '-A');
  if (signer) repo.git(...signingConfig(signer), 'commit', '-q', '--allow-empty', '-S', '-m', message);
  else repo.git('commit', '-q', '--allow-empty', '--no-gpg-sign', '-m', message);
  return repo.head();
}

/** A merge commit of `branch` into the current branch, signed by `signer`. */
export function mergeAs(repo: TestRepo, signer: Signer, branch: string, message = `merge ${branch}`): string {
  const sign = signer ? [...signingConfig(signer)] : [];
  repo.git(...sign, 'merge', '-q', '--no-ff', ...(signer ? ['-S'] : []), '-m', message, branch);
  return repo.head();
}

/**
 * A copy of `commit` with its message changed but its signature kept (what tampering with a
 * signed commit gives), written to the repository; returns the new commit id.
 */
export function tamper(repo: TestRepo, commit: string, newMessage: string): string {
  const raw = git(repo.dir, ['cat-file', 'commit', commit]);
  const body = `${raw.slice(0, raw.indexOf('\n\n'))}\n\n${newMessage}\n`;
  return git(repo.dir, ['hash-object', '-t', 'commit', '-w', '--stdin'], body);
}
