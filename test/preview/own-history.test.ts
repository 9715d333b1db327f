/**
 * `gitfleet plan` over gitfleet's own repository (this checkout, whatever git layout it has: a
 * clone or a linked worktree): its history holds the lint corpus, escaped unit names included
 * (`test/unit/lint/corpus/srv-my\x2ddata.mount`), which isomorphic-git's tree parser refuses.
 */
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gitfleet, noStack } from '../support/cli.js';

const depth = Number(execFileSync('git', ['rev-list', '--count', 'HEAD'], { encoding: 'utf8' }).trim());

test(`plan HEAD~${Math.min(100, depth - 1)}..HEAD of gitfleet's own history, and of its lint corpus`, async () => {
  const back = Math.min(100, depth - 1);
  const r = await gitfleet(['plan', `HEAD~${back}..HEAD`, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.equal(plan.head, execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim());
  assert.equal(plan.refused, false);
  // The corpus is a unit directory full of deliberate mistakes: refused with findings, read in full.
  const corpus = await gitfleet(['plan', '--path', 'test/unit/lint/corpus', '--format', 'json']);
  assert.equal(corpus.code, 1, corpus.stderr);
  assert.doesNotMatch(corpus.stderr, /unsafe/);
  noStack(corpus.stderr);
  const files = new Set((JSON.parse(corpus.stdout).diagnostics as { file: string }[]).map((d) => d.file));
  assert.ok(files.size > 20, `findings in ${files.size} files`);
});
