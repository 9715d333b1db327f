/**
 * The agent's planner (pure): desired units for this machine + what systemd and the agent's own
 * records say -> ordered tasks with reasons. Modelled on fleet's agent/reconcile.go
 * calculateTasksForUnits, in this order:
 *
 *   unload*, load*, stop*, reload (at most one), start*
 *
 * and gitfleet's additions: in-place replacement of changed content (load rewrites the file, stop
 * ends the old version under its own definition, the reload makes systemd read the new file, start
 * runs it), and drift repair (a launched unit found stopped or failed is started again; the caller
 * decides the backoff). The reload comes after the stops (fleet's came before them) because it is
 * often not needed at all: systemd forgets a stopped unit nothing refers to and reads its file
 * afresh on the next start, so the executor reloads only while systemd still holds an outdated
 * definition (src/agent/executor.ts). A daemon-reload costs 50 ms to several hundred.
 *
 * Only units gitfleet owns appear in `actual`: the agent keeps its unit files in its own directory
 * and never passes anything else, so a unit it does not own can never get a task.
 */

import { isTemplate as isTemplateName } from '../unit/names.js';

export type AgentUnitState = 'loaded' | 'launched';

/** What this machine should run: one entry per unit scheduled here (plus matching Global units). */
export interface DesiredAgentUnit {
  /** sha256 of the unit file's content. */
  hash: string;
  state: AgentUnitState;
  /**
   * A oneshot service without RemainAfterExit=yes (read from its content where the content is
   * read): inactive/dead after a successful run is its launched state, not drift. Only `failed`
   * is repaired for it.
   */
  runsToCompletion: boolean;
}

/** What is on the machine for a unit gitfleet owns. */
export interface ActualAgentUnit {
  /** Hash of the unit file gitfleet wrote ('' if unknown: treated as different from any desired hash). */
  hash: string;
  /** systemd's LoadState, ActiveState, SubState ("not-found"/"inactive"/"dead" when systemd has no file). */
  load: string;
  active: string;
  sub: string;
  /**
   * The desired state the agent last applied to this unit, when it knows. It tells "launched ->
   * loaded" (stop it) apart from a `loaded` unit that its socket/timer/path activated (leave it).
   */
  applied?: AgentUnitState;
}

export type AgentTaskType = 'unload' | 'load' | 'reload' | 'stop' | 'start';

export interface AgentTask {
  type: AgentTaskType;
  /** Absent only for 'reload'. */
  unit?: string;
  reason: string;
  /** On 'start': the unit was launched by gitfleet before and stopped or failed behind its back. */
  drift?: boolean;
  /** On 'start': the unit is in systemd's failed state (the executor resets it before starting). */
  failed?: boolean;
}

export interface TaskOptions {
  /**
   * Units whose drift repair is backing off: a start that would repair drift is left out of this
   * plan (the agent retries it later). Starts for other reasons are not affected.
   */
  holdDriftStart?: ReadonlySet<string>;
}

const TASK_ORDER: Record<AgentTaskType, number> = { unload: 0, load: 1, stop: 2, reload: 3, start: 4 };

/** ActiveStates in which a unit is running or about to: no start needed, and a stop has work to do. */
const UP_STATES = new Set(['active', 'activating', 'reloading', 'refreshing']);

/** Is this ActiveState running (or on its way up)? */
export function isUp(active: string): boolean {
  return UP_STATES.has(active);
}

/**
 * Plan one reconcile pass. Deterministic: within a phase, tasks are sorted by unit name.
 *
 * - In `actual` but not `desired`: unload (the executor stops it, removes its links and its file).
 * - New unit: load (write + link; no reload: systemd finds a brand-new file by itself, even one it
 *   looked up before), then start when launched.
 * - Changed hash: load (rewrite) + the pass's one reload (if systemd still needs it); a running
 *   unit is stopped and, when launched, started again (in-place replacement). A `loaded` unit
 *   that runs is stopped too so its next activation uses the new content.
 * - Same hash: launched and not up -> start (drift when gitfleet had launched it); loaded and up
 *   and last applied as launched -> stop; systemd lost the file (load "not-found") -> load again.
 */
export function planAgentTasks(
  desired: ReadonlyMap<string, DesiredAgentUnit>,
  actual: ReadonlyMap<string, ActualAgentUnit>,
  opts: TaskOptions = {},
): AgentTask[] {
  const tasks: AgentTask[] = [];
  let reloadReason: string | null = null;
  const names = [...new Set([...desired.keys(), ...actual.keys()])].sort();

  for (const unit of names) {
    const want = desired.get(unit);
    const have = actual.get(unit);

    if (!want) {
      tasks.push({ type: 'unload', unit, reason: 'no longer scheduled to this machine' });
      reloadReason ??= `${unit} was unloaded`;
      continue;
    }

    const up = have !== undefined && isUp(have.active);
    const template = isTemplateName(unit);

    if (!have) {
      tasks.push({ type: 'load', unit, reason: 'newly scheduled to this machine' });
      if (want.state === 'launched' && !template)
        tasks.push({ type: 'start', unit, reason: 'desired state is launched' });
      continue;
    }

    if (have.hash !== want.hash) {
      const from = have.hash ? have.hash.slice(0, 12) : 'unknown';
      tasks.push({ type: 'load', unit, reason: `content changed (${from} -> ${want.hash.slice(0, 12)})` });
      reloadReason ??= `${unit} changed`;
      if (up) tasks.push({ type: 'stop', unit, reason: 'content changed: stop the old version' });
      if (want.state === 'launched' && !template) {
        tasks.push({
          type: 'start',
          unit,
          reason: up ? 'content changed: start the new version' : 'desired state is launched',
          ...(have.active === 'failed' ? { failed: true } : {}),
        });
      }
      continue;
    }

    if (have.load === 'not-found') {
      // Same content, but systemd cannot find the unit: the file or its link vanished.
      tasks.push({ type: 'load', unit, reason: 'systemd has no file for it (link or file removed behind gitfleet)' });
    }

    if (want.state === 'launched' && !template) {
      // A oneshot that ran and finished was launched; starting it again would loop it forever.
      const completed = have.active === 'inactive' && have.applied === 'launched' && want.runsToCompletion;
      // systemd let it fail (its Restart= gave up, or it has none): that is systemd's verdict to
      // respect and report, not drift to repair. Stopped by hand (inactive) is drift.
      const letFail = have.active === 'failed' && have.applied === 'launched';
      if (!up && !completed && !letFail) {
        const drift = have.applied === 'launched';
        if (drift && opts.holdDriftStart?.has(unit)) continue;
        tasks.push({
          type: 'start',
          unit,
          reason: drift
            ? `drift: launched unit is ${have.active}/${have.sub}`
            : `desired state is launched, unit is ${have.active}/${have.sub}`,
          ...(drift ? { drift: true } : {}),
          ...(have.active === 'failed' ? { failed: true } : {}),
        });
      }
    } else if (up && have.applied === 'launched') {
      tasks.push({ type: 'stop', unit, reason: 'desired state changed from launched to loaded' });
    }
  }

  if (reloadReason !== null) tasks.push({ type: 'reload', reason: `daemon-reload: ${reloadReason}` });
  // Stable sort: phase order, then unit name (already in name order within each phase).
  return tasks
    .map((t, i) => ({ t, i }))
    .sort((a, b) => TASK_ORDER[a.t.type] - TASK_ORDER[b.t.type] || a.i - b.i)
    .map((x) => x.t);
}
