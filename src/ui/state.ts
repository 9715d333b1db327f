/**
 * The web UI's copy of the cluster, kept current by watches: what the controller, the engine and
 * the agents wrote (src/store/keys.ts), every value decoded by src/store/records.ts. Read-only by
 * construction: it is given a StoreReader (get, range, watch), never a Store.
 *
 * Each followed prefix is read once at a revision and watched from the next one; a watch that
 * fails (its start revision was compacted, etcd restarted) is read and watched again by the
 * reconcile loop, with backoff. A record that does not decode is left out and kept in `problems`,
 * naming its key, until it is rewritten or deleted: one bad record hides nothing else.
 *
 * A new kind of record (e.g. rollouts) is one more entry in `follows()` plus the map it fills;
 * the page's sections are computed from this object in model.ts.
 */
import {
  CONTROLLER_STATUS,
  DESIRED_ROOT,
  ENGINE_LEADER,
  MACHINES_PREFIX,
  ROLLOUT_LATEST,
  ROLLOUTS_PREFIX,
  SCHEDULE_PREFIX,
  UNIT_STATE_PREFIX,
  UNSCHEDULED_PREFIX,
  bodyKey,
  shardKey,
  splitMachineUnit,
  type ControllerStatus,
  type DesiredEntry,
  type DesiredRoot,
  type MachineRecord,
  type ScheduleEntry,
  type UnitStateReport,
} from '../store/keys.js';
import {
  MalformedRecordError,
  MissingRecordError,
  decodeUnitBody,
  decodeControllerStatus,
  decodeDesiredRoot,
  decodeLeader,
  decodeMachineRecord,
  decodeRolloutLatest,
  decodeScheduleEntry,
  decodeUnitStateReport,
  decodeUnscheduledEntry,
  requireShard,
} from '../store/records.js';
import type { KeyValue, Store, Watch, WatchEvent } from '../store/store.js';
import type { Logger } from '../log.js';
import type { UnitFiles } from '../unit/body.js';
import { ReconcileLoop } from '../util/loop.js';

/** All the UI may do with a store: read and watch. */
export type StoreReader = Pick<Store, 'get' | 'range' | 'watch'>;

/** One followed prefix: how a put or a delete of one of its keys changes the state. */
interface Follow {
  prefix: string;
  /** Forget everything this prefix filled (before a re-read). */
  clear(): void;
  put(kv: KeyValue): void;
  del(key: string): void;
}

const nested = <V>(m: Map<string, Map<string, V>>, a: string) => {
  let inner = m.get(a);
  if (!inner) m.set(a, (inner = new Map()));
  return inner;
};

export class ClusterState {
  status: ControllerStatus = { applied: null, refused: null };
  root: DesiredRoot | null = null;
  /** Every unit of `root`, by name (loaded from its shards). */
  units = new Map<string, DesiredEntry>();
  leader: string | null = null;
  readonly machines = new Map<string, MachineRecord>();
  /** unit -> machine -> where the engine placed it. */
  readonly schedule = new Map<string, Map<string, ScheduleEntry>>();
  /** unit -> why it is on no machine. */
  readonly unscheduled = new Map<string, string>();
  /** unit -> machine -> what that machine's systemd says. */
  readonly reports = new Map<string, Map<string, UnitStateReport>>();
  /** key -> what is wrong with the record there (malformed, or missing though named). */
  readonly problems = new Map<string, string>();
  /** The newest rollout's commit (rollout/latest), and every rollout record key -> its value. */
  latestRollout: string | null = null;
  readonly rolloutKvs = new Map<string, KeyValue>();

  private readonly follows: Follow[];
  private readonly broken = new Set<Follow>();
  private readonly watches = new Map<Follow, Watch>();
  private readonly loop: ReconcileLoop;
  /** The root whose shards `units` holds ('' before any). */
  private unitsOf = '';
  private readonly shardCache = new Map<string, DesiredEntry[]>();
  private readonly bodies = new Map<string, UnitFiles>();
  private closed = false;

