/**
 * The Store contract: what both stores (etcd and memory) must do, as node:test tests.
 * test/store/etcd.test.ts and test/store/memory.test.ts run it. Every test works under a prefix of
 * its own, so one server serves the whole file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryKind } from '../../src/errors.js';
import {
  GET_MANY_BATCH,
  MAX_TXN_OPS,
  StoreClosedError,
  StoreRequestError,
  StoreUnavailableError,
  type Op,
  type Store,
  type WatchEvent,
} from '../../src/store/store.js';

export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
}

export interface MakeStoreOptions {
  /** Where the store reports caught handler exceptions. */
  log?: (message: string) => void;
}

export interface ContractHooks {
  /** Compact the server's history up to `revision` (as `etcdctl compact` does). */
  compact(revision: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` until it holds or `ms` pass; returns whether it held. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, every = 20): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (performance.now() > end) return false;
    await sleep(every);
  }
}

/** A watch that records every batch it gets. */
export async function recordWatch(store: Store, prefix: string, from?: number) {
  const batches: WatchEvent[][] = [];
  const errors: Error[] = [];
  const watch = await store.watch(prefix, from, {
    onEvents: (evs) => batches.push(evs),
    onError: (e) => errors.push(e),
  });
  return {
    batches,
    errors,
    watch,
    events: () => batches.flat(),
    /** Wait until at least n events arrived (fails the test after ms). */
    async waitEvents(n: number, ms = 5000): Promise<WatchEvent[]> {
      const ok = await until(() => batches.flat().length >= n, ms);
      assert.ok(ok, `expected ${n} watch events within ${ms} ms, got ${batches.flat().length}`);
      return batches.flat();
    },
  };
}

const brief = (e: WatchEvent) => `${e.type} ${e.kv.key}${e.type === 'put' ? `=${e.kv.value}` : ''}`;

export function storeContract(
  name: string,
  makeStore: (prefix: string, opts?: MakeStoreOptions) => Promise<StoreFixture>,
  hooks: ContractHooks,
): void {
  let n = 0;
  const fresh = () => `/contract-${process.pid}-${Date.now().toString(36)}-${n++}/`;
  /** A store on a prefix of its own, closed after the test. */
  const open = async (t: { after(fn: () => Promise<void>): void }, prefix = fresh(), opts?: MakeStoreOptions) => {
    const f = await makeStore(prefix, opts);
    t.after(() => f.cleanup());
    return f.store;
  };

  test(`${name}: put, get and delete keep etcd's revisions and versions`, async (t) => {
    const s = await open(t);
    assert.equal(await s.get('a'), null);
    const r1 = await s.put('a', 'one');
    const kv1 = await s.get('a');
    assert.deepEqual(kv1, { key: 'a', value: 'one', createRevision: r1, modRevision: r1, version: 1, lease: '0' });
    const r2 = await s.put('a', 'two');
    assert.ok(r2 > r1, 'each put makes a new revision');
    assert.deepEqual(await s.get('a'), {
      key: 'a',
      value: 'two',
      createRevision: r1,
      modRevision: r2,
      version: 2,
      lease: '0',
    });
    const r3 = await s.delete('a');
    assert.ok(r3 > r2);
    assert.equal(await s.get('a'), null);
    const r4 = await s.put('a', 'three');
    const kv4 = await s.get('a');
    assert.equal(kv4?.createRevision, r4, 'a key made again starts a new life');
    assert.equal(kv4?.version, 1);
    // Values are strings of any content, including multi-byte text.
    await s.put('ü/ключ', 'värde ✓ 🚀');
    assert.equal((await s.get('ü/ключ'))?.value, 'värde ✓ 🚀');
  });

  test(`${name}: getMany answers many keys in their order, null where absent, past one batch`, async (t) => {
    const s = await open(t);
    assert.deepEqual(await s.getMany([]), []);
    const keys = Array.from({ length: 3 * GET_MANY_BATCH + 5 }, (_, i) => `k/${i}`);
    const revs = new Map<string, number>();
    for (let i = 0; i < keys.length; i += 2) revs.set(keys[i]!, await s.put(keys[i]!, `v${i}`));
    // Asked in another order than the keys', with a key twice and one outside the namespace's keys.
    const ask = [...keys].reverse();
    ask.push('k/0', 'nope');
    const got = await s.getMany(ask);
    assert.equal(got.length, ask.length);
    ask.forEach((k, i) => {
      const rev = revs.get(k);
      if (rev === undefined) assert.equal(got[i], null, `${k} is absent`);
      else
        assert.deepEqual(got[i], {
          key: k,
          value: `v${k.slice(2)}`,
          createRevision: rev,
          modRevision: rev,
          version: 1,
          lease: '0',
        });
    });
    // Values near the request limit, several to a batch: still every one, whole.
    const big = 'x'.repeat(1024 * 1024 - 100);
    for (let i = 0; i < 6; i++) await s.put(`big/${i}`, `${i}${big}`);
    const bigs = await s.getMany(Array.from({ length: 6 }, (_, i) => `big/${i}`));
    assert.deepEqual(
      bigs.map((kv) => kv?.value.length),
      Array.from({ length: 6 }, () => big.length + 1),
    );
    assert.deepEqual(
      bigs.map((kv) => kv?.value[0]),
      ['0', '1', '2', '3', '4', '5'],
    );
  });

  test(`${name}: deleting a missing key changes nothing`, async (t) => {
    const s = await open(t);
    const r1 = await s.put('x', '1');
    const { revision } = await s.range('');
    const r2 = await s.delete('nope');
    assert.ok(r2 >= r1);
    assert.equal((await s.range('')).revision, revision);
  });

  test(`${name}: range returns the keys under a prefix in key order, at a revision`, async (t) => {
    const s = await open(t);
    for (const k of ['b/2', 'a/1', 'b/10', 'b/1', 'b', 'b0', 'c/1']) await s.put(k, `v:${k}`);
    const last = await s.put('b/3', 'v:b/3');
    const r = await s.range('b/');
    assert.deepEqual(
      r.kvs.map((kv) => kv.key),
      ['b/1', 'b/10', 'b/2', 'b/3'],
    );
    assert.deepEqual(
      r.kvs.map((kv) => kv.value),
      ['v:b/1', 'v:b/10', 'v:b/2', 'v:b/3'],
    );
    assert.ok(r.revision >= last, 'the range is read at or after the last write');
    const keysOnly = await s.range('b/', { keysOnly: true });
    assert.deepEqual(
      keysOnly.kvs.map((kv) => [kv.key, kv.value]),
      [
        ['b/1', ''],
        ['b/10', ''],
        ['b/2', ''],
        ['b/3', ''],
      ],
    );
    assert.equal((await s.range('nothing/')).kvs.length, 0);
    assert.equal((await s.range('')).kvs.length, 8, 'the empty prefix is the whole namespace');
  });

  test(`${name}: range pages through 10,000 keys and more than 4 MiB in one consistent read`, async (t) => {
    const s = await open(t);
    const ops: Op[] = [];
    const key = (i: number) => `many/${String(i).padStart(5, '0')}`;
    for (let i = 0; i < 10_000; i++) ops.push({ op: 'put', key: key(i), value: `v${i}` });
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) await s.txn([], ops.slice(i, i + MAX_TXN_OPS));
    const t0 = performance.now();
    const r = await s.range('many/');
    const ms = performance.now() - t0;
    assert.equal(r.kvs.length, 10_000);
    assert.equal(r.kvs[0]!.key, key(0));
    assert.equal(r.kvs[9_999]!.key, key(9_999));
    assert.ok(
      r.kvs.every((kv, i) => kv.key === key(i) && kv.value === `v${i}`),
      'every key once, in order',
    );
    t.diagnostic(`range of 10,000 keys: ${ms} ms`);

    // 40 values of 128 KiB: 5 MiB in all, beyond grpc's default 4 MiB per message.
    const big = (i: number) => String.fromCharCode(97 + (i % 26)).repeat(128 * 1024);
    for (let i = 0; i < 40; i += 8) {
      const batch: Op[] = [];
      for (let j = i; j < i + 8; j++)
        batch.push({ op: 'put', key: `big/${String(j).padStart(2, '0')}`, value: big(j) });
      await s.txn([], batch);
    }
    const rb = await s.range('big/');
    assert.equal(rb.kvs.length, 40);
    assert.equal(
      rb.kvs.reduce((a, kv) => a + kv.value.length, 0),
      40 * 128 * 1024,
    );
    assert.ok(rb.kvs.every((kv, i) => kv.value === big(i)));

    // Asked for small pages (a prefix of large values): the same answer, at the same revision.
    const before = s.stats().ranges;
    const paged = await s.range('big/', { pageSize: 3 });
    assert.deepEqual(
      paged.kvs.map((kv) => [kv.key, kv.value]),
      rb.kvs.map((kv) => [kv.key, kv.value]),
    );
    assert.equal(paged.revision, rb.revision);
    // etcd sends one request per page: 40 keys in pages of 3.
    if (name === 'etcd') assert.equal(s.stats().ranges - before, Math.ceil(40 / 3));
  });

  test(`${name}: a txn runs its success ops when every compare holds, its failure ops otherwise`, async (t) => {
    const s = await open(t);
    const r1 = await s.put('k', 'v1');
    const ok = await s.txn(
      [{ key: 'k', target: 'modRevision', op: '==', value: r1 }],
      [
        { op: 'put', key: 'k', value: 'v2' },
        { op: 'put', key: 'other', value: 'o' },
      ],
      [{ op: 'put', key: 'failed', value: 'yes' }],
    );
    assert.equal(ok.succeeded, true);
    assert.deepEqual((await s.get('k'))?.modRevision, ok.revision, 'all ops of a txn share its revision');
    assert.equal((await s.get('other'))?.modRevision, ok.revision);
    assert.equal(await s.get('failed'), null);

    const no = await s.txn(
      [{ key: 'k', target: 'modRevision', op: '==', value: r1 }],
      [{ op: 'put', key: 'k', value: 'v3' }],
      [{ op: 'put', key: 'failed', value: 'yes' }],
    );
    assert.equal(no.succeeded, false);
    assert.equal((await s.get('k'))?.value, 'v2');
    assert.equal((await s.get('failed'))?.value, 'yes');
    assert.equal((await s.get('failed'))?.modRevision, no.revision);

    // A txn without compares always succeeds; one with nothing to do makes no revision.
    const before = (await s.range('')).revision;
    const empty = await s.txn([{ key: 'k', target: 'value', op: '==', value: 'nope' }], [{ op: 'delete', key: 'k' }]);
    assert.equal(empty.succeeded, false);
    assert.equal(empty.revision, before);
  });

  test(`${name}: txn compares on modRevision, createRevision, version, value and lease`, async (t) => {
    const s = await open(t);
    const r1 = await s.put('k', 'a');
    const r2 = await s.put('k', 'b'); // version 2, created at r1, modified at r2
    const lease = await s.grantLease(30);
    await s.put('leased', 'x', { lease: lease.id });
    const holds = async (c: Parameters<Store['txn']>[0][number]) => (await s.txn([c], [])).succeeded;

    assert.equal(await holds({ key: 'k', target: 'modRevision', op: '==', value: r2 }), true);
    assert.equal(await holds({ key: 'k', target: 'modRevision', op: '!=', value: r2 }), false);
    assert.equal(await holds({ key: 'k', target: 'modRevision', op: '<', value: r2 + 1 }), true);
    assert.equal(await holds({ key: 'k', target: 'modRevision', op: '>', value: r2 }), false);
    assert.equal(await holds({ key: 'k', target: 'createRevision', op: '==', value: r1 }), true);
    assert.equal(await holds({ key: 'k', target: 'createRevision', op: '>', value: r1 }), false);
    assert.equal(await holds({ key: 'k', target: 'version', op: '==', value: 2 }), true);
    assert.equal(await holds({ key: 'k', target: 'version', op: '>', value: 1 }), true);
    assert.equal(await holds({ key: 'k', target: 'version', op: '<', value: 2 }), false);
    assert.equal(await holds({ key: 'k', target: 'value', op: '==', value: 'b' }), true);
    assert.equal(await holds({ key: 'k', target: 'value', op: '!=', value: 'b' }), false);
    assert.equal(await holds({ key: 'k', target: 'value', op: '!=', value: 'a' }), true);
    assert.equal(await holds({ key: 'leased', target: 'lease', op: '==', value: lease.id }), true);
    assert.equal(await holds({ key: 'k', target: 'lease', op: '==', value: '0' }), true);
    assert.equal(await holds({ key: 'k', target: 'lease', op: '!=', value: lease.id }), true);
    // A missing key: revisions and version are 0 (the "create if absent" idiom); a value compare fails.
    assert.equal(await holds({ key: 'missing', target: 'modRevision', op: '==', value: 0 }), true);
    assert.equal(await holds({ key: 'missing', target: 'createRevision', op: '==', value: 0 }), true);
    assert.equal(await holds({ key: 'missing', target: 'version', op: '==', value: 0 }), true);
    assert.equal(await holds({ key: 'missing', target: 'value', op: '==', value: '' }), false);
    assert.equal(await holds({ key: 'missing', target: 'value', op: '!=', value: 'x' }), false);
    // Several compares: all must hold.
    const both = await s.txn(
      [
        { key: 'k', target: 'value', op: '==', value: 'b' },
        { key: 'k', target: 'version', op: '==', value: 1 },
      ],
      [{ op: 'put', key: 'k', value: 'c' }],
    );
    assert.equal(both.succeeded, false);
    assert.equal((await s.get('k'))?.value, 'b');
    await lease.revoke();
  });

  test(`${name}: txn deletes by key and by prefix, and refuses a key written twice`, async (t) => {
    const s = await open(t);
    for (const k of ['d/1', 'd/2', 'd/3/x', 'd0', 'e']) await s.put(k, k);
    const r = await s.txn(
      [],
      [
        { op: 'deletePrefix', prefix: 'd/' },
        { op: 'delete', key: 'e' },
        { op: 'put', key: 'f', value: 'f' },
      ],
    );
    assert.equal(r.succeeded, true);
    assert.deepEqual(
      (await s.range('')).kvs.map((kv) => kv.key),
      ['d0', 'f'],
    );
    await assert.rejects(
      s.txn(
        [],
        [
          { op: 'put', key: 'g', value: '1' },
          { op: 'put', key: 'g', value: '2' },
        ],
      ),
      (e: Error) => e instanceof StoreRequestError && retryKind(e) === 'fatal' && /duplicate/i.test(e.message),
    );
    assert.equal(await s.get('g'), null, 'a refused txn writes nothing');
  });

  test(
    `${name}: a txn of more than ${MAX_TXN_OPS} ops is refused with a clear error, ` + `${MAX_TXN_OPS} pass`,
    async (t) => {
      const s = await open(t);
      const ops = (count: number, tag: string): Op[] =>
        Array.from({ length: count }, (_, i) => ({ op: 'put', key: `${tag}/${i}`, value: 'v' }) as Op);
      const ok = await s.txn([], ops(MAX_TXN_OPS, 'ok'));
      assert.equal(ok.succeeded, true);
      assert.equal((await s.range('ok/')).kvs.length, MAX_TXN_OPS);
      await assert.rejects(s.txn([], ops(MAX_TXN_OPS + 1, 'big')), (e: Error) => {
        assert.match(e.message, /129 success ops.*at most 128.*split/);
        assert.ok(e instanceof StoreRequestError && retryKind(e) === 'fatal', `got ${e.name}: never retried`);
        return true;
      });
      await assert.rejects(s.txn([], [], ops(MAX_TXN_OPS + 1, 'big')), /129 failure ops/);
      assert.equal((await s.range('big/')).kvs.length, 0);
    },
  );

  test(`${name}: a request over 1.5 MiB is refused (not reported as an outage), 1 MiB passes`, async (t) => {
    const s = await open(t);
    await s.put('mib', 'x'.repeat(1024 * 1024));
    assert.equal((await s.get('mib'))?.value.length, 1024 * 1024);
    await assert.rejects(s.put('two', 'x'.repeat(2 * 1024 * 1024)), (e: Error) => {
      assert.ok(e instanceof StoreRequestError && retryKind(e) === 'fatal', `got ${e.name}: ${e.message}`);
      assert.match(e.message, /too large/);
      return true;
    });
    assert.equal(await s.get('two'), null);
  });

  test(`${name}: a closed store refuses every call as fatal, naming the call`, async (t) => {
    const s = await open(t);
    await s.put('k', 'v');
    await s.close();
    for (const call of [() => s.get('k'), () => s.put('k', 'w'), () => s.range(''), () => s.txn([], [])]) {
      await assert.rejects(call(), (e: Error) => {
        assert.ok(e instanceof StoreClosedError && retryKind(e) === 'fatal', `got ${e.name}: ${e.message}`);
        assert.match(e.message, /the store is closed/);
        return true;
      });
    }
  });

  test(`${name}: revoking a lease removes its keys at once, in one revision`, async (t) => {
    const s = await open(t);
    let lost = 0;
    const lease = await s.grantLease(30, { onLost: () => lost++ });
    assert.equal(lease.ttlSeconds, 30);
    assert.match(lease.id, /^[0-9]+$/);
    await s.put('l/1', 'a', { lease: lease.id });
    await s.txn([], [{ op: 'put', key: 'l/2', value: 'b', lease: lease.id }]);
    await s.put('kept', 'c');
    assert.equal((await s.get('l/1'))?.lease, lease.id);
    const w = await recordWatch(s, 'l/');
    await lease.revoke();
    assert.equal(await s.get('l/1'), null);
    assert.equal(await s.get('l/2'), null);
    assert.equal((await s.get('kept'))?.value, 'c');
    const evs = await w.waitEvents(2);
    assert.deepEqual(evs.map(brief), ['delete l/1', 'delete l/2']);
    assert.equal(w.batches.length, 1, 'both deletions come in one revision');
    assert.equal(lost, 0, 'our own revoke is not a loss');
    await assert.rejects(s.put('late', 'x', { lease: lease.id }), (e: Error) => {
      assert.ok(!(e instanceof StoreUnavailableError));
      assert.match(e.message, /lease .* does not exist/);
      return true;
    });
    await w.watch.close();
  });

  test(`${name}: leased keys vanish after the TTL without keep-alives and stay with them`, async (t) => {
    const s = await open(t);
    let lost = 0;
    const kept = await s.grantLease(1, { onLost: () => lost++ });
    const dropped = await s.grantLease(1);
    await s.put('kept', 'k', { lease: kept.id });
    await s.put('dropped', 'd', { lease: dropped.id });
    const t0 = performance.now();
    dropped.release();
    assert.equal((await s.get('dropped'))?.value, 'd', 'release does not revoke');
    assert.ok(await until(async () => (await s.get('dropped')) === null, 5000, 50), 'the released lease expired');
    // Well past the TTL (1 s): only keep-alives can have kept this one.
    await sleep(Math.max(0, 2500 - (performance.now() - t0)));
    assert.equal((await s.get('kept'))?.value, 'k', 'a kept-alive lease outlives its TTL');
    assert.equal(lost, 0);
    await kept.revoke();
    assert.equal(await s.get('kept'), null);
    await assert.rejects(s.grantLease(0), /whole number of seconds/);
    await assert.rejects(s.grantLease(1.5), /whole number of seconds/);
  });

  test(`${name}: a watch from a past revision replays history in order, then follows`, async (t) => {
    const s = await open(t);
    const r1 = await s.put('w/a', '1');
    await s.put('w/b', '1');
    await s.put('elsewhere', 'x');
    await s.delete('w/a');
    await s.txn(
      [],
      [
        { op: 'put', key: 'w/c', value: '1' },
        { op: 'put', key: 'w/a', value: '2' },
      ],
    );
    const w = await recordWatch(s, 'w/', r1);
    await w.waitEvents(5);
    await s.put('w/b', '2');
    const evs = await w.waitEvents(6);
    assert.deepEqual(evs.map(brief), ['put w/a=1', 'put w/b=1', 'delete w/a', 'put w/c=1', 'put w/a=2', 'put w/b=2']);
    assert.deepEqual(
      w.batches.map((b) => b.length),
      [1, 1, 1, 2, 1],
      'one call per revision, a txn in one call',
    );
    const revs = evs.map((e) => e.kv.modRevision);
    assert.deepEqual(
      [...revs].sort((a, b) => a - b),
      revs,
      'in revision order',
    );
    assert.equal(evs[0]!.kv.modRevision, r1);
    const del = evs[2]!;
    assert.equal(del.kv.value, '');
    assert.ok(del.kv.modRevision > r1, 'a delete event carries the revision of the deletion');
    await w.watch.close();
  });

  test(
    `${name}: a watch from now sees later puts and deletes with their metadata, and nothing after ` + `close`,
    async (t) => {
      const s = await open(t);
      await s.put('n/old', 'x');
      const w = await recordWatch(s, 'n/');
      const r1 = await s.put('n/k', 'v1');
      const r2 = await s.put('n/k', 'v2');
      const r3 = await s.delete('n/k');
      const evs = await w.waitEvents(3);
      assert.deepEqual(
        evs.map((e) => [e.type, e.kv.key, e.kv.value, e.kv.createRevision, e.kv.modRevision, e.kv.version]),
        [
          ['put', 'n/k', 'v1', r1, r1, 1],
          ['put', 'n/k', 'v2', r1, r2, 2],
          ['delete', 'n/k', '', 0, r3, 0],
        ],
      );
      await w.watch.close();
      await s.put('n/k', 'after');
      await sleep(200);
      assert.equal(w.events().length, 3, 'a closed watch delivers nothing more');
    },
  );

  test(`${name}: an exception in a watch handler is caught and logged; later events still arrive`, async (t) => {
    const logs: string[] = [];
    const s = await open(t, fresh(), { log: (m) => logs.push(m) });
    const got: string[] = [];
    const watch = await s.watch('h/', undefined, {
      onEvents(evs) {
        got.push(...evs.map(brief));
        if (got.length === 1) throw new Error('handler bug');
      },
    });
    await s.put('h/1', 'a');
    await s.put('h/2', 'b');
    assert.ok(await until(() => got.length === 2, 5000), `got ${got.join(', ')}`);
    assert.ok(
      logs.some((m) => /handler bug/.test(m)),
      `logged: ${logs.join(' | ')}`,
    );
    await watch.close();
  });

  test(`${name}: a watch from a compacted revision reports the compaction through onError`, async (t) => {
    const s = await open(t);
    const r1 = await s.put('c/k', '1');
    await s.put('c/k', '2');
    const r3 = await s.put('c/k', '3');
    await hooks.compact(r3);
    const w = await recordWatch(s, 'c/', r1);
    assert.ok(await until(() => w.errors.length > 0, 5000), 'onError was called');
    assert.match(w.errors[0]!.message, /compacted/);
    assert.equal(w.events().length, 0);
    await w.watch.close();
    // Recovery as the interface says: range, then watch from revision + 1.
    const { kvs, revision } = await s.range('c/');
    assert.equal(kvs[0]?.value, '3');
    const w2 = await recordWatch(s, 'c/', revision + 1);
    await s.put('c/k', '4');
    assert.deepEqual((await w2.waitEvents(1)).map(brief), ['put c/k=4']);
    assert.equal(w2.errors.length, 0);
    await w2.watch.close();
  });

  test(`${name}: two prefixes are isolated namespaces`, async (t) => {
    const base = fresh();
    // '/x/ns' and '/x/ns2' would overlap as raw prefixes; the store ends each with '/'.
    const a = await open(t, `${base}ns`);
    const b = await open(t, `${base}ns2/`);
    await a.put('k', 'A');
    await b.put('k', 'B');
    await a.put('only-a', 'A');
    const wa = await recordWatch(a, '');
    assert.equal((await a.get('k'))?.value, 'A');
    assert.equal((await b.get('k'))?.value, 'B');
    assert.deepEqual(
      (await a.range('')).kvs.map((kv) => kv.key),
      ['k', 'only-a'],
    );
    assert.deepEqual(
      (await b.range('')).kvs.map((kv) => kv.key),
      ['k'],
    );
    await b.txn([], [{ op: 'deletePrefix', prefix: '' }]);
    await b.put('late', 'B');
    await a.put('k', 'A2');
    const evs = await wa.waitEvents(1);
    await sleep(100);
    assert.deepEqual(wa.events().map(brief), ['put k=A2'], 'a watch sees only its own namespace');
    assert.equal(evs[0]!.kv.key, 'k', 'keys come back relative to the prefix');
    assert.equal((await a.get('only-a'))?.value, 'A', "the other namespace's deletePrefix left this one alone");
    await wa.watch.close();
  });

  test(`${name}: stats count the requests a client sent`, async (t) => {
    const s = await open(t);
    const before = s.stats();
    await s.put('s', '1');
    await s.put('s', '2');
    await s.delete('s');
    await s.txn(
      [],
      [
        { op: 'put', key: 't', value: '1' },
        { op: 'put', key: 'u', value: '1' },
      ],
    );
    await s.get('t');
    await s.range('');
    const after = s.stats();
    assert.deepEqual(
      { puts: after.puts - before.puts, deletes: after.deletes - before.deletes, txns: after.txns - before.txns },
      { puts: 2, deletes: 1, txns: 1 },
    );
    assert.ok(after.ranges - before.ranges >= 2, 'get and range count as ranges');
  });
}
