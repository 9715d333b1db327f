import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { RULES } from '../../../src/unit/lint/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('docs/lint.md documents every rule of the registry, with its severity', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'lint.md'), 'utf8');
  const sev = { error: 'E', warning: 'W', info: 'I' } as const;
  for (const r of RULES) {
    if (r.id.startsWith('YML')) {
      assert.ok(doc.includes(r.id.slice(0, 3)), `${r.id} not mentioned`);
      continue;
    }
    const row = new RegExp(`^\\| ${r.id} \\| ${sev[r.severity]} \\|`, 'm');
    assert.match(doc, row, `docs/lint.md has no row for ${r.id} (${sev[r.severity]})`);
  }
});

test('the copyable workflow is valid YAML that runs gitfleet lint --format github on pull requests', () => {
  const wf = yaml.load(readFileSync(join(ROOT, 'docs', 'workflows', 'gitfleet-lint.yml'), 'utf8')) as {
    on: Record<string, unknown>;
    jobs: Record<string, { steps: { run?: string }[] }>;
  };
  assert.ok('pull_request' in wf.on);
  const runs = Object.values(wf.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
  assert.ok(runs.some((r) => /gitfleet lint --format github/.test(r)));
});
