import type { FleetConstraints } from '../unit/types.js';
import type { HealthCheck, RolloutPolicy } from './policy.js';
import type { HealthSpec, RolloutSpec } from './policy-yaml.js';

export const DESIRED_STATES = ['inactive', 'loaded', 'launched'] as const;
export type DesiredStateName = (typeof DESIRED_STATES)[number];

/** fleet.yaml after validation, defaults applied. */
export interface FleetSpec {
  /** Directory of the unit files, relative to the repo root, normalised, '' for the root. */
  path: string;
  defaults: { state: DesiredStateName };
  allowEmpty: boolean;
  /** The top-level `rollout` block: defaults for every unit. */
  rollout?: RolloutSpec;
  units: Record<string, FleetSpecUnit>;
}

export interface FleetSpecUnit {
  state?: DesiredStateName;
  /** Only for templates (`foo@.service`): instance names (a number N in YAML means 1..N). */
  instances?: string[];
  /** Its `rollout` block (a unit or a template; instances roll out with their template). */
  rollout?: RolloutSpec;
  /** Its `health` block (services only); specifiers are expanded per unit. */
  health?: HealthSpec;
  /** Where in fleet.yaml this entry is, for diagnostics. */
  line: number;
  column: number;
}

/** One file of a commit's unit directory, as read from git (untrusted). */
export interface RepoFile {
  /** Path relative to the repo root, '/'-separated. */
  path: string;
  /** File name (last path component): the unit name for unit files. */
  name: string;
  content: Uint8Array;
  /** Its git blob id, when read from a commit: what a memo (memo.ts) knows the content by. */
  oid?: string;
}

/** What one unit should be, cluster-wide. Deterministic for a given commit. */
export interface DesiredUnit {
  /** Full unit name; for template instances the instance name (web@1.service). */
  name: string;
  /**
   * Its body (src/unit/body.ts): the canonical unit file (for an instance: its template's), or,
   * with drop-ins, the canonical unit file and drop-ins together.
   */
  content: string;
  /** sha256 hex of `content`. */
  hash: string;
  state: DesiredStateName;
  /** [X-Fleet] with specifiers expanded for this unit's name. */
  constraints: FleetConstraints;
  /** Repo path of the file this unit comes from (the template's for instances). */
  source: string;
  /** Repo paths of the drop-ins merged into it, in the order systemd applies them; absent when none. */
  dropIns?: string[];
  /**
   * For a .timer/.path/.socket unit: the unit it activates (`Unit=`, else the same-named
   * .service; for a socket with Accept=yes, the `name@.service` template). The engine places the
   * two on one machine.
   */
  triggers?: string;
  /** How a change of it rolls out, when fleet.yaml says (absent: the defaults, every machine at once). */
  rollout?: RolloutPolicy;
  /** The agent's health check of it, if fleet.yaml gives one. */
  health?: HealthCheck;
}

/** The whole cluster's desired state for one commit. `units` is sorted by name. */
export interface DesiredState {
  commit: string;
  units: DesiredUnit[];
}
