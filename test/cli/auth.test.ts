/**
 * `gitfleet auth setup` / `gitfleet auth add-machine` as a user runs them (child processes, a real
 * etcd), and the components' flags that use what they write (`--etcd-user` with
 * `--etcd-password-file`).
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gitfleetArgv, runAsync, type CommandResult } from '../support/cluster.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { tempDir, TestRepo } from '../support/git.js';

const tmp = tempDir('gitfleet-cli-auth-');
const creds = join(tmp.dir, 'creds');
const rootPw = join(tmp.dir, 'root.password');
let etcd: EtcdCluster;

before(async () => {
  etcd = await startEtcd();
  writeFileSync(rootPw, 'root-secret\n', { mode: 0o600 });
});
after(async () => {
  await etcd?.stop();
  tmp.cleanup();
});

function gitfleet(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return runAsync(process.execPath, gitfleetArgv([...args, '--etcd', etcd.endpoints[0]!]), {
    env: { NO_COLOR: '1', GITFLEET_ETCD: '', GITFLEET_ETCD_ROOT_PASSWORD: '', GITFLEET_ETCD_PASSWORD: '', ...env },
  });
}

const as = (user: string) => ['--etcd-user', user, '--etcd-password-file', join(creds, `${user}.password`)];
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+\)?\n/, `a stack trace was printed:\n${s}`);

describe('gitfleet auth', () => {
  test('setup makes the users, 0600 password files, turns auth on; run again, it changes nothing', async () => {
    const r = await gitfleet(['auth', 'setup', '--root-password-file', rootPw, '--credentials-dir', creds]);
    assert.equal(r.code, 0, r.stderr);
    for (const user of ['gitfleet-controller', 'gitfleet-engine', 'gitfleet-viewer', 'gitfleet-operator']) {
      assert.match(r.stdout, new RegExp(`${user}: created; password in ${join(creds, `${user}.password`)}`));
      assert.equal(statSync(join(creds, `${user}.password`)).mode & 0o777, 0o600);
    }
    assert.match(r.stdout, /gitfleet controller --etcd-user gitfleet-controller --etcd-password-file /);
    assert.match(r.stdout, /auth: turned on/);
    assert.doesNotMatch(r.stdout, new RegExp(readFileSync(join(creds, 'gitfleet-engine.password'), 'utf8').trim()));
    const pw = readFileSync(join(creds, 'gitfleet-controller.password'), 'utf8');

    const again = await gitfleet(['auth', 'setup', '--credentials-dir', creds], {
      GITFLEET_ETCD_ROOT_PASSWORD: 'root-secret',
    });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((again.stdout.match(/: unchanged;/g) ?? []).length, 4);
    assert.match(again.stdout, /auth: already on/);
    assert.equal(readFileSync(join(creds, 'gitfleet-controller.password'), 'utf8'), pw);

    const m = await gitfleet(['auth', 'add-machine', 'm1', '--root-password-file', rootPw, '--credentials-dir', creds]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /gitfleet agent --etcd-user gitfleet-machine-m1 --etcd-password-file /);
  });

  test('each credential works where it should and etcd refuses it elsewhere', async () => {
    const repo = TestRepo.init(tmp.dir, 'units');
    repo.commit('initial', { 'fleet.yaml': 'allowEmpty: true\n' });
    const anon = await gitfleet(['list-machines']);
    assert.equal(anon.code, 1);
    noStack(anon.stderr);
    assert.equal(anon.stderr.trim().split('\n').length, 1, anon.stderr);
    assert.match(anon.stderr, /has auth on and this client named no user: give --etcd-user/);

    const applyAs = (user: string) =>
      gitfleet(['apply', '--repo', repo.dir, '--state-dir', join(tmp.dir, 's'), ...as(user)]);
    const asMachine = await applyAs('gitfleet-machine-m1');
    assert.equal(asMachine.code, 1, "a machine's credentials cannot apply a commit");
    noStack(asMachine.stderr);
    assert.match(asMachine.stderr, /denied permission/);

    const asController = await applyAs('gitfleet-controller');
    assert.equal(asController.code, 0, asController.stderr);

    const status = await gitfleet(['status', '--format', 'json', ...as('gitfleet-viewer')]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { applied: { commit: string } }).applied.commit, repo.head());

    const viaEnv = await gitfleet(['list-unit-files', '--etcd-user', 'gitfleet-viewer'], {
      GITFLEET_ETCD_PASSWORD: readFileSync(join(creds, 'gitfleet-viewer.password'), 'utf8').trim(),
    });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);

    const pauseAsViewer = await gitfleet(['rollout', 'pause', ...as('gitfleet-viewer')]);
    assert.equal(pauseAsViewer.code, 1, 'a viewer cannot pause rollouts');
    noStack(pauseAsViewer.stderr);
    assert.match(pauseAsViewer.stderr, /denied permission/);
    const pause = await gitfleet(['rollout', 'pause', ...as('gitfleet-operator')]);
    assert.equal(pause.code, 0, pause.stderr);
    const resume = await gitfleet(['rollout', 'resume', ...as('gitfleet-operator')]);
    assert.equal(resume.code, 0, resume.stderr);
  });

  test('bad input: a usage error (exit 2) or a clear refusal (exit 1), one line, no stack trace', async () => {
    const cases: [string[], NodeJS.ProcessEnv, number, RegExp][] = [
      [['auth', 'setup', '--credentials-dir', creds], {}, 2, /root password is needed: give --root-password-file/],
      [
        ['auth', 'add-machine', 'no/slash', '--root-password-file', rootPw, '--credentials-dir', creds],
        {},
        2,
        /machine id "no\/slash" must be/,
      ],
      [
        ['auth', 'setup', '--credentials-dir', creds],
        { GITFLEET_ETCD_ROOT_PASSWORD: 'wrong' },
        1,
        /refused the root password/,
      ],
      [
        ['auth', 'setup', '--root-password-file', join(tmp.dir, 'nope'), '--credentials-dir', creds],
        {},
        2,
        /--root-password-file: cannot read .*nope: ENOENT/,
      ],
      [
        ['list-machines', '--etcd-password-file', join(creds, 'gitfleet-viewer.password')],
        {},
        2,
        /--etcd-password-file needs --etcd-user/,
      ],
      [
        ['list-machines', '--etcd-user', 'gitfleet-viewer', '--etcd-password-file', join(tmp.dir, 'nope')],
        {},
        2,
        /--etcd-password-file: cannot read/,
      ],
    ];
    for (const [args, env, code, re] of cases) {
      const r = await gitfleet(args, env);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      noStack(r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
  });
});
