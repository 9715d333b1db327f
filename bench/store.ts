/**
 * Store benchmark: latencies of the Store calls against a real etcd (one member, on loopback,
 * started here) and against the memory store.
 *
 *   node --import tsx bench/store.ts [--samples 300] [--members 1|3]
 *
 * Prints p50/p90/p99 per call: get, put, 1-compare txn, txn of 128 puts, range of 10,000 keys
 * (paged), watch latency (put -> event delivered), lease grant.
 */
import { parseArgs } from 'node:util';
import { EtcdStore } from '../src/store/etcd.js';
import { MemoryStore } from '../src/store/memory.js';
import { MAX_TXN_OPS, type Op, type Store } from '../src/store/store.js';
import { startEtcd } from '../test/support/etcd.js';

const { values } = parseArgs({
  options: { samples: { type: 'string', default: '300' }, members: { type: 'string', default: '1' } },
});
const samples = Number(values.samples);
const members = values.members === '3' ? 3 : 1;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1)).padStart(7);

async function bench(label: string, store: Store): Promise<void> {
  const rows: [string, number[]][] = [];
  await store.put('warm', 'x');
  rows.push(['put', await time(samples, (i) => store.put(`p/${i % 50}`, `v${i}`))]);
  rows.push(['get', await time(samples, (i) => store.get(`p/${i % 50}`))]);
  let rev = await store.put('cas', '0');
  rows.push([
    'txn, 1 compare + 1 put',
    await time(samples, async (i) => {
      const r = await store.txn(
        [{ key: 'cas', target: 'modRevision', op: '==', value: rev }],
        [{ op: 'put', key: 'cas', value: String(i) }],
      );
      if (!r.succeeded) throw new Error('bench: compare failed');
      rev = r.revision;
    }),
  ]);
  const big = (k: number): Op[] =>
    Array.from(
      { length: MAX_TXN_OPS },
      (_, j) => ({ op: 'put', key: `many/${String(k * MAX_TXN_OPS + j).padStart(6, '0')}`, value: `unit-${j}` }) as Op,
    );
  const fill = await time(Math.ceil(10_000 / MAX_TXN_OPS), (k) => store.txn([], big(k)));
  rows.push([`txn of ${MAX_TXN_OPS} puts`, fill]);
  rows.push(['range 10,000 keys', await time(Math.max(5, Math.floor(samples / 30)), () => store.range('many/'))]);
  rows.push([
    'range 10,000 keys, keys only',
    await time(Math.max(5, Math.floor(samples / 30)), () => store.range('many/', { keysOnly: true })),
  ]);
  // Watch: put -> onEvents.
  let resolve: (() => void) | null = null;
  const w = await store.watch('w/', undefined, { onEvents: () => resolve?.() });
  rows.push([
    'watch: put -> event',
    await time(Math.min(samples, 200), async (i) => {
      const seen = new Promise<void>((r) => (resolve = r));
      await store.put(`w/${i % 10}`, String(i));
      await seen;
    }),
  ]);
  await w.close();
  rows.push([
    'lease grant + revoke',
    await time(Math.min(samples, 100), async () => {
      const l = await store.grantLease(10);
      await l.revoke();
    }),
  ]);
  const puts10k = fill.reduce((a, b) => a + b, 0);
  console.log(`\n${label}`);
  console.log(`  ${'call'.padEnd(30)}    p50     p90     p99   (ms, n)`);
  for (const [name, xs] of rows)
    console.log(`  ${name.padEnd(30)}${fmt(pct(xs, 50))} ${fmt(pct(xs, 90))} ${fmt(pct(xs, 99))}   n=${xs.length}`);
  console.log(
    `  10,000 puts in txns of ${MAX_TXN_OPS}: ${puts10k.toFixed(0)} ms (${Math.round(10_000 / (puts10k / 1000))} ` +
      `puts/s)`,
  );
  console.log(`  stats: ${JSON.stringify(store.stats())}`);
}

const etcd = await startEtcd({ members });
try {
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/bench/' });
  try {
    await bench(`etcd 3.4, ${members} member${members > 1 ? 's' : ''} on loopback (EtcdStore)`, s);
  } finally {
    await s.close();
  }
} finally {
  await etcd.stop();
}
const m = new MemoryStore();
try {
  await bench('memory store (MemoryStore)', m);
} finally {
  await m.close();
}
