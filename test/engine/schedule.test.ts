/**
 * Table-driven tests of the pure schedule planner. Inputs are in-memory builders (no store):
 * the planner is data in, data out. Cases follow fleet's functional scheduling tests
 * (functional/scheduling_test.go) plus gitfleet's stability rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSchedule, type ScheduleInput, type ScheduleResult } from '../../src/engine/schedule.js';
import type { DesiredEntry, MachineRecord } from '../../src/store/keys.js';
import type { FleetConstraints } from '../../src/unit/types.js';
import type { DesiredStateName } from '../../src/desired/types.js';
import { globMatch } from '../../src/fleet/glob.js';
import { machineIdMatches, metadataMatches } from '../../src/fleet/constraints.js';

// ---- builders ------------------------------------------------------------------------------------

function machine(id: string, metadata: Record<string, string> = {}): MachineRecord {
  return { id, address: `10.0.0.1`, metadata, version: 'test', startedAt: '2024-01-01T00:00:00Z' };
}

function unit(
  name: string,
  c: Partial<FleetConstraints> = {},
  state: DesiredStateName = 'launched',
  triggers?: string,
): DesiredEntry {
  const e: DesiredEntry = {
    name,
    hash: `h-${name}`,
    state,
    constraints: { machineMetadata: {}, machineOf: [], conflicts: [], global: false, replaces: [], ...c },
  };
  if (triggers) e.triggers = triggers;
  return e;
}

function plan(units: DesiredEntry[], machines: MachineRecord[], current: Record<string, string> = {}): ScheduleResult {
  return planSchedule({ units, machines, current: new Map(Object.entries(current)) });
}

const obj = (m: Map<string, string>) => Object.fromEntries(m);

/** Every invariant a plan must hold, whatever the input. */
function assertValid(input: ScheduleInput, r: ScheduleResult): void {
  const byName = new Map(input.units.map((u) => [u.name, u]));
  const machines = new Map(input.machines.map((m) => [m.id, m]));
  const onMachine = new Map<string, string[]>();
  for (const [u, m] of r.assign) {
    const e = byName.get(u);
    assert.ok(e, `${u} is assigned but not desired`);
    assert.notEqual(e.state, 'inactive', `${u} is inactive but assigned`);
    assert.equal(e.constraints.global, false, `${u} is Global but assigned`);
    const mr = machines.get(m);
    assert.ok(mr, `${u} is on ${m}, which is not live`);
    if (e.constraints.machineId !== undefined)
      assert.ok(machineIdMatches(e.constraints.machineId, m), `${u} MachineID`);
    assert.ok(metadataMatches(mr.metadata, e.constraints.machineMetadata), `${u} metadata on ${m}`);
    for (const l of e.constraints.machineOf) assert.equal(r.assign.get(l), m, `${u} MachineOf ${l}`);
    assert.ok(!r.unscheduled.has(u), `${u} both assigned and unscheduled`);
    (onMachine.get(m) ?? onMachine.set(m, []).get(m)!).push(u);
  }
  for (const [m, names] of onMachine) {
    for (const a of names) {
      for (const b of names) {
        if (a === b) continue;
        const ea = byName.get(a)!;
        assert.ok(!ea.constraints.conflicts.some((p) => globMatch(p, b)), `${a} conflicts with ${b} on ${m}`);
        assert.ok(!ea.constraints.replaces.some((p) => globMatch(p, b)), `${a} replaces ${b} on ${m}`);
      }
    }
  }
  for (const e of input.units) {
    const placeable = e.state !== 'inactive' && !e.constraints.global;
    if (placeable)
      assert.ok(r.assign.has(e.name) !== r.unscheduled.has(e.name), `${e.name} is either placed or unscheduled`);
    else assert.ok(!r.assign.has(e.name) && !r.unscheduled.has(e.name), `${e.name} is neither placed nor unscheduled`);
  }
}

/** Plan, check invariants, then re-plan from the result: a second pass must change nothing. */
function planStable(
  units: DesiredEntry[],
  machines: MachineRecord[],
  current: Record<string, string> = {},
): ScheduleResult {
  const input: ScheduleInput = { units, machines, current: new Map(Object.entries(current)) };
  const r = planSchedule(input);
  assertValid(input, r);
  const again = planSchedule({ units, machines, current: r.assign });
  assert.deepEqual(again.decisions, [], 're-planning a plan changes nothing');
  assert.deepEqual(obj(again.assign), obj(r.assign));
  assert.deepEqual(obj(again.unscheduled), obj(r.unscheduled));
  return r;
}

