/**
 * fleetctl habits and daily use, through the CLI against a real etcd, a real engine and agent on a
 * real private systemd: common flags before or after the command and --endpoint; --fields and
 * --no-legend; cat of a template, --format json, a name without suffix; an escaped unit name
 * through plan, apply and cat; a commit that cannot be read is refused and recorded; `status` exits
 * 1 while a unit is failed (checked with systemctl too); version.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { TestRepo, git, tempDir } from '../support/git.js';
import { eventually, isActive, type PrivateSystemd } from '../support/systemd.js';
import { gitfleet, noStack, spawnGitfleet, type CliChild } from '../support/cli.js';
import { attachPrivateSystemd } from '../../src/systemd/private.js';

const tmp = tempDir('gitfleet-habits-');
const MOUNT = 'srv-my\\x2ddata.mount';
const sleep = (d: string) => `[Unit]\nDescription=${d}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;
let etcd: EtcdCluster;
let E: string;
let repo: TestRepo;
const P = ['--prefix', '/habits'];

before(async () => {
  etcd = await startEtcd();
  E = etcd.endpoints.join(',');
  repo = TestRepo.init(tmp.dir, 'units');
  repo.commit('units', {
    'fleet.yaml': `units:\n  ${MOUNT}: inactive\n  web@.service: {instances: [1, 2]}\n  bad.service: launched\n`,
    [MOUNT]: '[Mount]\nWhat=/dev/disk/by-label/data\nWhere=/srv/my-data\nType=ext4\n',
    'ok.service': sleep('fine'),
    'bad.service': '[Unit]\nDescription=fails at once\n\n[Service]\nExecStart=/bin/false\n',
    'web@.service': sleep('web %i'),
  });
});
after(async () => {
  await etcd?.stop();
  tmp.cleanup();
});

describe('against a real etcd', () => {
  test('an escaped name plans and applies; flags go before or after the command; --endpoint', async () => {
    const plan = await gitfleet(['plan', '--repo', repo.dir]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /\+ srv-my\\x2ddata\.mount\s+added, inactive/);
    const applied = await gitfleet(['--etcd', E, ...P, 'apply', '--repo', repo.dir]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, new RegExp(`applied ${repo.head()}`));
    const before_ = await gitfleet(['--etcd', E, '--prefix', '/habits', 'list-unit-files', '--format', 'json']);
    const after_ = await gitfleet(['list-unit-files', '--format', 'json', '--etcd', E, '--prefix', '/habits']);
    const endpoint = await gitfleet(['list-unit-files', '--endpoint', E, '--format', 'json', ...P]);
    assert.equal(before_.code, 0, before_.stderr);
    assert.deepEqual(JSON.parse(before_.stdout), JSON.parse(after_.stdout));
    assert.deepEqual(JSON.parse(endpoint.stdout), JSON.parse(after_.stdout));
    assert.deepEqual(
      JSON.parse(after_.stdout).map((u: { unit: string }) => u.unit),
      ['bad.service', 'ok.service', MOUNT, 'web@1.service', 'web@2.service'],
    );
    const first = await gitfleet(['--format', 'json', '--etcd', E, ...P, 'list-unit-files']);
    assert.deepEqual(JSON.parse(first.stdout), JSON.parse(after_.stdout));
    const wrongFormat = await gitfleet(['--format', 'markdown', 'list-units', '--etcd', E]);
    assert.equal(wrongFormat.code, 2);
    assert.match(wrongFormat.stderr, /--format: "markdown" is not one of text, json for list-units/);
    const clash = await gitfleet(['status', '--endpoint', E, '--etcd', 'http://127.0.0.1:1']);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /--endpoint .* and --etcd .* disagree/);
  });

  test('--fields and --no-legend shape the listings as fleetctl does; a bad field is a usage error', async () => {
    const r = await gitfleet(['list-unit-files', '--no-legend', '--fields', 'unit,dstate,global', '--etcd', E, ...P]);
    assert.equal(r.code, 0, r.stderr);
    const row = (u: string, st: string) => `${u.padEnd(MOUNT.length)}  ${st}  false`;
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      row('bad.service', 'launched'),
      row('ok.service', 'launched'),
      row(MOUNT, 'inactive'),
      row('web@1.service', 'launched'),
      row('web@2.service', 'launched'),
    ]);
    const desc = await gitfleet(['list-unit-files', '--fields', 'desc,unit', '--etcd', E, ...P]);
    assert.match(desc.stdout, /^DESC\s+UNIT$/m);
    assert.match(desc.stdout, /^web %i\s+web@2\.service$/m); // as fleetctl: the unit file's text
    const bad = await gitfleet(['list-units', '--fields', 'unit,colour', '--etcd', E, ...P]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid key in output list: "colour"; valid fields are unit,machine,/);
    const m = await gitfleet(['list-machines', '--fields', 'ip,machine', '--etcd', E, ...P]);
    assert.equal(m.stdout, 'IP  MACHINE\n');
  });

  test('cat: a template shows what its instances run; no suffix means .service; --format json', async () => {
    const cat = (u: string, ...more: string[]) => gitfleet(['cat', u, ...more, '--etcd', E, ...P]);
    const tmpl = await cat('web@.service');
    assert.equal(tmpl.code, 0, tmpl.stderr);
    assert.equal(tmpl.stdout, '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep infinity\n');
    const json = JSON.parse((await cat('web@.service', '--format', 'json')).stdout);
    assert.deepEqual(json.instances, ['web@1.service', 'web@2.service']);
    assert.equal(json.content, tmpl.stdout);
    assert.match(json.hash, /^[0-9a-f]{64}$/);
    assert.equal((await cat('ok')).stdout, sleep('fine'));
    assert.match((await cat(MOUNT)).stdout, /^Where=\/srv\/my-data$/m);
    const none = await cat('nope@.service');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /template nope@\.service has no instances in the applied commit/);
  });

  test('a commit that cannot be read is refused and recorded (SRC08), every time, without a crash', async () => {
    const r2 = TestRepo.init(tmp.dir, 'corrupt');
    r2.commit('fine', { 'a.service': sleep('a') });
    const e = ['--etcd', E, '--prefix', '/corrupt'];
    assert.equal((await gitfleet(['apply', '--repo', r2.dir, ...e])).code, 0);
    const junk = join(tmp.dir, 'junk');
    writeFileSync(junk, 'not a tree');
    const tree = git(r2.dir, ['hash-object', '-w', '-t', 'tree', '--literally', junk]);
    const bad = git(r2.dir, ['commit-tree', tree, '-p', 'HEAD', '-m', 'corrupt']);
    git(r2.dir, ['update-ref', 'refs/heads/main', bad]);
    for (let i = 0; i < 2; i++) {
      const r = await gitfleet(['apply', '--repo', r2.dir, ...e]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`refused ${bad}: 1 error in the commit \\(SRC08\\)`));
      noStack(r.stderr);
    }
    const status = await gitfleet(['status', '--format', 'json', ...e]);
    assert.equal(status.code, 1);
    assert.equal(JSON.parse(status.stdout).refused.commit, bad);
  });

  test('an unreachable etcd: one line, no empty "Resolution note"', async () => {
    const r = await gitfleet(['list-units', '--etcd', 'http://127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach etcd at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    assert.doesNotMatch(r.stderr, /Resolution note/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});

describe('status with a real engine and agent', () => {
  const children: CliChild[] = [];
  const stateDir = join(tmp.dir, 'agent');
  after(async () => {
    for (const c of children.reverse()) await c.stop();
    const base = join(stateDir, 'systemd');
    if (!existsSync(base)) return;
    for (const name of readdirSync(base, { withFileTypes: true }).filter((d) => d.isDirectory()))
      (await attachPrivateSystemd({ baseDir: base, name: name.name }))?.stop();
  });

  test('status exits 1 while a unit is failed, and status UNIT for that unit', { timeout: 120_000 }, async () => {
    const e = ['--etcd', E, ...P];
    children.push(spawnGitfleet(['engine', ...e]));
    const agent = spawnGitfleet([
      'agent',
      '--systemd',
      'private',
      '--machine-id',
      'habits-machine-1',
      '--state-dir',
      stateDir,
      '--on-exit',
      'stop',
      ...e,
    ]);
    children.push(agent);
    const inst = (): PrivateSystemd => {
      const base = join(stateDir, 'systemd');
      return { runtimeDir: join(base, readdirSync(base).find((n) => n.startsWith('agent-'))!, 'rt') } as PrivateSystemd;
    };
    await eventually(
      'ok.service runs on the agent',
      async () => (await gitfleet(['status', 'ok', '--format', 'json', ...e])).stdout.includes('"active": "active"'),
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- agent:\n${agent.stderr}`);
    });
    assert.equal(await isActive(inst(), 'ok.service'), 'active');
    // The agent restarts a failed launched unit with growing pauses: catch it failed, by both views.
    let summary = '';
    await eventually(
      'status says 1 failed while systemd has bad.service failed',
      async () => {
        const s = await gitfleet(['status', ...e]);
        summary = s.stdout;
        return s.code === 1 && /1 failed/.test(s.stdout) && (await isActive(inst(), 'bad.service')) === 'failed';
      },
      60_000,
    );
    assert.match(summary, /units: .*1 failed/);
    const one = await gitfleet(['status', 'bad', ...e]);
    assert.match(one.stdout, /^bad\.service$/m);
    const ok = await gitfleet(['status', 'ok.service', ...e]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /active\s+running/);
  });
});

test('version and --version', async () => {
  const pkg = JSON.parse((await import('node:fs')).readFileSync('package.json', 'utf8')) as { version: string };
  for (const args of [['version'], ['--version']]) {
    const r = await gitfleet(args);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `gitfleet version ${pkg.version}\n`);
  }
});
