/**
 * The copyable CI workflows in docs/workflows: gitfleet is not on the npm registry, so no step may
 * install it from there; each builds it from a clone (outside the workspace) and installs the
 * tarball `npm pack` made. And the project has the license its package.json names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';

const DIR = 'docs/workflows';
type Step = { name?: string; run?: string; env?: Record<string, string> };
type Workflow = { jobs: Record<string, { steps: Step[] }> };

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yml'))) {
  test(`${file}: gitfleet is built from its source and installed from the packed tarball, never the registry`, () => {
    const text = readFileSync(join(DIR, file), 'utf8');
    // Commented-out jobs count too: a user uncommenting them must not hit a missing package.
    for (const line of text.split('\n')) {
      assert.doesNotMatch(line, /npm (install|i)\b[^\n]*\sgitfleet(@|\s|$)/, `${file}: ${line.trim()}`);
      assert.doesNotMatch(line, /npx (--yes )?gitfleet/, `${file}: ${line.trim()}`);
    }
    const wf = yaml.load(text) as Workflow;
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    const install = steps.find((s) => s.name === 'Install gitfleet');
    assert.ok(install?.run, `${file} has an "Install gitfleet" step`);
    assert.match(install.run, /git (-c \S+ )?clone [^\n]*"\$GITFLEET_GIT" "\$RUNNER_TEMP\/gitfleet"/);
    assert.match(install.run, /npm ci/);
    assert.match(install.run, /npm pack/);
    assert.match(install.run, /npm install --global [^\n]*\.\/gitfleet-\*\.tgz/);
    assert.ok(install.env?.GITFLEET_GIT && install.env.GITFLEET_REF, 'the source and version are set in one place');
    // The script is valid shell.
    execFileSync('bash', ['-n'], { input: install.run });
  });
}

test('LICENSE holds the Apache License 2.0 that package.json names, in full', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { license: string };
  assert.equal(pkg.license, 'Apache-2.0');
  const text = readFileSync('LICENSE', 'utf8');
  assert.match(text, /^\s*Apache License\s+Version 2\.0, January 2004/);
  assert.match(text, /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/);
  assert.match(text, /9\. Accepting Warranty or Additional Liability\./);
  assert.match(text, /END OF TERMS AND CONDITIONS/);
});
