/**
 * `gitfleet auth setup` / `add-machine` (src/store/auth.ts) against a real etcd with TLS client
 * certificates and auth on. Every "cannot" is etcd itself refusing the request (permission
 * denied), asserted on the error etcd's client raised; every "can" is the request succeeding.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import { AuthSetupError, authUserName, setupAuth, type AuthAdminOptions } from '../../src/store/auth.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { InspectSession } from '../../src/cli/inspect.js';
import {
  type AccessRole,
  ENGINE_WATCHED,
  inspectAnswerKey,
  inspectRequestPrefix,
  ROLLOUT_CONTROL,
} from '../../src/store/keys.js';
import { LOCAL_SERVER, makeCerts } from '../support/certs.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';

const PREFIX = '/gitfleet/';
const ROOT_PW = 'root-secret';
let etcd: EtcdCluster;
let dir: string;
let creds: string;
const stores: EtcdStore[] = [];
const pem = (name: string) => fs.readFileSync(path.join(dir, name));
const ALL: AccessRole[] = [{ kind: 'controller' }, { kind: 'engine' }, { kind: 'viewer' }, { kind: 'operator' }];
const m1: AccessRole = { kind: 'machine', id: 'm1' };
const m2: AccessRole = { kind: 'machine', id: 'm2' };

function admin(over: Partial<AuthAdminOptions> = {}): AuthAdminOptions {
  return {
    endpoints: etcd.endpoints,
    prefix: PREFIX,
    ca: pem('ca.crt'),
    cert: pem('admin.crt'),
    key: pem('admin.key'),
    rootPassword: ROOT_PW,
    credentialsDir: creds,
    ...over,
  };
}

/** A store as `role` (its password from the file setup wrote), over TLS with a certificate that names no user. */
function storeAs(role: AccessRole, prefix = PREFIX): EtcdStore {
  const user = authUserName(prefix, role);
  const password = fs.readFileSync(path.join(creds, `${user}.password`), 'utf8').trim();
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix,
    ca: pem('ca.crt'),
    cert: pem('admin.crt'),
    key: pem('admin.key'),
    user,
    password,
    callTimeoutMs: 3000,
  });
  stores.push(s);
  return s;
}

/** etcd refused the request for lack of permission (not a network or client failure). */
async function denied(p: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(
    p,
    (e: Error) => {
      assert.ok(
        e.cause instanceof EtcdPermissionDeniedError,
        `${what}: expected etcd's permission denied, got ${e.message}`,
      );
      return true;
    },
    `${what} must be refused`,
  );
}

