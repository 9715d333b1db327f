/**
 * Git remotes as people have them, through `gitfleet apply` against a real etcd: SSH (ssh:// and
 * scp-like user@host:path) to a real OpenSSH server on loopback, fetched with the git CLI and a
 * key and known-hosts file from flags or the environment; https with credentials from a file
 * against the smart-HTTP server with authentication. A remote that cannot work says why.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { TestRepo, tempDir } from '../support/git.js';
import { startGitServer, type GitServer } from '../support/gitserver.js';
import { startSshd, type Sshd } from '../support/sshd.js';
import { gitfleet, noStack, spawnGitfleet } from '../support/cli.js';
import { eventually } from '../support/systemd.js';

const tmp = tempDir('gitfleet-remotes-');
const svc = (d: string) => `[Unit]\nDescription=${d}\n[Service]\nExecStart=/bin/sleep infinity\n`;
let etcd: EtcdCluster;
let origin: TestRepo;
let bare: string;
let prefixes = 0;

before(async () => {
  etcd = await startEtcd();
  origin = TestRepo.init(tmp.dir, 'origin');
  origin.commit('one', { 'fleet.yaml': 'units:\n  b.service: loaded\n', 'a.service': svc('a'), 'b.service': svc('b') });
  bare = origin.cloneBare(join(tmp.dir, 'served'), 'units.git');
});
after(async () => {
  await etcd?.stop();
  tmp.cleanup();
});

/** `gitfleet apply` into a prefix of its own; returns the result and the prefix for follow-ups. */
async function apply(repo: string, flags: string[] = [], env: Record<string, string | undefined> = {}) {
  const prefix = `/remote${++prefixes}`;
  const common = ['--etcd', etcd.endpoints.join(','), '--prefix', prefix];
  const r = await gitfleet(
    ['apply', '--repo', repo, '--state-dir', join(tmp.dir, `state${prefixes}`), ...flags, ...common],
    env,
  );
  return { ...r, common };
}

async function unitsIn(common: string[]): Promise<string[]> {
  const r = await gitfleet(['list-unit-files', '--format', 'json', ...common]);
  return (JSON.parse(r.stdout) as { unit: string }[]).map((u) => u.unit);
}

