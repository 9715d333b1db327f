// Pure planner tests: in-memory builders only (no systemd here; test/agent/systemd.test.ts has the real one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  planAgentTasks,
  type ActualAgentUnit,
  type AgentTask,
  type DesiredAgentUnit,
  type TaskOptions,
} from '../../src/agent/tasks.js';

const H1 = '1'.repeat(64);
const H2 = '2'.repeat(64);

const want = (state: 'loaded' | 'launched', hash = H1): DesiredAgentUnit => ({ state, hash, runsToCompletion: false });
const running = (hash = H1, applied: 'loaded' | 'launched' | undefined = 'launched'): ActualAgentUnit => ({
  hash,
  load: 'loaded',
  active: 'active',
  sub: 'running',
  ...(applied ? { applied } : {}),
});
const dead = (hash = H1, applied: 'loaded' | 'launched' | undefined = 'loaded'): ActualAgentUnit => ({
  hash,
  load: 'loaded',
  active: 'inactive',
  sub: 'dead',
  ...(applied ? { applied } : {}),
});
const failed = (hash = H1, applied: 'loaded' | 'launched' = 'launched'): ActualAgentUnit => ({
  hash,
  load: 'loaded',
  active: 'failed',
  sub: 'failed',
  applied,
});

/** Compact form of a plan for table comparison: "type unit" per task. */
const brief = (tasks: AgentTask[]) => tasks.map((t) => (t.unit ? `${t.type} ${t.unit}` : t.type));

interface Case {
  name: string;
  desired: Record<string, DesiredAgentUnit>;
  actual: Record<string, ActualAgentUnit>;
  opts?: TaskOptions;
  expect: string[];
}

const cases: Case[] = [
  {
    name: 'nothing to do: empty plan',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': running() },
    expect: [],
  },
  { name: 'nothing at all: empty plan', desired: {}, actual: {}, expect: [] },
  {
    name: 'new launched unit: load then start, no reload for a brand-new file',
    desired: { 'a.service': want('launched') },
    actual: {},
    expect: ['load a.service', 'start a.service'],
  },
  {
    name: 'new loaded unit: load only',
    desired: { 'a.service': want('loaded') },
    actual: {},
    expect: ['load a.service'],
  },
  {
    name: 'launched -> loaded: stop it',
    desired: { 'a.service': want('loaded') },
    actual: { 'a.service': running(H1, 'launched') },
    expect: ['stop a.service'],
  },
  {
    name: 'loaded -> launched: start it',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': dead(H1, 'loaded') },
    expect: ['start a.service'],
  },
  {
    name: 'a loaded unit activated by its socket/timer is left running',
    desired: { 'a.service': want('loaded') },
    actual: { 'a.service': running(H1, 'loaded') },
    expect: [],
  },
  {
    name: 'a loaded unit running with unknown history is left running',
    desired: { 'a.service': want('loaded') },
    actual: { 'a.service': { hash: H1, load: 'loaded', active: 'active', sub: 'running' } },
    expect: [],
  },
  {
    name: 'removed unit: unload (stop + unlink + remove file) and one reload',
    desired: {},
    actual: { 'a.service': running() },
    expect: ['unload a.service', 'reload'],
  },
  {
    name: 'changed hash while running: rewrite, stop, reload, start',
    desired: { 'a.service': want('launched', H2) },
    actual: { 'a.service': running(H1) },
    expect: ['load a.service', 'stop a.service', 'reload', 'start a.service'],
  },
  {
    name: 'changed hash while loaded and dead: rewrite and reload only',
    desired: { 'a.service': want('loaded', H2) },
    actual: { 'a.service': dead(H1) },
    expect: ['load a.service', 'reload'],
  },
  {
    name: 'changed hash of a loaded unit its trigger started: stop it so the next activation runs the new content',
    desired: { 'a.service': want('loaded', H2) },
    actual: { 'a.service': running(H1, 'loaded') },
    expect: ['load a.service', 'stop a.service', 'reload'],
  },
  {
    name: 'changed hash of a launched unit that is dead: rewrite, reload, start',
    desired: { 'a.service': want('launched', H2) },
    actual: { 'a.service': dead(H1, 'launched') },
    expect: ['load a.service', 'reload', 'start a.service'],
  },
  {
    name: 'unknown hash on disk counts as changed',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': running('') },
    expect: ['load a.service', 'stop a.service', 'reload', 'start a.service'],
  },
  {
    name: 'a launched unit systemd let fail stays failed: no start behind its restart policy',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': failed() },
    expect: [],
  },
  {
    name: 'a failed unit asked to go from loaded to launched: start it',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': failed(H1, 'loaded') },
    expect: ['start a.service'],
  },
  {
    name: 'drift repair backing off: no start this pass',
    desired: { 'a.service': want('launched'), 'b.service': want('launched') },
    actual: { 'a.service': dead(H1, 'launched'), 'b.service': dead(H1, 'loaded') },
    opts: { holdDriftStart: new Set(['a.service', 'b.service']) },
    expect: ['start b.service'],
  },
  {
    name: 'systemd lost the file or link: load again, then start',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': { hash: H1, load: 'not-found', active: 'inactive', sub: 'dead', applied: 'launched' } },
    expect: ['load a.service', 'start a.service'],
  },
  {
    name: 'activating counts as up: no second start',
    desired: { 'a.service': want('launched') },
    actual: { 'a.service': { hash: H1, load: 'loaded', active: 'activating', sub: 'start', applied: 'launched' } },
    expect: [],
  },
  {
    name: 'template instances are ordinary units; the new instance needs no reload of its own',
    desired: {
      'web@1.service': want('launched', H2),
      'web@2.service': want('launched', H2),
      'web@3.service': want('launched', H1),
    },
    actual: { 'web@1.service': running(H1), 'web@3.service': running(H1), 'web@9.service': running(H1) },
    expect: [
      'unload web@9.service',
      'load web@1.service',
      'load web@2.service',
      'stop web@1.service',
      'reload',
      'start web@1.service',
      'start web@2.service',
    ],
  },
  {
    name: 'a template itself is loaded but never started',
    desired: { 'web@.service': want('launched') },
    actual: {},
    expect: ['load web@.service'],
  },
  {
    name: 'order across units: unload, load, stop, one reload, start',
    desired: {
      'a.service': want('launched', H2), // changed, running
      'b.service': want('launched'), // new
      'c.service': want('loaded'), // launched -> loaded
      'e.timer': want('launched', H2), // changed, running
    },
    actual: {
      'a.service': running(H1),
      'c.service': running(H1, 'launched'),
      'd.service': dead(), // removed
      'e.timer': { hash: H1, load: 'loaded', active: 'active', sub: 'waiting', applied: 'launched' },
    },
    expect: [
      'unload d.service',
      'load a.service',
      'load b.service',
      'load e.timer',
      'stop a.service',
      'stop c.service',
      'stop e.timer',
      'reload',
      'start a.service',
      'start b.service',
      'start e.timer',
    ],
  },
];

