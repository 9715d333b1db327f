/**
 * Rollout and health policy of a unit, as fleet.yaml states it (the `rollout` and `health`
 * blocks) after defaults: plain data the engine stages by and the agent judges health by.
 */

/** How a changed unit reaches its machines. Durations in milliseconds. */
export interface RolloutPolicy {
  /** Machines that take the change at once: a count, or a percentage of the unit's machines. */
  maxParallel: { count: number } | { percent: number };
  /** Machines that take it first; the rest wait until these are healthy. */
  canary: number;
  /** Active this long with no restart (and the health check passing) before it counts as healthy. */
  minHealthyMs: number;
  /** Not healthy this long after taking the change: that machine failed. */
  healthyDeadlineMs: number;
  /** The whole rollout must end within this. */
  progressDeadlineMs: number;
  /** On failure, put the last healthy content back where the new one went. */
  autoRevert: boolean;
}

/** A check the agent runs on its machine, besides systemd's own view. */
export type HealthCheck = (
  | { kind: 'http'; url: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'exec'; argv: string[] }
) & { intervalMs: number; timeoutMs: number };

export const DEFAULT_ROLLOUT: Readonly<RolloutPolicy> = Object.freeze({
  maxParallel: Object.freeze({ percent: 100 }),
  canary: 0,
  minHealthyMs: 10_000,
  healthyDeadlineMs: 120_000,
  progressDeadlineMs: 600_000,
  autoRevert: false,
});

export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

/** How many of `machines` may take a change at once under `policy` (at least 1). */
export function parallelOf(policy: RolloutPolicy, machines: number): number {
  const p = policy.maxParallel;
  const n = 'count' in p ? p.count : Math.floor((machines * p.percent) / 100);
  return Math.max(1, n);
}

/** True when the policy gates nothing: every machine at once and no canary (today's behaviour). */
export function isUngated(policy: RolloutPolicy): boolean {
  const p = policy.maxParallel;
  return policy.canary === 0 && 'percent' in p && p.percent >= 100;
}
