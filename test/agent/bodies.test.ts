// Unit bodies from the in-memory store, and what the planner gets for each desired unit.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { BodyCache } from '../../src/agent/bodies.js';
import { unitContent } from '../../src/agent/content.js';
import type { DesiredUnit } from '../../src/agent/desired-watch.js';
import { UnitDir } from '../../src/agent/unit-dir.js';
import { bodyKey } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { sha256 } from '../../src/util/hash.js';

async function setup(t: TestContext) {
  const store = new MemoryStore();
  t.after(() => store.close());
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bodies-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const unitDir = new UnitDir(dir);
  await unitDir.scan();
  return { store, unitDir, dir, bodies: new BodyCache(store) };
}

const ONESHOT = '[Service]\nType=oneshot\nExecStart=/bin/true\n';
const SLEEP = '[Service]\nExecStart=/bin/sleep 100\n';
const want = (text: string, state: DesiredUnit['state'] = 'launched'): DesiredUnit => ({ hash: sha256(text), state });

test('fetches bodies only for units whose file has another hash; facts come with them', async (t) => {
  const { store, unitDir, bodies } = await setup(t);
  await store.put(bodyKey(sha256(ONESHOT)), ONESHOT);
  await store.put(bodyKey(sha256(SLEEP)), SLEEP);
  await unitDir.write('on-disk.service', unitContent(SLEEP));
  const before = store.stats().ranges;
  const r = await bodies.resolve(
    new Map([
      ['job.service', want(ONESHOT)],
      ['on-disk.service', want(SLEEP)],
    ]),
    unitDir,
  );
  assert.equal(store.stats().ranges - before, 1, 'one body read: the other is on disk');
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(r.missing, []);
  assert.deepEqual(Object.fromEntries(r.desired), {
    'job.service': { hash: sha256(ONESHOT), state: 'launched', runsToCompletion: true },
    'on-disk.service': { hash: sha256(SLEEP), state: 'launched', runsToCompletion: false },
  });
  assert.equal(bodies.get(sha256(ONESHOT))?.text, ONESHOT);
  assert.equal(bodies.get(sha256(SLEEP)), undefined);

  // Kept while named: no second read.
  const again = store.stats().ranges;
  await bodies.resolve(new Map([['job.service', want(ONESHOT)]]), unitDir);
  assert.equal(store.stats().ranges, again);
  // Forgotten once nothing names it.
  await bodies.resolve(new Map(), unitDir);
  assert.equal(bodies.get(sha256(ONESHOT)), undefined);
});

test('a oneshot whose file is on disk (after a restart, no body fetched) still runs to completion', async (t) => {
  const { unitDir, dir, bodies } = await setup(t);
  writeFileSync(join(dir, 'job.service'), ONESHOT);
  await unitDir.scan();
  const r = await bodies.resolve(new Map([['job.service', want(ONESHOT)]]), unitDir);
  assert.deepEqual(r.desired.get('job.service'), { hash: sha256(ONESHOT), state: 'launched', runsToCompletion: true });
});

test('a body that is absent or does not hash to its key is missing: its unit is skipped, left as it is', async (t) => {
  const { store, unitDir, bodies } = await setup(t);
  await store.put(bodyKey(sha256(ONESHOT)), 'tampered');
  await unitDir.write('old.service', unitContent(SLEEP));
  const r = await bodies.resolve(
    new Map([
      ['job.service', want(ONESHOT)],
      ['old.service', want(ONESHOT, 'loaded')], // changed content, new body not there
      ['absent.service', want('[Service]\nExecStart=/bin/false\n')],
    ]),
    unitDir,
  );
  assert.deepEqual(r.desired, new Map());
  assert.deepEqual(r.skipped.sort(), ['absent.service', 'job.service', 'old.service']);
  assert.deepEqual(r.missing.sort(), [sha256('[Service]\nExecStart=/bin/false\n'), sha256(ONESHOT)].sort());
  assert.equal(bodies.get(sha256(ONESHOT)), undefined);
});
