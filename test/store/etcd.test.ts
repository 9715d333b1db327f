/** The Store contract against a real etcd (one member, started for this file), plus etcd-only behaviour. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/store/etcd.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { storeContract } from './contract.js';

let etcd: EtcdCluster;
let raw: Etcd3;

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoints });
});
after(async () => {
  raw?.close();
  await etcd?.stop();
});

storeContract(
  'etcd',
  async (prefix, opts) => {
    const store = new EtcdStore({ endpoints: etcd.endpoints, prefix, ...(opts?.log ? { log: opts.log } : {}) });
    return { store, cleanup: () => store.close() };
  },
  {
    compact: async (revision) => {
      await raw.kv.compact({ revision, physical: true });
    },
  },
);

test('etcd: keys live under the prefix in etcd itself', async (t) => {
  const store = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/raw-check' });
  t.after(() => store.close());
  await store.put('a/b', 'v');
  assert.equal(await raw.get('/raw-check/a/b').string(), 'v');
  assert.equal(store.prefix, '/raw-check/');
});

test('etcd: a lease revoked by another client reports onLost', async (t) => {
  const store = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/lost-elsewhere/' });
  t.after(() => store.close());
  let lost: Error | undefined;
  const lease = await store.grantLease(1, { onLost: (e) => (lost = e) });
  await store.put('k', 'v', { lease: lease.id });
  await raw.leaseClient.leaseRevoke({ ID: lease.id });
  const t0 = Date.now();
  while (!lost && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  assert.ok(lost, 'onLost was called');
  assert.match(lost.message, new RegExp(`lease ${lease.id}`));
  assert.equal(await store.get('k'), null);
});
