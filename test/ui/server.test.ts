/**
 * The web UI's server against a real etcd: a real controller applies real git commits, a real
 * engine schedules them; machine records and unit reports are written as agents write them. The
 * UI reads through its own etcd client, which must write nothing.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Controller } from '../../src/controller/controller.js';
import { loadCommit } from '../../src/source/git.js';
import { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/log.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { machineKey, unitStateKey, type MachineRecord, type UnitStateReport } from '../../src/store/keys.js';
import { startUiServer, UiConfigError, type UiServer } from '../../src/ui/server.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { tempDir, TestRepo } from '../support/git.js';
import { eventually } from '../support/systemd.js';
import { openStream, type SseEvent } from './sse.js';

const unit = (desc: string, extra = '') =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep infinity\n${extra}`;

let etcd: EtcdCluster;
let tmp: { dir: string; cleanup: () => void };
const closers: (() => Promise<void>)[] = [];
let n = 0;

before(async () => {
  etcd = await startEtcd();
  tmp = tempDir('gitfleet-ui-');
});
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await etcd?.stop();
  tmp?.cleanup();
});

function newStore(prefix: string): EtcdStore {
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix, callTimeoutMs: 2000, log: () => {} });
  closers.push(() => s.close());
  return s;
}

const machine = (id: string, metadata: Record<string, string>): MachineRecord => ({
  id,
  address: `10.0.0.${id.length}`,
  metadata,
  version: '0.1.0',
  startedAt: '2026-01-01T00:00:00.000Z',
});
const report = (active: string, hash: string, driftRepairs?: number): UnitStateReport => ({
  load: 'loaded',
  active,
  sub: active === 'active' ? 'running' : active === 'failed' ? 'failed' : 'dead',
  hash,
  ...(driftRepairs ? { driftRepairs } : {}),
});

interface Fixture {
  writer: EtcdStore;
  reader: EtcdStore;
  repo: TestRepo;
  controller: Controller;
  engine: Engine;
  ui: UiServer;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; text: string; json: () => any }>;
}

/** A namespace with a repo applied by a real controller, scheduled by a real engine, and a UI on it. */
async function fixture(opts: Partial<Parameters<typeof startUiServer>[0]> = {}): Promise<Fixture> {
  const prefix = `/ui${++n}/`;
  const writer = newStore(prefix);
  const reader = newStore(prefix);
  const repo = TestRepo.init(tmp.dir, `repo${n}`);
  repo.commit('units', {
    'fleet.yaml': 'units:\n  a.service: launched\n  b.service: loaded\n  c.service: launched\n',
    'a.service': unit('a'),
    'b.service': unit('b'),
    'c.service': unit('c', '\n[X-Fleet]\nMachineMetadata=region=nowhere\n'),
  });
  await writer.put(machineKey('m1'), JSON.stringify(machine('m1', { region: 'a' })));
  await writer.put(machineKey('m2'), JSON.stringify(machine('m2', { region: 'b', disk: 'ssd' })));
  const controller = new Controller({
    store: writer,
    repo: repo.dir,
    stateDir: tmp.dir,
    load: loadCommit,
    log: silentLogger,
  });
  const engine = new Engine({ store: writer, id: `e${n}`, leaseTtl: 5, log: silentLogger });
  await controller.start();
  await engine.start();
  closers.push(async () => {
    await controller.stop();
    await engine.stop();
  });
  const ui = await startUiServer({ store: reader, listen: '127.0.0.1:0', log: silentLogger, coalesceMs: 20, ...opts });
  closers.push(() => ui.close());
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(ui.url + path.replace(/^\//, ''), { headers, redirect: 'manual' });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  };
  await eventually(
    'the UI shows the scheduled units',
    async () => {
      const s = (await get('/api/state')).json();
      return s.units['a.service']?.machines.length === 1 && s.units['c.service']?.unscheduled !== null;
    },
    15_000,
  );
  return { writer, reader, repo, controller, engine, ui, get };
}

const patchOf = (e: SseEvent) => (e.event === 'patch' ? JSON.parse(e.data) : null);

describe('the UI follows the cluster', () => {
  test('rows from the store, and every change pushed to open pages as a patch', { timeout: 60_000 }, async () => {
    const f = await fixture();
    const s = (await f.get('/api/state')).json();
    const a = s.units['a.service'];
    assert.equal(a.desired, 'launched');
    assert.equal(a.machines[0].scheduled, true);
    const where = a.machines[0].machine as string;
    assert.ok(['m1', 'm2'].includes(where));
    assert.match(s.units['c.service'].unscheduled, /region=nowhere/);
    assert.deepEqual(s.machines.m2.metadata, { region: 'b', disk: 'ssd' });
    assert.equal(s.summary.cluster.applied.commit, f.repo.head());
    // The commit's rollout, as the engine records it: its units added, each with its machine.
    const rows = Object.values(s.rollouts as Record<string, { commit: string; change: string }>);
    assert.ok(rows.length > 0 && rows.every((r) => r.commit === f.repo.head() && r.change === 'added'));

    const stream = await openStream(`${f.ui.url}events`);
    assert.equal(stream.status, 200);
    const snap = JSON.parse((await stream.next((e) => e.event === 'snapshot')).data);
    assert.equal(snap.units['a.service'].name, 'a.service');

    // The agent of that machine reports a.service failed: the row and the summary change, live.
    const hash = a.hash as string;
    await f.writer.put(unitStateKey(where, 'a.service'), JSON.stringify(report('failed', hash, 2)));
    const p1 = patchOf(
      await stream.next((e) => patchOf(e)?.units?.upsert?.['a.service']?.machines[0]?.active === 'failed'),
    );
    assert.equal(p1.units.upsert['a.service'].machines[0].driftRepairs, 2);
    const summary = await stream.next((e) => patchOf(e)?.summary?.upsert?.cluster?.units.failed === 1);
    assert.ok(summary);
    // Only what changed is sent: b.service and the machines did not.
    assert.equal(p1.units.upsert['b.service'], undefined);

    // A new commit changes a.service: the machine now runs outdated content, until it reports anew.
    const commit = f.repo.commit('change a', { 'a.service': unit('a, second version') });
    const p2 = await stream.next((e) => patchOf(e)?.summary?.upsert?.cluster?.applied?.commit === commit);
    assert.ok(p2);
    const outdated = await stream.next((e) => patchOf(e)?.units?.upsert?.['a.service']?.machines[0]?.outdated === true);
    assert.ok(outdated);

    // A unit page's data: its file as the cluster has it.
    const u = (await f.get('/api/units/a.service')).json();
    assert.match(u.body.text, /Description=a, second version/);
    assert.match(u.journal.unavailable, /journalctl -u a\.service/);
    const m = (await f.get(`/api/machines/${where}`)).json();
    assert.deepEqual(
      m.units.map((x: { name: string }) => x.name),
      ['a.service'],
    );
    stream.close();

    // Everything above was read: the UI's own client wrote nothing.
    const st = f.reader.stats();
    assert.deepEqual({ puts: st.puts, deletes: st.deletes, txns: st.txns }, { puts: 0, deletes: 0, txns: 0 });
  });

  test('a malformed record is shown as a problem, naming its key, and hides nothing else', {
    timeout: 30_000,
  }, async () => {
    const f = await fixture();
    await f.writer.put(machineKey('broken'), '{"id": "broken"');
    await f.writer.put(unitStateKey('m1', 'b.service'), JSON.stringify({ load: 'loaded', active: 7 }));
    await eventually('both problems are listed', async () => {
      const s = (await f.get('/api/state')).json();
      return s.summary.cluster.problems.length === 2;
    });
    const s = (await f.get('/api/state')).json();
    const problems = s.summary.cluster.problems as { key: string; problem: string }[];
    assert.deepEqual(
      problems.map((p) => p.key),
      ['machines/broken', 'state/m1/b.service'],
    );
    assert.match(problems[0]!.problem, /not JSON/);
    assert.match(problems[1]!.problem, /active must be a string/);
    assert.deepEqual(Object.keys(s.machines).sort(), ['m1', 'm2']);
    // Rewritten well, the problem goes.
    await f.writer.put(machineKey('broken'), JSON.stringify(machine('broken', {})));
    await eventually('the fixed record shows', async () => {
      const x = (await f.get('/api/state')).json();
      return x.machines.broken !== undefined && x.summary.cluster.problems.length === 1;
    });
  });
});

describe('bad input', () => {
  test('unknown units and machines are 404, malformed paths and queries 400, writes 405', {
    timeout: 30_000,
  }, async () => {
    const f = await fixture();
    const cases: [string, number, RegExp][] = [
      ['/api/units/nope.service', 404, /unit nope\.service is not in the applied commit/],
      ['/api/machines/nope', 404, /no machine nope is registered/],
      ['/api/units/%E0%A4%A', 400, /malformed path/],
      ['/api/units/a.service?lines=abc', 400, /lines=abc: must be a whole number/],
      ['/api/units/a.service?lines=0', 400, /from 1 to 1000/],
      ['/api/units/a.service?color=red', 400, /unknown query parameter "color"/],
      ['/api/state?x', 400, /unknown query parameter "x"/],
      ['/api/units/..%2Fetc%2Fpasswd', 400, /is not a unit name/],
      ['/api/nothing', 404, /no such API path/],
      ['/nothing.html', 404, /not found/],
    ];
    for (const [path, status, re] of cases) {
      const r = await f.get(path);
      assert.equal(r.status, status, `${path}: ${r.text}`);
      assert.match(r.text, re, path);
    }
    const post = await fetch(`${f.ui.url}api/state`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.match(await post.text(), /read-only/);
    assert.equal((await f.get('/api/units/a.service?lines=5')).status, 200);
    const st = f.reader.stats();
    assert.deepEqual({ puts: st.puts, deletes: st.deletes, txns: st.txns }, { puts: 0, deletes: 0, txns: 0 });
  });

  test('a client that never reads its event stream is dropped; other pages and the API carry on', {
    timeout: 120_000,
  }, async () => {
    const f = await fixture({ events: { maxQueuedBytes: 64 * 1024 } });
    // A stream opened and never read: the socket is paused, so the kernel's buffers fill, then ours.
    const stuck = connect(Number(new URL(f.ui.url).port), '127.0.0.1');
    await new Promise<void>((r) => stuck.once('connect', () => r()));
    stuck.write('GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    stuck.pause();
    let stuckClosed = false;
    stuck.on('close', () => (stuckClosed = true));
    stuck.on('error', () => {});
    await eventually('the stuck stream is attached', () => f.ui.hub.clientCount === 1);
    const reader = await openStream(`${f.ui.url}events`);
    await eventually('both streams are attached', () => f.ui.hub.clientCount === 2);

    // Big changes: 40 machines with 25 kB of metadata each, rewritten every round (~1 MB per patch).
    const blob = 'x'.repeat(25_000);
    let round = 0;
    while (f.ui.hub.dropped === 0 && round < 60) {
      round++;
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          f.writer.put(machineKey(`big${i}`), JSON.stringify(machine(`big${i}`, { round: String(round), blob }))),
        ),
      );
      await reader.next((e) => patchOf(e)?.machines?.upsert?.big39?.metadata.round === String(round), 20_000);
    }
    assert.equal(f.ui.hub.dropped, 1, `dropped after ${round} rounds`);
    // Reading now, the stuck client finds its stream ended after what was queued.
    stuck.resume();
    await eventually('the stuck client is disconnected', () => stuckClosed, 20_000);
    // The reading page still gets every change, and the API answers.
    await f.writer.put(machineKey('after'), JSON.stringify(machine('after', {})));
    await reader.next((e) => patchOf(e)?.machines?.upsert?.after !== undefined);
    assert.equal((await f.get('/api/machines/after')).status, 200);
    const metrics = (await f.get('/metrics')).text;
    assert.match(metrics, /^gitfleet_ui_event_streams_dropped_total 1$/m);
    assert.match(metrics, /^gitfleet_ui_event_streams 1$/m);
    reader.close();
  });

  test('a client that never finishes its request is cut off; the others are served meanwhile', {
    timeout: 60_000,
  }, async () => {
    const f = await fixture({ headersTimeoutMs: 1_000 });
    const slow = connect(Number(new URL(f.ui.url).port), '127.0.0.1');
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write('GET /api/state HTTP/1.1\r\nHost: x\r\n'); // the blank line never comes
    let closed = false;
    slow.on('close', () => (closed = true));
    slow.on('error', () => {});
    slow.resume();
    assert.equal((await f.get('/api/state')).status, 200);
    await eventually('the slow client is cut off', () => closed, 20_000);
  });
});

describe('the token', () => {
  test('off loopback the UI needs a token; with one, it takes it as a bearer header or a cookie', {
    timeout: 30_000,
  }, async () => {
    const reader = newStore(`/ui${++n}/`);
    await assert.rejects(
      startUiServer({ store: reader, listen: '0.0.0.0:0', log: silentLogger }),
      (e: Error) => e instanceof UiConfigError && /reachable from other machines; give --token-file/.test(e.message),
    );
    const token = 's3cret-token';
    const ui = await startUiServer({ store: reader, listen: '127.0.0.1:0', token, log: silentLogger });
    closers.push(() => ui.close());
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(ui.url + path, { headers, redirect: 'manual' });
    const denied = await get('api/state');
    assert.equal(denied.status, 401);
    assert.match(await denied.text(), /needs its token/);
    assert.equal((await get('api/state', { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await get('metrics', { authorization: `Bearer ${token}` })).status, 200);
    const first = await get(`?token=${token}`);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/');
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    assert.match(first.headers.get('set-cookie')!, /HttpOnly; SameSite=Strict/);
    assert.equal((await get('', { cookie })).status, 200);
    const stream = await openStream(`${ui.url}events`, { cookie });
    assert.equal(stream.status, 200);
    await stream.next((e) => e.event === 'snapshot');
    stream.close();
    assert.equal((await get('events')).status, 401);
  });
});
