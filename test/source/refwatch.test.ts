/**
 * The ref watch a controller follows a local repository with, against real `git push`es: every
 * push is seen (the watch it replaced missed about one in twenty, which then waited for the
 * 60 s resync), and so are a branch under a directory made after the watch started, `git
 * pack-refs` and HEAD moving to another branch.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RefWatch, watchRefs } from '../../src/source/refwatch.js';

describe('watchRefs on a bare repository pushed to by git', () => {
  let tmp: string;
  let bare: string;
  let work: string;
  let watch: RefWatch;
  const seen: string[] = [];
  const errors: Error[] = [];
  const git = (cwd: string, ...argv: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...argv], { cwd, stdio: 'pipe' });
  const push = (refspec: string) =>
    new Promise<void>((resolve, reject) =>
      execFile('git', ['push', '-q', bare, refspec], { cwd: work }, (e) => (e ? reject(e) : resolve())),
    );
  /** Resolves once an event arrives after `mark`, or fails after 5 s naming `what`. */
  const eventAfter = async (mark: number, what: string) => {
    const deadline = Date.now() + 5_000;
    while (seen.length === mark) {
      if (Date.now() > deadline) throw new Error(`no ref event for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'gitfleet-refwatch-'));
    bare = join(tmp, 'b.git');
    work = join(tmp, 'w');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    execFileSync('git', ['init', '-q', '-b', 'main', work]);
    git(work, 'commit', '-q', '--allow-empty', '-m', 'first');
    await push('main:main');
    watch = watchRefs(
      { gitdir: bare, headGitdir: bare },
      (p) => seen.push(p),
      (e) => errors.push(e),
    );
    await watch.ready;
  });
  after(async () => {
    await watch?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('every one of 150 pushes in a row is seen, with no lock file reported', async () => {
    for (let i = 0; i < 150; i++) {
      git(work, 'commit', '-q', '--allow-empty', '-m', `c${i}`);
      const mark = seen.length;
      await push('main:main');
      await eventAfter(mark, `push ${i + 1}`);
    }
    assert.ok(
      seen.every((p) => !p.endsWith('.lock')),
      seen.filter((p) => p.endsWith('.lock')).join(', '),
    );
    assert.ok(seen.some((p) => p === join(bare, 'refs', 'heads', 'main')));
    assert.deepEqual(errors, []);
  });

  test('a branch in a directory created after the watch started, then pushed again', async () => {
    let mark = seen.length;
    await push('main:team/web');
    await eventAfter(mark, 'the first push of team/web');
    git(work, 'commit', '-q', '--allow-empty', '-m', 'team');
    mark = seen.length;
    await push('main:team/web');
    await eventAfter(mark, 'the second push of team/web (a ref file inside refs/heads/team)');
    assert.ok(seen.slice(mark).includes(join(bare, 'refs', 'heads', 'team', 'web')));
  });

  test('git pack-refs (the loose ref goes, packed-refs changes) and HEAD set to another branch', async () => {
    let mark = seen.length;
    git(bare, 'pack-refs', '--all');
    await eventAfter(mark, 'pack-refs');
    assert.ok(seen.slice(mark).includes(join(bare, 'packed-refs')));
    mark = seen.length;
    git(bare, 'symbolic-ref', 'HEAD', 'refs/heads/team/web');
    await eventAfter(mark, 'HEAD moved');
    assert.ok(seen.slice(mark).includes(join(bare, 'HEAD')));
  });

  test('after close, pushes are no longer reported', async () => {
    await watch.close();
    const mark = seen.length;
    git(work, 'commit', '-q', '--allow-empty', '-m', 'after close');
    await push('main:main');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(seen.length, mark);
  });
});
