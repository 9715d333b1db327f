import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StalledError, retryKind } from '../../src/errors.js';
import { bodyKey, DESIRED_ROOT, machineKey, scheduleKey } from '../../src/store/keys.js';
import {
  decodeAll,
  decodeBody,
  decodeDesiredRoot,
  decodeDesiredShard,
  decodeMachineRecord,
  decodeScheduleEntry,
  MalformedRecordError,
  MissingRecordError,
  requireShard,
} from '../../src/store/records.js';
import type { KeyValue } from '../../src/store/store.js';
import { sha256 } from '../../src/util/hash.js';

const kv = (key: string, value: string): KeyValue => ({
  key,
  value,
  createRevision: 1,
  modRevision: 1,
  version: 1,
  lease: '0',
});

test('a well-formed record decodes to its type, extra fields left out', () => {
  const m = decodeMachineRecord(
    kv(
      machineKey('m1'),
      JSON.stringify({ id: 'm1', address: 'a', metadata: { r: 'x' }, version: '1', startedAt: 't', junk: 1 }),
    ),
  );
  assert.deepEqual(m, { id: 'm1', address: 'a', metadata: { r: 'x' }, version: '1', startedAt: 't' });
});

test('a malformed record names its key and what is wrong, and is a stalled error', () => {
  const key = scheduleKey('m1', 'a.service');
  assert.throws(
    () => decodeScheduleEntry(kv(key, '{"hash":"h","state":"running"}')),
    (e: unknown) =>
      e instanceof MalformedRecordError &&
      e.key === key &&
      /state must be loaded or launched, not string/.test(e.message) &&
      e instanceof StalledError &&
      retryKind(e) === 'stalled',
  );
  assert.throws(
    () => decodeScheduleEntry(kv(key, 'not json')),
    /malformed record at schedule\/m1\/a.service: not JSON/,
  );
  assert.throws(
    () => decodeDesiredRoot(kv(DESIRED_ROOT, JSON.stringify({ commit: 'c', at: 't', shards: { '00': 5 } }))),
    /shards\.00 must be a string, not number/,
  );
  const entry = { name: 'a.service', hash: 'h', state: 'launched', constraints: {} };
  assert.throws(
    () => decodeDesiredShard(kv('desired/shards/x', JSON.stringify({ units: [entry, { ...entry, state: 3 }] }))),
    /malformed record at desired\/shards\/x: units\[0\]\.constraints\.machineMetadata must be an object, not undefined/,
  );
});

test('a body is checked against the hash its key names', () => {
  const text = '[Service]\nExecStart=/bin/true\n';
  assert.equal(decodeBody(kv(bodyKey(sha256(text)), text), sha256(text)), text);
  assert.throws(() => decodeBody(kv(bodyKey('abc'), text), 'abc'), /does not hash to abc/);
});

test('a shard the root names but the store lacks is a missing record', () => {
  assert.throws(() => requireShard(null, 'desired/shards/x', 'c0ffee'), MissingRecordError);
});

test('decodeAll keeps the good records and hands each bad one to the callback', () => {
  const bad: string[] = [];
  const good = decodeAll(
    [
      kv('machines/a', JSON.stringify({ id: 'a', address: '', metadata: {}, version: '1', startedAt: 't' })),
      kv('machines/b', '{'),
    ],
    decodeMachineRecord,
    (e) => bad.push(e.key),
  );
  assert.deepEqual(
    good.map((g) => g.value.id),
    ['a'],
  );
  assert.deepEqual(bad, ['machines/b']);
});
