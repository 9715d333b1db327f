// The desired-state watch against the in-memory store: schedule/<machine>/ + desired/globals (or desired/root).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { DesiredWatch } from '../../src/agent/desired-watch.js';
import { createLogger } from '../../src/log.js';
import {
  DESIRED_GLOBALS,
  DESIRED_ROOT,
  scheduleKey,
  type DesiredEntry,
  type DesiredGlobals,
  type DesiredRoot,
} from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store, WatchEvent, WatchHandler } from '../../src/store/store.js';
import { NO_CONSTRAINTS } from '../../src/unit/types.js';

const H1 = '1'.repeat(64);
const H2 = '2'.repeat(64);

interface Fixture {
  admin: MemoryStore;
  watch: DesiredWatch;
  changes: string[];
  logs: string[];
}

/** A watch for machine m1 (metadata role=web) over a memory store, seen through `wrap` if given. */
function setup(t: TestContext, wrap: (s: MemoryStore) => Store = (s) => s): Fixture {
  const admin = new MemoryStore();
  t.after(() => admin.close());
  const changes: string[] = [];
  const logs: string[] = [];
  const log = createLogger('test', { level: 'warn', sink: (l) => logs.push(l) });
  const store = wrap(admin);
  const watch = new DesiredWatch({
    store,
    machineId: 'm1',
    metadata: { role: 'web' },
    log,
    changed: (r) => changes.push(r),
  });
  t.after(() => watch.close());
  return { admin, watch, changes, logs };
}

const sched = (hash: string, state: 'loaded' | 'launched') => JSON.stringify({ hash, state });
const global = (name: string, hash: string, over: Partial<DesiredEntry> = {}, md: Record<string, string[]> = {}) =>
  ({
    name,
    hash,
    state: 'launched',
    constraints: { ...NO_CONSTRAINTS, global: true, machineMetadata: md },
    ...over,
  }) as DesiredEntry;
const root = (globals: DesiredEntry[], commit = 'c1'): string =>
  JSON.stringify({
    commit,
    at: '2024-01-01T00:00:00Z',
    shards: {},
    global: globals,
    count: globals.length,
  } satisfies DesiredRoot);

/** Let the memory store deliver its watch events (setImmediate per revision). */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

const plain = (m: Map<string, unknown>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));

test("follow: this machine's schedule plus the Global units whose metadata matches", async (t) => {
  const { admin, watch } = setup(t);
  await admin.put(scheduleKey('m1', 'a.service'), sched(H1, 'launched'));
  await admin.put(scheduleKey('m1', 'b.service'), sched(H2, 'loaded'));
  await admin.put(scheduleKey('m2', 'other.service'), sched(H1, 'launched'));
  await admin.put(
    DESIRED_ROOT,
    root([
      global('everywhere.service', H1),
      global('web.service', H2, {}, { role: ['web', 'api'] }),
      global('db.service', H2, {}, { role: ['db'] }),
      global('off.service', H2, { state: 'inactive' }),
      global('notglobal.service', H2, { constraints: { ...NO_CONSTRAINTS } }),
      // Scheduled here as well: the schedule's entry wins.
      global('a.service', H2),
    ]),
  );
  assert.equal(watch.broken, true);
  await watch.follow();
  assert.equal(watch.broken, false);
  assert.deepEqual(plain(watch.entries()), {
    'a.service': { hash: H1, state: 'launched' },
    'b.service': { hash: H2, state: 'loaded' },
    'everywhere.service': { hash: H1, state: 'launched' },
    'web.service': { hash: H2, state: 'launched' },
  });
  assert.equal(watch.stateOf('b.service'), 'loaded');
  assert.equal(watch.stateOf('web.service'), 'launched');
  assert.equal(watch.stateOf('db.service'), undefined);
  assert.equal(watch.stateOf('off.service'), undefined);
  assert.equal(watch.stateOf('other.service'), undefined);
});

