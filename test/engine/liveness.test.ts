import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MachineLiveness } from '../../src/engine/liveness.js';
import type { MachineRecord } from '../../src/store/keys.js';

const rec = (id: string, ttl?: number): MachineRecord => ({
  id,
  address: '',
  metadata: {},
  version: '1',
  startedAt: 't',
  ...(ttl ? { ttl } : {}),
});
const opts = { defaultTtlMs: 10_000, holdMaxMs: 300_000 };
const all = new Set(['m1', 'm2', 'm3']);

test('one machine silent for a full TTL is gone; before that its units are held', () => {
  const l = new MachineLiveness(opts);
  l.observe(0, [rec('m1'), rec('m2'), rec('m3')], all);
  l.observe(1_000, [rec('m1'), rec('m2')], all);
  let v = l.verdict(1_000);
  assert.deepEqual(v.held, ['m3']);
  assert.deepEqual(v.gone, []);
  assert.equal(v.nextChangeAt, 11_000);
  v = l.verdict(10_999);
  assert.deepEqual(v.gone, []);
  v = l.verdict(11_000);
  assert.deepEqual(v.gone, ['m3']);
  assert.deepEqual(
    v.live.map((m) => m.id),
    ['m1', 'm2'],
  );
});

test('a machine uses the TTL its record names', () => {
  const l = new MachineLiveness(opts);
  l.observe(0, [rec('m1', 3), rec('m2'), rec('m3')], all);
  l.observe(0, [rec('m2'), rec('m3')], all);
  assert.deepEqual(l.verdict(2_999).gone, []);
  assert.deepEqual(l.verdict(3_000).gone, ['m1']);
});

test('after an election every machine the schedule names gets a fresh TTL, even with no record at all', () => {
  // A new leader after an etcd stall: every lease was revoked, no machine is registered.
  const l = new MachineLiveness(opts);
  l.observe(50_000, [], all);
  const v = l.verdict(50_000);
  assert.deepEqual(v.gone, []);
  assert.deepEqual(v.held, ['m1', 'm2', 'm3']);
  // The agents come back within the grace: nothing was ever gone.
  l.observe(50_400, [rec('m1'), rec('m2'), rec('m3')], all);
  const back = l.verdict(50_400);
  assert.deepEqual(back.held, []);
  assert.equal(back.holding, null);
});

test('a store hiccup restarts the grace of every silent machine', () => {
  const l = new MachineLiveness(opts);
  l.observe(0, [rec('m1'), rec('m2'), rec('m3')], all);
  l.observe(5_000, [rec('m1'), rec('m2')], all);
  l.freshGrace(9_000);
  assert.deepEqual(l.verdict(15_000).gone, [], 'the silence before the hiccup does not count');
  assert.deepEqual(l.verdict(19_000).gone, ['m3']);
});

test('more than half of the machines silent at once: nothing moves until they return or the hold runs out', () => {
  const l = new MachineLiveness({ ...opts, holdMaxMs: 60_000 });
  l.observe(0, [rec('m1'), rec('m2'), rec('m3')], all);
  l.observe(1_000, [rec('m1')], all);
  let v = l.verdict(30_000);
  assert.deepEqual(v.gone, []);
  assert.deepEqual(v.held, ['m2', 'm3']);
  assert.deepEqual(v.holding, { silent: 2, known: 3, since: 1_000, until: 61_000 });
  assert.equal(v.nextChangeAt, 61_000);
  v = l.verdict(61_000);
  assert.equal(v.holding, null);
  assert.deepEqual(v.gone, ['m2', 'm3'], 'the hold is bounded');
});

test('when most machines return from a hold, the rest get one more TTL', () => {
  const l = new MachineLiveness(opts);
  l.observe(0, [rec('m1'), rec('m2'), rec('m3')], all);
  l.observe(1_000, [], all);
  assert.equal(l.verdict(40_000).holding?.silent, 3);
  l.observe(40_000, [rec('m1'), rec('m2')], all);
  let v = l.verdict(40_000);
  assert.equal(v.holding, null);
  assert.deepEqual(v.held, ['m3']);
  v = l.verdict(50_000);
  assert.deepEqual(v.gone, ['m3']);
});

test('a gone machine with nothing left on the schedule is forgotten and no longer counts', () => {
  const l = new MachineLiveness(opts);
  l.observe(0, [rec('m1'), rec('m2'), rec('m3'), rec('m4')], new Set(['m1', 'm2', 'm3', 'm4']));
  l.observe(1_000, [rec('m2'), rec('m3'), rec('m4')], new Set(['m1', 'm2', 'm3', 'm4']));
  assert.deepEqual(l.verdict(11_000).gone, ['m1']);
  // Its units moved: the schedule no longer names it.
  l.observe(11_500, [rec('m2'), rec('m3'), rec('m4')], new Set(['m2', 'm3', 'm4']));
  // Later two of the remaining three die one after the other: 2 of 3 is a mass silence.
  l.observe(20_000, [rec('m4')], new Set(['m2', 'm3', 'm4']));
  const v = l.verdict(31_000);
  assert.equal(v.holding?.known, 3);
  assert.deepEqual(v.gone, []);
});
