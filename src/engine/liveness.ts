/**
 * Which machines the engine may take units away from (pure, with the clock passed in).
 *
 * fleet moved a machine's units as soon as its registration vanished from etcd, so an etcd stall
 * (every lease revoked at once on resume) restarted units across the cluster (fleet #1289). Here a
 * machine is gone only when this engine has itself watched it stay silent for a full TTL while it
 * could reach the store:
 * - A machine the engine knows (registered now, seen registered earlier in this term, or named by
 *   the schedule, which says which machines had units) that is not registered is silent from the
 *   moment this engine first saw it so.
 * - After winning an election, and after any period in which the store did not answer in time,
 *   every silent machine starts a fresh grace of one TTL (Nomad's failover_heartbeat_ttl): the
 *   agents re-register within it when they are alive.
 * - When more than `massFraction` of the known machines are silent at once, that is a
 *   control-plane or network fault, not machine deaths: nothing is moved until enough of them
 *   return or `holdMaxMs` has passed (Kubernetes' node controller stops evicting in full
 *   disruption the same way).
 * A machine that is gone and has no units left is forgotten.
 */
import type { MachineRecord } from '../store/keys.js';
import type { StoredSchedule } from '../store/readers.js';

export interface LivenessOptions {
  /** TTL of a machine whose record does not say its own (ms). */
  defaultTtlMs: number;
  /** More than this fraction of known machines silent at once: hold (default 0.5). */
  massFraction?: number;
  /** How long a hold lasts at most before silent machines are treated as gone (ms). */
  holdMaxMs: number;
}

/** What the engine may do now. */
export interface LivenessVerdict {
  /** Registered machines: they take new units. */
  live: MachineRecord[];
  /** Silent machines still in their grace (or held): their units stay, they take no new ones. */
  held: string[];
  /** Silent for a full TTL (and not held): their units move. */
  gone: string[];
  /** Set while many machines are silent at once. */
  holding: { silent: number; known: number; since: number; until: number } | null;
  /** When the verdict changes next without new input (a grace or the hold runs out), or null. */
  nextChangeAt: number | null;
}

interface Known {
  record: MachineRecord | null;
  ttlMs: number;
  /** When this engine first saw it unregistered (or the fresh grace started), or null if registered. */
  silentSince: number | null;
}

export class MachineLiveness {
  private readonly known = new Map<string, Known>();
  private holdSince: number | null = null;
  private readonly massFraction: number;

  constructor(private readonly opts: LivenessOptions) {
    this.massFraction = opts.massFraction ?? 0.5;
  }

  /**
   * What the store says now: the registered machines, and the machines the schedule names.
   * Call after every successful read of both.
   */
  observe(now: number, registered: readonly MachineRecord[], scheduled: ReadonlySet<string>): void {
    const present = new Set<string>();
    for (const r of registered) {
      present.add(r.id);
      const ttlMs = r.ttl !== undefined && r.ttl > 0 ? r.ttl * 1000 : this.opts.defaultTtlMs;
      this.known.set(r.id, { record: r, ttlMs, silentSince: null });
    }
    for (const id of scheduled) {
      if (present.has(id) || this.known.has(id)) continue;
      // Named by the schedule but never seen registered by this engine: its grace starts now.
      this.known.set(id, { record: null, ttlMs: this.opts.defaultTtlMs, silentSince: now });
    }
    for (const [id, k] of this.known) {
      if (present.has(id)) continue;
      if (k.silentSince === null) k.silentSince = now;
      // Gone and nothing of it left on the schedule: nothing to decide about it any more.
      if (!scheduled.has(id) && now - k.silentSince >= k.ttlMs) this.known.delete(id);
    }
  }

  /**
   * The store was unreachable or slow, or this engine just won an election: every silent machine
   * gets a fresh grace of one TTL from `now`.
   */
  freshGrace(now: number): void {
    for (const k of this.known.values()) if (k.silentSince !== null) k.silentSince = now;
  }

  verdict(now: number): LivenessVerdict {
    const live: MachineRecord[] = [];
    const silent: Array<[string, Known]> = [];
    for (const [id, k] of this.known) {
      if (k.silentSince === null) live.push(k.record!);
      else silent.push([id, k]);
    }
    live.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let holding: LivenessVerdict['holding'] = null;
    const mass = silent.length > 0 && silent.length > this.massFraction * this.known.size;
    if (mass) {
      this.holdSince ??= silent.reduce((min, [, k]) => Math.min(min, k.silentSince!), Number.POSITIVE_INFINITY);
      const until = this.holdSince + this.opts.holdMaxMs;
      if (now < until) holding = { silent: silent.length, known: this.known.size, since: this.holdSince, until };
    } else if (this.holdSince !== null) {
      // The fault cleared (most machines are back): the rest get one fresh TTL to follow.
      this.holdSince = null;
      for (const [, k] of silent) k.silentSince = now;
    }
    const held: string[] = [];
    const gone: string[] = [];
    let next: number | null = holding ? holding.until : null;
    for (const [id, k] of silent) {
      const end = k.silentSince! + k.ttlMs;
      if (holding || now < end) {
        held.push(id);
        if (!holding) next = next === null ? end : Math.min(next, end);
      } else {
        gone.push(id);
      }
    }
    held.sort();
    gone.sort();
    return { live, held, gone, holding, nextChangeAt: next };
  }
}

/**
 * A pass's verdict on the machines it knows (`machines` registered, and those `schedule` names).
 * Before units move off a machine judged gone, the machines are judged again on `reread` (a fresh
 * read of the store), never only on what a watch has delivered so far, unless `fresh` already is.
 */
export async function judgeMachines(
  liveness: MachineLiveness,
  now: number,
  machines: MachineRecord[],
  schedule: StoredSchedule,
  fresh: boolean,
  reread: () => Promise<MachineRecord[]>,
): Promise<{ machines: MachineRecord[]; verdict: LivenessVerdict }> {
  const scheduled = new Set<string>();
  for (const byMachine of schedule.byUnit.values()) for (const m of byMachine.keys()) scheduled.add(m);
  liveness.observe(now, machines, scheduled);
  const verdict = liveness.verdict(now);
  if (verdict.gone.length === 0 || fresh) return { machines, verdict };
  const again = await reread();
  liveness.observe(now, again, scheduled);
  return { machines: again, verdict: liveness.verdict(now) };
}
