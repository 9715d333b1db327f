/** `gitfleet engine`: take part in the election; schedule while leader; until SIGINT/SIGTERM. */
import { hostname } from 'node:os';
import { Engine } from '../engine/engine.js';
import { createLogger } from '../log.js';
import { engineMetrics } from '../metrics/engine.js';
import { parseSeconds } from './agent.js';
import { openEtcdStore, type StoreFlags } from './common.js';
import { serveMetricsFlag } from './metrics.js';
import { untilSignal } from './signals.js';

interface EngineFlags extends StoreFlags {
  id?: string;
  leaseTtl: string;
  metrics?: string;
}

export async function run(flags: EngineFlags): Promise<number> {
  const leaseTtl = parseSeconds('--lease-ttl', flags.leaseTtl, 2);
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  const log = createLogger(`engine ${id}`);
  const served = await serveMetricsFlag(flags.metrics, log);
  const metrics = served ? engineMetrics(served.registry) : null;
  const store = await openEtcdStore(flags);
  const engine = new Engine({ store, id, leaseTtl, log, ...(metrics ? { onPass: (r) => metrics.onPass(r) } : {}) });
  metrics?.leading(() => engine.isLeader());
  await engine.start();
  const sig = await untilSignal();
  log.info('stopping', { signal: sig });
  await engine.stop();
  await store.close();
  await served?.server.close();
  return 0;
}
