/**
 * PrefixMirror (src/store/mirror.ts) on the in-memory store: what it holds is what the store
 * holds, whether a change came through its watch or was written through by its owner first, and
 * an event older than what it knows (its owner's write came first) changes nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/store/memory.js';
import { PrefixMirror } from '../../src/store/mirror.js';
import { MalformedRecordError } from '../../src/store/records.js';
import type { KeyValue } from '../../src/store/store.js';

const decode = (kv: KeyValue): number => {
  const n = Number(kv.value);
  if (!Number.isInteger(n)) throw new MalformedRecordError(kv.key, 'not a number');
  return n;
};

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met in time');
};

test('a mirror holds what the store holds: its range, then watch events and its own writes', async () => {
  const store = new MemoryStore();
  await store.put('p/a', '1');
  await store.put('p/bad', 'x');
  await store.put('q/other', '9');
  const bad: string[] = [];
  const seen = new Map<string, number | null>();
  const m = new PrefixMirror<number>('p/', {
    decode,
    onBad: (e) => bad.push(e.key),
    set: (k, v) => seen.set(k, v),
    deleted: (k) => seen.delete(k),
  });
  await m.load(
    store,
    () => {},
    (e) => assert.fail(e),
  );
  assert.deepEqual(Object.fromEntries(seen), { 'p/a': 1, 'p/bad': null });
  assert.deepEqual(bad, ['p/bad']);

  // Through the watch.
  await store.put('p/b', '2');
  await store.delete('p/bad');
  await until(() => seen.get('p/b') === 2 && !seen.has('p/bad'));

  // Written through first: the later watch event of the same write, and of an older one, change nothing.
  const ops = [
    { op: 'put' as const, key: 'p/c', value: '3' },
    { op: 'delete' as const, key: 'p/a' },
  ];
  const r = await store.txn([], ops);
  m.written(ops, r.revision);
  assert.deepEqual(Object.fromEntries(seen), { 'p/b': 2, 'p/c': 3 });
  m.apply([{ type: 'put', kv: { key: 'p/a', value: '1', createRevision: 1, modRevision: 1, version: 1, lease: '0' } }]);
  assert.equal(seen.has('p/a'), false, 'an event older than the delete written through is ignored');
  await store.put('p/a', '4');
  await until(() => seen.get('p/a') === 4);
  assert.deepEqual(Object.fromEntries(m.values), {
    'p/a': { rev: (await store.get('p/a'))!.modRevision, value: 4 },
    'p/b': { rev: (await store.get('p/b'))!.modRevision, value: 2 },
    'p/c': { rev: r.revision, value: 3 },
  });
  await m.close();
  await store.close();
});
