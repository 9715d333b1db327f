/**
 * The controller following a linked worktree (`git worktree add`), as `gitfleet up` run in one
 * does: the branch is the one the worktree's own HEAD names, and a commit made there (its ref lives
 * in the main repository's git dir) is seen by the ref watch and applied. Real git; the store is
 * the embedded one `up` runs on.
 */
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCommitOrRefuse } from '../../src/source/git.js';
import assert from 'node:assert/strict';
import { readRoot } from '../../src/store/readers.js';
import { Controller, type PassOutcome } from '../../src/controller/controller.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory.js';
import { tempDir, TestRepo } from '../support/git.js';

const tmp = tempDir('gitfleet-worktree-');
after(() => tmp.cleanup());
const unit = (d: string) => `[Unit]\nDescription=${d}\n[Service]\nExecStart=/bin/sleep infinity\n`;

test('a linked worktree: its own branch is followed and its commits are applied', async () => {
  const main = TestRepo.init(tmp.dir, 'main');
  main.commit('one', { 'a.service': unit('a') });
  const wtDir = join(tmp.dir, 'linked');
  main.git('worktree', 'add', '-q', '-b', 'side', wtDir);
  const wt = new TestRepo(wtDir);
  const first = wt.commit('side one', { 'b.service': unit('b') });
  main.commit('main moves on', { 'c.service': unit('c') });

  const store = new MemoryStore({ prefix: '/wt/' });
  const outcomes: PassOutcome[] = [];
  const c = new Controller({
    store,
    repo: wtDir,
    stateDir: join(tmp.dir, 'state'),
    load: loadCommitOrRefuse,
    log: silentLogger,
  });
  c.on('outcome', (o: PassOutcome) => outcomes.push(o));
  try {
    await c.start();
    await c.idle();
    assert.equal((await readRoot(store)).root?.commit, first);
    const second = wt.commit('side two', { 'd.service': unit('d') });
    const deadline = Date.now() + 15_000;
    while ((await readRoot(store)).root?.commit !== second) {
      if (Date.now() > deadline) throw new Error(`not applied: ${JSON.stringify(outcomes)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(
      outcomes.every((o) => o.kind === 'applied'),
      JSON.stringify(outcomes),
    );
  } finally {
    await c.stop();
    await store.close();
  }
});
