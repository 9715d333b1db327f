/**
 * A corpus of our own making that pins the value grammars of resource control, resource limits,
 * exit statuses and the other parser-keyed checks (test/unit/lint/resources/: one behaviour per
 * file, right and wrong values, `# expect:` header as in corpus/). Written from systemd's parsers
 * and man pages, not from the validators' own samples (values.test.ts), so it is held out from them.
 *
 * For every file: systemd's verdict (support/judge.ts) and the header agree (a file expecting
 * `none` is accepted by systemd, a file expecting a rule is flagged by it), gitfleet reports the
 * expected rules (warning or error) and nothing else that counts, and never an error where systemd
 * is silent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintUnitFile } from '../../../src/unit/lint/index.js';
import { loadCorpus } from './support/corpus.js';
import { judgeFiles } from './support/judge.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'resources');

test('resource-control and exit-status values: gitfleet, the header and systemd agree on every file', async () => {
  const files = loadCorpus(DIR).flatMap((c) => c.files);
  assert.ok(files.length >= 60, `only ${files.length} files`);
  const systemd = await judgeFiles(files.map((f) => ({ path: f.path, user: false, install: false })));
  const wrong: string[] = [];
  let flagged = 0;
  for (const f of files) {
    const said = systemd.get(f.path)!;
    const ours = lintUnitFile(f.name, f.content, { file: f.id }).diagnostics.filter((d) => d.severity !== 'info');
    const rules = new Set(ours.map((d) => d.rule));
    if (said.length > 0) flagged++;
    if (f.expect.length === 0) {
      if (said.length > 0) wrong.push(`${f.id}: expects none, but systemd says ${JSON.stringify(said)}`);
      if (ours.length > 0) wrong.push(`${f.id}: expects none, gitfleet says ${ours.map((d) => d.rule).join(' ')}`);
      continue;
    }
    if (said.length === 0) wrong.push(`${f.id}: expects ${f.expect.join(' ')}, but systemd accepts it`);
    for (const r of f.expect) if (!rules.has(r)) wrong.push(`${f.id}: expects ${r}, gitfleet says ${[...rules]}`);
    for (const r of rules) if (!f.expect.includes(r)) wrong.push(`${f.id}: unexpected ${r}`);
  }
  console.log(`# resources: ${files.length} files, systemd flags ${flagged}, accepts ${files.length - flagged}`);
  assert.deepEqual(wrong, []);
  assert.deepEqual(systemd.get(''), []);
});
