/**
 * `gitfleet plan` over real git histories: HEAD vs first parent, REV, BASE..HEAD via merge base,
 * merges, renames, template instances, no-effect edits, refused heads and refused bases.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planRange, resolvePlanRange } from '../../src/preview/range.js';
import type { PreviewResult } from '../../src/preview/changes.js';
import { TestRepo, git, tempDir } from '../support/git.js';

const svc = (desc: string, extra = ''): string =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep ` +
  `infinity\n${extra}\n[Install]\nWantedBy=default.target\n`;
const changes = (p: PreviewResult) => p.changes.map((c) => `${c.change} ${c.unit}`);

const tmp = tempDir();
after(() => tmp.cleanup());

describe('a linear history', () => {
  let repo: TestRepo;
  const c: Record<string, string> = {};
  before(() => {
    repo = TestRepo.init(tmp.dir, 'linear');
    c.root = repo.commit('root', {
      'fleet.yaml': 'path: units\nunits:\n  web@.service: {instances: 2}\n  b.service: loaded\n',
      'units/a.service': svc('a'),
      'units/b.service': svc('b'),
      'units/web@.service': svc('web %i'),
    });
    c.edit = repo.commit('edit a', { 'units/a.service': svc('a', 'Restart=always\n') });
    c.comment = repo.commit('comment b', { 'units/b.service': '# why b exists\n' + svc('b') });
    c.yaml = repo.commit('scale web, launch b', {
      'fleet.yaml': 'path: units\nunits:\n  web@.service: {instances: 3}\n  b.service: launched\n',
    });
  });

  test("'' plans HEAD against its first parent: a new template instance and a state change", async () => {
    const p = await planRange(repo.dir, '');
    assert.equal(p.head, c.yaml);
    assert.equal(p.base, c.comment);
    assert.deepEqual(changes(p), ['state b.service', 'added web@3.service']);
    assert.deepEqual(p.changes[0]!.state, { from: 'loaded', to: 'launched' });
    assert.deepEqual(p.files, []);
    assert.equal(p.refused, false);
  });

  test('REV plans that commit against its parent, with the unit file diff', async () => {
    const p = await planRange(repo.dir, c.edit!.slice(0, 10));
    assert.equal(p.base, c.root);
    assert.deepEqual(changes(p), ['changed a.service']);
    assert.equal(p.files.length, 1);
    assert.equal(p.files[0]!.file, 'units/a.service');
    assert.match(
      p.files[0]!.diff,
      /^--- a\/units\/a\.service\n\+\+\+ b\/units\/a\.service\n[\s\S]*\n\+Restart=always\n/,
    );
  });

  test('a comment-only commit changes no unit and lists the file as no effect', async () => {
    const p = await planRange(repo.dir, 'HEAD~1');
    assert.deepEqual(p.changes, []);
    assert.deepEqual(
      p.files.map((f) => [f.file, f.effect, f.units]),
      [['units/b.service', false, ['b.service']]],
    );
    assert.equal(p.summary.noEffect, 1);
  });

  test('the root commit has no base: everything is added', async () => {
    const p = await planRange(repo.dir, c.root!);
    assert.equal(p.base, null);
    assert.deepEqual(changes(p), ['added a.service', 'added b.service', 'added web@1.service', 'added web@2.service']);
  });

  test('a range compares the merge base with the head; a bare clone gives the same plan', async () => {
    const p = await planRange(repo.dir, `${c.root}..main`);
    assert.equal(p.base, c.root);
    assert.deepEqual(changes(p), ['changed a.service', 'state b.service', 'added web@3.service']);
    assert.deepEqual(
      p.files.map((f) => [f.file, f.effect]),
      [
        ['units/a.service', true],
        ['units/b.service', false],
      ],
    );
    const bare = repo.cloneBare(tmp.dir, 'linear.git');
    const q = await planRange(bare, `${c.root}..main`);
    assert.deepEqual(q, p);
  });

  test('unknown revisions are errors that name them', async () => {
    await assert.rejects(planRange(repo.dir, 'main..nope'), /unknown revision 'nope'/);
  });
});

describe('branches and merges', () => {
  let repo: TestRepo;
  const c: Record<string, string> = {};
  before(() => {
    repo = TestRepo.init(tmp.dir, 'branches');
    c.m1 = repo.commit('m1', { 'old.service': svc('old'), 'x.service': svc('x') });
    repo.branch('feature').checkout('feature');
    repo.commit('f1', { 'new.service': svc('new') });
    c.f2 = repo.remove('old.service');
    repo.checkout('main');
    c.m2 = repo.commit('m2', { 'x.service': svc('x', 'Restart=on-failure\n') });
  });

  test('BASE..HEAD shows what the branch changes, not what main did since (merge base)', async () => {
    const range = await resolvePlanRange(repo.dir, 'main..feature');
    assert.deepEqual(range, { base: c.m1, head: c.f2, baseFrom: 'merge-base' });
    const p = await planRange(repo.dir, 'main..feature');
    assert.deepEqual(changes(p), ['added new.service', 'removed old.service']);
    // Three dots mean the same here.
    assert.deepEqual(changes(await planRange(repo.dir, 'main...feature')), changes(p));
  });

  test('a merge commit plans against its first parent: the branch changes arrive together', async () => {
    const merge = repo.merge('feature');
    const p = await planRange(repo.dir, 'HEAD');
    assert.equal(p.head, merge);
    assert.equal(p.base, c.m2);
    assert.deepEqual(changes(p), ['added new.service', 'removed old.service']);
  });
});

describe('renames', () => {
  test(
    'renaming a unit file renames the unit (removed + added); moving it between directories changes ' + 'nothing',
    async () => {
      const repo = TestRepo.init(tmp.dir, 'renames');
      repo.commit('c1', {
        'units/a.service': svc('a'),
        'units/keep.service': svc('keep'),
        'fleet.yaml': 'path: units\n',
      });
      repo.rename('units/a.service', 'units/b.service');
      assert.deepEqual(changes(await planRange(repo.dir, '')), ['removed a.service', 'added b.service']);
      repo.rename('units/b.service', 'units/sub/b.service');
      const p = await planRange(repo.dir, '');
      assert.deepEqual(p.changes, []);
      assert.deepEqual(p.files, []);
    },
  );
});

describe('refusals', () => {
  test('a head with lint errors is refused: no changes, the errors in diagnostics', async () => {
    const repo = TestRepo.init(tmp.dir, 'refused-head');
    repo.commit('ok', { 'a.service': svc('a') });
    const bad = repo.commit('bad', { 'a.service': svc('a', 'Restart=sometimes\n'), 'b.service': svc('b') });
    const p = await planRange(repo.dir, '');
    assert.equal(p.head, bad);
    assert.equal(p.refused, true);
    assert.deepEqual(p.changes, []);
    const e = p.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(
      e.map((d) => `${d.file}:${d.line}`),
      ['a.service:6'],
    );
  });

  test('a head with a symlinked unit or a YAML bomb is refused', async () => {
    const repo = TestRepo.init(tmp.dir, 'refused-input');
    repo.commit('ok', { 'a.service': svc('a') });
    repo.commit('link', { 'b.service': { symlink: '/etc/passwd' } });
    const p = await planRange(repo.dir, '');
    assert.equal(p.refused, true);
    assert.deepEqual(
      p.diagnostics.filter((d) => d.severity === 'error').map((d) => d.rule),
      ['SRC01'],
    );
    repo.commit('bomb', { 'b.service': null, 'fleet.yaml': 'x: &x [1, 2]\ny: [*x, *x]\n' });
    const q = await planRange(repo.dir, '');
    assert.equal(q.refused, true);
    assert.deepEqual(
      q.diagnostics.filter((d) => d.severity === 'error').map((d) => d.rule),
      ['YML01'],
    );
  });

  test('a refused base is replaced by the last commit before it that deploys, with a warning', async () => {
    const repo = TestRepo.init(tmp.dir, 'refused-base');
    const good = repo.commit('good', { 'a.service': svc('a') });
    const broken = repo.commit('broken', { 'a.service': svc('a', 'Restart=sometimes\n') });
    repo.commit('fixed, and b added', { 'a.service': svc('a', 'Restart=always\n'), 'b.service': svc('b') });
    const p = await planRange(repo.dir, '');
    assert.equal(p.base, good);
    assert.deepEqual(changes(p), ['changed a.service', 'added b.service']);
    const w = p.diagnostics.find((d) => d.rule === 'PLAN01');
    assert.equal(w?.severity, 'warning');
    assert.match(
      w!.message,
      new RegExp(`base ${broken.slice(0, 12)} would be refused.*compared with ${good.slice(0, 12)}`),
    );
  });
});

describe('shallow clones (CI checkouts)', () => {
  test(
    'depth 2 is enough for HEAD; depth 1 is a clear error; a refused base at the boundary is a ' + 'warning',
    async () => {
      const repo = TestRepo.init(tmp.dir, 'deep');
      repo.commit('c1', { 'a.service': svc('a') });
      repo.commit('c2 broken', { 'a.service': svc('a', 'Restart=sometimes\n') });
      repo.commit('c3 fixed', { 'a.service': svc('a'), 'b.service': svc('b') });
      const url = `file://${repo.dir}`;
      git(tmp.dir, ['clone', '-q', '--depth', '2', url, 'shallow2']);
      const p = await planRange(`${tmp.dir}/shallow2`, 'HEAD');
      assert.equal(p.refused, false);
      assert.deepEqual(changes(p), ['added a.service', 'added b.service']);
      assert.match(
        p.diagnostics.find((d) => d.rule === 'PLAN01')!.message,
        /history before it is not in this repository \(a shallow clone\?\)/,
      );

      git(tmp.dir, ['clone', '-q', '--depth', '1', url, 'shallow1']);
      await assert.rejects(
        planRange(`${tmp.dir}/shallow1`, 'HEAD'),
        /base commit [0-9a-f]{12} is not in .*shallow clone\? fetch at least one more commit/,
      );
    },
  );
});

test('--path reads fleet.yaml from a subdirectory', async () => {
  const repo = TestRepo.init(tmp.dir, 'subdir');
  repo.commit('c1', {
    'deploy/fleet.yaml': 'path: units\n',
    'deploy/units/a.service': svc('a'),
    'elsewhere/z.service': svc('z'),
  });
  repo.commit('c2', { 'deploy/units/b.service': svc('b'), 'elsewhere/y.service': svc('y') });
  const p = await planRange(repo.dir, '', { path: 'deploy' });
  assert.deepEqual(changes(p), ['added b.service']);
  assert.equal(p.changes[0]!.source.to, 'deploy/units/b.service');
});
