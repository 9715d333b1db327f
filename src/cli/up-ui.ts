/**
 * `gitfleet up --ui ADDR`: the web UI and the metrics of up's controller, engine and agent, in one
 * registry that the UI serves at /metrics. Off with `--ui off`, and with `--once` (which exits as
 * soon as it has converged).
 */
import type { Registry } from 'prom-client';
import type { AgentMetrics } from '../agent/metrics.js';
import type { ControllerMetrics } from '../controller/metrics.js';
import { parseListen } from '../controller/webhook.js';
import type { Logger } from '../log.js';
import { agentMetrics } from '../metrics/agent.js';
import { controllerMetrics } from '../metrics/controller.js';
import { engineMetrics, type EngineMetrics } from '../metrics/engine.js';
import { newRegistry } from '../metrics/registry.js';
import type { Store } from '../store/store.js';
import type { SystemdHost } from '../systemd/connect.js';
import { localInspector } from '../ui/inspect.js';
import type { JournalReader } from '../systemd/journal.js';
import { isLoopback, startUiServer, type UiServer } from '../ui/server.js';
import { readSecret } from './apply.js';
import { UsageError } from './errors.js';

export interface UpMetrics {
  listen: string;
  token: string | undefined;
  registry: Registry;
  controller: ControllerMetrics;
  engine: EngineMetrics;
  agent: AgentMetrics;
}

/** The metrics to wire into up's parts, or null when the UI is off; a bad --ui is a usage error. */
export function upMetrics(
  flags: { ui: string; tokenFile?: string; once?: boolean },
  machine: string,
  log: Logger,
): UpMetrics | null {
  if (flags.ui === 'off' || flags.once) return null;
  let host: string;
  try {
    host = parseListen(flags.ui, '--ui').host;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}, or off`);
  }
  if (!isLoopback(host) && !flags.tokenFile)
    throw new UsageError(`--ui ${flags.ui}: reachable from other machines; give --token-file, or use 127.0.0.1`);
  const registry = newRegistry();
  return {
    listen: flags.ui,
    token: readSecret(flags.tokenFile, '--token-file'),
    registry,
    controller: controllerMetrics(registry, log),
    engine: engineMetrics(registry),
    agent: agentMetrics(registry, machine),
  };
}

/** Serve the UI; a busy address is said and up goes on without it. */
export async function startUpUi(
  m: UpMetrics,
  store: Store,
  host: SystemdHost,
  machine: string,
  journal: JournalReader,
  say: (line: string) => void,
  log: Logger,
): Promise<UiServer | null> {
  try {
    const ui = await startUiServer({
      store,
      listen: m.listen,
      flag: '--ui',
      token: m.token,
      registry: m.registry,
      inspector: localInspector(host, machine, journal),
      log: log.child('ui'),
    });
    say(`gitfleet up: web UI at ${ui.url}`);
    return ui;
  } catch (e) {
    say(`gitfleet up: web UI not started: ${(e as Error).message} (--ui HOST:PORT for another address, --ui off)`);
    return null;
  }
}
