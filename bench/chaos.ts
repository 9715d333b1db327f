/**
 * bench/chaos: every fault of the fault suite, N times each, on the real 3-machine cluster (issue 11).
 *
 *   node --import tsx bench/chaos.ts [--runs 10] [--faults etcd-stall,agent-cut-ttl]
 *
 * The faults and how each pass is judged are test/support/faults.ts's, the ones
 * test/e2e/faults.test.ts runs once: units restarted, stopped or started that the fault must leave
 * alone (through each machine's own systemd: MainPID, InvocationID, NRestarts), units seen running
 * on two machines at once (sampled every 250 ms from the fault's start until settled again), and
 * the recovery time: fault end -> a commit pushed at that moment runs on its machine. The floor is
 * the same push -> running measured with no fault, in the same run. A pass that throws (the
 * cluster did not settle, the fresh commit never ran) is counted as failed; the next one starts
 * from a settled cluster again or the bench stops. Everything is ended by PID before exit.
 *
 * Run it under `flock /tmp/gitfleet-cluster.lock` (the cluster's cgroup names are machine-wide).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAULTS, FaultRig, type FaultOutcome } from '../test/support/faults.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    faults: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs: "${args.runs}" is not a positive whole number`);
const picked = args.faults ? args.faults.split(',').map((s) => s.trim()) : FAULTS.map((f) => f.id);
for (const id of picked)
  if (!FAULTS.some((f) => f.id === id))
    throw new Error(`--faults: no fault "${id}"; the faults are ${FAULTS.map((f) => f.id).join(', ')}`);
const faults = FAULTS.filter((f) => picked.includes(f.id));

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function spread(xs: number[]): string {
  if (xs.length === 0) return '-';
  const s = [...xs].sort((a, b) => a - b);
  const med = s[Math.floor((s.length - 1) / 2)]!;
  return `${secs(s[0]!)} / ${secs(med)} / ${secs(s[s.length - 1]!)}`;
}

async function main(): Promise<void> {
  console.log(
    `bench/chaos: 3-member etcd, 3 agents with private systemd, 2 engines, 1 controller (child processes); ` +
      `${RUNS} run(s) of ${faults.length} fault(s)`,
  );
  console.log(`machine: ${cpus().length} cores, load average at start ${load()}`);
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bench-chaos-'));
  const rig = await FaultRig.start(dir).catch((e: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  try {
    const floor: number[] = [];
    for (let i = 0; i < Math.max(3, RUNS); i++) {
      await rig.settled('settled', 30_000);
      floor.push(await rig.freshCommit());
    }
    console.log(`floor, push -> running with no fault (min / median / max): ${spread(floor)}\n`);
    console.log(
      `${'fault'.padEnd(16)} ${'runs'.padStart(4)} ${'failed'.padStart(6)} ${'restarts'.padStart(8)} ` +
        `${'dups'.padStart(4)} ${'moved'.padStart(5)}  recovery min / median / max`,
    );
    for (const f of faults) {
      const outcomes: FaultOutcome[] = [];
      const notes: string[] = [];
      let failed = 0;
      for (let i = 0; i < RUNS; i++) {
        try {
          const o = await f.run(rig);
          outcomes.push(o);
          for (const p of [...o.restarts, ...o.duplicates, ...o.problems]) notes.push(`run ${i + 1}: ${p}`);
        } catch (e) {
          failed++;
          notes.push(`run ${i + 1} failed: ${(e as Error).message.split('\n')[0]}`);
          await rig.c.repair();
          await rig.settled('settled again after a failed run', 60_000);
        }
      }
      const sum = (g: (o: FaultOutcome) => number) => outcomes.reduce((n, o) => n + g(o), 0);
      const restarts = sum((o) => o.restarts.length);
      const dups = sum((o) => o.duplicates.length);
      console.log(
        `${f.id.padEnd(16)} ${String(RUNS).padStart(4)} ${String(failed).padStart(6)} ` +
          `${String(restarts).padStart(8)} ${String(dups).padStart(4)} ` +
          `${String(sum((o) => o.moved)).padStart(5)}  ${spread(outcomes.map((o) => o.recoveryMs))}`,
      );
      for (const n of notes.slice(0, 10)) console.log(`    ${n.split('\n')[0]}`);
    }
  } finally {
    await rig.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nload average at end ${load()}`);
}

await main();
