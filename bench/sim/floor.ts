/**
 * bench/scale's floors: what etcd alone takes for the requests a commit needs on its critical
 * path, measured on the benchmark's own etcd in the same run (under a scratch prefix, deleted
 * after), so that each figure is printed beside what no implementation on this etcd can beat.
 *
 * Phase 1 (N units over M machines): the controller's bodies and shards (N puts in transactions
 * of 128), the engine's schedule (N puts in transactions of 128), each agent reading its bodies
 * (one read of a machine's bodies, as Store.getMany sends it: a read-only transaction of a range
 * per key; 50 machines in flight) and writing its reports (one transaction per machine), one step
 * after the other as the pipeline runs them.
 * Phase 2 (one unit): the hops of a one-unit change, each a write seen through a watch: the root
 * flip, the schedule entry, the agent's body read and its report.
 */
import type { Store } from '../../src/store/store.js';
import { mapLimit } from '../../src/util/pool.js';

const SCRATCH = 'bench-floor/';

export interface Phase1Floor {
  controllerMs: number;
  engineMs: number;
  agentsMs: number;
  totalMs: number;
}

/** Write `n` keys of `bytes` each in transactions of `perTxn` (sequentially, as one writer does). */
async function putMany(store: Store, tag: string, n: number, bytes: number, perTxn: number): Promise<void> {
  const value = 'x'.repeat(bytes);
  for (let i = 0; i < n; i += perTxn) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + perTxn); j++)
      ops.push({ op: 'put' as const, key: `${SCRATCH}${tag}/${j}`, value });
    await store.txn([], ops);
  }
}

export async function phase1Floor(store: Store, units: number, machines: number): Promise<Phase1Floor> {
  const t0 = performance.now();
  await putMany(store, 'bodies', units, 200, 128);
  const t1 = performance.now();
  await putMany(store, 'schedule', units, 60, 127);
  const t2 = performance.now();
  const perMachine = Math.ceil(units / machines);
  await mapLimit(
    Array.from({ length: machines }, (_, m) => m),
    50,
    async (m) => {
      const mine = Array.from({ length: perMachine }, (_, j) => m * perMachine + j).filter((i) => i < units);
      await store.getMany(mine.map((i) => `${SCRATCH}bodies/${i}`));
      const ops = mine.map((i) => ({ op: 'put' as const, key: `${SCRATCH}state/${m}/${i}`, value: 'x'.repeat(120) }));
      if (ops.length) await store.txn([], ops);
    },
  );
  const t3 = performance.now();
  await store.txn([], [{ op: 'deletePrefix', prefix: SCRATCH }]);
  return { controllerMs: t1 - t0, engineMs: t2 - t1, agentsMs: t3 - t2, totalMs: t3 - t0 };
}

/**
 * A one-unit change's chain of hops, each a put observed through a watch by the next hop:
 * root flip -> schedule entry -> (body get) report -> seen. Median of `samples`.
 */
export async function phase2Floor(store: Store, samples = 5): Promise<number> {
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const watches: Array<{ close(): Promise<void> }> = [];
    /** Resolves at the first event on `key`; the watch is up before it returns. */
    const seen = async (key: string): Promise<{ event: Promise<void> }> => {
      let fired!: () => void;
      const event = new Promise<void>((resolve) => (fired = resolve));
      watches.push(await store.watch(key, undefined, { onEvents: () => fired() }));
      return { event };
    };
    const rootSeen = (await seen(`${SCRATCH}root`)).event;
    const schedSeen = (await seen(`${SCRATCH}schedule`)).event;
    const stateSeen = (await seen(`${SCRATCH}state`)).event;
    await store.put(`${SCRATCH}body`, 'x'.repeat(200));
    const t0 = performance.now();
    await store.txn([], [{ op: 'put', key: `${SCRATCH}root`, value: String(s) }]);
    await rootSeen;
    await store.txn([], [{ op: 'put', key: `${SCRATCH}schedule`, value: String(s) }]);
    await schedSeen;
    await store.get(`${SCRATCH}body`);
    await store.txn([], [{ op: 'put', key: `${SCRATCH}state`, value: String(s) }]);
    await stateSeen;
    times.push(performance.now() - t0);
    await Promise.all(watches.map((w) => w.close()));
  }
  await store.txn([], [{ op: 'deletePrefix', prefix: SCRATCH }]);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
