/**
 * EtcdStore against an etcd that requires TLS with client certificates and user/password
 * authentication (--etcd-ca/--etcd-cert/--etcd-key, --etcd-user + GITFLEET_ETCD_PASSWORD).
 * Certificates are made for the test with openssl; one etcd serves the file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/store/etcd.js';
import { openStore } from '../../src/store/open.js';
import { retryKind } from '../../src/errors.js';
import { StoreAccessError, StoreUnavailableError } from '../../src/store/store.js';
import { LOCAL_SERVER, makeCerts } from '../support/certs.js';
import { enableAuth, startEtcd, type EtcdCluster } from '../support/etcd.js';

let etcd: EtcdCluster;
let dir: string;
const pem = (name: string) => fs.readFileSync(path.join(dir, name));
const file = (name: string) => path.join(dir, name);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitfleet-certs-'));
  makeCerts(dir, [LOCAL_SERVER, { name: 'client' }]);
  etcd = await startEtcd({
    tls: { certFile: file('server.crt'), keyFile: file('server.key'), trustedCaFile: file('ca.crt') },
  });
  // Users: root (required before auth can be enabled) and gitfleet, allowed /sec/ only.
  const admin = new Etcd3({
    hosts: etcd.endpoints,
    credentials: { rootCertificate: pem('ca.crt'), certChain: pem('client.crt'), privateKey: pem('client.key') },
  });
  await enableAuth(admin, { user: 'gitfleet', password: 's3cret', prefix: '/sec/' });
});
after(async () => {
  await etcd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const tls = () => ({ ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') });

test('TLS with a client certificate and a user: reads and writes under the granted prefix', async (t) => {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: '/sec/',
    ...tls(),
    user: 'gitfleet',
    password: 's3cret',
  });
  t.after(() => s.close());
  await s.put('k', 'v');
  assert.equal((await s.get('k'))?.value, 'v');
  const got: string[] = [];
  const w = await s.watch('', undefined, { onEvents: (evs) => got.push(...evs.map((e) => e.kv.key)) });
  const lease = await s.grantLease(5);
  await s.put('leased', 'x', { lease: lease.id });
  const t0 = Date.now();
  while (got.length === 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['leased']);
  await lease.revoke();
  await w.close();
});

test('openStore reads the CA, certificate and key files and the password from the environment', async (t) => {
  const saved = process.env.GITFLEET_ETCD_PASSWORD;
  process.env.GITFLEET_ETCD_PASSWORD = 's3cret';
  t.after(() => {
    if (saved === undefined) delete process.env.GITFLEET_ETCD_PASSWORD;
    else process.env.GITFLEET_ETCD_PASSWORD = saved;
  });
  const s = openStore({
    etcd: etcd.endpoints.join(','),
    prefix: '/sec',
    ca: file('ca.crt'),
    cert: file('client.crt'),
    key: file('client.key'),
    user: 'gitfleet',
  });
  t.after(() => s.close());
  await s.put('from-open', 'ok');
  assert.equal((await s.get('from-open'))?.value, 'ok');
});

test('a wrong password is a clear, fatal error, not an outage', async (t) => {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: '/sec/',
    ...tls(),
    user: 'gitfleet',
    password: 'wrong',
  });
  t.after(() => s.close());
  await assert.rejects(s.get('k'), (e: Error) => {
    assert.ok(e instanceof StoreAccessError && retryKind(e) === 'fatal', `got ${e.name}: ${e.message}`);
    assert.match(e.message, /authentication failed/);
    return true;
  });
});

test('a key outside the granted prefix is refused as permission denied, a fatal error', async (t) => {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: '/other/',
    ...tls(),
    user: 'gitfleet',
    password: 's3cret',
  });
  t.after(() => s.close());
  await assert.rejects(s.put('k', 'v'), (e: Error) => {
    assert.ok(e instanceof StoreAccessError && retryKind(e) === 'fatal', `got ${e.name}: ${e.message}`);
    assert.match(e.message, /denied permission under "\/other\/"/);
    return true;
  });
});

test('without the client certificate the TLS handshake fails as unavailable (transient)', async (t) => {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix: '/sec/',
    ca: pem('ca.crt'),
    user: 'gitfleet',
    password: 's3cret',
    callTimeoutMs: 1000,
  });
  t.after(() => s.close());
  await assert.rejects(s.get('k'), (e: Error) => e instanceof StoreUnavailableError && retryKind(e) === 'transient');
});

test('certificates with http:// endpoints, or a certificate without its key, are refused up front', () => {
  assert.throws(() => new EtcdStore({ endpoints: ['http://127.0.0.1:1'], ...tls() }), /not every endpoint is https/);
  assert.throws(
    () => new EtcdStore({ endpoints: etcd.endpoints, ca: pem('ca.crt'), cert: pem('client.crt') }),
    /give both or neither/,
  );
  assert.throws(() => new EtcdStore({ endpoints: etcd.endpoints, user: 'gitfleet' }), /without a password/);
});