test('events update the desired state and ask for a pass; a root change keeping Global units does not', async (t) => {
  const { admin, watch, changes } = setup(t);
  await admin.put(DESIRED_ROOT, root([global('g.service', H1)]));
  await watch.follow();

  await admin.put(scheduleKey('m1', 'a.service'), sched(H1, 'launched'));
  await settle();
  assert.deepEqual(changes, ['schedule changed']);
  assert.deepEqual(watch.entries().get('a.service'), { hash: H1, state: 'launched' });

  await admin.put(scheduleKey('m1', 'a.service'), sched(H2, 'loaded'));
  await admin.delete(scheduleKey('m1', 'a.service'));
  await settle();
  assert.equal(watch.entries().has('a.service'), false);
  // Deleting a unit that is not scheduled here changes nothing.
  changes.length = 0;
  await admin.delete(scheduleKey('m1', 'never.service'));
  await admin.put(scheduleKey('m2', 'b.service'), sched(H1, 'launched'));
  await settle();
  assert.deepEqual(changes, []);

  // A new commit that leaves Global units alone costs no pass.
  await admin.put(DESIRED_ROOT, root([global('g.service', H1)], 'c2'));
  await settle();
  assert.deepEqual(changes, []);
  await admin.put(DESIRED_ROOT, root([global('g.service', H2)], 'c3'));
  await settle();
  assert.deepEqual(changes, ['Global units changed']);
  assert.equal(watch.entries().get('g.service')?.hash, H2);
  await admin.delete(DESIRED_ROOT);
  await settle();
  assert.deepEqual(changes, ['Global units changed', 'Global units changed']);
  assert.deepEqual(plain(watch.entries()), {});
});

test('dedupe by modRevision: events replayed from before the read change nothing', async (t) => {
  // The store replays every watch from revision 1 (as a reconnecting watch may) and delivers each batch twice.
  const replaying = (mem: MemoryStore): Store =>
    Object.assign(Object.create(mem) as MemoryStore, {
      watch: (prefix: string, _from: number | undefined, h: WatchHandler) => {
        const twice = (ev: WatchEvent[]) => {
          h.onEvents(ev);
          h.onEvents(ev);
        };
        return mem.watch(prefix, 1, { ...h, onEvents: twice });
      },
    });
  const { admin, watch, changes } = setup(t, replaying);
  await admin.put(scheduleKey('m1', 'a.service'), sched(H1, 'loaded'));
  await admin.put(scheduleKey('m1', 'a.service'), sched(H1, 'launched'));
  await admin.put(scheduleKey('m1', 'gone.service'), sched(H1, 'launched'));
  await admin.delete(scheduleKey('m1', 'gone.service'));
  await admin.put(DESIRED_ROOT, root([global('g.service', H1)]));
  await watch.follow();
  await settle();
  assert.deepEqual(changes, []);
  assert.deepEqual(plain(watch.entries()), {
    'a.service': { hash: H1, state: 'launched' },
    'g.service': { hash: H1, state: 'launched' },
  });

  await admin.put(scheduleKey('m1', 'a.service'), sched(H2, 'launched'));
  await settle();
  assert.deepEqual(changes, ['schedule changed'], 'one pass for one change, though delivered twice');
  assert.equal(watch.entries().get('a.service')?.hash, H2);
});

test('a name that is not a plain unit name is never desired, and is logged once', async (t) => {
  const { admin, watch, logs } = setup(t);
  await admin.put(scheduleKey('m1', '../evil.service'), sched(H1, 'launched'));
  await admin.put(scheduleKey('m1', 'fine.service'), sched(H1, 'launched'));
  await admin.put(DESIRED_ROOT, root([global('/etc/passwd.service', H1)]));
  await watch.follow();
  assert.deepEqual([...watch.entries().keys()], ['fine.service']);
  assert.deepEqual([...watch.entries().keys()], ['fine.service']);
  assert.equal(logs.filter((l) => l.includes('not a valid unit name')).length, 2);
  assert.ok(logs.some((l) => l.includes('../evil.service')));
});

test('malformed records are logged and left out: a bad entry keeps the previous one, a bad root is none', async (t) => {
  const { admin, watch, logs, changes } = setup(t);
  await admin.put(scheduleKey('m1', 'a.service'), sched(H1, 'launched'));
  await admin.put(scheduleKey('m1', 'b.service'), '{"hash": 3}');
  await admin.put(scheduleKey('m1', 'c.service'), 'not json');
  await admin.put(DESIRED_ROOT, '{"commit": "c1"}');
  await watch.follow();
  assert.deepEqual([...watch.entries().keys()], ['a.service']);
  assert.equal(logs.filter((l) => l.includes('ignoring a malformed record')).length, 3);
  assert.ok(logs.some((l) => l.includes('schedule/m1/b.service')));
  assert.ok(logs.some((l) => l.includes('desired/root')));

  await admin.put(scheduleKey('m1', 'a.service'), sched(H2, 'bogus' as 'loaded'));
  await settle();
  assert.deepEqual(watch.entries().get('a.service'), { hash: H1, state: 'launched' });
  assert.deepEqual(changes, []);
  await admin.put(DESIRED_ROOT, root([global('g.service', H1)]));
  await settle();
  assert.ok(watch.entries().has('g.service'));
  await admin.put(DESIRED_ROOT, '[]');
  await settle();
  assert.equal(watch.entries().has('g.service'), false);
});

