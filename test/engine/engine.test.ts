/**
 * The engine against a real etcd (test/support/etcd.ts): leadership, fencing, machines that come
 * and go, constraints end to end, and zero writes when nothing changed. Desired state is written
 * by the controller's own applyDesired; machines register as agents do (a lease-bound
 * machineKey). Engines that must be killed or paused run as child processes
 * (engine-child.ts), ended by PID.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { applyDesired } from '../../src/controller/apply.js';
import { Engine, type PassReport } from '../../src/engine/engine.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { sha256 } from '../../src/util/hash.js';
import type { DesiredState, DesiredStateName } from '../../src/desired/types.js';
import { EtcdStore } from '../../src/store/etcd.js';
import {
  ENGINE_LEADER,
  SCHEDULE_PREFIX,
  UNSCHEDULED_PREFIX,
  machineKey,
  scheduleBatchKey,
  scheduleKey,
  splitMachineUnit,
  type MachineRecord,
  type ScheduleEntry,
} from '../../src/store/keys.js';
import type { Lease, Store } from '../../src/store/store.js';
import type { FleetConstraints } from '../../src/unit/types.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';

const TTL = 2;
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

let etcd: EtcdCluster;
const stores: Store[] = [];
const engines: Engine[] = [];
const children = new Map<number, ChildProcess>();
let prefixSeq = 0;

before(async () => {
  etcd = await startEtcd();
});

after(async () => {
  for (const [pid, child] of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }
  await Promise.all(engines.map((e) => e.stop().catch(() => {})));
  await Promise.all(stores.map((s) => s.close().catch(() => {})));
  await etcd?.stop();
});

process.on('exit', () => {
  for (const pid of children.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

// ---- helpers -------------------------------------------------------------------------------------

function freshPrefix(): string {
  return `/engine-test-${process.pid}-${++prefixSeq}/`;
}

function openStore(prefix: string, timeoutMs?: number): EtcdStore {
  const s = new EtcdStore({
    endpoints: etcd.endpoints,
    prefix,
    log: () => {},
    ...(timeoutMs ? { callTimeoutMs: timeoutMs, watchCreateTimeoutMs: timeoutMs } : {}),
  });
  stores.push(s);
  return s;
}

function startEngine(store: Store, id: string, onPass?: (r: PassReport) => void): Engine {
  const e = new Engine({
    store,
    id,
    leaseTtl: TTL,
    resyncSeconds: 0,
    log: silentLogger,
    ...(onPass ? { onPass } : {}),
  });
  engines.push(e);
  return e;
}

interface UnitSpec {
  name: string;
  state?: DesiredStateName;
  c?: Partial<FleetConstraints>;
  body?: string;
  triggers?: string;
}

/** Write a commit's desired state exactly as the controller does. */
async function writeDesired(store: Store, commit: string, specs: UnitSpec[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const desired: DesiredState = {
    commit,
    units: specs.map((s) => {
      const content = `[Service]\nExecStart=/bin/sleep infinity\n# ${s.name} ${s.body ?? ''}\n`;
      const hash = sha256(content);
      hashes.set(s.name, hash);
      const constraints: FleetConstraints = {
        machineMetadata: {},
        machineOf: [],
        conflicts: [],
        global: false,
        replaces: [],
        ...s.c,
      };
      return {
        name: s.name,
        content,
        hash,
        state: s.state ?? 'launched',
        constraints,
        source: `units/${s.name}`,
        ...(s.triggers ? { triggers: s.triggers } : {}),
      };
    }),
  };
  const r = await applyDesired(store, desired);
  assert.equal(r.result, 'applied');
  return hashes;
}

/** Register a machine as its agent does: a record under its own lease, kept alive. */
async function registerMachine(
  store: Store,
  id: string,
  metadata: Record<string, string> = {},
  ttl = TTL,
): Promise<Lease> {
  const lease = await store.grantLease(ttl);
  const rec: MachineRecord = {
    id,
    address: '127.0.0.1',
    metadata,
    version: 'test',
    startedAt: new Date().toISOString(),
  };
  await store.put(machineKey(id), JSON.stringify(rec), { lease: lease.id });
  return lease;
}

async function readSchedule(
  store: Store,
): Promise<Map<string, { machine: string; entry: ScheduleEntry; modRevision: number }>> {
  const out = new Map<string, { machine: string; entry: ScheduleEntry; modRevision: number }>();
  for (const kv of (await store.range(SCHEDULE_PREFIX)).kvs) {
    const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX)!;
    assert.ok(!out.has(mu.unit), `${mu.unit} is scheduled on two machines`);
    out.set(mu.unit, {
      machine: mu.machine,
      entry: JSON.parse(kv.value) as ScheduleEntry,
      modRevision: kv.modRevision,
    });
  }
  return out;
}

