/**
 * Pure tests of incremental planning (src/engine/schedule-incremental.ts): after any change, the
 * incremental plan is exactly the full plan (same placements, reasons and decisions, in the same
 * order), and the changes it can plan alone are planned alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSchedule, type ScheduleInput, type ScheduleResult } from '../../src/engine/schedule.js';
import { planScheduleIncremental, type PlanMemo } from '../../src/engine/schedule-incremental.js';
import type { DesiredEntry, MachineRecord } from '../../src/store/keys.js';
import type { FleetConstraints } from '../../src/unit/types.js';
import { rng } from '../support/random.js';

function machine(id: string, metadata: Record<string, string> = {}): MachineRecord {
  return { id, address: '10.0.0.1', metadata, version: 'test', startedAt: '2024-01-01T00:00:00Z' };
}

function unit(name: string, c: Partial<FleetConstraints> = {}, hash = `h-${name}`): DesiredEntry {
  return {
    name,
    hash,
    state: 'launched',
    constraints: { machineMetadata: {}, machineOf: [], conflicts: [], global: false, replaces: [], ...c },
  };
}

/** A unit of a random kind: plain, region-bound, pinned to a machine id, a web@ instance, a sidecar, a timer. */
function randomUnit(r: () => number, i: number, rev: number, names: string[]): DesiredEntry {
  const k = Math.floor(r() * 10);
  const name = k === 6 ? `web@${i}.service` : k === 8 ? `svc-${i}.timer` : `svc-${i}.service`;
  const hash = `h-${i}-${rev}`;
  if (k === 2) return unit(name, { machineMetadata: { region: [r() < 0.5 ? 'eu' : 'us'] } }, hash);
  if (k === 3) return unit(name, { machineMetadata: { region: ['mars'] } }, hash);
  if (k === 4) return unit(name, { machineId: `m${Math.floor(r() * 8)}` }, hash);
  if (k === 6) return unit(name, { conflicts: ['web@*.service'] }, hash);
  if (k === 7 && names.length > 0) return unit(name, { machineOf: [names[Math.floor(r() * names.length)]!] }, hash);
  return unit(name, {}, hash);
}

const list = (r: ScheduleResult) => ({
  assign: [...r.assign],
  unscheduled: [...r.unscheduled],
  decisions: r.decisions,
});

test('incremental planning gives the full plan after every kind of change, 300 random changes', () => {
  const r = rng(17);
  let full = 0;
  let incremental = 0;
  for (let round = 0; round < 30; round++) {
    const machines = Array.from({ length: 3 + Math.floor(r() * 6) }, (_, i) =>
      machine(`m${i}`, { region: i % 2 ? 'eu' : 'us' }),
    );
    const names: string[] = [];
    let units: DesiredEntry[] = [];
    for (let i = 0; i < 40 + Math.floor(r() * 60); i++) {
      const u = randomUnit(r, i, 0, names);
      if (units.some((x) => x.name === u.name)) continue;
      units.push(u);
      names.push(u.name);
    }
    let input: ScheduleInput = { units, machines, current: new Map() };
    let out = planScheduleIncremental(null, input);
    let memo: PlanMemo = out.memo;
    assert.deepEqual(list(out.result), list(planSchedule(input)));
    for (let step = 0; step < 10; step++) {
      const next = [...units];
      const edits = 1 + Math.floor(r() * 3);
      for (let e = 0; e < edits; e++) {
        const what = r();
        const at = Math.floor(r() * next.length);
        if (what < 0.3) {
          // Content only.
          next[at] = { ...next[at]!, hash: `${next[at]!.hash}+` };
        } else if (what < 0.5) {
          next.splice(at, 1);
        } else if (what < 0.7) {
          const u = randomUnit(r, 1000 + round * 100 + step * 10 + e, step, names);
          if (!next.some((x) => x.name === u.name)) next.push(u);
        } else if (what < 0.85) {
          // New constraints for the same name.
          const old = next[at]!;
          const u = randomUnit(r, Number(/\d+/.exec(old.name)![0]), step + 1, names);
          next[at] = { ...u, name: old.name };
        } else {
          next[at] = { ...next[at]!, state: next[at]!.state === 'launched' ? 'inactive' : 'launched' };
        }
      }
      next.sort((a, b) => (a.name < b.name ? -1 : 1));
      units = next;
      input = { units, machines, current: out.result.assign };
      out = planScheduleIncremental(memo, input);
      memo = out.memo;
      if (out.planned === 'full') full++;
      else incremental++;
      assert.deepEqual(list(out.result), list(planSchedule(input)), `round ${round} step ${step}`);
    }
  }
  // Both ways were taken, and most of these small changes were planned alone.
  assert.ok(full > 0 && incremental > full, `full ${full}, incremental ${incremental}`);
});

