/**
 * The agent: one per machine. Registers the machine under a lease, follows the units scheduled to
 * it (plus Global units whose metadata matches), and reconciles systemd through SystemdManager:
 *
 *   watch schedule/<machine>/ + desired/root  ->  desired map (in memory, level-triggered)
 *   files in unitDir (gitfleet's own) + systemd's states  ->  actual map
 *   planAgentTasks(desired, actual)  ->  execute (unload, load, one reload, stop, start)
 *   systemd's signals  ->  state/<machine>/<unit> reports, bound to the machine's lease
 *
 * Faults (shared/DESIGN.md, fleet's open bugs): the store unreachable leaves every unit as it is
 * (the desired map only changes through watch events and re-reads, never because a read failed)
 * and passes retry with backoff; a lost lease means the engine may have moved our units, so the
 * agent re-reads its schedule and unloads what left BEFORE it registers again; systemd re-executed
 * or reconnected -> resync; SIGTERM leaves units running unless onExit is 'stop'.
 *
 * gitfleet owns exactly the unit files in `unitDir`; nothing else is ever touched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { metadataMatches } from '../fleet/constraints.js';
import { createLogger, type Logger } from '../log.js';
import {
  DESIRED_ROOT,
  bodyKey,
  machineKey,
  schedulePrefix,
  unitStateKey,
  type DesiredRoot,
  type MachineRecord,
  type ScheduleEntry,
  type UnitStateReport,
} from '../store/keys.js';
import type { Lease, Op, Store, Watch, WatchEvent } from '../store/store.js';
import { MAX_TXN_OPS } from '../store/store.js';
import { ReconcileLoop } from '../util/loop.js';
import { VERSION } from '../version.js';
import {
  isUp,
  planAgentTasks,
  type ActualAgentUnit,
  type AgentTask,
  type AgentUnitState,
  type DesiredAgentUnit,
} from './tasks.js';
import type { AgentSystemd, UnitState } from '../systemd/manager.js';
import { FatalError } from '../errors.js';
import { countDbusErrors, type AgentMetrics } from './metrics.js';
import { machineIdProblem } from '../fleet/machine-id.js';

export interface AgentOptions {
  store: Store;
  machineId: string;
  metadata: Record<string, string>;
  address: string;
  /** systemd's manager: SystemdManager over D-Bus (a simulation in bench/scale). */
  systemd: AgentSystemd;
  /** The directory gitfleet owns: unit files are written here and linked into systemd's runtime path. */
  unitDir: string;
  /** Where the agent keeps its records (what it last applied, its instance token). */
  stateDir: string;
  /** On stop(): 'leave' (default) keeps units running; 'stop' unloads every unit gitfleet owns. */
  onExit?: 'leave' | 'stop';
  /** Machine lease TTL in seconds (default 10). */
  leaseTtlSeconds?: number;
  /** Safety-net full pass period in ms (default 60000; events drive the work). */
  resyncMs?: number;
  /** Delay before a unit that keeps failing is started again: doubles from min to max (default 1 s .. 60 s). */
  driftBackoff?: { minMs: number; maxMs: number };
  /** Parallel systemd jobs per phase (default 32). */
  concurrency?: number;
  log?: Logger;
  metrics?: AgentMetrics;
}

/** The agent cannot run as configured (e.g. its machine id is live elsewhere). Not retried. */
export class AgentError extends FatalError {
  override name = 'AgentError';
}

/** What the agent remembers across restarts, in stateDir/agent-state.json. */
interface AgentRecord {
  /** Random, made once per state dir: recognises this machine's own earlier registration. */
  token: string;
  /** Unit -> desired state last applied. */
  applied: Record<string, AgentUnitState>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const UNIT_FILE = /^[A-Za-z0-9:_.\\@-]+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;
const INSTALL_SECTION = /^\[Install\]\s*$/m;

export class Agent {
  private readonly store: Store;
  private readonly systemd: AgentSystemd;
  private readonly id: string;
  private readonly log: Logger;
  private readonly ttl: number;
  private readonly concurrency: number;
  private readonly backoffMin: number;
  private readonly backoffMax: number;
  private readonly loop: ReconcileLoop;

