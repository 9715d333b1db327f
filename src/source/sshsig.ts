/**
 * SSH commit signatures, checked by OpenSSH's `ssh-keygen -Y verify` against an allowed-signers
 * file (git's gpg.ssh.allowedSignersFile format, ssh-keygen(1) "ALLOWED SIGNERS"), namespace "git".
 *
 * ssh-keygen alone decides whether a signature is good. The file is parsed here only to refuse a
 * malformed one up front with its line number, and the signature blob only to name the key in a
 * refusal; neither parse ever accepts anything.
 *
 * Stricter than `git verify-commit`: the key must be listed for the committer's email (ssh-keygen's
 * `-I`, with its principal patterns), so a listed key cannot sign in someone else's name.
 */
import { createHash } from 'node:crypto';
import { runTool } from '../util/exec.js';
import type { RawCommit } from './commitobj.js';
import { TrustFileError, refuse, type SigProblem, type Verdict } from './verdict.js';

export const SSH_ARMOR = '-----BEGIN SSH SIGNATURE-----';
const NAMESPACE = 'git';
const INSTALL = 'OpenSSH verifies SSH signatures: install openssh-client';
const OPTIONS = new Set(['cert-authority', 'namespaces', 'valid-after', 'valid-before']);
const TIMESTAMP = /^\d{8}(\d{4}(\d{2})?)?Z?$/;

export interface AllowedSigner {
  line: number;
  principals: string;
  keyType: string;
  fingerprint: string;
}

/** Read an SSH wire-format string (uint32 length + bytes) at `off`. */
function sshString(buf: Buffer, off: number): { value: Buffer; next: number } | null {
  if (off + 4 > buf.length) return null;
  const len = buf.readUInt32BE(off);
  if (off + 4 + len > buf.length) return null;
  return { value: buf.subarray(off + 4, off + 4 + len), next: off + 4 + len };
}

/** OpenSSH's fingerprint of a public key blob: SHA256:<unpadded base64 of its sha256>. */
function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Split at whitespace outside double quotes. */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === ' ' || ch === '\t')) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

function checkOptions(file: string, n: number, opts: string): void {
  let cur = '';
  let quoted = false;
  const parts: string[] = [];
  for (const ch of opts) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new TrustFileError(file, n, 'unterminated quote in the options');
  parts.push(cur);
  for (const p of parts) {
    const eq = p.indexOf('=');
    const name = (eq === -1 ? p : p.slice(0, eq)).toLowerCase();
    if (!OPTIONS.has(name))
      throw new TrustFileError(
        file,
        n,
        `unknown option "${name}" (an allowed-signers line is: principals [options] keytype base64-key; options ` +
          `are cert-authority, namespaces="...", valid-after="...", valid-before="...")`,
      );
    if (name === 'cert-authority') continue;
    const value = eq === -1 ? '' : p.slice(eq + 1).replace(/^"(.*)"$/, '$1');
    if (!value) throw new TrustFileError(file, n, `option ${name} needs a value, e.g. ${name}="20300101"`);
    if (name !== 'namespaces' && !TIMESTAMP.test(value))
      throw new TrustFileError(file, n, `${name}="${value}" is not a time (YYYYMMDD or YYYYMMDDHHMM[SS], optional Z)`);
  }
}

/** Parse and check an allowed-signers file; throws TrustFileError naming the line. */
export function parseAllowedSigners(text: string, file: string): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  text.split('\n').forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = fields(line);
    const principals = f[0]!.replace(/^"(.*)"$/, '$1');
    let k = 1;
    if (f[k] !== undefined && !/^(ssh-|ecdsa-|sk-)/.test(f[k]!)) checkOptions(file, n, f[k++]!);
    const keyType = f[k];
    const b64 = f[k + 1];
    if (!keyType || !b64)
      throw new TrustFileError(
        file,
        n,
        'expected "principals [options] keytype base64-key", e.g. "alice@example.com ssh-ed25519 AAAA..."',
      );
    if (!/^(ssh-|ecdsa-|sk-)/.test(keyType)) throw new TrustFileError(file, n, `"${keyType}" is not an SSH key type`);
    const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    const type = sshString(blob, 0)?.value.toString('latin1');
    if (type !== keyType)
      throw new TrustFileError(file, n, `the ${keyType} key is not valid base64 of a ${keyType} public key`);
    if (!principals || principals.split(',').some((p) => p === ''))
      throw new TrustFileError(file, n, 'empty principal (expected e.g. alice@example.com or *@example.com)');
    out.push({ line: n, principals, keyType, fingerprint: fingerprint(blob) });
  });
  if (out.length === 0) throw new TrustFileError(file, 0, 'lists no signers: every commit would be refused');
  return out;
}