test('a content change alone or one plain unit plans only that unit; a joining machine plans everything', () => {
  const machines = [machine('m1'), machine('m2'), machine('m3')];
  const units = Array.from({ length: 30 }, (_, i) => unit(`svc-${String(i).padStart(2, '0')}.service`));
  const first = planScheduleIncremental(null, { units, machines, current: new Map() });
  assert.equal(first.planned, 'full');

  const contentOnly = units.map((u, i) => (i === 4 ? { ...u, hash: 'new' } : u));
  const a = planScheduleIncremental(first.memo, { units: contentOnly, machines, current: first.result.assign });
  assert.equal(a.planned, 'incremental');
  assert.equal(a.count, 0);
  assert.deepEqual(list(a.result), { ...list(first.result), decisions: [] });

  const added = [...units, unit('svc-99.service')];
  const b = planScheduleIncremental(first.memo, { units: added, machines, current: first.result.assign });
  assert.equal(b.planned, 'incremental');
  assert.equal(b.count, 1);
  assert.deepEqual(list(b.result), list(planSchedule({ units: added, machines, current: first.result.assign })));
  assert.deepEqual(b.result.decisions, [{ unit: 'svc-99.service', to: 'm1', reason: 'least-loaded eligible machine' }]);

  const joined = [...machines, machine('m4')];
  const c = planScheduleIncremental(first.memo, { units, machines: joined, current: first.result.assign });
  assert.equal(c.planned, 'full');
  assert.deepEqual(c.result.decisions, []);

  // The schedule is not what the memo placed (someone else wrote it): planned in full.
  const moved = new Map(first.result.assign);
  moved.set('svc-00.service', 'm3');
  const d = planScheduleIncremental(first.memo, { units: contentOnly, machines, current: moved });
  assert.equal(d.planned, 'full');
  assert.deepEqual(list(d.result), list(planSchedule({ units: contentOnly, machines, current: moved })));
});

test('a silent machine held by one plan and gone in the next: its units move (planned in full)', () => {
  const machines = [machine('m1'), machine('m2'), machine('m3')];
  const units = Array.from({ length: 9 }, (_, i) => unit(`svc-${i}.service`));
  const first = planScheduleIncremental(null, { units, machines, current: new Map() });
  const onM3 = [...first.result.assign].filter(([, m]) => m === 'm3').map(([u]) => u);
  assert.ok(onM3.length > 0);
  const live = machines.slice(0, 2);
  const held = planScheduleIncremental(first.memo, {
    units,
    machines: live,
    current: first.result.assign,
    held: new Set(['m3']),
  });
  assert.deepEqual(held.result.decisions, []);
  const gone = { units, machines: live, current: held.result.assign };
  const after = planScheduleIncremental(held.memo, gone);
  assert.equal(after.planned, 'full');
  assert.deepEqual(list(after.result), list(planSchedule(gone)));
  for (const u of onM3) assert.notEqual(after.result.assign.get(u), 'm3', `${u} left the gone machine`);
});

test(
  "silent machines held and no placement input changed: the plan is the memo's; a placement change while held " +
    'is planned in full',
  () => {
    const machines = [machine('m1'), machine('m2'), machine('m3'), machine('m4')];
    const units = Array.from({ length: 24 }, (_, i) =>
      i % 6 === 1 ? unit(`svc-${i}.service`, { machineOf: [`svc-${i - 1}.service`] }) : unit(`svc-${i}.service`),
    );
    const first = planScheduleIncremental(null, { units, machines, current: new Map() });
    const live = machines.slice(0, 3);
    const heldSet = new Set(['m4']);
    const held = planScheduleIncremental(first.memo, {
      units,
      machines: live,
      current: first.result.assign,
      held: heldSet,
    });
    assert.equal(held.planned, 'full');

    const contentOnly = units.map((u, i) => (i === 7 ? { ...u, hash: 'new' } : u));
    const same = { units: contentOnly, machines: live, current: held.result.assign, held: heldSet };
    const again = planScheduleIncremental(held.memo, same);
    assert.equal(again.planned, 'incremental');
    assert.equal(again.count, 0);
    assert.deepEqual(list(again.result), list(planSchedule(same)));
    for (const [u, m] of first.result.assign) if (m === 'm4') assert.equal(again.result.assign.get(u), 'm4');

    const added = { ...same, units: [...contentOnly, unit('svc-99.service')] };
    const grown = planScheduleIncremental(again.memo, added);
    assert.equal(grown.planned, 'full');
    assert.equal(grown.why, 'silent machines held');
    assert.deepEqual(list(grown.result), list(planSchedule(added)));
  },
);
