/**
 * bench/scale: 10,000 units over 1,000 simulated machines (issue 7).
 *
 *   node --import tsx bench/scale.ts [--units 10000] [--machines 1000] [--agent-procs 2]
 *                                    [--agent-clients 1] [--big] [--no-agents]
 *   --big: 100,000 units over 10,000 machines. --no-agents: machine records under one lease instead
 *   of agents; "done" is then every unit scheduled (the controller's and the engine's part alone).
 *   --agent-procs: child processes the agents are spread over (default 2, one per core of the
 *   2-core machine it is sized for); --agent-clients: etcd clients per such process (default 1).
 *   BENCH_CPU_PROF=DIR: the controller, the engine and each agents' process write V8 CPU profiles
 *   (--cpu-prof) into DIR/controller, DIR/engine and DIR/agents-<n> (one per thread; the largest
 *   is the main thread's) when they stop.
 *
 * Real parts: etcd 3.4 (test/support/etcd.ts), a git repository with a real 10,000-unit commit
 * (bench/sim/fleetrepo.ts), a real Controller following it and a real Engine, each in its own
 * child process (bench/sim/component.ts; their peak memory is the kernel's VmHWM of that process),
 * and 1,000 real Agents (src/agent/agent.ts) spread over --agent-procs child processes
 * (bench/sim/agent-fleet.ts), each with its own etcd client(s): each agent still has its own
 * lease, watches and keys. This process only observes (its own etcd watches) and measures.
 * SIMULATED: each agent drives a SimulatedSystemd (src/systemd/simulated.ts), an in-memory
 * stand-in for systemd's manager; no unit process runs (each agent still writes its unit files
 * to its own unit directory under the temp dir, as on a machine). The machines still share two
 * cores with etcd, the controller and the engine, as no real fleet does.
 *
 * The commit "lands" when `git update-ref refs/heads/main` moves the followed branch to it (the
 * last step of a push; the objects were imported beforehand). Measured from that moment:
 *   controller: commit seen -> read -> applied; engine: passes and when the schedule was complete;
 *   every unit reported active with the right hash in etcd (state/<machine>/<unit>), goal <= 8 s.
 * Then verified against etcd: every unit scheduled exactly once, reported on that machine only.
 * Then a commit that changes one unit: time until its new hash is reported active (goal <= 0.5 s).
 * Prints etcd writes (keys put/deleted and txns) per component, peak memory and load averages.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCommit } from '../src/source/git.js';
import { EtcdStore } from '../src/store/etcd.js';
import { ROLLOUT_ENDED, rolloutHeadKey } from '../src/store/keys.js';
import { decodeRolloutHead } from '../src/store/records.js';
import type { Store } from '../src/store/store.js';
import { startEtcd } from '../test/support/etcd.js';
import { AgentFleet, type FleetFigures } from './sim/agent-fleet.js';
import { SHARED_DEADLINES } from './sim/agent-slice.js';
import { Child, type Report } from './sim/child.js';
import { delta, fmtWrites, type WriteCounts } from './sim/counting-store.js';
import { fleetFiles, importCommit, initBare, plainServicePath, unitText } from './sim/fleetrepo.js';
import { fmtEtcd, sampleEtcd } from './sim/etcd-metrics.js';
import { phase1Floor, phase2Floor } from './sim/floor.js';
import { Observer, wall } from './sim/observer.js';
import { registerMachines, verifyPlacement } from './sim/verify.js';

const { values: args } = parseArgs({
  options: {
    units: { type: 'string', default: '10000' },
    machines: { type: 'string', default: '1000' },
    'agent-procs': { type: 'string', default: '2' },
    'agent-clients': { type: 'string', default: '1' },
    'agent-nice': { type: 'string', default: '0' },
    big: { type: 'boolean', default: false },
    'no-agents': { type: 'boolean', default: false },
  },
});
const NU = args.big ? 100_000 : Number(args.units);
const NM = args.big ? 10_000 : Number(args.machines);
/** Machine records only (no agents): the controller and the engine alone, timed to the schedule. */
const NO_AGENTS = args['no-agents'];
/** How long a phase may take before the run gives up: longer for bigger fleets. */
const PHASE_TIMEOUT_MS = Math.max(120_000, NU * 12);
const PROCS = Math.max(1, Number(args['agent-procs']));
const CLIENTS = Math.max(1, Number(args['agent-clients']));
const PREFIX = '/gitfleet-scale/';

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function git(cwd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('git', argv, { cwd }, (e, _o, err) =>
      e ? reject(new Error(`git ${argv.join(' ')}: ${err}`)) : resolve(),
    ),
  );
}