  /** schedule/<machine>/<unit> as last seen (key -> entry) and the mod revision per key (dedupe). */
  private readonly schedule = new Map<string, ScheduleEntry>();
  private readonly scheduleRev = new Map<string, number>();
  private root: DesiredRoot | null = null;
  private rootRev = 0;
  private watches: Watch[] = [];
  private watchBroken = true;

  /** Unit files in unitDir: name -> sha256 of content. */
  private readonly files = new Map<string, string>();
  private readonly bodies = new Map<string, string>();
  private record: AgentRecord = { token: '', applied: {} };
  private recordDirty = false;
  private readonly states = new Map<string, UnitState>();

  private lease: Lease | null = null;
  private registered = false;
  private instance = '';
  private readonly reported = new Map<string, string>();
  private readonly dirtyReports = new Set<string>();
  private reportTimer: NodeJS.Timeout | null = null;
  private reporting: Promise<void> | null = null;
  private readonly driftRepairs = new Map<string, number>();
  private readonly backoff = new Map<string, { until: number; delayMs: number; last: number }>();
  private backoffTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly badNames = new Set<string>();
  private readonly onUnitState = (s: UnitState) => this.unitStateChanged(s);
  private readonly onResync = () => {
    this.dirtyAll();
    this.loop.trigger('systemd resync');
  };

  constructor(private readonly opts: AgentOptions) {
    this.store = opts.store;
    this.systemd = opts.metrics ? countDbusErrors(opts.systemd, opts.metrics) : opts.systemd;
    opts.metrics?.trackUnits(() => this.states.values());
    this.id = opts.machineId;
    this.log = opts.log ?? createLogger('agent');
    this.ttl = opts.leaseTtlSeconds ?? 10;
    this.concurrency = opts.concurrency ?? 32;
    this.backoffMin = opts.driftBackoff?.minMs ?? 1_000;
    this.backoffMax = opts.driftBackoff?.maxMs ?? 60_000;
    const idProblem = machineIdProblem(this.id);
    if (idProblem) throw new AgentError(idProblem);
    this.loop = new ReconcileLoop(`agent ${this.id}`, () => this.pass(), {
      resyncMs: opts.resyncMs ?? 60_000,
      backoff: { minMs: 200, maxMs: 5_000 },
      log: this.log,
    });
  }

  /**
   * Register the machine (refusing an id that another live agent holds), start following the
   * schedule and run the first pass. Retries while the store is unreachable; rejects with
   * AgentError when the machine id is taken.
   */
  async start(): Promise<void> {
    await mkdir(this.opts.unitDir, { recursive: true });
    await mkdir(this.opts.stateDir, { recursive: true });
    await this.loadRecord();
    await this.scanFiles();
    this.instance = `${await bootId()}/${this.record.token}`;
    for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
      if (this.stopped) return;
      try {
        // A restart is a return too: if this machine's lease expired meanwhile, its units may run
        // elsewhere now. Read the schedule and unload what is no longer ours BEFORE registering.
        await this.followDesired();
        await this.comeBack();
        break;
      } catch (e) {
        if (e instanceof AgentError) throw e;
        this.log.warn('cannot register yet, retrying', { machine: this.id, error: e as Error, retryInMs: delay });
        await sleep(delay);
      }
    }
    this.systemd.on('unit-state', this.onUnitState);
    this.systemd.on('resync', this.onResync);
    this.loop.start();
    await this.loop.idle();
  }

