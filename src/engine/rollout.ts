/**
 * The rollout planner (pure): what each machine is told to run while a commit rolls out, and the
 * record of how far it got. The engine calls it on every pass, after placement.
 *
 * A rollout is what one commit does to the fleet. Its subjects are groups: the instances of one
 * template (web@1..6 are `web@.service`), or a single unit. A group whose content the commit
 * changes is staged machine by machine, by its policy: `canary` machines take the new content
 * first; when they are healthy, the rest follow at most `maxParallel` at a time, each batch only
 * after the previous one is healthy. Machines not yet updated keep the content they had. A unit
 * the commit adds or removes, and a state change, need no staging. With the default policy
 * (every machine at once, no canary) nothing waits: today's speed, now with a record.
 *
 * Health comes from the agents (each judges its units by systemd's signals and the optional
 * check); the planner adds the deadlines: not healthy within `healthyDeadline` of taking the
 * change is a failure, and so is a group still unfinished after `progressDeadline`. On a
 * failure, `autoRevert` puts back the content each machine had before on exactly the machines
 * that took the new one; without it the group stops where it failed. A reverted or failed group
 * is held there by later commits that leave its content alone; a commit that changes it starts
 * over. A new commit supersedes a rollout in progress: the new record starts from what each
 * machine is told at that moment, so no machine is left half-way without a record saying so.
 */
import { parallelOf, type RolloutPolicy } from '../desired/policy.js';
import {
  ROLLOUT_ENDED,
  type RolloutGroup,
  type RolloutMachine,
  type RolloutRecord,
  type RolloutState,
} from '../store/keys.js';
import { cmp, placementKey, startRecord } from './rollout-start.js';

export { placementKey } from './rollout-start.js';

export type {
  GroupState,
  MachineRolloutState,
  RolloutGroup,
  RolloutMachine,
  RolloutRecord,
  RolloutState,
} from '../store/keys.js';

/** One unit of the desired state, as the planner needs it. */
export interface RolloutSubject {
  name: string;
  /** The template for an instance, else the unit itself. */
  group: string;
  hash: string;
  policy: RolloutPolicy;
}

/** What an agent reports of one unit: the content it runs and how healthy that is. */
export interface UnitHealth {
  hash: string;
  state: 'starting' | 'healthy' | 'failed';
  reason?: string;
}

export interface RolloutInput {
  now: number;
  /** The commit in force (the desired root's). */
  commit: string;
  /** Every unit of the desired state that runs anywhere (placed or Global). */
  units: readonly RolloutSubject[];
  /** unit -> the machines it runs on (the schedule just planned; matching machines for Global units). */
  placement: ReadonlyMap<string, readonly string[]>;
  /** `machine/unit` -> the content the schedule tells that machine now. */
  told: ReadonlyMap<string, string>;
  /** `machine/unit` -> what its agent reports. */
  health: ReadonlyMap<string, UnitHealth>;
  /** The latest record (of this commit or an older one), or null. */
  record: RolloutRecord | null;
  /** `gitfleet rollout pause` is in force: no new batch starts. */
  paused: boolean;
}

export interface RolloutOutput {
  /** The record of `input.commit`. */
  record: RolloutRecord;
  /** The older record, now superseded, when this pass superseded it. */
  superseded: RolloutRecord | null;
  /** `machine/unit` -> the content to tell that machine, for every placed unit. */
  hashes: Map<string, string>;
  /** When a deadline may change the record without new input, or null. */
  nextCheckAt: number | null;
}