const NONE: FleetFigures = {
  passes: 0,
  warns: 0,
  errors: 0,
  samples: [],
  simActive: 0,
  writes: { puts: 0, deletes: 0, txns: 0, ranges: 0 },
  vmHWM: 0,
  cpuMs: 0,
  loopDelayMaxMs: 0,
};

/** A component's warnings and errors, with the first few. */
function printWarnings(name: string, r: { warns: number; errors: number; samples: string[] }): void {
  console.log(`  ${name} warnings ${r.warns}, errors ${r.errors}${r.samples.length ? ':' : ''}`);
  for (const x of r.samples) console.log(`    ${x}`);
}

function printEngine(passes: Array<Record<string, any>>, t0: number, scheduledAt: number): void {
  const writing = passes.filter((p) => p.ops > 0);
  const last = writing.at(-1);
  console.log(
    `  engine:     ${passes.length} passes, ${writing.length} wrote; schedule complete +${s(scheduledAt - t0)}` +
      (last
        ? ` (last writing pass: read ${Math.round(last.readMs)} ms, plan ${Math.round(last.planMs)} ms, ` +
          `write ${Math.round(last.writeMs)} ms)`
        : ''),
  );
  const fmt = (p: Record<string, any>) =>
    `+${((p.at - t0) / 1000).toFixed(2)}: ${Math.round(p.readMs)}/${Math.round(p.planMs)}/` +
    `${Math.round(p.writeMs)}, ${p.ops}${p.planned ? `, ${p.planned}` : ''}`;
  console.log(
    `              passes (end +s: read/plan/write ms, ops, how placed): ${passes.slice(0, 12).map(fmt).join('; ')}` +
      (passes.length > 12 ? `; ... ${fmt(passes.at(-1)!)}` : ''),
  );
}

