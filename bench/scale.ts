/**
 * bench/scale: 10,000 units over 1,000 simulated machines (issue 7).
 *
 *   node --import tsx bench/scale.ts [--units 10000] [--machines 1000] [--agent-clients 1] [--big]
 *   --big: 100,000 units over 10,000 machines. --no-agents: machine records under one lease instead
 *   of agents; "done" is then every unit scheduled (the controller's and the engine's part alone).
 *   BENCH_CPU_PROF=DIR: the controller and the engine
 *   write V8 CPU profiles (--cpu-prof) into DIR/controller and DIR/engine (one per thread; the
 *   largest is the main thread's) when they stop.
 *
 * Real parts: etcd 3.4 (test/support/etcd.ts), a git repository with a real 10,000-unit commit
 * (bench/sim/fleetrepo.ts), a real Controller following it and a real Engine, each in its own
 * child process (bench/sim/component.ts; their peak memory is the kernel's VmHWM of that process),
 * and 1,000 real Agents (src/agent/agent.ts) in this process.
 * SIMULATED: each agent drives a SimulatedSystemd (src/systemd/simulated.ts), an in-memory
 * stand-in for systemd's manager; no unit process runs (each agent still writes its unit files
 * to its own unit directory under the temp dir, as on a machine). The agents share --agent-clients etcd
 * clients (default 1: one gRPC connection for all 1,000; each agent still has its own lease,
 * watches and keys).
 *
 * The commit "lands" when `git update-ref refs/heads/main` moves the followed branch to it (the
 * last step of a push; the objects were imported beforehand). Measured from that moment:
 *   controller: commit seen -> read -> applied; engine: passes and when the schedule was complete;
 *   every unit reported active with the right hash in etcd (state/<machine>/<unit>), goal < 15 s.
 * Then verified against etcd: every unit scheduled exactly once, reported on that machine only.
 * Then a commit that changes one unit: time until its new hash is reported active.
 * Prints etcd writes (keys put/deleted and txns) per component and peak memory.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../src/agent/agent.js';
import { loadCommit } from '../src/source/git.js';
import type { Logger } from '../src/log.js';
import { EtcdStore } from '../src/store/etcd.js';
import { DESIRED_ROOT, SCHEDULE_PREFIX, UNIT_STATE_PREFIX, machineKey, splitMachineUnit } from '../src/store/keys.js';
import { decodeUnitStateReport } from '../src/store/records.js';
import type { WatchEvent } from '../src/store/store.js';
import { startEtcd } from '../test/support/etcd.js';
import { CountingStore, delta, fmtWrites, type WriteCounts } from './sim/counting-store.js';
import { SimulatedSystemd } from '../src/systemd/simulated.js';
import { fleetFiles, importCommit, initBare, plainServicePath, unitText } from './sim/fleetrepo.js';
import { phase1Floor, phase2Floor } from './sim/floor.js';

const { values: args } = parseArgs({
  options: {
    units: { type: 'string', default: '10000' },
    machines: { type: 'string', default: '1000' },
    'agent-clients': { type: 'string', default: '1' },
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
const CLIENTS = Math.max(1, Number(args['agent-clients']));
const PREFIX = '/gitfleet-scale/';
/**
 * The agents' shared clients carry every simulated machine's requests through this one process's
 * thread: a call waits behind the other agents' work here, not in etcd. The store's deadlines
 * (1.5 s a call) are sized for one agent per machine; with them, a burst of 1,000 agents timing
 * out together trips the client's breaker and the retries come back as one burst again, which
 * measures the simulation, not gitfleet. The controller and the engine keep the defaults.
 */
const SHARED_DEADLINES = { callTimeoutMs: 15_000, watchCreateTimeoutMs: 30_000 };

