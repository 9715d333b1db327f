/**
 * `gitfleet up --once` always ends, with a status a script can act on: 0 once converged; 1 with
 * the reason when the branch head is refused or the branch has no commits (nothing will converge
 * until a new commit, so it must not wait). Run as a user runs it, on a real private systemd;
 * what runs is checked through systemctl against that instance.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { attachPrivateSystemd } from '../../src/systemd/private.js';
import { isActive, type PrivateSystemd } from '../support/systemd.js';
import { git, tempDir, TestRepo } from '../support/git.js';
import { gitfleet, noStack } from '../support/cli.js';

const tmp = tempDir('gitfleet-uponce-');
const stateDirs: string[] = [];
after(async () => {
  // If an up did not get to stop its private systemd, stop it by the PID it recorded.
  for (const dir of stateDirs) {
    const base = join(dir, 'systemd');
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) await (await attachPrivateSystemd({ baseDir: base, name }))?.stop();
  }
  tmp.cleanup();
});

const svc = (d: string) => `[Unit]\nDescription=${d}\n[Service]\nExecStart=/bin/sleep infinity\n`;

/** The private systemd up left running in a state dir (--on-exit leave). */
function instanceOf(stateDir: string): PrivateSystemd {
  const base = join(stateDir, 'systemd');
  const [name] = readdirSync(base);
  return { runtimeDir: join(base, name!, 'rt') } as PrivateSystemd;
}

function upOnce(repo: string, name: string, extra: string[] = []) {
  const stateDir = join(tmp.dir, `${name}-state`);
  stateDirs.push(stateDir);
  return {
    stateDir,
    result: gitfleet(['up', '--repo', repo, '--systemd', 'private', '--state-dir', stateDir, '--once', ...extra]),
  };
}

test('up --once exits 1 naming the refusal when the only commit is refused, and runs nothing', {
  timeout: 120_000,
}, async () => {
  const repo = TestRepo.init(tmp.dir, 'refused');
  // hello.service is fine; the commit is refused as a whole for the other file's broken header.
  repo.commit('a unit and a broken one', {
    'hello.service': svc('hello'),
    'broken.service': '[Service]\nExecStart=/bin/true\n[Unit\n',
  });
  const { stateDir, result } = upOnce(repo.dir, 'refused', ['--on-exit', 'leave']);
  const r = await result;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /gitfleet up: refused [0-9a-f]{12}: 1 error in the commit \(SYN01\)/);
  assert.match(r.stderr, /--once: the branch head [0-9a-f]{12} is refused/);
  assert.match(r.stdout, /broken\.service:3:1.*SYN01/);
  noStack(r.stderr);
  assert.notEqual(await isActive(instanceOf(stateDir), 'hello.service'), 'active');
});

test('up --once exits 1 saying so when the branch has no commits', { timeout: 120_000 }, async () => {
  const dir = join(tmp.dir, 'empty');
  git(tmp.dir, ['init', '-q', '-b', 'main', dir]);
  const { result } = upOnce(dir, 'empty');
  const r = await result;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /branch main has no commits: nothing to run/);
  noStack(r.stderr);
});

test('up --once exits 0 once converged, the unit running; --on-exit leave keeps it running', {
  timeout: 120_000,
}, async () => {
  const repo = TestRepo.init(tmp.dir, 'good');
  repo.commit('a unit', { 'hello.service': svc('hello') });
  const { stateDir, result } = upOnce(repo.dir, 'good', ['--on-exit', 'leave']);
  const r = await result;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /converged in \d+ ms \(1 units\)/);
  assert.match(r.stdout, /hello\.service\s+launched\s+loaded\s+active\s+running/);
  assert.equal(await isActive(instanceOf(stateDir), 'hello.service'), 'active');
});
