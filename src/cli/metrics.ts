/** `--metrics ADDR` of the long-running commands: a registry, served at http://ADDR/metrics. */
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { newRegistry, startMetricsServer, type MetricsServer } from '../metrics/registry.js';
import { CliError, UsageError } from './errors.js';

export interface MetricsFlag {
  registry: Registry;
  server: MetricsServer;
}

/** Nothing without the flag; a malformed address is a usage error (2), a busy one exit 1. */
export async function serveMetricsFlag(listen: string | undefined, log: Logger): Promise<MetricsFlag | null> {
  if (listen === undefined) return null;
  const registry = newRegistry();
  const { parseListen } = await import('../controller/webhook.js');
  try {
    parseListen(listen, '--metrics');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  try {
    return { registry, server: await startMetricsServer(listen, registry, log) };
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}