async function readUnscheduled(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const kv of (await store.range(UNSCHEDULED_PREFIX)).kvs)
    out.set(kv.key.slice(UNSCHEDULED_PREFIX.length), (JSON.parse(kv.value) as { reason: string }).reason);
  return out;
}

const where = (s: Awaited<ReturnType<typeof readSchedule>>) =>
  Object.fromEntries([...s].map(([u, v]) => [u, v.machine]));

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function leaderOf(es: Engine[]): Promise<Engine> {
  return waitFor('exactly one leader', () => {
    const ls = es.filter((e) => e.isLeader());
    return ls.length === 1 ? ls[0] : null;
  });
}

interface Child {
  pid: number;
  events: { event: string; [k: string]: unknown }[];
  next(event: string, timeoutMs?: number): Promise<{ event: string; [k: string]: unknown }>;
}

function startChildEngine(prefix: string, id: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'engine-child.ts')], {
    cwd: root,
    env: { ...process.env, ENDPOINTS: etcd.endpoints.join(','), PREFIX: prefix, ENGINE_ID: id, LEASE_TTL: String(TTL) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = child.pid!;
  children.set(pid, child);
  child.once('exit', () => children.delete(pid));
  const events: Child['events'] = [];
  /** Per event type, how many were already returned by next(). */
  const taken = new Map<string, number>();
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l));
    } catch {
      // not ours
    }
  });
  return {
    pid,
    events,
    async next(event, timeoutMs = 15_000) {
      return waitFor(
        `child ${id} to report ${event}`,
        () => {
          const ofType = events.filter((e) => e.event === event);
          const n = taken.get(event) ?? 0;
          if (ofType.length <= n) return null;
          taken.set(event, n + 1);
          return ofType[n];
        },
        timeoutMs,
      );
    },
  };
}

