/**
 * `gitfleet lint --systemd`: systemd-analyze verify runs on the same unit files and its findings come
 * out in gitfleet's formats, at the file and line systemd names; without systemd-analyze the run
 * says so and fails instead of passing as if systemd agreed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

function gitfleet(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-lint-systemd-'));
  writeFileSync(join(dir, 'web.service'), '[Service]\nExecStart=/bin/true\nFrobnicate=yes\n');
  writeFileSync(join(dir, 'bad.service'), '[Service]\nExecStart=/bin/true\nUser=a:b\n');
  writeFileSync(join(dir, 'ok.service'), '[Service]\nExecStart=/bin/true\n');
  return dir;
}

test('--systemd adds systemd-analyze verify findings at systemd file:line, in every format', () => {
  const dir = repo();
  try {
    const json = gitfleet(['lint', '--systemd', '--format', 'json', dir]);
    assert.equal(json.code, 1, json.err);
    const ds = (
      JSON.parse(json.out) as {
        diagnostics: { file: string; line: number; rule: string; severity: string; message: string }[];
      }
    ).diagnostics;
    const sd = ds.filter((d) => d.rule === 'SYSTEMD');
    const unknown = sd.find((d) => d.file === join(dir, 'web.service') && d.line === 3);
    assert.ok(unknown, JSON.stringify(sd));
    assert.match(unknown.message, /Unknown key 'Frobnicate'/);
    assert.equal(unknown.severity, 'warning');
    // The user name makes the unit unloadable: systemd's "bad unit file setting" is an error.
    assert.ok(
      sd.some((d) => d.file === join(dir, 'bad.service') && d.severity === 'error'),
      JSON.stringify(sd),
    );
    assert.ok(!sd.some((d) => d.file.endsWith('ok.service')));
    // gitfleet's own findings are still there.
    assert.ok(ds.some((d) => d.rule === 'KEY01' && d.file.endsWith('web.service')));

    const text = gitfleet(['lint', '--systemd', dir]).out;
    assert.match(
      text,
      new RegExp(`${join(dir, 'web.service')}:3: warning SYSTEMD systemd-analyze verify: Unknown key`),
    );
    const gh = gitfleet(['lint', '--systemd', '--format', 'github', dir]).out;
    assert.match(gh, /::warning file=[^,]*web\.service,line=3,title=SYSTEMD::systemd-analyze verify: Unknown key/);
    const sarif = JSON.parse(gitfleet(['lint', '--systemd', '--format', 'sarif', dir]).out);
    const run = sarif.runs[0];
    assert.ok(run.tool.driver.rules.some((r: { id: string }) => r.id === 'SYSTEMD'));
    assert.ok(run.results.some((r: { ruleId: string }) => r.ruleId === 'SYSTEMD'));

    // Without --systemd, no SYSTEMD findings.
    assert.doesNotMatch(gitfleet(['lint', dir]).out, /SYSTEMD/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--systemd without systemd-analyze says so and fails', () => {
  const dir = repo();
  try {
    writeFileSync(join(dir, 'web.service'), '[Service]\nExecStart=/bin/true\n');
    writeFileSync(join(dir, 'bad.service'), '[Service]\nExecStart=/bin/true\n');
    assert.equal(gitfleet(['lint', dir]).code, 0);
    const r = gitfleet(['lint', '--systemd', dir], { ...process.env, PATH: '/nonexistent' });
    assert.equal(r.code, 1);
    assert.match(r.out, /error SYSTEMD --systemd: cannot run systemd-analyze \(it is not installed on this machine\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The machine running this test does have it (the test above relies on it).
  assert.match(execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' }), /systemd 2\d\d/);
});
