/**
 * applyDesired on the in-memory store (which refuses what etcd refuses: more than 128 operations
 * or 1.5 MiB per request): how a commit reaches the store when it is large, or when the store has
 * lost part of the commit in force.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDesired } from '../../src/controller/apply.js';
import type { DesiredState } from '../../src/desired/types.js';
import { retryKind } from '../../src/errors.js';
import { BODIES_PREFIX, DESIRED_GLOBALS, DESIRED_ROOT, bodyKey, scheduleKey, shardKey } from '../../src/store/keys.js';
import { MemoryBackend, MemoryStore } from '../../src/store/memory.js';
import { readDesiredEntries, readRoot } from '../../src/store/readers.js';
import { decodeDesiredGlobals, MalformedRecordError } from '../../src/store/records.js';
import { sha256 } from '../../src/util/hash.js';

function desired(commit: string, bodies: Record<string, string>): DesiredState {
  return {
    commit,
    units: Object.entries(bodies).map(([name, content]) => ({
      name,
      content,
      hash: sha256(content),
      state: 'launched' as const,
      constraints: { machineMetadata: {}, machineOf: [], conflicts: [], global: false, replaces: [] },
      source: name,
    })),
  };
}

const body = (name: string, size = 0) => `[Service]\nExecStart=/bin/sleep infinity\n# ${name} ${'x'.repeat(size)}\n`;

test('a commit whose bodies exceed one request is written in several, then applies atomically', async () => {
  // 40 bodies of 40 KiB: 1.6 MiB in all, more than one request of this store (256 KiB) takes.
  const store = new MemoryStore({ backend: new MemoryBackend({ maxRequestBytes: 256 * 1024 }) });
  const units: Record<string, string> = {};
  for (let i = 0; i < 40; i++) units[`u${i}.service`] = body(`u${i}`, 40 * 1024);
  const before = store.stats().txns;
  const r = await applyDesired(store, desired('c1', units), { requestBytes: 200 * 1024 });
  assert.equal(r.result, 'applied');
  assert.ok(store.stats().txns - before >= 9, `bodies went in ${store.stats().txns - before} transactions`);
  const { root } = await readRoot(store);
  assert.equal(root?.commit, 'c1');
  assert.equal((await store.range(BODIES_PREFIX, { keysOnly: true })).kvs.length, 40);
  await store.close();
});

test('a shard of the commit in force that the store lost is written again by the next commit', async () => {
  const store = new MemoryStore();
  const units = { 'a.service': body('a'), 'b.service': body('b'), 'c.service': body('c') };
  assert.equal((await applyDesired(store, desired('c1', units))).result, 'applied');
  const { root: r1 } = await readRoot(store);
  const lost = Object.values(r1!.shards)[0]!;
  await store.delete(shardKey(lost));

  // c2 changes nothing but the commit: every shard of c1, the lost one too, is c2's as well.
  assert.equal((await applyDesired(store, desired('c2', units))).result, 'applied');
  const { root: r2 } = await readRoot(store);
  assert.ok(Object.values(r2!.shards).includes(lost));
  assert.deepEqual(
    (await readDesiredEntries(store, r2!)).map((u) => u.name),
    ['a.service', 'b.service', 'c.service'],
  );
  await store.close();
});

test('a malformed root stops the apply with an error naming the key, and changes nothing', async () => {
  const store = new MemoryStore();
  await store.put(DESIRED_ROOT, '{"commit": 7}');
  await assert.rejects(applyDesired(store, desired('c1', { 'a.service': body('a') })), (e: Error) => {
    assert.ok(e instanceof MalformedRecordError, `got ${e.name}`);
    assert.equal(retryKind(e), 'stalled');
    assert.match(e.message, /malformed record at desired\/root: commit must be a string, not number/);
    return true;
  });
  assert.equal((await store.get(DESIRED_ROOT))?.value, '{"commit": 7}');
  assert.equal((await store.range(BODIES_PREFIX, { keysOnly: true })).kvs.length, 0);
  await store.close();
});

test('content a machine is still told to run is never collected, however many commits later', async () => {
  const store = new MemoryStore();
  const v1 = body('v1');
  await applyDesired(store, desired('c1', { 'a.service': v1 }));
  // A staged or reverted rollout keeps m1 on v1: its schedule entry names it.
  await store.put(scheduleKey('m1', 'a.service'), JSON.stringify({ hash: sha256(v1), state: 'launched' }));
  await applyDesired(store, desired('c2', { 'a.service': body('v2') }));
  await applyDesired(store, desired('c3', { 'a.service': body('v3') }));
  await applyDesired(store, desired('c4', { 'a.service': body('v4') }));
  assert.ok(await store.get(bodyKey(sha256(v1))), 'v1 is still there for m1');
  assert.equal(await store.get(bodyKey(sha256(body('v2')))), null, 'v2, named by nothing, is collected');
  await store.close();
});

test('a commit changing a few units is one transaction, guarded on the root the last apply wrote', async () => {
  const store = new MemoryStore({ backend: new MemoryBackend() });
  const known = { root: null, modRevision: 0 };
  const units = { 'a.service': body('a'), 'b.service': body('b') };
  assert.equal((await applyDesired(store, desired('c1', units), { known })).result, 'applied');
  const afterFirst = await readRoot(store);
  assert.equal(known.modRevision, afterFirst.modRevision, 'the apply keeps the root it wrote');
  const [txns, ranges] = [store.stats().txns, store.stats().ranges];
  const r = await applyDesired(store, desired('c2', { ...units, 'a.service': body('a2') }), { known });
  assert.equal(r.result, 'applied');
  // The body, the shard, the root and the status in one transaction (the garbage is collected after).
  const rootKv = await store.get(DESIRED_ROOT);
  const bodyKv = await store.get(bodyKey(sha256(body('a2'))));
  assert.equal(bodyKv?.modRevision, rootKv?.modRevision, 'the new body was written with the root');
  assert.ok(store.stats().txns - txns <= 2, `${store.stats().txns - txns} transactions`);
  assert.ok(store.stats().ranges > ranges, 'the garbage collection still reads');
  assert.equal((await readRoot(store)).root?.commit, 'c2');
});

test('another writer moved the root since the last apply: the apply reads it and decides again', async () => {
  const store = new MemoryStore({ backend: new MemoryBackend() });
  const known = { root: null, modRevision: 0 };
  await applyDesired(store, desired('c1', { 'a.service': body('a') }), { known });
  // A second controller (its own memory) applies c2: this one's knowledge is now stale.
  await applyDesired(store, desired('c2', { 'a.service': body('a'), 'b.service': body('b') }));
  const r = await applyDesired(store, desired('c3', { 'a.service': body('a3'), 'b.service': body('b') }), {
    known,
    mayReplace: async (applied) => applied === 'c2',
  });
  assert.equal(r.result, 'applied');
  assert.equal(r.result === 'applied' && r.previous, 'c2', 'it replaced what the store held, not what it remembered');
  const { root } = await readRoot(store);
  assert.equal(root?.commit, 'c3');
  const entries = await readDesiredEntries(store, root!);
  assert.deepEqual(
    entries.map((e) => [e.name, e.hash]),
    [
      ['a.service', sha256(body('a3'))],
      ['b.service', sha256(body('b'))],
    ],
  );
  for (const e of entries) assert.ok(await store.get(bodyKey(e.hash)), `${e.name}'s body is in the store`);
  // Applying c3 again with the same knowledge: nothing to write, decided on the store.
  const again = await applyDesired(store, desired('c3', { 'a.service': body('a3'), 'b.service': body('b') }), {
    known,
  });
  assert.equal(again.result, 'unchanged');
});

test('desired/globals holds the Global units, written with the root only when they change', async () => {
  const store = new MemoryStore({ backend: new MemoryBackend() });
  const known = { root: null, modRevision: 0 };
  const withGlobal = (commit: string, units: Record<string, string>, globals: string[]) => {
    const d = desired(commit, units);
    for (const u of d.units) u.constraints = { ...u.constraints, global: globals.includes(u.name) };
    return d;
  };
  const units = { 'g.service': body('g'), 'a.service': body('a') };
  assert.equal((await applyDesired(store, withGlobal('c1', units, ['g.service']), { known })).result, 'applied');
  const first = await store.get(DESIRED_GLOBALS);
  assert.ok(first, 'written by the first commit');
  assert.equal((await store.get(DESIRED_ROOT))?.modRevision, first.modRevision, 'in the root flip');
  assert.deepEqual(
    decodeDesiredGlobals(first).global.map((e) => [e.name, e.hash]),
    [['g.service', sha256(body('g'))]],
  );
  // A commit that changes only a scheduled unit: the root flips, the key is not written.
  await applyDesired(store, withGlobal('c2', { ...units, 'a.service': body('a2') }, ['g.service']), { known });
  assert.equal((await readRoot(store)).root?.commit, 'c2');
  assert.equal((await store.get(DESIRED_GLOBALS))?.modRevision, first.modRevision);
  // Also not by another apply that knows nothing (it reads the key to compare).
  await applyDesired(store, withGlobal('c3', { ...units, 'a.service': body('a3') }, ['g.service']));
  assert.equal((await store.get(DESIRED_GLOBALS))?.modRevision, first.modRevision);
  // A commit that changes the Global unit: written, with that commit.
  await applyDesired(store, withGlobal('c4', { ...units, 'g.service': body('g4') }, ['g.service']), { known });
  const changed = await store.get(DESIRED_GLOBALS);
  assert.equal(changed?.modRevision, (await store.get(DESIRED_ROOT))?.modRevision);
  assert.equal(decodeDesiredGlobals(changed!).commit, 'c4');
  assert.equal(decodeDesiredGlobals(changed!).global[0]?.hash, sha256(body('g4')));
});

test('desired/globals changed under the controller: its flip fails; it reads and writes the key right', async () => {
  const store = new MemoryStore({ backend: new MemoryBackend() });
  const known = { root: null, modRevision: 0 };
  const d = (commit: string, g: string) => {
    const x = desired(commit, { 'g.service': body(g), 'a.service': body(`a-${commit}`) });
    for (const u of x.units) u.constraints = { ...u.constraints, global: u.name === 'g.service' };
    return x;
  };
  await applyDesired(store, d('c1', 'g1'), { known });
  // Someone writes other Global units without moving the root.
  await store.put(DESIRED_GLOBALS, JSON.stringify({ commit: 'elsewhere', global: [] }));
  assert.equal((await applyDesired(store, d('c2', 'g1'), { known })).result, 'applied');
  const g = decodeDesiredGlobals((await store.get(DESIRED_GLOBALS))!);
  assert.equal(g.commit, 'c2', 'written again: its content was not the root’s');
  assert.deepEqual(
    g.global.map((e) => e.hash),
    [sha256(body('g1'))],
  );
});
