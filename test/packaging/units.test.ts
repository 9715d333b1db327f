/**
 * The systemd units gitfleet ships (packaging/systemd/): they lint clean with gitfleet and with
 * systemd-analyze verify, and they work. The shipped agent, engine and controller units are
 * started by a real systemd (a private user instance) against a real etcd with TLS, changed only
 * where this test must: where gitfleet is (and the checkout bound into their sandbox: a clone in
 * /tmp is hidden by PrivateTmp=), where /etc/gitfleet is, the agent's `--systemd system` -> `user`
 * (it drives the instance it runs in), and DynamicUser=no for the engine and controller (a user
 * manager runs them as a dynamic user but cannot hand that user its credentials; the rest of their
 * sandbox applies). The agent registers, its sandbox is what the unit says (checked in /proc), and
 * a commit of the followed repository ends up running in that same systemd, with its journal
 * readable through `gitfleet journal`.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../src/store/etcd.js';
import { machineKey } from '../../src/store/keys.js';
import { PROJECT_ROOT, TSX_LOADER, runAsync } from '../support/cluster.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { TestRepo } from '../support/git.js';
import {
  eventually,
  isActive,
  showProperty,
  startSystemd,
  stopSystemd,
  systemctl,
  type PrivateSystemd,
} from '../support/systemd.js';
import { LOCAL_SERVER, makeCerts } from '../support/certs.js';

const UNITS_DIR = join(PROJECT_ROOT, 'packaging/systemd');
const ROLES = ['agent', 'engine', 'controller'] as const;
const unitFile = (role: string) => `gitfleet-${role}.service`;

test('the shipped units lint clean with gitfleet (--strict: not even a warning)', async () => {
  const r = await runAsync(process.execPath, [
    '--import',
    TSX_LOADER,
    join(PROJECT_ROOT, 'src/cli/main.ts'),
    'lint',
    '--strict',
    '--format',
    'json',
    ...ROLES.map((r) => join(UNITS_DIR, unitFile(r))),
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.files, 3);
  assert.deepEqual(out.diagnostics, []);
});

test('systemd-analyze verify finds nothing, in a root where gitfleet is installed as npm puts it', () => {
  // A root with the system's units (for sysinit.target and the like) and /usr/bin/gitfleet.
  const root = mkdtempSync(join(tmpdir(), 'gitfleet-verify-'));
  try {
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/gitfleet'), '#!/bin/sh\n', { mode: 0o755 });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    const files = ROLES.map((r) => {
      const f = join(root, 'etc/systemd/system', unitFile(r));
      copyFileSync(join(UNITS_DIR, unitFile(r)), f);
      return f;
    });
    const out = execFileSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, ...files], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(out.trim(), '');
    // And how exposed each is, as systemd rates it (0 safest .. 10): printed, and held to "OK".
    for (const r of ROLES) {
      const sec = execFileSync(
        'systemd-analyze',
        ['security', '--offline=yes', `--root=${root}`, '--no-pager', unitFile(r)],
        { encoding: 'utf8' },
      );
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(sec);
      assert.ok(m, sec);
      process.stdout.write(`${unitFile(r)}: exposure ${m[1]} ${m[2]}\n`);
      assert.ok(Number(m[1]) <= 2.5, `${unitFile(r)}: exposure ${m[1]}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

describe('the shipped units under a real systemd, against a real etcd with TLS', () => {
  // Not under the temp dir: the units have PrivateTmp=yes, and must still see their state dirs.
  const base = mkdtempSync('/var/lib/gitfleet-units-test-');
  chmodSync(base, 0o755);
  const etc = join(base, 'etc/gitfleet');
  const tls = join(etc, 'tls');
  const machine = `unit${process.pid}`;
  let etcd: EtcdCluster;
  let inst: PrivateSystemd;
  let store: EtcdStore;
  let repo: TestRepo;
  const tlsFlags = () => ['--etcd-ca', join(tls, 'ca.pem'), '--etcd-cert', join(tls, 'engine.pem')];

  before(async () => {
    mkdirSync(tls, { recursive: true });
    makeCerts(tls, [LOCAL_SERVER, ...ROLES.map((name) => ({ name }))]);
    // The names the units load as credentials.
    renameSync(join(tls, 'ca.crt'), join(tls, 'ca.pem'));
    for (const r of ROLES) {
      renameSync(join(tls, `${r}.crt`), join(tls, `${r}.pem`));
      renameSync(join(tls, `${r}.key`), join(tls, `${r}-key.pem`));
    }
    etcd = await startEtcd({
      tls: { certFile: join(tls, 'server.crt'), keyFile: join(tls, 'server.key'), trustedCaFile: join(tls, 'ca.pem') },
    });
    const pem = (f: string) => readFileSync(join(tls, f));
    store = new EtcdStore({
      endpoints: etcd.endpoints,
      prefix: '/gitfleet/',
      ca: pem('ca.pem'),
      cert: pem('engine.pem'),
      key: pem('engine-key.pem'),
      log: () => {},
    });
    repo = TestRepo.init(base, 'units');
    repo.commit('a first unit', {
      'fleet.yaml': 'units:\n  hello.service: launched\n',
      'hello.service': "[Service]\nExecStart=/bin/sh -c 'echo hello from the shipped units; exec sleep infinity'\n",
    });
    // /etc/gitfleet as docs/install.md has it.
    writeFileSync(join(etc, 'gitfleet.env'), `GITFLEET_ETCD=${etcd.endpoints.join(',')}\nGITFLEET_LOG=info\n`);
    writeFileSync(join(etc, 'engine.env'), 'GITFLEET_ENGINE_OPTS=--lease-ttl 3\n');
    writeFileSync(join(etc, 'controller.env'), `GITFLEET_CONTROLLER_OPTS=--repo ${repo.dir}\n`);
    // `gitfleet` as the package installs it, run from this source tree.
    const bin = join(base, 'bin/gitfleet');
    mkdirSync(join(base, 'bin'));
    writeFileSync(
      bin,
      `#!/bin/sh\nexec ${process.execPath} --import ${TSX_LOADER} ${resolve(PROJECT_ROOT, 'src/cli/main.ts')} "$@"\n`,
      {
        mode: 0o755,
      },
    );

    inst = await startSystemd(undefined, { baseDir: join(base, 'systemd') });
    // A user manager gives a unit with ProtectKernelTunables= a /run of its own, without the
    // instance's journal (a system manager does not): the agent is told where that journal is.
    writeFileSync(
      join(etc, 'agent.env'),
      `GITFLEET_AGENT_OPTS=--machine-id ${machine} --address 127.0.0.1 --journal-dir ${inst.journalDir}\n`,
    );
    const userUnits = join(inst.dir, 'config/systemd/user');
    mkdirSync(userUnits, { recursive: true });
    for (const r of ROLES) {
      const shipped = readFileSync(join(UNITS_DIR, unitFile(r)), 'utf8');
      const text = shipped
        .replaceAll('ExecStart=gitfleet ', `ExecStart=${bin} `)
        .replaceAll('/etc/gitfleet/', `${etc}/`)
        .replace('--systemd system', '--systemd user')
        .replace('DynamicUser=yes', 'DynamicUser=no')
        .replace('\n[Service]\n', `\n[Service]\nBindReadOnlyPaths=${PROJECT_ROOT}\n`);
      assert.notEqual(text, shipped);
      assert.match(text, /BindReadOnlyPaths=/, `${unitFile(r)} has a [Service] section`);
      writeFileSync(join(userUnits, unitFile(r)), text);
    }
  });
  after(async () => {
    if (inst) await stopSystemd(inst);
    await store?.close();
    await etcd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  /** The instance's journal, for failure messages. */
  const journal = () =>
    execFileSync('journalctl', ['-D', inst.journalDir!, '--no-pager', '-o', 'short', '-n', '80'], { encoding: 'utf8' });

  test('the agent unit starts, registers in etcd, and runs in the sandbox the unit describes', async () => {
    const r = await systemctl(inst, 'start', unitFile('agent'));
    assert.equal(r.code, 0, `${r.stderr}\n${journal()}`);
    await eventually('the agent registered', async () => (await store.get(machineKey(machine))) !== null, 30_000).catch(
      (e) => {
        throw new Error(`${(e as Error).message}\n${journal()}`);
      },
    );
    const rec = JSON.parse((await store.get(machineKey(machine)))!.value);
    assert.equal(rec.id, machine);
    assert.equal(await isActive(inst, unitFile('agent')), 'active');
    const pid = Number(await showProperty(inst, unitFile('agent'), 'MainPID'));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, /^CapEff:\s+0+$/m, 'no capabilities');
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^Seccomp:\s+2$/m, 'a system call filter');
    assert.notEqual(
      readFileSync(`/proc/${pid}/mountinfo`, 'utf8'),
      readFileSync('/proc/self/mountinfo', 'utf8'),
      'its own view of the file system',
    );
  });

  test('with the engine and controller units too, a commit runs there, and its journal is readable', async () => {
    const r = await systemctl(inst, 'start', unitFile('engine'), unitFile('controller'));
    assert.equal(r.code, 0, r.stderr);
    await eventually(
      'hello.service runs',
      async () => (await isActive(inst, 'hello.service')) === 'active',
      60_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${journal()}`);
    });
    // Its file is in the agent's state dir (StateDirectory=gitfleet), written from inside the sandbox.
    const stateDir = (await showProperty(inst, unitFile('agent'), 'ExecStart')).match(/--state-dir (\S+)/)?.[1];
    assert.ok(stateDir);
    assert.ok(readdirSync(join(stateDir, 'units')).includes('hello.service'));
    const j = await runAsync(process.execPath, [
      '--import',
      TSX_LOADER,
      join(PROJECT_ROOT, 'src/cli/main.ts'),
      'journal',
      'hello.service',
      '--etcd',
      etcd.endpoints.join(','),
      ...tlsFlags(),
      '--etcd-key',
      join(tls, 'engine-key.pem'),
    ]);
    assert.equal(j.code, 0, j.stderr);
    assert.match(j.stdout, new RegExp(`${machine.slice(0, 8)} sh\\[\\d+\\]: hello from the shipped units`));
  });

  test('stopping the agent unit leaves the units it started running', async () => {
    const pid = Number(await showProperty(inst, 'hello.service', 'MainPID'));
    const r = await systemctl(inst, 'stop', unitFile('agent'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await isActive(inst, unitFile('agent')), 'inactive');
    assert.equal(await isActive(inst, 'hello.service'), 'active');
    assert.equal(Number(await showProperty(inst, 'hello.service', 'MainPID')), pid);
  });
});
