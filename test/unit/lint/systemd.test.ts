/**
 * `gitfleet lint --systemd`: systemd-analyze verify runs on the same unit files and its findings come
 * out in gitfleet's formats, at the file and line systemd names; without systemd-analyze the run
 * says so and fails instead of passing as if systemd agreed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintPaths } from '../../../src/cli/lint.js';
import { renderDiagnostics } from '../../../src/render/diagnostics.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-lint-systemd-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const UNITS = {
  'web.service': '[Service]\nExecStart=/bin/true\nFrobnicate=yes\n',
  'bad.service': '[Service]\nExecStart=/bin/true\nUser=a:b\n',
  'ok.service': '[Service]\nExecStart=/bin/true\n',
};

test('--systemd adds systemd-analyze verify findings at systemd file:line, in every format', () => {
  const dir = repo(UNITS);
  try {
    const { diagnostics: ds, files } = lintPaths([dir], { systemd: true });
    const sd = ds.filter((d) => d.rule === 'SYSTEMD');
    const unknown = sd.find((d) => d.file === join(dir, 'web.service') && d.line === 3);
    assert.ok(unknown, JSON.stringify(sd));
    assert.match(unknown.message, /^systemd-analyze verify: Unknown key 'Frobnicate'/);
    assert.equal(unknown.severity, 'warning');
    // The user name makes the unit unloadable: systemd's "bad unit file setting" is an error.
    assert.ok(
      sd.some((d) => d.file === join(dir, 'bad.service') && d.severity === 'error'),
      JSON.stringify(sd),
    );
    assert.ok(!sd.some((d) => d.file.endsWith('ok.service')));
    // gitfleet's own findings are still there, and without --systemd only they are.
    assert.ok(ds.some((d) => d.rule === 'KEY01' && d.file.endsWith('web.service')));
    assert.ok(!lintPaths([dir]).diagnostics.some((d) => d.rule === 'SYSTEMD'));

    const opts = { files, color: false, toolVersion: 'test' };
    const json = JSON.parse(renderDiagnostics(ds, 'json', opts)) as { diagnostics: { rule: string }[] };
    assert.ok(json.diagnostics.some((d) => d.rule === 'SYSTEMD'));
    const gh = renderDiagnostics(ds, 'github', opts);
    assert.match(gh, /::warning file=[^,]*web\.service,line=3,title=SYSTEMD::systemd-analyze verify: Unknown key/);
    const run = JSON.parse(renderDiagnostics(ds, 'sarif', opts)).runs[0];
    assert.ok(run.tool.driver.rules.some((r: { id: string }) => r.id === 'SYSTEMD'));
    assert.ok(run.results.some((r: { ruleId: string }) => r.ruleId === 'SYSTEMD'));

    // The command line: the flag reaches lintPaths, and systemd's error fails the run.
    const cli = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'lint', '--systemd', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(
      cli.stdout,
      new RegExp(`${join(dir, 'web.service')}:3: warning SYSTEMD systemd-analyze verify: Unknown`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--systemd without systemd-analyze says so and fails', () => {
  const dir = repo({ 'ok.service': UNITS['ok.service'] });
  const path = process.env.PATH;
  try {
    assert.deepEqual(lintPaths([dir]).diagnostics, []);
    process.env.PATH = '/nonexistent';
    const ds = lintPaths([dir], { systemd: true }).diagnostics;
    assert.equal(ds.length, 1);
    assert.equal(ds[0]!.severity, 'error');
    assert.match(ds[0]!.message, /^--systemd: cannot run systemd-analyze \(it is not installed on this machine\)/);
  } finally {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  }
  // The machine running this test does have it (the test above relies on it).
  assert.match(execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' }), /systemd 2\d\d/);
});

test('--systemd with drop-ins: systemd reads those beside the unit file, and its findings there are there', () => {
  const dir = repo({ 'web.service': '[Service]\nType=simple\n' });
  try {
    mkdirSync(join(dir, 'web.service.d'));
    writeFileSync(join(dir, 'web.service.d', '10-exec.conf'), '[Service]\nExecStart=/bin/true\nFrobnicate=yes\n');
    const { diagnostics: ds, files } = lintPaths([dir], { systemd: true });
    assert.equal(files, 2);
    const at = join(dir, 'web.service.d', '10-exec.conf');
    assert.deepEqual(
      ds.map((d) => [d.rule, d.file, d.line]).sort(),
      [
        ['KEY01', at, 3],
        ['SYSTEMD', at, 3],
      ],
      'no SVC01 from either: the drop-in gives the service its ExecStart=',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
