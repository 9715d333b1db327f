/**
 * The signature gate on real repositories with real keys: SSH keys made with ssh-keygen and
 * checked by `ssh-keygen -Y verify`, OpenPGP keys made and checked by GnuPG, commits signed by git.
 * `git verify-commit` is the independent judge where git's rules and ours agree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { splitSignature } from '../../src/source/commitobj.js';
import { TrustFileError, TrustPolicy, type SignatureRefusal } from '../../src/source/signatures.js';
import { tempDir, TestRepo } from '../support/git.js';
import {
  COMMITTER,
  GpgHome,
  commitAs,
  makeSshKey,
  mergeAs,
  tamper,
  type PgpKey,
  type SshKey,
} from '../support/signing.js';

const tmp = tempDir('gitfleet-sig-');
const policies: TrustPolicy[] = [];
let alice: SshKey;
let mallory: SshKey;
let gpg: GpgHome;
let pgpAlice: PgpKey;
let pgpMallory: PgpKey;
let pgpOld: PgpKey;
let pgpRevoked: PgpKey;
let n = 0;

before(() => {
  alice = makeSshKey(tmp.dir, 'alice');
  mallory = makeSshKey(tmp.dir, 'mallory');
  gpg = new GpgHome(tmp.dir);
  pgpAlice = gpg.generate('Alice', 'alice-pgp@example.invalid');
  pgpMallory = gpg.generate('Mallory', 'mallory-pgp@example.invalid');
  // Made (and used below) in 2020, valid for a day: expired now.
  pgpOld = gpg.generate('Old', 'old@example.invalid', { expire: '1d', fakedTime: '20200101T000000' });
  pgpRevoked = gpg.generate('Revoked', 'revoked@example.invalid');
});
after(() => {
  for (const p of policies) p.close();
  gpg?.close();
  tmp.cleanup();
});

function file(name: string, text: string): string {
  const f = join(tmp.dir, `${++n}-${name}`);
  writeFileSync(f, text);
  return f;
}

async function policy(files: { allowedSigners?: string; trustedKeys?: string }): Promise<TrustPolicy> {
  const p = await TrustPolicy.load(files);
  policies.push(p);
  return p;
}

function repo(): TestRepo {
  return TestRepo.init(tmp.dir, `repo${++n}`);
}

const gitdir = (r: TestRepo) => join(r.dir, '.git');

/** The one diagnostic of a refusal that names `commit`. */
function refusedFor(r: SignatureRefusal | null, commit: string): { rule: string; message: string } {
  assert.ok(r, 'refused');
  const d = r.diagnostics.filter((x) => x.message.startsWith(`commit ${commit.slice(0, 12)}`));
  assert.equal(d.length, 1, `one diagnostic names ${commit.slice(0, 12)}: ${JSON.stringify(r.diagnostics)}`);
  assert.equal(d[0]!.severity, 'error');
  return d[0]!;
}

function gitVerifies(r: TestRepo, commit: string, allowed: string): boolean {
  try {
    execFileSync('git', ['-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'verify-commit', commit], {
      cwd: r.dir,
      stdio: 'pipe',
    });
    return true;
  } catch {
    return false;
  }
}

describe('the signed payload', () => {
  test('is the commit object without its gpgsig header, byte for byte what git signed', () => {
    const r = repo();
    const c = commitAs(r, { ssh: alice }, 'signed\n\nwith a body\n');
    const raw = execFileSync('git', ['cat-file', 'commit', c], { cwd: r.dir });
    const { signature, payload } = splitSignature(raw);
    assert.match(signature!, /^-----BEGIN SSH SIGNATURE-----\n/);
    assert.doesNotMatch(payload.toString(), /gpgsig/);
    // ssh-keygen says the signature covers exactly this payload.
    const sigFile = file('sig', signature!);
    const out = execFileSync('ssh-keygen', ['-Y', 'check-novalidate', '-n', 'git', '-s', sigFile], {
      input: payload,
      encoding: 'utf8',
    });
    assert.match(out, /Good "git" signature/);
    assert.equal(
      splitSignature(execFileSync('git', ['cat-file', 'commit', commitAs(r, null, 'u')], { cwd: r.dir })).signature,
      null,
    );
  });
});