  /** Resolves when no pass is running or pending and reports are written (for tests and `up --once`). */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const before = this.loop.passes + this.loop.failures;
      await this.loop.idle();
      if (this.registered) await this.flushReports();
      await new Promise((r) => setImmediate(r));
      await this.loop.idle();
      if (this.loop.passes + this.loop.failures === before && (this.dirtyReports.size === 0 || !this.registered))
        return;
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
    this.systemd.off('unit-state', this.onUnitState);
    this.systemd.off('resync', this.onResync);
    if (this.reportTimer) clearTimeout(this.reportTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    await this.closeWatches();
    if (this.opts.onExit === 'stop') {
      const tasks: AgentTask[] = [...this.files.keys()]
        .sort()
        .map((unit) => ({ type: 'unload', unit, reason: 'agent stopping with onExit=stop' }));
      try {
        const actual = await this.readActual();
        await this.execute(tasks, new Map(), actual);
        await this.saveRecord();
      } catch (e) {
        this.log.error('could not unload every unit on exit', { error: e as Error });
      }
      if (this.lease) await this.lease.revoke().catch(() => {});
    } else if (this.lease) {
      // Keys expire after the TTL unless this machine's agent comes back first and takes them over.
      this.lease.release();
    }
    if (this.reporting) await this.reporting.catch(() => {});
    this.lease = null;
    this.registered = false;
  }

  // ---- registration ------------------------------------------------------------------------