export function planRollout(input: RolloutInput): RolloutOutput {
  const byGroup = new Map<string, RolloutSubject[]>();
  for (const u of input.units) {
    let list = byGroup.get(u.group);
    if (!list) byGroup.set(u.group, (list = []));
    list.push(u);
  }

  let superseded: RolloutRecord | null = null;
  let record: RolloutRecord;
  if (input.record && input.record.commit === input.commit) {
    // Only a progressing group can change (advanceGroup leaves the others alone): copy just those.
    record = {
      ...input.record,
      groups: input.record.groups.map((g) => (g.state === 'progressing' ? cloneGroup(g) : g)),
    };
  } else {
    const prev = input.record;
    if (prev && !ROLLOUT_ENDED.has(prev.state)) {
      // Its groups are only written out (never moved on again): shared, not copied (a deep copy
      // of a 100,000-group record was about a second of a one-unit change's pass: 3.3 s -> 2.3 s).
      superseded = {
        ...prev,
        state: 'superseded',
        ended: input.now,
        reason: `superseded by ${input.commit}`,
      };
    }
    record = startRecord(input, byGroup, prev);
  }

  const nexts: number[] = [];
  if (!ROLLOUT_ENDED.has(record.state)) {
    for (const g of record.groups) advanceGroup(g, input, byGroup.get(g.unit) ?? [], record.started, nexts);
    // A copied group that did not move is the input's group again: the record's writer sees by
    // identity which groups (so which stored shards) are as they were.
    const before = input.record?.commit === record.commit ? input.record.groups : [];
    record.groups.forEach((g, i) => {
      const old = before[i];
      if (old && old !== g && sameGroup(old, g)) record.groups[i] = old;
    });
    record.state = overall(record, input.paused);
    if (ROLLOUT_ENDED.has(record.state)) {
      record.ended = input.now;
      record.reason = endReason(record);
    }
  }

  // What to tell each machine: the record's word for staged groups, the desired content elsewhere.
  const told = new Map<string, { g: RolloutGroup; m: Map<string, RolloutMachine> }>();
  for (const g of record.groups) told.set(g.unit, { g, m: new Map(g.machines.map((x) => [x.machine, x])) });
  const hashes = new Map<string, string>();
  for (const u of input.units) {
    const t = told.get(u.group);
    for (const machine of input.placement.get(u.name) ?? []) {
      const rm = t?.m.get(machine);
      let hash = u.hash;
      if (t && rm && (rm.state === 'pending' || rm.state === 'reverted') && rm.from !== null) hash = rm.from;
      hashes.set(placementKey(machine, u.name), hash);
    }
  }
  // Not Math.min(...nexts): a record of 100,000 groups has more deadlines than a call takes arguments.
  let nextCheckAt: number | null = null;
  for (const t of nexts) if (nextCheckAt === null || t < nextCheckAt) nextCheckAt = t;
  return { record, superseded, hashes, nextCheckAt };
}

/** Move one group on by what its machines report and its deadlines; start the next batch. */
function advanceGroup(
  g: RolloutGroup,
  input: RolloutInput,
  subjects: readonly RolloutSubject[],
  started: number,
  nexts: number[],
): void {
  if (g.state !== 'progressing') return;
  const now = input.now;
  const unitsOn = new Map<string, string[]>();
  if (g.change === 'removed') {
    for (const m of g.machines) unitsOn.set(m.machine, [g.unit]);
  } else {
    for (const u of subjects)
      for (const m of input.placement.get(u.name) ?? []) {
        let list = unitsOn.get(m);
        if (!list) unitsOn.set(m, (list = []));
        list.push(u.name);
      }
    // A machine lost mid-rollout leaves the group; one that took its units joins it.
    g.machines = g.machines.filter((m) => unitsOn.has(m.machine));
    const stillPending = g.machines.some((m) => m.state === 'pending');
    for (const machine of unitsOn.keys()) {
      if (g.machines.some((m) => m.machine === machine)) continue;
      const waits = g.from !== null && stillPending;
      g.machines.push({
        machine,
        state: waits ? 'pending' : 'updating',
        from: g.from,
        since: now,
        reason: null,
      });
    }
    g.machines.sort((a, b) => cmp(a.machine, b.machine));
  }

  // Health of the machines that took the change.
  for (const m of g.machines) {
    if (m.state !== 'updating') continue;
    const verdict = judge(g, m, unitsOn.get(m.machine) ?? [], input.health);
    if (verdict.state === 'healthy') {
      m.state = 'healthy';
      m.since = now;
      m.reason = null;
    } else if (verdict.state === 'failed') {
      m.state = 'failed';
      m.since = now;
      m.reason = verdict.reason;
    } else if (now - m.since >= g.policy.healthyDeadlineMs) {
      m.state = 'failed';
      const last = verdict.reason ? `: ${verdict.reason}` : '';
      m.reason = `not healthy within ${seconds(g.policy.healthyDeadlineMs)}${last}`;
      m.since = now;
    } else {
      nexts.push(m.since + g.policy.healthyDeadlineMs);
    }
  }
  const unfinished = g.machines.some((m) => m.state === 'pending' || m.state === 'updating');
  if (unfinished && now - started >= g.policy.progressDeadlineMs) {
    g.reason = `not finished within the progress deadline (${seconds(g.policy.progressDeadlineMs)})`;
    for (const m of g.machines) {
      if (m.state === 'updating') {
        m.state = 'failed';
        m.reason = g.reason;
        m.since = now;
      }
    }
    if (!g.machines.some((m) => m.state === 'failed')) {
      // Nothing took the change yet: the group fails as a whole, machines keep what they have.
      g.state = 'failed';
      return;
    }
  } else if (unfinished) {
    nexts.push(started + g.policy.progressDeadlineMs);
  }

  const failed = g.machines.filter((m) => m.state === 'failed');
  if (failed.length > 0) {
    g.reason ??= failed.map((m) => `${m.reason ?? 'failed'} on ${m.machine}`).join('; ');
    if (g.policy.autoRevert && g.change === 'changed') {
      for (const m of g.machines) {
        if ((m.state === 'updating' || m.state === 'healthy' || m.state === 'failed') && m.from !== null) {
          m.state = 'reverted';
          m.since = now;
        }
      }
      g.state = 'reverted';
    } else {
      g.state = 'failed';
    }
    return;
  }
  if (!g.machines.some((m) => m.state !== 'healthy')) {
    g.state = 'succeeded';
    return;
  }
  if (input.paused) return;

  // Stage: canaries first, then batches of maxParallel, each only after the previous is healthy.
  if (g.machines.some((m) => m.state === 'updating')) return;
  const pending = g.machines.filter((m) => m.state === 'pending');
  if (pending.length === 0) return;
  const canaries = g.machines.slice(0, g.policy.canary);
  const canaryPending = canaries.filter((m) => m.state === 'pending');
  const batch = canaryPending.length > 0 ? canaryPending : pending.slice(0, parallelOf(g.policy, g.machines.length));
  for (const m of batch) {
    m.state = 'updating';
    m.since = now;
    nexts.push(now + g.policy.healthyDeadlineMs);
  }
}

