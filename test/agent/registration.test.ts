// Registration and lease against the in-memory store: refuse a live id, take over our own, lease lost, come back.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { DesiredUnit } from '../../src/agent/desired-watch.js';
import { AgentError, Registration } from '../../src/agent/registration.js';
import { silentLogger } from '../../src/log.js';
import { machineKey } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { decodeMachineRecord } from '../../src/store/records.js';
import { VERSION } from '../../src/version.js';

interface Options {
  store: MemoryStore;
  ttlSeconds?: number;
  /** What unloadAllBut does (default: note it was asked). */
  unload?: () => Promise<void>;
}

function registration(t: TestContext, o: Options) {
  const events: string[] = [];
  const desired = {
    broken: false,
    entries: () => new Map<string, DesiredUnit>([['kept.service', { hash: 'h', state: 'launched' }]]),
    follow: async () => void events.push('follow'),
  };
  const r = new Registration({
    store: o.store,
    machineId: 'm1',
    address: '10.0.0.1',
    metadata: { role: 'web' },
    ttlSeconds: o.ttlSeconds ?? 30,
    log: silentLogger,
    desired,
    executor: {
      unloadAllBut: async (keep, reason) => {
        events.push(`unload all but ${[...keep.keys()].join(',')} (${reason})`);
        await o.unload?.();
      },
    },
    reporter: { leaseLost: () => void events.push('reports gone') },
    changed: (reason) => events.push(`pass: ${reason}`),
  });
  t.after(() => r.end('revoke'));
  return { r, events, desired };
}

function memoryStore(t: TestContext, backend = new MemoryStore().backend): MemoryStore {
  const s = new MemoryStore({ backend });
  t.after(() => s.close());
  return s;
}

test('start: follows, unloads what left, then writes the machine record under a lease', async (t) => {
  const store = memoryStore(t);
  const { r, events } = registration(t, { store });
  assert.equal(r.registered, false);
  await r.start('token-1', () => false);
  assert.deepEqual(events, ['follow', 'unload all but kept.service (rescheduled away while the lease was lost)']);
  assert.equal(r.registered, true);
  const kv = (await store.get(machineKey('m1')))!;
  assert.equal(kv.lease, r.lease!.id);
  const rec = decodeMachineRecord(kv);
  assert.deepEqual([rec.id, rec.address, rec.metadata, rec.version], ['m1', '10.0.0.1', { role: 'web' }, VERSION]);
  assert.match(rec.instance!, /\/token-1$/);
});

test('a machine id live elsewhere is refused at once (not retried), and its record is untouched', async (t) => {
  const store = memoryStore(t);
  await registration(t, { store }).r.start('token-1', () => false);
  const first = (await store.get(machineKey('m1')))!.value;
  const other = registration(t, { store: memoryStore(t, store.backend) });
  await assert.rejects(
    other.r.start('token-2', () => false),
    (e: unknown) =>
      e instanceof AgentError &&
      /machine id m1 is already registered by a live agent at 10\.0\.0\.1 \(started /.test(e.message) &&
      /cloned \/etc\/machine-id/.test(e.message) &&
      /wait 30 s/.test(e.message),
  );
  assert.equal(other.r.registered, false);
  assert.equal((await store.get(machineKey('m1')))!.value, first);
  // An unreadable record counts as someone else's too.
  await store.put(machineKey('m1'), '{"id": 1}');
  await assert.rejects(
    registration(t, { store }).r.start('token-1', () => false),
    AgentError,
  );
});

test('the same lineage (boot and token) takes its own live record over', async (t) => {
  const store = memoryStore(t);
  const first = registration(t, { store });
  await first.r.start('token-1', () => false);
  await first.r.end('release'); // SIGTERM with onExit=leave: the record stays until the TTL runs out
  assert.ok(await store.get(machineKey('m1')));
  const second = registration(t, { store: memoryStore(t, store.backend) });
  await second.r.start('token-1', () => false);
  const kv = (await store.get(machineKey('m1')))!;
  assert.equal(kv.lease, second.r.lease!.id);
});

test('while the store is unreachable the first registration is retried; it stops when asked', async (t) => {
  const store = memoryStore(t);
  let refusals = 2;
  const grant = store.grantLease.bind(store);
  store.grantLease = (...a) => (refusals-- > 0 ? Promise.reject(new Error('etcd unreachable')) : grant(...a));
  const { r, events } = registration(t, { store });
  await r.start('token-1', () => false);
  assert.equal(r.registered, true);
  assert.equal(events.filter((e) => e === 'follow').length, 3, 'each attempt re-reads the schedule');

  const never = memoryStore(t);
  never.grantLease = () => Promise.reject(new Error('etcd unreachable'));
  let asked = 0;
  const { r: r2 } = registration(t, { store: never });
  await r2.start('token-1', () => ++asked > 2);
  assert.equal(r2.registered, false);
});

test('a unit that cannot be unloaded stops the return: no registration yet', async (t) => {
  const store = memoryStore(t);
  const { r } = registration(t, {
    store,
    unload: () => Promise.reject(new Error('could not unload moved.service')),
  });
  await assert.rejects(r.comeBack(), /could not unload moved\.service/);
  assert.equal(r.registered, false);
  assert.equal(await store.get(machineKey('m1')), null);
});

test('lease lost: reports gone, desired state re-followed, a pass asked for; coming back registers', async (t) => {
  const store = memoryStore(t);
  const { r, events, desired } = registration(t, { store, ttlSeconds: 1 });
  await r.start('token-1', () => false);
  events.length = 0;
  const lease = r.lease!;
  store.backend.revoke(lease.id); // expired behind the agent's back
  for (let i = 0; i < 100 && r.registered; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(r.registered, false);
  assert.equal(r.lease, null);
  assert.deepEqual(events, ['reports gone', 'pass: lease lost']);
  assert.equal(desired.broken, true);
  assert.equal(await store.get(machineKey('m1')), null);

  await r.comeBack();
  assert.equal(r.registered, true);
  assert.notEqual(r.lease!.id, lease.id);
  assert.ok(await store.get(machineKey('m1')));
});

test('end: revoke drops the record and everything on the lease at once', async (t) => {
  const store = memoryStore(t);
  const { r, events } = registration(t, { store });
  await r.start('token-1', () => false);
  events.length = 0;
  await r.end('revoke');
  assert.equal(r.registered, false);
  assert.equal(await store.get(machineKey('m1')), null);
  assert.deepEqual(events, []);
});
