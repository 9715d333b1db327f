/**
 * `gitfleet cat UNIT`: the unit file as the cluster has it (canonical form), with its drop-ins after
 * it as `systemctl cat` shows them. A template is not a unit of its own in the cluster; its
 * instances carry its content, so `cat web@.service` shows the content most of its instances run.
 */
import { CliError } from './errors.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { readBody, readDesiredEntries, readDesiredEntry, readRoot } from '../store/readers.js';
import { renderUnitFiles } from '../unit/body.js';
import { isTemplate, templateOf, withDefaultSuffix } from '../unit/names.js';
import type { DesiredEntry, DesiredRoot } from '../store/keys.js';
import type { Store } from '../store/store.js';

interface CatFlags extends StoreFlags {
  format?: 'text' | 'json';
}

interface Found {
  hash: string;
  /** For a template: the instances that run this content. */
  instances?: string[];
  /** For a template: instances with a unit file of their own (other content). */
  ownFiles?: string[];
}

/** A template's content: what most of its instances run (an instance with its own file differs). */
async function findTemplate(store: Store, root: DesiredRoot, template: string): Promise<Found | null> {
  const byHash = new Map<string, string[]>();
  for (const u of await readDesiredEntries(store, root)) {
    if (templateOf(u.name) !== template) continue;
    byHash.set(u.hash, [...(byHash.get(u.hash) ?? []), u.name]);
  }
  const groups = [...byHash].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
  if (!groups.length) return null;
  const [hash, instances] = groups[0]!;
  return { hash, instances, ownFiles: groups.slice(1).flatMap(([, names]) => names) };
}

export async function run(unitArg: string, flags: CatFlags): Promise<number> {
  const unit = withDefaultSuffix(unitArg);
  const { found, body } = await withStore(
    flags,
    async (store) => {
      const { root } = await readRoot(store);
      if (!root) throw new CliError('nothing has been applied to this cluster yet');
      const entry: DesiredEntry | null = await readDesiredEntry(store, root, unit);
      const found: Found | null = entry
        ? { hash: entry.hash }
        : isTemplate(unit)
          ? await findTemplate(store, root, unit)
          : null;
      if (!found) {
        const what = isTemplate(unit) ? `template ${unit} has no instances` : `unit ${unit} is not`;
        throw new CliError(`${what} in the applied commit ${root.commit.slice(0, 12)}`);
      }
      const body = await readBody(store, found.hash);
      if (body === null) throw new CliError(`unit ${unit}: body ${found.hash.slice(0, 12)} is missing from the store`);
      return { found, body };
    },
    { up: true },
  );
  if (flags.format === 'json') {
    const out: Record<string, unknown> = { unit, hash: found.hash, content: body.unit };
    if (body.dropIns.length) out.dropIns = body.dropIns;
    if (found.instances) out.instances = found.instances;
    writeOut(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  if (found.ownFiles?.length)
    process.stderr.write(`gitfleet: ${found.ownFiles.join(', ')} run their own unit files, not this template\n`);
  writeOut(renderUnitFiles(unit, body));
  return 0;
}