  constructor(
    private readonly store: StoreReader,
    private readonly log: Logger,
    /** Called after every change (often: the caller coalesces). */
    private readonly changed: () => void,
  ) {
    this.follows = this.makeFollows();
    for (const f of this.follows) this.broken.add(f);
    this.loop = new ReconcileLoop('ui state', () => this.pass(), { backoff: { minMs: 250, maxMs: 10_000 }, log });
  }

  /** Read everything once and follow it; resolves when the first read is done (or failed). */
  async start(): Promise<void> {
    this.loop.start();
    await this.loop.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.loop.stop();
    await Promise.all([...this.watches.values()].map((w) => w.close().catch(() => {})));
    this.watches.clear();
  }

  /** Is every prefix read and watched (no re-read pending)? */
  get live(): boolean {
    return this.broken.size === 0;
  }

  /** Why the last attempt to read the cluster failed, while it keeps failing. */
  get error(): string | null {
    return this.live ? null : (this.loop.lastError?.message ?? null);
  }

  /** A unit body by hash: its files, or null when the store has none (bodies are immutable: cached). */
  async body(hash: string): Promise<UnitFiles | null> {
    const cached = this.bodies.get(hash);
    if (cached !== undefined) return cached;
    const kv = await this.store.get(bodyKey(hash));
    if (!kv) return null;
    const text = decodeUnitBody(kv, hash);
    if (this.bodies.size >= 64) this.bodies.delete(this.bodies.keys().next().value!);
    this.bodies.set(hash, text);
    return text;
  }

  private note(key: string, fn: () => void): void {
    try {
      fn();
      this.problems.delete(key);
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      this.problems.set(key, e.problem);
    }
  }

  private forgetProblems(prefix: string): void {
    for (const k of this.problems.keys()) if (k.startsWith(prefix)) this.problems.delete(k);
  }

  private makeFollows(): Follow[] {
    const single = (key: string, put: (kv: KeyValue) => void, del: () => void): Follow => ({
      prefix: key,
      clear: () => {
        del();
        this.forgetProblems(key);
      },
      put: (kv) => kv.key === key && this.note(kv.key, () => put(kv)),
      del: (k) => {
        if (k !== key) return;
        del();
        this.problems.delete(k);
      },
    });
    const perMachineUnit = <V>(
      prefix: string,
      target: Map<string, Map<string, V>>,
      decode: (kv: KeyValue) => V,
    ): Follow => ({
      prefix,
      clear: () => {
        target.clear();
        this.forgetProblems(prefix);
      },
      put: (kv) => {
        const mu = splitMachineUnit(kv.key, prefix);
        if (mu) this.note(kv.key, () => nested(target, mu.unit).set(mu.machine, decode(kv)));
      },
      del: (key) => {
        const mu = splitMachineUnit(key, prefix);
        this.problems.delete(key);
        if (!mu) return;
        const inner = target.get(mu.unit);
        inner?.delete(mu.machine);
        if (inner?.size === 0) target.delete(mu.unit);
      },
    });
    return [
      single(
        CONTROLLER_STATUS,
        (kv) => (this.status = decodeControllerStatus(kv)),
        () => (this.status = { applied: null, refused: null }),
      ),
      single(
        DESIRED_ROOT,
        (kv) => {
          this.root = decodeDesiredRoot(kv);
          this.loop.trigger('desired root changed');
        },
        () => (this.root = null),
      ),
      single(
        ENGINE_LEADER,
        (kv) => (this.leader = decodeLeader(kv)),
        () => (this.leader = null),
      ),
      {
        prefix: MACHINES_PREFIX,
        clear: () => {
          this.machines.clear();
          this.forgetProblems(MACHINES_PREFIX);
        },
        put: (kv) =>
          this.note(kv.key, () => this.machines.set(kv.key.slice(MACHINES_PREFIX.length), decodeMachineRecord(kv))),
        del: (key) => {
          this.machines.delete(key.slice(MACHINES_PREFIX.length));
          this.problems.delete(key);
        },
      },
      perMachineUnit(SCHEDULE_PREFIX, this.schedule, decodeScheduleEntry),
      {
        prefix: UNSCHEDULED_PREFIX,
        clear: () => {
          this.unscheduled.clear();
          this.forgetProblems(UNSCHEDULED_PREFIX);
        },
        put: (kv) =>
          this.note(kv.key, () =>
            this.unscheduled.set(kv.key.slice(UNSCHEDULED_PREFIX.length), decodeUnscheduledEntry(kv).reason),
          ),
        del: (key) => {
          this.unscheduled.delete(key.slice(UNSCHEDULED_PREFIX.length));
          this.problems.delete(key);
        },
      },
      perMachineUnit(UNIT_STATE_PREFIX, this.reports, decodeUnitStateReport),
      single(
        ROLLOUT_LATEST,
        (kv) => (this.latestRollout = decodeRolloutLatest(kv)),
        () => (this.latestRollout = null),
      ),
      {
        prefix: ROLLOUTS_PREFIX,
        clear: () => {
          this.rolloutKvs.clear();
          this.forgetProblems(ROLLOUTS_PREFIX);
        },
        put: (kv) => this.rolloutKvs.set(kv.key, kv),
        del: (key) => {
          this.rolloutKvs.delete(key);
          this.problems.delete(key);
        },
      },
    ];
  }