test('a failed watch marks the desired state broken and asks for a pass (which follows again)', async (t) => {
  const handlers: WatchHandler[] = [];
  const capturing = (mem: MemoryStore): Store =>
    Object.assign(Object.create(mem) as MemoryStore, {
      watch: (prefix: string, from: number | undefined, h: WatchHandler) => {
        handlers.push(h);
        return mem.watch(prefix, from, h);
      },
    });
  const { admin, watch, changes } = setup(t, capturing);
  await watch.follow();
  handlers[0]!.onError!(new Error('required revision has been compacted'));
  assert.equal(watch.broken, true);
  assert.deepEqual(changes, ['watch error']);

  await admin.put(scheduleKey('m1', 'a.service'), sched(H1, 'launched'));
  await watch.follow();
  assert.equal(watch.broken, false);
  assert.ok(watch.entries().has('a.service'));
  // The old watches are closed: one change, one pass.
  changes.length = 0;
  await admin.put(scheduleKey('m1', 'b.service'), sched(H1, 'launched'));
  await settle();
  assert.deepEqual(changes, ['schedule changed']);

  await watch.close();
  await admin.put(scheduleKey('m1', 'c.service'), sched(H1, 'launched'));
  await settle();
  assert.deepEqual(changes, ['schedule changed'], 'closed: no more events');
});

const globalsValue = (globals: DesiredEntry[], commit = 'c1'): string =>
  JSON.stringify({ commit, global: globals } satisfies DesiredGlobals);

/** A `setup` wrap that keeps, in `open`, the prefixes the watch has watches open on. */
const trackWatches =
  (open: Set<string>) =>
  (s: MemoryStore): Store => {
    const inner = s.watch.bind(s);
    s.watch = (async (prefix: string, rev: number | undefined, h: WatchHandler) => {
      const w = await inner(prefix, rev, h);
      open.add(prefix);
      return {
        close: async () => {
          open.delete(prefix);
          await w.close();
        },
      };
    }) as typeof s.watch;
    return s;
  };

test('with desired/globals, the Global units come from it and the root is not followed', async (t) => {
  const open = new Set<string>();
  const { admin, watch, changes } = setup(t, trackWatches(open));
  await admin.put(DESIRED_ROOT, root([global('old.service', H1)]));
  await admin.put(DESIRED_GLOBALS, globalsValue([global('g.service', H1)]));
  await watch.follow();
  assert.ok(open.has(DESIRED_GLOBALS) && !open.has(DESIRED_ROOT), `watched ${[...open].join(', ')}`);
  assert.deepEqual([...watch.entries().keys()], ['g.service']);
  // A commit: the root changes, the Global units do not; nothing reaches the agent.
  await admin.put(DESIRED_ROOT, root([global('other.service', H2)], 'c2'));
  await settle();
  assert.deepEqual(changes, []);
  assert.deepEqual([...watch.entries().keys()], ['g.service']);
  // A commit that changes them.
  await admin.put(DESIRED_GLOBALS, globalsValue([global('g.service', H2)], 'c3'));
  await settle();
  assert.deepEqual(changes, ['Global units changed']);
  assert.equal(watch.entries().get('g.service')?.hash, H2);
});

test('a store without desired/globals (an older controller): the root is followed until the key appears', async (t) => {
  const open = new Set<string>();
  const { admin, watch, changes } = setup(t, trackWatches(open));
  await admin.put(DESIRED_ROOT, root([global('g.service', H1)]));
  await watch.follow();
  assert.equal(watch.entries().get('g.service')?.hash, H1);
  await admin.put(DESIRED_ROOT, root([global('g.service', H2)], 'c2'));
  await settle();
  assert.deepEqual(changes, ['Global units changed']);
  assert.equal(watch.entries().get('g.service')?.hash, H2);
  assert.ok(open.has(DESIRED_ROOT));
  // The controller now writes the key: from then on the root is not what counts, nor watched.
  await admin.put(DESIRED_GLOBALS, globalsValue([global('h.service', H1)], 'c3'));
  await settle();
  assert.deepEqual([...watch.entries().keys()], ['h.service']);
  assert.ok(!open.has(DESIRED_ROOT), 'the root watch is closed');
  await admin.put(DESIRED_ROOT, root([global('g.service', H1)], 'c4'));
  await settle();
  assert.deepEqual([...watch.entries().keys()], ['h.service']);
  // Deleted (a wiped store): follow again from scratch.
  changes.length = 0;
  await admin.delete(DESIRED_GLOBALS);
  await settle();
  assert.equal(watch.broken, true);
  assert.deepEqual(changes, ['Global units key deleted']);
});
