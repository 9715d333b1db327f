/**
 * The commits a head brings over a base, against `git rev-list HEAD ^BASE` as the oracle, on
 * generated histories with branches and merges: exactly git's set when commit dates never run
 * backwards (increasing, or all equal as scripted commits often are), and never fewer commits
 * than git's when they do.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { commitsBetween } from '../../src/source/commitrange.js';
import { tempDir, TestRepo } from '../support/git.js';
import { rng } from '../support/random.js';

const tmp = tempDir('gitfleet-range-');
after(() => tmp.cleanup());

type Dates = 'increasing' | 'equal' | 'skewed';

/** A history of `n` commits over 4 branches, one in four a merge of two branch tips. */
function history(name: string, n: number, dates: Dates, seed: number): { repo: TestRepo; commits: string[] } {
  const rand = rng(seed);
  const repo = TestRepo.init(tmp.dir, name);
  const tips: (number | null)[] = [null, null, null, null];
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    const b = Math.floor(rand() * tips.length);
    const other = Math.floor(rand() * tips.length);
    const time =
      dates === 'increasing'
        ? 1_600_000_000 + i
        : dates === 'equal'
          ? 1_600_000_000
          : 1_600_000_000 + Math.floor(rand() * n);
    const parents = [tips[b], rand() < 0.25 && other !== b ? tips[other] : null].filter((p): p is number => p !== null);
    const msg = `c${i}`;
    lines.push(`commit refs/heads/b${b}`, `mark :${i}`, `committer T <t@example.invalid> ${time} +0000`);
    lines.push(`data ${msg.length}`, msg);
    if (parents[0] !== undefined) lines.push(`from :${parents[0]}`);
    else lines.push('from 0000000000000000000000000000000000000000');
    if (parents[1] !== undefined) lines.push(`merge :${parents[1]}`);
    lines.push(`M 100644 inline f${i % 7}`, `data ${msg.length}`, msg, '');
    tips[b] = i;
  }
  lines.push('');
  execFileSync('git', ['fast-import', '--quiet', `--export-marks=${join(repo.dir, 'marks')}`], {
    cwd: repo.dir,
    input: lines.join('\n'),
  });
  const marks = execFileSync('cat', [join(repo.dir, 'marks')], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[1]!);
  return { repo, commits: marks };
}

function revList(repo: TestRepo, head: string, base: string): string[] {
  const out = repo.git('rev-list', head, `^${base}`);
  return out ? out.split('\n') : [];
}

describe('commitsBetween', () => {
  for (const dates of ['increasing', 'equal', 'skewed'] as const) {
    test(`matches git rev-list HEAD ^BASE on a branchy history with ${dates} commit dates`, async () => {
      const { repo, commits } = history(`h-${dates}`, 300, dates, 7);
      const rand = rng(11);
      const gitdir = join(repo.dir, '.git');
      let nonEmpty = 0;
      for (let k = 0; k < 40; k++) {
        const head = commits[Math.floor(rand() * commits.length)]!;
        const base = commits[Math.floor(rand() * commits.length)]!;
        const expected = new Set(revList(repo, head, base));
        if (expected.size) nonEmpty++;
        const got = await commitsBetween(gitdir, base, head, {});
        assert.deepEqual(got.missing, []);
        assert.equal(new Set(got.commits).size, got.commits.length, 'no commit twice');
        for (const c of expected) assert.ok(got.commits.includes(c), `${dates}: ${c} (in git's range) is checked`);
        if (dates !== 'skewed') assert.equal(got.commits.length, expected.size, `${dates}: exactly git's range`);
      }
      assert.ok(nonEmpty > 10, 'the pairs cover real ranges');
      assert.ok(Number(repo.git('rev-list', '--merges', '--count', '--all')) > 20, 'the history has merges');
    });
  }

  test('a head that is the base, or an ancestor of it, brings nothing', async () => {
    const { repo, commits } = history('h-anc', 50, 'increasing', 3);
    const gitdir = join(repo.dir, '.git');
    const tip = repo.git('rev-parse', 'b0');
    const older = repo.git('rev-parse', 'b0~3');
    assert.deepEqual((await commitsBetween(gitdir, tip, tip, {})).commits, []);
    assert.deepEqual((await commitsBetween(gitdir, tip, older, {})).commits, []);
    assert.ok(commits.length === 50);
  });
});