  /** Re-read and re-watch what is broken; load the shards of a new root. */
  private async pass(): Promise<void> {
    if (this.closed) return;
    try {
      for (const f of [...this.broken]) await this.follow(f);
      await this.loadUnits();
    } catch (e) {
      this.changed(); // the page says the cluster cannot be read, and why
      throw e;
    }
  }

  private async follow(f: Follow): Promise<void> {
    await this.watches.get(f)?.close();
    this.watches.delete(f);
    const r = await this.store.range(f.prefix);
    f.clear();
    for (const kv of r.kvs) f.put(kv);
    const onEvents = (events: WatchEvent[]) => {
      for (const e of events) {
        if (e.type === 'put') f.put(e.kv);
        else f.del(e.kv.key);
      }
      this.changed();
    };
    const onError = (err: Error) => {
      if (this.closed) return;
      this.log.warn('ui: watch failed; reading again', { prefix: f.prefix, error: err });
      this.broken.add(f);
      this.loop.trigger('watch failed');
    };
    this.watches.set(f, await this.store.watch(f.prefix, r.revision + 1, { onEvents, onError }));
    this.broken.delete(f);
    this.changed();
  }

  /** The units of the current root, from its shards (immutable, so cached by hash). */
  private async loadUnits(): Promise<void> {
    const root = this.root;
    const id = root ? rootId(root) : '';
    if (id === this.unitsOf) return;
    const units = new Map<string, DesiredEntry>();
    if (root) {
      const hashes = Object.values(root.shards);
      for (const h of hashes) {
        let entries = this.shardCache.get(h);
        if (!entries) {
          const key = shardKey(h);
          try {
            entries = requireShard(await this.store.get(key), key, root.commit).units;
            this.problems.delete(key);
          } catch (e) {
            if (!(e instanceof MalformedRecordError || e instanceof MissingRecordError)) throw e;
            // Collected after a newer root replaced this one, or broken: show what is readable.
            if (this.root === root) this.problems.set(key, e.message);
            continue;
          }
          this.shardCache.set(h, entries);
        }
        for (const e of entries) units.set(e.name, e);
      }
      for (const g of root.global) units.set(g.name, g);
      const wanted = new Set(hashes);
      for (const h of this.shardCache.keys()) if (!wanted.has(h)) this.shardCache.delete(h);
    }
    if (this.root !== root) return; // a newer root arrived meanwhile: its own pass follows
    this.units = new Map([...units].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.unitsOf = id;
    this.changed();
  }
}

/** A root's identity: its commit and shards (the same commit re-applied with other content differs). */
function rootId(root: DesiredRoot): string {
  return `${root.commit} ${Object.values(root.shards).join(',')}`;
}
