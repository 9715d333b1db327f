/** The planner with silent machines (input.held): their units stay, they take nothing new. Pure. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planSchedule } from '../../src/engine/schedule.js';
import type { DesiredEntry, MachineRecord } from '../../src/store/keys.js';
import { NO_CONSTRAINTS } from '../../src/unit/types.js';

const machine = (id: string, metadata: Record<string, string> = {}): MachineRecord => ({
  id,
  address: '',
  metadata,
  version: '1',
  startedAt: 't',
});
const unit = (name: string, constraints: Partial<DesiredEntry['constraints']> = {}): DesiredEntry => ({
  name,
  hash: `h-${name}`,
  state: 'launched',
  constraints: { ...NO_CONSTRAINTS, ...constraints },
});

test('units of a held machine stay there, with no decision, even with no machine registered', () => {
  const r = planSchedule({
    units: [unit('a.service'), unit('b.service', { machineMetadata: { region: ['eu'] } })],
    machines: [],
    current: new Map([
      ['a.service', 'm1'],
      ['b.service', 'm2'],
    ]),
    held: new Set(['m1', 'm2']),
  });
  assert.deepEqual(Object.fromEntries(r.assign), { 'a.service': 'm1', 'b.service': 'm2' });
  assert.deepEqual(r.decisions, []);
  assert.equal(r.unscheduled.size, 0);
});

test('a held machine takes no new unit; a machine not held loses its units', () => {
  const r = planSchedule({
    units: [unit('a.service'), unit('b.service'), unit('new.service')],
    machines: [machine('m3')],
    current: new Map([
      ['a.service', 'm1'],
      ['b.service', 'm2'],
    ]),
    held: new Set(['m1']),
  });
  assert.equal(r.assign.get('a.service'), 'm1');
  assert.equal(r.assign.get('b.service'), 'm3');
  assert.equal(r.assign.get('new.service'), 'm3');
  assert.deepEqual(
    r.decisions.map((d) => [d.unit, d.from ?? null, d.to ?? null]),
    [
      ['b.service', 'm2', 'm3'],
      ['new.service', null, 'm3'],
    ],
  );
});

test('a unit removed from the desired state leaves a held machine too', () => {
  const r = planSchedule({
    units: [],
    machines: [machine('m2')],
    current: new Map([['a.service', 'm1']]),
    held: new Set(['m1']),
  });
  assert.equal(r.assign.size, 0);
  assert.deepEqual(r.decisions, [{ unit: 'a.service', from: 'm1', reason: 'removed from the desired state' }]);
});
