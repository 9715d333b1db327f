/** `gitfleet controller`: follow a branch and apply every new commit, until SIGINT/SIGTERM. */
import { Controller } from '../controller/controller.js';
import { loadCommitOrRefuse } from '../source/git.js';
import { createLogger } from '../log.js';
import { controllerMetrics } from '../metrics/controller.js';
import { openEtcdStore } from './common.js';
import { CliError, UsageError } from './errors.js';
import { defaultStateDir, readSecret, remoteAuth, type RepoFlags } from './apply.js';
import { serveMetricsFlag } from './metrics.js';
import { fatalSignal, untilSignalOrFatal } from './signals.js';
import { loadTrust } from './trust.js';

interface ControllerFlags extends RepoFlags {
  poll: string;
  listen?: string;
  webhookSecretFile?: string;
  metrics?: string;
}

export async function run(flags: ControllerFlags): Promise<number> {
  const poll = Number(flags.poll);
  if (!Number.isFinite(poll) || poll < 0) throw new UsageError(`--poll: "${flags.poll}" is not a number of seconds`);
  if (flags.listen && !flags.webhookSecretFile)
    throw new UsageError('--listen needs --webhook-secret-file: unsigned webhooks are not accepted');
  const secret = readSecret(flags.webhookSecretFile);
  const auth = remoteAuth(flags);
  const log = createLogger('controller');
  const metrics = await serveMetricsFlag(flags.metrics, log);
  const signatures = await loadTrust(flags, flags.repo);
  const store = await openEtcdStore(flags);
  const { fatal, onFatal } = fatalSignal();
  let controller: Controller;
  try {
    controller = new Controller({
      store,
      repo: flags.repo,
      branch: flags.branch,
      path: flags.path,
      stateDir: flags.stateDir ?? defaultStateDir(),
      load: loadCommitOrRefuse,
      pollSeconds: poll,
      listen: flags.listen,
      webhookSecret: secret,
      allowForcePush: flags.allowForcePush,
      onFatal,
      signatures,
      auth,
      log,
      ...(metrics ? { metrics: controllerMetrics(metrics.registry, log) } : {}),
    });
    await controller.start();
  } catch (e) {
    signatures?.close();
    await store.close();
    await metrics?.server.close();
    throw new CliError((e as Error).message);
  }
  const end = await untilSignalOrFatal(fatal);
  log.info('stopping', end.signal ? { signal: end.signal } : { error: end.fatal });
  await controller.stop();
  signatures?.close();
  await store.close();
  await metrics?.server.close();
  // A permanent failure (credentials refused, ...) is never retried forever: say it, exit 1.
  if (end.fatal) throw new CliError(`controller stopped: ${end.fatal.message}`);
  return 0;
}