  /** Grant a lease and write the machine record under it; refuse an id another live agent holds. */
  private async register(): Promise<void> {
    const key = machineKey(this.id);
    const record: MachineRecord = {
      id: this.id,
      address: this.opts.address,
      metadata: this.opts.metadata,
      version: VERSION,
      startedAt: new Date().toISOString(),
      instance: this.instance,
    };
    const lease = await this.store.grantLease(this.ttl, { onLost: (e) => this.leaseLost(lease, e) });
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const existing = await this.store.get(key);
        if (existing) {
          let other: Partial<MachineRecord> = {};
          try {
            other = JSON.parse(existing.value);
          } catch {
            // unreadable record: treat as someone else's
          }
          if (other.instance !== this.instance) {
            throw new AgentError(
              `machine id ${this.id} is already registered by a live agent` +
                `${other.address ? ` at ${other.address}` : ''}` +
                `${other.startedAt ? ` (started ${other.startedAt})` : ''}: ` +
                'two machines share one machine id (a cloned /etc/machine-id?); give each machine its own ' +
                '(--machine-id), ' +
                `or wait ${this.ttl} s if that agent has just died`,
            );
          }
        }
        const res = await this.store.txn(
          [
            existing
              ? { key, target: 'value', op: '==', value: existing.value }
              : { key, target: 'version', op: '==', value: 0 },
          ],
          [{ op: 'put', key, value: JSON.stringify(record), lease: lease.id }],
        );
        if (res.succeeded) {
          this.lease = lease;
          this.registered = true;
          this.log.info('registered', { machine: this.id, lease: lease.id, ttl: this.ttl });
          return;
        }
      }
      throw new AgentError(
        `machine id ${this.id}: the machine record keeps changing under us; another agent with this id is starting`,
      );
    } catch (e) {
      await lease.revoke().catch(() => {});
      throw e;
    }
  }

  private leaseLost(lease: Lease, err: Error): void {
    if (this.lease !== lease || this.stopped) return;
    this.log.warn('machine lease lost: will stop units moved away, then register again', {
      machine: this.id,
      error: err,
    });
    this.lease = null;
    this.registered = false;
    // Our reports vanished with the lease; all of them are rewritten after re-registering.
    this.reported.clear();
    this.dirtyAll();
    this.watchBroken = true;
    this.loop.trigger('lease lost');
  }

  // ---- desired state -----------------------------------------------------------------------

  /** Read the schedule and the root at a revision, and watch both from the next one. */
  private async followDesired(): Promise<void> {
    await this.closeWatches();
    const prefix = schedulePrefix(this.id);
    const [sched, rootR] = await Promise.all([this.store.range(prefix), this.store.range(DESIRED_ROOT)]);
    this.schedule.clear();
    this.scheduleRev.clear();
    for (const kv of sched.kvs) {
      const unit = kv.key.slice(prefix.length);
      const entry = parseJson<ScheduleEntry>(kv.value);
      if (entry) this.schedule.set(unit, entry);
      this.scheduleRev.set(kv.key, kv.modRevision);
    }
    const rootKv = rootR.kvs.find((kv) => kv.key === DESIRED_ROOT);
    this.root = rootKv ? parseJson<DesiredRoot>(rootKv.value) : null;
    this.rootRev = rootKv?.modRevision ?? 0;
    const onError = (e: Error) => {
      this.log.warn('watch failed; re-reading the schedule', { error: e });
      this.watchBroken = true;
      this.loop.trigger('watch error');
    };
    this.watches = await Promise.all([
      this.store.watch(prefix, sched.revision + 1, { onEvents: (ev) => this.scheduleEvents(prefix, ev), onError }),
      this.store.watch(DESIRED_ROOT, rootR.revision + 1, { onEvents: (ev) => this.rootEvents(ev), onError }),
    ]);
    this.watchBroken = false;
  }

  private scheduleEvents(prefix: string, events: WatchEvent[]): void {
    let changed = false;
    for (const { type, kv } of events) {
      if ((this.scheduleRev.get(kv.key) ?? 0) >= kv.modRevision) continue;
      this.scheduleRev.set(kv.key, kv.modRevision);
      const unit = kv.key.slice(prefix.length);
      if (type === 'delete') changed = this.schedule.delete(unit) || changed;
      else {
        const entry = parseJson<ScheduleEntry>(kv.value);
        if (entry) {
          this.schedule.set(unit, entry);
          changed = true;
        }
      }
    }
    if (changed) this.loop.trigger('schedule changed');
  }

  private rootEvents(events: WatchEvent[]): void {
    const before = JSON.stringify(this.root?.global ?? []);
    for (const { type, kv } of events) {
      if (kv.key !== DESIRED_ROOT || kv.modRevision <= this.rootRev) continue;
      this.rootRev = kv.modRevision;
      this.root = type === 'delete' ? null : parseJson<DesiredRoot>(kv.value);
    }
    // The root matters to an agent only for Global units; the engine's schedule carries the rest.
    // (A commit that leaves Global units alone costs 1,000 agents no pass at all.)
    if (JSON.stringify(this.root?.global ?? []) !== before) this.loop.trigger('Global units changed');
  }

  /** Units for this machine: its schedule, plus Global units whose MachineMetadata matches. */
  private desiredEntries(): Map<string, { hash: string; state: AgentUnitState }> {
    const out = new Map<string, { hash: string; state: AgentUnitState }>();
    for (const g of this.root?.global ?? []) {
      if (g.state === 'inactive' || !g.constraints.global) continue;
      if (!metadataMatches(this.opts.metadata, g.constraints.machineMetadata)) continue;
      out.set(g.name, { hash: g.hash, state: g.state });
    }
    for (const [unit, e] of this.schedule) out.set(unit, { hash: e.hash, state: e.state });
    for (const unit of out.keys()) {
      // Names become file names in unitDir: anything that is not a plain unit name is never acted on.
      if (!UNIT_FILE.test(unit) || unit.length > 255) {
        out.delete(unit);
        if (!this.badNames.has(unit)) {
          this.badNames.add(unit);
          this.log.error('ignoring a scheduled unit whose name is not a valid unit name', { unit });
        }
      }
    }
    return out;
  }

  /** One unit's desired state here, or undefined (cheap: for signal handlers). */
  private desiredStateOf(unit: string): AgentUnitState | undefined {
    const s = this.schedule.get(unit);
    if (s) return s.state;
    const g = this.root?.global.find((e) => e.name === unit);
    if (
      !g ||
      g.state === 'inactive' ||
      !g.constraints.global ||
      !metadataMatches(this.opts.metadata, g.constraints.machineMetadata)
    )
      return undefined;
    return g.state;
  }

  /** Unit bodies for hashes we have no file for; cached by hash. Units whose body is missing are left out. */
  private async fetchBodies(
    entries: Map<string, { hash: string; state: AgentUnitState }>,
  ): Promise<{ missing: string[] }> {
    const need = new Set<string>();
    for (const [unit, e] of entries) if (this.files.get(unit) !== e.hash && !this.bodies.has(e.hash)) need.add(e.hash);
    const missing: string[] = [];
    await mapLimit([...need], 16, async (hash) => {
      const kv = await this.store.get(bodyKey(hash));
      if (kv && sha256(kv.value) === hash) this.bodies.set(hash, kv.value);
      else missing.push(hash);
    });
    // Forget bodies nothing refers to any more.
    const used = new Set([...entries.values()].map((e) => e.hash));
    for (const h of this.bodies.keys()) if (!used.has(h)) this.bodies.delete(h);
    return { missing };
  }

  // ---- actual state ------------------------------------------------------------------------

  /** The unit files gitfleet owns, with the hash of each (the hash in force). */
  private async scanFiles(): Promise<void> {
    this.files.clear();
    for (const name of await readdir(this.opts.unitDir)) {
      if (!UNIT_FILE.test(name)) continue; // temp files of atomic writes, strays
      try {
        this.files.set(name, sha256(await readFile(join(this.opts.unitDir, name), 'utf8')));
      } catch {
        // vanished or unreadable: not ours to plan with
      }
    }
  }

  private async readActual(): Promise<Map<string, ActualAgentUnit>> {
    const names = [...this.files.keys()];
    const states = await this.systemd.listUnits(names);
    const actual = new Map<string, ActualAgentUnit>();
    for (const s of states) {
      this.states.set(s.name, s);
      const applied = this.record.applied[s.name];
      actual.set(s.name, {
        hash: this.files.get(s.name) ?? '',
        load: s.load,
        active: s.active,
        sub: s.sub,
        ...(applied ? { applied } : {}),
      });
    }
    return actual;
  }

  // ---- the pass ----------------------------------------------------------------------------

  private async pass(): Promise<void> {
    if (this.stopped) return;
    if (this.watchBroken) await this.followDesired();
    if (!this.registered) await this.comeBack();

    const entries = this.desiredEntries();
    const { missing } = await this.fetchBodies(entries);
    const actual = await this.readActual();
    const desired = new Map<string, DesiredAgentUnit>();
    const skipped: string[] = [];
    for (const [unit, e] of entries) {
      const content = this.bodies.get(e.hash);
      if (content === undefined && this.files.get(unit) !== e.hash) {
        // No body to write: leave this unit exactly as it is (neither desired nor actual).
        skipped.push(unit);
        actual.delete(unit);
        continue;
      }
      desired.set(unit, { hash: e.hash, state: e.state, content: content ?? '' });
    }
    const now = Date.now();
    const hold = new Set<string>();
    for (const [unit, b] of this.backoff) if (b.until > now) hold.add(unit);
    const tasks = planAgentTasks(desired, actual, { holdDriftStart: hold });
    if (tasks.length > 0)
      this.log.debug('plan', { tasks: tasks.map((t) => `${t.type}${t.unit ? ' ' + t.unit : ''}`).join(', ') });
    const failures = await this.execute(tasks, desired, actual);
    for (const [unit, d] of desired) {
      if (failures.has(unit)) continue;
      if (this.record.applied[unit] !== d.state) {
        this.record.applied[unit] = d.state;
        this.recordDirty = true;
      }
    }
    await this.saveRecord();
    this.armBackoffTimer();
    // States after the tasks: a unit that was only loaded (or failed to start) emits no signal.
    const touched = [...new Set(tasks.flatMap((t) => (t.unit && this.files.has(t.unit) ? [t.unit] : [])))];
    if (touched.length > 0) for (const st of await this.systemd.listUnits(touched)) this.states.set(st.name, st);
    for (const unit of desired.keys()) this.dirtyReports.add(unit);
    await this.flushReports();
    if (missing.length > 0 || skipped.length > 0) {
      throw new Error(
        `unit bodies missing from the store for ${skipped.join(', ') || missing.join(', ')}; those units are left ` +
          `as they are`,
      );
    }
    if (failures.size > 0) {
      throw new Error(`tasks failed: ${[...failures].map(([u, e]) => `${u}: ${e.message}`).join('; ')}`);
    }
    this.opts.metrics?.passSucceeded();
  }

  /**
   * Back after the lease was lost: the engine may have scheduled our units elsewhere meanwhile.
   * The schedule was just re-read; unload what is no longer ours BEFORE telling the cluster we are
   * back, so no unit runs twice. Then register again.
   */
  private async comeBack(): Promise<void> {
    const entries = this.desiredEntries();
    const gone = [...this.files.keys()].filter((u) => !entries.has(u)).sort();
    if (gone.length > 0) {
      this.log.info('unloading units scheduled away while this machine was gone', { units: gone.join(', ') });
      const actual = await this.readActual();
      const tasks: AgentTask[] = gone.map((unit) => ({
        type: 'unload',
        unit,
        reason: 'rescheduled away while the lease was lost',
      }));
      const failures = await this.execute(tasks, new Map(), actual);
      await this.saveRecord();
      if (failures.size > 0)
        throw new Error(`could not unload ${[...failures.keys()].join(', ')}: not registering again yet`);
    }
    await this.register();
  }

  /** Run the tasks in order; returns the units whose tasks failed (the pass is retried). */
  private async execute(
    tasks: AgentTask[],
    desired: Map<string, DesiredAgentUnit>,
    actual: Map<string, ActualAgentUnit>,
  ): Promise<Map<string, Error>> {
    const failures = new Map<string, Error>();
    const fail = (unit: string, e: unknown) => {
      failures.set(unit, e as Error);
      this.log.warn('task failed', { unit, error: e as Error });
    };
    const of = (type: AgentTask['type']) => tasks.filter((t) => t.type === type);
    const sys = this.systemd;
    const dir = this.opts.unitDir;
    const m = this.opts.metrics;
    const done = (t: AgentTask, since: number) =>
      m?.taskDone(t.type, (performance.now() - since) / 1000, !failures.has(t.unit ?? ''));

    // unload: stop, remove its links ([Install] ones and the runtime link), remove its file.
    const unloads = of('unload');
    let since = performance.now();
    if (unloads.length > 0) {
      await mapLimit(unloads, this.concurrency, async (t) => {
        const unit = t.unit!;
        try {
          if (isUp(actual.get(unit)?.active ?? 'inactive')) await sys.stopUnit(unit);
        } catch (e) {
          fail(unit, e);
        }
      });
      const names = unloads.map((t) => t.unit!).filter((u) => !failures.has(u));
      try {
        await sys.disableUnitFiles(names);
        for (const unit of names) {
          await sys.removeUnitFile(dir, unit);
          this.files.delete(unit);
          delete this.record.applied[unit];
          this.recordDirty = true;
          this.driftRepairs.delete(unit);
          this.backoff.delete(unit);
          this.states.delete(unit);
          this.dirtyReports.add(unit);
          this.log.info('unloaded', { unit, reason: unloads.find((t) => t.unit === unit)?.reason });
        }
      } catch (e) {
        for (const u of names) fail(u, e);
      }
      for (const t of unloads) done(t, since);
    }

    // load: write the files, then one LinkUnitFiles and one EnableUnitFiles for all of them.
    const loads = of('load');
    since = performance.now();
    const written: string[] = [];
    const contents = new Map<string, string>();
    for (const t of loads) {
      const unit = t.unit!;
      const d = desired.get(unit)!;
      try {
        if (this.files.get(unit) === d.hash && !this.bodies.has(d.hash)) {
          // The right file is on disk, only its link is missing (pass() had no body to give us).
          contents.set(unit, await readFile(join(dir, unit), 'utf8'));
          written.push(join(dir, unit));
        } else {
          contents.set(unit, d.content);
          written.push(await sys.writeUnitFile(dir, unit, d.content));
          this.files.set(unit, d.hash);
        }
      } catch (e) {
        fail(unit, e);
      }
    }
    if (written.length > 0) {
      const names = loads.map((t) => t.unit!).filter((u) => !failures.has(u));
      try {
        await sys.linkUnitFiles(written);
        const install = names.filter((u) => INSTALL_SECTION.test(contents.get(u) ?? ''));
        if (install.length > 0) await sys.enableUnitFiles(install);
        for (const t of loads) if (!failures.has(t.unit!)) this.log.info('loaded', { unit: t.unit, reason: t.reason });
      } catch (e) {
        for (const u of names) fail(u, e);
      }
    }
    for (const t of loads) done(t, since);

    // One daemon-reload for the pass; without it, stop/start would use stale definitions.
    const reload = of('reload')[0];
    if (reload) {
      since = performance.now();
      await sys.reload();
      this.log.info('daemon-reload', { reason: reload.reason });
      done(reload, since);
    }

    await mapLimit(of('stop'), this.concurrency, async (t) => {
      const unit = t.unit!;
      if (failures.has(unit)) return;
      const since = performance.now();
      try {
        const r = await sys.stopUnit(unit);
        this.log.info('stopped', { unit, reason: t.reason, result: r });
      } catch (e) {
        fail(unit, e);
      }
      done(t, since);
    });

    await mapLimit(of('start'), this.concurrency, async (t) => {
      const unit = t.unit!;
      if (failures.has(unit)) return;
      const since = performance.now();
      try {
        if (t.failed) await sys.resetFailed(unit);
        if (t.drift) this.noteDriftRepair(unit);
        const r = await sys.startUnit(unit);
        if (r === 'done') this.log.info('started', { unit, reason: t.reason });
        else this.log.warn('start did not succeed', { unit, reason: t.reason, result: r });
      } catch (e) {
        fail(unit, e);
      }
      done(t, since);
    });
    return failures;
  }

  // ---- drift -------------------------------------------------------------------------------

  private noteDriftRepair(unit: string): void {
    const now = Date.now();
    this.driftRepairs.set(unit, (this.driftRepairs.get(unit) ?? 0) + 1);
    this.opts.metrics?.driftRepaired(unit);
    const prev = this.backoff.get(unit);
    // A unit that stayed up for a long while starts over with the shortest delay.
    const delayMs =
      prev && now - prev.last < this.backoffMax * 2 ? Math.min(prev.delayMs * 2, this.backoffMax) : this.backoffMin;
    this.backoff.set(unit, { until: now + delayMs, delayMs, last: now });
    this.log.warn('drift: starting a launched unit found stopped or failed', {
      unit,
      repairs: this.driftRepairs.get(unit),
      nextRepairNotBeforeMs: delayMs,
    });
  }

  private armBackoffTimer(): void {
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    const now = Date.now();
    const next = Math.min(...[...this.backoff.values()].map((b) => b.until).filter((u) => u > now));
    if (!Number.isFinite(next)) return;
    this.backoffTimer = setTimeout(
      () => {
        this.backoffTimer = null;
        this.loop.trigger('drift backoff over');
      },
      next - now + 5,
    );
    this.backoffTimer.unref();
  }

  // ---- systemd signals and reports ---------------------------------------------------------

  private unitStateChanged(s: UnitState): void {
    if (!this.files.has(s.name)) return;
    this.states.set(s.name, s);
    this.dirtyReports.add(s.name);
    this.scheduleReportFlush();
    // A launched unit that went down behind our back: a pass repairs it (with backoff).
    if (this.desiredStateOf(s.name) === 'launched' && !isUp(s.active) && s.active !== 'deactivating')
      this.loop.trigger(`drift ${s.name}`);
  }

  private dirtyAll(): void {
    for (const u of this.files.keys()) this.dirtyReports.add(u);
  }

  private scheduleReportFlush(delayMs = 5): void {
    if (this.reportTimer || this.stopped) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      this.flushReports().catch(() => {});
    }, delayMs);
    this.reportTimer.unref();
  }

  /**
   * Write state/<machine>/<unit> for every dirty unit whose report changed, under the machine's
   * lease, in transactions of at most MAX_TXN_OPS. A failure keeps them dirty and retries later.
   */
  private flushReports(): Promise<void> {
    if (this.reporting) {
      return this.reporting.then(() => (this.dirtyReports.size > 0 ? this.flushReports() : undefined));
    }
    this.reporting = this.writeReports().finally(() => {
      this.reporting = null;
    });
    return this.reporting;
  }

  private async writeReports(): Promise<void> {
    const lease = this.lease;
    if (!lease || !this.registered || this.dirtyReports.size === 0) return;
    const units = [...this.dirtyReports];
    this.dirtyReports.clear();
    const ops: Op[] = [];
    const next = new Map<string, string | null>();
    for (const unit of units) {
      const key = unitStateKey(this.id, unit);
      const hash = this.files.get(unit);
      if (hash === undefined) {
        if (this.reported.has(unit)) {
          ops.push({ op: 'delete', key });
          next.set(unit, null);
        }
        continue;
      }
      const s = this.states.get(unit) ?? { load: 'unknown', active: 'unknown', sub: 'unknown' };
      const report: UnitStateReport = { load: s.load, active: s.active, sub: s.sub, hash };
      const repairs = this.driftRepairs.get(unit);
      if (repairs) report.driftRepairs = repairs;
      const json = JSON.stringify(report);
      if (this.reported.get(unit) === json) continue;
      ops.push({ op: 'put', key, value: json, lease: lease.id });
      next.set(unit, json);
    }
    try {
      for (let i = 0; i < ops.length; i += MAX_TXN_OPS) await this.store.txn([], ops.slice(i, i + MAX_TXN_OPS));
      for (const [unit, json] of next) {
        if (json === null) this.reported.delete(unit);
        else this.reported.set(unit, json);
      }
    } catch (e) {
      for (const u of units) this.dirtyReports.add(u);
      this.log.warn('could not write unit state reports; retrying', { error: e as Error });
      if (!this.stopped) this.scheduleReportFlush(1_000);
    }
  }

  // ---- records -----------------------------------------------------------------------------

  private get recordPath(): string {
    return join(this.opts.stateDir, 'agent-state.json');
  }

  private async loadRecord(): Promise<void> {
    try {
      const r = JSON.parse(await readFile(this.recordPath, 'utf8')) as Partial<AgentRecord>;
      this.record = { token: typeof r.token === 'string' && r.token ? r.token : '', applied: r.applied ?? {} };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn('agent state file unreadable; starting afresh', { file: this.recordPath, error: e as Error });
      }
    }
    if (!this.record.token) {
      this.record.token = randomBytes(12).toString('hex');
      this.recordDirty = true;
      await this.saveRecord();
    }
  }

  private async saveRecord(): Promise<void> {
    if (!this.recordDirty) return;
    this.recordDirty = false;
    const tmp = `${this.recordPath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.record, null, 1));
    await rename(tmp, this.recordPath);
  }

  private async closeWatches(): Promise<void> {
    const ws = this.watches;
    this.watches = [];
    await Promise.all(ws.map((w) => w.close().catch(() => {})));
  }
}

// ---- helpers ------------------------------------------------------------------------------

function parseJson<T>(s: string): T | null {
  try {
    return JSON.parse(s) as T;
  } catch {
    return null;
  }
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return 'unknown-boot';
  }
}

/** Run fn over items with at most `limit` in flight. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
