/** `gitfleet engine`: take part in the election; schedule while leader; until SIGINT/SIGTERM. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Engine } from '../engine/engine.js';
import { createLogger } from '../log.js';
import { engineMetrics } from '../metrics/engine.js';
import { parseSeconds } from './agent.js';
import { openEtcdStore, type StoreFlags } from './common.js';
import { CliError, UsageError } from './errors.js';
import { serveMetricsFlag } from './metrics.js';
import { fatalSignal, untilSignalOrFatal } from './signals.js';

interface EngineFlags extends StoreFlags {
  id?: string;
  leaseTtl: string;
  machineTtl: string;
  hold: string;
  notify?: string;
  notifySecretFile?: string;
  metrics?: string;
}

export async function run(flags: EngineFlags): Promise<number> {
  const leaseTtl = parseSeconds('--lease-ttl', flags.leaseTtl, 2);
  const machineTtl = parseSeconds('--machine-ttl', flags.machineTtl, 2);
  const holdSeconds = parseSeconds('--hold', flags.hold, 0);
  const notify = flags.notify ? { url: notifyUrl(flags.notify), ...notifySecret(flags.notifySecretFile) } : undefined;
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  const log = createLogger(`engine ${id}`);
  const served = await serveMetricsFlag(flags.metrics, log);
  const metrics = served ? engineMetrics(served.registry) : null;
  const store = await openEtcdStore(flags);
  const { fatal, onFatal } = fatalSignal();
  const engine = new Engine({
    store,
    id,
    leaseTtl,
    machineTtl,
    holdSeconds,
    log,
    onFatal,
    ...(notify ? { notify } : {}),
    ...(metrics ? { onPass: (r) => metrics.onPass(r) } : {}),
  });
  metrics?.leading(() => engine.isLeader());
  await engine.start();
  const end = await untilSignalOrFatal(fatal);
  log.info('stopping', end.signal ? { signal: end.signal } : { error: end.fatal });
  await engine.stop();
  await store.close();
  await served?.server.close();
  // A permanent failure (credentials refused, ...) is never retried forever: say it, exit 1.
  if (end.fatal) throw new CliError(`engine stopped: ${end.fatal.message}`);
  return 0;
}

function notifyUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--notify: '${raw}' is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--notify: '${raw}' is not http(s)`);
  return u.href;
}

function notifySecret(file: string | undefined): { secret?: string } {
  if (!file) return {};
  try {
    const secret = readFileSync(file, 'utf8').trim();
    if (!secret) throw new UsageError(`--notify-secret-file: ${file} is empty`);
    return { secret };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--notify-secret-file: cannot read ${file}: ${(e as Error).message}`);
  }
}
