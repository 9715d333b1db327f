/**
 * The desired-state watch: what this machine should run, kept in memory from two places in the
 * store, schedule/<machine>/ (the engine's placement) and desired/globals (the Global units, which
 * every machine whose metadata matches runs without being scheduled). A store whose controller
 * predates desired/globals has them only in desired/root: then the root is followed instead, until
 * a desired/globals key appears.
 *
 * Level-triggered: follow() reads both at one revision and watches from the next; events only
 * update the in-memory copy (deduplicated by modRevision, so a replayed event changes nothing)
 * and ask for a pass, which re-reads the copy. A watch that fails marks the copy broken and the
 * next pass follows again from scratch. The copy only changes through reads and events, never
 * because a read failed: an unreachable store leaves every unit as it is.
 *
 * A malformed record (src/store/records.ts) is logged and left out: a malformed schedule entry
 * keeps the unit's previous entry, a malformed desired/globals (or root) counts as no Global units.
 */
import { isUngated, type HealthCheck } from '../desired/policy.js';
import { metadataMatches } from '../fleet/constraints.js';
import type { Logger } from '../log.js';
import {
  DESIRED_GLOBALS,
  DESIRED_ROOT,
  SCHEDULE_BATCH,
  schedulePrefix,
  type DesiredEntry,
  type ScheduleEntry,
} from '../store/keys.js';
import {
  decodeDesiredGlobals,
  decodeDesiredRoot,
  decodeScheduleEntry,
  MalformedRecordError,
} from '../store/records.js';
import {
  StoreAccessError,
  type KeyValue,
  type RangeResult,
  type Store,
  type Watch,
  type WatchEvent,
} from '../store/store.js';
import type { AgentUnitState } from './tasks.js';
import { isUnitFileName } from './unit-dir.js';

/** One unit this machine should run: the content's hash and the state, and how its health is judged. */
export interface DesiredUnit {
  hash: string;
  state: AgentUnitState;
  /** Active this long with no restart counts as healthy (default DEFAULT_ROLLOUT.minHealthyMs). */
  minHealthy?: number;
  health?: HealthCheck;
}

function healthOf(g: DesiredEntry): Pick<DesiredUnit, 'minHealthy' | 'health'> {
  return { ...(g.rollout ? { minHealthy: g.rollout.minHealthyMs } : {}), ...(g.health ? { health: g.health } : {}) };
}

function healthOfEntry(e: ScheduleEntry): Pick<DesiredUnit, 'minHealthy' | 'health'> {
  return {
    ...(e.minHealthy !== undefined ? { minHealthy: e.minHealthy } : {}),
    ...(e.health ? { health: e.health } : {}),
  };
}

/** How long a batch marker may stand before the agent acts on what it has. */
const BATCH_WAIT_MS = 30_000;

export interface DesiredWatchOptions {
  store: Store;
  machineId: string;
  metadata: Record<string, string>;
  log: Logger;
  /** The desired state changed (or a watch failed): run a pass. */
  changed(reason: string): void;
}

