/** `gitfleet ui`: the read-only web UI (and /metrics) for a cluster, until SIGINT/SIGTERM. */
import { parseListen } from '../controller/webhook.js';
import { createLogger } from '../log.js';
import { startUiServer, UiConfigError } from '../ui/server.js';
import { readSecret } from './apply.js';
import { etcdDisplay, openEtcdStore, type StoreFlags } from './common.js';
import { CliError, UsageError } from './errors.js';
import { untilSignal } from './signals.js';

interface UiFlags extends StoreFlags {
  listen: string;
  tokenFile?: string;
}

export async function run(flags: UiFlags): Promise<number> {
  try {
    parseListen(flags.listen);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const token = readSecret(flags.tokenFile, '--token-file');
  const log = createLogger('ui');
  const store = await openEtcdStore(flags);
  let ui: Awaited<ReturnType<typeof startUiServer>>;
  try {
    ui = await startUiServer({ store, listen: flags.listen, token, log });
  } catch (e) {
    await store.close();
    if (e instanceof UiConfigError) throw new UsageError(e.message);
    throw new CliError((e as Error).message);
  }
  process.stdout.write(`gitfleet ui: ${ui.url} (cluster at ${etcdDisplay(flags)})\n`);
  if (ui.state.error) process.stderr.write(`gitfleet ui: cannot read the cluster yet (retrying): ${ui.state.error}\n`);
  const sig = await untilSignal();
  log.info('stopping', { signal: sig });
  await ui.close();
  await store.close();
  return 0;
}
