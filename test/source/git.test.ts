/**
 * Reading commits of real git repositories (built with the git CLI in temp dirs) with
 * src/source/git.ts: revisions, history helpers, the untrusted-input checks, bare repos, and a
 * repository served over smart HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import igit from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { firstParent, isDescendant, loadCommit, mergeBase, resolveRev, GitSourceError } from '../../src/source/git.js';
import { readCommitFiles, readCommitSnapshot } from '../../src/source/commitfiles.js';
import { TestRepo, gitAsync, tempDir } from '../support/git.js';
import { decodeUnitFiles } from '../../src/unit/body.js';
import { sha256 } from '../../src/util/hash.js';
import { startGitServer, type GitServer } from '../support/gitserver.js';

const svc = (desc: string, extra = ''): string =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep ` +
  `infinity\n${extra}\n[Install]\nWantedBy=default.target\n`;

const tmp = tempDir();
after(() => tmp.cleanup());

describe('revisions and history', () => {
  let repo: TestRepo;
  const c: Record<string, string> = {};
  before(() => {
    repo = TestRepo.init(tmp.dir, 'history');
    c.one = repo.commit('one', { 'a.service': svc('a') });
    c.two = repo.commit('two', { 'b.service': svc('b') });
    repo.tag('v1').tag('v1-annotated', 'HEAD', true);
    repo.branch('feature').checkout('feature');
    c.feat = repo.commit('feature', { 'c.service': svc('c') });
    repo.checkout('main');
    c.three = repo.commit('three', { 'd.service': svc('d') });
    c.merge = repo.merge('feature');
  });

  test('resolves branches, tags (annotated peeled), full and short shas, HEAD and ~/^ steps', async () => {
    assert.equal(await resolveRev(repo.dir, 'main'), c.merge);
    assert.equal(await resolveRev(repo.dir, 'HEAD'), c.merge);
    assert.equal(await resolveRev(repo.dir, 'feature'), c.feat);
    assert.equal(await resolveRev(repo.dir, 'v1'), c.two);
    assert.equal(await resolveRev(repo.dir, 'v1-annotated'), c.two);
    assert.equal(await resolveRev(repo.dir, 'refs/tags/v1-annotated'), c.two);
    assert.equal(await resolveRev(repo.dir, c.one!), c.one);
    assert.equal(await resolveRev(repo.dir, c.one!.slice(0, 8)), c.one);
    assert.equal(await resolveRev(repo.dir, 'HEAD~1'), c.three);
    assert.equal(await resolveRev(repo.dir, 'HEAD^2'), c.feat);
    assert.equal(await resolveRev(repo.dir, 'HEAD~2'), c.two);
    assert.equal(await resolveRev(repo.dir, 'main^^'), c.two);
  });

  test('unknown revisions and steps past the root are GitSourceErrors naming the revision', async () => {
    await assert.rejects(
      resolveRev(repo.dir, 'no-such-branch'),
      (e: Error) => e instanceof GitSourceError && /unknown revision 'no-such-branch'/.test(e.message),
    );
    await assert.rejects(
      resolveRev(repo.dir, `${c.one}~1`),
      (e: Error) => e instanceof GitSourceError && /has no parent/.test(e.message),
    );
    await assert.rejects(
      resolveRev(join(tmp.dir, 'nowhere'), 'HEAD'),
      (e: Error) => e instanceof GitSourceError && /not a git repository/.test(e.message),
    );
  });

  test('firstParent, mergeBase and isDescendant follow the real history', async () => {
    assert.equal(await firstParent(repo.dir, c.merge!), c.three);
    assert.equal(await firstParent(repo.dir, c.one!), null);
    assert.equal(await mergeBase(repo.dir, c.three!, c.feat!), c.two);
    assert.equal(await mergeBase(repo.dir, c.merge!, c.feat!), c.feat);
    assert.equal(await isDescendant(repo.dir, c.merge!, c.feat!), true);
    assert.equal(await isDescendant(repo.dir, c.merge!, c.merge!), true);
    assert.equal(await isDescendant(repo.dir, c.feat!, c.three!), false);
    assert.equal(await isDescendant(repo.dir, c.one!, c.two!), false);
    // The force-push guard's other case: a commit (or an ancestor) the repository does not have.
    assert.equal(await isDescendant(repo.dir, c.merge!, 'f'.repeat(40)), false);
    assert.equal(await isDescendant(repo.dir, 'f'.repeat(40), c.one!), false);
  });

  test('a bare clone answers the same, packed or not', async () => {
    repo.gc();
    const bare = repo.cloneBare(tmp.dir, 'history.git');
    assert.equal(await resolveRev(bare, 'main'), c.merge);
    assert.equal(await resolveRev(bare, 'v1-annotated'), c.two);
    assert.equal(await mergeBase(bare, c.three!, c.feat!), c.two);
    const files = await readCommitFiles(bare, c.merge!, '', {});
    assert.deepEqual(
      files.files.map((f) => f.path),
      ['a.service', 'b.service', 'c.service', 'd.service'],
    );
  });
});

describe('reading a commit', () => {
  test('reads only unit-suffixed files under the path, recursively, as bytes', async () => {
    const repo = TestRepo.init(tmp.dir, 'subpath');
    const sha = repo.commit('c', {
      'README.md': '# hi',
      'units/a.service': svc('a'),
      'units/web/b.socket': '[Socket]\nListenStream=80\n',
      'units/notes.txt': 'x',
      'units/a.service.d/override.conf': '[Service]\n',
      'units/a.service.d/README': 'what the override is for',
      'units/a.service.d/x.service': svc('not a unit here'),
      'units/service.d/10-all.conf': '[Service]\nNice=1\n',
      'other/c.service': svc('c'),
    });
    const r = await readCommitFiles(repo.dir, sha, 'units', {});
    // Drop-ins are read beside the unit files, by the directories systemd reads them from; what
    // systemd would not read from a drop-in directory is said (DRP02), never taken as a unit.
    assert.deepEqual(
      r.diagnostics.map((d) => [d.rule, d.severity, d.file]),
      [
        ['DRP02', 'warning', 'units/a.service.d/README'],
        ['DRP02', 'warning', 'units/a.service.d/x.service'],
      ],
    );
    assert.deepEqual(
      r.dropIns.map((f) => [f.path, f.name]),
      [
        ['units/a.service.d/override.conf', 'override.conf'],
        ['units/service.d/10-all.conf', '10-all.conf'],
      ],
    );
    assert.deepEqual(
      r.files.map((f) => [f.path, f.name]),
      [
        ['units/a.service', 'a.service'],
        ['units/web/b.socket', 'b.socket'],
      ],
    );
    assert.equal(new TextDecoder().decode(r.files[0]!.content), svc('a'));
  });

  test('symlinks are never followed: a unit symlink is SRC01 and rejected; other links are ignored', async () => {
    const repo = TestRepo.init(tmp.dir, 'links');
    fs.writeFileSync(join(tmp.dir, 'secret.service'), svc('outside the repo'));
    const sha = repo.commit('links', {
      'a.service': svc('a'),
      'evil.service': { symlink: join(tmp.dir, 'secret.service') },
      'rel.service': { symlink: 'a.service' },
      docs: { symlink: '/etc' },
    });
    const r = await readCommitFiles(repo.dir, sha, '', {});
    assert.deepEqual(
      r.files.map((f) => f.path),
      ['a.service'],
    );
    assert.deepEqual(r.rejected, ['evil.service', 'rel.service']);
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.rule} ${d.severity} ${d.file}`),
      ['SRC01 error evil.service', 'SRC01 error rel.service'],
    );
    assert.match(r.diagnostics[0]!.message, /symbolic link; links are never followed/);
  });

  test('binary, oversized and non-UTF-8 unit files are refused with their own findings', async () => {
    const repo = TestRepo.init(tmp.dir, 'badfiles');
    const sha = repo.commit('bad', {
      'ok.service': svc('ok'),
      'bin.service': Buffer.from([0x5b, 0x55, 0x00, 0x01, 0x02]),
      'big.service': '[Unit]\nDescription=' + 'x'.repeat(1024 * 1024) + '\n',
      'latin1.service': Buffer.concat([Buffer.from('[Unit]\nDescription=caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
    });
    const r = await readCommitFiles(repo.dir, sha, '', {});
    assert.deepEqual(
      r.files.map((f) => f.path),
      ['ok.service'],
    );
    assert.deepEqual(r.diagnostics.map((d) => `${d.rule} ${d.file}`).sort(), [
      'SRC03 big.service',
      'SRC04 bin.service',
      'SYN04 latin1.service',
    ]);
    assert.ok(r.diagnostics.every((d) => d.severity === 'error'));
  });

  test('submodules are not read: a warning, or an error when named like a unit', async () => {
    const repo = TestRepo.init(tmp.dir, 'submod');
    repo.commit('base', { 'a.service': svc('a') });
    repo.addGitlink('vendor', 'a'.repeat(40));
    const sha = repo.addGitlink('sub.service', 'b'.repeat(40));
    const r = await readCommitFiles(repo.dir, sha, '', {});
    assert.deepEqual(
      r.files.map((f) => f.path),
      ['a.service'],
    );
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.rule} ${d.severity} ${d.file}`),
      ['SRC02 error sub.service', 'SRC02 warning vendor'],
    );
  });

  test('a unit directory that is missing, a file or a symlink is SRC05', async () => {
    const repo = TestRepo.init(tmp.dir, 'nodir');
    const sha = repo.commit('c', { 'a.service': svc('a'), file: 'x', link: { symlink: '.' } });
    for (const [p, re] of [
      ['units', /does not exist/],
      ['file', /is not a directory/],
      ['link', /symbolic link/],
    ] as const) {
      const r = await readCommitFiles(repo.dir, sha, p, {});
      assert.deepEqual(r.files, []);
      assert.equal(r.diagnostics[0]?.rule, 'SRC05');
      assert.match(r.diagnostics[0]!.message, re);
    }
  });

  test('readCommitSnapshot reads fleet.yaml at --path and units under its path', async () => {
    const repo = TestRepo.init(tmp.dir, 'snap');
    const sha = repo.commit('c', {
      'deploy/fleet.yaml': 'path: units\nunits:\n  a.service: loaded\n',
      'deploy/units/a.service': svc('a'),
      'units/b.service': svc('not this one'),
    });
    const snap = await readCommitSnapshot(repo.dir, sha, { path: 'deploy' });
    assert.equal(snap.base, 'deploy');
    assert.equal(snap.fleetYaml?.path, 'deploy/fleet.yaml');
    // Parsed once, by the reader (it needs `path:`), and handed on with the bytes.
    assert.equal(snap.fleetYamlResult?.spec?.path, 'deploy/units');
    assert.deepEqual(
      snap.files.map((f) => f.path),
      ['deploy/units/a.service'],
    );
    const d = await loadCommit(repo.dir, sha, 'deploy');
    assert.deepEqual(
      d.desired?.units.map((u) => [u.name, u.state, u.source]),
      [['a.service', 'loaded', 'deploy/units/a.service']],
    );
  });

  test('a fleet.yaml that is a symlink refuses the commit instead of falling back to defaults', async () => {
    const repo = TestRepo.init(tmp.dir, 'fylink');
    fs.writeFileSync(join(tmp.dir, 'real-fleet.yaml'), 'allowEmpty: true\n');
    const sha = repo.commit('c', {
      'a.service': svc('a'),
      'fleet.yaml': { symlink: join(tmp.dir, 'real-fleet.yaml') },
    });
    const d = await loadCommit(repo.dir, sha);
    assert.equal(d.desired, null);
    assert.deepEqual(
      d.diagnostics.filter((x) => x.severity === 'error').map((x) => `${x.rule} ${x.file}`),
      ['SRC01 fleet.yaml'],
    );
  });

  test('a commit with a YAML bomb, a symlinked or a binary unit yields diagnostics and no desired state', async () => {
    const repo = TestRepo.init(tmp.dir, 'refused');
    const good = repo.commit('good', { 'a.service': svc('a') });
    assert.ok((await loadCommit(repo.dir, good)).desired);
    const bomb = repo.commit('bomb', { 'fleet.yaml': 'a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nunits: *b\n' });
    const r1 = await loadCommit(repo.dir, bomb);
    assert.equal(r1.desired, null);
    assert.equal(r1.diagnostics[0]!.rule, 'YML01');
    assert.equal(r1.diagnostics[0]!.line, 1);
    repo.commit('no bomb', { 'fleet.yaml': null });
    const link = repo.commit('link', { 'b.service': { symlink: 'a.service' } });
    assert.equal((await loadCommit(repo.dir, link)).desired, null);
    repo.commit('no link', { 'b.service': null });
    const bin = repo.commit('binary', { 'c.service': Buffer.from([0, 1, 2, 3]) });
    const r3 = await loadCommit(repo.dir, bin);
    assert.equal(r3.desired, null);
    assert.deepEqual(
      r3.diagnostics.map((d) => d.rule),
      ['SRC04'],
    );
  });

  test('a file name with bad characters is NAM01; a name starting with .. is just a name', async () => {
    const repo = TestRepo.init(tmp.dir, 'names');
    const dots = repo.commit('dots', { '..x.service': svc('x') });
    assert.deepEqual(
      (await loadCommit(repo.dir, dots)).desired?.units.map((u) => u.name),
      ['..x.service'],
    );
    const bad = repo.commit('bad', { 'my app.service': svc('y'), 'tab\there.service': svc('z') });
    const r = await loadCommit(repo.dir, bad);
    assert.equal(r.desired, null);
    assert.deepEqual(
      r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.rule} ${d.file}`),
      ['NAM01 my app.service', 'NAM01 tab\there.service'],
    );
  });
});

describe('a repository served over smart HTTP', () => {
  let server: GitServer;
  let origin: TestRepo;
  before(async () => {
    origin = TestRepo.init(tmp.dir, 'origin-src');
    origin.commit('one', { 'fleet.yaml': 'units:\n  web@.service: {instances: 2}\n', 'web@.service': svc('web %i') });
    origin.cloneBare(join(tmp.dir, 'served'), 'units.git');
    server = await startGitServer(join(tmp.dir, 'served'));
  });
  after(async () => {
    await server.stop();
  });

  test('isomorphic-git clones it and the desired state of the clone is read; a push is then fetched', async () => {
    const dir = join(tmp.dir, 'clone');
    await igit.clone({ fs, http, dir, url: `${server.url}/units.git`, singleBranch: true });
    const head1 = await resolveRev(dir, 'HEAD');
    assert.equal(head1, origin.head());
    const d1 = await loadCommit(dir, head1);
    assert.deepEqual(
      d1.desired?.units.map((u) => u.name),
      ['web@1.service', 'web@2.service'],
    );

    // Someone pushes a change with the git CLI (async: the server runs in this process).
    const work = join(tmp.dir, 'pusher');
    await gitAsync(tmp.dir, ['clone', '-q', `${server.url}/units.git`, 'pusher']);
    const pusher = new TestRepo(work);
    const head2 = pusher.commit('three instances', { 'fleet.yaml': 'units:\n  web@.service: {instances: 3}\n' });
    await gitAsync(work, ['push', '-q', 'origin', 'main']);

    const f = await igit.fetch({ fs, http, dir, url: `${server.url}/units.git`, ref: 'main', singleBranch: true });
    assert.equal(f.fetchHead, head2);
    const d2 = await loadCommit(dir, f.fetchHead!, undefined, {});
    assert.deepEqual(
      d2.desired?.units.map((u) => u.name),
      ['web@1.service', 'web@2.service', 'web@3.service'],
    );
    assert.equal(await isDescendant(dir, head2, head1), true);
    assert.ok(
      server.requests.some((r) => r.endsWith('/git-receive-pack')),
      'the push went through the server',
    );
  });
});

test('a committed drop-in goes with its unit: in its body and hash, and among the files read', async () => {
  const repo = TestRepo.init(tmp.dir, 'dropin');
  const files = {
    'fleet.yaml': 'units:\n  web@.service: { instances: 2 }\n',
    'web@.service': svc('w'),
    'web@.service.d/10-env.conf': '# the region\n[Service]\nEnvironment=X=1\n',
    'b.service': svc('b'),
  };
  const sha = repo.commit('with a drop-in', files);
  const r = await loadCommit(repo.dir, sha);
  assert.deepEqual(r.diagnostics, []);
  const web = r.desired!.units.find((u) => u.name === 'web@1.service')!;
  assert.deepEqual(decodeUnitFiles(web.content), {
    unit: svc('w'),
    dropIns: [{ name: '10-env.conf', text: '[Service]\nEnvironment=X=1\n' }],
  });
  assert.equal(web.hash, sha256(web.content));
  assert.deepEqual(web.dropIns, ['web@.service.d/10-env.conf']);
  assert.ok(
    r.files.some((f) => f.path === 'web@.service.d/10-env.conf'),
    'plan sees the drop-in as committed',
  );
  const b = r.desired!.units.find((u) => u.name === 'b.service')!;
  assert.equal(b.content, svc('b'), 'a unit without drop-ins is its unit file, as before');

  // A symlinked drop-in directory is never followed.
  const linked = repo.commit('linked drop-ins', { 'b.service.d': { symlink: 'web@.service.d' } });
  const l = await loadCommit(repo.dir, linked);
  assert.equal(l.desired, null);
  assert.deepEqual(
    l.diagnostics.map((d) => [d.rule, d.file]),
    [['SRC01', 'b.service.d']],
  );
});
