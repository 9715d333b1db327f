/** `--allowed-signers` / `--trusted-keys` (controller, apply, up, plan): load the trust files, or say why not. */
import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { TrustFileError, TrustPolicy } from '../source/signatures.js';
import { ToolMissingError } from '../util/exec.js';
import { UsageError } from './errors.js';

export interface TrustFlags {
  allowedSigners?: string;
  trustedKeys?: string;
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * The policy the flags ask for (undefined when neither is given). A trust file inside the local
 * repository it guards is refused: a commit could then change who may sign.
 */
export async function loadTrust(flags: TrustFlags, repo?: string): Promise<TrustPolicy | undefined> {
  if (!flags.allowedSigners && !flags.trustedKeys) return undefined;
  if (repo && !/^https?:\/\//i.test(repo)) {
    const root = real(repo) + sep;
    for (const [flag, file] of [
      ['--allowed-signers', flags.allowedSigners],
      ['--trusted-keys', flags.trustedKeys],
    ] as const) {
      if (file && real(file).startsWith(root))
        throw new UsageError(
          `${flag} ${file} is inside the repository it guards (${repo}): a commit could change who may sign; ` +
            'keep it outside, e.g. in /etc/gitfleet/',
        );
    }
  }
  try {
    return await TrustPolicy.load({ allowedSigners: flags.allowedSigners, trustedKeys: flags.trustedKeys });
  } catch (e) {
    if (e instanceof TrustFileError || e instanceof ToolMissingError) throw new UsageError(e.message);
    throw e;
  }
}
