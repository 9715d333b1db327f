/**
 * The whole keyspace, relative to the store's namespace (default prefix "/gitfleet/").
 * Nobody else builds key strings. docs/keyspace.md documents each key: what it holds, who writes
 * it, under which lease. Values are JSON unless said otherwise.
 */
import type { Diagnostic } from '../diag.js';
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
export const DESIRED_ROOT = 'desired/root';
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
}

/** A shard: units sorted by name. */
export interface DesiredShard {
  units: DesiredEntry[];
}

/** Controller status: the applied commit and the last refused one. */
export const CONTROLLER_STATUS = 'controller/status';
export interface ControllerStatus {
  applied: { commit: string; at: string } | null;
  refused: { commit: string; at: string; reason: string; diagnostics: Diagnostic[] } | null;
}

// ---- written by the engine (leader only, fenced on LEADER) ----------------------------------

/** Lease-bound; value: the engine id. A leader write compares this key's createRevision. */
export const ENGINE_LEADER = 'engine/leader';

/** Where a unit runs: one key per (machine, unit). Value: ScheduleEntry. */
export const scheduleKey = (machine: string, unit: string) => `schedule/${machine}/${unit}`;
export const schedulePrefix = (machine: string) => `schedule/${machine}/`;
export const SCHEDULE_PREFIX = 'schedule/';
export interface ScheduleEntry {
  hash: string;
  state: Exclude<DesiredStateName, 'inactive'>;
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
}

// ---- asked by the CLI, answered by one machine's agent (both under the asker's lease) -----------

/**
 * `gitfleet journal` and `gitfleet status UNIT` read a unit's journal and live status from the
 * machine that runs it through etcd itself, so no agent listens on a port of its own: the CLI
 * grants a short lease (INSPECT_LEASE_SECONDS), writes a request under it, and the agent of that
 * machine (watching its own request prefix) writes one answer under the same lease. Revoking the
 * lease, or its TTL running out, removes both. An agent answers only for units gitfleet runs on
 * it, and never with more than INSPECT_MAX_LINES lines or INSPECT_MAX_BYTES of JSON.
 */
export const inspectRequestKey = (machine: string, id: string) => `inspect/requests/${machine}/${id}`;
export const inspectRequestPrefix = (machine: string) => `inspect/requests/${machine}/`;
export const inspectAnswerKey = (id: string) => `inspect/answers/${id}`;
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
