/**
 * Generates src/unit/keytable.generated.ts from the systemd installed on this machine:
 *
 *     /lib/systemd/systemd --dump-configuration-items
 *
 * That command prints every section and `Key=TYPE` that this systemd's unit-file parser knows. The
 * TYPE is systemd's own short name for the parser function behind the key (load-fragment.c maps
 * config_parse_bool -> BOOLEAN, config_parse_sec -> SECONDS, config_parse_service_restart ->
 * SERVICERESTART, ...; parsers without a short name print OTHER). The linter maps these names to
 * value validators (src/unit/lint/values.ts).
 *
 * Usage:
 *     npx tsx scripts/gen-keytable.ts          # rewrite the generated file
 *     npx tsx scripts/gen-keytable.ts --check  # exit 1 when the committed file is stale
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEMD = '/lib/systemd/systemd';
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'unit', 'keytable.generated.ts');

/** Parses the dump into section -> key -> type, in the order systemd prints them. */
export function parseDump(dump: string): Map<string, Map<string, string>> {
  const table = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of dump.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!;
      current = table.get(name) ?? new Map();
      table.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !current)
      throw new Error(`unexpected line in --dump-configuration-items output: ${JSON.stringify(line)}`);
    current.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return table;
}

function render(table: Map<string, Map<string, string>>, version: string): string {
  const out: string[] = [];
  out.push('// GENERATED FILE: do not edit. Regenerate with `npx tsx scripts/gen-keytable.ts`.');
  out.push(`// Source: \`${SYSTEMD} --dump-configuration-items\` of systemd ${version}.`);
  out.push("// Each section maps Key -> systemd's short type name of the key's parser function.");
  out.push('');
  out.push(`/** The systemd version whose --dump-configuration-items produced this table. */`);
  out.push(`export const KEYTABLE_SYSTEMD_VERSION = ${JSON.stringify(version)};`);
  out.push('');
  out.push('/** section -> key -> type (BOOLEAN, SECONDS, UNIT [...], OTHER, ...). */');
  out.push('export const KEY_TABLE: Readonly<Record<string, Readonly<Record<string, string>>>> = {');
  for (const [section, keys] of table) {
    out.push(`  ${section}: {`);
    for (const [key, type] of keys) out.push(`    ${key}: ${JSON.stringify(type)},`);
    out.push('  },');
  }
  out.push('};');
  out.push('');
  return out.join('\n');
}

function main(): void {
  const dump = execFileSync(SYSTEMD, ['--dump-configuration-items'], { encoding: 'utf8' });
  const versionLine = execFileSync(SYSTEMD, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  const version = versionLine.replace(/^systemd\s+/, '').trim();
  const text = render(parseDump(dump), version);
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OUT, 'utf8');
    } catch {
      // missing file counts as stale
    }
    if (current !== text) {
      console.error(`${OUT} is stale for systemd ${version}: run npx tsx scripts/gen-keytable.ts`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT} (systemd ${version})`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
