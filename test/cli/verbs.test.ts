/**
 * fleetctl's verbs as git edits, through the CLI on real repositories (the git CLI checks what was
 * committed): fleet.yaml changes by the bytes that must change and keeps its comments, one commit
 * per command with a message that says what, nothing written when the result would be refused.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestRepo, git, tempDir } from '../support/git.js';
import { gitfleet, noStack } from '../support/cli.js';

const tmp = tempDir('gitfleet-verbs-');
after(() => tmp.cleanup());

const ID = {
  GIT_AUTHOR_NAME: 'Verb Tester',
  GIT_AUTHOR_EMAIL: 'verbs@example.invalid',
  GIT_COMMITTER_NAME: 'Verb Tester',
  GIT_COMMITTER_EMAIL: 'verbs@example.invalid',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
};
const run = (args: string[], repo: TestRepo) => gitfleet([...args, '--repo', repo.dir], ID);
const svc = '[Service]\nExecStart=/bin/sleep infinity\n';

function example(name: string): TestRepo {
  const repo = TestRepo.init(tmp.dir, name);
  cpSync('units.example', repo.dir, { recursive: true });
  repo.commit('example units');
  return repo;
}

/** Lines of `git diff` that changed (+/-), without the headers. */
function changed(repo: TestRepo, from = 'HEAD~1', path = 'fleet.yaml'): string[] {
  return repo
    .git('diff', '-U0', from, 'HEAD', '--', path)
    .split('\n')
    .filter((l) => /^[+-](?![+-]{2} )/.test(l));
}

describe('start, stop, load, unload', () => {
  test('change only the state words in fleet.yaml, keep its comments, commit saying what', async () => {
    const repo = example('states');
    const before = readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8');
    const stop = await run(['stop', 'hello'], repo);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /^committed [0-9a-f]{12}: stop hello\.service$/m);
    assert.equal(repo.git('log', '-1', '--format=%s'), 'stop hello.service');
    assert.deepEqual(changed(repo), ['-  hello.service: launched', '+  hello.service: loaded']);

    // An instance of the count gets its own entry; one not in the count is added; comments stay.
    const start = await run(['start', 'web@5.service', 'web@2'], repo);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /web@2\.service is already launched/);
    assert.deepEqual(changed(repo), ['+  web@5.service: launched']);
    const unload = await run(['unload', 'web@.service', 'cleanup.timer'], repo);
    assert.equal(unload.code, 0, unload.stderr);
    assert.equal(repo.git('log', '-1', '--format=%s'), 'unload web@.service, unload cleanup.timer');
    assert.deepEqual(changed(repo), [
      '-    state: launched',
      '+    state: inactive',
      '-  cleanup.timer: launched',
      '+  cleanup.timer: inactive',
    ]);
    const after = readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8');
    for (const comment of before.split('\n').filter((l) => l.includes('#')))
      assert.ok(after.includes(comment), `comment kept: ${comment}`);

    // What the controller will see: gitfleet plan over the three commits.
    const plan = await gitfleet(['plan', 'HEAD~3..HEAD', '--repo', repo.dir, '--format', 'json']);
    assert.equal(plan.code, 0, plan.stderr);
    const changes = JSON.parse(plan.stdout).changes as { unit: string; state: { from: string; to: string } }[];
    const by = Object.fromEntries(changes.map((c) => [c.unit, `${c.state.from ?? '-'}->${c.state.to ?? '-'}`]));
    assert.equal(by['hello.service'], 'launched->loaded');
    assert.equal(by['web@5.service'], '-->launched'); // its own entry, not the template's state
    assert.equal(by['web@1.service'], 'launched->inactive');
    assert.equal(by['cleanup.timer'], 'launched->inactive');

    const nothing = await run(['stop', 'hello.service'], repo);
    assert.equal(nothing.code, 0);
    assert.match(nothing.stdout, /already loaded[\s\S]*nothing to commit/);
    assert.equal(repo.git('log', '-1', '--format=%s'), 'unload web@.service, unload cleanup.timer');
  });

  test('a flow entry gets state: inserted; a repo without fleet.yaml gets one; -m gives the message', async () => {
    const repo = TestRepo.init(tmp.dir, 'flow');
    repo.commit('one', {
      'fleet.yaml': '# my units\nunits:\n  web@.service: { instances: [a, b] }   # two of them\n',
      'web@.service': svc,
    });
    const r = await run(['load', 'web@.service', '-m', 'park the web'], repo);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8'),
      '# my units\nunits:\n  web@.service: { state: loaded, instances: [a, b] }   # two of them\n',
    );
    assert.equal(repo.git('log', '-1', '--format=%s'), 'park the web');

    const bare = TestRepo.init(tmp.dir, 'nofleetyaml');
    bare.commit('one', { 'a.service': svc });
    assert.equal((await run(['stop', 'a'], bare)).code, 0);
    assert.equal(readFileSync(join(bare.dir, 'fleet.yaml'), 'utf8'), 'units:\n  a.service: loaded\n');
    assert.equal(bare.git('status', '--porcelain'), '');
  });

  test('a unit that is not in the repository, or a dirty fleet.yaml: exit 1, nothing committed', async () => {
    const repo = example('refusals');
    const head = repo.head();
    const missing = await run(['start', 'nothere'], repo);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no unit file nothere\.service under '\.'.*gitfleet submit FILE/);
    noStack(missing.stderr);
    writeFileSync(join(repo.dir, 'fleet.yaml'), `${readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8')}\n# wip\n`);
    const dirty = await run(['stop', 'hello'], repo);
    assert.equal(dirty.code, 1);
    assert.match(dirty.stderr, /uncommitted changes .* fleet\.yaml/s);
    assert.equal(repo.head(), head);
    const bad = await run(['start', 'no/slash'], repo);
    assert.equal(bad.code, 2);
  });
});

