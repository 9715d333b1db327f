/**
 * The whole keyspace, relative to the store's namespace (default prefix "/gitfleet/").
 * Nobody else builds key strings. docs/keyspace.md documents each key: what it holds, who writes
 * it, under which lease. Values are JSON unless said otherwise.
 */
import type { Diagnostic } from '../diag.js';
import type { HealthCheck, RolloutPolicy } from '../desired/policy.js';
import type { DesiredStateName } from '../desired/types.js';
import type { JournalLine } from '../systemd/journal.js';
import type { UnitStatus } from '../systemd/status.js';
import type { FleetConstraints } from '../unit/types.js';

// ---- written by the controller -------------------------------------------------------------

/** Canonical unit file content, content-addressed (immutable). Value: the text itself. */
export const bodyKey = (hash: string) => `bodies/${hash}`;
export const BODIES_PREFIX = 'bodies/';

/**
 * Desired state is split into content-addressed shards (units grouped by the first byte of
 * sha256(name)), and one root key names the shards of the commit in force. Writing shards is not
 * visible to anyone until the root flips in a single put: commits of any size apply atomically,
 * and a commit that changes one unit writes one shard, one body and the root.
 */
export const DESIRED_PREFIX = 'desired/';
export const DESIRED_ROOT = 'desired/root';
/**
 * The Global units of the root in force, on a key of their own, written in the root's transaction
 * whenever they change: every agent follows this one, not the root, which is ~20 KB of shard
 * hashes at 10,000 units and changes with every commit (1,000 agents were sent 20 MB per commit).
 */
export const DESIRED_GLOBALS = 'desired/globals';

export interface DesiredGlobals {
  /** The commit whose root these are the Global units of. */
  commit: string;
  global: DesiredEntry[];
}
export const shardKey = (hash: string) => `desired/shards/${hash}`;
export const SHARDS_PREFIX = 'desired/shards/';

export interface DesiredRoot {
  commit: string;
  /** ISO time the controller applied it. */
  at: string;
  /** shard index (two hex digits) -> sha256 of the shard's value. Empty shards are absent. */
  shards: Record<string, string>;
  /** Units with [X-Fleet] Global=true: every agent reads these from the root itself. */
  global: DesiredEntry[];
  /** Total number of units. */
  count: number;
}

export interface DesiredEntry {
  name: string;
  hash: string;
  state: DesiredStateName;
  constraints: FleetConstraints;
  /**
   * For a .timer/.socket/.path unit whose `Unit=` names the unit it activates: that unit. Absent
   * means the name convention (foo.timer -> foo.service). The engine places the two together.
   */
  triggers?: string;
  /** How a change of it rolls out; absent: the defaults (every machine at once). */
  rollout?: RolloutPolicy;
  /** The agent's health check of it, if any. */
  health?: HealthCheck;
}

/** A shard: units sorted by name. */
export interface DesiredShard {
  units: DesiredEntry[];
}

/** Controller status: the applied commit and the last refused one. */
export const CONTROLLER_PREFIX = 'controller/';
export const CONTROLLER_STATUS = 'controller/status';
export interface ControllerStatus {
  applied: { commit: string; at: string } | null;
  refused: { commit: string; at: string; reason: string; diagnostics: Diagnostic[] } | null;
}

// ---- written by the engine (leader only, fenced on LEADER) ----------------------------------

/** Lease-bound; value: the engine id. A leader write compares this key's createRevision. */
export const ENGINE_PREFIX = 'engine/';
export const ENGINE_LEADER = 'engine/leader';

/** What the leading engine holds back and why (`gitfleet status` shows it). Value: EngineStatus. */
export const ENGINE_STATUS = 'engine/status';
export interface EngineStatus {
  /** Many machines silent at once: nothing of theirs moves until they return or the hold ends. */
  holding: { silent: number; known: number; since: string; until: string } | null;
  /** Machines silent but still in their grace: their units stay where they are. */
  silent: string[];
}

/** Where a unit runs: one key per (machine, unit). Value: ScheduleEntry. */
export const scheduleKey = (machine: string, unit: string) => `schedule/${machine}/${unit}`;
export const schedulePrefix = (machine: string) => `schedule/${machine}/`;
export const SCHEDULE_PREFIX = 'schedule/';
/**
 * Present while the engine writes one machine's placements in more transactions than one (too
 * many for one): the agent acts once it is gone, on the whole. `~` is in no unit name.
 */