async function endChild(c: Child): Promise<void> {
  const child = children.get(c.pid);
  if (!child) return;
  process.kill(c.pid, 'SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
}

const M = [
  'a1a1a1a1000000000000000000000001',
  'b2b2b2b2000000000000000000000002',
  'c3c3c3c3000000000000000000000003',
] as const;

// ---- tests ---------------------------------------------------------------------------------------

test('several engines contend: exactly one leads and the others know which', async () => {
  const prefix = freshPrefix();
  const es = ['e1', 'e2', 'e3'].map((id) => startEngine(openStore(prefix), id));
  await Promise.all(es.map((e) => e.start()));
  const leader = await leaderOf(es);
  const id = ['e1', 'e2', 'e3'][es.indexOf(leader)]!;
  const kv = await stores[stores.length - 1]!.get(ENGINE_LEADER);
  assert.equal(kv?.value, id);
  assert.notEqual(kv?.lease, '0', 'the leader key is bound to a lease');
  await waitFor('followers to know the leader', () => es.every((e) => e.leaderId() === id));
  // Stopping the leader hands over at once: it resigns (deletes its key, revokes its lease), so
  // the key it held is gone when stop() returns, and nobody waits for its lease to run out.
  await leader.stop();
  const after_ = await stores[stores.length - 1]!.get(ENGINE_LEADER);
  assert.notEqual(after_?.createRevision, kv!.createRevision, "the resigning leader's key is gone");
  const next = await leaderOf(es.filter((e) => e !== leader));
  assert.notEqual(next, leader);
  for (const e of es) await e.stop();
});

test('schedules through etcd with every constraint, and follows desired-state changes', async () => {
  const prefix = freshPrefix();
  const store = openStore(prefix);
  await registerMachine(store, M[0], { region: 'eu' });
  await registerMachine(store, M[1], { region: 'us' });
  await registerMachine(store, M[2], { region: 'eu', disk: 'ssd' });
  const passes: PassReport[] = [];
  const engine = startEngine(openStore(prefix), 'e1', (r) => passes.push(r));
  await engine.start();
  await leaderOf([engine]);
  await engine.idle();
  const passesBefore = passes.length;

  const units: UnitSpec[] = [
    { name: 'db.service', c: { machineMetadata: { disk: ['ssd'] } } },
    { name: 'app.service', c: { machineOf: ['db.service'] } },
    { name: 'web@1.service', c: { conflicts: ['web@*.service'] } },
    { name: 'web@2.service', c: { conflicts: ['web@*.service'] } },
    { name: 'web@3.service', c: { conflicts: ['web@*.service'] } },
    { name: 'web@4.service', c: { conflicts: ['web@*.service'] } },
    { name: 'pinned.service', c: { machineId: M[1].slice(0, 8) } },
    { name: 'nowhere.service', c: { machineMetadata: { region: ['ap'] } } },
    { name: 'idle.service', state: 'inactive' },
    { name: 'global.service', c: { global: true, machineMetadata: { region: ['eu'] } } },
    { name: 'backup.service', state: 'loaded' },
    { name: 'backup.timer' },
    { name: 'old.service' },
  ];
  const hashes = await writeDesired(store, 'c1', units);
  const s1 = await waitFor('the schedule to settle', async () => {
    const s = await readSchedule(store);
    return s.size === 9 ? s : null;
  });
  const at = where(s1);
  assert.equal(at['db.service'], M[2]);
  assert.equal(at['app.service'], M[2], 'MachineOf');
  assert.equal(
    new Set(['web@1.service', 'web@2.service', 'web@3.service'].map((u) => at[u])).size,
    3,
    'Conflicts spread web@ over three machines',
  );
  assert.equal(at['web@4.service'], undefined, 'a fourth conflicting web@ has no machine left');
  assert.equal(at['pinned.service'], M[1], 'MachineID by short id');
  assert.equal(at['backup.timer'], at['backup.service'], 'a timer runs with the service it triggers');
  const oldAt = at['old.service']!;
  assert.ok(oldAt);
  for (const u of ['idle.service', 'global.service', 'nowhere.service'])
    assert.equal(at[u], undefined, `${u} is on no machine`);
  assert.deepEqual(s1.get('backup.service')!.entry, { hash: hashes.get('backup.service'), state: 'loaded' });
  assert.deepEqual(s1.get('db.service')!.entry, { hash: hashes.get('db.service'), state: 'launched' });
  const why = await readUnscheduled(store);
  assert.deepEqual([...why.keys()].sort(), ['nowhere.service', 'web@4.service']);
  assert.equal(why.get('nowhere.service'), 'no machine has region=ap');
  assert.match(
    why.get('web@4.service')!,
    /^conflicts with web@1\.service, web@2\.service, web@3\.service on every machine$/,
  );
  await new Promise((r) => setTimeout(r, 200));
  await engine.idle();
  assert.equal(passes.length - passesBefore, 1, "one commit, one pass: the engine's own writes trigger nothing");

  // Commit 2: db goes inactive (app follows it off), new.service replaces old.service on its
  // machine, web@1 changes content (same machine, new hash), web@4 goes away.
  const units2: UnitSpec[] = units
    .filter((u) => u.name !== 'web@4.service')
    .map((u) =>
      u.name === 'db.service'
        ? { ...u, state: 'inactive' as const }
        : u.name === 'web@1.service'
          ? { ...u, body: 'v2' }
          : u,
    );
  units2.push({ name: 'new.service', c: { machineId: oldAt, replaces: ['old.service'] } });
  const hashes2 = await writeDesired(store, 'c2', units2);
  const s2 = await waitFor('the second commit to be scheduled', async () => {
    const s = await readSchedule(store);
    return s.has('new.service') &&
      !s.has('db.service') &&
      s.has('old.service') &&
      s.get('old.service')?.machine !== oldAt
      ? s
      : null;
  });
  const at2 = where(s2);
  assert.equal(at2['new.service'], oldAt, 'the replacing unit takes the machine it is pinned to');
  assert.notEqual(at2['old.service'], oldAt, 'the replaced unit runs elsewhere');
  assert.equal(at2['app.service'], undefined);
  assert.equal(at2['web@1.service'], at['web@1.service'], 'a content change keeps the machine');
  assert.equal(s2.get('web@1.service')!.entry.hash, hashes2.get('web@1.service'));
  assert.notEqual(hashes2.get('web@1.service'), hashes.get('web@1.service'));
  const why2 = await waitFor('reasons to follow', async () => {
    const w = await readUnscheduled(store);
    return w.has('app.service') && !w.has('web@4.service') ? w : null;
  });
  assert.equal(why2.get('app.service'), 'MachineOf db.service, which is not scheduled (its desired state is inactive)');
  await engine.stop();
});

test(
  'a machine whose lease expires loses its units; a machine that joins moves nothing; an idle pass writes ' + 'nothing',
  async () => {
    const prefix = freshPrefix();
    const store = openStore(prefix);
    const leases = await Promise.all(M.map((id) => registerMachine(store, id)));
    const engineStore = openStore(prefix);
    const engine = startEngine(engineStore, 'e1');
    await engine.start();
    await leaderOf([engine]);
    await writeDesired(
      store,
      'c1',
      ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => ({ name: `${n}.service` })),
    );
    const s1 = await waitFor('six units scheduled', async () => {
      const s = await readSchedule(store);
      return s.size === 6 ? s : null;
    });
    assert.deepEqual([...s1.values()].filter((v) => v.machine === M[1]).length, 2, 'two units per machine');

    // The agent of M[1] stops renewing: its registration expires with the lease.
    leases[1]!.release();
    const s2 = await waitFor(
      'units of the expired machine to move',
      async () => {
        const s = await readSchedule(store);
        return s.size === 6 && [...s.values()].every((v) => v.machine !== M[1]) ? s : null;
      },
      TTL * 1000 + 30_000,
    );
    for (const [u, v] of s1)
      if (v.machine !== M[1]) assert.equal(s2.get(u)!.modRevision, v.modRevision, `${u} was not touched`);

    // M[1] comes back: nothing moves to it.
    await registerMachine(store, M[1]);
    await waitFor('the engine to see the machine', async () => (await store.get(machineKey(M[1]))) !== null);
    await new Promise((r) => setTimeout(r, 300));
    await engine.idle();
    const s3 = await readSchedule(store);
    for (const [u, v] of s2)
      assert.equal(s3.get(u)!.modRevision, v.modRevision, `${u} stayed put when a machine joined`);

    // A pass with nothing changed: it reads nothing (what it plans on is followed by watches) and
    // writes nothing: no put, no delete, no txn.
    const before = engineStore.stats();
    const passBefore = engine.lastPass;
    engine.trigger();
    await new Promise((r) => setImmediate(r));
    await engine.idle();
    const afterStats = engineStore.stats();
    assert.notEqual(engine.lastPass, passBefore, 'the pass did run');
    assert.deepEqual(
      {
        ranges: afterStats.ranges - before.ranges,
        puts: afterStats.puts - before.puts,
        deletes: afterStats.deletes - before.deletes,
        txns: afterStats.txns - before.txns,
      },
      { ranges: 0, puts: 0, deletes: 0, txns: 0 },
    );
    await engine.stop();
  },
);

