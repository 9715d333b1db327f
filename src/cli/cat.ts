/** `gitfleet cat UNIT`: the unit file as the cluster has it (canonical form). */
import { CliError } from './errors.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { readDesiredEntry, readRoot } from '../controller/apply.js';
import { readBody } from './view.js';

export async function run(unit: string, flags: StoreFlags): Promise<number> {
  const text = await withStore(
    flags,
    async (store) => {
      const { root } = await readRoot(store);
      if (!root) throw new CliError('nothing has been applied to this cluster yet');
      const entry = await readDesiredEntry(store, root, unit);
      if (!entry) throw new CliError(`unit ${unit} is not in the applied commit ${root.commit.slice(0, 12)}`);
      const body = await readBody(store, entry.hash);
      if (body === null) throw new CliError(`unit ${unit}: body ${entry.hash.slice(0, 12)} is missing from the store`);
      return body;
    },
    { up: true },
  );
  writeOut(text);
  return 0;
}