const wall = () => performance.timeOrigin + performance.now();
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** A logger for 1,000 agents: counts warnings and errors, keeps the first few. */
function countingLogger(): Logger & { warns: number; errors: number; samples: string[] } {
  const l = {
    warns: 0,
    errors: 0,
    samples: [] as string[],
    debug() {},
    info() {},
    warn(m: string, f?: Record<string, unknown>) {
      l.warns++;
      if (l.samples.length < 8)
        l.samples.push(`warn ${m} ${JSON.stringify(f, (_k, v) => (v instanceof Error ? v.message : v))}`);
    },
    error(m: string, f?: Record<string, unknown>) {
      l.errors++;
      if (l.samples.length < 8)
        l.samples.push(`error ${m} ${JSON.stringify(f, (_k, v) => (v instanceof Error ? v.message : v))}`);
    },
    child: () => l,
  };
  return l;
}

// ---- child processes ------------------------------------------------------------------------

interface Report {
  writes: WriteCounts;
  memory: NodeJS.MemoryUsage;
  vmHWM: number;
  vmRSS: number;
  cpu: NodeJS.CpuUsage;
}

class Component {
  readonly proc: ChildProcess;
  readonly messages: Array<Record<string, any>> = [];
  private waiters: Array<{ pred: (m: Record<string, any>) => boolean; resolve: (m: Record<string, any>) => void }> = [];

