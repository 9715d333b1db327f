/**
 * The agent's metrics: its units by systemd state (read at scrape time), the tasks it ran and how
 * long they took, drift repairs (per unit: the one label with open-ended values), failed D-Bus
 * calls, and when a pass last succeeded.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AgentMetrics } from '../agent/metrics.js';

export function agentMetrics(registry: Registry, machine: string): AgentMetrics {
  const registers = [registry];
  new Gauge({
    name: 'gitfleet_agent_info',
    help: 'The machine this agent runs as (always 1).',
    labelNames: ['machine'],
    registers,
  }).set({ machine }, 1);
  let readUnits: () => Iterable<{ active: string }> = () => [];
  new Gauge({
    name: 'gitfleet_agent_units',
    help: "Units this agent runs, by systemd's ActiveState (active, inactive, failed, activating, ...).",
    labelNames: ['state'],
    registers,
    collect() {
      const counts = new Map<string, number>();
      for (const u of readUnits()) counts.set(u.active, (counts.get(u.active) ?? 0) + 1);
      this.reset();
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  const tasks = new Counter({
    name: 'gitfleet_agent_tasks_total',
    help:
      'Tasks the agent ran (unload, load, reload, stop, start); result "failed" when systemd refused or did not ' +
      'answer.',
    labelNames: ['type', 'result'],
    registers,
  });
  const taskSeconds = new Histogram({
    name: 'gitfleet_agent_task_duration_seconds',
    help: 'Time from the start of a task phase of a pass until the task was done (loads and unloads run as one batch).',
    labelNames: ['type'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const drift = new Counter({
    name: 'gitfleet_agent_drift_repairs_total',
    help: 'Launched units the agent started again after finding them stopped or failed behind its back.',
    labelNames: ['unit'],
    registers,
  });
  const dbus = new Counter({
    name: 'gitfleet_agent_dbus_errors_total',
    help: "Calls to systemd's D-Bus API that failed (systemd refused them, or the bus did not answer).",
    registers,
  });
  const passes = new Counter({
    name: 'gitfleet_agent_passes_succeeded_total',
    help: 'Reconcile passes that ended with every task done.',
    registers,
  });
  const lastPass = new Gauge({
    name: 'gitfleet_agent_last_successful_pass_timestamp_seconds',
    help: 'Unix time the last successful reconcile pass ended.',
    registers,
  });
  return {
    taskDone(type, seconds, ok) {
      tasks.inc({ type, result: ok ? 'ok' : 'failed' });
      taskSeconds.observe({ type }, seconds);
    },
    driftRepaired(unit) {
      drift.inc({ unit });
    },
    dbusError() {
      dbus.inc();
    },
    passSucceeded() {
      passes.inc();
      lastPass.set(Date.now() / 1000);
    },
    trackUnits(read) {
      readUnits = read;
    },
  };
}
