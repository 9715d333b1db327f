/**
 * Agent benchmark: a real etcd, a real private systemd user instance, one Agent.
 *
 *   node --import tsx bench/agent/agent.ts [--units 500] [--samples 30]
 *
 * Prints:
 *   1. desired-state change -> unit active on the machine: from the schedule put in etcd to systemd's
 *      ActiveState=active signal, seen by a second, independent D-Bus connection (goal p50 < 150 ms);
 *   2. launching N units (default 500) on one agent: from one batch of schedule writes to every unit
 *      active, and to every unit reported in etcd (goal < 10 s);
 *   3. daemon-reload and StartUnit latencies on the same instance, for context.
 * FLOORS, on the same systemd instance in the same run (bench/floor.ts): for 1, a unit file written
 * and StartUnit by hand after each sample; for 2, N units written and all started at once by hand.
 * Each figure prints its ratio to its floor; the load average is printed at the start and the end.
 */
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { SystemdManager, type UnitState } from '../../src/systemd/manager.js';
import { silentLogger } from '../../src/log.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { MAX_TXN_OPS, type Op } from '../../src/store/store.js';
import { bodyKey, scheduleKey, unitStatePrefix } from '../../src/store/keys.js';
import { sha256 } from '../../src/util/hash.js';
import { decodeUnitStateReport } from '../../src/store/records.js';
import { startEtcd } from '../../test/support/etcd.js';
import { startSystemd, stopSystemd } from '../../test/support/systemd.js';
import { Floor, load } from '../floor.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const UNITS = arg('units', 500);
const SAMPLES = arg('samples', 30);
const MACHINE = 'bench-machine';
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

console.log(`bench/agent: load average at start ${load()}`);
const etcd = await startEtcd();
const inst = await startSystemd();
const floor = await Floor.open(inst);
const prefix = '/gitfleet-bench/';
const admin = new EtcdStore({ endpoints: etcd.endpoints, prefix });
const agentStore = new EtcdStore({ endpoints: etcd.endpoints, prefix });
const mgr = await SystemdManager.connect({ address: inst.busAddress });
// The observer: its own connection, so what it sees does not depend on the agent's.
const observer = await SystemdManager.connect({ address: inst.busAddress });
const stateDir = join(inst.dir, 'gitfleet');
const agent = new Agent({
  store: agentStore,
  machineId: MACHINE,
  metadata: {},
  address: '127.0.0.1',
  systemd: mgr,
  unitDir: join(stateDir, 'units'),
  stateDir,
  log: silentLogger,
  concurrency: 64,
});

try {
  await agent.start();

  /** Resolves when `unit` is reported active by systemd's signal to the observer. */
  const activeSignal = (units: Set<string>) =>
    new Promise<void>((resolve) => {
      const left = new Set(units);
      const on = (s: UnitState) => {
        if (s.active === 'active' && left.delete(s.name) && left.size === 0) {
          observer.off('unit-state', on);
          resolve();
        }
      };
      observer.on('unit-state', on);
    });

  // 1. desired change -> active
  const lat: number[] = [];
  const floorLat: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const unit = `lat${i}.service`;
    const content = `[Service]\nExecStart=/bin/sleep ${10_000 + i}\n`;
    const hash = sha256(content);
    await admin.put(bodyKey(hash), content);
    const seen = activeSignal(new Set([unit]));
    const t0 = performance.now();
    await admin.put(scheduleKey(MACHINE, unit), JSON.stringify({ hash, state: 'launched' }));
    await seen;
    lat.push(performance.now() - t0);
    await agent.idle();
    floorLat.push(await floor.newUnit(`floor-lat${i}.service`, content));
  }
  console.log(
    `desired-state change -> unit active: p50 ${fmt(pct(lat, 50))}, p90 ${fmt(pct(lat, 90))}, max ` +
      `${fmt(Math.max(...lat))} ` +
      `(n=${SAMPLES}; goal p50 < 150 ms); FLOOR write + StartUnit p50 ${fmt(pct(floorLat, 50))}, ratio ` +
      `${(pct(lat, 50) / pct(floorLat, 50)).toFixed(2)}x`,
  );

  // 2. launch UNITS units at once
  const names = new Set<string>();
  const ops: Op[] = [];
  for (let i = 0; i < UNITS; i++) {
    const unit = `many${i}.service`;
    const content = `[Service]\nExecStart=/bin/sleep ${20_000 + i}\n`;
    const hash = sha256(content);
    names.add(unit);
    ops.push({ op: 'put', key: bodyKey(hash), value: content });
    ops.push({ op: 'put', key: scheduleKey(MACHINE, unit), value: JSON.stringify({ hash, state: 'launched' }) });
  }
  const allActive = activeSignal(names);
  const t0 = performance.now();
  for (let i = 0; i < ops.length; i += MAX_TXN_OPS) await admin.txn([], ops.slice(i, i + MAX_TXN_OPS));
  const written = performance.now() - t0;
  await allActive;
  const active = performance.now() - t0;
  for (;;) {
    const r = await admin.range(unitStatePrefix(MACHINE));
    const n = r.kvs.filter((kv) => kv.key.includes('/many') && decodeUnitStateReport(kv).active === 'active').length;
    if (n === UNITS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const reported = performance.now() - t0;
  const floorUnits: Record<string, string> = {};
  for (let i = 0; i < UNITS; i++)
    floorUnits[`floor-many${i}.service`] = `[Service]\nExecStart=/bin/sleep ${30_000 + i}\n`;
  const floorMany = await floor.manyUnits(floorUnits);
  console.log(
    `launch ${UNITS} units on one agent: schedule written in ${fmt(written)}, all active after ${fmt(active)}, all ` +
      `reported after ${fmt(reported)} (goal < 10 s); FLOOR ${UNITS} written + started at once by hand ` +
      `${fmt(floorMany)}, ratio (active) ${(active / floorMany).toFixed(2)}x`,
  );

  // 3. context
  const rl: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r0 = performance.now();
    await observer.reload();
    rl.push(performance.now() - r0);
  }
  console.log(`daemon-reload with ${UNITS + SAMPLES} units loaded: p50 ${fmt(pct(rl, 50))}`);
  console.log(`private systemd startup: ${inst.startupMs} ms; agent passes: ${agent.passes}`);
  console.log(`load average at end ${load()}`);
} finally {
  await floor.stop();
  floor.close();
  await agent.stop();
  mgr.close();
  observer.close();
  await agentStore.close();
  await admin.close();
  await stopSystemd(inst);
  await etcd.stop();
}