/** The key an SSH signature names ("ED25519 key SHA256:..."), for messages; null when unreadable. */
export function sshSignatureKey(armored: string): string | null {
  const body = armored
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  const blob = Buffer.from(body, 'base64');
  if (blob.subarray(0, 6).toString('latin1') !== 'SSHSIG') return null;
  const key = sshString(blob, 10);
  const type = key ? sshString(key.value, 0)?.value.toString('latin1') : undefined;
  if (!key || !type) return null;
  const name = type.replace(/^ssh-|^ecdsa-sha2-|^sk-ssh-|@openssh\.com$/g, '').toUpperCase();
  return `${name} key ${fingerprint(key.value)}`;
}

const ssh = (args: string[], input?: Buffer) =>
  runTool('ssh-keygen', args, { input, timeoutMs: 15_000, install: INSTALL });

/** Fail early, at startup, when ssh-keygen is absent. */
export async function requireSshKeygen(): Promise<void> {
  await ssh(['-?']);
}

/** The first line of a tool's complaint, without ssh-keygen's generic last words. */
function complaint(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Could not verify signature\.|No principal matched\.)$/.test(l));
  return lines[0]?.replace(/^[^:]*:\d+: /, '') ?? '';
}

/**
 * Check one SSH-signed commit. `allowed` is the path of a snapshot of the allowed-signers file and
 * `sigFile` the signature written to a file (ssh-keygen reads it from there).
 */
export async function verifySsh(
  commit: RawCommit,
  allowed: string,
  allowedName: string,
  sigFile: string,
): Promise<Verdict> {
  const key = sshSignatureKey(commit.signature ?? '') ?? 'an unreadable SSH signature';
  const email = commit.committerEmail;
  const fail = (problem: SigProblem, detail: string) => refuse(problem, key, detail);
  if (email) {
    const v = await ssh(['-Y', 'verify', '-f', allowed, '-I', email, '-n', NAMESPACE, '-s', sigFile], commit.payload);
    if (v.code === 0) return { ok: true, signer: `${email} (${key})` };
    if (/key has expired|not yet valid/.test(v.stderr)) return fail('expired', `${key}: ${complaint(v.stderr)}`);
    if (/not permitted for use in signature namespace/.test(v.stderr))
      return fail('principal', `${key} is listed in ${allowedName}, but not for namespace "git"`);
    if (/incorrect signature/.test(v.stderr))
      return fail('bad-signature', `the signature by ${key} does not match the commit (altered after signing?)`);
  }
  const novalidate = await ssh(['-Y', 'check-novalidate', '-n', NAMESPACE, '-s', sigFile], commit.payload);
  if (novalidate.code !== 0)
    return fail(
      'bad-signature',
      `the signature by ${key} does not match the commit (${complaint(novalidate.stderr) || 'altered after signing?'})`,
    );
  const found = await ssh(['-Y', 'find-principals', '-f', allowed, '-s', sigFile]);
  const principals = found.code === 0 ? found.stdout.split('\n').filter(Boolean) : [];
  if (principals.length > 0)
    return fail(
      'principal',
      `${key} is listed in ${allowedName} for ${principals.join(', ')}, not for the committer ` +
        `${email ? `<${email}>` : '(no email)'}`,
    );
  if (/key has expired|not yet valid/.test(found.stderr)) return fail('expired', `${key}: ${complaint(found.stderr)}`);
  return fail('unknown-key', `signed by ${key}, which ${allowedName} does not list`);
}
