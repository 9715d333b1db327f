/**
 * What the agent reports to its metrics. An interface, so the agent does not depend on the
 * metrics library (src/metrics/agent.ts implements it with prom-client) and each part of the
 * agent can be handed the same object.
 */
import type { AgentSystemd } from '../systemd/manager.js';
import { SystemdError, SystemdUnavailableError } from '../systemd/manager.js';
import type { AgentTaskType } from './tasks.js';

export interface AgentMetrics {
  /** A task ended (`ok` false: it failed), `seconds` after its phase of the pass began. */
  taskDone(type: AgentTaskType, seconds: number, ok: boolean): void;
  /** A launched unit found stopped or failed behind the agent's back is being started again. */
  driftRepaired(unit: string): void;
  /** A call to systemd failed: systemd refused it, or the bus did not answer. */
  dbusError(): void;
  /** A reconcile pass ended with every task done. */
  passSucceeded(): void;
  /** Where to read, at scrape time, systemd's state of every unit the agent owns. */
  trackUnits(read: () => Iterable<{ active: string }>): void;
}

/** `systemd`, with every failed D-Bus call counted (the same object's events pass through). */
export function countDbusErrors(systemd: AgentSystemd, metrics: AgentMetrics): AgentSystemd {
  const counted =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      call.apply(systemd, args).catch((e: unknown) => {
        if (e instanceof SystemdError || e instanceof SystemdUnavailableError) metrics.dbusError();
        throw e;
      });
  return {
    on: (event, listener) => systemd.on(event, listener),
    off: (event, listener) => systemd.off(event, listener),
    listUnits: counted(systemd.listUnits),
    linkUnitFiles: counted(systemd.linkUnitFiles),
    enableUnitFiles: counted(systemd.enableUnitFiles),
    disableUnitFiles: counted(systemd.disableUnitFiles),
    reload: counted(systemd.reload),
    startUnit: counted(systemd.startUnit),
    stopUnit: counted(systemd.stopUnit),
    resetFailed: counted(systemd.resetFailed),
  };
}
