/** openStore: the CLI's store flags turned into a store, and bad flags into clear errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EtcdStore } from '../../src/store/etcd.js';
import { MemoryBackend, MemoryStore } from '../../src/store/memory.js';
import { openStore, parseEndpoints, StoreConfigError } from '../../src/store/open.js';

const configError = (re: RegExp) => (e: Error) => {
  assert.ok(e instanceof StoreConfigError, `got ${e.name}: ${e.message}`);
  assert.match(e.message, re);
  return true;
};

test('--etcd takes comma-separated http(s) URLs with ports', () => {
  assert.deepEqual(parseEndpoints(' http://10.0.0.1:2379, http://10.0.0.2:2379 ,'), [
    'http://10.0.0.1:2379',
    'http://10.0.0.2:2379',
  ]);
  assert.throws(() => parseEndpoints(''), configError(/--etcd: no endpoint/));
  assert.throws(
    () => parseEndpoints('10.0.0.1:2379'),
    configError(/"10.0.0.1:2379" needs a scheme, e.g. http:\/\/10.0.0.1:2379/),
  );
  assert.throws(() => parseEndpoints('http://a b:1'), configError(/"http:\/\/a b:1" is not a URL/));
  assert.throws(() => parseEndpoints('ftp://etcd:2379'), configError(/must be an http:\/\/ or https:\/\/ URL/));
  assert.throws(() => parseEndpoints('http://etcd'), configError(/has no port/));
  assert.throws(() => parseEndpoints('http://a:1,https://b:1'), configError(/mixes http/));
});

test('openStore: etcd by default (env GITFLEET_ETCD), prefix ending in "/"', async (t) => {
  const saved = process.env.GITFLEET_ETCD;
  process.env.GITFLEET_ETCD = 'http://127.0.0.1:1';
  t.after(() => {
    if (saved === undefined) delete process.env.GITFLEET_ETCD;
    else process.env.GITFLEET_ETCD = saved;
  });
  const s = openStore({ prefix: '/gitfleet' });
  assert.ok(s instanceof EtcdStore);
  assert.equal(s.prefix, '/gitfleet/');
  await s.close();
  const d = openStore();
  assert.equal((d as EtcdStore).prefix, '/gitfleet/');
  await d.close();
});

test('openStore: bad TLS and auth flags are named', () => {
  assert.throws(
    () => openStore({ etcd: 'https://127.0.0.1:1', ca: '/nonexistent/ca.pem' }),
    configError(/--etcd-ca: cannot read \/nonexistent\/ca.pem: ENOENT/),
  );
  assert.throws(
    () => openStore({ etcd: 'https://127.0.0.1:1', cert: '/etc/hostname' }),
    configError(/--etcd-cert and --etcd-key go together/),
  );
  assert.throws(() => openStore({ etcd: 'http://127.0.0.1:1', ca: '/etc/hostname' }), configError(/need https:\/\//));
  const saved = process.env.GITFLEET_ETCD_PASSWORD;
  delete process.env.GITFLEET_ETCD_PASSWORD;
  try {
    assert.throws(
      () => openStore({ etcd: 'http://127.0.0.1:1', user: 'fleet' }),
      configError(/--etcd-user fleet: set the password in GITFLEET_ETCD_PASSWORD/),
    );
  } finally {
    if (saved !== undefined) process.env.GITFLEET_ETCD_PASSWORD = saved;
  }
  assert.throws(() => openStore({ prefix: '' }), configError(/--prefix/));
});

test('openStore({ memory: true }) gives a memory store; a shared backend shares state', async () => {
  const backend = new MemoryBackend();
  const a = openStore({ memory: true, backend });
  const b = openStore({ memory: true, backend, prefix: '/gitfleet/' });
  assert.ok(a instanceof MemoryStore);
  await a.put('k', 'v');
  assert.equal((await b.get('k'))?.value, 'v');
  await a.close();
  await b.close();
});
