/**
 * The agent, one per machine: its lifecycle (start, pass, idle, stop), wiring its parts into one
 * reconcile loop. DesiredWatch says what should run here, BodyCache and UnitDir hold the content,
 * Executor reads systemd and runs planAgentTasks' list, DriftRepair paces repairs, Reporter writes
 * state/<machine>/<unit>, Registration keeps machines/<machine> under a lease, AgentRecord is what
 * the agent remembers on disk. The store unreachable leaves every unit as it is; after a lost
 * lease the agent unloads what was moved away BEFORE it registers again; stop() leaves units
 * running unless onExit is 'stop'.
 */
import { retryKind, TransientError, WaitingError } from '../errors.js';
import { machineIdProblem } from '../fleet/machine-id.js';
import { createLogger, type Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { AgentSystemd, UnitState } from '../systemd/manager.js';
import { ReconcileLoop } from '../util/loop.js';
import { BodyCache } from './bodies.js';
import { DesiredWatch } from './desired-watch.js';
import { DriftRepair } from './drift.js';
import { Executor } from './executor.js';
import { HealthTracker } from './health-tracker.js';
import { countDbusErrors, type AgentMetrics } from './metrics.js';
import { AgentRecord } from './record.js';
import { AgentError, REREGISTER_EVERY_MS, Registration } from './registration.js';
import { Reporter } from './reporter.js';
import { isUp, planAgentTasks } from './tasks.js';
import { UnitDir } from './unit-dir.js';

export { AgentError } from './registration.js';

export interface AgentOptions {
  store: Store;
  machineId: string;
  metadata: Record<string, string>;
  address: string;
  /** systemd's manager: SystemdManager over D-Bus (SimulatedSystemd in bench/scale and unit tests). */
  systemd: AgentSystemd;
  /** The directory gitfleet owns: unit files are written here and linked into systemd's runtime path. */
  unitDir: string;
  /**
   * systemd's runtime unit directory (where LinkUnitFiles puts its links: /run/systemd/system, or
   * $XDG_RUNTIME_DIR/systemd/user): each unit's drop-in directory is linked there. Without it, units
   * with drop-ins are not written (their load fails, saying why).
   */
  runtimeUnitDir?: string;
  /** Where the agent keeps its record (what it last applied, its instance token). */
  stateDir: string;
  /** On stop(): 'leave' (default) keeps units running; 'stop' unloads every unit gitfleet owns. */
  onExit?: 'leave' | 'stop';
  /** Machine lease TTL in seconds (default 10). */
  leaseTtlSeconds?: number;
  /** Safety-net full pass period in ms (default 60000; events drive the work). */
  resyncMs?: number;
  /** Delay before a unit that keeps failing is started again: doubles from min to max (default 1 s .. 60 s). */
  driftBackoff?: { minMs: number; maxMs: number };
  /** Parallel systemd jobs per phase (default 128: systemd runs queued start jobs side by side). */
  concurrency?: number;
  log?: Logger;
  /** Prometheus metrics (src/metrics/agent.ts), when the agent serves them. */
  metrics?: AgentMetrics;
  /** A fatal error (credentials refused, the store closed, ...) stopped the agent's passes. */
  onFatal?: (e: Error) => void;
  /** A unit's last journal lines, for the reason of a failure (where the machine keeps a journal). */
  journal?: (unit: string) => Promise<string[]>;
}

/** Retry delays of failed passes. */
const PASS_RETRY = { minMs: 200, maxMs: 5_000 };

export class Agent {
  private readonly log: Logger;
  private readonly loop: ReconcileLoop;
  private readonly desired: DesiredWatch;
  private readonly bodies: BodyCache;
  private readonly unitDir: UnitDir;
  private readonly record: AgentRecord;
  private readonly drift: DriftRepair;
  private readonly reporter: Reporter;
  private readonly executor: Executor;
  private readonly registration: Registration;
  private readonly health: HealthTracker;
  private stopped = false;

  constructor(private readonly opts: AgentOptions) {
    const { store, machineId, metadata, log = createLogger('agent') } = opts;
    const idProblem = machineIdProblem(machineId);
    if (idProblem) throw new AgentError(idProblem);
    const changed = (reason: string) => this.loop.trigger(reason);
    const resyncMs = opts.resyncMs ?? 60_000;
    this.log = log;
    const onFatal = opts.onFatal;
    this.loop = new ReconcileLoop(`agent ${machineId}`, () => this.reporter.during(() => this.pass()), {
      ...{ resyncMs, backoff: PASS_RETRY, log },
      ...(onFatal ? { onFatal } : {}),
    });
    const desired = (this.desired = new DesiredWatch({ store, machineId, metadata, log, changed }));
    this.bodies = new BodyCache(store);
    const unitDir = (this.unitDir = new UnitDir(opts.unitDir, opts.runtimeUnitDir));
    const record = (this.record = new AgentRecord(opts.stateDir, log));
    const backoff = opts.driftBackoff ?? { minMs: 1_000, maxMs: 60_000 };
    const metrics = opts.metrics;
    const ready = () => changed('drift backoff over');
    const drift = (this.drift = new DriftRepair({ ...backoff, log, ready, ...(metrics ? { metrics } : {}) }));
    const lease = () => this.registration.lease;
    const systemdFacts = opts.systemd.unitFacts?.bind(opts.systemd);
    const health = (this.health = new HealthTracker({
      changed: (unit) => {
        this.reporter.mark(unit);
        this.reporter.flushSoon();
      },
      ...(systemdFacts ? { facts: systemdFacts } : {}),
      ...(opts.journal ? { journal: opts.journal } : {}),
    }));
    const reporter = (this.reporter = new Reporter({ store, machineId, log, unitDir, drift, lease, health }));
    const { concurrency = 128, address, leaseTtlSeconds: ttlSeconds = 10 } = opts;
    const systemd = metrics ? countDbusErrors(opts.systemd, metrics) : opts.systemd;
    metrics?.trackUnits(() => reporter.unitStates());
    const executor = (this.executor = new Executor({
      ...{ systemd, unitDir, record, drift, reporter, concurrency, log },
      ...(metrics ? { metrics } : {}),
    }));
    const parts = { desired, executor, reporter, changed };
    this.registration = new Registration({ store, machineId, metadata, address, ttlSeconds, log, ...parts });
  }

  /**
   * Register the machine (refusing an id that another live agent holds), start following the
   * schedule and run the first pass. Retries while the store is unreachable; rejects with
   * AgentError when the machine id is taken.
   */
  async start(): Promise<void> {
    await this.record.load();
    await this.unitDir.scan();
    await this.registration.start(this.record.token, () => this.stopped);
    if (this.stopped) return;
    this.opts.systemd.on('unit-state', this.onUnitState);
    this.opts.systemd.on('resync', this.onResync);
    this.loop.start();
    await this.loop.idle();
  }

  /** Resolves when no pass is running or pending and reports are written (for tests and `up --once`). */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const before = this.loop.passes + this.loop.failures;
      await this.loop.idle();
      if (this.registration.registered) await this.reporter.flush();
      await new Promise((r) => setImmediate(r));
      await this.loop.idle();
      const unreported = this.registration.registered && this.reporter.pending > 0;
      if (this.loop.passes + this.loop.failures === before && !unreported) return;
    }
  }

  /** Statistics for tests and benchmarks. */
  get passes(): number {
    return this.loop.passes;
  }

  /** Stop following the cluster. onExit 'leave' keeps units running; 'stop' unloads them first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.loop.stop();
    this.opts.systemd.off('unit-state', this.onUnitState);
    this.opts.systemd.off('resync', this.onResync);
    this.drift.stop();
    this.health.stop();
    await this.desired.close();
    if (this.opts.onExit === 'stop') {
      await this.executor.unloadAllBut(new Map(), 'agent stopping with onExit=stop').catch((e: Error) => {
        this.log.error('could not unload every unit on exit', { error: e });
      });
    }
    await this.reporter.stop();
    // Released, the keys expire after the TTL unless this machine's agent comes back first and takes them over.
    await this.registration.end(this.opts.onExit === 'stop' ? 'revoke' : 'release');
  }

  /** One pass: follow and register if needed, plan, execute, record what was applied, report. */
  private async pass(): Promise<void> {
    if (this.stopped) return;
    if (!this.registration.registered) {
      // Back as soon as the store answers: retried at a short fixed interval, not with backoff.
      try {
        if (this.desired.broken) await this.desired.follow();
        await this.registration.comeBack();
      } catch (e) {
        if (retryKind(e) !== 'transient') throw e;
        throw new WaitingError(`not registered yet: ${(e as Error).message}`, REREGISTER_EVERY_MS, { cause: e });
      }
    }
    if (this.desired.broken) await this.desired.follow();

    const t0 = performance.now();
    const wanted = this.desired.entries((u) => this.unitDir.hashOf(u));
    const { desired, skipped, missing } = await this.bodies.resolve(wanted, this.unitDir);
    const t1 = performance.now();
    const actual = await this.executor.readActual();
    const t2 = performance.now();
    for (const unit of skipped) actual.delete(unit);
    const tasks = planAgentTasks(desired, actual, { holdDriftStart: this.drift.held() });
    const failures = await this.executor.execute(tasks, actual, (u) => this.bodies.get(desired.get(u)!.hash));
    for (const [unit, d] of desired) if (!failures.has(unit)) this.record.setApplied(unit, d.state);
    await this.record.save();
    this.drift.arm();
    await this.executor.readStates(tasks);
    // A oneshot's start job ends when its run does, so a start that succeeded means it ran to
    // success; so did one the planner left alone as completed. systemd may have forgotten the run
    // by now (it collects inactive units), so this is the agent's word, not a property to read.
    const started = new Set(
      tasks.flatMap((t) => (t.type === 'start' && t.unit && !failures.has(t.unit) ? [t.unit] : [])),
    );
    const completed = (unit: string, hash: string) => {
      const a = actual.get(unit);
      return started.has(unit) || (a?.hash === hash && a.applied === 'launched' && a.active === 'inactive');
    };
    // After the states are read again: a unit the pass just (re)started is judged by what systemd says now.
    this.health.configure(
      new Map(
        [...desired].map(([unit, d]) => {
          const e = wanted.get(unit);
          return [
            unit,
            {
              ...d,
              ...(e?.minHealthy !== undefined ? { minHealthy: e.minHealthy } : {}),
              ...(e?.health ? { health: e.health } : {}),
              ...(d.runsToCompletion && d.state === 'launched' && completed(unit, d.hash) ? { completed: true } : {}),
            },
          ];
        }),
      ),
      (u) => this.reporter.state(u),
    );
    for (const unit of desired.keys()) this.reporter.mark(unit);
    await this.reporter.flush();
    if (tasks.length > 0) {
      const r = (a: number, b: number) => Math.round((b - a) * 10) / 10;
      const t3 = performance.now();
      this.log.debug('pass timings', { bodiesMs: r(t0, t1), readMs: r(t1, t2), restMs: r(t2, t3) });
    }
    if (missing.length > 0 || skipped.length > 0) {
      const units = skipped.join(', ') || missing.join(', ');
      throw new TransientError(`unit bodies missing from the store for ${units}; those units are left as they are`);
    }
    if (failures.size === 0 && missing.length === 0 && skipped.length === 0) this.opts.metrics?.passSucceeded();
    if (failures.size > 0) {
      throw new TransientError(`tasks failed: ${[...failures].map(([u, e]) => `${u}: ${e.message}`).join('; ')}`);
    }
  }

  private readonly onUnitState = (s: UnitState) => {
    if (!this.unitDir.has(s.name)) return;
    this.reporter.signal(s);
    // A launched unit that went down behind our back: a pass repairs it (with backoff).
    if (this.desired.stateOf(s.name) === 'launched' && !isUp(s.active) && s.active !== 'deactivating')
      this.loop.trigger(`drift ${s.name}`);
  };

  private readonly onResync = () => {
    this.reporter.markAll();
    this.loop.trigger('systemd resync');
  };
}
