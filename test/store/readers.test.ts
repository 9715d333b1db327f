/**
 * The store's readers (src/store/readers.ts), on the in-memory store: what the engine, the
 * controller and the CLI read, and how each reader meets a missing or malformed record.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryKind } from '../../src/errors.js';
import {
  DESIRED_ROOT,
  machineKey,
  scheduleKey,
  shardKey,
  shardOf,
  unscheduledKey,
  type MachineRecord,
} from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import {
  currentPlacement,
  readBody,
  readDesiredEntry,
  readMachines,
  readRoot,
  readRootUnits,
  readSchedule,
  readUnscheduled,
} from '../../src/store/readers.js';
import { type MalformedRecordError, MissingRecordError } from '../../src/store/records.js';

const machine = (id: string): MachineRecord => ({
  id,
  address: '10.0.0.1',
  metadata: { region: 'eu' },
  version: 't',
  startedAt: 'now',
});

test('readMachines: ids come from the keys; a malformed record is reported and left out', async () => {
  const store = new MemoryStore();
  await store.put(machineKey('m2'), JSON.stringify(machine('m2')));
  await store.put(machineKey('m1'), JSON.stringify({ ...machine('m1'), id: 'not-the-key' }));
  await store.put(machineKey('m3'), JSON.stringify({ id: 'm3', address: 1 }));
  await store.put('machines/m4/extra', JSON.stringify(machine('m4')));
  const bad: MalformedRecordError[] = [];
  const ms = await readMachines(store, (e) => bad.push(e));
  assert.deepEqual(
    ms.map((m) => m.id),
    ['m1', 'm2'],
  );
  assert.deepEqual(
    bad.map((e) => e.key),
    ['machines/m3'],
  );
  assert.match(bad[0]!.message, /address must be a string, not number/);
  await store.close();
});

test('readSchedule keeps a malformed entry as null; currentPlacement prefers a live machine', async () => {
  const store = new MemoryStore();
  const entry = JSON.stringify({ hash: 'h', state: 'launched' });
  await store.put(scheduleKey('m1', 'a.service'), entry);
  await store.put(scheduleKey('m2', 'a.service'), entry);
  await store.put(scheduleKey('m3', 'b.service'), 'not json');
  await store.put(unscheduledKey('c.service'), JSON.stringify({ reason: 'no machine in region us' }));
  await store.put(unscheduledKey('d.service'), '[]');
  const bad: string[] = [];
  const schedule = await readSchedule(store, (e) => bad.push(e.key));
  assert.deepEqual(schedule.byUnit.get('a.service')?.get('m2'), { hash: 'h', state: 'launched' });
  assert.equal(schedule.byUnit.get('b.service')?.get('m3'), null);
  const reasons = await readUnscheduled(store, (e) => bad.push(e.key));
  assert.deepEqual(
    [...reasons],
    [
      ['c.service', 'no machine in region us'],
      ['d.service', null],
    ],
  );
  assert.deepEqual(bad, ['schedule/m3/b.service', 'unscheduled/d.service']);
  // a.service is on m1 and m2; only m2 is live, so it counts there.
  assert.deepEqual(
    [...currentPlacement(schedule, [machine('m2')])],
    [
      ['a.service', 'm2'],
      ['b.service', 'm3'],
    ],
  );
  await store.close();
});

test('a shard the root names but the store lacks is a MissingRecordError naming both', async () => {
  const store = new MemoryStore();
  const root = { commit: 'c1', at: 'now', shards: { [shardOf('x.service')]: 'h0a' }, global: [], count: 1 };
  await store.put(DESIRED_ROOT, JSON.stringify(root));
  const { root: read } = await readRoot(store);
  for (const reading of [readRootUnits(store, read!), readDesiredEntry(store, read!, 'x.service')]) {
    await assert.rejects(reading, (e: Error) => {
      assert.ok(e instanceof MissingRecordError, `got ${e.name}`);
      assert.equal(retryKind(e), 'stalled');
      assert.equal(e.message, `missing record ${shardKey('h0a')}: the desired root of commit c1 names it`);
      return true;
    });
  }
  await store.close();
});

test('readBody checks the content against the hash its key names', async () => {
  const store = new MemoryStore();
  await store.put('bodies/abc', 'not the content of abc');
  await assert.rejects(readBody(store, 'abc'), /malformed record at bodies\/abc: content does not hash to abc/);
  assert.equal(await readBody(store, 'def'), null);
  await store.close();
});