describe('SSH signatures (--allowed-signers)', () => {
  test('a head signed by an allowed key is accepted; git verify-commit agrees', async () => {
    const allowed = file('allowed', alice.allowedLine());
    const p = await policy({ allowedSigners: allowed });
    const r = repo();
    const c = commitAs(r, { ssh: alice }, 'signed', { 'a.service': '[Service]\nExecStart=/bin/true\n' });
    assert.equal(await p.check(gitdir(r), null, c), null);
    assert.ok(gitVerifies(r, c, allowed));
  });

  test('an unsigned commit on top of the applied one is refused, naming it', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine()) });
    const r = repo();
    const applied = commitAs(r, { ssh: alice }, 'signed');
    const head = commitAs(r, null, 'not signed');
    const refusal = await p.check(gitdir(r), applied, head);
    const d = refusedFor(refusal, head);
    assert.equal(d.rule, 'SIG01');
    assert.match(d.message, /"not signed" \(committer Test <test@example\.invalid>\): unsigned/);
    assert.match(
      refusal!.reason,
      new RegExp(`commit ${head.slice(0, 12)} is not signed by a trusted key \\(unsigned\\)`),
    );
  });

  test('a commit signed by a key not in the list is refused, naming the key', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine()) });
    const r = repo();
    const applied = commitAs(r, { ssh: alice }, 'signed');
    const head = commitAs(r, { ssh: mallory }, 'by mallory');
    const d = refusedFor(await p.check(gitdir(r), applied, head), head);
    assert.equal(d.rule, 'SIG02');
    const fpr = execFileSync('ssh-keygen', ['-l', '-f', `${mallory.file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
    assert.ok(d.message.includes(fpr), `names mallory's key ${fpr}: ${d.message}`);
  });

  test('an unsigned commit in the middle of a range whose head is signed is refused', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine()) });
    const r = repo();
    const applied = commitAs(r, { ssh: alice }, 'one');
    const middle = commitAs(r, null, 'sneaked in');
    const head = commitAs(r, { ssh: alice }, 'three');
    const refusal = await p.check(gitdir(r), applied, head);
    assert.equal(refusal?.diagnostics.length, 1);
    assert.equal(refusedFor(refusal, middle).rule, 'SIG01');
  });

  test('merge commits count: an unsigned commit of a merged branch is refused', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine()) });
    const r = repo();
    const applied = commitAs(r, { ssh: alice }, 'base');
    r.branch('side').checkout('side');
    const side = commitAs(r, null, 'unsigned on a branch', { 'b.txt': 'b' });
    r.checkout('main');
    commitAs(r, { ssh: alice }, 'main moves on', { 'c.txt': 'c' });
    const merge = mergeAs(r, { ssh: alice }, 'side');
    const refusal = await p.check(gitdir(r), applied, merge);
    assert.equal(refusal?.diagnostics.length, 1);
    refusedFor(refusal, side);
    // All signed: the same shape is accepted.
    const r2 = repo();
    const base2 = commitAs(r2, { ssh: alice }, 'base');
    r2.branch('side').checkout('side');
    commitAs(r2, { ssh: alice }, 'signed on a branch', { 'b.txt': 'b' });
    r2.checkout('main');
    assert.equal(await p.check(gitdir(r2), base2, mergeAs(r2, { ssh: alice }, 'side')), null);
  });

  test('a key listed for someone else may not sign as the committer', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine('alice@example.invalid')) });
    const r = repo();
    const head = commitAs(r, { ssh: alice }, 'signed by alice, committed as test');
    const d = refusedFor(await p.check(gitdir(r), null, head), head);
    assert.equal(d.rule, 'SIG04');
    assert.match(d.message, /listed in .* for alice@example\.invalid, not for the committer <test@example\.invalid>/);
    // A pattern that covers the committer is enough.
    const p2 = await policy({ allowedSigners: file('allowed', alice.allowedLine('*@example.invalid')) });
    assert.equal(await p2.check(gitdir(r), null, head), null);
  });

  test('a key past its valid-before is refused as expired', async () => {
    const p = await policy({
      allowedSigners: file('allowed', alice.allowedLine(COMMITTER, 'valid-before="20200101"')),
    });
    const r = repo();
    const head = commitAs(r, { ssh: alice }, 'signed with an expired key');
    const d = refusedFor(await p.check(gitdir(r), null, head), head);
    assert.equal(d.rule, 'SIG05');
    assert.match(d.message, /expired key: ED25519 key SHA256:\S+: key has expired/);
  });

  test('a signed commit altered after signing is refused as a bad signature; git verify-commit agrees', async () => {
    const allowed = file('allowed', alice.allowedLine());
    const p = await policy({ allowedSigners: allowed });
    const r = repo();
    const applied = commitAs(r, { ssh: alice }, 'base');
    const signed = commitAs(r, { ssh: alice }, 'deploy v1');
    const forged = tamper(r, signed, 'deploy something else');
    assert.notEqual(forged, signed);
    const d = refusedFor(await p.check(gitdir(r), applied, forged), forged);
    assert.equal(d.rule, 'SIG03');
    assert.match(d.message, /does not match the commit/);
    assert.equal(gitVerifies(r, forged, allowed), false);
  });

  test('the head reset to an ancestor of the applied commit brings nothing to check', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine()) });
    const r = repo();
    const old = commitAs(r, null, 'unsigned, from before signing was required');
    const applied = commitAs(r, { ssh: alice }, 'signed');
    assert.equal(await p.check(gitdir(r), applied, old), null);
    assert.equal(await p.check(gitdir(r), applied, applied), null);
  });

  test('with nothing applied only the head is checked (older unsigned history is not)', async () => {
    const p = await policy({ allowedSigners: file('allowed', alice.allowedLine()) });
    const r = repo();
    commitAs(r, null, 'unsigned history');
    const head = commitAs(r, { ssh: alice }, 'signed head');
    assert.equal(await p.check(gitdir(r), null, head), null);
    const unsignedHead = commitAs(r, null, 'unsigned head');
    refusedFor(await p.check(gitdir(r), null, unsignedHead), unsignedHead);
  });

  test('a change to the allowed-signers file takes effect at the next check', async () => {
    const f = file('allowed', alice.allowedLine());
    const p = await policy({ allowedSigners: f });
    const r = repo();
    const applied = commitAs(r, { ssh: alice }, 'base');
    const head = commitAs(r, { ssh: mallory }, 'by mallory');
    const g1 = await p.refresh();
    assert.ok(await p.check(gitdir(r), applied, head));
    writeFileSync(f, alice.allowedLine() + mallory.allowedLine());
    assert.equal(await p.check(gitdir(r), applied, head), null);
    assert.notEqual(await p.refresh(), g1);
    // Broken later: fail closed, naming the file and line.
    writeFileSync(f, 'test@example.invalid ssh-ed25519 not-base64!\n');
    const refusal = await p.check(gitdir(r), applied, head);
    assert.match(refusal!.reason, /the trust file cannot be used/);
    assert.match(refusal!.diagnostics[0]!.message, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: `));
  });

  test('watch() sees the file written in place or replaced by a rename, not other files beside it', async () => {
    const f = file('allowed', alice.allowedLine());
    const p = await policy({ allowedSigners: f });
    let changes = 0;
    const stop = p.watch(() => changes++);
    try {
      const waitFor = async (what: string, ok: () => boolean) => {
        for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(ok(), what);
      };
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(`${f}.other`, 'x');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(changes, 0, 'another file in the directory is not a change of the trust file');
      writeFileSync(f, alice.allowedLine() + mallory.allowedLine());
      await waitFor('a write in place is seen', () => changes >= 1);
      const seen = changes;
      writeFileSync(`${f}.new`, alice.allowedLine());
      renameSync(`${f}.new`, f);
      await waitFor('a replacement by rename is seen', () => changes > seen);
    } finally {
      await stop();
    }
  });

  test('a malformed, empty or missing allowed-signers file is a clear error naming file and line', async () => {
    const cases: [string, RegExp][] = [
      ['# comment\n\ntest@example.invalid ssh-ed25519 AAAA!!!!\n', /:3: the ssh-ed25519 key is not valid base64/],
      ['test@example.invalid\n', /:1: expected "principals \[options\] keytype base64-key"/],
      [`test@example.invalid bogus="1" ${alice.publicKey}\n`, /:1: unknown option "bogus"/],
      [
        `test@example.invalid valid-before="tomorrow" ${alice.publicKey}\n`,
        /:1: valid-before="tomorrow" is not a time/,
      ],
      [
        `test@example.invalid ${alice.publicKey.replace('ssh-ed25519', 'ssh-rsa')}\n`,
        /:1: the ssh-rsa key is not valid/,
      ],
      ['# only comments\n', /lists no signers/],
    ];
    for (const [text, re] of cases) {
      const f = file('bad-allowed', text);
      await assert.rejects(TrustPolicy.load({ allowedSigners: f }), (e: Error) => {
        assert.ok(e instanceof TrustFileError, `${e.name}: ${e.message}`);
        assert.ok(e.message.startsWith(f), e.message);
        assert.match(e.message, re);
        return true;
      });
    }
    await assert.rejects(
      TrustPolicy.load({ allowedSigners: join(tmp.dir, 'nope') }),
      /nope: --allowed-signers: cannot read it \(ENOENT\)/,
    );
  });
});

describe('OpenPGP signatures (--trusted-keys)', () => {
  const signer = (key: PgpKey, fakedTime?: string) => ({ gpg, key, ...(fakedTime ? { fakedTime } : {}) });

  test('signed by a trusted key -> accepted; unsigned on top, untrusted key, altered -> refused', async () => {
    const p = await policy({ trustedKeys: gpg.exportKeys(file('keys.asc', ''), [pgpAlice]) });
    const r = repo();
    const applied = commitAs(r, signer(pgpAlice), 'signed');
    assert.equal(await p.check(gitdir(r), null, applied), null);

    const unsigned = commitAs(r, null, 'unsigned');
    assert.equal(refusedFor(await p.check(gitdir(r), applied, unsigned), unsigned).rule, 'SIG01');

    r.git('reset', '-q', '--hard', applied);
    const byMallory = commitAs(r, signer(pgpMallory), 'by mallory');
    const d = refusedFor(await p.check(gitdir(r), applied, byMallory), byMallory);
    assert.equal(d.rule, 'SIG02');
    assert.ok(d.message.includes(pgpMallory.fingerprint), d.message);

    r.git('reset', '-q', '--hard', applied);
    const middle = commitAs(r, null, 'unsigned middle');
    const head = commitAs(r, signer(pgpAlice), 'signed head');
    const refusal = await p.check(gitdir(r), applied, head);
    assert.equal(refusal?.diagnostics.length, 1);
    refusedFor(refusal, middle);

    const forged = tamper(r, head, 'altered');
    const bad = refusedFor(await p.check(gitdir(r), middle, forged), forged);
    assert.equal(bad.rule, 'SIG03');
    assert.ok(bad.message.includes(pgpAlice.fingerprint), bad.message);
  });

  test('an expired key and a revoked key are refused, each saying which', async () => {
    const r = repo();
    const byOld = commitAs(r, signer(pgpOld, '20200101T010000'), 'signed in 2020 by a key valid for a day');
    const revokedCommit = commitAs(r, signer(pgpRevoked), 'signed, then the key was revoked');
    gpg.revoke(pgpRevoked);
    const p = await policy({ trustedKeys: gpg.exportKeys(file('keys.asc', ''), [pgpOld, pgpRevoked]) });
    const expired = refusedFor(await p.check(gitdir(r), null, byOld), byOld);
    assert.equal(expired.rule, 'SIG05');
    assert.match(expired.message, /expired key: signed by OpenPGP key .* which has expired/);
    const revoked = refusedFor(await p.check(gitdir(r), byOld, revokedCommit), revokedCommit);
    assert.equal(revoked.rule, 'SIG05');
    assert.match(revoked.message, /revoked key: .* has been revoked/);
  });

  test('SSH-signed with only OpenPGP keys trusted: an unknown key; with both files, both are accepted', async () => {
    const keys = gpg.exportKeys(file('keys.asc', ''), [pgpAlice]);
    const r = repo();
    const a = commitAs(r, { ssh: alice }, 'ssh');
    const b = commitAs(r, signer(pgpAlice), 'pgp');
    const pgpOnly = await policy({ trustedKeys: keys });
    const d = refusedFor(await pgpOnly.check(gitdir(r), null, a), a);
    assert.equal(d.rule, 'SIG02');
    assert.match(d.message, /signed with SSH, but no --allowed-signers is given/);
    const both = await policy({ trustedKeys: keys, allowedSigners: file('allowed', alice.allowedLine()) });
    assert.equal(await both.check(gitdir(r), null, a), null);
    assert.equal(await both.check(gitdir(r), a, b), null);
  });

  test('a malformed keys file, or one holding a private key, is a clear error naming the file', async () => {
    for (const [text, re] of [
      ['not a key\n', /not a file of OpenPGP public keys \(no valid OpenPGP data found/],
      ['', /not a file of OpenPGP public keys/],
      [
        gpg.gpg([
          '--armor',
          '--pinentry-mode',
          'loopback',
          '--passphrase',
          '',
          '--export-secret-keys',
          pgpAlice.fingerprint,
        ]),
        /holds a private key/,
      ],
    ] as const) {
      const f = file('bad.asc', text);
      await assert.rejects(TrustPolicy.load({ trustedKeys: f }), (e: Error) => {
        assert.ok(e instanceof TrustFileError, `${e.name}: ${e.message}`);
        assert.ok(e.message.startsWith(f), e.message);
        assert.match(e.message, re);
        return true;
      });
    }
  });
});