test('a killed leader (SIGKILL) is replaced once its lease runs out, and the new leader moves nothing', async () => {
  const prefix = freshPrefix();
  const store = openStore(prefix);
  const a = startChildEngine(prefix, 'child-a');
  await a.next('leader');
  const b = startEngine(openStore(prefix), 'b');
  const c = startEngine(openStore(prefix), 'c');
  await Promise.all([b.start(), c.start()]);
  assert.ok(!b.isLeader() && !c.isLeader());
  for (const id of M) await registerMachine(store, id);
  await writeDesired(
    store,
    'c1',
    Array.from({ length: 12 }, (_, i) => ({ name: `u${i}.service`, c: i % 4 === 0 ? { conflicts: ['u*'] } : {} })),
  );
  const s1 = await waitFor('the child leader to schedule', async () => {
    const s = await readSchedule(store);
    const why = await readUnscheduled(store);
    return s.size + why.size === 12 && s.size > 0 ? s : null;
  });

  await endChild(a);
  const next = await leaderOf([b, c]);
  await waitFor('the new leader to finish a pass', () => next.lastPass !== null);
  await next.idle();
  assert.equal(next.lastPass!.ops, 0, 'the new leader wrote nothing');
  const s2 = await readSchedule(store);
  assert.deepEqual(where(s2), where(s1));
  for (const [u, v] of s1)
    assert.equal(s2.get(u)!.modRevision, v.modRevision, `${u} untouched by the change of leader`);
  await Promise.all([b.stop(), c.stop()]);
});