/** The root user's view, for seeding keys and reading roles. */
function rootClient(): Etcd3 {
  return new Etcd3({
    hosts: etcd.endpoints,
    credentials: { rootCertificate: pem('ca.crt'), certChain: pem('admin.crt'), privateKey: pem('admin.key') },
    auth: { username: 'root', password: ROOT_PW },
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitfleet-auth-'));
  creds = path.join(dir, 'credentials');
  makeCerts(dir, [
    LOCAL_SERVER,
    { name: 'admin' },
    // A certificate whose common name is machine m1's user: etcd authenticates it as that user.
    { name: 'm1cn', cn: authUserName(PREFIX, m1) },
  ]);
  etcd = await startEtcd({
    tls: {
      certFile: path.join(dir, 'server.crt'),
      keyFile: path.join(dir, 'server.key'),
      trustedCaFile: path.join(dir, 'ca.crt'),
    },
  });
});
after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await etcd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('gitfleet auth setup on a real etcd', () => {
  test('creates a user per component, writes owner-only password files and turns auth on', async () => {
    const r = await setupAuth(admin(), ALL, true);
    assert.equal(r.wasEnabled, false);
    assert.equal(r.enabled, true);
    assert.deepEqual(
      r.components.map((c) => [c.user, c.action]),
      [
        ['gitfleet-controller', 'created'],
        ['gitfleet-engine', 'created'],
        ['gitfleet-viewer', 'created'],
        ['gitfleet-operator', 'created'],
      ],
    );
    for (const c of r.components) assert.equal(fs.statSync(c.passwordFile).mode & 0o777, 0o600, c.passwordFile);
    assert.equal(fs.statSync(creds).mode & 0o777, 0o700);
    const machines = await setupAuth(admin(), [m1, m2], false);
    assert.equal(machines.wasEnabled, true);
    assert.deepEqual(
      machines.components.map((c) => c.user),
      ['gitfleet-machine-m1', 'gitfleet-machine-m2'],
    );
    // Auth is on: a client with no password (and a certificate that names no user) may do nothing.
    const anon = new EtcdStore({
      endpoints: etcd.endpoints,
      prefix: PREFIX,
      ca: pem('ca.crt'),
      cert: pem('admin.crt'),
      key: pem('admin.key'),
      callTimeoutMs: 3000,
    });
    stores.push(anon);
    await denied(anon.get('desired/root'), 'an anonymous read');
    // Seed what the components read.
    const root = rootClient();
    try {
      await root.put(`${PREFIX}desired/root`).value('{}');
      await root.put(`${PREFIX}bodies/h1`).value('[Unit]\n');
      await root.put(`${PREFIX}schedule/m1/a.service`).value('{}');
      await root.put(`${PREFIX}schedule/m2/b.service`).value('{}');
    } finally {
      root.close();
    }
  });

  test('an agent: reads its schedule, the root and the bodies; writes only its own record and reports', async () => {
    const s = storeAs(m1);
    assert.ok(await s.get('desired/root'));
    assert.equal((await s.range('desired/root')).kvs.length, 1);
    assert.deepEqual(
      (await s.range('schedule/m1/')).kvs.map((kv) => kv.key),
      ['schedule/m1/a.service'],
    );
    assert.ok(await s.get('bodies/h1'));
    const lease = await s.grantLease(5);
    await s.put('machines/m1', '{}', { lease: lease.id });
    await s.put('state/m1/a.service', '{}', { lease: lease.id });
    const w = await s.watch('schedule/m1/', undefined, { onEvents: () => {} });
    await w.close();
    await lease.revoke();

    await denied(s.put('desired/root', '{"commit":"evil"}'), 'agent writes desired state');
    await denied(s.put('desired/shards/x', '{}'), 'agent writes a shard');
    await denied(s.put('bodies/h2', 'evil'), 'agent writes a body');
    await denied(s.put('schedule/m1/evil.service', '{}'), 'agent writes its own schedule');
    await denied(s.put('schedule/m2/b.service', '{}'), "agent writes another machine's schedule");
    await denied(s.get('schedule/m2/b.service'), "agent reads another machine's schedule");
    await denied(s.range('schedule/'), 'agent reads the whole schedule');
    await denied(s.put('state/m2/b.service', '{}'), "agent writes another machine's reports");
    await denied(s.put('machines/m2', '{}'), "agent writes another machine's record");
    await denied(s.put('machines/m10', '{}'), 'agent writes a machine whose id starts with its own');
    await denied(s.put('engine/leader', 'agent'), 'agent writes the leader key');
    await denied(s.put('controller/status', '{}'), 'agent writes the controller status');
    await denied(s.range('machines/'), 'agent reads every machine');
    // etcd accepts the watch request, then cancels it: the store reports that through onError.
    const cancelled = await new Promise<Error>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the watch was not cancelled')), 5000);
      void s.watch('schedule/m2/', undefined, {
        onEvents: () => reject(new Error("an event of another machine's schedule arrived")),
        onError: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
    assert.match(cancelled.message, /PermissionDenied|permission denied/, "agent watches another machine's schedule");
  });

  test("the controller's credentials write desired state and its status, not the schedule or machines", async () => {
    const s = storeAs({ kind: 'controller' });
    await s.put('bodies/h3', '[Unit]\n');
    await s.put('desired/shards/s1', '{"units":[]}');
    await s.txn(
      [{ key: 'desired/root', target: 'version', op: '>', value: 0 }],
      [
        { op: 'put', key: 'desired/root', value: '{}' },
        { op: 'put', key: 'controller/status', value: '{}' },
      ],
    );
    await denied(s.put('schedule/m1/evil.service', '{}'), 'controller writes the schedule');
    await denied(s.put('unscheduled/x.service', '{}'), 'controller writes unscheduled');
    await denied(s.put('engine/leader', 'controller'), 'controller writes the leader key');
    await denied(s.put('machines/m1', '{}'), 'controller writes a machine record');
    await denied(s.put('state/m1/a.service', '{}'), 'controller writes a report');
  });

  test("the engine's credentials write the schedule and its leader key, not desired state or machines", async () => {
    const s = storeAs({ kind: 'engine' });
    assert.ok(await s.get('desired/root'));
    await s.range('machines/');
    const lease = await s.grantLease(5);
    await s.put('engine/leader', 'e1', { lease: lease.id });
    await s.txn(
      [{ key: 'engine/leader', target: 'value', op: '==', value: 'e1' }],
      [
        { op: 'put', key: 'schedule/m1/x.service', value: '{}' },
        { op: 'put', key: 'unscheduled/y.service', value: '{}' },
      ],
    );
    await lease.revoke();
    await denied(s.put('desired/root', '{}'), 'engine writes desired state');
    await denied(s.put('bodies/h4', 'x'), 'engine writes a body');
    await denied(s.put('controller/status', '{}'), 'engine writes the controller status');
    await denied(s.put('machines/m1', '{}'), 'engine writes a machine record');
    await denied(s.put('state/m1/a.service', '{}'), 'engine writes a report');
  });

  test('every watch the engine opens while it leads is inside its grants, and delivers', async () => {
    const s = storeAs({ kind: 'engine' });
    const got = new Set<string>();
    let wake = () => {};
    const cancelled: Error[] = [];
    const watches = await Promise.all(
      ENGINE_WATCHED.map((prefix) =>
        s.watch(prefix, undefined, {
          onEvents: (events) => {
            if (events.length > 0) got.add(prefix);
            if (got.size === ENGINE_WATCHED.length) wake();
          },
          onError: (e) => {
            cancelled.push(e);
            wake();
          },
        }),
      ),
    );
    try {
      const all = new Promise<void>((r) => (wake = r));
      const root = rootClient();
      try {
        // A key each watch covers, written by root: a watch etcd cancelled would never see it.
        for (const prefix of ENGINE_WATCHED)
          await root.put(`${PREFIX}${prefix}${prefix.endsWith('/') ? 'w' : ''}`).value('{}');
      } finally {
        root.close();
      }
      await Promise.race([all, new Promise((r) => setTimeout(r, 10_000).unref())]);
      assert.deepEqual(
        cancelled.map((e) => e.message),
        [],
        'etcd cancelled an engine watch',
      );
      assert.deepEqual([...got].sort(), [...ENGINE_WATCHED].sort());
    } finally {
      await Promise.all(watches.map((w) => w.close()));
    }
  });

  test("the viewer's credentials read everything and write only journal/status requests", async () => {
    const s = storeAs({ kind: 'viewer' });
    assert.ok((await s.range('')).kvs.length >= 4);
    await denied(s.put('desired/root', '{}'), 'viewer writes desired state');
    await denied(s.put('schedule/m1/x.service', '{}'), 'viewer writes the schedule');
    await denied(s.put(ROLLOUT_CONTROL, '{"paused":true}'), 'viewer pauses rollouts');
  });

  test('the operator pauses and resumes rollouts, and writes nothing else', async () => {
    const s = storeAs({ kind: 'operator' });
    await s.put(ROLLOUT_CONTROL, '{"paused":true}');
    await s.put(ROLLOUT_CONTROL, '{"paused":false}');
    await denied(s.put('desired/root', '{}'), 'operator writes desired state');
    await denied(s.put('rollout/latest', '{}'), 'operator writes the rollout record');
    await denied(s.put('schedule/m1/x.service', '{}'), 'operator writes the schedule');
  });

  test('journal/status requests: a viewer asks two machines, each answers only its own, on its lease', async () => {
    const answerer = (role: { kind: 'machine'; id: string }) => {
      const s = storeAs(role);
      return s.watch(inspectRequestPrefix(role.id), undefined, {
        onEvents: (events) => {
          for (const e of events) {
            if (e.type !== 'put') continue;
            const id = e.kv.key.slice(e.kv.key.lastIndexOf('/') + 1);
            const answer = { machine: role.id, unit: 'a.service', lines: [], cursor: null };
            void s.put(inspectAnswerKey(role.id, id), JSON.stringify(answer), { lease: e.kv.lease });
          }
        },
      });
    };
    const watches = await Promise.all([answerer(m1), answerer(m2)]);
    const session = await InspectSession.open(storeAs({ kind: 'viewer' }));
    try {
      const answers = await session.ask(['m1', 'm2'], { unit: 'a.service', lines: 10, status: false }, 10_000);
      assert.deepEqual(
        answers.map((a) => ('answer' in a ? a.answer.machine : a.error)),
        ['m1', 'm2'],
      );
    } finally {
      await session.close();
      await Promise.all(watches.map((w) => w.close()));
    }
    const agent = storeAs(m1);
    await denied(agent.put(inspectAnswerKey('m2', 'aaaaaaaaaaaaaaaa'), '{}'), 'm1 answers for m2');
    await denied(agent.range(inspectRequestPrefix('m2')), "m1 reads m2's requests");
    const viewer = storeAs({ kind: 'viewer' });
    assert.deepEqual((await viewer.range('inspect/')).kvs, [], 'the session left requests or answers behind');
  });

  test("a client certificate whose CN is a user gets exactly that user's rights, with no password", async () => {
    const s = new EtcdStore({
      endpoints: etcd.endpoints,
      prefix: PREFIX,
      ca: pem('ca.crt'),
      cert: pem('m1cn.crt'),
      key: pem('m1cn.key'),
      callTimeoutMs: 3000,
    });
    stores.push(s);
    await s.put('state/m1/cn.service', '{}');
    await denied(s.put('desired/root', '{}'), 'm1 by certificate writes desired state');
    await denied(s.put('state/m2/cn.service', '{}'), "m1 by certificate writes m2's reports");
  });

  test('run again: changes nothing; repairs a role or user changed by hand, and a lost password file', async () => {
    const before = fs.readFileSync(path.join(creds, 'gitfleet-controller.password'), 'utf8');
    const again = await setupAuth(admin(), ALL, true);
    assert.equal(again.wasEnabled, true);
    assert.deepEqual(
      again.components.map((c) => c.action),
      ['unchanged', 'unchanged', 'unchanged', 'unchanged'],
    );
    assert.equal(fs.readFileSync(path.join(creds, 'gitfleet-controller.password'), 'utf8'), before);
    // Someone widened machine m1's rights by hand.
    const root = rootClient();
    try {
      await root
        .role('gitfleet-machine-m1')
        .grant({ permission: 'Readwrite', range: root.range({ prefix: `${PREFIX}desired/` }) });
      await root.user('gitfleet-machine-m1').addRole('gitfleet-engine');
      await storeAs(m1).put('desired/root', '{}'); // the hand-made grant works...
      fs.rmSync(path.join(creds, 'gitfleet-machine-m2.password'));
      const fixed = await setupAuth(admin(), [m1, m2], false);
      assert.deepEqual(
        fixed.components.map((c) => c.action),
        ['unchanged', 'password-reset'],
      );
      await denied(storeAs(m1).put('desired/root', '{}'), 'm1 after the repair writes desired state');
      await denied(storeAs(m1).put('schedule/m1/x.service', '{}'), 'm1 after the repair writes the schedule');
      assert.deepEqual(
        (await root.user('gitfleet-machine-m1').roles()).map((r) => r.name),
        ['gitfleet-machine-m1'],
      );
      await storeAs(m2).put('machines/m2', '{}'); // the new password file works
      assert.equal(fs.statSync(path.join(creds, 'gitfleet-machine-m2.password')).mode & 0o777, 0o600);
    } finally {
      root.close();
    }
  });

  test('another namespace gets users of its own, which cannot touch this one', async () => {
    const r = await setupAuth(admin({ prefix: '/other/' }), [{ kind: 'controller' }], false);
    assert.equal(r.components[0]!.user, 'other-controller');
    const other = storeAs({ kind: 'controller' }, '/other/');
    await other.put('desired/root', '{}');
    const here = new EtcdStore({
      endpoints: etcd.endpoints,
      prefix: PREFIX,
      ca: pem('ca.crt'),
      cert: pem('admin.crt'),
      key: pem('admin.key'),
      user: 'other-controller',
      password: fs.readFileSync(r.components[0]!.passwordFile, 'utf8').trim(),
      callTimeoutMs: 3000,
    });
    stores.push(here);
    await denied(here.put('desired/root', '{}'), "/other/'s controller writes /gitfleet/");
  });

  test('a wrong root password is refused with a clear error, and nothing changes', async () => {
    await assert.rejects(setupAuth(admin({ rootPassword: 'wrong' }), ALL, true), (e: Error) => {
      assert.ok(e instanceof AuthSetupError);
      assert.match(e.message, /refused the root password/);
      return true;
    });
  });
});
