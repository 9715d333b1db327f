/** `gitfleet apply`: one controller pass, then exit. 0 applied or unchanged, 1 refused. */
import fs, { readFileSync } from 'node:fs';
import type { RemoteAuth } from '../source/location.js';
import { Controller } from '../controller/controller.js';
import { loadCommitOrRefuse } from '../source/git.js';
import { createLogger } from '../log.js';
import { CliError } from './errors.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { loadTrust, type TrustFlags } from './trust.js';
import { diagnosticLine } from '../render/diagnostics.js';
import { defaultStateDir } from './state-dir.js';

export interface RepoFlags extends StoreFlags, TrustFlags {
  repo: string;
  branch?: string;
  path?: string;
  stateDir?: string;
  allowForcePush?: boolean;
  sshKey?: string;
  sshKnownHosts?: string;
  gitCredentials?: string;
}

/** The remote's credentials, from flags or else the environment; each file must be readable. */
export function remoteAuth(flags: RepoFlags): RemoteAuth {
  const pick = (flag: string, value: string | undefined, env: string): string | undefined => {
    const file = value ?? (process.env[env] || undefined);
    if (file === undefined) return undefined;
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      const from = value === undefined ? `$${env}` : flag;
      throw new CliError(`${from}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return file;
  };
  return {
    key: pick('--ssh-key', flags.sshKey, 'GITFLEET_SSH_KEY'),
    knownHosts: pick('--ssh-known-hosts', flags.sshKnownHosts, 'GITFLEET_SSH_KNOWN_HOSTS'),
    credentialsFile: pick('--git-credentials', flags.gitCredentials, 'GITFLEET_GIT_CREDENTIALS'),
  };
}

export { defaultStateDir } from './state-dir.js';

export function readSecret(file: string | undefined, flag = '--webhook-secret-file'): string | undefined {
  if (file === undefined) return undefined;
  let s: string;
  try {
    s = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new CliError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!s) throw new CliError(`${flag}: ${file} is empty`);
  return s;
}

export async function run(flags: RepoFlags): Promise<number> {
  const log = createLogger('apply');
  const signatures = await loadTrust(flags, flags.repo);
  return withStore(flags, async (store) => {
    let controller: Controller;
    try {
      controller = new Controller({
        store,
        repo: flags.repo,
        branch: flags.branch,
        path: flags.path,
        stateDir: flags.stateDir ?? defaultStateDir(),
        load: loadCommitOrRefuse,
        allowForcePush: flags.allowForcePush,
        signatures,
        auth: remoteAuth(flags),
        log,
      });
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    let out: Awaited<ReturnType<typeof controller.pass>>;
    try {
      out = await controller.pass();
    } catch (e) {
      const { StoreUnavailableError } = await import('../store/store.js');
      if (e instanceof StoreUnavailableError) throw e;
      throw new CliError((e as Error).message);
    } finally {
      signatures?.close();
    }
    switch (out.kind) {
      case 'applied':
        writeOut(`applied ${out.commit} (${out.writes} writes)\n`);
        return 0;
      case 'unchanged':
        writeOut(`unchanged: ${out.commit} is already applied\n`);
        return 0;
      case 'no-branch':
        throw new CliError(`${flags.repo}: branch ${out.branch} does not exist`);
      case 'refused':
        process.stderr.write(`gitfleet: refused ${out.commit}: ${out.reason}\n`);
        for (const d of out.diagnostics) process.stderr.write(`${diagnosticLine(d)}\n`);
        return 1;
    }
  });
}