// ---- the table -----------------------------------------------------------------------------------

interface Case {
  name: string;
  units: DesiredEntry[];
  machines: MachineRecord[];
  current?: Record<string, string>;
  assign?: Record<string, string>;
  unscheduled?: Record<string, RegExp>;
  check?: (r: ScheduleResult) => void;
}

const M3 = [machine('m1'), machine('m2'), machine('m3')];
const LONG = 'f00dfeed0123456789abcdef01234567';

const cases: Case[] = [
  {
    name: 'places on the least-loaded machine, ties broken by machine id',
    units: [unit('a.service'), unit('b.service'), unit('c.service'), unit('d.service')],
    machines: [machine('m2'), machine('m1')],
    assign: { 'a.service': 'm1', 'b.service': 'm2', 'c.service': 'm1', 'd.service': 'm2' },
  },
  {
    name: 'counts units that stay when choosing the least-loaded machine',
    units: [unit('a.service'), unit('b.service'), unit('c.service')],
    machines: [machine('m1'), machine('m2')],
    current: { 'a.service': 'm1', 'b.service': 'm1' },
    assign: { 'a.service': 'm1', 'b.service': 'm1', 'c.service': 'm2' },
  },
  {
    name: 'leaves inactive units unscheduled without a reason and takes them off their machine',
    units: [unit('a.service', {}, 'inactive'), unit('b.service', {}, 'loaded')],
    machines: [machine('m1')],
    current: { 'a.service': 'm1' },
    assign: { 'b.service': 'm1' },
    unscheduled: {},
    check: (r) =>
      assert.deepEqual(
        r.decisions.find((d) => d.unit === 'a.service'),
        { unit: 'a.service', from: 'm1', reason: 'desired state is inactive' },
      ),
  },
  {
    name: 'takes units removed from the desired state off their machine',
    units: [],
    machines: [machine('m1')],
    current: { 'gone.service': 'm1' },
    assign: {},
    check: (r) =>
      assert.deepEqual(r.decisions, [{ unit: 'gone.service', from: 'm1', reason: 'removed from the desired state' }]),
  },
  {
    name: 'does not place Global units (the agents run them)',
    units: [unit('hello.service'), unit('goodbye.service'), unit('global.service', { global: true })],
    machines: M3,
    assign: { 'goodbye.service': 'm1', 'hello.service': 'm2' },
    unscheduled: {},
  },
  {
    name: 'Global with conflicts: a Global unit conflicting with others places them normally',
    units: [
      unit('conflict-global.1.service', { global: true, conflicts: ['conflict-global.*.service'] }),
      unit('conflict-global.2.service'),
      unit('conflict-global.3.service'),
    ],
    machines: [machine('m1')],
    assign: { 'conflict-global.2.service': 'm1', 'conflict-global.3.service': 'm1' },
    unscheduled: {},
  },
  {
    name: 'a unit that becomes Global is taken off its machine',
    units: [unit('g.service', { global: true })],
    machines: [machine('m1')],
    current: { 'g.service': 'm1' },
    assign: {},
    check: (r) => assert.match(r.decisions[0]!.reason, /Global/),
  },
  {
    name: 'MachineID: each unit goes to the machine it names (full id)',
    units: [
      unit('a.service', { machineId: 'm3' }),
      unit('b.service', { machineId: 'm3' }),
      unit('c.service', { machineId: 'm1' }),
    ],
    machines: M3,
    assign: { 'a.service': 'm3', 'b.service': 'm3', 'c.service': 'm1' },
  },
  {
    name: 'MachineID: an 8-character short id selects the machine',
    units: [unit('a.service', { machineId: LONG.slice(0, 8) })],
    machines: [machine('0000000000000000000000000000000a'), machine(LONG)],
    assign: { 'a.service': LONG },
  },
  {
    name: 'MachineID of no registered machine leaves the unit unscheduled',
    units: [unit('a.service', { machineId: 'deadbeef' })],
    machines: M3,
    unscheduled: { 'a.service': /^no machine with id deadbeef is registered$/ },
  },
  {
    name: 'metadata: same key ORed, different keys ANDed',
    units: [
      unit('either.service', { machineMetadata: { region: ['us', 'eu'] } }),
      unit('both.service', { machineMetadata: { region: ['eu'], disk: ['ssd'] } }),
    ],
    machines: [
      machine('m1', { region: 'ap' }),
      machine('m2', { region: 'eu', disk: 'hdd' }),
      machine('m3', { region: 'eu', disk: 'ssd' }),
    ],
    assign: { 'both.service': 'm3', 'either.service': 'm2' },
  },
  {
    name: 'metadata that no machine has leaves the unit unscheduled with the missing key',
    units: [
      unit('a.service', { machineMetadata: { region: ['eu'] } }),
      unit('b.service', { machineMetadata: { region: ['us'], disk: ['ssd'] } }),
    ],
    machines: [machine('m1', { region: 'us', disk: 'hdd' }), machine('m2', { region: 'ap', disk: 'ssd' })],
    unscheduled: { 'a.service': /^no machine has region=eu$/, 'b.service': /^no machine has disk=ssd and region=us$/ },
  },
  {
    name: 'no machines at all',
    units: [unit('a.service')],
    machines: [],
    unscheduled: { 'a.service': /^no machines are registered$/ },
  },
  {
    name: 'MachineOf: three ping/pong pairs land pairwise on the same machine',
    units: [0, 1, 2].flatMap((i) => [
      unit(`ping.${i}.service`),
      unit(`pong.${i}.service`, { machineOf: [`ping.${i}.service`] }),
    ]),
    machines: M3,
    assign: {
      'ping.0.service': 'm1',
      'pong.0.service': 'm1',
      'ping.1.service': 'm2',
      'pong.1.service': 'm2',
      'ping.2.service': 'm3',
      'pong.2.service': 'm3',
    },
  },
  {
    name: 'MachineOf: a pair migrates together when its machine goes away',
    units: [0, 1, 2].flatMap((i) => [
      unit(`ping.${i}.service`),
      unit(`pong.${i}.service`, { machineOf: [`ping.${i}.service`] }),
    ]),
    machines: [machine('m1'), machine('m3')],
    current: {
      'ping.0.service': 'm1',
      'pong.0.service': 'm1',
      'ping.1.service': 'm2',
      'pong.1.service': 'm2',
      'ping.2.service': 'm3',
      'pong.2.service': 'm3',
    },
    check: (r) => {
      const to = r.assign.get('ping.1.service');
      assert.ok(to === 'm1' || to === 'm3');
      assert.equal(r.assign.get('pong.1.service'), to);
      assert.equal(r.assign.get('ping.0.service'), 'm1');
      assert.equal(r.assign.get('ping.2.service'), 'm3');
      const d = r.decisions.find((x) => x.unit === 'ping.1.service')!;
      assert.equal(d.from, 'm2');
      assert.match(d.reason, /machine m2 is gone/);
      assert.equal(r.decisions.length, 2, 'only the pair on the lost machine moves');
    },
  },
  {
    name: 'MachineOf a unit that is not scheduled leaves the follower unscheduled',
    units: [
      unit('db.service', { machineMetadata: { region: ['eu'] } }),
      unit('app.service', { machineOf: ['db.service'] }),
      unit('idle.service', {}, 'inactive'),
      unit('b.service', { machineOf: ['idle.service'] }),
      unit('c.service', { machineOf: ['nowhere.service'] }),
      unit('d.service', { machineOf: ['app.service'] }),
    ],
    machines: [machine('m1')],
    unscheduled: {
      'db.service': /^no machine has region=eu$/,
      'app.service': /^MachineOf db\.service, which is not scheduled$/,
      'b.service': /^MachineOf idle\.service, which is not scheduled \(its desired state is inactive\)$/,
      'c.service': /^MachineOf nowhere\.service, which does not exist$/,
      'd.service': /^MachineOf app\.service, which is not scheduled$/,
    },
  },
  {
    name: 'MachineOf with a follower that conflicts where its leader is: the leader stays, the follower is unscheduled',
    units: [
      unit('db.service'),
      unit('other.service'),
      unit('app.service', { machineOf: ['db.service'], conflicts: ['other.service'] }),
    ],
    machines: [machine('m1')],
    current: { 'other.service': 'm1' },
    assign: { 'db.service': 'm1', 'other.service': 'm1' },
    unscheduled: { 'app.service': /^must run with db\.service on m1, but conflicts with other\.service there$/ },
  },
  {
    name: 'MachineOf: the leader is placed where its follower can also run',
    units: [
      unit('db.service'),
      unit('backup.service', { machineOf: ['db.service'], machineMetadata: { disk: ['ssd'] } }),
    ],
    machines: [machine('m1', { disk: 'hdd' }), machine('m2', { disk: 'ssd' })],
    assign: { 'db.service': 'm2', 'backup.service': 'm2' },
  },
  {
    name: 'MachineOf both ways (a cycle) places the two together without looping',
    units: [
      unit('a.service', { machineOf: ['b.service'] }),
      unit('b.service', { machineOf: ['a.service'] }),
      unit('x.service'),
    ],
    machines: [machine('m1'), machine('m2')],
    current: { 'x.service': 'm1' },
    assign: { 'a.service': 'm2', 'b.service': 'm2', 'x.service': 'm1' },
  },
  {
    name: 'Conflicts: five units that conflict with one another on three machines: three run, on three machines',
    units: [0, 1, 2, 3, 4].map((i) => unit(`conflict.${i}.service`, { conflicts: ['conflict*'] })),
    machines: M3,
    assign: { 'conflict.0.service': 'm1', 'conflict.1.service': 'm2', 'conflict.2.service': 'm3' },
    unscheduled: {
      'conflict.3.service':
        /^conflicts with conflict\.0\.service, conflict\.1\.service, conflict\.2\.service on every machine$/,
      'conflict.4.service':
        /^conflicts with conflict\.0\.service, conflict\.1\.service, conflict\.2\.service on every machine$/,
    },
  },
  {
    name: 'one-way conflict: a unit without Conflicts cannot join a unit whose Conflicts match it',
    units: [unit('conflicts-with-hello.service', { conflicts: ['hello.service'] }), unit('hello.service')],
    machines: [machine('m1')],
    current: { 'conflicts-with-hello.service': 'm1' },
    assign: { 'conflicts-with-hello.service': 'm1' },
    unscheduled: { 'hello.service': /^conflicts with conflicts-with-hello\.service on m1, its only eligible machine$/ },
  },
  {
    name: 'one-way conflict, the other way round: the unit with Conflicts cannot join the unit it names',
    units: [unit('conflicts-with-hello.service', { conflicts: ['hello.service'] }), unit('hello.service')],
    machines: [machine('m1')],
    current: { 'hello.service': 'm1' },
    assign: { 'hello.service': 'm1' },
    unscheduled: { 'conflicts-with-hello.service': /^conflicts with hello\.service on m1/ },
  },
  {
    name: 'one-way conflict: once the conflicting unit is gone the other one is placed',
    units: [unit('hello.service')],
    machines: [machine('m1')],
    current: { 'conflicts-with-hello.service': 'm1' },
    assign: { 'hello.service': 'm1' },
  },
  {
    name: 'multiple conflicts: every Conflicts= glob counts',
    units: [
      unit('conflict.multiple.1.service', { conflicts: ['conflict.multiple.2.service', 'web@*.service'] }),
      unit('conflict.multiple.2.service'),
      unit('web@1.service'),
      unit('plain.service'),
    ],
    machines: M3,
    check: (r) => {
      const m = r.assign.get('conflict.multiple.1.service');
      assert.notEqual(r.assign.get('conflict.multiple.2.service'), m);
      assert.notEqual(r.assign.get('web@1.service'), m);
    },
  },
  {
    name: 'a new conflict between two co-located units moves one of them, deterministically',
    units: [unit('a.service', { conflicts: ['b.service'] }), unit('b.service')],
    machines: [machine('m1'), machine('m2')],
    current: { 'a.service': 'm1', 'b.service': 'm1' },
    assign: { 'a.service': 'm1', 'b.service': 'm2' },
    check: (r) => assert.match(r.decisions[0]!.reason, /^conflicts with a\.service on m1; moved/),
  },
  {
    name: 'Replaces: the replacing unit goes elsewhere when it can (the replaced unit keeps running)',
    units: [unit('replace.0.service'), unit('replace.1.service', { replaces: ['replace.0.service'] })],
    machines: [machine('m1'), machine('m2')],
    current: { 'replace.0.service': 'm1' },
    assign: { 'replace.0.service': 'm1', 'replace.1.service': 'm2' },
  },
  {
    name: 'Replaces: a unit that must run where the replaced unit is evicts it to another machine',
    units: [unit('old.service'), unit('new.service', { replaces: ['old.service'], machineId: 'm1' })],
    machines: [machine('m1'), machine('m2')],
    current: { 'old.service': 'm1' },
    assign: { 'new.service': 'm1', 'old.service': 'm2' },
    check: (r) =>
      assert.deepEqual(
        r.decisions.find((d) => d.unit === 'old.service'),
        {
          unit: 'old.service',
          from: 'm1',
          to: 'm2',
          reason: 'replaced by new.service on m1; moved (least-loaded eligible machine)',
        },
      ),
  },
  {
    name: 'Replaces: with one machine the replaced unit is unscheduled, and says why',
    units: [unit('old.service'), unit('new.service', { replaces: ['old*'] })],
    machines: [machine('m1')],
    current: { 'old.service': 'm1' },
    assign: { 'new.service': 'm1' },
    unscheduled: { 'old.service': /^is replaced by new\.service on m1, its only eligible machine$/ },
  },
  {
    name: 'Replaces: a unit already sharing a machine with the unit that replaces it moves away',
    units: [unit('old.service'), unit('new.service', { replaces: ['old.service'] })],
    machines: [machine('m1'), machine('m2')],
    current: { 'old.service': 'm1', 'new.service': 'm1' },
    assign: { 'new.service': 'm1', 'old.service': 'm2' },
  },
  {
    name: 'Replaces: the followers of an evicted unit move with it',
    units: [
      unit('old.service'),
      unit('old-sidecar.service', { machineOf: ['old.service'] }),
      unit('new.service', { replaces: ['old.service'], machineId: 'm1' }),
    ],
    machines: [machine('m1'), machine('m2')],
    current: { 'old.service': 'm1', 'old-sidecar.service': 'm1' },
    assign: { 'new.service': 'm1', 'old.service': 'm2', 'old-sidecar.service': 'm2' },
  },
  {
    name: 'circular Replaces: two units replacing each other never share a machine and do not loop',
    units: [
      unit('replace.0.service', { replaces: ['replace.1.service'] }),
      unit('replace.1.service', { replaces: ['replace.0.service'] }),
    ],
    machines: [machine('m1')],
    assign: { 'replace.0.service': 'm1' },
    unscheduled: { 'replace.1.service': /^conflicts with replace\.0\.service on m1/ },
  },
  {
    name: 'circular Replaces on two machines: one unit per machine',
    units: [
      unit('replace.0.service', { replaces: ['replace.1.service'] }),
      unit('replace.1.service', { replaces: ['replace.0.service'] }),
    ],
    machines: [machine('m1'), machine('m2')],
    current: { 'replace.0.service': 'm1', 'replace.1.service': 'm1' },
    assign: { 'replace.0.service': 'm1', 'replace.1.service': 'm2' },
  },
  {
    name: 'a Replaces chain around a cycle (a->b->c->a) on one pinned machine terminates',
    units: [
      unit('a.service', { replaces: ['b.service'], machineId: 'm1' }),
      unit('b.service', { replaces: ['c.service'], machineId: 'm1' }),
      unit('c.service', { replaces: ['a.service'], machineId: 'm1' }),
    ],
    machines: [machine('m1'), machine('m2')],
    check: (r) => assert.equal(r.assign.size + r.unscheduled.size, 3),
  },
  {
    name: 'a timer and the service it triggers are placed together without MachineOf',
    units: [unit('other.service'), unit('backup.service', {}, 'loaded'), unit('backup.timer')],
    machines: [machine('m1'), machine('m2')],
    current: { 'other.service': 'm1' },
    assign: { 'other.service': 'm1', 'backup.service': 'm2', 'backup.timer': 'm2' },
  },
  {
    name: 'a socket, a path unit and template instances follow the service they activate',
    units: [
      unit('a.service'),
      unit('b.service'),
      unit('c.service'),
      unit('web@1.service'),
      unit('web@1.socket'),
      unit('watch.path'),
      unit('watch.service'),
    ],
    machines: M3,
    check: (r) => {
      assert.equal(r.assign.get('web@1.socket'), r.assign.get('web@1.service'));
      assert.equal(r.assign.get('watch.path'), r.assign.get('watch.service'));
    },
  },
  {
    name: 'a timer with Unit= follows the unit it names',
    units: [unit('job.service'), unit('nightly.timer', {}, 'launched', 'job.service'), unit('nightly.service')],
    machines: [machine('m1'), machine('m2'), machine('m3')],
    check: (r) => assert.equal(r.assign.get('nightly.timer'), r.assign.get('job.service')),
  },
  {
    name: 'a timer whose service is inactive (or absent) is placed on its own',
    units: [unit('a.timer'), unit('a.service', {}, 'inactive'), unit('b.socket')],
    machines: [machine('m1'), machine('m2')],
    assign: { 'a.timer': 'm1', 'b.socket': 'm2' },
  },
  {
    name: 'a timer follows its service when the service cannot be placed',
    units: [unit('a.service', { machineMetadata: { region: ['eu'] } }), unit('a.timer')],
    machines: [machine('m1')],
    unscheduled: {
      'a.service': /^no machine has region=eu$/,
      'a.timer': /^triggers a\.service, which is not scheduled$/,
    },
  },
  {
    name: "MachineOf foo.socket on foo.service (fleet's documented pattern) forms one group with the trigger pairing",
    units: [
      unit('foo.service', { machineOf: ['foo.socket'] }),
      unit('foo.socket'),
      unit('x.service'),
      unit('y.service'),
    ],
    machines: M3,
    current: { 'x.service': 'm1', 'y.service': 'm2' },
    assign: { 'foo.service': 'm3', 'foo.socket': 'm3', 'x.service': 'm1', 'y.service': 'm2' },
  },
  {
    name: 'stability: a machine that joins moves nothing',
    units: [unit('a.service'), unit('b.service'), unit('c.service'), unit('d.service')],
    machines: [machine('m1'), machine('m2'), machine('m0')],
    current: { 'a.service': 'm1', 'b.service': 'm2', 'c.service': 'm1', 'd.service': 'm2' },
    assign: { 'a.service': 'm1', 'b.service': 'm2', 'c.service': 'm1', 'd.service': 'm2' },
    check: (r) => assert.deepEqual(r.decisions, []),
  },
  {
    name: 'a machine that is gone loses its units to the least-loaded others',
    units: [unit('a.service'), unit('b.service'), unit('c.service')],
    machines: [machine('m1'), machine('m3')],
    current: { 'a.service': 'm1', 'b.service': 'm2', 'c.service': 'm3' },
    assign: { 'a.service': 'm1', 'b.service': 'm1', 'c.service': 'm3' },
    check: (r) =>
      assert.deepEqual(r.decisions, [
        {
          unit: 'b.service',
          from: 'm2',
          to: 'm1',
          reason: 'machine m2 is gone; moved (least-loaded eligible machine)',
        },
      ]),
  },
  {
    name: 'a unit whose machine no longer has the metadata it needs moves',
    units: [unit('a.service', { machineMetadata: { region: ['eu'] } }), unit('b.service')],
    machines: [machine('m1', { region: 'us' }), machine('m2', { region: 'eu' })],
    current: { 'a.service': 'm1', 'b.service': 'm1' },
    assign: { 'a.service': 'm2', 'b.service': 'm1' },
    check: (r) =>
      assert.deepEqual(r.decisions, [
        {
          unit: 'a.service',
          from: 'm1',
          to: 'm2',
          reason: 'machine m1 does not have region=eu; moved (least-loaded eligible machine)',
        },
      ]),
  },
  {
    name: 'a unit that can no longer run anywhere is unscheduled with both reasons',
    units: [unit('a.service', { machineMetadata: { region: ['eu'] } })],
    machines: [machine('m1', { region: 'us' })],
    current: { 'a.service': 'm1' },
    unscheduled: { 'a.service': /^no machine has region=eu$/ },
    check: (r) =>
      assert.deepEqual(r.decisions, [
        { unit: 'a.service', from: 'm1', reason: 'machine m1 does not have region=eu; no machine has region=eu' },
      ]),
  },
  {
    name: 'a malformed Conflicts glob matches nothing (fleet only logged it)',
    units: [unit('a.service', { conflicts: ['b[.service'] }), unit('b[.service')],
    machines: [machine('m1')],
    assign: { 'a.service': 'm1', 'b[.service': 'm1' },
  },
];