export class DesiredWatch {
  /** schedule/<machine>/<unit> as last seen: unit -> entry, and key -> mod revision (dedupe). */
  private readonly schedule = new Map<string, ScheduleEntry>();
  private readonly scheduleRev = new Map<string, number>();
  /** The revision the schedule was read at: an event from before it is in the read already. */
  private scheduleReadRev = 0;
  /** The Global units in force (from desired/globals, or from the root when there is no such key). */
  private global: DesiredEntry[] = [];
  /** Where they come from: desired/globals, or desired/root (a controller that does not write the key). */
  private globalsFrom: 'globals' | 'root' = 'globals';
  /** The revision of the Global units in hand (their read, or their last event). */
  private globalRev = 0;
  /** The store refused to let this machine read desired/globals (logged once). */
  private globalsDenied = false;
  /** The root's watch, while the Global units come from the root. */
  private rootWatch: Watch | null = null;
  private watches: Watch[] = [];
  private readonly badNames = new Set<string>();
  private readonly prefix: string;
  /** True until follow() succeeds, and again once a watch failed or the lease was lost. */
  broken = true;
  /**
   * While the engine writes this machine's placements in several transactions (its batch marker
   * is present), events go here and the schedule above stays as it was; the whole lands at once.
   */
  private staged: Map<string, ScheduleEntry> | null = null;
  private stagedTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: DesiredWatchOptions) {
    this.prefix = schedulePrefix(o.machineId);
  }

  /** Read the schedule and the Global units at a revision, and watch both from the next one. */
  async follow(): Promise<void> {
    await this.close();
    const { store } = this.o;
    const [sched, globalsR] = await Promise.all([store.range(this.prefix), this.readGlobalsKey()]);
    this.schedule.clear();
    this.scheduleRev.clear();
    this.closeBatch(false);
    for (const kv of sched.kvs) {
      const unit = kv.key.slice(this.prefix.length);
      this.scheduleRev.set(kv.key, kv.modRevision);
      if (unit === SCHEDULE_BATCH) continue;
      const entry = this.decode(kv, decodeScheduleEntry);
      if (entry) this.schedule.set(unit, entry);
    }
    if (sched.kvs.some((kv) => kv.key.endsWith(`/${SCHEDULE_BATCH}`))) this.openBatch();
    this.scheduleReadRev = sched.revision;
    const globalsKv = globalsR?.kvs.find((kv) => kv.key === DESIRED_GLOBALS);
    // Without the key, the root (read after the key's absence was seen: a key written meanwhile
    // comes as an event of the globals watch, which starts from that read).
    const rootR = globalsKv ? null : await store.range(DESIRED_ROOT);
    const rootKv = rootR?.kvs.find((kv) => kv.key === DESIRED_ROOT);
    this.globalsFrom = globalsKv ? 'globals' : 'root';
    this.global = globalsKv
      ? (this.decode(globalsKv, decodeDesiredGlobals)?.global ?? [])
      : rootKv
        ? (this.decode(rootKv, decodeDesiredRoot)?.global ?? [])
        : [];
    this.globalRev = Math.max(globalsKv?.modRevision ?? 0, rootKv?.modRevision ?? 0);
    const onError = (e: Error) => {
      this.o.log.warn('watch failed; re-reading the schedule', { error: e });
      this.broken = true;
      this.o.changed('watch error');
    };
    this.watches = await Promise.all([
      store.watch(this.prefix, sched.revision + 1, { onEvents: (ev) => this.scheduleEvents(ev), onError }),
      ...(globalsR
        ? [store.watch(DESIRED_GLOBALS, globalsR.revision + 1, { onEvents: (ev) => this.globalsEvents(ev), onError })]
        : []),
    ]);
    const rootWatch = rootR
      ? await store.watch(DESIRED_ROOT, rootR.revision + 1, { onEvents: (ev) => this.rootEvents(ev), onError })
      : null;
    // The key may have appeared while the root's watch was being set up: then it is not needed.
    if (rootWatch && this.globalsFrom === 'globals') void rootWatch.close().catch(() => {});
    else this.rootWatch = rootWatch;
    this.broken = false;
  }

  /**
   * desired/globals, or null where this machine's etcd user may not read it (its role was granted
   * before the key existed: `gitfleet auth` grants it now): the root is followed instead.
   */
  private async readGlobalsKey(): Promise<RangeResult | null> {
    try {
      return await this.o.store.range(DESIRED_GLOBALS);
    } catch (e) {
      if (!(e instanceof StoreAccessError)) throw e;
      if (!this.globalsDenied) this.o.log.warn('may not read desired/globals; following desired/root', { error: e });
      this.globalsDenied = true;
      return null;
    }
  }

  /**
   * Units for this machine: its schedule, plus Global units whose MachineMetadata matches. A
   * Global unit whose rollout is staged (a canary or fewer than every machine at once) keeps the
   * content it runs (`running(unit)`) until the engine's schedule entry names the content for
   * this machine: the root alone would take every machine at once.
   */
  entries(running: (unit: string) => string | undefined = () => undefined): Map<string, DesiredUnit> {
    const out = new Map<string, DesiredUnit>();
    for (const g of this.global) {
      if (!this.globalHere(g)) continue;
      const have = running(g.name);
      const staged = g.rollout !== undefined && !isUngated(g.rollout);
      const hash = staged && have !== undefined && !this.schedule.has(g.name) ? have : g.hash;
      out.set(g.name, { hash, state: g.state, ...healthOf(g) });
    }
    for (const [unit, e] of this.schedule) {
      const g = this.global.find((x) => x.name === unit);
      out.set(unit, { hash: e.hash, state: e.state, ...(g ? healthOf(g) : healthOfEntry(e)) });
    }
    for (const unit of out.keys()) {
      // Names become file names in the unit directory: anything that is not a plain unit name is never acted on.
      if (!isUnitFileName(unit)) {
        out.delete(unit);
        if (!this.badNames.has(unit)) {
          this.badNames.add(unit);
          this.o.log.error('ignoring a scheduled unit whose name is not a valid unit name', { unit });
        }
      }
    }
    return out;
  }

  /** One unit's desired state here, or undefined (cheap: for signal handlers). */
  stateOf(unit: string): AgentUnitState | undefined {
    const s = this.schedule.get(unit);
    if (s) return s.state;
    const g = this.global.find((e) => e.name === unit);
    return g && this.globalHere(g) ? g.state : undefined;
  }

  async close(): Promise<void> {
    this.closeBatch(false);
    const ws = this.rootWatch ? [...this.watches, this.rootWatch] : this.watches;
    this.watches = [];
    this.rootWatch = null;
    await Promise.all(ws.map((w) => w.close().catch(() => {})));
  }

  /** A Global unit runs here when it is not inactive and this machine's metadata matches. */
  private globalHere(g: DesiredEntry): g is DesiredEntry & { state: AgentUnitState } {
    return (
      g.state !== 'inactive' && g.constraints.global && metadataMatches(this.o.metadata, g.constraints.machineMetadata)
    );
  }

  private scheduleEvents(events: WatchEvent[]): void {
    let changed = false;
    for (const { type, kv } of events) {
      if (Math.max(this.scheduleReadRev, this.scheduleRev.get(kv.key) ?? 0) >= kv.modRevision) continue;
      this.scheduleRev.set(kv.key, kv.modRevision);
      const unit = kv.key.slice(this.prefix.length);
      if (unit === SCHEDULE_BATCH) {
        if (type === 'delete') changed = this.closeBatch(true) || changed;
        else this.openBatch();
        continue;
      }
      const into = this.staged ?? this.schedule;
      if (type === 'delete') changed = into.delete(unit) || changed;
      else {
        const entry = this.decode(kv, decodeScheduleEntry);
        if (entry) {
          into.set(unit, entry);
          changed = true;
        }
      }
    }
    if (changed && !this.staged) this.o.changed('schedule changed');
  }

  private openBatch(): void {
    if (this.staged) return;
    this.staged = new Map(this.schedule);
    // An engine that died half-way leaves the marker; its successor rewrites the whole. Meanwhile
    // the agent does not wait for ever.
    this.stagedTimer = setTimeout(() => {
      if (this.closeBatch(true)) this.o.changed('schedule batch marker left behind');
    }, BATCH_WAIT_MS);
    this.stagedTimer.unref();
  }

  /** Apply (or, with apply false, drop) the staged schedule; true when one was applied. */
  private closeBatch(apply: boolean): boolean {
    if (this.stagedTimer) clearTimeout(this.stagedTimer);
    this.stagedTimer = null;
    const staged = this.staged;
    this.staged = null;
    if (!staged || !apply) return false;
    this.schedule.clear();
    for (const [u, e] of staged) this.schedule.set(u, e);
    return true;
  }

  /** desired/globals changed: a commit changed the Global units (a commit that does not costs no event). */
  private globalsEvents(events: WatchEvent[]): void {
    const before = JSON.stringify(this.global);
    for (const { type, kv } of events) {
      if (kv.key !== DESIRED_GLOBALS) continue;
      if (type === 'put' && this.globalsFrom === 'root') {
        // A controller that writes the key: the root is no longer followed (nor sent here). Also
        // when the root read already held this revision (the same transaction wrote both).
        this.globalsFrom = 'globals';
        void this.rootWatch?.close().catch(() => {});
        this.rootWatch = null;
      }
      if (kv.modRevision <= this.globalRev) continue;
      if (type === 'delete') {
        // Only a wiped store loses it: follow again from scratch (the root, if there is one).
        this.broken = true;
        this.o.changed('Global units key deleted');
        return;
      }
      this.globalRev = kv.modRevision;
      this.global = this.decode(kv, decodeDesiredGlobals)?.global ?? []; // malformed: as if none
    }
    if (JSON.stringify(this.global) !== before) this.o.changed('Global units changed');
  }

  /** The root, followed only while the store has no desired/globals (see the top of this file). */
  private rootEvents(events: WatchEvent[]): void {
    if (this.globalsFrom !== 'root') return;
    const before = JSON.stringify(this.global);
    for (const { type, kv } of events) {
      if (kv.key !== DESIRED_ROOT || kv.modRevision <= this.globalRev) continue;
      this.globalRev = kv.modRevision;
      this.global = type === 'delete' ? [] : (this.decode(kv, decodeDesiredRoot)?.global ?? []);
    }
    // The root matters to an agent only for Global units; the engine's schedule carries the rest.
    if (JSON.stringify(this.global) !== before) this.o.changed('Global units changed');
  }

  private decode<T>(kv: KeyValue, decode: (kv: KeyValue) => T): T | null {
    try {
      return decode(kv);
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      this.o.log.error('ignoring a malformed record', { key: kv.key, error: e });
      return null;
    }
  }
}
