/**
 * The engine on the in-memory store (`gitfleet up` runs it there): the same election, fencing and
 * scheduling as on etcd, checked on the paths that differ in timing (watch delivery, leases).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../src/engine/engine.js';
import { retryKind } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { ENGINE_LEADER, SCHEDULE_PREFIX, machineKey, scheduleKey } from '../../src/store/keys.js';
import { MemoryBackend, MemoryStore } from '../../src/store/memory.js';
import { writeDesired } from './desired-fixture.js';

async function waitFor(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test(
  'on the in-memory store: one of two engines leads and schedules; the other takes over without moving ' + 'anything',
  async () => {
    const backend = new MemoryBackend();
    const setup = new MemoryStore({ backend });
    const sa = new MemoryStore({ backend });
    const sb = new MemoryStore({ backend });
    const a = new Engine({ store: sa, id: 'a', leaseTtl: 1, resyncSeconds: 0, log: silentLogger });
    const b = new Engine({ store: sb, id: 'b', leaseTtl: 1, resyncSeconds: 0, log: silentLogger });
    try {
      await a.start();
      await b.start();
      await waitFor('a leader', () => a.isLeader() !== b.isLeader());
      const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
      const lease = await setup.grantLease(5);
      for (const id of ['m1', 'm2'])
        await setup.put(
          machineKey(id),
          JSON.stringify({ id, address: '', metadata: {}, version: 't', startedAt: '' }),
          {
            lease: lease.id,
          },
        );
      await writeDesired(setup, 'c1', ['a.service', 'b.service', 'c.service', 'd.service']);
      await waitFor('four units scheduled', async () => (await setup.range(SCHEDULE_PREFIX)).kvs.length === 4);
      const before = (await setup.range(SCHEDULE_PREFIX)).kvs.map((kv) => [kv.key, kv.modRevision]);
      assert.deepEqual(
        before.map(([k]) => k),
        ['schedule/m1/a.service', 'schedule/m1/c.service', 'schedule/m2/b.service', 'schedule/m2/d.service'],
      );

      await leader.stop();
      await waitFor('the follower to lead', () => follower.isLeader());
      assert.equal((await setup.get(ENGINE_LEADER))?.value, follower === a ? 'a' : 'b');
      await waitFor('its first pass', () => follower.lastPass !== null);
      await follower.idle();
      assert.equal(follower.lastPass!.ops, 0);
      assert.deepEqual(
        (await setup.range(SCHEDULE_PREFIX)).kvs.map((kv) => [kv.key, kv.modRevision]),
        before,
      );
    } finally {
      await a.stop();
      await b.stop();
      await Promise.all([setup.close(), sa.close(), sb.close()]);
    }
  },
);

test(
  'a big pass is written machine by machine: each machine gets its placements in as few transactions as they ' +
    'fit in',
  async () => {
    // An agent runs one pass per schedule event it sees; a pass of 300 placements over 3 machines
    // needs 3 transactions, and each machine's 100 must come in at most 2 of them (not a slice of all 3).
    const backend = new MemoryBackend();
    const setup = new MemoryStore({ backend });
    const store = new MemoryStore({ backend });
    const engine = new Engine({ store, id: 'e', leaseTtl: 5, resyncSeconds: 0, log: silentLogger });
    try {
      const lease = await setup.grantLease(5);
      for (const id of ['m1', 'm2', 'm3'])
        await setup.put(
          machineKey(id),
          JSON.stringify({ id, address: '', metadata: {}, version: 't', startedAt: '' }),
          {
            lease: lease.id,
          },
        );
      await engine.start();
      await waitFor('leadership', () => engine.isLeader());
      await engine.idle();
      const txnsPerMachine = new Map<string, Set<number>>();
      let seen = 0;
      const w = await setup.watch(SCHEDULE_PREFIX, undefined, {
        onEvents(events) {
          for (const ev of events) {
            seen++;
            const machine = ev.kv.key.split('/')[1]!;
            (txnsPerMachine.get(machine) ?? txnsPerMachine.set(machine, new Set()).get(machine)!).add(
              ev.kv.modRevision,
            );
          }
        },
      });
      await writeDesired(
        setup,
        'c1',
        Array.from({ length: 300 }, (_, i) => `u${String(i).padStart(3, '0')}.service`),
      );
      await waitFor('300 placements seen', () => seen === 300);
      await engine.idle();
      await w.close();
      assert.deepEqual([...txnsPerMachine.keys()].sort(), ['m1', 'm2', 'm3']);
      // What each agent sees: all 100 of its placements in one transaction (one watch event).
      for (const [m, revs] of txnsPerMachine)
        assert.equal(revs.size, 1, `${m}'s placements came in ${revs.size} transactions`);
    } finally {
      await engine.stop();
      await Promise.all([setup.close(), store.close()]);
    }
  },
);

test('a malformed machine record is left out; a malformed schedule entry is rewritten', async () => {
  const backend = new MemoryBackend();
  const setup = new MemoryStore({ backend });
  const store = new MemoryStore({ backend });
  const engine = new Engine({ store, id: 'e', leaseTtl: 5, resyncSeconds: 0, log: silentLogger });
  try {
    await setup.put(
      machineKey('m1'),
      JSON.stringify({ id: 'm1', address: '', metadata: {}, version: 't', startedAt: '' }),
    );
    await setup.put(machineKey('m0'), '{"id": "m0"}');
    await setup.put(scheduleKey('m1', 'a.service'), 'garbage');
    await engine.start();
    await waitFor('leadership', () => engine.isLeader());
    await writeDesired(setup, 'c1', ['a.service', 'b.service']);
    await waitFor('two units scheduled', async () => {
      const kvs = (await setup.range(SCHEDULE_PREFIX)).kvs;
      return kvs.length === 2 && kvs.every((kv) => kv.value !== 'garbage');
    });
    await engine.idle();
    assert.deepEqual(
      (await setup.range(SCHEDULE_PREFIX)).kvs.map((kv) => [kv.key, JSON.parse(kv.value)]),
      [
        ['schedule/m1/a.service', { hash: 'h-a.service', state: 'launched' }],
        ['schedule/m1/b.service', { hash: 'h-b.service', state: 'launched' }],
      ],
      'nothing went to m0, whose record is malformed',
    );
    assert.equal(engine.lastPass!.machines, 1);
  } finally {
    await engine.stop();
    await Promise.all([setup.close(), store.close()]);
  }
});

test('a fatal store error stops the engine: reported once to onFatal, never retried', async () => {
  const store = new MemoryStore();
  await store.close();
  const fatal: Error[] = [];
  const engine = new Engine({
    store,
    id: 'e',
    leaseTtl: 5,
    resyncSeconds: 0,
    log: silentLogger,
    onFatal: (e) => fatal.push(e),
  });
  await engine.start();
  await engine.stop();
  assert.deepEqual(
    fatal.map((e) => [e.name, retryKind(e)]),
    [['StoreClosedError', 'fatal']],
  );
  assert.equal(engine.isLeader(), false);
});
