/** `gitfleet apply`: one controller pass, then exit. 0 applied or unchanged, 1 refused. */
import { readFileSync } from 'node:fs';
import { Controller } from '../controller/controller.js';
import { loadCommit } from '../controller/load.js';
import { createLogger } from '../log.js';
import { CliError } from './errors.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { defaultStateDir } from './state-dir.js';

export interface RepoFlags extends StoreFlags {
  repo: string;
  branch?: string;
  path?: string;
  stateDir?: string;
  allowForcePush?: boolean;
}

export { defaultStateDir } from './state-dir.js';

export function readSecret(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let s: string;
  try {
    s = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new CliError(
      `--webhook-secret-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!s) throw new CliError(`--webhook-secret-file: ${file} is empty`);
  return s;
}

export async function run(flags: RepoFlags): Promise<number> {
  const log = createLogger('apply');
  return withStore(flags, async (store) => {
    let controller: Controller;
    try {
      controller = new Controller({
        store,
        repo: flags.repo,
        branch: flags.branch,
        path: flags.path,
        stateDir: flags.stateDir ?? defaultStateDir(),
        load: loadCommit,
        allowForcePush: flags.allowForcePush,
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
        for (const d of out.diagnostics)
          process.stderr.write(`${d.file}:${d.line}:${d.column}: ${d.severity} ${d.rule} ${d.message}\n`);
        return 1;
    }
  });
}
