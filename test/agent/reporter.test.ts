// The reporter against the in-memory store: state/<machine>/<unit> under the lease, batched.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Reporter } from '../../src/agent/reporter.js';
import { silentLogger } from '../../src/log.js';
import { unitStateKey, unitStatePrefix } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { decodeUnitStateReport } from '../../src/store/records.js';
import { MAX_TXN_OPS, type Lease, type Store } from '../../src/store/store.js';

interface Fixture {
  store: MemoryStore;
  reporter: Reporter;
  /** unit -> hash of its file (absent: no file). */
  files: Map<string, string>;
  repairs: Map<string, number>;
  lease: { current: Lease | null };
}

/** A reporter for machine m1 over a memory store (seen by the reporter through `wrap`, if given). */
async function setup(t: TestContext, wrap: (s: MemoryStore) => Store = (s) => s): Promise<Fixture> {
  const mem = new MemoryStore();
  t.after(() => mem.close());
  const store = wrap(mem);
  const files = new Map<string, string>();
  const repairs = new Map<string, number>();
  const lease = { current: (await store.grantLease(30)) as Lease | null };
  const reporter = new Reporter({
    store,
    machineId: 'm1',
    log: silentLogger,
    lease: () => lease.current,
    unitDir: { names: () => [...files.keys()], hashOf: (u) => files.get(u) },
    drift: { repairs: (u) => repairs.get(u) },
  });
  t.after(() => reporter.stop());
  return { store: mem, reporter, files, repairs, lease };
}

async function reports(store: Store, machine = 'm1') {
  const r = await store.range(unitStatePrefix(machine));
  return Object.fromEntries(r.kvs.map((kv) => [kv.key.slice(unitStatePrefix(machine).length), kv]));
}

const running = (name: string) => ({ name, load: 'loaded', active: 'active', sub: 'running' });

test('writes what systemd said, the file hash and the drift repairs, bound to the lease', async (t) => {
  const { store, reporter, files, repairs, lease } = await setup(t);
  files.set('a.service', 'h1');
  files.set('b.service', 'h2');
  repairs.set('a.service', 2);
  reporter.observe(running('a.service'));
  reporter.mark('a.service');
  reporter.mark('b.service');
  assert.equal(reporter.pending, 2);
  await reporter.flush();
  assert.equal(reporter.pending, 0);
  const r = await reports(store);
  assert.deepEqual(decodeUnitStateReport(r['a.service']!), {
    load: 'loaded',
    active: 'active',
    sub: 'running',
    hash: 'h1',
    driftRepairs: 2,
  });
  // Nothing heard from systemd yet: unknown, not a guess.
  assert.deepEqual(decodeUnitStateReport(r['b.service']!), {
    load: 'unknown',
    active: 'unknown',
    sub: 'unknown',
    hash: 'h2',
  });
  assert.equal(r['a.service']!.lease, lease.current!.id);

  // Revoking the lease takes every report with it.
  await lease.current!.revoke();
  assert.deepEqual(await reports(store), {});
});

test('an unchanged report is not written again; a unit whose file is gone has its report deleted', async (t) => {
  const { store, reporter, files } = await setup(t);
  files.set('a.service', 'h1');
  reporter.observe(running('a.service'));
  reporter.mark('a.service');
  await reporter.flush();
  const before = { ...store.stats() };
  reporter.mark('a.service');
  reporter.markAll();
  await reporter.flush();
  assert.deepEqual(store.stats(), before, 'nothing sent');

  files.delete('a.service');
  reporter.forget('a.service');
  await reporter.flush();
  assert.deepEqual(await reports(store), {});
  // Deleting again is nothing to send either.
  const after = { ...store.stats() };
  reporter.mark('a.service');
  await reporter.flush();
  assert.deepEqual(store.stats(), after);
});