for (const c of cases) {
  test(`planAgentTasks: ${c.name}`, () => {
    const plan = planAgentTasks(new Map(Object.entries(c.desired)), new Map(Object.entries(c.actual)), c.opts);
    assert.deepEqual(brief(plan), c.expect);
  });
}

test('planAgentTasks: every task has a reason; drift starts are flagged and failed units marked', () => {
  const plan = planAgentTasks(
    new Map([
      ['a.service', want('launched')],
      ['b.service', want('launched')],
    ]),
    new Map([
      ['a.service', dead(H1, 'launched')],
      ['b.service', failed(H1, 'loaded')],
    ]),
  );
  assert.ok(plan.every((t) => t.reason.length > 0));
  assert.deepEqual(
    plan.map((t) => ({ unit: t.unit, drift: t.drift ?? false, failed: t.failed ?? false })),
    [
      { unit: 'a.service', drift: true, failed: false },
      { unit: 'b.service', drift: false, failed: true },
    ],
  );
  assert.match(plan[0]!.reason, /drift: launched unit is inactive\/dead/);
});

test('planAgentTasks: at most one reload however many units changed or went away', () => {
  const desired = new Map<string, DesiredAgentUnit>();
  const actual = new Map<string, ActualAgentUnit>();
  for (let i = 0; i < 50; i++) {
    desired.set(`c${i}.service`, want('launched', H2));
    actual.set(`c${i}.service`, running(H1));
    actual.set(`r${i}.service`, running(H1));
  }
  const plan = planAgentTasks(desired, actual);
  assert.equal(plan.filter((t) => t.type === 'reload').length, 1);
  assert.equal(plan.filter((t) => t.type === 'unload').length, 50);
  assert.equal(plan.filter((t) => t.type === 'start').length, 50);
});

test('planAgentTasks: does not mutate its inputs', () => {
  const desired = new Map([['a.service', want('launched', H2)]]);
  const actual = new Map([['a.service', running(H1)]]);
  const before = JSON.stringify([[...desired], [...actual]]);
  planAgentTasks(desired, actual);
  assert.equal(JSON.stringify([[...desired], [...actual]]), before);
});

test('planAgentTasks: a unit that runs to completion is not drift after its run; a failed one stays failed', () => {
  const H3 = '3'.repeat(64),
    H4 = '4'.repeat(64);
  // remain: RemainAfterExit=yes (test/agent/content.test.ts reads these facts from unit files).
  const oneshot = (remain = false): DesiredAgentUnit => ({
    state: 'launched',
    hash: remain ? H4 : H3,
    runsToCompletion: !remain,
  });
  assert.deepEqual(
    brief(planAgentTasks(new Map([['job.service', oneshot()]]), new Map([['job.service', dead(H3, 'launched')]]))),
    [],
  );
  assert.deepEqual(
    brief(planAgentTasks(new Map([['job.service', oneshot()]]), new Map([['job.service', failed(H3)]]))),
    [],
  );
  // Never started yet (loaded -> launched): start it once.
  assert.deepEqual(
    brief(planAgentTasks(new Map([['job.service', oneshot()]]), new Map([['job.service', dead(H3, 'loaded')]]))),
    ['start job.service'],
  );
  // RemainAfterExit=yes: inactive means it was stopped behind gitfleet's back: drift.
  assert.deepEqual(
    brief(planAgentTasks(new Map([['job.service', oneshot(true)]]), new Map([['job.service', dead(H4, 'launched')]]))),
    ['start job.service'],
  );
});
