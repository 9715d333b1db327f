/**
 * `gitfleet up` end to end, as the README tells a newcomer to use it: a real git repository (a
 * copy of units.example), a real private systemd, the CLI as a child process. Checked through
 * systemd itself (systemctl --user against the instance), not through gitfleet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, isActive, type PrivateSystemd } from '../support/systemd.js';
import { tempDir, TestRepo } from '../support/git.js';
import { stopUp } from '../support/stop-up.js';

const CLI = resolve('src/cli/main.ts');
const tmp = tempDir('gitfleet-up-');
let child: ChildProcess | null = null;
let instanceBase: string | null = null;
after(async () => {
  await stopUp(child, instanceBase, 10_000);
  tmp.cleanup();
});
process.on('exit', () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
});

test('up runs the example repo on a private systemd, follows commits, refuses a bad one, and Ctrl-C cleans up', {
  timeout: 120_000,
}, async () => {
  const repo = TestRepo.init(tmp.dir, 'units');
  cpSync('units.example', repo.dir, { recursive: true });
  repo.commit('example units');
  let stderr = '';
  const stateDir = join(tmp.dir, 'state');
  child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'up', '--repo', repo.dir, '--systemd', 'private', '--state-dir', stateDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  await eventually('up converges', () => /converged in \d+ ms/.test(stderr), 60_000);
  assert.match(stderr, /private systemd instance \(pid \d+\)/);

  // Find the instance up started, and ask systemd itself.
  const base = (instanceBase = join(stateDir, 'systemd'));
  const [name] = readdirSync(base);
  const inst = { runtimeDir: join(base, name!, 'rt') } as PrivateSystemd;
  const systemdPid = (JSON.parse(readFileSync(join(base, name!, 'systemd.json'), 'utf8')) as { pid: number }).pid;
  for (const u of [
    'hello.service',
    'web@1.service',
    'web@2.service',
    'web@3.service',
    'echo.socket',
    'cleanup.timer',
  ]) {
    assert.equal(await isActive(inst, u), 'active', u);
  }
  assert.equal(await isActive(inst, 'web-legacy.service'), 'inactive');
  assert.match(stdout, /hello\.service\s+launched\s+loaded\s+active\s+running/);
  // The live table follows the commit's rollout until its units are healthy (minHealthy, 10 s by default).
  assert.match(stdout, /rollout: +[0-9a-f]{12} progressing: \d+ healthy, \d+ updating, 0 pending, 0 failed/);
  assert.match(stdout, / {11}hello\.service added: \d\/1 healthy/);
  await eventually(
    'the table shows the rollout succeeded',
    () => /rollout: +[0-9a-f]{12} succeeded: /.test(stdout),
    30_000,
  );

  // Edit fleet.yaml and commit: hello goes from launched to loaded.
  const fy = readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8').replace(
    'hello.service: launched',
    'hello.service: loaded',
  );
  repo.commit('stop hello', { 'fleet.yaml': fy });
  await eventually(
    'hello stopped after the commit',
    async () => (await isActive(inst, 'hello.service')) === 'inactive',
    15_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- up's stderr:\n${stderr}`);
  });

  // A commit that does not lint is refused; what runs stays as it is.
  repo.commit('break web', { 'web@.service': '[Service]\nExecStart=/bin/true\nRestart=sometimes\n' });
  await eventually('the refusal is shown', () => /refused [0-9a-f]{12}: 1 error/.test(stderr), 15_000);
  assert.equal(await isActive(inst, 'web@1.service'), 'active');

  // Ctrl-C: units stop, the private systemd goes, exit 0.
  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.ok(
    !existsSync(`/proc/${systemdPid}`) ||
      /zombie|Z/.test(readFileSync(`/proc/${systemdPid}/stat`, 'utf8').split(' ')[2] ?? ''),
    'the private systemd is gone',
  );
});
