/**
 * `--allowed-signers` / `--trusted-keys` as a user runs them (child processes, a real etcd, real
 * keys): `apply` refuses what is not signed, `status` shows why, and `plan` over the same range
 * says the same thing without a cluster, so a pull request's CI can tell before the merge.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { attachPrivateSystemd } from '../../src/systemd/private.js';
import { gitfleetArgv, runAsync, type CommandResult } from '../support/cluster.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { tempDir, TestRepo } from '../support/git.js';
import { GpgHome, commitAs, makeSshKey, type SshKey } from '../support/signing.js';
import { eventually, isActive, type PrivateSystemd } from '../support/systemd.js';

const tmp = tempDir('gitfleet-cli-sig-');
let etcd: EtcdCluster;
let alice: SshKey;
let mallory: SshKey;
let gpg: GpgHome;
let n = 0;
const unit = (d: string) => `[Unit]\nDescription=${d}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;

before(async () => {
  etcd = await startEtcd();
  alice = makeSshKey(tmp.dir, 'alice');
  mallory = makeSshKey(tmp.dir, 'mallory');
  gpg = new GpgHome(tmp.dir);
});
let up: ChildProcess | null = null;
let upInstances: string | null = null;
after(async () => {
  if (up?.exitCode === null) {
    const exited = new Promise((r) => up!.once('exit', r));
    up.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (up.exitCode === null) up.kill('SIGKILL');
  }
  // If up did not get to stop its private systemd, stop it by the PID it recorded.
  if (upInstances && existsSync(upInstances))
    for (const name of readdirSync(upInstances))
      await (await attachPrivateSystemd({ baseDir: upInstances, name }))?.stop();
  gpg?.close();
  await etcd?.stop();
  tmp.cleanup();
});

function gitfleet(...args: string[]): Promise<CommandResult> {
  return runAsync(process.execPath, gitfleetArgv(args), { env: { NO_COLOR: '1', GITFLEET_ETCD: '' } });
}

/** `gitfleet plan RANGE --repo DIR FLAG FILE --format FORMAT`. */
function runPlan(range: string, repo: TestRepo, trust: [string, string], format: string): Promise<CommandResult> {
  return gitfleet('plan', range, '--repo', repo.dir, ...trust, '--format', format);
}

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+\)?\n/, `a stack trace was printed:\n${s}`);

function trustFile(name: string, text: string): string {
  const f = join(tmp.dir, `${++n}-${name}`);
  writeFileSync(f, text);
  return f;
}

interface Diag {
  rule: string;
  severity: string;
  message: string;
}

