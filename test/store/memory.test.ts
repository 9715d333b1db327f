/** The Store contract against the in-process store, plus what only the memory store has. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBackend, MemoryStore, compareKeys } from '../../src/store/memory.js';
import { storeContract } from './contract.js';

const backend = new MemoryBackend();

storeContract(
  'memory',
  async (prefix, opts) => {
    const store = new MemoryStore({ backend, prefix, ...(opts?.log ? { log: opts.log } : {}) });
    return { store, cleanup: () => store.close() };
  },
  { compact: async (revision) => backend.compact(revision) },
);

test('memory: history beyond historyRevisions is compacted, and a watch from there fails', async () => {
  const s = new MemoryStore({ backendOptions: { historyRevisions: 5 } });
  try {
    const first = await s.put('k', '0');
    for (let i = 1; i < 10; i++) await s.put('k', String(i));
    assert.equal(s.backend.compactRevision, first + 4);
    const errors: Error[] = [];
    await s.watch('', first, {
      onEvents: () => assert.fail('no events from a compacted start'),
      onError: (e) => errors.push(e),
    });
    await new Promise((r) => setImmediate(r));
    assert.match(errors[0]?.message ?? '', /compacted/);
    const got: string[] = [];
    const w = await s.watch('', first + 5, { onEvents: (evs) => got.push(...evs.map((e) => e.kv.value)) });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['5', '6', '7', '8', '9'], 'the kept history still replays');
    await w.close();
  } finally {
    await s.close();
  }
});

test('memory: watch events are delivered asynchronously, after the write returns', async () => {
  const s = new MemoryStore();
  try {
    const got: number[] = [];
    await s.watch('', undefined, { onEvents: (evs) => got.push(evs[0]!.kv.modRevision) });
    const r = await s.put('a', '1');
    assert.deepEqual(got, [], 'not inside put()');
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(got, [r]);
  } finally {
    await s.close();
  }
});

test('memory: a lease that expires while its holder still keeps it alive reports onLost', async () => {
  const s = new MemoryStore();
  try {
    let lost: Error | undefined;
    const lease = await s.grantLease(1, { onLost: (e) => (lost = e) });
    await s.put('k', 'v', { lease: lease.id });
    // Block the event loop past the TTL: the keep-alive timer cannot run, the expiry wins.
    const until = Date.now() + 1100;
    while (Date.now() < until) {
      /* busy */
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.match(lost?.message ?? '', /expired/);
    assert.equal(await s.get('k'), null);
  } finally {
    await s.close();
  }
});

test('memory: keys sort in UTF-8 byte order like etcd', () => {
  const keys = ['\u{1F600}', '\uFFFD', 'z', 'a', '\u00e9', 'ab', ''];
  const bytes = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual([...keys].sort(compareKeys), bytes);
});

test('a wall clock stepped forward does not expire an embedded lease: leases run on the steady clock', () => {
  const backend = new MemoryBackend();
  let expired = 0;
  const lease = backend.grant(5, () => expired++);
  const realNow = Date.now;
  Date.now = () => realNow() + 3_600_000; // NTP (or someone) steps the clock an hour ahead
  try {
    assert.equal(backend.keepAlive(lease.id), true, 'the lease is still alive');
  } finally {
    Date.now = realNow;
  }
  assert.equal(expired, 0);
  backend.revoke(lease.id);
});
