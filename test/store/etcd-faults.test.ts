/**
 * EtcdStore when etcd fails under it: SIGKILL and restart, a hung (SIGSTOPped) server, a lease
 * outliving its server's absence, a watch across a restart. One etcd for the file; each test
 * leaves it running.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EtcdStore } from '../../src/store/etcd.js';
import { StoreUnavailableError, type WatchEvent } from '../../src/store/store.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';

let etcd: EtcdCluster;
const CALL_TIMEOUT_MS = 500;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function open(t: { after(fn: () => Promise<void>): void }, prefix: string): EtcdStore {
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix, callTimeoutMs: CALL_TIMEOUT_MS, log: () => undefined });
  t.after(() => s.close());
  return s;
}

/** Run `fn`, expecting StoreUnavailableError; returns how long it took. */
async function unavailable(fn: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await assert.rejects(fn(), (e: Error) => {
    assert.ok(e instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${e.name}: ${e.message}`);
    return true;
  });
  return Date.now() - t0;
}

/** Retry `fn` until it succeeds; returns the time to the first success. */
async function recovers(fn: () => Promise<unknown>, withinMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      await fn();
      return Date.now() - t0;
    } catch (e) {
      assert.ok(e instanceof StoreUnavailableError, `only StoreUnavailableError while recovering, got ${String(e)}`);
      assert.ok(Date.now() - t0 < withinMs, `no recovery within ${withinMs} ms: ${String(e)}`);
      await sleep(20);
    }
  }
}

test(
  'etcd SIGKILLed: calls fail at once with StoreUnavailableError, and work again right after a ' + 'restart',
  async (t) => {
    const s = open(t, '/faults/kill/');
    await s.put('k', 'before');
    await etcd.kill(0);
    const putMs = await unavailable(() => s.put('k', 'during'));
    const getMs = await unavailable(() => s.get('k'));
    const rangeMs = await unavailable(() => s.range(''));
    const txnMs = await unavailable(() => s.txn([], [{ op: 'put', key: 'k', value: 'during' }]));
    const leaseMs = await unavailable(() => s.grantLease(5));
    t.diagnostic(
      `etcd down: put ${putMs} ms, get ${getMs} ms, range ${rangeMs} ms, txn ${txnMs} ms, grant ${leaseMs} ms`,
    );
    for (const ms of [putMs, getMs, rangeMs, txnMs, leaseMs])
      assert.ok(ms < CALL_TIMEOUT_MS + 300, `failed within about one deadline (${ms} ms)`);

    await etcd.restart(0);
    const back = await recovers(() => s.put('k', 'after'), 3000);
    t.diagnostic(`first successful put ${back} ms after etcd answered /health again`);
    assert.equal((await s.get('k'))?.value, 'after');
  },
);

test(
  'etcd hung (SIGSTOP): a call fails within its deadline, later ones at once, and all work after ' + 'SIGCONT',
  async (t) => {
    const s = open(t, '/faults/hung/');
    await s.put('k', 'before');
    await etcd.kill(0, 'SIGSTOP');
    try {
      const first = await unavailable(() => s.put('k', 'during'));
      assert.ok(
        first >= CALL_TIMEOUT_MS - 50 && first < CALL_TIMEOUT_MS + 400,
        `first call waited one deadline (${first} ms)`,
      );
      const second = await unavailable(() => s.get('k'));
      const third = await unavailable(() => s.get('k'));
      // After two timeouts in a row the host is skipped for a second: no more waiting.
      assert.ok(third < 100, `a call after repeated timeouts fails at once (${third} ms)`);
      t.diagnostic(`hung etcd: first call ${first} ms, second ${second} ms, third ${third} ms`);
    } finally {
      await etcd.kill(0, 'SIGCONT');
    }
    const back = await recovers(() => s.put('k', 'after'), 3000);
    t.diagnostic(`first successful put ${back} ms after SIGCONT`);
    assert.equal((await s.get('k'))?.value, 'after');
  },
);

test('a watch resumes across an etcd restart without losing or repeating events', async (t) => {
  const watcherStore = open(t, '/faults/watch/');
  const writer = open(t, '/faults/watch/');
  const got: WatchEvent[] = [];
  const errors: Error[] = [];
  const w = await watcherStore.watch('w/', undefined, {
    onEvents: (evs) => got.push(...evs),
    onError: (e) => errors.push(e),
  });
  for (let i = 0; i < 5; i++) await writer.put(`w/${i}`, `v${i}`);
  await etcd.kill(0);
  await etcd.restart(0);
  // Written while the watcher is still reconnecting (its stream broke with the old process).
  await recovers(() => writer.put('w/5', 'v5'), 3000);
  for (let i = 6; i < 10; i++) await writer.put(`w/${i}`, `v${i}`);
  await writer.delete('w/0');
  const t0 = Date.now();
  while (got.length < 11 && Date.now() - t0 < 5000) await sleep(20);
  await sleep(100); // room for a duplicate to show up
  assert.deepEqual(
    got.map((e) => `${e.type} ${e.kv.key}`),
    [...Array.from({ length: 10 }, (_, i) => `put w/${i}`), 'delete w/0'],
  );
  const revs = got.map((e) => e.kv.modRevision);
  assert.deepEqual(
    [...revs].sort((a, b) => a - b),
    revs,
    'in revision order',
  );
  assert.equal(errors.length, 0);
  await w.close();
});

test("a lease's onLost fires when etcd stays down past the TTL", async (t) => {
  const s = open(t, '/faults/lease/');
  let lostAt = 0;
  let lost: Error | undefined;
  const lease = await s.grantLease(1, {
    onLost: (e) => {
      lost = e;
      lostAt = Date.now();
    },
  });
  await s.put('machine', 'here', { lease: lease.id });
  await sleep(400); // at least one keep-alive has succeeded
  const down = Date.now();
  await etcd.kill(0);
  while (!lost && Date.now() - down < 4000) await sleep(20);
  const after = lostAt - down;
  await etcd.restart(0);
  assert.ok(lost, 'onLost was called');
  t.diagnostic(`onLost ${after} ms after etcd died (TTL 1 s): ${lost.message}`);
  assert.ok(after <= 1500, `reported within about one TTL of the last keep-alive (${after} ms)`);
});

test('watch() on a dead etcd fails with StoreUnavailableError instead of waiting forever', async (t) => {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: '/faults/nowatch/',
    callTimeoutMs: CALL_TIMEOUT_MS,
    watchCreateTimeoutMs: 800,
    log: () => undefined,
  });
  t.after(() => s.close());
  await etcd.kill(0);
  try {
    const ms = await unavailable(() => s.watch('', undefined, { onEvents: () => undefined }));
    assert.ok(ms < 1500, `gave up after the watch timeout (${ms} ms)`);
  } finally {
    await etcd.restart(0);
  }
  await recovers(() => s.put('k', 'v'), 3000);
  const got: string[] = [];
  const w = await s.watch('', undefined, { onEvents: (evs) => got.push(...evs.map((e) => e.kv.key)) });
  await s.put('k2', 'v');
  const t0 = Date.now();
  while (got.length === 0 && Date.now() - t0 < 3000) await sleep(20);
  assert.deepEqual(got, ['k2']);
  await w.close();
});

test('a watch replaying a long history from a past revision finishes it after an etcd restart', async (t) => {
  const writer = open(t, '/faults/replay/');
  const watcherStore = open(t, '/faults/replay/');
  const N = 2500; // more revisions than etcd replays in one batch (1,000)
  const first = await writer.put('h/start', 's');
  for (let i = 0; i < N; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => writer.put(`h/${i + j}`, 'v')));
  }
  const got: WatchEvent[] = [];
  const w = await watcherStore.watch('h/', first, { onEvents: (evs) => got.push(...evs) });
  // Break the stream while the history is still streaming in.
  await etcd.kill(0);
  const atKill = got.length;
  await etcd.restart(0);
  const t0 = Date.now();
  while (got.length < N + 1 && Date.now() - t0 < 8000) await sleep(20);
  await sleep(100);
  t.diagnostic(`${atKill} of ${N + 1} events had arrived when etcd was killed`);
  assert.equal(got.length, N + 1, 'every event of the history, once');
  const revs = got.map((e) => e.kv.modRevision);
  assert.equal(new Set(revs).size, N + 1);
  assert.deepEqual(
    [...revs].sort((a, b) => a - b),
    revs,
  );
  await w.close();
});

test('close() with etcd down returns promptly', async () => {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: '/faults/close/',
    callTimeoutMs: CALL_TIMEOUT_MS,
    log: () => undefined,
  });
  await s.grantLease(5);
  await s.watch('', undefined, { onEvents: () => undefined });
  await etcd.kill(0);
  try {
    const t0 = Date.now();
    await s.close();
    const ms = Date.now() - t0;
    assert.ok(ms < CALL_TIMEOUT_MS + 200, `close took ${ms} ms`);
    await assert.rejects(s.put('k', 'v'), /the store is closed/);
  } finally {
    await etcd.restart(0);
  }
});
