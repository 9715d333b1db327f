/**
 * Benchmark: schedule 10,000 units over 1,000 machines from scratch against a real etcd.
 *
 *   node --import tsx bench/schedule.ts [--units N] [--machines N]
 *
 * Starts its own etcd (test/support/etcd.ts), registers the machines (lease-bound records under
 * machineKey, as agents write them; one shared lease here instead of 1,000), starts one engine,
 * then writes the desired state with the controller's own applyDesired and measures:
 *   - the controller's apply (bodies, shards, root flip);
 *   - root flip -> every placeable unit's schedule key written (what the goal of < 10 s is about);
 *   - etcd writes of a pass where nothing changed (goal: 0);
 *   - 10 machines deregistered -> their units rescheduled.
 * The expected schedule comes from the pure planner on the same input, so "fully scheduled" is
 * exact. FLOOR (same etcd, same run, while the engine idles): the schedule's writes by hand, N
 * keys of a schedule entry's size in transactions of 128, one after another as one writer does;
 * the scheduling and the rescheduling figures print their ratio to it (for the rescheduling, the
 * floor of its own number of keys). Load average at start and end. Everything started here is
 * ended by PID before exit.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { applyDesired } from '../src/controller/apply.js';
import { Engine, type PassReport } from '../src/engine/engine.js';
import { planSchedule } from '../src/engine/schedule.js';
import { silentLogger } from '../src/log.js';
import { sha256 } from '../src/util/hash.js';
import type { DesiredState, DesiredUnit } from '../src/desired/types.js';
import { EtcdStore } from '../src/store/etcd.js';
import {
  DESIRED_ROOT,
  MACHINES_PREFIX,
  SCHEDULE_PREFIX,
  machineKey,
  splitMachineUnit,
  type DesiredEntry,
  type MachineRecord,
} from '../src/store/keys.js';
import { MAX_TXN_OPS, type Op } from '../src/store/store.js';
import type { FleetConstraints } from '../src/unit/types.js';
import { startEtcd } from '../test/support/etcd.js';
import { load } from './floor.js';

const { values: args } = parseArgs({
  options: { units: { type: 'string', default: '10000' }, machines: { type: 'string', default: '1000' } },
});
const NU = Number(args.units);
const NM = Number(args.machines);

const ms = (a: number, b: number) => `${Math.round(b - a)} ms`;

function constraintsFor(i: number): { name: string; c: Partial<FleetConstraints> } {
  // A mix like a real repo: plain services, sidecars (MachineOf), region-bound units, a conflicting
  // template, timers paired with their services.
  switch (i % 20) {
    case 1:
      return { name: `svc${i}-sidecar.service`, c: { machineOf: [`svc${i - 1}.service`] } };
    case 2:
    case 3:
      return { name: `svc${i}.service`, c: { machineMetadata: { region: ['eu'] } } };
    case 4:
      return { name: `web@${i}.service`, c: { conflicts: ['web@*.service'] } };
    case 5:
      return { name: `svc${i - 5}.timer`, c: {} };
    default:
      return { name: `svc${i}.service`, c: {} };
  }
}

function desiredState(commit: string): DesiredState {
  const units: DesiredUnit[] = [];
  for (let i = 0; i < NU; i++) {
    const { name, c } = constraintsFor(i);
    const content = `[Unit]\nDescription=${name}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;
    units.push({
      name,
      content,
      hash: sha256(content),
      state: 'launched',
      constraints: { machineMetadata: {}, machineOf: [], conflicts: [], global: false, replaces: [], ...c },
      source: `units/${name}`,
    });
  }
  units.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { commit, units };
}

/** ms to write `n` schedule-sized keys in transactions of MAX_TXN_OPS, one after another (then removed). */
async function writeFloor(store: EtcdStore, n: number): Promise<number> {
  const value = JSON.stringify({ hash: sha256('floor'), state: 'launched', at: new Date().toISOString() });
  const t = performance.now();
  for (let i = 0; i < n; i += MAX_TXN_OPS) {
    const ops: Op[] = [];
    for (let j = i; j < Math.min(n, i + MAX_TXN_OPS); j++) ops.push({ op: 'put', key: `floor/${j}`, value });
    await store.txn([], ops);
  }
  const took = performance.now() - t;
  await store.txn([], [{ op: 'deletePrefix', prefix: 'floor/' }]);
  return took;
}

