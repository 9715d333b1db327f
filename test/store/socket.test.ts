/**
 * The Store contract through a unix socket (src/store/socket-*.ts: how other commands reach a running
 * `gitfleet up`), served from the in-process store; plus what only the socket has: owner-only, a
 * client that goes away releases its leases, a stale socket is replaced and a live one refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryBackend, MemoryStore } from '../../src/store/memory.js';
import { SocketStore } from '../../src/store/socket-client.js';
import { answers, serveStore } from '../../src/store/socket-server.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { storeContract } from './contract.js';

const backend = new MemoryBackend();
const dir = mkdtempSync(join(tmpdir(), 'gitfleet-sock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeContract(
  'socket',
  async (prefix, opts) => {
    const store = new MemoryStore({ backend, prefix, ...(opts?.log ? { log: opts.log } : {}) });
    const server = await serveStore(store, join(dir, `c${n++}`, 'store.sock'));
    const client = await SocketStore.connect(server.path, opts?.log ? { log: opts.log } : {});
    return {
      store: client,
      cleanup: async () => {
        await client.close();
        await server.close();
        await store.close();
      },
    };
  },
  { compact: async (revision) => backend.compact(revision) },
);

test('socket: owner-only (its directory is 0700), a stale socket is replaced, a live one refused', async () => {
  const store = new MemoryStore();
  const path = join(dir, 'own', 'store.sock');
  const server = await serveStore(store, path);
  try {
    assert.equal(statSync(join(dir, 'own')).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(await answers(path), true);
    await assert.rejects(serveStore(store, path), /served by another running process/);
  } finally {
    await server.close();
  }
  assert.equal(await answers(path), false);
  // A plain file where the socket was (a crash left something behind): replaced.
  writeFileSync(path, '');
  const again = await serveStore(store, path);
  assert.equal(await answers(path), true);
  await again.close();
  await store.close();
});

test('socket: a client that goes away releases its leases (keys expire by TTL) and its watches', async () => {
  const store = new MemoryStore();
  const server = await serveStore(store, join(dir, 'lease', 'store.sock'));
  try {
    const client = await SocketStore.connect(server.path);
    const lease = await client.grantLease(1);
    await client.put('k', 'v', { lease: lease.id });
    await client.watch('', undefined, { onEvents: () => {} });
    assert.equal((await store.get('k'))?.lease, lease.id);
    await client.close();
    const deadline = Date.now() + 5_000;
    while ((await store.get('k')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await store.get('k'), null, 'the key went with the lease');
  } finally {
    await server.close();
    await store.close();
  }
});

test('socket: nothing listening, or the server gone mid-session, is StoreUnavailableError', async () => {
  await assert.rejects(SocketStore.connect(join(dir, 'none.sock')), StoreUnavailableError);
  const store = new MemoryStore();
  const server = await serveStore(store, join(dir, 'gone', 'store.sock'));
  const client = await SocketStore.connect(server.path);
  const errors: Error[] = [];
  await client.watch('', undefined, { onEvents: () => {}, onError: (e) => errors.push(e) });
  await server.close();
  await assert.rejects(client.get('x'), StoreUnavailableError);
  assert.ok(errors[0] instanceof StoreUnavailableError, 'the watch is told');
  await client.close();
  await store.close();
});

test('socket: a range with a page size that is not a positive whole number is refused, naming it', async () => {
  const store = new MemoryStore();
  const server = await serveStore(store, join(dir, 'pages', 'store.sock'));
  const client = await SocketStore.connect(server.path);
  try {
    for (const pageSize of [0, 1.5, -3])
      await assert.rejects(client.range('', { pageSize }), /range: pageSize must be a positive whole number/);
    assert.deepEqual((await client.range('', { pageSize: 2 })).kvs, []);
  } finally {
    await client.close();
    await server.close();
    await store.close();
  }
});
