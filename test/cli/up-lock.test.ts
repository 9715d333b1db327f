/**
 * `gitfleet up` on a real private systemd, as a user runs it from two terminals: an escaped unit
 * name runs; a second `up` on the same state dir is refused naming the first one's PID and leaves
 * its units alone (checked with systemctl against the instance); a lock left by a dead `up` is
 * taken over. --allow-force-push is accepted, and --help says what --once does to units.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { attachPrivateSystemd } from '../../src/systemd/private.js';
import { eventually, isActive, type PrivateSystemd } from '../support/systemd.js';
import { tempDir, TestRepo } from '../support/git.js';
import { gitfleet, noStack, spawnGitfleet, type CliChild } from '../support/cli.js';

const tmp = tempDir('gitfleet-uplock-');
const children: CliChild[] = [];
const stateDirs: string[] = [];
after(async () => {
  for (const c of children) await c.stop();
  // If an up did not get to stop its private systemd, stop it by the PID it recorded.
  for (const dir of stateDirs) {
    const base = join(dir, 'systemd');
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) (await attachPrivateSystemd({ baseDir: base, name }))?.stop();
  }
  tmp.cleanup();
});

const ESCAPED = 'hello\\x2dworld.service';
const svc = (d: string) => `[Unit]\nDescription=${d}\n[Service]\nExecStart=/bin/sleep infinity\n`;

function instanceOf(stateDir: string): PrivateSystemd {
  const base = join(stateDir, 'systemd');
  const [name] = readdirSync(base);
  return { runtimeDir: join(base, name!, 'rt') } as PrivateSystemd;
}

test('an escaped unit name runs under up; a second up on the state dir says who holds it and exits 1', {
  timeout: 120_000,
}, async () => {
  const repo = TestRepo.init(tmp.dir, 'units');
  repo.commit('units', { [ESCAPED]: svc('escaped'), 'plain.service': svc('plain') });
  const stateDir = join(tmp.dir, 'state');
  stateDirs.push(stateDir);
  const args = ['up', '--repo', repo.dir, '--systemd', 'private', '--state-dir', stateDir];
  const first = spawnGitfleet([...args, '--allow-force-push']);
  children.push(first);
  await eventually('the first up converges', () => /converged in \d+ ms/.test(first.stderr), 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- up's stderr:\n${first.stderr}`);
  });
  const inst = instanceOf(stateDir);
  assert.equal(await isActive(inst, ESCAPED), 'active');
  assert.equal(await isActive(inst, 'plain.service'), 'active');

  const second = await gitfleet([...args, '--once']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`another gitfleet up \\(pid ${first.proc.pid},`));
  assert.match(second.stderr, /--state-dir/);
  noStack(second.stderr);
  // The first one's units were not touched, and it still runs.
  assert.equal(await isActive(inst, ESCAPED), 'active');
  assert.equal(await isActive(inst, 'plain.service'), 'active');
  assert.equal(first.proc.exitCode, null);

  // History rewritten (a force-push, as up sees it): applied because this up has --allow-force-push.
  repo.git('reset', '-q', '--hard', 'HEAD');
  repo.git('commit', '-q', '--amend', '-m', 'units, reworded');
  const rewritten = repo.head();
  await eventually(
    'the rewritten head is applied',
    () => first.stdout.includes(`${rewritten.slice(0, 12)} applied`),
    20_000,
  );
  assert.doesNotMatch(first.stderr, /refused/);

  assert.equal(await first.stop(), 0);
  assert.equal(existsSync(join(stateDir, 'up.lock')), false, 'the lock goes with its holder');
});

test('a lock left by an up that died is taken over', { timeout: 120_000 }, async () => {
  const repo = TestRepo.init(tmp.dir, 'stale');
  repo.commit('units', { 'plain.service': svc('plain') });
  const stateDir = join(tmp.dir, 'stale-state');
  stateDirs.push(stateDir);
  // A process that has exited: its PID is free (or reused by another process with another start time).
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(
    join(stateDir, 'up.lock'),
    JSON.stringify({ pid: Number(dead.stdout), startTicks: 1, startedAt: '2020-01-01T00:00:00.000Z' }),
  );
  const r = await gitfleet(['up', '--repo', repo.dir, '--systemd', 'private', '--state-dir', stateDir, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /plain\.service\s+launched\s+loaded\s+active\s+running/);
  assert.equal(existsSync(join(stateDir, 'up.lock')), false);
});

test('up --help says what --once does to the units, and lists --allow-force-push', async () => {
  const r = await gitfleet(['up', '--help']);
  assert.equal(r.code, 0);
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--once converge, print the status and exit; on exit units are stopped as with Ctrl-C/);
  assert.doesNotMatch(help, /units keep running unless/);
  assert.match(help, /--allow-force-push/);
  assert.ok(readFileSync('docs/cli.md', 'utf8').includes('--allow-force-push'));
});
