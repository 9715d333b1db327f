/**
 * bench/signatures: what the signature gate costs a controller pass.
 *
 *     node --import tsx bench/signatures.ts [HISTORY] [SIGNED]
 *
 * A real repository: HISTORY unsigned commits (the history before signing was required, made with
 * `git fast-import`), then SIGNED commits signed by git with an SSH key, then SIGNED more with an
 * OpenPGP key. Measured with the code the controller runs (TrustPolicy.check, cold: a fresh
 * policy, so the applied commit's ancestors are walked in full and no verdict is cached):
 *   walk  the commits a head brings over the applied commit (HISTORY ancestors walked),
 *         beside `git rev-list --count HEAD ^APPLIED` (git's own walk) as the floor
 *   ssh   SIGNED SSH-signed commits checked, beside SIGNED sequential `ssh-keygen -Y verify` runs
 *   pgp   SIGNED OpenPGP-signed commits checked, beside SIGNED sequential `gpg --verify` runs
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitSignature } from '../src/source/commitobj.js';
import { commitsBetween } from '../src/source/commitrange.js';
import { TrustPolicy } from '../src/source/signatures.js';
import { TestRepo } from '../test/support/git.js';
import { COMMITTER, GpgHome, commitAs, makeSshKey } from '../test/support/signing.js';
import { load } from './floor.js';

const loadAtStart = load();
const HISTORY = Number(process.argv[2] ?? 10_000);
const SIGNED = Number(process.argv[3] ?? 50);

function fastImport(n: number): string {
  const out: string[] = [];
  for (let i = 1; i <= n; i++) {
    const msg = `old ${i}`;
    out.push(
      'commit refs/heads/main',
      `mark :${i}`,
      `committer Test <${COMMITTER}> ${1_600_000_000 + i} +0000`,
      `data ${msg.length}`,
      msg,
      ...(i > 1 ? [`from :${i - 1}`] : []),
      `M 100644 inline f${i % 100}.txt`,
      `data ${String(i).length}`,
      String(i),
      '',
    );
  }
  return out.join('\n');
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bench-sig-'));
const gpg = new GpgHome(dir);
try {
  const repo = TestRepo.init(dir, 'repo');
  execFileSync('git', ['fast-import', '--quiet'], { cwd: repo.dir, input: fastImport(HISTORY) });
  repo.git('reset', '-q', '--hard', 'main');
  const applied = repo.head();
  const ssh = makeSshKey(dir, 'bench');
  const key = gpg.generate('Bench', 'bench-pgp@example.invalid');
  const allowed = join(dir, 'allowed');
  writeFileSync(allowed, ssh.allowedLine());
  const keys = gpg.exportKeys(join(dir, 'keys.asc'), [key]);
  for (let i = 0; i < SIGNED; i++) commitAs(repo, { ssh }, `ssh ${i}`, { [`s${i}.txt`]: String(i) });
  const sshHead = repo.head();
  for (let i = 0; i < SIGNED; i++) commitAs(repo, { gpg, key }, `pgp ${i}`, { [`p${i}.txt`]: String(i) });
  const pgpHead = repo.head();
  repo.gc();
  const gitdir = join(repo.dir, '.git');

  const walk = await time(() => commitsBetween(gitdir, applied, pgpHead, {}));
  const walkFloor = await time(() => repo.git('rev-list', '--count', pgpHead, `^${applied}`));

  const sshPolicy = await TrustPolicy.load({ allowedSigners: allowed });
  let refused = 0;
  const sshCheck = await time(async () => {
    if (await sshPolicy.check(gitdir, applied, sshHead)) refused++;
  });
  sshPolicy.close();
  const sshCommits = repo.git('rev-list', sshHead, `^${applied}`).split('\n');
  const sshFloor = await time(() => {
    for (const c of sshCommits) {
      const { signature, payload } = splitSignature(execFileSync('git', ['cat-file', 'commit', c], { cwd: repo.dir }));
      const sig = join(dir, 'sig');
      writeFileSync(sig, signature!);
      execFileSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', COMMITTER, '-n', 'git', '-s', sig], {
        input: payload,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    }
  });

  const pgpPolicy = await TrustPolicy.load({ trustedKeys: keys });
  const pgpCheck = await time(async () => {
    if (await pgpPolicy.check(gitdir, sshHead, pgpHead)) refused++;
  });
  pgpPolicy.close();
  const pgpCommits = repo.git('rev-list', pgpHead, `^${sshHead}`).split('\n');
  const home = join(dir, 'verify-home');
  execFileSync('mkdir', ['-m', '700', home]);
  execFileSync('gpg', ['--homedir', home, '--batch', '--import', keys], { stdio: 'pipe' });
  const pgpFloor = await time(() => {
    for (const c of pgpCommits) {
      const { signature, payload } = splitSignature(execFileSync('git', ['cat-file', 'commit', c], { cwd: repo.dir }));
      const sig = join(dir, 'sig');
      writeFileSync(sig, signature!);
      execFileSync('gpg', ['--homedir', home, '--batch', '--no-autostart', '--verify', sig, '-'], {
        input: payload,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    }
  });

  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const per = (ms: number, n: number) => `${(ms / n).toFixed(1)} ms/commit`;
  console.log(`history ${HISTORY} unsigned commits, then ${SIGNED} SSH-signed and ${SIGNED} OpenPGP-signed`);
  console.log(
    `walk  ${fmt(walk)} (${2 * SIGNED} new commits over ${HISTORY} ancestors); FLOOR git rev-list ` +
      `${fmt(walkFloor)}, ratio ${x(walk, walkFloor)}`,
  );
  console.log(
    `ssh   ${fmt(sshCheck)} = ${per(sshCheck, SIGNED)} (walk included); ` +
      `FLOOR ssh-keygen -Y verify ${per(sshFloor, SIGNED)}, ratio ${x(sshCheck, sshFloor)}`,
  );
  console.log(
    `pgp   ${fmt(pgpCheck)} = ${per(pgpCheck, SIGNED)} (walk included); FLOOR gpg --verify ` +
      `${per(pgpFloor, SIGNED)}, ratio ${x(pgpCheck, pgpFloor)}`,
  );
  console.log(`load average at start ${loadAtStart}, at end ${load()}`);
  if (refused) console.log(`UNEXPECTED: ${refused} of the checks refused a range signed throughout`);
} finally {
  gpg.close();
  rmSync(dir, { recursive: true, force: true });
}