export const SCHEDULE_BATCH = '~batch';
export const scheduleBatchKey = (machine: string) => `schedule/${machine}/${SCHEDULE_BATCH}`;
export interface ScheduleEntry {
  hash: string;
  state: Exclude<DesiredStateName, 'inactive'>;
  /** How long the unit must stay active to count as healthy, when not the default (10 s). */
  minHealthy?: number;
  /** The unit's health check, if it has one: the agent runs it. */
  health?: HealthCheck;
}

/** Why a unit that should run is on no machine. Value: { reason }. */
export const unscheduledKey = (unit: string) => `unscheduled/${unit}`;
export const UNSCHEDULED_PREFIX = 'unscheduled/';
export interface UnscheduledEntry {
  reason: string;
}

// ---- written by agents (bound to the machine's lease) ---------------------------------------

export const machineKey = (machine: string) => `machines/${machine}`;
export const MACHINES_PREFIX = 'machines/';
export interface MachineRecord {
  id: string;
  address: string;
  metadata: Record<string, string>;
  version: string;
  startedAt: string;
  /**
   * Identifies the agent process lineage that wrote the record (boot id + a token kept in the
   * agent's state dir): an agent restarting on the same machine takes its own live record over,
   * while a second machine with the same id (a cloned /etc/machine-id) is refused. Optional.
   */
  instance?: string;
  /** The lease TTL the agent registered with, seconds: how long the engine waits once it is silent. */
  ttl?: number;
}

/** What systemd says of one unit on one machine. */
export const unitStateKey = (machine: string, unit: string) => `state/${machine}/${unit}`;
export const unitStatePrefix = (machine: string) => `state/${machine}/`;
export const UNIT_STATE_PREFIX = 'state/';
export interface UnitStateReport {
  load: string;
  active: string;
  sub: string;
  /** Hash of the content the machine runs ('' when unknown). */
  hash: string;
  /** Times the agent restarted the unit after finding it stopped or failed behind its back. */
  driftRepairs?: number;
  /**
   * How healthy the content it runs is (src/agent/health.ts): starting, healthy or failed, with
   * systemd's words for why (result, exit code or signal, restarts).
   */
  health?: { state: 'starting' | 'healthy' | 'failed'; reason?: string };
}

// ---- who may touch what (etcd roles, `gitfleet auth setup`) --------------------------------

/** A component that gets its own etcd role and user. */
export type AccessRole =
  | { kind: 'controller' }
  | { kind: 'engine' }
  | { kind: 'machine'; id: string }
  /**
   * `status`, the listings, `plan --etcd`, the UI: reads everything; writes only requests for a
   * unit's journal and live status (`inspect/`), which are themselves reads of a machine.
   */
  | { kind: 'viewer' }
  /** A viewer that may also pause and resume rollouts (`gitfleet rollout pause|resume`). */
  | { kind: 'operator' };

/**
 * One permission of a role: `key` alone, or every key starting with it when `prefix` (etcd's
 * [key, range_end)). `readwrite` includes read: writes that compare (txn guards) need both.
 */
export interface KeyGrant {
  key: string;
  prefix: boolean;
  access: 'read' | 'readwrite';
}

/**
 * The least each component needs. Ranges and watches are always prefix requests in our stores, so
 * a key that is ranged or watched is granted as a prefix (`desired/root` covers only keys starting
 * with it). A machine's own record is one exact key: the prefix `machines/m1` would also cover
 * `machines/m10`. The per-machine prefixes end in '/' for the same reason.
 */