describe('submit and destroy', () => {
  test('submit copies a unit file under path: as inactive; destroy removes file and entry', async () => {
    const repo = TestRepo.init(tmp.dir, 'subdes');
    repo.commit('one', {
      'fleet.yaml': 'path: units\nunits:\n  a.service: launched\n  web@.service:\n    instances: [x, y, z]\n',
      'units/a.service': svc,
      'units/web@.service': svc,
    });
    const file = join(tmp.dir, 'new.service');
    writeFileSync(file, `[Unit]\nDescription=new\n${svc}`);
    const sub = await run(['submit', file], repo);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal(repo.git('log', '-1', '--format=%s'), 'submit new.service');
    assert.equal(repo.git('show', 'HEAD:units/new.service'), readFileSync(file, 'utf8').trim());
    assert.deepEqual(changed(repo), ['+  new.service: inactive']);
    assert.equal((await run(['submit', file], repo)).stdout.includes('nothing to commit'), true);

    const des = await run(['destroy', 'a.service', 'web@y.service'], repo);
    assert.equal(des.code, 0, des.stderr);
    assert.equal(repo.git('ls-files', 'units/a.service'), '');
    assert.equal(
      readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8'),
      'path: units\nunits:\n  web@.service:\n    instances: [x, z]\n  new.service: inactive\n',
    );
    assert.equal(repo.git('status', '--porcelain'), '');
    const plan = JSON.parse((await gitfleet(['plan', '--repo', repo.dir, '--format', 'json'])).stdout);
    assert.deepEqual(plan.changes.map((c: { unit: string; change: string }) => `${c.change} ${c.unit}`).sort(), [
      'removed a.service',
      'removed web@y.service',
    ]);
  });

  test('start or load of a local unit file submits it first, as fleetctl does', async () => {
    const repo = example('localstart');
    const file = join(tmp.dir, 'extra.service');
    writeFileSync(file, svc);
    const started = await run(['start', file], repo);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(repo.git('log', '-1', '--format=%s'), 'submit and start extra.service');
    assert.equal(repo.git('show', 'HEAD:extra.service'), svc.trim());
    assert.deepEqual(changed(repo), [], 'launched is the default: fleet.yaml needs no entry');
    const other = join(tmp.dir, 'parked.service');
    writeFileSync(other, svc);
    assert.equal((await run(['load', other], repo)).code, 0);
    assert.deepEqual(changed(repo), ['+  parked.service: loaded']);
  });

  test('a submit the controller would refuse is not committed; a counted instance cannot be destroyed', async () => {
    const repo = example('badsubmit');
    const head = repo.head();
    const file = join(tmp.dir, 'broken.service');
    writeFileSync(file, '[Service]\nExecStart=relative/path\n');
    const r = await run(['submit', file], repo);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not committed: the controller would refuse the result/);
    assert.match(r.stderr, /broken\.service:2:\d+: error/);
    assert.equal(repo.head(), head);
    assert.equal(repo.git('status', '--porcelain'), '');
    const counted = await run(['destroy', 'web@2'], repo);
    assert.equal(counted.code, 1);
    assert.match(counted.stderr, /web@2\.service is one of web@\.service's "instances: 3"/);
    assert.equal(repo.head(), head);
  });
});

test('--push pushes the commit to the upstream branch', async () => {
  const origin = example('pushorigin');
  const bare = origin.cloneBare(join(tmp.dir, 'remotes'), 'units.git');
  git(tmp.dir, ['clone', '-q', bare, 'pushclone']);
  const clone = new TestRepo(join(tmp.dir, 'pushclone'));
  const r = await run(['stop', 'hello', '--push'], clone);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pushed/);
  assert.equal(git(bare, ['rev-parse', 'main']), clone.head());
  assert.equal(git(bare, ['log', '-1', '--format=%s', 'main']), 'stop hello.service');
});
