/**
 * Store benchmark: latencies of the Store calls against a real etcd (one member, on loopback,
 * started here) and against the memory store.
 *
 *   node --import tsx bench/store.ts [--samples 300] [--members 1|3]
 *
 * Prints p50/p90/p99 per call: get, put, 1-compare txn, txn of 128 puts, range of 10,000 keys
 * (paged), watch latency (put -> event delivered), lease grant. The FLOOR is etcd itself: the same
 * calls made with the etcd3 client directly (no paging, checks, deadlines or error mapping of
 * EtcdStore), in the same run on the same etcd; each EtcdStore row prints its p50 ratio to it.
 * The machine's load average is printed at the start and the end.
 */
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../src/store/etcd.js';
import { MemoryStore } from '../src/store/memory.js';
import { MAX_TXN_OPS, type Op, type Store } from '../src/store/store.js';
import { startEtcd } from '../test/support/etcd.js';
import { load } from './floor.js';

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

type Rows = Array<[string, number[]]>;

async function bench(label: string, store: Store, floor?: Rows): Promise<void> {
  const rows: Rows = [];
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
  print(label, rows, floor);
  console.log(
    `  10,000 puts in txns of ${MAX_TXN_OPS}: ${puts10k.toFixed(0)} ms (${Math.round(10_000 / (puts10k / 1000))} ` +
      `puts/s)`,
  );
  console.log(`  stats: ${JSON.stringify(store.stats())}`);
}

function print(label: string, rows: Rows, floor?: Rows): void {
  console.log(`\n${label}`);
  console.log(`  ${'call'.padEnd(30)}    p50     p90     p99   (ms, n)${floor ? '   FLOOR p50   ratio' : ''}`);
  for (const [name, xs] of rows) {
    const f = floor?.find(([n]) => n === name)?.[1];
    const beside = f ? `   ${fmt(pct(f, 50))}   ${(pct(xs, 50) / pct(f, 50)).toFixed(2)}x` : '';
    console.log(
      `  ${name.padEnd(30)}${fmt(pct(xs, 50))} ${fmt(pct(xs, 90))} ${fmt(pct(xs, 99))}   n=${xs.length}${beside}`,
    );
  }
}

/** The floor: the same calls through the etcd3 client itself, under a prefix of their own. */
async function rawFloor(endpoints: string[]): Promise<Rows> {
  const c = new Etcd3({ hosts: endpoints });
  const k = (x: string) => `/floor/${x}`;
  try {
    const rows: Rows = [];
    await c.put(k('warm')).value('x');
    rows.push([
      'put',
      await time(samples, (i) =>
        c
          .put(k(`p/${i % 50}`))
          .value(`v${i}`)
          .exec(),
      ),
    ]);
    rows.push(['get', await time(samples, (i) => c.get(k(`p/${i % 50}`)).string())]);
    await c.put(k('cas')).value('0');
    rows.push([
      'txn, 1 compare + 1 put',
      await time(samples, async (i) => {
        const r = await c
          .if(k('cas'), 'Value', '==', String(i === 0 ? 0 : i - 1))
          .then(c.put(k('cas')).value(String(i)))
          .commit();
        if (!r.succeeded) throw new Error('bench floor: compare failed');
      }),
    ]);
    rows.push([
      `txn of ${MAX_TXN_OPS} puts`,
      await time(Math.ceil(10_000 / MAX_TXN_OPS), (b) => {
        const ops = Array.from({ length: MAX_TXN_OPS }, (_, j) =>
          c.put(k(`many/${String(b * MAX_TXN_OPS + j).padStart(6, '0')}`)).value(`unit-${j}`),
        );
        return c
          .if(k('none'), 'Version', '==', 0)
          .then(...ops)
          .commit();
      }),
    ]);
    const n = Math.max(5, Math.floor(samples / 30));
    rows.push(['range 10,000 keys', await time(n, () => c.getAll().prefix(k('many/')).strings())]);
    rows.push(['range 10,000 keys, keys only', await time(n, () => c.getAll().prefix(k('many/')).keys())]);
    let resolve: (() => void) | null = null;
    const w = await c.watch().prefix(k('w/')).create();
    w.on('put', () => resolve?.());
    rows.push([
      'watch: put -> event',
      await time(Math.min(samples, 200), async (i) => {
        const seen = new Promise<void>((r) => (resolve = r));
        await c.put(k(`w/${i % 10}`)).value(String(i));
        await seen;
      }),
    ]);
    await w.cancel();
    rows.push([
      'lease grant + revoke',
      await time(Math.min(samples, 100), async () => {
        const l = c.lease(10, { autoKeepAlive: false });
        await l.grant();
        await l.revoke();
      }),
    ]);
    return rows;
  } finally {
    c.close();
  }
}

console.log(`bench/store: ${samples} samples per call; load average at start ${load()}`);
const etcd = await startEtcd({ members });
try {
  const floor = await rawFloor(etcd.endpoints);
  const where = `etcd 3.4, ${members} member${members > 1 ? 's' : ''} on loopback`;
  print(`${where}: FLOOR, the etcd3 client alone`, floor);
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/bench/' });
  try {
    await bench(`${where} (EtcdStore)`, s, floor);
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
console.log(`\nload average at end ${load()}`);
