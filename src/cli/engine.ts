/** `gitfleet engine`: take part in the election; schedule while leader; until SIGINT/SIGTERM. */
import { hostname } from 'node:os';
import { Engine } from '../engine/engine.js';
import { createLogger } from '../log.js';
import { parseSeconds } from './agent.js';
import { openEtcdStore, type StoreFlags } from './common.js';
import { CliError } from './errors.js';
import { fatalSignal, untilSignalOrFatal } from './signals.js';

interface EngineFlags extends StoreFlags {
  id?: string;
  leaseTtl: string;
}

export async function run(flags: EngineFlags): Promise<number> {
  const leaseTtl = parseSeconds('--lease-ttl', flags.leaseTtl, 2);
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  const log = createLogger(`engine ${id}`);
  const store = await openEtcdStore(flags);
  const { fatal, onFatal } = fatalSignal();
  const engine = new Engine({ store, id, leaseTtl, log, onFatal });
  await engine.start();
  const end = await untilSignalOrFatal(fatal);
  log.info('stopping', end.signal ? { signal: end.signal } : { error: end.fatal });
  await engine.stop();
  await store.close();
  // A permanent failure (credentials refused, ...) is never retried forever: say it, exit 1.
  if (end.fatal) throw new CliError(`engine stopped: ${end.fatal.message}`);
  return 0;
}
