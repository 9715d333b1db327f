/**
 * Every regular unit file systemd ships on this machine lints without an error. Drop-in `.conf`
 * files (in `*.d/` directories) and symlinks (aliases, masks) are excluded: they are not unit files
 * of their own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lintUnitFile } from '../../../src/unit/lint/index.js';
import { unitType } from '../../../src/unit/names.js';

const DIRS = ['/usr/lib/systemd/system', '/usr/lib/systemd/user'];

function shippedUnitFiles(): string[] {
  const out: string[] = [];
  for (const dir of DIRS) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (!st.isFile() || unitType(name) === null) continue;
      out.push(path);
    }
  }
  return out;
}

test('every regular unit file shipped in /usr/lib/systemd/{system,user} gets no error', () => {
  const files = shippedUnitFiles();
  assert.ok(files.length >= 100, `only ${files.length} unit files found`);
  const errors: string[] = [];
  let warnings = 0;
  for (const path of files) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const { diagnostics } = lintUnitFile(name, readFileSync(path), { file: path });
    for (const d of diagnostics) {
      if (d.severity === 'error') errors.push(`${d.file}:${d.line}:${d.column}: ${d.rule} ${d.message}`);
      if (d.severity === 'warning') warnings++;
    }
  }
  console.log(`# ${files.length} shipped unit files: ${errors.length} errors, ${warnings} warnings`);
  assert.deepEqual(errors, []);
});
