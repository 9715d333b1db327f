/**
 * The engine: one elected leader turns desired state + the machines into the schedule, and rolls
 * each commit out.
 *
 * A pass (only while leading) takes what is stored from its view (src/engine/view.ts, read once
 * a term and followed by watches: the desired root, the machines, the schedule, the agents'
 * reports, the rollout record and control key; src/engine/pass-read.ts) and reads only the
 * root's shards it has not cached, decides which
 * machines are really gone (src/engine/liveness.ts: only after this engine watched one silent for
 * a full TTL while it could reach etcd; a fresh grace after winning an election or a store
 * hiccup; nothing moves while many are silent at once), plans the pass (src/engine/pass.ts) and
 * writes only the difference, in fenced transactions cut at machine boundaries
 * (src/engine/writer.ts). A pass where nothing changed writes nothing; a new leader reads what
 * its predecessor left and keeps it, so a change of leader moves, restarts or stops nothing.
 *
 * Passes are event-driven (the view's watches, coalesced by the shared ReconcileLoop); timers
 * wake it when a grace, a hold or a rollout deadline runs out; a periodic resync is only a safety
 * net. The engine ignores watch events caused by its own writes.
 */
import { retryKind } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { UNIT_STATE_PREFIX, type DesiredEntry } from '../store/keys.js';
import { readMachines } from '../store/readers.js';
import type { MalformedRecordError } from '../store/records.js';
import { pruneRollouts } from '../store/rollouts.js';
import { StoreUnavailableError, type Compare, type Op, type Store } from '../store/store.js';
import { Backoff, sleep } from '../util/backoff.js';
import { steadyNow } from '../util/clock.js';
import { ReconcileLoop } from '../util/loop.js';
import { RecentSet } from '../util/recent.js';
import { Wakeup } from '../util/wakeup.js';
import { writeFenced } from './fenced-write.js';
import { LeaderElection } from './leader.js';
import { judgeMachines, MachineLiveness } from './liveness.js';
import { announceRollout, RolloutNotifier } from './notify.js';
import { logDecisions, planPass, type PassReport } from './pass.js';
import { readPass } from './pass-read.js';

export type { PassReport } from './pass.js';
import type { PlanMemo } from './schedule-incremental.js';
import { EngineView } from './view.js';
import { cutTransactions, writeLanes } from './writer.js';

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
  /** TTL of a machine whose record does not say its own, seconds (default 10). */
  machineTtl?: number;
  /** More than this fraction of the known machines silent at once holds every move (default 0.5). */
  massFraction?: number;
  /** The longest such a hold lasts, seconds (default 300). */
  holdSeconds?: number;
  /** POST each rollout's start and end here (signed with `secret` when given). */
  notify?: { url: string; secret?: string };
}

/** Reports while a rollout moves: passes they cause are at most this often. */
const REPORT_PASS_MS = 200;

export class Engine {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly onPass: ((r: PassReport) => void) | undefined;
  private readonly onFatal: ((e: Error) => void) | undefined;
  private readonly election: LeaderElection;
  private readonly loop: ReconcileLoop;
  /** Shard hash -> its units. Shards are content-addressed, so an entry never goes stale. */
  private readonly shardCache = new Map<string, DesiredEntry[]>();
  /** Revisions of this engine's own successful writes: their watch events need no pass. */
  private readonly ownRevisions = new RecentSet<number>(10_000);
  /** Revisions of watch events that arrived during the pass in flight. */
  private heldRevisions: number[] = [];
  private passRunning = false;
  /** Serialises reactions to leadership changes. */
  private transitions: Promise<void> = Promise.resolve();
  private started = false;
  /** Bumped on every leadership change: a watch set up for an older term is discarded. */
  private term = 0;
  lastPass: PassReport | null = null;
  /** Which machines are really gone; made anew each time this engine takes up leadership. */
  private liveness: MachineLiveness;
  /** The store did not answer (in time): every silent machine gets a fresh grace at the next pass. */
  private graceDue = false;
  /** A rollout is in progress: the agents' reports are worth a pass. */
  private rolloutMoving = false;
  private readonly wakeup = new Wakeup((reason) => this.loop.trigger(reason));
  private readonly notifier: RolloutNotifier | null;
  private readonly livenessOpts: ConstructorParameters<typeof MachineLiveness>[0];
  /** What this leader knows of the store between passes (read whole once a term, then followed). */
  private readonly view: EngineView;
  private readonly resyncMs: number;
  /** The last pass's placement: the next plans only what changed when it can (schedule-incremental.ts). */
  private memo: PlanMemo | null = null;
  /** Mod revision of the desired root the last successful pass planned and wrote. */
  private plannedRoot = 0;
  /** The handlers of the current term's watches (the view's watches use them too). */
  private watchHandlers: {
    term: number;
    onEvents: (events: { kv: { key: string; modRevision: number } }[]) => void;
    onError: (err: Error) => void;
  } | null = null;

  constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.log = opts.log ?? createLogger('engine');
    this.onPass = opts.onPass;
    this.onFatal = opts.onFatal;
    this.livenessOpts = {
      defaultTtlMs: (opts.machineTtl ?? 10) * 1000,
      massFraction: opts.massFraction ?? 0.5,
      holdMaxMs: (opts.holdSeconds ?? 300) * 1000,
    };
    this.liveness = new MachineLiveness(this.livenessOpts);
    this.notifier = opts.notify ? new RolloutNotifier({ ...opts.notify, log: this.log }) : null;
    const resync = opts.resyncSeconds ?? 30;
    this.resyncMs = resync > 0 ? resync * 1000 : 0;
    this.view = new EngineView((e) => this.log.warn('ignoring a malformed record', { key: e.key, error: e }));
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
    // A new term knows machines only from the store: every silent one gets a fresh grace.
    this.liveness = new MachineLiveness(this.livenessOpts);
    const onEvents = (events: { kv: { key: string; modRevision: number } }[]) => {
      if (events.every((e) => e.kv.key.startsWith(UNIT_STATE_PREFIX))) {
        // At most every REPORT_PASS_MS, and never more than a fifth of the time on such passes,
        // writing included: at 10,000 units each rewrote ~1 MB of rollout record while the agents
        // were reporting (27 MB in all, two thirds of what etcd took in), yet with the default
        // policy no schedule entry waits on them.
        const last = this.lastPass;
        const gap = Math.max(REPORT_PASS_MS, 4 * (last ? last.readMs + last.planMs + last.writeMs : 0));
        if (this.rolloutMoving) this.wakeup.soon(gap, 'reports');
        return;
      }
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
      this.graceDue = true;
      this.view.loadedAt = 0;
      this.transition(async () => {
        if (term !== this.term) return;
        await this.view.close();
        await this.watchUntilUp(term, onEvents, onError);
        this.loop.trigger('rewatch');
      });
    };
    this.watchHandlers = { term, onEvents, onError };
    await this.watchUntilUp(term, onEvents, onError);
    if (term !== this.term || !this.election.isLeader()) return;
    // Watches are up before the first pass reads, so no change falls between the two.
    this.loop.start();
  }

  /**
   * Open the watches, trying again with backoff until they are up, this term ends or the error is
   * fatal: a leader whose watch failed once must not sit idle for the rest of its term. The view's
   * watches are the engine's triggers (the root, the rollout control key, machines, schedule,
   * reports): it is read whole and followed.
   */
  private async watchUntilUp(
    term: number,
    onEvents: (events: { kv: { key: string; modRevision: number } }[]) => void,
    onError: (err: Error) => void,
  ): Promise<void> {
    const backoff = new Backoff({ minMs: 200, maxMs: 5000 });
    for (;;) {
      try {
        await this.view.load(this.store, onEvents, onError);
        if (term !== this.term) await this.view.close();
        return;
      } catch (e) {
        await this.view.close();
        if (retryKind(e) === 'fatal') throw e;
        const delay = backoff.next();
        this.log.warn('engine cannot watch the store; trying again', { error: e as Error, retryInMs: delay });
        await sleep(delay);
        if (term !== this.term || !this.started || !this.election.isLeader()) return;
      }
    }
  }

  private async becomeFollower(): Promise<void> {
    this.term++;
    this.wakeup.cancel();
    await this.loop.stop();
    await this.view.close();
    this.ownRevisions.clear();
  }

  /** One pass: read, plan, write the difference. */
  private async pass(): Promise<void> {
    if (!this.election.isLeader()) return;
    this.passRunning = true;
    try {
      await this.passInner();
    } catch (e) {
      if (e instanceof StoreUnavailableError) this.graceDue = true;
      throw e;
    } finally {
      this.passRunning = false;
      const held = this.heldRevisions;
      this.heldRevisions = [];
      if (held.some((r) => !this.ownRevisions.has(r))) this.loop.trigger('watch');
    }
  }

  private async passInner(): Promise<void> {
    const t0 = performance.now();
    // The fence of the term this pass plans in: should leadership change before it writes (even
    // back to this engine), etcd refuses the write instead of taking a plan made for another term.
    const fence = this.election.fence();

    // The view is read before anything else, so that a leader waiting for its first commit has
    // it ready when the commit lands (the busiest moment for etcd).
    const read = await readPass({
      store: this.store,
      view: this.view,
      shardCache: this.shardCache,
      resyncMs: this.resyncMs,
      plannedRoot: this.plannedRoot,
      handlers: this.watchHandlers!,
    });
    if (!read) {
      this.log.debug('no desired state yet');
      return;
    }
    const { fresh, root, units } = read;
    const { schedule, reasons, reports, rollout } = this.view;
    let machines = this.view.machineList();
    const t1 = performance.now();

    // Liveness and rollout deadlines are durations: a stepped wall clock must not shorten them.
    const now = steadyNow();
    if (this.graceDue) {
      this.graceDue = false;
      this.liveness.freshGrace(now);
    }
    const onBad = (e: MalformedRecordError) => this.log.warn('ignoring a malformed record', { key: e.key, error: e });
    const judged = await judgeMachines(this.liveness, now, machines, schedule, fresh, () =>
      readMachines(this.store, onBad),
    );
    machines = judged.machines;
    const verdict = judged.verdict;
    if (verdict.holding) {
      this.log.warn('holding: many machines silent at once; nothing of theirs moves', {
        silent: verdict.holding.silent,
        known: verdict.holding.known,
        since: new Date(verdict.holding.since).toISOString(),
      });
    }
    const plan = planPass({
      now,
      root,
      units,
      liveness: verdict,
      schedule,
      reasons,
      reports,
      rollout,
      paused: read.paused,
      status: this.view.status,
      memo: this.memo,
    });
    this.memo = plan.memo;
    const t2 = performance.now();

    let written: { ops: number; txns: number };
    try {
      written = await this.writeFenced(writeLanes(cutTransactions(plan.ops, plan.moves), plan.moves), fence);
    } catch (e) {
      // Some of the pass may be stored and some not (or a reply was lost): read again what the
      // engine writes (the watches keep the machines and the reports).
      this.view.ownStale = true;
      throw e;
    }
    const { ops, txns } = written;
    this.view.rollout = plan.stored;
    this.view.status = plan.statusJson;
    this.plannedRoot = read.rootRevision;
    const t3 = performance.now();

    this.rolloutMoving = plan.record.state === 'progressing' || plan.record.state === 'paused';
    this.wakeup.at(plan.nextCheckAt);
    announceRollout(this.log, this.notifier, rollout.record, plan.record, plan.superseded);
    if (plan.record.commit !== rollout.record?.commit) {
      await pruneRollouts(this.store, fence, plan.record.commit).catch((e: Error) =>
        this.log.warn('could not prune old rollout records', { error: e }),
      );
    }
    logDecisions(this.log, plan.decisions);
    this.lastPass = {
      revision: schedule.revision,
      units: units.length,
      machines: machines.length,
      assigned: plan.assigned,
      unscheduled: plan.unscheduled,
      decisions: plan.decisions,
      ops,
      txns,
      rollout: { commit: plan.record.commit, state: plan.record.state },
      planned: plan.planned,
      plannedWhy: plan.plannedWhy,
      readMs: t1 - t0,
      planMs: t2 - t1,
      writeMs: t3 - t2,
    };
    if (ops > 0) this.log.info('engine pass wrote changes', { ops, txns, ms: Math.round(t3 - t0) });
    this.onPass?.(this.lastPass);
  }

  /** The pass's transactions under the fence (src/engine/fenced-write.ts). */
  private writeFenced(stages: Op[][][][], fence: Compare): Promise<{ ops: number; txns: number }> {
    return writeFenced(this.store, stages, fence, {
      before: async () => this.beforeWrite?.(),
      written: (batch, revision) => {
        this.ownRevisions.add(revision);
        this.view.written(batch, revision);
      },
      refused: () => this.election.lost('a fenced schedule write was refused'),
    });
  }

  /** Tests: awaited before each fenced write of a pass (to hold this engine between plan and write). */
  beforeWrite: (() => Promise<void>) | null = null;
}
