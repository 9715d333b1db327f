/**
 * What the controller reports to its metrics, at the two points a pass ends. An interface so the
 * controller does not depend on the metrics library; src/metrics/controller.ts implements it.
 */
export interface ControllerMetrics {
  /** `commit` of `gitdir` is now the desired state; loading and applying it took `seconds`. */
  applied(commit: string, gitdir: string, seconds: number): void;
  /** The branch head was refused (lint errors, invalid fleet.yaml, history rewritten). */
  refused(): void;
}
