/**
 * "up is reachable": while `gitfleet up` runs (a real private systemd with its journal), the CLI in
 * another process, in that repository and with no --etcd / $GITFLEET_ETCD, reaches its embedded
 * store through the socket in up's state dir: status, list-*, cat, journal, status UNIT. When no up
 * runs it says so plainly. Checked against systemd itself (systemctl --user on up's instance).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointSocket, upStateDirFor } from '../../src/cli/endpoint.js';
import { attachPrivateSystemd } from '../../src/systemd/private.js';
import { runAsync, gitfleetArgv } from '../support/cluster.js';
import { tempDir, TestRepo } from '../support/git.js';
import { stopUp } from '../support/stop-up.js';
import { eventually, showProperty, type PrivateSystemd } from '../support/systemd.js';

const tmp = tempDir('gitfleet-upep-');
const xdgState = join(tmp.dir, 'xdg-state');
/** The environment of every process here: one XDG_STATE_HOME, and no etcd named anywhere. */
const env = { NO_COLOR: '1', XDG_STATE_HOME: xdgState, GITFLEET_ETCD: '' };
// This process computes up's state dir the way the children do.
process.env.XDG_STATE_HOME = xdgState;

function gitfleet(cwd: string, ...args: string[]) {
  return runAsync(process.execPath, gitfleetArgv(args), { cwd, env });
}

describe('gitfleet up is reachable from other terminals', () => {
  let repo: TestRepo;
  let up: ChildProcess | null = null;
  let upErr = '';
  let stateDir: string;
  let inst: PrivateSystemd;

  before(async () => {
    repo = TestRepo.init(tmp.dir, 'units');
    repo.commit('units', {
      'fleet.yaml': 'units:\n  hello.service: launched\n',
      'hello.service': "[Service]\nExecStart=/bin/sh -c 'echo hello from up; exec sleep infinity'\n",
    });
    mkdirSync(join(repo.dir, 'sub', 'deeper'), { recursive: true });
    up = spawn(process.execPath, gitfleetArgv(['up', '--systemd', 'private']), {
      cwd: repo.dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.resume();
    up.stderr!.on('data', (d) => (upErr += d));
    await eventually('up converges', () => /converged in \d+ ms/.test(upErr), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${upErr}`);
    });
    stateDir = upStateDirFor(repo.dir);
    const base = join(stateDir, 'systemd');
    const [name] = readdirSync(base);
    inst = (await attachPrivateSystemd({ baseDir: base, name: name! }))!;
  });
  after(async () => {
    await stopUp(up, stateDir ? join(stateDir, 'systemd') : null);
    tmp.cleanup();
  });

  test('the endpoint is a socket in up state dir, in a directory only its owner may enter', () => {
    const sock = endpointSocket(stateDir);
    assert.ok(statSync(sock).isSocket());
    assert.equal(statSync(join(stateDir, 'endpoint')).mode & 0o777, 0o700);
  });

  test('status and the listings reach it, from the repository and from a directory inside it', async () => {
    for (const cwd of [repo.dir, join(repo.dir, 'sub', 'deeper')]) {
      const s = await gitfleet(cwd, 'status', '--format', 'json');
      assert.equal(s.code, 0, s.stderr);
      const status = JSON.parse(s.stdout);
      assert.equal(status.applied.commit, repo.git('rev-parse', 'HEAD'));
      assert.equal(status.machines, 1);
    }
    const units = JSON.parse((await gitfleet(repo.dir, 'list-units', '--format', 'json')).stdout);
    assert.equal(units.length, 1);
    assert.equal(units[0].unit, 'hello.service');
    assert.equal(units[0].active, await showProperty(inst, 'hello.service', 'ActiveState'));
    const files = JSON.parse((await gitfleet(repo.dir, 'list-unit-files', '--format', 'json')).stdout);
    assert.equal(files[0].unit, 'hello.service');
    const machines = await gitfleet(repo.dir, 'list-machines');
    assert.equal(machines.code, 0, machines.stderr);
    const cat = await gitfleet(repo.dir, 'cat', 'hello.service');
    assert.equal(cat.code, 0, cat.stderr);
    assert.match(cat.stdout, /ExecStart=\/bin\/sh -c 'echo hello from up; exec sleep infinity'/);
  });

  test('journal and status UNIT reach up agent: the unit lines and systemd main PID', async () => {
    const j = await gitfleet(repo.dir, 'journal', 'hello.service');
    assert.equal(j.code, 0, j.stderr);
    assert.match(j.stdout, /sh\[\d+\]: hello from up/);
    const s = await gitfleet(repo.dir, 'status', 'hello.service');
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, new RegExp(`Main PID: ${await showProperty(inst, 'hello.service', 'MainPID')}\\n`));
  });

  test('a second up on the same repository is refused before it touches anything', async () => {
    const second = await runAsync(process.execPath, gitfleetArgv(['up', '--systemd', 'private', '--once']), {
      cwd: repo.dir,
      env,
      timeoutMs: 60_000,
    });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /another gitfleet up \(pid \d+, running since [^)]+\) already runs with the state dir/);
    assert.equal(await showProperty(inst, 'hello.service', 'ActiveState'), 'active', 'the first one units run on');
  });

  test('with no up for the repository and no --etcd: said plainly, exit 1; after Ctrl-C too', async () => {
    const elsewhere = join(tmp.dir, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const r = await gitfleet(elsewhere, 'status');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no gitfleet up is running for this repository, and no --etcd given/);
    const exited = new Promise<number | null>((res) => up!.once('exit', (code) => res(code)));
    up!.kill('SIGINT');
    assert.equal(await exited, 0, upErr);
    assert.ok(!existsSync(endpointSocket(stateDir)), 'the socket went with up');
    const after = await gitfleet(repo.dir, 'list-units');
    assert.equal(after.code, 1);
    assert.match(after.stderr, /no gitfleet up is running for this repository, and no --etcd given/);
  });
});
