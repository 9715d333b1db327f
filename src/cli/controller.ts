/** `gitfleet controller`: follow a branch and apply every new commit, until SIGINT/SIGTERM. */
import { Controller } from '../controller/controller.js';
import { loadCommit } from '../controller/load.js';
import { createLogger } from '../log.js';
import { openEtcdStore } from './common.js';
import { CliError, UsageError } from './errors.js';
import { defaultStateDir, readSecret, remoteAuth, type RepoFlags } from './apply.js';
import { untilSignal } from './signals.js';

interface ControllerFlags extends RepoFlags {
  poll: string;
  listen?: string;
  webhookSecretFile?: string;
}

export async function run(flags: ControllerFlags): Promise<number> {
  const poll = Number(flags.poll);
  if (!Number.isFinite(poll) || poll < 0) throw new UsageError(`--poll: "${flags.poll}" is not a number of seconds`);
  if (flags.listen && !flags.webhookSecretFile)
    throw new UsageError('--listen needs --webhook-secret-file: unsigned webhooks are not accepted');
  const secret = readSecret(flags.webhookSecretFile);
  const auth = remoteAuth(flags);
  const log = createLogger('controller');
  const store = await openEtcdStore(flags);
  let controller: Controller;
  try {
    controller = new Controller({
      store,
      repo: flags.repo,
      branch: flags.branch,
      path: flags.path,
      stateDir: flags.stateDir ?? defaultStateDir(),
      load: loadCommit,
      pollSeconds: poll,
      listen: flags.listen,
      webhookSecret: secret,
      allowForcePush: flags.allowForcePush,
      auth,
      log,
    });
    await controller.start();
  } catch (e) {
    await store.close();
    throw new CliError((e as Error).message);
  }
  const sig = await untilSignal();
  log.info('stopping', { signal: sig });
  await controller.stop();
  await store.close();
  return 0;
}
