/** The controller's metrics: commits applied and refused, how long an apply takes, commit -> applied. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ControllerMetrics } from '../controller/metrics.js';
import type { Logger } from '../log.js';
import { committerTime } from '../source/commit-time.js';

export function controllerMetrics(registry: Registry, log: Logger): ControllerMetrics {
  const registers = [registry];
  const applied = new Counter({
    name: 'gitfleet_controller_commits_applied_total',
    help: 'Commits the controller applied (made the desired state).',
    registers,
  });
  const refused = new Counter({
    name: 'gitfleet_controller_commits_refused_total',
    help: 'Branch heads the controller refused (lint errors, invalid fleet.yaml, rewritten history).',
    registers,
  });
  const duration = new Histogram({
    name: 'gitfleet_controller_apply_duration_seconds',
    help: 'Time to read a commit from git, build its desired state and write it to the store.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const lag = new Histogram({
    name: 'gitfleet_controller_commit_to_applied_seconds',
    help: "Time from a commit's committer time (whole seconds, as git keeps it) until it was applied.",
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers,
  });
  const last = new Gauge({
    name: 'gitfleet_controller_last_applied_timestamp_seconds',
    help: 'Unix time the controller last applied a commit.',
    registers,
  });
  return {
    applied(commit, gitdir, seconds) {
      const now = Date.now() / 1000;
      applied.inc();
      duration.observe(seconds);
      last.set(now);
      // Off the pass's path: reading the commit object costs a file read, and the pass is done.
      committerTime(gitdir, commit).then(
        (t) => lag.observe(Math.max(0, now - t)),
        (e) => log.debug('commit time unreadable', { commit: commit.slice(0, 12), error: e as Error }),
      );
    },
    refused() {
      refused.inc();
    },
  };
}
