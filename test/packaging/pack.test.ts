/**
 * `npm pack` makes a tarball that installs with no registry at all (its dependencies are bundled,
 * dist/ is built by prepack), and the `gitfleet` it installs runs. Checked with an empty npm cache
 * and --offline into a temporary prefix, as a machine with no network would install it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { PROJECT_ROOT, runAsync } from '../support/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'gitfleet-pack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm pack, then npm install -g --offline from the tarball alone: gitfleet runs', {
  timeout: 600_000,
}, async () => {
  const pack = await runAsync('npm', ['pack', '--pack-destination', dir], { timeoutMs: 300_000 });
  assert.equal(pack.code, 0, pack.stderr);
  const [tgz] = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
  assert.ok(tgz, 'a tarball');
  const files = execFileSync('tar', ['tzf', join(dir, tgz)], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
  for (const f of [
    'package/dist/src/cli/main.js',
    'package/packaging/systemd/gitfleet-agent.service',
    'package/packaging/systemd/gitfleet-engine.service',
    'package/packaging/systemd/gitfleet-controller.service',
    'package/docs/install.md',
    'package/node_modules/etcd3/package.json',
    'package/node_modules/dbus-next/package.json',
  ])
    assert.ok(files.includes(f), `${f} is in the tarball`);
  assert.ok(
    !files.some((f) => /node_modules\/(typescript|tsx|@biomejs|playwright-core)\//.test(f)),
    'no dev dependency',
  );
  // The web UI's page (plain HTML, CSS and JS) is served from src/ui/static: the one part of src/ shipped.
  const source = (f: string) => f.startsWith('package/src/') && !f.startsWith('package/src/ui/static/');
  assert.ok(!files.some((f) => f.startsWith('package/test/') || source(f)), 'no sources or tests');

  const prefix = join(dir, 'prefix');
  const install = await runAsync(
    'npm',
    [
      'install',
      '-g',
      '--offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--cache',
      join(dir, 'empty-cache'),
      '--prefix',
      prefix,
      join(dir, tgz),
    ],
    { timeoutMs: 300_000 },
  );
  assert.equal(install.code, 0, install.stderr);
  const bin = join(prefix, 'bin/gitfleet');
  assert.ok(existsSync(bin));
  assert.ok(realpathSync(bin).startsWith(realpathSync(prefix)), 'the installed copy, not the source tree');
  const version = await runAsync(bin, ['--version'], { cwd: dir });
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^gitfleet version \d+\.\d+\.\d+/);
  // It does real work from the installed files: lint the example repository.
  const lint = await runAsync(bin, ['lint', join(PROJECT_ROOT, 'units.example')], { cwd: dir });
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  assert.match(lint.stdout, /files checked, no problems/);
});