for (const c of cases) {
  test(c.name, () => {
    const r = planStable(c.units, c.machines, c.current);
    if (c.assign) assert.deepEqual(obj(r.assign), c.assign);
    if (c.unscheduled) {
      assert.deepEqual([...r.unscheduled.keys()].sort(), Object.keys(c.unscheduled).sort());
      for (const [u, re] of Object.entries(c.unscheduled)) assert.match(r.unscheduled.get(u)!, re, u);
    }
    c.check?.(r);
  });
}

// ---- properties --------------------------------------------------------------------------------

test('the same input in any order gives the same plan', () => {
  const units = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => unit(`u${i}.service`, i % 3 === 0 ? { conflicts: ['u*'] } : {}));
  const machines = [machine('m1'), machine('m2'), machine('m3'), machine('m4')];
  const a = plan(units, machines);
  const b = plan([...units].reverse(), [...machines].reverse());
  assert.deepEqual(obj(a.assign), obj(b.assign));
  assert.deepEqual(obj(a.unscheduled), obj(b.unscheduled));
  assert.deepEqual(a.decisions, b.decisions);
});

test(
  'random clusters: every plan holds the invariants, re-planning it changes nothing, and a joining machine moves ' +
    'nothing',
  () => {
    let seed = 42;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let round = 0; round < 300; round++) {
      const nm = 1 + rnd(5);
      const machines = Array.from({ length: nm }, (_, i) =>
        machine(`m${i}`, rnd(2) ? { region: ['eu', 'us'][rnd(2)]! } : {}),
      );
      const nu = 1 + rnd(12);
      const names = Array.from({ length: nu }, (_, i) => `u${i}.${rnd(4) === 0 ? 'timer' : 'service'}`);
      const units = names.map((n) => {
        const c: Partial<FleetConstraints> = {};
        if (rnd(5) === 0) c.conflicts = [`u${rnd(nu)}*`];
        if (rnd(6) === 0) c.replaces = [`u${rnd(nu)}.*`];
        if (rnd(6) === 0) c.machineOf = [names[rnd(nu)]!];
        if (rnd(6) === 0) c.machineMetadata = { region: [['eu', 'us'][rnd(2)]!] };
        if (rnd(10) === 0) c.machineId = `m${rnd(nm + 1)}`;
        if (rnd(12) === 0) c.global = true;
        return unit(n, c, rnd(8) === 0 ? 'inactive' : 'launched');
      });
      const current: Record<string, string> = {};
      for (const n of names) if (rnd(2)) current[n] = `m${rnd(nm + 1)}`;
      try {
        const r = planStable(units, machines, current);
        const joined = planSchedule({
          units,
          machines: [...machines, machine('m-new', rnd(2) ? { region: 'eu' } : {})],
          current: r.assign,
        });
        for (const d of joined.decisions)
          assert.equal(d.from, undefined, `${d.unit} moved from ${d.from} when a machine joined`);
      } catch (e) {
        throw new Error(`round ${round}: ${(e as Error).message}\n${JSON.stringify({ units, machines, current })}`);
      }
    }
  },
);

