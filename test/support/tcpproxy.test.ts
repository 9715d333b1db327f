/** The TCP proxy used for network faults: a real etcd behind it, cut and healed. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { startEtcd, type EtcdCluster } from './etcd.js';
import { TcpProxy } from './tcpproxy.js';

let etcd: EtcdCluster;
let proxy: TcpProxy;
let store: Store;

before(async () => {
  etcd = await startEtcd();
  const u = new URL(etcd.endpoints[0]!);
  proxy = new TcpProxy(u.hostname, Number(u.port));
  await proxy.start();
  store = openStore({ etcd: proxy.url, prefix: '/proxytest/', callTimeoutMs: 500 });
});
after(async () => {
  await store?.close();
  await proxy?.stop();
  await etcd?.stop();
});

test('calls through the proxy work; cut, they time out; healed, they work again', async () => {
  await store.put('k', 'v1');
  assert.equal((await store.get('k'))?.value, 'v1');
  proxy.cut();
  await assert.rejects(store.get('k'), (e: Error) => e.name === 'StoreUnavailableError');
  proxy.heal();
  let value: string | undefined;
  for (let i = 0; i < 50 && value === undefined; i++) {
    value = await store.get('k').then(
      (kv) => kv?.value,
      () => undefined,
    );
    if (value === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(value, 'v1');
});
