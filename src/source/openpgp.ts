/**
 * OpenPGP commit signatures, checked by GnuPG against the public keys of a trusted-keys file
 * (`gpg --armor --export ...`). The file is imported into a private, temporary GnuPG home (0700,
 * removed on close) so that nothing of the user's own keyring counts, and `gpg --verify` reports
 * through --status-fd what it found: GOODSIG, or EXPKEYSIG / REVKEYSIG / BADSIG / NO_PUBKEY.
 * Every key in the file is trusted as it is (trust model "always"); a key that has expired or
 * been revoked (its revocation imported with it) signs nothing acceptable any more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../util/exec.js';
import type { RawCommit } from './commitobj.js';
import { TrustFileError, refuse, type SigProblem, type Verdict } from './verdict.js';

export const PGP_ARMOR = '-----BEGIN PGP SIGNATURE-----';
const INSTALL = 'GnuPG verifies OpenPGP signatures: install gpg';

export interface OpenPgpKey {
  fingerprint: string;
  uids: string[];
  /** gpg's validity letter: 'e' expired, 'r' revoked, otherwise usable. */
  validity: string;
}

/** Status lines of one gpg run: keyword -> its arguments (the last of each keyword). */
function statusOf(stdout: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('[GNUPG:] ')) continue;
    const [kw, ...rest] = line.slice(9).split(' ');
    out.set(kw!, rest);
  }
  return out;
}

function gpgMessage(stderr: string): string {
  return (
    stderr
      .split('\n')
      .map((l) => l.replace(/^gpg: /, '').trim())
      .filter((l) => l && !/^(keybox .* created|Total number processed|WARNING: no command supplied)/.test(l))
      .slice(0, 2)
      .join('; ') || 'gpg could not read it'
  );
}

export class OpenPgpKeyring {
  private constructor(
    readonly home: string,
    readonly keys: OpenPgpKey[],
  ) {}

  private static gpg(home: string, args: string[], input?: Buffer | string) {
    return runTool('gpg', ['--homedir', home, '--batch', '--no-tty', '--no-autostart', '--status-fd', '1', ...args], {
      input,
      timeoutMs: 15_000,
      install: INSTALL,
      env: { ...process.env, LC_ALL: 'C' },
    });
  }

  /**
   * Import `text` (the file's content, read once) into a fresh home under `parent`; throws
   * TrustFileError when it is unusable.
   */
  static async load(file: string, text: string, parent: string): Promise<OpenPgpKeyring> {
    if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text))
      throw new TrustFileError(file, 0, 'holds a private key: give public keys only (gpg --armor --export KEY)');
    const home = mkdtempSync(join(parent, 'gnupg-'));
    try {
      const imp = await OpenPgpKeyring.gpg(home, ['--import'], text);
      const res = statusOf(imp.stdout).get('IMPORT_RES')?.map(Number) ?? [];
      const [count = 0, , , , , , , , , secretRead = 0, , , , notImported = 0] = res;
      if (imp.code !== 0 || count === 0 || notImported > 0 || secretRead > 0)
        throw new TrustFileError(
          file,
          0,
          `not a file of OpenPGP public keys (${gpgMessage(imp.stderr)}); make one with gpg --armor --export KEY`,
        );
      const list = await OpenPgpKeyring.gpg(home, ['--with-colons', '--fixed-list-mode', '--list-keys']);
      const keys: OpenPgpKey[] = [];
      let cur: OpenPgpKey | null = null;
      for (const line of list.stdout.split('\n')) {
        const f = line.split(':');
        if (f[0] === 'pub') {
          cur = { fingerprint: '', uids: [], validity: f[1] ?? '' };
          keys.push(cur);
        } else if (f[0] === 'fpr' && cur && !cur.fingerprint) cur.fingerprint = f[9] ?? '';
        else if (f[0] === 'uid' && cur) cur.uids.push(f[9] ?? '');
      }
      return new OpenPgpKeyring(home, keys);
    } catch (e) {
      rmSync(home, { recursive: true, force: true });
      throw e;
    }
  }

  /** "OpenPGP key FPR (uid)" for a fingerprint or a long key id (what BADSIG and ERRSIG give). */
  private describe(id: string): string {
    const k = id ? this.keys.find((x) => x.fingerprint === id || x.fingerprint.endsWith(id)) : undefined;
    return k ? `OpenPGP key ${k.fingerprint}${k.uids[0] ? ` (${k.uids[0]})` : ''}` : `OpenPGP key ${id || '?'}`;
  }

  /** Check one OpenPGP-signed commit; `sigFile` holds its signature. */
  async verify(commit: RawCommit, sigFile: string, fileName: string): Promise<Verdict> {
    const r = await OpenPgpKeyring.gpg(
      this.home,
      ['--trust-model', 'always', '--verify', sigFile, '-'],
      commit.payload,
    );
    const st = statusOf(r.stdout);
    const valid = st.get('VALIDSIG');
    const primary = valid?.[valid.length - 1] ?? '';
    const newsigs = r.stdout.split('\n').filter((l) => l.startsWith('[GNUPG:] NEWSIG')).length;
    const signer = this.describe(primary || st.get('BADSIG')?.[0] || st.get('ERRSIG')?.[0] || '');
    const fail = (problem: SigProblem, detail: string) => refuse(problem, signer, detail);
    if (st.has('REVKEYSIG')) return fail('revoked', `signed by ${signer}, which has been revoked`);
    if (st.has('EXPKEYSIG')) return fail('expired', `signed by ${signer}, which has expired`);
    if (st.has('EXPSIG')) return fail('expired', `the signature by ${signer} has expired`);
    if (st.has('BADSIG'))
      return fail('bad-signature', `the signature by ${signer} does not match the commit (altered after signing?)`);
    if (st.has('NO_PUBKEY')) {
      const err = st.get('ERRSIG') ?? [];
      const id = err[6] || err[0] || '?';
      return refuse('unknown-key', `OpenPGP key ${id}`, `signed by OpenPGP key ${id}, which ${fileName} does not list`);
    }
    if (r.code === 0 && st.has('GOODSIG') && newsigs === 1 && this.keys.some((k) => k.fingerprint === primary))
      return { ok: true, signer };
    return fail('unverifiable', `gpg could not verify the signature (${gpgMessage(r.stderr)})`);
  }

  close(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