export function roleGrants(role: AccessRole): KeyGrant[] {
  const read = (key: string, prefix = true): KeyGrant => ({ key, prefix, access: 'read' });
  const write = (key: string, prefix = true): KeyGrant => ({ key, prefix, access: 'readwrite' });
  switch (role.kind) {
    case 'controller':
      // It reads the schedule and the rollout record so as never to collect content still in use.
      return [
        write(DESIRED_PREFIX),
        write(BODIES_PREFIX),
        write(CONTROLLER_PREFIX),
        read(SCHEDULE_PREFIX),
        read(ROLLOUTS_PREFIX),
        read(ROLLOUT_LATEST, false),
      ];
    case 'engine':
      return [
        read(DESIRED_PREFIX),
        read(MACHINES_PREFIX),
        write(SCHEDULE_PREFIX),
        write(UNSCHEDULED_PREFIX),
        write(ENGINE_PREFIX),
        // Rollouts: the agents' reports say how healthy a change is; the records are the engine's.
        read(UNIT_STATE_PREFIX),
        write(ROLLOUTS_PREFIX),
        write(ROLLOUT_LATEST, false),
        // Watched, and watches are prefix requests: granted as a prefix like every watched key.
        read(ROLLOUT_CONTROL),
      ];
    case 'machine':
      return [
        read(DESIRED_ROOT),
        read(DESIRED_GLOBALS),
        read(schedulePrefix(role.id)),
        read(BODIES_PREFIX),
        write(machineKey(role.id), false),
        write(unitStatePrefix(role.id)),
        // An answer is attached to the asker's lease, and etcd lets a key join a lease only for a
        // user that may write every key already on it: the request, under this machine's prefix.
        write(inspectRequestPrefix(role.id)),
        write(inspectAnswerPrefix(role.id)),
      ];
    case 'viewer':
      return [read(''), write(INSPECT_PREFIX)];
    case 'operator':
      return [read(''), write(INSPECT_PREFIX), write(ROLLOUT_CONTROL, false)];
  }
}

// ---- asked by the CLI, answered by one machine's agent (both under the asker's lease) -----------

/**
 * `gitfleet journal` and `gitfleet status UNIT` read a unit's journal and live status from the
 * machine that runs it through etcd itself, so no agent listens on a port of its own: the CLI
 * grants a short lease (INSPECT_LEASE_SECONDS) for each machine it asks, writes a request under
 * it, and the agent of that machine (watching its own request prefix) writes one answer, under its
 * own answer prefix, on the same lease. Revoking the lease, or its TTL running out, removes both.
 * One lease per machine because etcd lets a key join a lease only for a user allowed to write
 * every key already on it: a machine may write its own requests, never another machine's. An
 * agent answers only for units gitfleet runs on it, and never with more than INSPECT_MAX_LINES
 * lines or INSPECT_MAX_BYTES of JSON.
 */
export const INSPECT_PREFIX = 'inspect/';
export const inspectRequestKey = (machine: string, id: string) => `inspect/requests/${machine}/${id}`;
export const inspectRequestPrefix = (machine: string) => `inspect/requests/${machine}/`;
export const inspectAnswerKey = (machine: string, id: string) => `inspect/answers/${machine}/${id}`;
export const inspectAnswerPrefix = (machine: string) => `inspect/answers/${machine}/`;
export const INSPECT_LEASE_SECONDS = 10;
export const INSPECT_MAX_LINES = 1000;
export const INSPECT_MAX_BYTES = 256 * 1024;
/** Request ids: random hex, so no two askers collide and a key never holds a path. */
export const INSPECT_ID = /^[0-9a-f]{16,32}$/;

export interface InspectRequest {
  unit: string;
  /** Journal lines wanted (0: none), at most INSPECT_MAX_LINES. */
  lines: number;
  /** Only journal lines after this cursor (from an earlier answer): how `journal -f` follows. */
  after?: string;
  /** Also systemd's live status of the unit (main PID, since, exit status, restarts). */
  status: boolean;
}

export interface InspectAnswer {
  machine: string;
  unit: string;
  /** Why there is no answer for this unit here (not run by gitfleet on this machine, ...). */
  error?: string;
  status?: UnitStatus;
  /** Oldest first; `cursor` is the last line's. `journalError` says why there are none. */
  lines?: JournalLine[];
  cursor?: string | null;
  journalError?: string;
  /** Lines were dropped (oldest first) to keep the answer within INSPECT_MAX_BYTES. */
  truncated?: boolean;
}

