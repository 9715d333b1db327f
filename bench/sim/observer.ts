/**
 * bench/scale's observer: what etcd says, through its own watches on schedule/ and state/ (and the
 * desired root), with the wall-clock moments the phases are measured by.
 */
import { DESIRED_ROOT, SCHEDULE_PREFIX, UNIT_STATE_PREFIX, splitMachineUnit } from '../../src/store/keys.js';
import { decodeUnitStateReport } from '../../src/store/records.js';
import type { Store, WatchEvent } from '../../src/store/store.js';

export const wall = (): number => performance.timeOrigin + performance.now();

/**
 * Follows schedule/ and state/ and tells when every expected unit is reported active with its
 * expected hash (on any machine; the final check in etcd says which).
 */
export class Observer {
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

  constructor(
    private expected: Map<string, string>,
    /** Done when every unit is scheduled (no agents run), not reported. */
    private readonly scheduledOnly: boolean,
  ) {}

  /** Watch the schedule, the desired root and the reports in `store`; returns how to stop. */
  async follow(store: Store): Promise<() => Promise<void>> {
    const ws = [
      await store.watch(SCHEDULE_PREFIX, undefined, { onEvents: (e) => this.onSchedule(e) }),
      await store.watch(DESIRED_ROOT, undefined, { onEvents: () => (this.rootFlipAt ||= wall()) }),
      await store.watch(UNIT_STATE_PREFIX, undefined, { onEvents: (e) => this.onState(e) }),
    ];
    return async () => {
      await Promise.all(ws.map((w) => w.close()));
    };
  }

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
    if (this.scheduledOnly) this.check();
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
    const done = this.scheduledOnly ? this.allScheduledAt > 0 : this.okUnits >= (this.target?.expected.size ?? 0);
    if (this.target && done) {
      const t = this.target;
      this.target = null;
      t.resolve(wall());
    }
  }
}
