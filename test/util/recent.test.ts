import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentSet } from '../../src/util/recent.js';

test('RecentSet keeps its newest entries: past max, the older half goes', () => {
  const s = new RecentSet<number>(4);
  for (let i = 1; i <= 4; i++) s.add(i);
  assert.ok(s.has(1) && s.has(4), 'up to max, everything is kept');
  s.add(5);
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((i) => s.has(i)),
    [false, false, false, true, true],
  );
  s.clear();
  assert.equal(s.has(5), false);
});