/** Wait until the rollout record of `commit` has ended (its head's state); its state then. */
async function rolloutEnded(store: Store, commit: string, timeoutMs: number): Promise<{ state: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const kv = await store.get(rolloutHeadKey(commit));
    const state = kv ? decodeRolloutHead(kv).state : null;
    if (state && ROLLOUT_ENDED.has(state)) return { state };
    if (Date.now() > deadline)
      throw new Error(`the rollout of ${commit} still ${state ?? 'missing'} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'gitfleet-bench-scale-'));
  // --grpc-keepalive-min-time: an agents' process's one shared connection carries thousands of
  // streams, and etcd answered its pings with "too many pings" (GOAWAY) at the default 5 s and
  // still at 1 s: every call and watch of hundreds of simulated machines failed and reconnected at
  // once. One agent per machine (one connection each, a ping every 10 s) never meets that limit.
  const etcd = await startEtcd({
    extraArgs: ['--quota-backend-bytes=4294967296', '--grpc-keepalive-min-time=10ms'],
  });
  const ep = etcd.endpoints.join(',');
  let fleet: AgentFleet | null = null;
  let controller: Child | null = null;
  let engine: Child | null = null;
  const observerStore = new EtcdStore({ endpoints: etcd.endpoints, prefix: PREFIX, ...SHARED_DEADLINES });
  try {
    console.log(
      `gitfleet bench/scale: ${NU} units over ${NM} simulated machines; real etcd 3.4, controller, engine and ` +
        `agents; SimulatedSystemd`,
    );
    console.log(`  loadavg at start: ${load()}`);

    // The repository: the commit's objects are imported now; the branch moves at t0.
    const repo = join(tmp, 'fleet.git');
    initBare(repo);
    let t = performance.now();
    const c1 = importCommit(repo, 'refs/bench/c1', fleetFiles({ units: NU }), `${NU} units`);
    const edit = plainServicePath(3);
    const c2 = importCommit(
      repo,
      'refs/bench/c2',
      new Map([[edit.path, unitText(edit.name, edit.i, 2)]]),
      `edit ${edit.name}`,
      c1,
    );
    const d1 = (await loadCommit(repo, c1, undefined)).desired;
    const d2 = (await loadCommit(repo, c2, undefined)).desired;
    if (!d1 || !d2) throw new Error('the synthetic repository was refused');
    const expected1 = new Map(d1.units.map((u) => [u.name, u.hash]));
    const expected2 = new Map(d2.units.map((u) => [u.name, u.hash]));
    console.log(
      `  repository: ${d1.units.length} units in commit ${c1.slice(0, 12)} (built in ${s(performance.now() - t)})`,
    );

    // Controller and engine, each in its own process.
    controller = new Child(
      'controller',
      ['controller', ep, PREFIX, repo, join(tmp, 'controller-state')],
      PHASE_TIMEOUT_MS,
    );
    engine = new Child('engine', ['engine', ep, PREFIX], PHASE_TIMEOUT_MS);
    const [c, e] = [controller, engine];
    await Promise.all([c.wait((m) => m.type === 'ready'), e.wait((m) => m.type === 'ready')]);
    const [cBase, eBase] = [await c.report(), await e.report()];

    // The machines: agents in their processes, or bare records.
    t = performance.now();
    if (NO_AGENTS) await registerMachines(observerStore, NM);
    else {
      fleet = new AgentFleet({
        endpoints: ep,
        prefix: PREFIX,
        machines: NM,
        procs: PROCS,
        clients: CLIENTS,
        dir: tmp,
        timeoutMs: PHASE_TIMEOUT_MS,
      });
      await fleet.started();
    }
    const f = fleet;
    const agentFigures = () => (f ? f.figures() : Promise.resolve(NONE));
    const regMs = performance.now() - t;
    console.log(
      `  ${NM} ${NO_AGENTS ? 'machine records (no agents) written' : 'agents started and registered'} in ` +
        `${s(regMs)}` +
        (f ? ` (${f.procs.length} processes, ${CLIENTS} etcd client${CLIENTS > 1 ? 's' : ''} each)` : '') +
        `; agent writes: ${fmtWrites((await agentFigures()).writes)}`,
    );
    // The floors, on the same etcd, just before the phases they stand beside (see bench/sim/floor.ts).
    const floorStore = new EtcdStore({ endpoints: etcd.endpoints, prefix: PREFIX, ...SHARED_DEADLINES });
    const floor1 = await phase1Floor(floorStore, NU, NO_AGENTS ? 0 : NM);
    const floor2 = await phase2Floor(floorStore);
    await floorStore.close();
    console.log(
      `  floors (etcd alone, this run): phase 1 ${s(floor1.totalMs)} = controller's ${NU} puts ` +
        `${s(floor1.controllerMs)} + engine's ${NU} puts ${s(floor1.engineMs)} + agents' ${NM} reads of their bodies ` +
        `and ${NM} report txns ${s(floor1.agentsMs)}; phase 2 (4 hops through watches) ${s(floor2)}`,
    );
    if (process.env.BENCH_STOP_AFTER_FLOORS) throw new Error('stopped after the floors (BENCH_STOP_AFTER_FLOORS)');
    // Let the engine see every machine before the commit lands.
    await new Promise((r) => setTimeout(r, 1000));

    const observer = new Observer(expected1, NO_AGENTS);
    const unfollow = await observer.follow(observerStore);
    /** Everything settled after a phase: the agents idle, then a moment for the last events. */
    const settle = async () => {
      await f?.idle();
      await new Promise((r) => setTimeout(r, 500));
      return { c: await c.report(), e: await e.report(), a: await agentFigures() };
    };
    const printWrites = (before: { c: Report; e: Report; a: { writes: WriteCounts } }, after: typeof before) => {
      console.log(`    controller ${fmtWrites(delta(before.c.writes, after.c.writes))}`);
      console.log(`    engine     ${fmtWrites(delta(before.e.writes, after.e.writes))}`);
      console.log(`    agents     ${fmtWrites(delta(before.a.writes, after.a.writes))}`);
    };

    // ---- phase 1: the 10,000-unit commit lands --------------------------------------------------
    const metricsUrl = etcd.members[0]!.metricsUrl;
    const before1 = {
      c: await c.report(),
      e: await e.report(),
      a: await agentFigures(),
      etcd: await sampleEtcd(metricsUrl),
    };
    const enginePasses0 = e.messages.filter((m) => m.type === 'pass').length;
    const allReported = observer.until(expected1);
    console.log(`phase 1: commit of ${NU} units lands (t0 = git update-ref of the followed branch)`);
    console.log(`  loadavg at t0: ${load()}`);
    const t0 = wall();
    await git(repo, ['update-ref', 'refs/heads/main', c1]);
    const timeout = setTimeout(async () => {
      console.error(`  NOT DONE after ${s(PHASE_TIMEOUT_MS)}: ${observer.okUnits}/${NU} units reported right`);
      const [er, ar] = await Promise.all([e.report(), agentFigures()]);
      printWarnings('engine', er);
      printWarnings('agent', ar);
      process.exit(1);
    }, PHASE_TIMEOUT_MS);
    const doneAt = await allReported;
    clearTimeout(timeout);
    const loadMsg = await c.wait((m) => m.type === 'load' && m.commit === c1);
    const applied = await c.wait((m) => m.type === 'outcome' && m.commit === c1);
    const after1 = { ...(await settle()), etcd: await sampleEtcd(metricsUrl) };

    console.log(
      `  controller: read starts +${s(loadMsg.at - t0)}, desired/root flipped +${s(observer.rootFlipAt - t0)}, pass ` +
        `done (garbage collected) +${s(applied.at - t0)} (${applied.kind})`,
    );
    printEngine(e.messages.filter((m) => m.type === 'pass').slice(enginePasses0), t0, observer.allScheduledAt);
    const terms = e.messages.filter((m) => m.type === 'leadership' && m.at >= t0);
    if (terms.length)
      console.log(
        `              leadership: ${terms.map((m) => `${m.leading ? 'won' : 'LOST'} +${s(m.at - t0)}`).join(', ')}`,
      );
    const txnsPerMachine = [...observer.scheduleTxns.values()].map((r) => r.size);
    console.log(
      `              each machine's schedule arrived in ` +
        `${(txnsPerMachine.reduce((a, b) => a + b, 0) / txnsPerMachine.length).toFixed(1)} ` +
        `transactions on average (max ${Math.max(...txnsPerMachine)})`,
    );
    console.log(
      `  agents:     first report +${s(observer.firstReportAt - t0)}; ${after1.a.passes - before1.a.passes} passes; ` +
        `their processes' event loops held up ${Math.round(after1.a.loopDelayMaxMs)} ms at most`,
    );
    console.log(
      `  ${NO_AGENTS ? 'EVERY UNIT SCHEDULED' : 'EVERY UNIT REPORTED ACTIVE WITH ITS HASH'}: ` +
        `+${s(doneAt - t0)}   (goal <= 8 s at 10,000 units); floor ` +
        `${s(floor1.totalMs)}, ratio ${((doneAt - t0) / floor1.totalMs).toFixed(1)}x; loadavg now ${load()}`,
    );
    console.log(`  etcd writes, t0 -> done:`);
    printWrites(before1, after1);
    console.log(`  etcd itself, t0 -> settled: ${fmtEtcd(before1.etcd, after1.etcd)}`);

    // Verify in etcd: every unit scheduled exactly once, reported on that machine and only there.
    const v = await verifyPlacement(observerStore, expected1, !NO_AGENTS, after1.a.simActive);
    console.log(
      `  verified in etcd: ${NU} units scheduled once each on ${v.machines} machines (${v.min}..${v.max} per ` +
        `machine)` +
        (NO_AGENTS
          ? ''
          : `, each reported active with its hash by that machine only; ${after1.a.simActive} units active in ` +
            `the simulated systemds`),
    );

    // The rollout of the first commit ends when each unit has stayed healthy for minHealthy (10 s by
    // default) on its machine: the reports and record writes of that tail are not the next commit's
    // cost, so the one-unit change waits for it.
    if (!NO_AGENTS) {
      const ended = await rolloutEnded(observerStore, c1, 120_000);
      console.log(`  rollout of the commit ${ended.state} +${s(wall() - t0)} (units healthy for minHealthy)`);
    }

    // ---- phase 2: one unit changes -------------------------------------------------------------------
    const before2 = NO_AGENTS ? after1 : { ...(await settle()), etcd: await sampleEtcd(metricsUrl) };
    const changed = observer.until(new Map([[edit.name, expected2.get(edit.name)!]]));
    console.log(`phase 2: a commit that changes 1 unit (${edit.name}); loadavg at t1: ${load()}`);
    const enginePasses1 = e.messages.filter((m) => m.type === 'pass').length;
    const t1 = wall();
    await git(repo, ['update-ref', 'refs/heads/main', c2]);
    const changedAt = await changed;
    const applied2 = await c.wait((m) => m.type === 'outcome' && m.commit === c2);
    const [rescheduledAt, flipped2] = [observer.allScheduledAt, observer.rootFlipAt];
    const load2 = await c.wait((m) => m.type === 'load' && m.commit === c2);
    const loaded2 = await c.wait((m) => m.type === 'loaded' && m.commit === c2);
    const after2 = { ...(await settle()), etcd: await sampleEtcd(metricsUrl) };
    console.log(
      `  controller: read starts +${s(load2.at - t1)}, read and built +${s(loaded2.at - t1)}, ` +
        `desired/root flipped +${s(flipped2 - t1)} (pass done +` +
        `${s(applied2.at - t1)}); schedule entry rewritten +${s(rescheduledAt - t1)}, new hash reported active ` +
        `+${s(changedAt - t1)}`,
    );
    printEngine(e.messages.filter((m) => m.type === 'pass').slice(enginePasses1), t1, rescheduledAt);
    console.log(
      `  ONE-UNIT CHANGE ${NO_AGENTS ? 'SCHEDULED' : 'REPORTED ACTIVE'}: +${s(changedAt - t1)}   (goal <= 0.5 s); ` +
        `floor ${s(floor2)}, ratio ${((changedAt - t1) / floor2).toFixed(1)}x`,
    );
    console.log(
      `  agent passes: ${after2.a.passes - before2.a.passes} (only the machine that runs the unit: agents pass on ` +
        `a root change only when Global units change)`,
    );
    printWrites(before2, after2);
    console.log(`  etcd itself, t1 -> settled: ${fmtEtcd(before2.etcd, after2.etcd)}`);

    // ---- memory ------------------------------------------------------------------------------------------
    const [cr, er, ar] = [after2.c, after2.e, after2.a];
    const cpu = (r: Report) => s((r.cpu.user + r.cpu.system) / 1000);
    console.log("memory (each component its own process running under tsx; peak = the kernel's VmHWM):");
    console.log(
      `  controller: RSS ${mib(cBase.vmRSS)} when started -> peak ${mib(cr.vmHWM)}; heap used now ` +
        `${mib(cr.memory.heapUsed)}; CPU ${cpu(cr)}`,
    );
    console.log(
      `  engine:     RSS ${mib(eBase.vmRSS)} when started -> peak ${mib(er.vmHWM)}; heap used now ` +
        `${mib(er.memory.heapUsed)}; CPU ${cpu(er)}`,
    );
    if (f) console.log(`  agents:     ${f.procs.length} processes, peaks summed ${mib(ar.vmHWM)}; CPU ${s(ar.cpuMs)}`);
    const mine = process.memoryUsage();
    console.log(`  this process (observer): RSS ${mib(mine.rss)}, heap used ${mib(mine.heapUsed)}`);
    const gib = (b: number) => (b < 1 << 30 ? 'under 1 GiB' : 'OVER 1 GiB');
    console.log(
      `  PEAK RSS: controller ${mib(cr.vmHWM)} (${gib(cr.vmHWM)}), engine ${mib(er.vmHWM)} (${gib(er.vmHWM)})`,
    );
    printWarnings('controller', cr);
    printWarnings('engine', er);
    if (f) printWarnings('agent', ar);
    console.log(`  loadavg at end: ${load()}`);
    await unfollow();
  } finally {
    await fleet?.stop();
    await observerStore.close().catch(() => {});
    await Promise.all([controller?.stop(), engine?.stop()]);
    await etcd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