/** Is the group healthy on one machine: every one of its units there healthy at the new content? */
function judge(
  g: RolloutGroup,
  m: RolloutMachine,
  units: readonly string[],
  health: ReadonlyMap<string, UnitHealth>,
): { state: 'starting' | 'healthy' | 'failed'; reason: string | null } {
  if (g.change === 'removed') {
    return health.has(placementKey(m.machine, g.unit))
      ? { state: 'starting', reason: 'still reported by its machine' }
      : { state: 'healthy', reason: null };
  }
  let starting: string | null = null;
  for (const unit of units) {
    // An instance names itself in the reason; a group of one unit is named by the group already.
    const of = unit === g.unit ? '' : `${unit}: `;
    const h = health.get(placementKey(m.machine, unit));
    if (!h || h.hash !== g.to) {
      starting ??= `${of}not running the new content yet`;
      continue;
    }
    if (h.state === 'failed') return { state: 'failed', reason: `${of}${h.reason ?? 'failed'}` };
    if (h.state === 'starting') starting ??= `${of}${h.reason ?? 'not healthy yet'}`;
  }
  return starting === null ? { state: 'healthy', reason: null } : { state: 'starting', reason: starting };
}

function sameGroup(a: RolloutGroup, b: RolloutGroup): boolean {
  if (a.unit !== b.unit || a.state !== b.state || a.reason !== b.reason || a.machines.length !== b.machines.length)
    return false;
  return a.machines.every((m, i) => {
    const n = b.machines[i]!;
    return (
      m.machine === n.machine &&
      m.state === n.state &&
      m.from === n.from &&
      m.since === n.since &&
      m.reason === n.reason
    );
  });
}

/** A group's own copy, to move on: its machines are changed in place, its policy never. */
function cloneGroup(g: RolloutGroup): RolloutGroup {
  return { ...g, machines: g.machines.map((m) => ({ ...m })) };
}

function overall(r: RolloutRecord, paused: boolean): RolloutState {
  if (r.groups.some((g) => g.state === 'failed')) return 'failed';
  if (r.groups.some((g) => g.state === 'reverted')) return 'reverted';
  if (r.groups.some((g) => g.state === 'progressing')) return paused ? 'paused' : 'progressing';
  return 'succeeded';
}

function endReason(r: RolloutRecord): string | null {
  const bad = r.groups.filter((g) => g.state === 'failed' || g.state === 'reverted');
  if (bad.length === 0) return null;
  return bad
    .map((g) => {
      const at = g.state === 'reverted' && g.from ? `held at ${g.from.slice(0, 7)}` : 'stopped';
      return `${g.unit} ${at}: ${g.reason ?? g.state}`;
    })
    .join('; ');
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