test('a paused (SIGSTOP) leader that resumes cannot write: its fenced writes are refused', async () => {
  const prefix = freshPrefix();
  const store = openStore(prefix);
  for (const id of M) await registerMachine(store, id);
  const a = startChildEngine(prefix, 'child-a');
  const led = await a.next('leader');
  assert.ok(led.fence, 'the child reports the fence it holds');
  const b = startEngine(openStore(prefix), 'b');
  await b.start();
  await writeDesired(store, 'c1', [{ name: 'x.service' }, { name: 'y.service' }]);
  await waitFor('the child to schedule', async () => (await readSchedule(store)).size === 2);

  process.kill(a.pid, 'SIGSTOP');
  try {
    await leaderOf([b]);
    // While the old leader sleeps, the desired state changes and the new leader schedules it.
    await writeDesired(store, 'c2', [{ name: 'x.service' }, { name: 'y.service' }, { name: 'z.service' }]);
    await waitFor('the new leader to schedule', async () => (await readSchedule(store)).has('z.service'));
  } finally {
    process.kill(a.pid, 'SIGCONT');
  }
  const w = await a.next('stale-write');
  assert.equal(w.succeeded, false, `a write fenced by the old leadership is refused by etcd (${JSON.stringify(w)})`);
  assert.equal(await store.get(scheduleKey('stale-machine', 'stale.service')), null);
  await a.next('follower');
  assert.ok(b.isLeader(), 'the new leader keeps leading');
  const s = await readSchedule(store);
  assert.deepEqual([...s.keys()].sort(), ['x.service', 'y.service', 'z.service']);
  await endChild(a);
  await b.stop();
});

test('a leader held between planning and writing, resuming in a new term: etcd refuses its plan', async () => {
  const prefix = freshPrefix();
  const store = openStore(prefix);
  for (const id of M) await registerMachine(store, id);
  // What etcd answers a's writes once it is let go, and whether any of them put z.service.
  const aStore = openStore(prefix);
  const afterRelease: { succeeded: boolean; putsZ: boolean }[] = [];
  let released = false;
  const txn = aStore.txn.bind(aStore);
  aStore.txn = async (compares, ops, failure) => {
    const r = await txn(compares, ops, failure);
    const putsZ = ops.some((o) => o.op === 'put' && o.key.endsWith('/z.service'));
    if (released) afterRelease.push({ succeeded: r.succeeded, putsZ });
    return r;
  };
  const a = startEngine(aStore, 'a');
  await a.start();
  await leaderOf([a]);
  await writeDesired(store, 'c1', [{ name: 'x.service' }]);
  await waitFor('c1 scheduled', async () => (await readSchedule(store)).size === 1);

  // Hold a's next pass after it planned (c2 adds z.service) and before it writes.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let holding = false;
  a.beforeWrite = async () => {
    holding = true;
    await held;
  };
  await writeDesired(store, 'c2', [{ name: 'x.service' }, { name: 'z.service' }]);
  await waitFor('a holds a planned write', () => holding);

  // Leadership changes meanwhile (the key deleted, as when a's lease runs out), and c3 drops z.
  const b = startEngine(openStore(prefix), 'b');
  await b.start();
  await store.delete(ENGINE_LEADER);
  await waitFor('a new term leads', async () => (await store.get(ENGINE_LEADER)) !== null);
  await writeDesired(store, 'c3', [{ name: 'x.service' }]);
  a.beforeWrite = null;
  released = true;
  release();
  await waitFor('c3 is what is scheduled', async () => {
    const s = await readSchedule(store);
    return s.size === 1 && s.has('x.service');
  });
  await waitFor("a's held write was answered", () => afterRelease.length > 0);
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(afterRelease[0]!.succeeded, false, "etcd refused the held plan's write (its term's fence)");
  assert.deepEqual(
    afterRelease.filter((w) => w.succeeded && w.putsZ),
    [],
    'the held plan (z.service) was never written, nor retried',
  );
  assert.deepEqual([...(await readSchedule(store)).keys()], ['x.service']);
  await a.stop();
  await b.stop();
});

