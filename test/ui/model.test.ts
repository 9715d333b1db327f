/** The page's rows from the cluster's records (pure). */
import { DEFAULT_ROLLOUT } from '../../src/desired/policy.js';
import type { RolloutRecord } from '../../src/store/keys.js';
import { rolloutOps } from '../../src/store/rollouts.js';
import type { KeyValue } from '../../src/store/store.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DesiredEntry, MachineRecord, ScheduleEntry, UnitStateReport } from '../../src/store/keys.js';
import {
  machineRows,
  rolloutRows,
  sectionsOf,
  summaryRow,
  unitRows,
  type ClusterSnapshot,
} from '../../src/ui/model.js';

const constraints = (global = false) => ({ machineMetadata: {}, machineOf: [], conflicts: [], global, replaces: [] });
const entry = (name: string, state: DesiredEntry['state'], hash: string, global = false): DesiredEntry => ({
  name,
  hash,
  state,
  constraints: constraints(global),
});
const rec = (id: string): MachineRecord => ({
  id,
  address: '10.0.0.1',
  metadata: { r: id },
  version: '0',
  startedAt: '',
});
const rep = (active: string, hash: string, driftRepairs?: number): UnitStateReport => ({
  load: 'loaded',
  active,
  sub: 'x',
  hash,
  ...(driftRepairs ? { driftRepairs } : {}),
});
const nested = <V>(o: Record<string, Record<string, V>>) =>
  new Map(Object.entries(o).map(([k, v]) => [k, new Map(Object.entries(v))]));

function snapshot(): ClusterSnapshot {
  return {
    status: { applied: { commit: 'c1', at: 't' }, refused: null },
    latestRollout: null,
    rolloutKvs: new Map(),
    units: new Map(
      [
        entry('a.service', 'launched', 'h-a'),
        entry('b.service', 'loaded', 'h-b'),
        entry('g.service', 'launched', 'h-g', true),
        entry('off.service', 'inactive', 'h-off'),
        entry('stuck.service', 'launched', 'h-s'),
      ].map((e) => [e.name, e]),
    ),
    leader: 'e1',
    machines: new Map([
      ['m1', rec('m1')],
      ['m2', rec('m2')],
    ]),
    schedule: nested<ScheduleEntry>({
      'a.service': { m1: { hash: 'h-a', state: 'launched' } },
      'b.service': { m2: { hash: 'h-b', state: 'loaded' } },
    }),
    unscheduled: new Map([['stuck.service', 'no machine has region=eu']]),
    reports: nested<UnitStateReport>({
      'a.service': { m1: rep('failed', 'h-a-old', 3) },
      'b.service': { m2: rep('inactive', 'h-b') },
      'g.service': { m1: rep('active', 'h-g'), m2: rep('active', 'h-g') },
      'gone.service': { m2: rep('active', 'h-gone') },
    }),
    problems: new Map([['machines/x', 'not JSON']]),
    live: true,
    error: null,
  };
}

test('unit rows: where each unit runs, what systemd says there, and drift', () => {
  const rows = unitRows(snapshot());
  assert.deepEqual(
    [...rows.keys()],
    ['a.service', 'b.service', 'g.service', 'gone.service', 'off.service', 'stuck.service'],
  );
  const a = rows.get('a.service')!;
  assert.deepEqual(a.machines, [
    {
      machine: 'm1',
      scheduled: true,
      load: 'loaded',
      active: 'failed',
      sub: 'x',
      hash: 'h-a-old',
      outdated: true,
      driftRepairs: 3,
    },
  ]);
  assert.equal(rows.get('b.service')!.machines[0]!.outdated, false);
  // A Global unit runs on every matching machine without a placement.
  const g = rows.get('g.service')!;
  assert.equal(g.global, true);
  assert.deepEqual(
    g.machines.map((m) => [m.machine, m.scheduled]),
    [
      ['m1', false],
      ['m2', false],
    ],
  );
  // Still running somewhere though no longer in the commit: shown, desired null.
  assert.equal(rows.get('gone.service')!.desired, null);
  assert.equal(rows.get('gone.service')!.machines[0]!.outdated, false);
  assert.equal(rows.get('stuck.service')!.unscheduled, 'no machine has region=eu');
  assert.deepEqual(rows.get('off.service')!.machines, []);
});

test('machine rows count the units placed on or reported by each machine', () => {
  const m = machineRows(snapshot());
  assert.deepEqual(
    [...m.values()].map((r) => [r.id, r.units, r.active, r.failed]),
    [
      ['m1', 2, 1, 1],
      ['m2', 3, 2, 0],
    ],
  );
});

test('the summary counts desired states and failed units, and lists unreadable records', () => {
  const s = summaryRow(snapshot());
  assert.deepEqual(s.units, { launched: 3, loaded: 1, inactive: 1, failed: 1 });
  assert.equal(s.machines, 2);
  assert.deepEqual(s.problems, [{ key: 'machines/x', problem: 'not JSON' }]);
  assert.equal(sectionsOf(snapshot()).rollouts.size, 0);
});

test('the newest rollout: a row per unit with its progress and each machine', () => {
  const record: RolloutRecord = {
    commit: 'c2',
    previous: 'c1',
    state: 'progressing',
    started: 1,
    ended: null,
    reason: null,
    groups: [
      {
        unit: 'web@.service',
        change: 'changed',
        state: 'progressing',
        to: 'new',
        from: 'old',
        policy: DEFAULT_ROLLOUT,
        machines: [
          { machine: 'm1', state: 'healthy', from: 'old', since: 1, reason: null },
          { machine: 'm2', state: 'updating', from: 'old', since: 1, reason: null },
          { machine: 'm3', state: 'pending', from: 'old', since: 1, reason: null },
        ],
        reason: null,
      },
    ],
  };
  const kvs = new Map<string, KeyValue>();
  for (const op of rolloutOps(record, { head: null, shards: new Map() }).ops) {
    if (op.op === 'put')
      kvs.set(op.key, { key: op.key, value: op.value, createRevision: 1, modRevision: 1, version: 1, lease: '0' });
  }
  const rows = rolloutRows({ ...snapshot(), latestRollout: 'c2', rolloutKvs: kvs });
  assert.deepEqual(
    [...rows.values()],
    [
      {
        commit: 'c2',
        state: 'progressing',
        reason: null,
        unit: 'web@.service',
        change: 'changed',
        progress: '1/3 healthy, 1 updating, 1 pending',
        machines: [
          { machine: 'm1', state: 'healthy', reason: null },
          { machine: 'm2', state: 'updating', reason: null },
          { machine: 'm3', state: 'pending', reason: null },
        ],
      },
    ],
  );
  assert.equal(rolloutRows(snapshot()).size, 0);
});
