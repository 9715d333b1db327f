/**
 * The CLI as a user runs it (a child process): exit statuses, output formats, and bad input
 * answered with one clear line, never a stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/store/etcd.js';
import { machineKey, unitStateKey } from '../../src/store/keys.js';
import { enableAuth, startEtcd, type EtcdCluster } from '../support/etcd.js';
import { tempDir, TestRepo } from '../support/git.js';
import { CLI, gitfleet, noStack } from '../support/cli.js';

const tmp = tempDir('gitfleet-cli-');
after(() => tmp.cleanup());

describe('gitfleet lint', () => {
  test('the example repository lints clean (exit 0), in every format', async () => {
    const text = await gitfleet(['lint', 'units.example']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /files checked, no problems/);
    const json = JSON.parse((await gitfleet(['lint', 'units.example', '--format', 'json'])).stdout);
    assert.deepEqual(json.diagnostics, []);
    assert.ok(json.files >= 9);
    const sarif = JSON.parse((await gitfleet(['lint', 'units.example', '--format', 'sarif'])).stdout);
    assert.equal(sarif.version, '2.1.0');
  });

  test('bad input: each a diagnostic naming the file, exit 1, no stack trace', async () => {
    const dir = join(tmp.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'binary.service'), Buffer.from([0x5b, 0x00, 0xff, 0xfe, 0x00, 0x01]));
    writeFileSync(join(dir, 'long.service'), `[Service]\nExecStart=/bin/echo ${'x'.repeat(2 * 1024 * 1024)}\n`);
    writeFileSync(join(dir, 'empty.service'), '');
    writeFileSync(join(dir, 'bad name!.service'), '[Service]\nExecStart=/bin/true\n');
    writeFileSync(join(dir, 'typo.service'), '[Service]\nExecStrat=/bin/true\nRestart=always\n');
    const r = await gitfleet(['lint', dir, '--format', 'json']);
    assert.equal(r.code, 1);
    noStack(r.stderr);
    const diags = JSON.parse(r.stdout).diagnostics as {
      file: string;
      rule: string;
      severity: string;
      message: string;
      line: number;
    }[];
    const about = (f: string) => diags.filter((d) => d.file.endsWith(f));
    assert.ok(
      about('binary.service').some((d) => d.severity === 'error'),
      JSON.stringify(diags),
    );
    assert.ok(about('long.service').some((d) => d.severity === 'error'));
    assert.ok(about('empty.service').length > 0);
    assert.ok(about('bad name!.service').some((d) => d.rule === 'NAM01'));
    const typo = about('typo.service');
    assert.ok(
      typo.some((d) => d.rule === 'KEY01' && /ExecStart/.test(d.message) && d.line === 2),
      JSON.stringify(typo),
    );
  });

  test('a unit named ../x.service is refused by name; github format emits workflow commands', async () => {
    const dir = join(tmp.dir, 'trav');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'x.service'), '[Service]\nExecStart=/bin/true\nRestart=sometimes\n');
    const r = await gitfleet(['lint', join(dir, 'sub', '..', 'x.service'), '--format', 'github']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^::error file=.*x\.service,line=3,/m);
  });

  test('a path that does not exist, or a bad flag, is a usage error (2) in one line', async () => {
    const missing = await gitfleet(['lint', join(tmp.dir, 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope: no such file or directory/);
    noStack(missing.stderr);
    const flag = await gitfleet(['lint', '--format', 'xml']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /xml/);
    const cmd = await gitfleet(['frobnicate']);
    assert.equal(cmd.code, 2);
  });

  test('--strict fails on warnings', async () => {
    const f = join(tmp.dir, 'warn.service');
    writeFileSync(f, '[Service]\nExecStart=/bin/true\nMemoryLimit=1G\n');
    assert.equal((await gitfleet(['lint', f])).code, 0);
    assert.equal((await gitfleet(['lint', f, '--strict'])).code, 1);
  });
});

describe('gitfleet plan', () => {
  test('a range of a real repository: json shape, markdown, exit 1 when the head is refused', async () => {
    const repo = TestRepo.init(tmp.dir, 'planrepo');
    repo.commit('one', { 'a.service': '[Service]\nExecStart=/bin/sleep infinity\n' });
    repo.commit('two', {
      'b.service': '[Service]\nExecStart=/bin/sleep infinity\n',
      'fleet.yaml': 'units:\n  a.service: loaded\n',
    });
    const j = await gitfleet(['plan', '--repo', repo.dir, '--format', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const plan = JSON.parse(j.stdout);
    assert.deepEqual(
      plan.changes.map((c: { unit: string; change: string }) => [c.unit, c.change]),
      [
        ['a.service', 'state'],
        ['b.service', 'added'],
      ],
    );
    const md = await gitfleet(['plan', '--repo', repo.dir, '--format', 'markdown']);
    assert.match(md.stdout, /\|/);
    repo.commit('bad', { 'b.service': '[Service]\nExecStart=relative/path\n' });
    const bad = await gitfleet(['plan', '--repo', repo.dir]);
    assert.equal(bad.code, 1);
    const unknown = await gitfleet(['plan', 'nosuchrev', '--repo', repo.dir]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /nosuchrev/);
    noStack(unknown.stderr);
  });
});

describe('cluster commands against a real etcd', () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  test('apply, then status, list-unit-files and cat read what the controller wrote', async () => {
    const repo = TestRepo.init(tmp.dir, 'applyrepo');
    repo.commit('units', {
      'fleet.yaml': 'units:\n  b.service: loaded\n',
      'a.service': '# a comment that the cluster does not keep\n[Service]\nExecStart=/bin/sleep infinity\n',
      'b.service': '[Service]\nExecStart=/bin/sleep infinity\n[X-Fleet]\nMachineMetadata=region=eu\n',
      'b.service.d/10-env.conf': '[Unit]\nDescription=b, described by its drop-in\n',
    });
    const e = ['--etcd', etcd.endpoints.join(',')];
    const applied = await gitfleet(['apply', '--repo', repo.dir, ...e]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, new RegExp(`applied ${repo.head()}`));
    assert.match((await gitfleet(['apply', '--repo', repo.dir, ...e])).stdout, /unchanged/);

    const status = JSON.parse((await gitfleet(['status', '--format', 'json', ...e])).stdout);
    assert.equal(status.applied.commit, repo.head());
    assert.equal(status.refused, null);
    assert.equal(status.leader, null);
    assert.deepEqual(status.units, { launched: 1, loaded: 1, inactive: 0, failed: 0 });

    const files = JSON.parse((await gitfleet(['list-unit-files', '--format', 'json', ...e])).stdout);
    assert.deepEqual(
      files.map((f: { unit: string; desiredState: string; targetMachine: null }) => [
        f.unit,
        f.desiredState,
        f.targetMachine,
      ]),
      [
        ['a.service', 'launched', null],
        ['b.service', 'loaded', null],
      ],
    );
    const cat = await gitfleet(['cat', 'a.service', ...e]);
    assert.equal(cat.stdout, '[Service]\nExecStart=/bin/sleep infinity\n');
    // With drop-ins, as systemctl cat shows a unit: the unit file, then each drop-in under its name.
    const catB = await gitfleet(['cat', 'b', ...e]);
    assert.equal(
      catB.stdout,
      '# b.service\n[Service]\nExecStart=/bin/sleep infinity\n\n[X-Fleet]\nMachineMetadata=region=eu\n\n' +
        '# b.service.d/10-env.conf\n[Unit]\nDescription=b, described by its drop-in\n',
    );
    const catJson = JSON.parse((await gitfleet(['cat', 'b.service', '--format', 'json', ...e])).stdout);
    assert.deepEqual(catJson.dropIns, [
      { name: '10-env.conf', text: '[Unit]\nDescription=b, described by its drop-in\n' },
    ]);
    const desc = await gitfleet(['list-unit-files', '--fields', 'unit,desc', '--no-legend', ...e]);
    assert.match(desc.stdout, /^b\.service\s+b, described by its drop-in$/m);
    const nocat = await gitfleet(['cat', 'zzz.service', ...e]);
    assert.equal(nocat.code, 1);
    assert.match(nocat.stderr, /zzz\.service is not in the applied commit/);

    repo.commit('break', { 'a.service': '[Service]\nExecStart=/bin/true\nType=forking2\n' });
    const refused = await gitfleet(['apply', '--repo', repo.dir, ...e]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /a\.service:3:\d+: error VAL03/);
    const s2 = await gitfleet(['status', ...e]);
    assert.equal(s2.code, 1);
    assert.match(s2.stdout, /refused/);
  });

  test('plan --etcd says where the engine would place what the commit adds, on the live machines', async () => {
    const prefix = '/plancheck';
    const store = new EtcdStore({ endpoints: etcd.endpoints, prefix });
    try {
      const m = (id: string, region: string) =>
        JSON.stringify({
          id,
          address: '10.0.0.1',
          metadata: { region },
          version: 'test',
          startedAt: new Date().toISOString(),
        });
      await store.put(machineKey('aaaaaaaa1111'), m('aaaaaaaa1111', 'us'));
      await store.put(machineKey('bbbbbbbb2222'), m('bbbbbbbb2222', 'eu'));
    } finally {
      await store.close();
    }
    const repo = TestRepo.init(tmp.dir, 'placerepo');
    repo.commit('one', { 'a.service': '[Service]\nExecStart=/bin/sleep infinity\n' });
    repo.commit('two', {
      'eu.service': '[Service]\nExecStart=/bin/sleep infinity\n[X-Fleet]\nMachineMetadata=region=eu\n',
      'mars.service': '[Service]\nExecStart=/bin/sleep infinity\n[X-Fleet]\nMachineMetadata=region=mars\n',
    });
    const r = await gitfleet([
      'plan',
      '--repo',
      repo.dir,
      '--format',
      'json',
      '--etcd',
      etcd.endpoints.join(','),
      '--prefix',
      prefix,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const placement = JSON.parse(r.stdout).placement as { unit: string; machine: string | null; reason: string }[];
    assert.deepEqual(
      placement.map((p) => [p.unit, p.machine]),
      [
        ['eu.service', 'bbbbbbbb2222'],
        ['mars.service', null],
      ],
    );
    assert.match(placement[1]!.reason, /region=mars/);
    const text = await gitfleet(['plan', '--repo', repo.dir, '--etcd', etcd.endpoints.join(','), '--prefix', prefix]);
    assert.match(text.stdout, /eu\.service -> bbbbbbbb/);
  });

  test('plan --etcd says which machines a change reaches in which batch: canary, batch 1, batch 2', async () => {
    const prefix = '/planbatches';
    const ids = ['cccccccc1111', 'cccccccc2222', 'cccccccc3333'];
    const store = new EtcdStore({ endpoints: etcd.endpoints, prefix });
    try {
      for (const id of ids) {
        const rec = { id, address: '10.0.0.1', metadata: {}, version: 'test', startedAt: new Date().toISOString() };
        await store.put(machineKey(id), JSON.stringify(rec));
        // What each machine's agent says it runs: the content before the change.
        const report = { load: 'loaded', active: 'active', sub: 'running', hash: 'a'.repeat(64) };
        await store.put(unitStateKey(id, 'g.service'), JSON.stringify(report));
      }
    } finally {
      await store.close();
    }
    const unit = (v: string) =>
      `[Service]\nExecStart=/bin/sleep infinity\nEnvironment=V=${v}\n[X-Fleet]\nGlobal=true\n`;
    const repo = TestRepo.init(tmp.dir, 'batchrepo');
    repo.commit('one', { 'g.service': unit('1') });
    repo.commit('two', {
      'g.service': unit('2'),
      'fleet.yaml': 'units:\n  g.service:\n    state: launched\n    rollout: { canary: 1, maxParallel: 1 }\n',
    });
    const args = ['plan', '--repo', repo.dir, '--etcd', etcd.endpoints.join(','), '--prefix', prefix];
    const r = await gitfleet([...args, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const rollout = JSON.parse(r.stdout).rollout as { unit: string; change: string; batches: unknown[] }[];
    assert.deepEqual(rollout, [
      {
        unit: 'g.service',
        change: 'changed',
        batches: [
          { name: 'canary', machines: [ids[0]] },
          { name: 'batch 1', machines: [ids[1]] },
          { name: 'batch 2', machines: [ids[2]] },
        ],
        held: null,
      },
    ]);
    const text = await gitfleet(args);
    assert.match(
      text.stdout,
      /Rollout on the live cluster:\n {2}g\.service changed: canary: cccccccc; batch 1: cccccccc; batch 2/,
    );
  });

  test('a second agent with a live machine id is refused with a message about the id', {
    timeout: 60_000,
  }, async () => {
    const e = ['--etcd', etcd.endpoints.join(','), '--prefix', '/dupcheck'];
    const first = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI,
        'agent',
        '--systemd',
        'private',
        '--machine-id',
        'dup-machine',
        '--state-dir',
        join(tmp.dir, 'agent-a'),
        '--on-exit',
        'stop',
        ...e,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let firstErr = '';
    first.stderr!.on('data', (d) => (firstErr += d));
    const firstExit = new Promise<number | null>((r) => first.once('exit', (c) => r(c)));
    process.once('exit', () => first.exitCode === null && first.kill('SIGKILL'));
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const m = await gitfleet(['list-machines', '--format', 'json', ...e]);
        if (m.code === 0 && JSON.parse(m.stdout).some((x: { machine: string }) => x.machine === 'dup-machine')) break;
        if (Date.now() > deadline || first.exitCode !== null)
          throw new Error(`first agent never registered:\n${firstErr}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const second = await gitfleet([
        'agent',
        '--systemd',
        'private',
        '--machine-id',
        'dup-machine',
        '--state-dir',
        join(tmp.dir, 'agent-b'),
        ...e,
      ]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /machine id dup-machine is already registered by a live agent/);
      noStack(second.stderr);
    } finally {
      first.kill('SIGTERM');
      assert.equal(await firstExit, 0, firstErr);
    }
  });

  test('an unreachable etcd is one clear line and exit 1; a malformed --etcd is a usage error', async () => {
    const down = await gitfleet(['status', '--etcd', 'http://127.0.0.1:1']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach etcd at http:\/\/127\.0\.0\.1:1/);
    noStack(down.stderr);
    const bad = await gitfleet(['status', '--etcd', 'localhost']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--etcd/);
  });
});

describe('long-running commands against an etcd that refuses them', () => {
  // etcd with authentication on: user gitfleet may read and write /gitfleet/ only.
  let etcd: EtcdCluster;
  let repo: TestRepo;
  before(async () => {
    etcd = await startEtcd();
    await enableAuth(new Etcd3({ hosts: etcd.endpoints }), {
      user: 'gitfleet',
      password: 's3cret',
      prefix: '/gitfleet/',
    });
    repo = TestRepo.init(tmp.dir, 'authrepo');
    repo.commit('one', { 'a.service': '[Service]\nExecStart=/bin/sleep infinity\n' });
  });
  after(async () => {
    await etcd?.stop();
  });

  const store = (password: string, prefix = '/gitfleet') => ({
    args: ['--etcd', etcd.endpoints.join(','), '--etcd-user', 'gitfleet', '--prefix', prefix],
    env: { GITFLEET_ETCD_PASSWORD: password },
  });

  // Without the fatal kind these commands would retry forever: the test's timeout ends them.
  for (const [what, command] of [
    ['controller', () => ['controller', '--repo', repo.dir, '--state-dir', join(tmp.dir, 'authstate')]],
    ['engine', () => ['engine']],
    ['apply', () => ['apply', '--repo', repo.dir, '--state-dir', join(tmp.dir, 'authstate')]],
    [
      'agent',
      () => [
        ...['agent', '--systemd', 'private', '--machine-id', 'authm', '--on-exit', 'stop'],
        ...['--state-dir', join(tmp.dir, 'authagent')],
      ],
    ],
  ] as const) {
    test(`${what}: a refused password stops it with exit 1 and says why`, { timeout: 60_000 }, async () => {
      const s = store('wrong');
      const r = await gitfleet([...command(), ...s.args], s.env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^gitfleet: .*refused the user name or password \(authentication failed\)$/m);
      noStack(r.stderr);
    });
  }

  test('engine: a prefix the user may not touch stops it with exit 1 (permission denied)', {
    timeout: 60_000,
  }, async () => {
    const s = store('s3cret', '/elsewhere');
    const r = await gitfleet(['engine', ...s.args], s.env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^gitfleet: engine stopped: .*denied permission under "\/elsewhere\/"$/m);
    noStack(r.stderr);
  });

  test('engine: an unreachable etcd is retried (transient) until SIGTERM, then exit 0', {
    timeout: 60_000,
  }, async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'engine', '--etcd', 'http://127.0.0.1:1'], {
      env: { ...process.env, GITFLEET_ETCD: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    process.once('exit', () => p.exitCode === null && p.kill('SIGKILL'));
    const retried = new Promise<void>((r) =>
      p.stderr!.on('data', (d) => {
        err += d;
        if ((err.match(/retrying/g) ?? []).length >= 3) r();
      }),
    );
    await Promise.race([retried, exited]);
    assert.equal(p.exitCode, null, `the engine gave up on a transient failure:\n${err}`);
    p.kill('SIGTERM');
    assert.equal(await exited, 0, err);
  });

  test('controller: with the right password it applies and keeps running', { timeout: 60_000 }, async () => {
    const s = store('s3cret');
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'controller', '--repo', repo.dir, '--state-dir', join(tmp.dir, 'authok'), ...s.args],
      { env: { ...process.env, GITFLEET_ETCD: '', ...s.env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    p.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    process.once('exit', () => p.exitCode === null && p.kill('SIGKILL'));
    try {
      for (;;) {
        const st = await gitfleet(['status', '--format', 'json', ...s.args], s.env);
        if (st.code === 0 && JSON.parse(st.stdout).applied) break;
        assert.equal(p.exitCode, null, `the controller exited:\n${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, err);
  });
});
