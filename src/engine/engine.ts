/**
 * The engine: one elected leader turns desired state + live machines into the schedule.
 *
 * A pass (only while leading) reads the desired root and its shards (cached by hash: they are
 * immutable), the machines, the current schedule and the unscheduled reasons; runs the pure
 * planner; and writes only the difference, in fenced transactions of at most 127 operations plus
 * the leader compare. A unit that moves is deleted from its old machine and put on its new one in
 * the same transaction. A pass where nothing changed writes nothing; a new leader reads the
 * schedule its predecessor left and keeps it, so a change of leader moves, restarts or stops
 * nothing.
 *
 * Passes are event-driven (watches on the desired root, the machines and the schedule, coalesced
 * by the shared ReconcileLoop); a periodic resync is only a safety net. The engine ignores watch
 * events caused by its own writes.
 */
import { retryKind } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import {
  DESIRED_ROOT,
  MACHINES_PREFIX,
  SCHEDULE_PREFIX,
  scheduleKey,
  unscheduledKey,
  type DesiredEntry,
  type DesiredRoot,
  type ScheduleEntry,
  type UnscheduledEntry,
} from '../store/keys.js';
import {
  currentPlacement,
  readMachines,
  readRoot,
  readRootUnits,
  readSchedule,
  readUnscheduled,
} from '../store/readers.js';
import type { MalformedRecordError } from '../store/records.js';
import { MAX_TXN_OPS, type Compare, type Op, type Store, type Watch } from '../store/store.js';
import { ReconcileLoop } from '../util/loop.js';
import { LeaderElection, NotLeaderError } from './leader.js';
import { planSchedule, type Decision } from './schedule.js';

export interface EngineOptions {
  store: Store;
  /** This engine's id (the leader key's value); e.g. hostname and pid. */
  id: string;
  /** TTL of the leader lease, seconds (default 10): a dead leader is replaced within TTL + ~1 s. */
  leaseTtl?: number;
  /** Safety-net resync period, seconds (default 30; 0 disables). */
  resyncSeconds?: number;
  log?: Logger;
  /** Called after every pass that ran as leader (metrics, benchmarks). */
  onPass?: (report: PassReport) => void;
  /**
   * A fatal error (src/errors.ts: credentials refused, a request etcd will never take, the store
   * closed) stopped the engine's passes or its election: the process says why and exits.
   */
  onFatal?: (e: Error) => void;
}

/** What the last pass did (for tests, status and the benchmark). */
export interface PassReport {
  /** Store revision the pass read the schedule at. */
  revision: number;
  units: number;
  machines: number;
  assigned: number;
  unscheduled: number;
  decisions: Decision[];
  /** Operations written (puts + deletes) and transactions used. */
  ops: number;
  txns: number;
  /** Milliseconds reading, planning, writing. */
  readMs: number;
  planMs: number;
  writeMs: number;
}

/** Operations per transaction: etcd's max-txn-ops (128) with room for the leader compare. */
const OPS_PER_TXN = MAX_TXN_OPS - 1;

export class Engine {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly onPass: ((r: PassReport) => void) | undefined;
  private readonly onFatal: ((e: Error) => void) | undefined;
  private readonly election: LeaderElection;
  private readonly loop: ReconcileLoop;
  private watches: Watch[] = [];
  /** Shard hash -> its units. Shards are content-addressed, so an entry never goes stale. */
  private readonly shardCache = new Map<string, DesiredEntry[]>();
  /** Revisions of this engine's own successful writes: their watch events need no pass. */
  private readonly ownRevisions = new Set<number>();
  /** Revisions of watch events that arrived during the pass in flight. */
  private heldRevisions: number[] = [];
  private passRunning = false;
  /** Serialises reactions to leadership changes. */
  private transitions: Promise<void> = Promise.resolve();
  private started = false;
  /** Bumped on every leadership change: a watch set up for an older term is discarded. */
  private term = 0;
  lastPass: PassReport | null = null;

  constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.log = opts.log ?? createLogger('engine');
    this.onPass = opts.onPass;
    this.onFatal = opts.onFatal;
    const resync = opts.resyncSeconds ?? 30;
    this.loop = new ReconcileLoop('engine', () => this.pass(), {
      resyncMs: resync > 0 ? resync * 1000 : 0,
      backoff: { minMs: 200, maxMs: 5000 },
      onFatal: opts.onFatal,
      log: this.log,
    });
    this.election = new LeaderElection({
      store: this.store,
      id: opts.id,
      ttlSeconds: opts.leaseTtl ?? 10,
      log: this.log,
      onFatal: opts.onFatal,
      onElected: () => this.transition(() => this.becomeLeader()),
      onDeposed: () => this.transition(() => this.becomeFollower()),
    });
  }

  /** Join the election; passes run while this engine leads. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.election.start();
    await this.transitions;
  }

  /** Leave: stop passes, resign leadership (a follower takes over at once). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.election.stop();
    await this.transitions;
    await this.becomeFollower();
  }

  isLeader(): boolean {
    return this.election.isLeader();
  }

  /** The compare a leader write carries (throws NotLeaderError when not leading). */
  fence(): Compare {
    return this.election.fence();
  }

  /** The engine that leads, as last seen by this one (null when unknown). */
  leaderId(): string | null {
    return this.election.leaderId;
  }

  /** Resolves when no pass is running or queued (tests). */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  /** Ask for a pass now (e.g. from a CLI signal). */
  trigger(): void {
    this.loop.trigger('manual');
  }

  private transition(fn: () => Promise<void>): void {
    this.transitions = this.transitions.then(fn).catch((e) => {
      this.log.error('engine transition failed', { error: e as Error });
      // Taking up leadership opens watches: a fatal error there (credentials refused) ends it all.
      if (retryKind(e) === 'fatal') this.onFatal?.(e as Error);
    });
  }

  private async becomeLeader(): Promise<void> {
    if (!this.started || !this.election.isLeader()) return;
    const term = ++this.term;
    const onEvents = (events: { kv: { modRevision: number } }[]) => {
      // Our own schedule writes come back as events; they need no pass. An event can arrive
      // before the write's reply, so during a pass the judgement waits until the pass is over.
      if (this.passRunning) {
        for (const e of events) this.heldRevisions.push(e.kv.modRevision);
        return;
      }
      if (events.every((e) => this.ownRevisions.has(e.kv.modRevision))) return;
      this.loop.trigger('watch');
    };
    const onError = (err: Error) => {
      if (term !== this.term) return;
      this.log.warn('engine watch failed; re-watching', { error: err });
      this.transition(async () => {
        if (term !== this.term) return;
        await this.closeWatches();
        await this.openWatches(term, onEvents, onError);
        this.loop.trigger('rewatch');
      });
    };
    await this.openWatches(term, onEvents, onError);
    // Watches are up before the first pass reads, so no change falls between the two.
    this.loop.start();
  }

  private async openWatches(
    term: number,
    onEvents: (events: { kv: { modRevision: number } }[]) => void,
    onError: (err: Error) => void,
  ): Promise<void> {
    for (const prefix of [DESIRED_ROOT, MACHINES_PREFIX, SCHEDULE_PREFIX]) {
      const w = await this.store.watch(prefix, undefined, { onEvents, onError });
      if (term !== this.term) {
        await w.close();
        return;
      }
      this.watches.push(w);
    }
  }

  private async closeWatches(): Promise<void> {
    const ws = this.watches;
    this.watches = [];
    await Promise.all(ws.map((w) => w.close().catch(() => {})));
  }

  private async becomeFollower(): Promise<void> {
    this.term++;
    await this.loop.stop();
    await this.closeWatches();
    this.ownRevisions.clear();
  }

  /** One pass: read, plan, write the difference. */
  private async pass(): Promise<void> {
    if (!this.election.isLeader()) return;
    this.passRunning = true;
    try {
      await this.passInner();
    } finally {
      this.passRunning = false;
      const held = this.heldRevisions;
      this.heldRevisions = [];
      if (held.some((r) => !this.ownRevisions.has(r))) this.loop.trigger('watch');
    }
  }

  private async passInner(): Promise<void> {
    const t0 = performance.now();

    const { root } = await readRoot(this.store);
    if (!root) {
      // No desired state was ever applied: schedule nothing, remove nothing.
      this.log.debug('no desired state yet');
      return;
    }
    const units = await this.readUnits(root);

    const onBad = (e: MalformedRecordError) => this.log.warn('ignoring a malformed record', { key: e.key, error: e });
    const [machines, schedule, reasons] = await Promise.all([
      readMachines(this.store, onBad),
      readSchedule(this.store, onBad),
      readUnscheduled(this.store, onBad),
    ]);
    // The schedule as stored: a unit on several machines (which this engine never writes) counts
    // where currentPlacement says; its other copies, and malformed entries, are rewritten below.
    const stored = schedule.byUnit;
    const current = currentPlacement(schedule, machines);
    const t1 = performance.now();

    const plan = planSchedule({ units, machines, current });
    const t2 = performance.now();

    // The difference, grouped per unit so that a move is one transaction.
    const byName = new Map(units.map((u) => [u.name, u]));
    const groups: Op[][] = [];
    for (const unit of new Set([...stored.keys(), ...plan.assign.keys()])) {
      const ops: Op[] = [];
      const target = plan.assign.get(unit);
      for (const m of stored.get(unit)?.keys() ?? [])
        if (m !== target) ops.push({ op: 'delete', key: scheduleKey(m, unit) });
      if (target !== undefined) {
        const e = byName.get(unit)!;
        const want: ScheduleEntry = { hash: e.hash, state: e.state as ScheduleEntry['state'] };
        const have = stored.get(unit)?.get(target);
        if (!have || have.hash !== want.hash || have.state !== want.state)
          ops.push({ op: 'put', key: scheduleKey(target, unit), value: JSON.stringify(want) });
      }
      if (ops.length) groups.push(ops);
    }
    // Machine by machine: each agent then sees its new placements in one transaction (one watch
    // event, one pass) instead of in a slice of every transaction of a big pass.
    const keyOf = (g: Op[]) => {
      const last = g[g.length - 1]!;
      return 'key' in last ? last.key : last.prefix;
    };
    groups.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    const reasonOps: Op[] = [];
    for (const [unit, reason] of plan.unscheduled) {
      if (reasons.get(unit) === reason) continue;
      const value = JSON.stringify({ reason } satisfies UnscheduledEntry);
      reasonOps.push({ op: 'put', key: unscheduledKey(unit), value });
    }
    for (const unit of reasons.keys())
      if (!plan.unscheduled.has(unit)) reasonOps.push({ op: 'delete', key: unscheduledKey(unit) });
    for (const op of reasonOps) groups.push([op]);

    const { ops, txns } = await this.writeFenced(groups);
    const t3 = performance.now();

    for (const d of plan.decisions) {
      this.log.info('schedule', {
        unit: d.unit,
        ...(d.from ? { from: d.from } : {}),
        ...(d.to ? { to: d.to } : {}),
        reason: d.reason,
      });
    }
    this.lastPass = {
      revision: schedule.revision,
      units: units.length,
      machines: machines.length,
      assigned: plan.assign.size,
      unscheduled: plan.unscheduled.size,
      decisions: plan.decisions,
      ops,
      txns,
      readMs: t1 - t0,
      planMs: t2 - t1,
      writeMs: t3 - t2,
    };
    if (ops > 0) this.log.info('engine pass wrote changes', { ops, txns, ms: Math.round(t3 - t0) });
    this.onPass?.(this.lastPass);
  }

  /**
   * Every desired unit of `root`, fetching only shards not already cached. The controller writes
   * shards before the root; a missing one was collected after a newer commit replaced this root:
   * the pass stalls (MissingRecordError) and the newer root's watch event runs the next one.
   */
  private async readUnits(root: DesiredRoot): Promise<DesiredEntry[]> {
    const units = await readRootUnits(this.store, root, this.shardCache);
    const wanted = new Set(Object.values(root.shards));
    for (const h of this.shardCache.keys()) if (!wanted.has(h)) this.shardCache.delete(h);
    return units;
  }

  /**
   * Write groups of operations (a group never splits across transactions) in transactions of at
   * most OPS_PER_TXN operations, each guarded by the leader fence. A refused fence means another
   * engine leads: stop at once.
   */
  private async writeFenced(groups: Op[][]): Promise<{ ops: number; txns: number }> {
    let ops = 0;
    let txns = 0;
    let batch: Op[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const fence = this.election.fence();
      const r = await this.store.txn([fence], batch);
      if (!r.succeeded) {
        this.election.lost('a fenced schedule write was refused');
        throw new NotLeaderError('another engine leads: schedule write refused');
      }
      this.rememberOwn(r.revision);
      ops += batch.length;
      txns++;
      batch = [];
    };
    for (const g of groups) {
      if (batch.length + g.length > OPS_PER_TXN) await flush();
      batch.push(...g);
    }
    await flush();
    return { ops, txns };
  }

  private rememberOwn(revision: number): void {
    this.ownRevisions.add(revision);
    if (this.ownRevisions.size > 10_000) {
      const old = [...this.ownRevisions].slice(0, 5_000);
      for (const r of old) this.ownRevisions.delete(r);
    }
  }
}