const loadAtStart = load();

async function main(): Promise<void> {
  const etcd = await startEtcd({ extraArgs: ['--quota-backend-bytes=4294967296'] });
  const prefix = '/bench/';
  const setup = new EtcdStore({ endpoints: etcd.endpoints, prefix });
  const engineStore = new EtcdStore({ endpoints: etcd.endpoints, prefix });
  const passes: PassReport[] = [];
  const engine = new Engine({
    store: engineStore,
    id: 'bench',
    leaseTtl: 10,
    resyncSeconds: 0,
    log: silentLogger,
    onPass: (r) => passes.push(r),
  });
  /** The pass since `from` that wrote the most. */
  const busiest = (from: number) => passes.slice(from).reduce((a, b) => (b.ops > a.ops ? b : a));
  try {
    // Machines.
    const tReg = performance.now();
    const lease = await setup.grantLease(60);
    const machines: MachineRecord[] = Array.from({ length: NM }, (_, i) => ({
      id: createHash('md5').update(`machine-${i}`).digest('hex'),
      address: `10.0.${i >> 8}.${i & 255}`,
      metadata: { region: i % 2 ? 'eu' : 'us', rack: `r${i % 20}` },
      version: 'bench',
      startedAt: new Date().toISOString(),
    }));
    const regOps: Op[] = machines.map((m) => ({
      op: 'put',
      key: machineKey(m.id),
      value: JSON.stringify(m),
      lease: lease.id,
    }));
    for (let i = 0; i < regOps.length; i += MAX_TXN_OPS) await setup.txn([], regOps.slice(i, i + MAX_TXN_OPS));
    const tRegDone = performance.now();

    await engine.start();
    while (!engine.isLeader()) await new Promise((r) => setTimeout(r, 10));
    await engine.idle();

    // Expected outcome, from the pure planner on the same input.
    const desired = desiredState('bench-1');
    const entries: DesiredEntry[] = desired.units.map((u) => ({
      name: u.name,
      hash: u.hash,
      state: u.state,
      constraints: u.constraints,
    }));
    const expected = planSchedule({ units: entries, machines, current: new Map() });

    // Count schedule keys as they appear.
    const seen = new Set<string>();
    let doneAt = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const watch = await setup.watch(SCHEDULE_PREFIX, undefined, {
      onEvents(events) {
        for (const ev of events) {
          const mu = splitMachineUnit(ev.kv.key, SCHEDULE_PREFIX);
          if (!mu) continue;
          if (ev.type === 'put') seen.add(mu.unit);
        }
        if (!doneAt && seen.size >= expected.assign.size) {
          doneAt = performance.now();
          resolveDone();
        }
      },
    });

    let flipAt = 0;
    const rootWatch = await setup.watch(DESIRED_ROOT, undefined, {
      onEvents() {
        if (!flipAt) flipAt = performance.now();
      },
    });
    const passesBeforeApply = passes.length;
    const tApply = performance.now();
    const applied = await applyDesired(setup, desired);
    const tApplied = performance.now();
    if (applied.result !== 'applied') throw new Error(`apply: ${applied.result}`);
    await done;
    await engine.idle();
    const firstPass = busiest(passesBeforeApply);
    const schedulingPasses = passes.length - passesBeforeApply;

    // Verify against etcd: exactly the expected schedule.
    const stored = await setup.range(SCHEDULE_PREFIX, { keysOnly: true });
    let mismatches = 0;
    for (const kv of stored.kvs) {
      const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX)!;
      if (expected.assign.get(mu.unit) !== mu.machine) mismatches++;
    }
    if (stored.kvs.length !== expected.assign.size || mismatches) {
      throw new Error(
        `schedule in etcd differs from the plan: ${stored.kvs.length} keys, ${mismatches} on other machines`,
      );
    }

    // A pass where nothing changed.
    const before = engineStore.stats();
    const tIdle = performance.now();
    engine.trigger();
    await new Promise((r) => setImmediate(r));
    await engine.idle();
    const tIdleDone = performance.now();
    const after = engineStore.stats();
    const idlePass = engine.lastPass!;

    // 10 machines go away (their records deleted, as when their leases expire).
    const lost = machines.slice(0, 10).map((m) => m.id);
    const lostUnits = [...expected.assign].filter(([, m]) => lost.includes(m)).map(([u]) => u);
    const moved = new Set<string>();
    let movedAt = 0;
    let resolveMoved!: () => void;
    const allMoved = new Promise<void>((r) => (resolveMoved = r));
    const moveWatch = await setup.watch(SCHEDULE_PREFIX, undefined, {
      onEvents(events) {
        for (const ev of events) {
          const mu = splitMachineUnit(ev.kv.key, SCHEDULE_PREFIX);
          if (mu && ev.type === 'put' && !lost.includes(mu.machine)) moved.add(mu.unit);
        }
        if (!movedAt && lostUnits.every((u) => moved.has(u))) {
          movedAt = performance.now();
          resolveMoved();
        }
      },
    });
    const passesBeforeLoss = passes.length;
    const tLose = performance.now();
    await setup.txn(
      [],
      lost.map((id) => ({ op: 'delete', key: machineKey(id) }) as Op),
    );
    await allMoved;
    await engine.idle();
    const lossPass = busiest(passesBeforeLoss);

    await Promise.all([watch.close(), rootWatch.close(), moveWatch.close()]);
    const machineCount = (await setup.range(MACHINES_PREFIX, { keysOnly: true })).kvs.length;

    console.log(
      `gitfleet bench/schedule: ${NU} units over ${NM} machines, real etcd (${etcd.endpoints[0]}), one engine`,
    );
    console.log(`  register ${NM} machines:                     ${ms(tReg, tRegDone)}`);
    console.log(`  controller apply (bodies, shards, root):     ${ms(tApply, tApplied)}`);
    const floorAll = await writeFloor(setup, NU);
    const floorMoved = await writeFloor(setup, lostUnits.length);
    const vs = (a: number, b: number, f: number) => `FLOOR ${Math.round(f)} ms, ratio ${((b - a) / f).toFixed(2)}x`;
    console.log(
      `  root flip -> fully scheduled in etcd:        ${ms(flipAt, doneAt)}   (goal < 10 s; ` +
        `${vs(flipAt, doneAt, floorAll)}: ${NU} schedule-sized puts in txns of ${MAX_TXN_OPS})`,
    );
    console.log(`  apply start -> fully scheduled:              ${ms(tApply, doneAt)}`);
    console.log(
      `    ${schedulingPasses} passes; the one that wrote: read ${Math.round(firstPass.readMs)} ms, plan ` +
        `${Math.round(firstPass.planMs)} ms, write ${Math.round(firstPass.writeMs)} ms; ${firstPass.ops} ops in ` +
        `${firstPass.txns} txns`,
    );
    console.log(
      `    placed ${expected.assign.size}, unscheduled ${expected.unscheduled.size} ` +
        `(${[...new Set(expected.unscheduled.values())].slice(0, 2).join('; ')})`,
    );
    console.log(
      `  no-change pass:                              ${ms(tIdle, tIdleDone)}; etcd writes: ` +
        `${after.puts - before.puts} ` +
        `puts, ${after.deletes - before.deletes} deletes, ${after.txns - before.txns} txns (goal 0); ` +
        `${after.ranges - before.ranges} range requests`,
    );
    console.log(`    read ${Math.round(idlePass.readMs)} ms, plan ${Math.round(idlePass.planMs)} ms`);
    console.log(
      `  10 machines lost -> ${lostUnits.length} units rescheduled:    ${ms(tLose, movedAt)}; ${lossPass.ops} ops ` +
        `in ${lossPass.txns} txns; ${machineCount} machines left`,
    );
    // By design a machine must stay silent for its TTL (here the engine's default, 10 s) before its
    // units may move: an etcd stall must not move units (docs/faults.md). The rest is the engine's.
    console.log(
      `    of which the machines' TTL of silence 10000 ms (by design), then ` +
        `${ms(tLose + 10_000, movedAt)}; ${vs(tLose + 10_000, movedAt, floorMoved)}`,
    );
    console.log(`  load average at start ${loadAtStart}, at end ${load()}`);
  } finally {
    await engine.stop().catch(() => {});
    await setup.close().catch(() => {});
    await engineStore.close().catch(() => {});
    await etcd.stop();
  }
}

await main();
