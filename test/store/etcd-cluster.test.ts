/**
 * EtcdStore against a three-member etcd cluster: a dead follower is stepped over, a dead leader
 * costs a short, bounded outage (no call stalls for seconds), and a watch loses nothing across it.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, test } from 'node:test';
import { EtcdStore } from '../../src/store/etcd.js';
import { StoreUnavailableError, type WatchEvent } from '../../src/store/store.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';

let etcd: EtcdCluster;
const CALL_TIMEOUT_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  etcd = await startEtcd({ members: 3 });
});
after(async () => {
  await etcd?.stop();
});

function metrics(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/metrics`, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Index of the member that says it is the leader. */
async function leader(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    for (let i = 0; i < etcd.members.length; i++) {
      if (!etcd.members[i]!.pid) continue;
      const m = await metrics(etcd.members[i]!.metricsUrl).catch(() => '');
      if (/^etcd_server_is_leader 1$/m.test(m)) return i;
    }
    await sleep(50);
  }
  throw new Error('no member says it is the leader');
}

function open(t: { after(fn: () => Promise<void>): void }, prefix: string): EtcdStore {
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix, callTimeoutMs: CALL_TIMEOUT_MS, log: () => undefined });
  t.after(() => s.close());
  return s;
}

test('cluster: with a follower SIGKILLed, every call still succeeds on the other members', async (t) => {
  const s = open(t, '/cluster/follower/');
  const l = await leader();
  const f = (l + 1) % 3;
  await etcd.kill(f);
  try {
    for (let i = 0; i < 30; i++) {
      await s.put(`k${i}`, 'v');
      assert.equal((await s.get(`k${i}`))?.value, 'v');
    }
    assert.equal((await s.range('')).kvs.length, 30);
  } finally {
    await etcd.restart(f);
  }
});

test('cluster: the leader SIGKILLed costs an outage of transient failures only, and a watch loses nothing', {
  timeout: 120_000,
}, async (t) => {
  const s = open(t, '/cluster/leader/');
  const watcher = open(t, '/cluster/leader/');
  const got: WatchEvent[] = [];
  const w = await watcher.watch('', undefined, { onEvents: (evs) => got.push(...evs) });
  await s.put('seq/000', '0');
  const l = await leader();
  await etcd.kill(l);
  const t0 = Date.now();
  let written = 1;
  let failures = 0;
  let slowest = 0;
  let firstOkAfter = -1;
  while (Date.now() - t0 < 2500 || firstOkAfter < 0) {
    const c0 = Date.now();
    try {
      await s.put(`seq/${String(written).padStart(3, '0')}`, String(written));
      written++;
      if (firstOkAfter < 0) firstOkAfter = Date.now() - t0;
    } catch (e) {
      assert.ok(e instanceof StoreUnavailableError, `only StoreUnavailableError during the election, got ${String(e)}`);
      failures++;
    }
    slowest = Math.max(slowest, Date.now() - c0);
    await sleep(10);
  }
  t.diagnostic(
    `leader killed: first write ok after ${firstOkAfter} ms, ${failures} failed calls, slowest call ${slowest} ms, ` +
      `${written} writes`,
  );
  await etcd.restart(l);
  const w0 = Date.now();
  while (got.length < written && Date.now() - w0 < 5000) await sleep(20);
  assert.deepEqual(
    got.map((e) => e.kv.key),
    Array.from({ length: written }, (_, i) => `seq/${String(i).padStart(3, '0')}`),
    'the watch saw every write once, in order',
  );
  await w.close();
});
