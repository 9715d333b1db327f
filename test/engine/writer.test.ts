/**
 * How the engine's schedule writes are cut into transactions, judged by what an agent sees: its
 * DesiredWatch (against the memory store) must never act on part of what one pass gives its
 * machine, and no unit may be on two machines between transactions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DesiredWatch } from '../../src/agent/desired-watch.js';
import { BYTES_PER_TXN, cutTransactions } from '../../src/engine/writer.js';
import { silentLogger } from '../../src/log.js';
import { scheduleKey, unscheduledKey } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Op } from '../../src/store/store.js';

const put = (m: string, u: string): Op => ({
  op: 'put',
  key: scheduleKey(m, u),
  value: JSON.stringify({ hash: 'h'.repeat(64), state: 'launched' }),
});

test('300 new units on 3 machines: each agent sees its 100 at once, in one change', async () => {
  const store = new MemoryStore();
  const seen = new Map<string, number[]>();
  const watches = ['m1', 'm2', 'm3'].map((m) => {
    const w: DesiredWatch = new DesiredWatch({
      store,
      machineId: m,
      metadata: {},
      log: silentLogger,
      changed: () => seen.set(m, [...(seen.get(m) ?? []), w.entries().size]),
    });
    return w;
  });
  await Promise.all(watches.map((w) => w.follow()));
  const ops: Op[] = [];
  for (let i = 0; i < 300; i++) ops.push(put(`m${(i % 3) + 1}`, `u${i}.service`));
  for (const txn of cutTransactions(ops, new Set(), 127)) await store.txn([], txn);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(Object.fromEntries(seen), { m1: [100], m2: [100], m3: [100] });
  await Promise.all(watches.map((w) => w.close()));
  await store.close();
});

test('a machine with more placements than one transaction holds: its agent sees them whole', async () => {
  const store = new MemoryStore();
  const sizes: number[] = [];
  const w: DesiredWatch = new DesiredWatch({
    store,
    machineId: 'big',
    metadata: {},
    log: silentLogger,
    changed: () => sizes.push(w.entries().size),
  });
  await w.follow();
  const ops = Array.from({ length: 400 }, (_, i) => put('big', `u${i}.service`));
  const txns = cutTransactions(ops, new Set(), 127);
  assert.ok(txns.length > 1, 'needs several transactions');
  for (const txn of txns) await store.txn([], txn);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(sizes, [400]);
  await w.close();
  await store.close();
});

test('a moving unit is deleted from its old machine before it is put on its new one', () => {
  const from = scheduleKey('m1', 'a.service');
  const ops: Op[] = [
    put('m2', 'a.service'),
    { op: 'delete', key: from },
    { op: 'put', key: unscheduledKey('x'), value: '{}' },
  ];
  const txns = cutTransactions(ops, new Set([from]));
  const at = (key: string) => txns.findIndex((t) => t.some((o) => 'key' in o && o.key === key));
  assert.ok(at(from) < at(scheduleKey('m2', 'a.service')));
  assert.equal(at(unscheduledKey('x')), txns.length - 1);
});

test('transactions are cut by bytes too: a big rollout record never makes a request etcd refuses', () => {
  const big = 'x'.repeat(100 * 1024);
  const ops: Op[] = Array.from({ length: 40 }, (_, i) => ({ op: 'put', key: `rollouts/c1/groups/${i}`, value: big }));
  const txns = cutTransactions(ops, new Set());
  assert.deepEqual(txns.flat(), ops);
  for (const t of txns) {
    const bytes = t.reduce((n, o) => n + ('key' in o ? o.key.length : 0) + (o.op === 'put' ? o.value.length : 0), 0);
    assert.ok(bytes <= BYTES_PER_TXN, `a transaction of ${bytes} bytes`);
  }
  assert.ok(txns.length >= 4);
});