describe('apply, status and plan with --allowed-signers', () => {
  test('apply refuses an unsigned head; status and plan of the same range give the same diagnostics', async () => {
    const allowed = trustFile('allowed', alice.allowedLine());
    const repo = TestRepo.init(tmp.dir, `r${++n}`);
    const first = commitAs(repo, { ssh: alice }, 'initial', {
      'fleet.yaml': 'allowEmpty: true\n',
      'a.service': unit('a'),
    });
    const flags = [
      '--repo',
      repo.dir,
      '--allowed-signers',
      allowed,
      '--etcd',
      etcd.endpoints[0]!,
      '--prefix',
      `/p${n}`,
    ];
    const ok = await gitfleet('apply', ...flags);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`applied ${first}`));

    const middle = commitAs(repo, null, 'unsigned change', { 'a.service': unit('a2') });
    const head = commitAs(repo, { ssh: mallory }, 'signed by an unknown key', { 'b.service': unit('b') });
    const refused = await gitfleet('apply', ...flags);
    assert.equal(refused.code, 1);
    noStack(refused.stderr);
    assert.match(refused.stderr, new RegExp(`refused ${head}: 2 of the 2 new commits are not signed by a trusted key`));
    assert.match(refused.stderr, new RegExp(`SIG01 commit ${middle.slice(0, 12)} "unsigned change"`));
    assert.match(refused.stderr, new RegExp(`SIG02 commit ${head.slice(0, 12)} "signed by an unknown key"`));

    const status = await gitfleet('status', '--format', 'json', '--etcd', etcd.endpoints[0]!, '--prefix', `/p${n}`);
    assert.equal(status.code, 1, 'status exits 1 while the head is refused');
    const s = JSON.parse(status.stdout) as {
      applied: { commit: string };
      refused: { commit: string; diagnostics: Diag[] };
    };
    assert.equal(s.applied.commit, first);
    assert.equal(s.refused.commit, head);

    const plan = await runPlan(`${first}..${head}`, repo, ['--allowed-signers', allowed], 'json');
    assert.equal(plan.code, 1, plan.stderr);
    const p = JSON.parse(plan.stdout) as { refused: boolean; changes: unknown[]; diagnostics: Diag[] };
    assert.equal(p.refused, true);
    assert.deepEqual(p.changes, []);
    const sig = (ds: Diag[]) => ds.filter((d) => d.rule.startsWith('SIG'));
    assert.deepEqual(sig(p.diagnostics), s.refused.diagnostics, 'plan says what the controller recorded');

    const md = await runPlan(`${first}..${head}`, repo, ['--allowed-signers', allowed], 'markdown');
    assert.equal(md.code, 1);
    assert.match(md.stdout, /Refused/);
    assert.match(md.stdout, /SIG01/);
  });

  test('plan of a range signed throughout is not refused, and lists its changes', async () => {
    const allowed = trustFile('allowed', alice.allowedLine());
    const repo = TestRepo.init(tmp.dir, `r${++n}`);
    commitAs(repo, { ssh: alice }, 'initial', { 'fleet.yaml': 'allowEmpty: true\n' });
    commitAs(repo, { ssh: alice }, 'add a', { 'a.service': unit('a') });
    const plan = await gitfleet('plan', '--repo', repo.dir, '--allowed-signers', allowed, '--format', 'json');
    assert.equal(plan.code, 0, plan.stderr);
    const p = JSON.parse(plan.stdout) as { refused: boolean; changes: { unit: string; change: string }[] };
    assert.equal(p.refused, false);
    assert.deepEqual(
      p.changes.map((c) => [c.unit, c.change]),
      [['a.service', 'added']],
    );
  });

  test('with --trusted-keys too: plan and the controller agree on an OpenPGP range', async () => {
    const key = gpg.generate('Alice', 'alice-cli@example.invalid');
    const keys = gpg.exportKeys(join(tmp.dir, 'trusted-cli.asc'), [key]);
    const repo = TestRepo.init(tmp.dir, `r${++n}`);
    const first = commitAs(repo, { gpg, key }, 'initial', { 'fleet.yaml': 'allowEmpty: true\n' });
    const flags = ['--repo', repo.dir, '--trusted-keys', keys, '--etcd', etcd.endpoints[0]!, '--prefix', `/p${n}`];
    assert.equal((await gitfleet('apply', ...flags)).code, 0);
    const head = commitAs(repo, null, 'unsigned', { 'a.service': unit('a') });
    const refused = await gitfleet('apply', ...flags);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`SIG01 commit ${head.slice(0, 12)}`));
    const plan = await runPlan(`${first}..${head}`, repo, ['--trusted-keys', keys], 'text');
    assert.equal(plan.code, 1);
    assert.match(plan.stdout, /Refused/);
    assert.match(
      plan.stdout,
      new RegExp(
        `SIG01 commit ${head.slice(0, 12)} "unsigned" \\(committer Test <test@example\\.invalid>\\): unsigned`,
      ),
    );
  });

  test('a malformed, missing or in-repository trust file: exit 2, one line naming it, nothing applied', async () => {
    const repo = TestRepo.init(tmp.dir, `r${++n}`);
    commitAs(repo, { ssh: alice }, 'initial', { 'fleet.yaml': 'allowEmpty: true\n' });
    const bad = trustFile('allowed', `${alice.allowedLine()}test@example.invalid ssh-ed25519\n`);
    const prefix = `/p${n}`;
    for (const cmd of [
      ['apply', '--repo', repo.dir, '--allowed-signers', bad, '--etcd', etcd.endpoints[0]!, '--prefix', prefix],
      ['plan', '--repo', repo.dir, '--allowed-signers', bad],
    ]) {
      const r = await gitfleet(...cmd);
      assert.equal(r.code, 2, `${cmd[0]}: ${r.stderr}`);
      noStack(r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.includes(`${bad}:2: expected "principals [options] keytype base64-key"`), r.stderr);
    }
    const applyWith = (...trust: string[]) =>
      gitfleet('apply', '--repo', repo.dir, ...trust, '--etcd', etcd.endpoints[0]!, '--prefix', prefix);
    const missing = await applyWith('--trusted-keys', join(tmp.dir, 'none.asc'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /none\.asc: --trusted-keys: cannot read it \(ENOENT\)/);
    writeFileSync(join(repo.dir, 'allowed_signers'), alice.allowedLine());
    const inside = await applyWith('--allowed-signers', join(repo.dir, 'allowed_signers'));
    assert.equal(inside.code, 2);
    assert.match(inside.stderr, /is inside the repository it guards/);
    const status = await gitfleet('status', '--format', 'json', '--etcd', etcd.endpoints[0]!, '--prefix', prefix);
    assert.equal((JSON.parse(status.stdout) as { applied: unknown }).applied, null, 'nothing was applied');
  });

  test('up with --allowed-signers runs a signed head and leaves its private systemd alone on an unsigned one', {
    timeout: 120_000,
  }, async () => {
    const repo = TestRepo.init(tmp.dir, `r${++n}`);
    commitAs(repo, { ssh: alice }, 'signed', { 'fleet.yaml': 'allowEmpty: true\n', 'hello.service': unit('hello') });
    const stateDir = join(tmp.dir, `up${n}`);
    let stderr = '';
    up = spawn(
      process.execPath,
      [
        ...gitfleetArgv(['up', '--repo', repo.dir, '--systemd', 'private', '--state-dir', stateDir]),
        '--allowed-signers',
        trustFile('allowed', alice.allowedLine()),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    up.stderr!.on('data', (d) => (stderr += d));
    const why = () => `\n--- up's stderr:\n${stderr}`;
    await eventually('up converges', () => /converged in \d+ ms/.test(stderr), 60_000).catch((e) => {
      throw new Error((e as Error).message + why());
    });
    upInstances = join(stateDir, 'systemd');
    const [name] = readdirSync(upInstances);
    const inst = { runtimeDir: join(upInstances, name!, 'rt') } as PrivateSystemd;
    assert.equal(await isActive(inst, 'hello.service'), 'active');

    const bad = commitAs(repo, null, 'unsigned', { 'sneaky.service': unit('sneaky') });
    await eventually('up shows the refusal', () => stderr.includes(`refused ${bad.slice(0, 12)}`), 15_000).catch(
      (e) => {
        throw new Error((e as Error).message + why());
      },
    );
    assert.match(stderr, /is not signed by a trusted key \(unsigned\)/);
    assert.notEqual(await isActive(inst, 'sneaky.service'), 'active', 'the unsigned unit does not run');
    assert.equal(await isActive(inst, 'hello.service'), 'active');

    const exited = new Promise<number | null>((r) => up!.once('exit', (code) => r(code)));
    up.kill('SIGINT');
    assert.equal(await exited, 0);
  });
});