describe('SSH remotes, through a real sshd on loopback', () => {
  let sshd: Sshd;
  before(async () => {
    sshd = await startSshd(join(tmp.dir, 'sshd'));
  });
  after(async () => {
    await sshd?.stop();
  });

  test('ssh:// with --ssh-key and --ssh-known-hosts applies the branch head, and a later push', async () => {
    const url = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${bare}`;
    const keys = ['--ssh-key', sshd.clientKey, '--ssh-known-hosts', sshd.knownHosts];
    const r = await apply(url, keys);
    assert.equal(r.code, 0, `${r.stderr}\n--- sshd:\n${sshd.log()}`);
    assert.match(r.stdout, new RegExp(`applied ${origin.head()}`));
    assert.deepEqual(await unitsIn(r.common), ['a.service', 'b.service']);
    assert.match(sshd.log(), /Accepted publickey for \S+ from 127\.0\.0\.1/);

    origin.commit('two', { 'c.service': svc('c') });
    origin.git('push', '-q', bare, 'main');
    const again = await gitfleet([
      'apply',
      '--repo',
      url,
      '--state-dir',
      join(tmp.dir, `state${prefixes}`),
      ...keys,
      ...r.common,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`applied ${origin.head()}`));
    assert.deepEqual(await unitsIn(r.common), ['a.service', 'b.service', 'c.service']);
  });

  test('the controller polls an ssh:// remote and applies what is pushed', { timeout: 60_000 }, async () => {
    const url = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${bare}`;
    const common = ['--etcd', etcd.endpoints.join(','), '--prefix', '/sshcontroller'];
    const controller = spawnGitfleet([
      'controller',
      '--repo',
      url,
      '--poll',
      '1',
      '--state-dir',
      join(tmp.dir, 'controller-state'),
      '--ssh-key',
      sshd.clientKey,
      '--ssh-known-hosts',
      sshd.knownHosts,
      ...common,
    ]);
    const applied = async () =>
      JSON.parse((await gitfleet(['status', '--format', 'json', ...common])).stdout || '{}').applied?.commit;
    try {
      await eventually('the head is applied', async () => (await applied()) === origin.head(), 30_000);
      const next = origin.commit('polled', { 'd.service': svc('d') });
      origin.git('push', '-q', bare, 'main');
      await eventually('the push is applied', async () => (await applied()) === next, 30_000);
    } finally {
      assert.equal(await controller.stop(), 0, controller.stderr);
    }
  });

  test('user@host:path (scp-like) with the key and known hosts from the environment', async () => {
    const r = await apply(`${sshd.user}@127.0.0.1:${bare}`, [], {
      GITFLEET_SSH_KEY: sshd.clientKey,
      GITFLEET_SSH_KNOWN_HOSTS: sshd.knownHosts,
      // scp-like names carry no port: the user's own ssh command gives it, as it would in ~/.ssh/config.
      GIT_SSH_COMMAND: `ssh -p ${sshd.port}`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`applied ${origin.head()}`));
  });

  test('a key the server refuses, a host key not in known_hosts, no git CLI: each says why', async () => {
    const url = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${bare}`;
    const denied = await apply(url, ['--ssh-key', sshd.otherKey, '--ssh-known-hosts', sshd.knownHosts]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /authentication failed: the server did not accept the key .*other_ed25519/);
    const hostKey = await apply(url, ['--ssh-key', sshd.clientKey, '--ssh-known-hosts', sshd.wrongKnownHosts]);
    assert.equal(hostKey.code, 1);
    assert.match(hostKey.stderr, /host key verification failed/);
    const nowhere = await apply(`ssh://${sshd.user}@127.0.0.1:${sshd.port}/no/such/repo.git`, [
      '--ssh-key',
      sshd.clientKey,
      '--ssh-known-hosts',
      sshd.knownHosts,
    ]);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /no git repository at that path on the server/);
    const noGit = await apply(url, ['--ssh-key', sshd.clientKey], { PATH: join(tmp.dir, 'empty-path') });
    assert.equal(noGit.code, 1);
    assert.match(noGit.stderr, /SSH needs the git CLI/);
    const missingKey = await apply(url, ['--ssh-key', join(tmp.dir, 'nokey')]);
    assert.equal(missingKey.code, 1);
    assert.match(missingKey.stderr, /--ssh-key: cannot read .*nokey: ENOENT/);
    for (const r of [denied, hostKey, nowhere, noGit, missingKey]) {
      assert.doesNotMatch(r.stderr, /does not exist/);
      noStack(r.stderr);
    }
  });
});

describe('https with authentication, through the smart-HTTP server', () => {
  let server: GitServer;
  let tokenServer: GitServer;
  before(async () => {
    server = await startGitServer(join(tmp.dir, 'served'), { auth: { username: 'deploy', password: 's3cret pass' } });
    tokenServer = await startGitServer(join(tmp.dir, 'served'), {
      auth: { username: 'x-access-token', password: 'ghp_token123' },
    });
  });
  after(async () => {
    await server?.stop();
    await tokenServer?.stop();
  });

  const creds = (name: string, text: string): string => {
    const dir = join(tmp.dir, 'creds');
    mkdirSync(dir, { recursive: true });
    const f = join(dir, name);
    writeFileSync(f, text);
    chmodSync(f, 0o600);
    return f;
  };

  test('user:password, a token, or git-credential-store lines from --git-credentials', async () => {
    const url = `${server.url}/units.git`;
    const plain = await apply(url, ['--git-credentials', creds('plain', 'deploy:s3cret pass\n')]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`applied ${origin.head()}`));
    const port = new URL(server.url).port;
    const store = creds(
      'store',
      `# git credential-store\nhttps://other:x@example.invalid\nhttp://deploy:s3cret%20pass@127.0.0.1:${port}\n`,
    );
    assert.equal((await apply(url, [], { GITFLEET_GIT_CREDENTIALS: store })).code, 0);
    const token = await apply(`${tokenServer.url}/units.git`, ['--git-credentials', creds('token', 'ghp_token123\n')]);
    assert.equal(token.code, 0, token.stderr);
  });

  test('wrong or missing credentials: authentication failed, and what to do', async () => {
    const url = `${server.url}/units.git`;
    const wrong = await apply(url, ['--git-credentials', creds('wrong', 'deploy:nope\n')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /authentication failed with the credentials in .*wrong \(HTTP 401\)/);
    assert.doesNotMatch(wrong.stderr, /nope/, 'the password is never printed');
    const none = await apply(url);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /authentication failed: the server wants credentials .*--git-credentials FILE/);
    for (const r of [wrong, none]) {
      assert.doesNotMatch(r.stderr, /does not exist/);
      noStack(r.stderr);
    }
  });
});