test('an etcd restart (SIGKILL) changes nothing: same leader, same schedule, no writes', async () => {
  const prefix = freshPrefix();
  const store = openStore(prefix);
  for (const id of M) await registerMachine(store, id, {}, 5);
  const engineStore = openStore(prefix);
  const engine = startEngine(engineStore, 'e1');
  await engine.start();
  await leaderOf([engine]);
  await writeDesired(
    store,
    'c1',
    ['a', 'b', 'c'].map((n) => ({ name: `${n}.service` })),
  );
  const s1 = await waitFor('three units scheduled', async () => {
    const s = await readSchedule(store);
    return s.size === 3 ? s : null;
  });
  await engine.idle();
  const before = engineStore.stats();
  await etcd.restart(0);
  await new Promise((r) => setTimeout(r, 1500));
  await engine.idle();
  assert.ok(engine.isLeader(), 'still the leader');
  const s2 = await readSchedule(store);
  for (const [u, v] of s1) assert.equal(s2.get(u)?.modRevision, v.modRevision, `${u} untouched`);
  const afterStats = engineStore.stats();
  assert.equal(
    afterStats.puts + afterStats.deletes + afterStats.txns,
    before.puts + before.deletes + before.txns,
    'the engine wrote nothing',
  );
  await engine.stop();
});

test('an engine started while etcd is down leads once etcd is back', async () => {
  const prefix = freshPrefix();
  await etcd.kill(0);
  let engine: Engine;
  try {
    engine = startEngine(openStore(prefix, 500), 'late');
    await engine.start(); // resolves after a failed first attempt; keeps retrying
    assert.equal(engine.isLeader(), false);
  } finally {
    await etcd.restart(0);
  }
  await waitFor('the engine to lead once etcd is back', () => engine.isLeader(), 10_000);
  await engine.stop();
});

test('a batch marker a dead leader left is removed by the next, read as a marker (not malformed)', async () => {
  const prefix = freshPrefix();
  const store = openStore(prefix);
  for (const id of M) await registerMachine(store, id, {}, 5);
  // What a leader that died between the transactions of a machine's batch leaves behind.
  await store.put(scheduleBatchKey(M[0]!), JSON.stringify({ term: 'gone' }));
  const lines: string[] = [];
  const engine = new Engine({
    store: openStore(prefix),
    id: 'e-batch',
    leaseTtl: TTL,
    resyncSeconds: 0,
    log: createLogger('engine', { level: 'warn', sink: (l) => lines.push(l) }),
  });
  engines.push(engine);
  await engine.start();
  await leaderOf([engine]);
  await writeDesired(store, 'c1', [{ name: 'a.service' }]);
  await waitFor('the marker removed and the unit scheduled', async () => {
    const marker = await store.get(scheduleBatchKey(M[0]!));
    return !marker && (await readSchedule(store)).size === 1 ? true : null;
  });
  assert.deepEqual(
    lines.filter((l) => /malformed/.test(l)),
    [],
  );
  await engine.stop();
});
