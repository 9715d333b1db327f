/**
 * bench/scale's checks in etcd after a phase, and its machine records for --no-agents.
 */
import { SCHEDULE_PREFIX, UNIT_STATE_PREFIX, machineKey, splitMachineUnit } from '../../src/store/keys.js';
import { decodeUnitStateReport } from '../../src/store/records.js';
import type { Store } from '../../src/store/store.js';

/**
 * Every unit scheduled exactly once and (with agents) reported active with its expected hash by
 * that machine and only there, with `simActive` units active in the simulated systemds. Throws
 * otherwise; returns the units per machine.
 */
export async function verifyPlacement(
  store: Store,
  expected: ReadonlyMap<string, string>,
  agents: boolean,
  simActive: number,
): Promise<{ machines: number; min: number; max: number }> {
  const [sched, state] = await Promise.all([
    store.range(SCHEDULE_PREFIX, { keysOnly: true }),
    store.range(UNIT_STATE_PREFIX),
  ]);
  const placed = new Map<string, string>();
  for (const kv of sched.kvs) {
    const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX)!;
    if (placed.has(mu.unit)) throw new Error(`${mu.unit} scheduled twice`);
    placed.set(mu.unit, mu.machine);
  }
  let wrong = 0;
  for (const kv of state.kvs) {
    const mu = splitMachineUnit(kv.key, UNIT_STATE_PREFIX)!;
    const r = decodeUnitStateReport(kv);
    if (placed.get(mu.unit) !== mu.machine || r.active !== 'active' || r.hash !== expected.get(mu.unit)) wrong++;
  }
  const n = expected.size;
  if (placed.size !== n || (agents && (state.kvs.length !== n || wrong > 0 || simActive !== n))) {
    throw new Error(
      `verification failed: ${placed.size} scheduled, ${state.kvs.length} reports, ${wrong} wrong, ${simActive} ` +
        `active in the simulations`,
    );
  }
  const perMachine = new Map<string, number>();
  for (const m of placed.values()) perMachine.set(m, (perMachine.get(m) ?? 0) + 1);
  const counts = [...perMachine.values()];
  return { machines: perMachine.size, min: Math.min(...counts), max: Math.max(...counts) };
}

/** --no-agents: `n` machine records, as agents register them, under one lease kept alive by the store. */
export async function registerMachines(store: Store, n: number): Promise<void> {
  const lease = await store.grantLease(60);
  for (let i = 0; i < n; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + 100); j++) {
      const id = `sim-${String(j).padStart(5, '0')}`;
      const record = {
        id,
        address: `10.1.${j >> 8}.${j & 255}`,
        metadata: { region: j % 2 ? 'eu' : 'us', rack: `r${j % 40}` },
        version: 'bench',
        startedAt: new Date().toISOString(),
        ttl: 60,
      };
      ops.push({ op: 'put' as const, key: machineKey(id), value: JSON.stringify(record), lease: lease.id });
    }
    await store.txn([], ops);
  }
}
