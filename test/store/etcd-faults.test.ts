/**
 * EtcdStore when etcd fails under it: SIGKILL and restart, a hung (SIGSTOPped) server, a lease
 * outliving its server's absence, a watch across a restart. One etcd for the file; each test
 * leaves it running.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { retryKind } from '../../src/errors.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { etcdClientOptions } from '../../src/store/etcd-client.js';
import { passThrough } from '../../src/store/etcd-faults.js';
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

/**
 * Run `fn`, expecting StoreUnavailableError (transient: retried by the loops); returns its message
 * and how long it took (for the test's diagnostics only: timings are bench/'s, not assertions).
 */
async function unavailable(fn: () => Promise<unknown>): Promise<{ message: string; ms: number }> {
  const t0 = Date.now();
  let message = '';
  await assert.rejects(fn(), (e: Error) => {
    assert.ok(e instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${e.name}: ${e.message}`);
    assert.equal(retryKind(e), 'transient');
    message = e.message;
    return true;
  });
  return { message, ms: Date.now() - t0 };
}

/** Retry `fn` until it succeeds (only StoreUnavailableError meanwhile); returns the time it took. */
async function recovers(fn: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      await fn();
      return Date.now() - t0;
    } catch (e) {
      assert.ok(e instanceof StoreUnavailableError, `only StoreUnavailableError while recovering, got ${String(e)}`);
      await sleep(20);
    }
  }
}

test('etcd SIGKILLed: calls fail with StoreUnavailableError (transient), and work again after a restart', {
  timeout: 60_000,
}, async (t) => {
  const s = open(t, '/faults/kill/');
  await s.put('k', 'before');
  await etcd.kill(0);
  const calls = {
    put: await unavailable(() => s.put('k', 'during')),
    get: await unavailable(() => s.get('k')),
    range: await unavailable(() => s.range('')),
    txn: await unavailable(() => s.txn([], [{ op: 'put', key: 'k', value: 'during' }])),
    grant: await unavailable(() => s.grantLease(5)),
  };
  t.diagnostic(
    `etcd down: ${Object.entries(calls)
      .map(([what, r]) => `${what} ${r.ms} ms`)
      .join(', ')}`,
  );

  await etcd.restart(0);
  const back = await recovers(() => s.put('k', 'after'));
  t.diagnostic(`first successful put ${back} ms after etcd answered /health again`);
  assert.equal((await s.get('k'))?.value, 'after');
});

test('etcd hung (SIGSTOP): each call fails at its deadline (a lone endpoint is not skipped); all work after SIGCONT', {
  timeout: 60_000,
}, async (t) => {
  const s = open(t, '/faults/hung/');
  await s.put('k', 'before');
  await etcd.kill(0, 'SIGSTOP');
  try {
    // A hung etcd answers nothing: the call ends at its deadline instead of waiting forever. With
    // no other member to turn to, the host is not skipped after repeated timeouts: each call waits
    // its own deadline, and the first one after the server answers again succeeds.
    const calls = [
      await unavailable(() => s.put('k', 'during')),
      await unavailable(() => s.get('k')),
      await unavailable(() => s.get('k')),
    ];
    for (const c of calls) assert.match(c.message, new RegExp(`no answer within ${CALL_TIMEOUT_MS} ms`));
    t.diagnostic(`hung etcd: calls ${calls.map((c) => `${c.ms} ms`).join(', ')}`);
    // A transaction's deadline grows with its size: one call deadline per 32 operations.
    const puts = Array.from({ length: 100 }, (_, i) => ({ op: 'put' as const, key: `big/${i}`, value: 'v' }));
    const big = await unavailable(() => s.txn([], puts));
    assert.match(big.message, new RegExp(`txn \\(100 ops\\).*no answer within ${4 * CALL_TIMEOUT_MS} ms`));
  } finally {
    await etcd.kill(0, 'SIGCONT');
  }
  const back = await recovers(() => s.put('k', 'after'));
  t.diagnostic(`first successful put ${back} ms after SIGCONT`);
  assert.equal((await s.get('k'))?.value, 'after');
});

test('the host breaker is there only when the store has another endpoint to turn to', () => {
  const lone = etcdClientOptions({ endpoints: ['http://127.0.0.1:1'] }, 500).faultHandling!.host!;
  const three = etcdClientOptions({ endpoints: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] }, 500).faultHandling!
    .host!;
  assert.equal((lone as (h: string) => unknown)('127.0.0.1:1'), passThrough);
  assert.notEqual((three as (h: string) => unknown)('127.0.0.1:1'), passThrough);
});

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
  await recovers(() => writer.put('w/5', 'v5'));
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

test("a lease's onLost fires when etcd stays down past the TTL", { timeout: 60_000 }, async (t) => {
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
  while (!lost) await sleep(20);
  await etcd.restart(0);
  t.diagnostic(`onLost ${lostAt - down} ms after etcd died (TTL 1 s): ${lost.message}`);
  // Reported by the store's own check (no keep-alive for a whole TTL), not etcd3's, which says so
  // only after twice the TTL.
  assert.match(
    lost.message,
    new RegExp(`lease ${lease.id} presumed lost: no keep-alive succeeded for \\d+ ms \\(TTL 1 s\\)`),
  );
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
    const r = await unavailable(() => s.watch('', undefined, { onEvents: () => undefined }));
    assert.match(r.message, /etcd did not accept the watch within 800 ms/);
  } finally {
    await etcd.restart(0);
  }
  await recovers(() => s.put('k', 'v'));
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

test('close() with etcd down returns, and the closed store refuses calls as fatal', async () => {
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
    // etcd3 would wait for etcd to confirm the watch's cancel; close() gives up on it.
    await s.close();
    await assert.rejects(
      s.put('k', 'v'),
      (e: Error) => retryKind(e) === 'fatal' && /the store is closed/.test(e.message),
    );
  } finally {
    await etcd.restart(0);
  }
});