  constructor(
    readonly name: string,
    argv: string[],
  ) {
    const prof = process.env.BENCH_CPU_PROF;
    this.proc = fork(join(import.meta.dirname, 'sim', 'component.ts'), argv, {
      execArgv: ['--import', 'tsx', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${join(prof, name)}`] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.proc);
    this.proc.on('exit', () => children.delete(this.proc));
    this.proc.on('message', (m: Record<string, any>) => {
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  /** The first message (already received or to come) that matches. */
  wait(pred: (m: Record<string, any>) => boolean, timeoutMs = PHASE_TIMEOUT_MS): Promise<Record<string, any>> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.name}: no matching message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  async report(): Promise<Report> {
    const n = this.messages.length;
    this.proc.send({ type: 'report' });
    const m = await this.wait((x) => x.type === 'report' && this.messages.indexOf(x) >= n);
    return m as unknown as Report;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ type: 'stop' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  }
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children)
    if (c.pid)
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

function git(cwd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('git', argv, { cwd }, (e, _o, err) =>
      e ? reject(new Error(`git ${argv.join(' ')}: ${err}`)) : resolve(),
    ),
  );
}

// ---- what etcd says -----------------------------------------------------------------------------

/**
 * Follows schedule/ and state/ and tells when every expected unit is reported active with its
 * expected hash (on any machine; the final check in etcd says which).
 */
class Observer {
  /** unit -> machines whose report for it is active with the expected hash */
  private readonly ok = new Map<string, Set<string>>();
  private readonly scheduled = new Set<string>();
  /** machine -> revisions (transactions) its schedule puts came in */
  readonly scheduleTxns = new Map<string, Set<number>>();
  okUnits = 0;
  firstReportAt = 0;
  allScheduledAt = 0;
  rootFlipAt = 0;
  private target: { expected: Map<string, string>; resolve: (at: number) => void } | null = null;

  constructor(private expected: Map<string, string>) {}

  onSchedule(events: Array<{ type: string; kv: { key: string; modRevision: number } }>): void {
    for (const ev of events) {
      const mu = splitMachineUnit(ev.kv.key, SCHEDULE_PREFIX);
      if (!mu || ev.type !== 'put') continue;
      this.scheduled.add(mu.unit);
      let revs = this.scheduleTxns.get(mu.machine);
      if (!revs) this.scheduleTxns.set(mu.machine, (revs = new Set()));
      revs.add(ev.kv.modRevision);
    }
    if (!this.allScheduledAt && this.scheduled.size >= this.expected.size) this.allScheduledAt = wall();
    if (NO_AGENTS) this.check();
  }

  onState(events: WatchEvent[]): void {
    if (!this.firstReportAt && events.length) this.firstReportAt = wall();
    for (const ev of events) {
      const mu = splitMachineUnit(ev.kv.key, UNIT_STATE_PREFIX);
      if (!mu) continue;
      let good = false;
      if (ev.type === 'put') {
        const r = decodeUnitStateReport(ev.kv);
        good = r.active === 'active' && r.hash === this.expected.get(mu.unit);
      }
      let set = this.ok.get(mu.unit);
      const had = (set?.size ?? 0) > 0;
      if (good) {
        if (!set) this.ok.set(mu.unit, (set = new Set()));
        set.add(mu.machine);
      } else set?.delete(mu.machine);
      const has = (set?.size ?? 0) > 0;
      if (has !== had) this.okUnits += has ? 1 : -1;
    }
    this.check();
  }

  /** Resolves (with the wall time) once every unit of `expected` is reported right. */
  until(expected: Map<string, string>): Promise<number> {
    this.expected = expected;
    this.ok.clear();
    this.okUnits = 0;
    this.scheduled.clear();
    this.scheduleTxns.clear();
    this.allScheduledAt = 0;
    this.firstReportAt = 0;
    this.rootFlipAt = 0;
    return new Promise((resolve) => {
      this.target = { expected, resolve };
      this.check();
    });
  }

  private check(): void {
    const done = NO_AGENTS ? this.allScheduledAt > 0 : this.okUnits >= (this.target?.expected.size ?? 0);
    if (this.target && done) {
      const t = this.target;
      this.target = null;
      t.resolve(wall());
    }
  }
}

// ---- the run --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'gitfleet-bench-scale-'));
  // --grpc-keepalive-min-time: the agents' one shared connection carries thousands of streams, and
  // etcd's default (5 s) answered its keep-alive pings with "too many pings" (GOAWAY): every call
  // and watch of every simulated machine failed and reconnected at once. One agent per machine
  // (one connection each, a ping every 10 s) never meets that limit.
  const etcd = await startEtcd({
    extraArgs: ['--quota-backend-bytes=4294967296', '--grpc-keepalive-min-time=1s'],
  });
  const ep = etcd.endpoints.join(',');
  const agents: Agent[] = [];
  const sims: SimulatedSystemd[] = [];
  const agentStores: CountingStore[] = [];
  let controller: Component | null = null;
  let engine: Component | null = null;
  const observerStore = new EtcdStore({ endpoints: etcd.endpoints, prefix: PREFIX, ...SHARED_DEADLINES });
  try {
    console.log(
      `gitfleet bench/scale: ${NU} units over ${NM} simulated machines; real etcd 3.4, controller, engine and ` +
        `agents; ` +
        `SimulatedSystemd`,
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
    controller = new Component('controller', ['controller', ep, PREFIX, repo, join(tmp, 'controller-state')]);
    engine = new Component('engine', ['engine', ep, PREFIX]);
    await Promise.all([controller.wait((m) => m.type === 'ready'), engine.wait((m) => m.type === 'ready')]);
    const [cBase, eBase] = [await controller.report(), await engine.report()];

    // 1,000 agents.
    for (let i = 0; i < CLIENTS; i++)
      agentStores.push(
        new CountingStore(new EtcdStore({ endpoints: etcd.endpoints, prefix: PREFIX, ...SHARED_DEADLINES })),
      );
    const alog = countingLogger();
    for (let i = 0; i < (NO_AGENTS ? 0 : NM); i++) {
      const sim = new SimulatedSystemd();
      const id = `sim-${String(i).padStart(4, '0')}`;
      sims.push(sim);
      agents.push(
        new Agent({
          store: agentStores[i % CLIENTS]!,
          machineId: id,
          metadata: { region: i % 2 ? 'eu' : 'us', rack: `r${i % 40}` },
          address: `10.1.${i >> 8}.${i & 255}`,
          systemd: sim,
          unitDir: join(tmp, 'agents', id, 'units'),
          stateDir: join(tmp, 'agents', id),
          log: alog,
        }),
      );
    }
    t = performance.now();
    const heapBeforeAgents = process.memoryUsage();
    for (let i = 0; i < agents.length; i += 50) await Promise.all(agents.slice(i, i + 50).map((a) => a.start()));
    if (NO_AGENTS) await registerMachines(agentStores[0]!, NM);
    const regMs = performance.now() - t;
    const sumWrites = () =>
      agentStores
        .map((x) => x.writes())
        .reduce((a, b) => ({
          puts: a.puts + b.puts,
          deletes: a.deletes + b.deletes,
          txns: a.txns + b.txns,
          ranges: a.ranges + b.ranges,
        }));
    console.log(
      `  ${NM} ${NO_AGENTS ? 'machine records (no agents) written' : 'agents started and registered'} in ` +
        `${s(regMs)} (${CLIENTS} shared etcd ` +
        `client${CLIENTS > 1 ? 's' : ''}); ` +
        `agent writes: ${fmtWrites(sumWrites())}`,
    );
    // The floors, on the same etcd, just before the phases they stand beside (see bench/sim/floor.ts).
    const floorStore = new EtcdStore({ endpoints: etcd.endpoints, prefix: PREFIX, ...SHARED_DEADLINES });
    const floor1 = await phase1Floor(floorStore, NU, NO_AGENTS ? 0 : NM);
    const floor2 = await phase2Floor(floorStore);
    await floorStore.close();
    console.log(
      `  floors (etcd alone, this run): phase 1 ${s(floor1.totalMs)} = controller's ${NU} puts ` +
        `${s(floor1.controllerMs)} + engine's ${NU} puts ${s(floor1.engineMs)} + agents' ${NU} gets and ${NM} ` +
        `report txns ${s(floor1.agentsMs)}; phase 2 (4 hops through watches) ${s(floor2)}`,
    );
    if (process.env.BENCH_STOP_AFTER_FLOORS) throw new Error('stopped after the floors (BENCH_STOP_AFTER_FLOORS)');
    // Let the engine see every machine before the commit lands.
    await new Promise((r) => setTimeout(r, 1000));

    // Watch what the cluster reports.
    const observer = new Observer(expected1);
    const sw = await observerStore.watch(SCHEDULE_PREFIX, undefined, { onEvents: (e) => observer.onSchedule(e) });
    const rw = await observerStore.watch(DESIRED_ROOT, undefined, { onEvents: () => (observer.rootFlipAt ||= wall()) });
    const stw = await observerStore.watch(UNIT_STATE_PREFIX, undefined, { onEvents: (e) => observer.onState(e) });

    // ---- phase 1: the 10,000-unit commit lands --------------------------------------------------
    const c0 = await controller.report();
    const e0 = await engine.report();
    const a0 = sumWrites();
    const passes0 = agents.reduce((n, a) => n + a.passes, 0);
    const enginePasses0 = engine.messages.filter((m) => m.type === 'pass').length;
    const allReported = observer.until(expected1);
    const t0 = wall();
    await git(repo, ['update-ref', 'refs/heads/main', c1]);
    const timeout = setTimeout(() => {
      console.error(
        `  NOT DONE after ${s(PHASE_TIMEOUT_MS)}: ${observer.okUnits}/${NU} units reported right; ` +
          `agent warnings ${alog.warns}, errors ${alog.errors}`,
      );
      for (const x of alog.samples) console.error(`    ${x}`);
      process.exit(1);
    }, PHASE_TIMEOUT_MS);
    const doneAt = await allReported;
    clearTimeout(timeout);
    const loadMsg = await controller.wait((m) => m.type === 'load' && m.commit === c1);
    const applied = await controller.wait((m) => m.type === 'outcome' && m.commit === c1);
    await Promise.all(agents.map((a) => a.idle()));
    await new Promise((r) => setTimeout(r, 500));
    const c1r = await controller.report();
    const e1r = await engine.report();
    const a1 = sumWrites();
    const enginePasses = engine.messages.filter((m) => m.type === 'pass').slice(enginePasses0);
    const writing = enginePasses.filter((p) => p.ops > 0);
    const lastWrite = writing.at(-1);

    console.log(`phase 1: commit of ${NU} units lands (t0 = git update-ref of the followed branch)`);
    console.log(
      `  controller: read starts +${s(loadMsg.at - t0)}, desired/root flipped +${s(observer.rootFlipAt - t0)}, pass ` +
        `done (garbage collected) +${s(applied.at - t0)} (${applied.kind})`,
    );
    console.log(
      `  engine:     ${enginePasses.length} passes, ${writing.length} wrote; schedule complete ` +
        `+${s(observer.allScheduledAt - t0)}` +
        (lastWrite
          ? ` (last writing pass: read ${Math.round(lastWrite.readMs)} ms, plan ${Math.round(lastWrite.planMs)} ms, ` +
            `write ${Math.round(lastWrite.writeMs)} ms)`
          : ''),
    );
    console.log(
      `              passes (end +s: read/plan/write ms, ops, how placed): ` +
        enginePasses
          .slice(0, 12)
          .map(
            (p) =>
              `+${((p.at - t0) / 1000).toFixed(2)}: ${Math.round(p.readMs)}/${Math.round(p.planMs)}/` +
              `${Math.round(p.writeMs)}, ${p.ops}${p.planned ? `, ${p.planned}` : ''}`,
          )
          .join('; '),
    );
    const txnsPerMachine = [...observer.scheduleTxns.values()].map((r) => r.size);
    console.log(
      `              each machine's schedule arrived in ` +
        `${(txnsPerMachine.reduce((a, b) => a + b, 0) / txnsPerMachine.length).toFixed(1)} ` +
        `transactions on average (max ${Math.max(...txnsPerMachine)})`,
    );
    console.log(
      `  agents:     first report +${s(observer.firstReportAt - t0)}; ` +
        `${agents.reduce((n, a) => n + a.passes, 0) - passes0} ` +
        `passes`,
    );
    console.log(
      `  ${NO_AGENTS ? 'EVERY UNIT SCHEDULED' : 'EVERY UNIT REPORTED ACTIVE WITH ITS HASH'}: ` +
        `+${s(doneAt - t0)}   (goal <= 8 s at 10,000 units); floor ` +
        `${s(floor1.totalMs)}, ratio ${((doneAt - t0) / floor1.totalMs).toFixed(1)}x`,
    );
    console.log(`  etcd writes, t0 -> done:`);
    console.log(`    controller ${fmtWrites(delta(c0.writes, c1r.writes))}`);
    console.log(`    engine     ${fmtWrites(delta(e0.writes, e1r.writes))}`);
    console.log(`    agents     ${fmtWrites(delta(a0, a1))}`);

    // Verify in etcd: every unit scheduled exactly once, reported on that machine and only there.
    const [sched, state] = await Promise.all([
      observerStore.range(SCHEDULE_PREFIX, { keysOnly: true }),
      observerStore.range(UNIT_STATE_PREFIX),
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
      if (placed.get(mu.unit) !== mu.machine || r.active !== 'active' || r.hash !== expected1.get(mu.unit)) wrong++;
    }
    const simActive = sims.reduce((n, x) => n + x.activeUnits().length, 0);
    if (placed.size !== NU || (!NO_AGENTS && (state.kvs.length !== NU || wrong > 0 || simActive !== NU))) {
      throw new Error(
        `verification failed: ${placed.size} scheduled, ${state.kvs.length} reports, ${wrong} wrong, ${simActive} ` +
          `active in the simulations`,
      );
    }
    const perMachine = new Map<string, number>();
    for (const m of placed.values()) perMachine.set(m, (perMachine.get(m) ?? 0) + 1);
    const counts = [...perMachine.values()];
    console.log(
      `  verified in etcd: ${NU} units scheduled once each on ${perMachine.size} machines ` +
        `(${Math.min(...counts)}..${Math.max(...counts)} ` +
        `per machine), each reported active with its hash by that machine only; ${simActive} units active in the ` +
        `simulated systemds`,
    );

    // ---- phase 2: one unit changes -------------------------------------------------------------------
    const c1w = await controller.report();
    const e1w = await engine.report();
    const a2 = sumWrites();
    const passes2 = agents.reduce((n, a) => n + a.passes, 0);
    const one = new Map([[edit.name, expected2.get(edit.name)!]]);
    const changed = observer.until(one);
    const t1 = wall();
    await git(repo, ['update-ref', 'refs/heads/main', c2]);
    const changedAt = await changed;
    const applied2 = await controller.wait((m) => m.type === 'outcome' && m.commit === c2);
    const rescheduledAt = observer.allScheduledAt;
    const flipped2 = observer.rootFlipAt;
    await Promise.all(agents.map((a) => a.idle()));
    await new Promise((r) => setTimeout(r, 500));
    const c2r = await controller.report();
    const e2r = await engine.report();
    const a3 = sumWrites();
    console.log(`phase 2: a commit that changes 1 unit (${edit.name})`);
    console.log(
      `  desired/root flipped +${s(flipped2 - t1)} (controller pass done +${s(applied2.at - t1)}), schedule entry ` +
        `rewritten +${s(rescheduledAt - t1)}, new hash reported active +${s(changedAt - t1)}`,
    );
    console.log(
      `  ONE-UNIT CHANGE ${NO_AGENTS ? 'SCHEDULED' : 'REPORTED ACTIVE'}: +${s(changedAt - t1)}   (goal <= 0.5 s); ` +
        `floor ${s(floor2)}, ratio ` +
        `${((changedAt - t1) / floor2).toFixed(1)}x`,
    );
    console.log(
      `  agent passes: ${agents.reduce((n, a) => n + a.passes, 0) - passes2} (only the machine that runs the unit: ` +
        `agents pass on a root change only when Global units change)`,
    );
    console.log(`    controller ${fmtWrites(delta(c1w.writes, c2r.writes))}`);
    console.log(`    engine     ${fmtWrites(delta(e1w.writes, e2r.writes))}`);
    console.log(`    agents     ${fmtWrites(delta(a2, a3))}`);

    // ---- memory ------------------------------------------------------------------------------------------
    const mine = process.memoryUsage();
    console.log("memory (controller and engine: each its own process running under tsx; peak = the kernel's VmHWM):");
    console.log(
      `  controller: RSS ${mib(cBase.vmRSS)} when started -> peak ${mib(c2r.vmHWM)}; heap used now ` +
        `${mib(c2r.memory.heapUsed)}; ` +
        `CPU ${s((c2r.cpu.user + c2r.cpu.system) / 1000)}`,
    );
    console.log(
      `  engine:     RSS ${mib(eBase.vmRSS)} when started -> peak ${mib(e2r.vmHWM)}; heap used now ` +
        `${mib(e2r.memory.heapUsed)}; ` +
        `CPU ${s((e2r.cpu.user + e2r.cpu.system) / 1000)}`,
    );
    console.log(
      `  this process (${NM} agents + SimulatedSystemds + observer): RSS ${mib(mine.rss)}, heap used ` +
        `${mib(mine.heapUsed)} ` +
        `(${mib(heapBeforeAgents.heapUsed)} before the agents), peak ${mib(process.resourceUsage().maxRSS * 1024)}`,
    );
    const gib = (b: number) => (b < 1 << 30 ? 'under 1 GiB' : 'OVER 1 GiB');
    console.log(
      `  PEAK RSS: controller ${mib(c2r.vmHWM)} (${gib(c2r.vmHWM)}), engine ${mib(e2r.vmHWM)} (${gib(e2r.vmHWM)})`,
    );
    console.log(`  agent warnings ${alog.warns}, errors ${alog.errors}${alog.samples.length ? ':' : ''}`);
    for (const x of alog.samples) console.log(`    ${x}`);
    console.log(`  loadavg at end: ${load()}`);
    await Promise.all([sw.close(), stw.close(), rw.close()]);
  } finally {
    await Promise.all(agents.map((a) => a.stop().catch(() => {})));
    await Promise.all(agentStores.map((x) => x.close().catch(() => {})));
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

/** --no-agents: NM machine records, as agents register them, under one lease kept alive by the store. */
async function registerMachines(store: CountingStore, n: number): Promise<void> {
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
