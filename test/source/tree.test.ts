/**
 * Trees read by gitfleet's own parser (src/source/tree.ts) from real repositories built with the
 * git CLI: escaped unit names, which isomorphic-git's tree parser refuses, read loose and packed;
 * a malformed tree is an error that refuses the commit (SRC08) instead of being retried; a linked
 * worktree (`git worktree add`) reads like its main repository.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCommitFiles } from '../../src/source/commitfiles.js';
import { loadCommitDesired, loadCommitOrRefuse, resolveRev } from '../../src/source/git.js';
import { MalformedTreeError, parseTree } from '../../src/source/tree.js';
import { TestRepo, git, tempDir } from '../support/git.js';

const svc = (d: string) => `[Unit]\nDescription=${d}\n[Service]\nExecStart=/bin/sleep infinity\n`;
const MOUNT = '[Mount]\nWhat=/dev/disk/by-label/data\nWhere=/srv/my-data\nType=ext4\n';
const tmp = tempDir();
after(() => tmp.cleanup());

describe('escaped unit names', () => {
  const names = ['srv-my\\x2ddata.mount', 'dev-disk-by\\x2dlabel-data.device', 'my\\x2dapp.service'];

  for (const packed of [false, true]) {
    test(`are read from ${packed ? 'a packed' : 'a loose'} repository, under a subdirectory too`, async () => {
      const repo = TestRepo.init(tmp.dir, `escaped-${packed}`);
      const sha = repo.commit('escaped', {
        'fleet.yaml': 'path: units\nunits:\n  dev-disk-by\\x2dlabel-data.device: loaded\n',
        'units/srv-my\\x2ddata.mount': MOUNT,
        'units/dev-disk-by\\x2dlabel-data.device': '[Unit]\nDescription=the data disk\n',
        'units/my\\x2dapp.service': svc('app'),
      });
      if (packed) repo.gc();
      // The independent tool agrees on what is in the commit.
      const listed = git(repo.dir, ['ls-tree', '-z', '--name-only', 'HEAD', 'units/']);
      assert.deepEqual(listed.split('\0').filter(Boolean).sort(), names.map((n) => `units/${n}`).sort());
      const read = await readCommitFiles(repo.dir, sha, 'units');
      assert.deepEqual(read.files.map((f) => f.name).sort(), [...names].sort());
      const r = await loadCommitDesired(repo.dir, sha);
      assert.deepEqual(
        r.diagnostics.filter((d) => d.severity === 'error'),
        [],
      );
      assert.deepEqual(r.desired?.units.map((u) => [u.name, u.state]).sort(), [
        ['dev-disk-by\\x2dlabel-data.device', 'loaded'],
        ['my\\x2dapp.service', 'launched'],
        ['srv-my\\x2ddata.mount', 'launched'],
      ]);
    });
  }

  test('a name systemd refuses is NAM01, not a crash', async () => {
    const repo = TestRepo.init(tmp.dir, 'refused-names');
    const sha = repo.commit('bad', { 'sp ace\\x2d.service': svc('x'), 'ok.service': svc('ok') });
    const r = await loadCommitDesired(repo.dir, sha);
    assert.equal(r.desired, null);
    assert.deepEqual(
      r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.rule} ${d.file}`),
      ['NAM01 sp ace\\x2d.service'],
    );
  });
});

describe('a tree that does not parse', () => {
  test('parseTree names the tree; the controller loader turns it into an SRC08 refusal', async () => {
    assert.throws(() => parseTree(Buffer.from('100644 a.service'), 'abc'), MalformedTreeError);
    assert.throws(() => parseTree(Buffer.from('10x644 a\0' + 'x'.repeat(20)), 'abc'), /mode '10x644'/);
    const repo = TestRepo.init(tmp.dir, 'malformed');
    repo.commit('fine', { 'a.service': svc('a') });
    const junk = join(tmp.dir, 'junk');
    writeFileSync(junk, 'not a tree at all');
    const tree = git(repo.dir, ['hash-object', '-w', '-t', 'tree', '--literally', junk]);
    const bad = git(repo.dir, ['commit-tree', tree, '-p', 'HEAD', '-m', 'corrupt']);
    const r = await loadCommitOrRefuse(repo.dir, bad, undefined);
    assert.equal(r.desired, null);
    assert.deepEqual(
      r.diagnostics.map((d) => d.rule),
      ['SRC08'],
    );
    assert.match(r.diagnostics[0]!.message, new RegExp(`cannot read commit ${bad.slice(0, 12)}: tree ${tree}`));
  });
});

describe('a linked worktree', () => {
  test('HEAD is the worktree own, objects and branches come from the main repository', async () => {
    const main = TestRepo.init(tmp.dir, 'wt-main');
    const first = main.commit('one', { 'a.service': svc('a') });
    main.commit('two', { 'b.service': svc('b') });
    const wtDir = join(tmp.dir, 'wt-linked');
    main.git('worktree', 'add', '-q', '-b', 'side', wtDir, first);
    const wt = new TestRepo(wtDir);
    const side = wt.commit('side', { 'c.service': svc('c') });
    assert.equal(await resolveRev(wtDir, 'HEAD'), side);
    assert.equal(await resolveRev(wtDir, 'HEAD~1'), first);
    assert.equal(await resolveRev(wtDir, 'main'), main.head());
    assert.equal(await resolveRev(main.dir, 'side'), side);
    const r = await loadCommitDesired(wtDir, side);
    assert.deepEqual(
      r.desired?.units.map((u) => u.name),
      ['a.service', 'c.service'],
    );
  });
});
