/**
 * The leader lease across an etcd outage longer than its TTL, on a real etcd killed and restarted
 * on its data (which restores every lease with a fresh TTL, and with it the leader key bound to
 * the old one). The engine gives its lease up while etcd is away; once etcd answers it revokes
 * that lease instead of leaving it, and the leader key, to run out: otherwise no engine could
 * lead, and nothing be scheduled, for a whole TTL after etcd is back. etcd itself tells a revoked
 * lease from an expired one (etcd_debugging_server_lease_expired_total counts only the latter).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/log.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { startEtcd } from '../support/etcd.js';

async function waitFor(what: string, check: () => boolean, ms: number): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One counter from a member's /metrics. */
async function counter(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${metricsUrl}/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}

test('after an etcd outage past the leader lease, the engine revokes the lease it gave up rather than let it expire', {
  timeout: 90_000,
}, async () => {
  const etcd = await startEtcd({ members: 1 });
  const store = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/leader-outage/', log: () => {} });
  const engine = new Engine({ store, id: 'e1', leaseTtl: 5, resyncSeconds: 0, log: silentLogger });
  try {
    await engine.start();
    await waitFor('the engine to lead', () => engine.isLeader(), 15_000);
    await etcd.kill(0);
    await waitFor('the engine to give its lease up (no keep-alive for a TTL)', () => !engine.isLeader(), 20_000);
    await etcd.restart(0);
    await waitFor('the engine to lead again', () => engine.isLeader(), 20_000);
    const url = etcd.members[0]!.metricsUrl;
    assert.equal(await counter(url, 'etcd_debugging_server_lease_expired_total'), 0, 'no lease was left to expire');
    assert.ok((await counter(url, 'etcd_debugging_lease_revoked_total')) >= 1, 'the old lease was revoked');
  } finally {
    await engine.stop().catch(() => {});
    await store.close().catch(() => {});
    await etcd.stop();
  }
});