test('scale simulation: 10,000 units over 1,000 machines all placed; a replan moves only what it must', () => {
  const machines = Array.from({ length: 1000 }, (_, i) =>
    machine(`m${String(i).padStart(4, '0')}`, { region: i % 2 ? 'eu' : 'us', rack: `r${i % 10}` }),
  );
  const units: DesiredEntry[] = [];
  for (let i = 0; i < 10_000; i++) {
    const n = `app${i}.service`;
    if (i % 10 === 1) units.push(unit(n, { machineOf: [`app${i - 1}.service`] }));
    else if (i % 10 === 2) units.push(unit(n, { machineMetadata: { region: ['eu'] } }));
    else if (i % 10 === 3) units.push(unit(`web@${i}.service`, { conflicts: ['web@*.service'] }));
    else if (i % 10 === 4) units.push(unit(`app${i - 1}.timer`));
    else units.push(unit(n));
  }
  // How fast this is planned is bench/schedule.ts's to measure; here, what the plan is.
  const r = plan(units, machines);
  assert.equal(r.assign.size, 10_000);
  const again = planSchedule({ units, machines, current: r.assign });
  assert.deepEqual(again.decisions, []);
  // Lose 10 machines: their units move, nothing else does.
  const lost = new Set(machines.slice(0, 10).map((m) => m.id));
  const after = planSchedule({ units, machines: machines.filter((m) => !lost.has(m.id)), current: r.assign });
  for (const d of after.decisions) assert.ok(lost.has(d.from!), `${d.unit} moved from a live machine`);
  assert.equal(after.decisions.length, [...r.assign.values()].filter((m) => lost.has(m)).length);
});
