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
 *     npx tsx scripts/gen-keytable.ts --parsers SRC   # also write src/unit/lint/parsers.generated.ts
 *
 * The dump's short type names do not tell every parser apart (317 keys print OTHER), so the linter
 * also has the exact parser function (and its `ltype` argument) of every key, read from systemd's
 * source, SRC/src/core/load-fragment-gperf.gperf.in. SRC is the source of the systemd that is
 * installed: on Debian, `apt-get source --download-only systemd` (with a deb-src line for the
 * release) and `tar xf systemd_*.orig.tar.gz`. The template's `{% if %}` blocks are resolved with
 * the features this systemd was built with (`systemd --version`: +SECCOMP, +PAM, ...).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEMD = '/lib/systemd/systemd';
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'unit', 'keytable.generated.ts');
const PARSERS_OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'unit', 'lint', 'parsers.generated.ts');

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

/** A generated module: three header comment lines, a version constant and a section -> key table. */
function renderTable(
  header: readonly string[],
  version: { name: string; doc: string; value: string },
  table: { name: string; doc: string; rows: Map<string, Map<string, string>> },
): string {
  const out: string[] = [...header.map((l) => `// ${l}`), ''];
  out.push(`/** ${version.doc} */`);
  out.push(`export const ${version.name} = ${JSON.stringify(version.value)};`);
  out.push('');
  out.push(`/** ${table.doc} */`);
  out.push(`export const ${table.name}: Readonly<Record<string, Readonly<Record<string, string>>>> = {`);
  for (const [section, keys] of table.rows) {
    out.push(`  ${section}: {`);
    for (const [key, value] of keys) out.push(`    ${key}: ${JSON.stringify(value)},`);
    out.push('  },');
  }
  out.push('};');
  out.push('');
  return out.join('\n');
}

function render(table: Map<string, Map<string, string>>, version: string): string {
  return renderTable(
    [
      'GENERATED FILE: do not edit. Regenerate with `npx tsx scripts/gen-keytable.ts`.',
      `Source: \`${SYSTEMD} --dump-configuration-items\` of systemd ${version}.`,
      "Each section maps Key -> systemd's short type name of the key's parser function.",
    ],
    {
      name: 'KEYTABLE_SYSTEMD_VERSION',
      doc: 'The systemd version whose --dump-configuration-items produced this table.',
      value: version,
    },
    { name: 'KEY_TABLE', doc: 'section -> key -> type (BOOLEAN, SECONDS, UNIT [...], OTHER, ...).', rows: table },
  );
}

/** The build features `{% if NAME %}` tests, from `systemd --version`'s +/- list. */
function features(versionText: string): Set<string> {
  const on = new Set<string>();
  for (const m of versionText.matchAll(/\+([A-Z0-9_]+)/g)) {
    on.add(`HAVE_${m[1]}`);
    on.add(`ENABLE_${m[1]}`);
  }
  return on;
}

/**
 * Expands load-fragment-gperf.gperf.in (its three macros and `{% if %}` blocks) into
 * section -> key -> "parser ltype" (config_parse_ dropped; ltype only when it is not 0).
 */
export function parseGperf(text: string, on: ReadonlySet<string>): Map<string, Map<string, string>> {
  const macros = new Map<string, string[]>();
  const lines = text.split('\n');
  const body: string[] = [];
  let inMacro: string | null = null;
  for (const line of lines) {
    const start = /^\{%-? macro (\w+)\(type\) -?%\}/.exec(line);
    if (start) {
      inMacro = start[1]!;
      macros.set(inMacro, []);
      continue;
    }
    if (/^\{%-? endmacro -?%\}/.test(line)) {
      inMacro = null;
      continue;
    }
    (inMacro ? macros.get(inMacro)! : body).push(line);
  }
  const out = new Map<string, Map<string, string>>();
  const emit = (src: readonly string[], type: string | null) => {
    const stack: boolean[] = [];
    const active = () => stack.every(Boolean);
    for (const raw of src) {
      const line = type ? raw.replaceAll('{{type}}', type) : raw;
      const cond = /^\{% if (\w+) %\}/.exec(line);
      if (cond) {
        stack.push(on.has(cond[1]!));
        continue;
      }
      if (/^\{% else %\}/.test(line)) {
        stack.push(!stack.pop());
        continue;
      }
      if (/^\{% endif %\}/.test(line)) {
        stack.pop();
        continue;
      }
      if (!active()) continue;
      const call = /^\{\{ (\w+)\('(\w+)'\) \}\}/.exec(line);
      if (call) {
        emit(macros.get(call[1]!) ?? [], call[2]!);
        continue;
      }
      const m = /^([A-Za-z]+)\.([A-Za-z0-9]+),\s*([A-Za-z0-9_]+),\s*([^,]+),/.exec(line);
      if (!m) continue;
      const [, section, key, fn, ltype] = m as unknown as [string, string, string, string, string];
      const parser = fn.replace(/^config_parse_/, '') + (ltype.trim() === '0' ? '' : ` ${ltype.trim()}`);
      const keys = out.get(section) ?? new Map<string, string>();
      keys.set(key, parser);
      out.set(section, keys);
    }
  };
  emit(body.slice(body.indexOf('%%') + 1), null);
  return out;
}

function renderParsers(table: Map<string, Map<string, string>>, version: string): string {
  return renderTable(
    [
      'GENERATED FILE: do not edit. Regenerate with `npx tsx scripts/gen-keytable.ts --parsers SRC`.',
      `Source: src/core/load-fragment-gperf.gperf.in of systemd ${version}, expanded for this build.`,
      "Each section maps Key -> systemd's parser function without config_parse_, then its ltype if not 0.",
    ],
    { name: 'PARSERS_SYSTEMD_VERSION', doc: 'The systemd version whose source produced this table.', value: version },
    {
      name: 'PARSER_TABLE',
      doc: 'section -> key -> "parser[ ltype]" (bool, rlimit RLIMIT_NOFILE, set_status, ...).',
      rows: table,
    },
  );
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
  const at = process.argv.indexOf('--parsers');
  if (at > 0) {
    const src = process.argv[at + 1];
    if (!src) throw new Error('--parsers needs the systemd source directory');
    const versionText = execFileSync(SYSTEMD, ['--version'], { encoding: 'utf8' });
    const gperf = readFileSync(join(src, 'src', 'core', 'load-fragment-gperf.gperf.in'), 'utf8');
    writeFileSync(PARSERS_OUT, renderParsers(parseGperf(gperf, features(versionText)), version));
    console.log(`wrote ${PARSERS_OUT}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