test('many reports go out in transactions of at most MAX_TXN_OPS', async (t) => {
  const { store, reporter, files } = await setup(t);
  const n = MAX_TXN_OPS * 2 + 5;
  for (let i = 0; i < n; i++) files.set(`u${i}.service`, `h${i}`);
  reporter.markAll();
  const before = store.stats().txns;
  await reporter.flush();
  assert.equal(store.stats().txns - before, 3);
  assert.equal(Object.keys(await reports(store)).length, n);
});

test('without a lease nothing is written; after a lost lease every report is written again', async (t) => {
  const { store, reporter, files, lease } = await setup(t);
  files.set('a.service', 'h1');
  files.set('b.service', 'h2');
  const held = lease.current;
  lease.current = null;
  reporter.markAll();
  await reporter.flush();
  assert.deepEqual(await reports(store), {});
  assert.equal(reporter.pending, 2, 'still marked: written once there is a lease');

  lease.current = held;
  await reporter.flush();
  assert.deepEqual(Object.keys(await reports(store)).sort(), ['a.service', 'b.service']);

  // The lease expires (revoked behind the reporter's back): its reports vanish with it.
  await held!.revoke();
  lease.current = await store.grantLease(30);
  reporter.leaseLost();
  assert.equal(reporter.pending, 2);
  await reporter.flush();
  const r = await reports(store);
  assert.deepEqual(Object.keys(r).sort(), ['a.service', 'b.service']);
  assert.equal(r['a.service']!.lease, lease.current.id);
});

test('a failed write keeps the units marked and is retried by itself', async (t) => {
  let failuresLeft = 1;
  // The store refuses one transaction (etcd unreachable for a moment).
  const flaky = (mem: MemoryStore): Store =>
    Object.assign(Object.create(mem) as MemoryStore, {
      txn: (...args: Parameters<Store['txn']>) =>
        failuresLeft-- > 0 ? Promise.reject(new Error('etcd unreachable')) : mem.txn(...args),
    });
  const { store: mem, reporter, files } = await setup(t, flaky);
  files.set('a.service', 'h1');
  reporter.signal(running('a.service')); // a signal: flushed soon, by a timer
  for (let i = 0; i < 200 && !(await mem.get(unitStateKey('m1', 'a.service'))); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(failuresLeft, -1, 'the first write failed');
  const kv = await mem.get(unitStateKey('m1', 'a.service'));
  assert.equal(kv && decodeUnitStateReport(kv).active, 'active');
});

test('stop: no timed flush after it, and the write in flight ends first', async (t) => {
  const { store, reporter, files } = await setup(t);
  files.set('a.service', 'h1');
  reporter.mark('a.service');
  const writing = reporter.flush();
  await reporter.stop();
  await writing;
  assert.ok(await store.get(unitStateKey('m1', 'a.service')));
  reporter.signal({ ...running('a.service'), active: 'inactive', sub: 'dead' });
  await new Promise((r) => setTimeout(r, 50));
  const kv = await store.get(unitStateKey('m1', 'a.service'));
  assert.equal(kv && decodeUnitStateReport(kv).active, 'unknown');
});

test("a unit's way to active during a pass is one report, written by the pass's flush", async (t) => {
  const { store, reporter, files } = await setup(t);
  files.set('a.service', 'h1');
  const txns = store.stats().txns;
  await reporter.during(async () => {
    reporter.signal({ name: 'a.service', load: 'loaded', active: 'activating', sub: 'start' });
    // Longer than a signal's own flush delay outside a pass (5 ms).
    await new Promise((r) => setTimeout(r, 30));
    reporter.signal(running('a.service'));
    await reporter.flush(); // as an agent pass ends
  });
  assert.equal(store.stats().txns - txns, 1, 'one write for the two signals');
  assert.equal(decodeUnitStateReport((await reports(store))['a.service']!).active, 'active');
  // Outside a pass a signal is written on its own.
  reporter.signal({ name: 'a.service', load: 'loaded', active: 'failed', sub: 'failed' });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(store.stats().txns - txns, 2);
});