/** Parse a key under a two-level prefix like "schedule/<machine>/<unit>". */
export function splitMachineUnit(key: string, prefix: string): { machine: string; unit: string } | null {
  if (!key.startsWith(prefix)) return null;
  const rest = key.slice(prefix.length);
  const i = rest.indexOf('/');
  if (i <= 0 || i === rest.length - 1) return null;
  return { machine: rest.slice(0, i), unit: rest.slice(i + 1) };
}

/** Shard index for a unit name: first byte of sha256(name), as two hex digits. */
export { shardOf } from './shard.js';

// ---- rollouts (written by the leading engine, fenced; the control key by `gitfleet rollout`) ----

/**
 * One record per commit's rollout, split like the desired state so that a 10,000-unit commit
 * fits etcd's request limits: a head with the whole's state and counts, and the groups (a
 * template's instances, or a unit) in shards by shardOf(group name). `rollout/latest` names the
 * newest record; the engine keeps the last ROLLOUTS_KEPT records and deletes older ones.
 */
export const rolloutHeadKey = (commit: string) => `rollouts/${commit}/head`;
export const rolloutShardKey = (commit: string, idx: string) => `rollouts/${commit}/groups/${idx}`;
export const rolloutPrefix = (commit: string) => `rollouts/${commit}/`;
export const ROLLOUTS_PREFIX = 'rollouts/';
export const ROLLOUT_LATEST = 'rollout/latest';
/** `gitfleet rollout pause` / `resume`: { paused, at }. */
export const ROLLOUT_CONTROL = 'rollout/control';
export const ROLLOUTS_KEPT = 20;

/**
 * What the engine watches while it leads (each a prefix request, each inside the engine's grants):
 * the root and the rollout control key wake a pass; the other prefixes the engine also keeps in
 * memory (src/engine/view.ts), so a pass need not read them whole.
 */
export const ENGINE_WATCHED: readonly string[] = [
  DESIRED_ROOT,
  MACHINES_PREFIX,
  SCHEDULE_PREFIX,
  UNSCHEDULED_PREFIX,
  UNIT_STATE_PREFIX,
  ROLLOUT_CONTROL,
];
/** Of ENGINE_WATCHED, the keys that only wake a pass. */
export const ENGINE_TRIGGERS: readonly string[] = [DESIRED_ROOT, ROLLOUT_CONTROL];

/** A rollout as the engine plans it (src/engine/rollout.ts): stored as a head and group shards. */
export type RolloutState = 'progressing' | 'succeeded' | 'failed' | 'reverted' | 'paused' | 'superseded';
/** The states a rollout does not leave (a paused one is still under way). */
export const ROLLOUT_ENDED: ReadonlySet<RolloutState> = new Set(['succeeded', 'failed', 'reverted', 'superseded']);
export type GroupState = 'progressing' | 'succeeded' | 'failed' | 'reverted';
export type MachineRolloutState = 'pending' | 'updating' | 'healthy' | 'failed' | 'reverted';

export interface RolloutMachine {
  machine: string;
  state: MachineRolloutState;
  /** Content the machine had before this rollout (null: the unit is new there). */
  from: string | null;
  /** Since when it is in this state (ms since the epoch). */
  since: number;
  reason: string | null;
}

export interface RolloutGroup {
  /** The template (`web@.service`) or the unit. */
  unit: string;
  change: 'changed' | 'added' | 'removed';
  state: GroupState;
  /** The new content (null for a removal). */
  to: string | null;
  /** The content most machines had before (what a machine that joins mid-rollout is told). */
  from: string | null;
  policy: RolloutPolicy;
  machines: RolloutMachine[];
  reason: string | null;
}

export interface RolloutRecord {
  commit: string;
  /** The commit whose rollout this one followed (superseded or completed). */
  previous: string | null;
  state: RolloutState;
  started: number;
  ended: number | null;
  reason: string | null;
  groups: RolloutGroup[];
}

export interface RolloutHead {
  commit: string;
  previous: string | null;
  state: RolloutState;
  started: number;
  ended: number | null;
  reason: string | null;
  counts: { healthy: number; failed: number; pending: number; updating: number };
  /** Shard indexes that hold groups. */
  shards: string[];
}
export interface RolloutShard {
  groups: RolloutGroup[];
}
export interface RolloutControl {
  paused: boolean;
  at: string;
}
