/**
 * What an engine pass reads (src/engine/pass-read.ts), on the in-memory store: the root and the
 * control key come from the view; the shards are read a few at a time and each is kept as it
 * arrives, so a retry after a failed read asks only for those it lacks; the safety-net resync
 * waits while a new root is to be planned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readPass } from '../../src/engine/pass-read.js';
import { EngineView } from '../../src/engine/view.js';
import { shardKey, type DesiredEntry } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/store.js';
import { writeDesired } from './desired-fixture.js';

const handlers = { onEvents() {}, onError() {} };
const names = Array.from({ length: 300 }, (_, i) => `unit-${i}.service`);

/** `store`, with the keys it was asked for recorded (get and getMany), and `failKey.key` failing once. */
function recording(store: Store, failKey: { key: string | null }, gets: string[]): Store {
  const ask = (keys: readonly string[]) => {
    gets.push(...keys);
    if (failKey.key !== null && keys.includes(failKey.key)) {
      failKey.key = null;
      throw new Error('the store did not answer in time');
    }
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'get')
        return async (key: string) => {
          ask([key]);
          return target.get(key);
        };
      if (prop === 'getMany')
        return async (keys: readonly string[]) => {
          ask(keys);
          return target.getMany(keys);
        };
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

test('shards are kept as they arrive: after one failed read, the retry reads only the shards it lacks', async () => {
  const store = new MemoryStore();
  await writeDesired(store, 'c1', [...names]);
  const view = new EngineView(() => {});
  await view.load(store, handlers.onEvents, handlers.onError);
  const hashes = Object.values(JSON.parse(view.rootKv!.value).shards as Record<string, string>);
  assert.ok(hashes.length > 16, 'the root names many shards');
  const failKey = { key: shardKey(hashes[hashes.length - 1]!) as string | null };
  const gets: string[] = [];
  const flaky = recording(store, failKey, gets);
  const cache = new Map<string, DesiredEntry[]>();
  const opts = { store: flaky, view, shardCache: cache, resyncMs: 0, plannedRoot: 0, handlers };

  await assert.rejects(readPass(opts), /did not answer/);
  const kept = cache.size;
  assert.ok(kept > 0 && kept < hashes.length, `some shards were kept (${kept} of ${hashes.length})`);
  gets.length = 0;
  const read = await readPass(opts);
  assert.equal(gets.length, hashes.length - kept, 'the retry read only the shards it lacked');
  assert.deepEqual(read!.units.map((u) => u.name).sort(), [...names].sort());
  assert.equal(read!.root.commit, 'c1');
  assert.equal(read!.paused, false);

  gets.length = 0;
  const again = await readPass(opts);
  assert.equal(gets.length, 0, 'a pass with every shard cached reads nothing');
  assert.equal(again!.units.length, names.length);
  await view.close();
});

test('the safety-net resync waits while a new root is to be planned, and runs once it is planned', async () => {
  const store = new MemoryStore();
  await writeDesired(store, 'c1', [...names]);
  const view = new EngineView(() => {});
  await view.load(store, handlers.onEvents, handlers.onError);
  const cache = new Map<string, DesiredEntry[]>();
  const base = { store, view, shardCache: cache, resyncMs: 30_000, handlers };
  view.loadedAt = performance.now() - 60_000;

  const first = await readPass({ ...base, plannedRoot: 0 });
  assert.equal(first!.fresh, false, 'a new root is planned first, on the view as followed');
  const planned = first!.rootRevision;
  assert.equal(planned, view.rootKv!.modRevision);

  const ranges = store.stats().ranges;
  const second = await readPass({ ...base, plannedRoot: planned });
  assert.equal(second!.fresh, true, 'with the root planned, the overdue resync reads the view whole');
  assert.ok(store.stats().ranges > ranges);
  await view.close();
});
