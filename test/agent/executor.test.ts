// The executor against SimulatedSystemd (a named fake: no systemd runs here; test/agent/agent.test.ts
// drives a real one), with a real unit directory and record in a temp dir.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { unitContent, type UnitContent } from '../../src/agent/content.js';
import { DriftRepair } from '../../src/agent/drift.js';
import { Executor } from '../../src/agent/executor.js';
import { AgentRecord } from '../../src/agent/record.js';
import { planAgentTasks, type AgentTask, type DesiredAgentUnit } from '../../src/agent/tasks.js';
import { UnitDir } from '../../src/agent/unit-dir.js';
import { silentLogger } from '../../src/log.js';
import type { JobResult, UnitFileChange, UnitState } from '../../src/systemd/manager.js';
import { SimulatedSystemd } from '../../src/systemd/simulated.js';

/** SimulatedSystemd that also records the order of the calls that change something. */
class RecordingSystemd extends SimulatedSystemd {
  readonly log: string[] = [];
  override async linkUnitFiles(paths: readonly string[]): Promise<UnitFileChange[]> {
    this.log.push(`link ${paths.map((p) => p.slice(p.lastIndexOf('/') + 1)).join(' ')}`);
    return super.linkUnitFiles(paths);
  }
  override async enableUnitFiles(names: readonly string[]) {
    this.log.push(`enable ${names.join(' ')}`);
    return super.enableUnitFiles(names);
  }
  override async disableUnitFiles(names: readonly string[]): Promise<UnitFileChange[]> {
    this.log.push(`disable ${names.join(' ')}`);
    return super.disableUnitFiles(names);
  }
  override async reload(): Promise<void> {
    this.log.push('reload');
    return super.reload();
  }
  override async startUnit(name: string): Promise<JobResult> {
    this.log.push(`start ${name}`);
    return super.startUnit(name);
  }
  override async stopUnit(name: string): Promise<JobResult> {
    this.log.push(`stop ${name}`);
    return super.stopUnit(name);
  }
  override async resetFailed(name?: string): Promise<void> {
    this.log.push(`reset-failed ${name}`);
    return super.resetFailed(name);
  }
}

async function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-executor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const systemd = new RecordingSystemd();
  const unitDir = new UnitDir(join(dir, 'units'));
  await unitDir.scan();
  const record = new AgentRecord(dir, silentLogger);
  await record.load();
  const drift = new DriftRepair({ minMs: 1_000, maxMs: 60_000, log: silentLogger, ready: () => {} });
  t.after(() => drift.stop());
  const observed: UnitState[] = [];
  const forgotten: string[] = [];
  const reporter = { observe: (s: UnitState) => void observed.push(s), forget: (u: string) => void forgotten.push(u) };
  const executor = new Executor({ systemd, unitDir, record, drift, reporter, concurrency: 4, log: silentLogger });
  return { dir, systemd, unitDir, record, drift, observed, forgotten, executor };
}

type Setup = Awaited<ReturnType<typeof setup>>;

const svc = (n: number, extra = '') => unitContent(`[Service]\nExecStart=/bin/sleep ${n}\n${extra}`);
const INSTALL = '[Install]\nWantedBy=default.target\n';

/** Plan against what is there now and execute it; records what was applied, as a pass does. */
async function pass(s: Setup, want: Record<string, { content: UnitContent; state: 'loaded' | 'launched' }>) {
  const desired = new Map<string, DesiredAgentUnit>(
    Object.entries(want).map(([u, w]) => [u, { hash: w.content.hash, state: w.state, runsToCompletion: false }]),
  );
  const actual = await s.executor.readActual();
  const tasks = planAgentTasks(desired, actual, { holdDriftStart: s.drift.held() });
  const failures = await s.executor.execute(tasks, actual, (u) => want[u]?.content);
  for (const [u, d] of desired) if (!failures.has(u)) s.record.setApplied(u, d.state);
  return { tasks, failures };
}

test('new units: files written, one link for all, [Install] ones enabled, launched ones started', async (t) => {
  const s = await setup(t);
  const a = svc(1, INSTALL);
  const b = svc(2);
  const { failures } = await pass(s, {
    'a.service': { content: a, state: 'launched' },
    'b.service': { content: b, state: 'loaded' },
  });
  assert.deepEqual(failures, new Map());
  assert.deepEqual(s.systemd.log, ['link a.service b.service', 'enable a.service', 'start a.service']);
  assert.equal(readFileSync(join(s.unitDir.dir, 'a.service'), 'utf8'), a.text);
  assert.equal(s.unitDir.hashOf('b.service'), b.hash);
  assert.deepEqual(s.systemd.activeUnits(), ['a.service']);
  assert.equal(s.record.applied('a.service'), 'launched');
});

test('one pass runs in order: unload, load, stop, one daemon-reload, start', async (t) => {
  const s = await setup(t);
  await pass(s, {
    'gone.service': { content: svc(1), state: 'launched' },
    'changed.service': { content: svc(2), state: 'launched' },
    'other.service': { content: svc(3), state: 'launched' },
  });
  s.systemd.log.length = 0;
  const { tasks, failures } = await pass(s, {
    'changed.service': { content: svc(22), state: 'launched' },
    'other.service': { content: svc(33), state: 'launched' },
    'new.service': { content: svc(4), state: 'launched' },
  });
  assert.deepEqual(failures, new Map());
  assert.equal(tasks.filter((x) => x.type === 'reload').length, 1);
  assert.deepEqual(s.systemd.log, [
    'stop gone.service',
    'disable gone.service',
    'link changed.service new.service other.service',
    'stop changed.service',
    'stop other.service',
    'reload',
    'start changed.service',
    'start new.service',
    'start other.service',
  ]);
  assert.equal(existsSync(join(s.unitDir.dir, 'gone.service')), false);
  assert.equal(s.record.applied('gone.service'), undefined);
  assert.deepEqual(s.forgotten, ['gone.service']);
  assert.deepEqual(s.systemd.activeUnits().sort(), ['changed.service', 'new.service', 'other.service']);
  assert.equal(s.unitDir.hashOf('changed.service'), svc(22).hash);
});

test('a unit that is not running is unloaded without a stop', async (t) => {
  const s = await setup(t);
  await pass(s, { 'idle.service': { content: svc(1), state: 'loaded' } });
  s.systemd.log.length = 0;
  await pass(s, {});
  assert.deepEqual(s.systemd.log, ['disable idle.service', 'reload']);
  assert.deepEqual(s.unitDir.names(), []);
});

test('a failed task fails its unit only; its later tasks are skipped, the others run', async (t) => {
  const s = await setup(t);
  await pass(s, { 'a.service': { content: svc(1), state: 'launched' } });
  // b.service was never linked: systemd refuses to start it (NoSuchUnit), a.service is stopped and started.
  const tasks: AgentTask[] = [
    { type: 'start', unit: 'b.service', reason: 'test' },
    { type: 'stop', unit: 'a.service', reason: 'test' },
    { type: 'start', unit: 'a.service', reason: 'test' },
  ];
  const failures = await s.executor.execute(tasks, await s.executor.readActual(), () => undefined);
  assert.deepEqual([...failures.keys()], ['b.service']);
  assert.match(failures.get('b.service')!.message, /not found/);
  assert.deepEqual(s.systemd.activeUnits(), ['a.service']);

  // An unload whose stop fails keeps the unit's file (retried by the next pass).
  const unknown = new Map([['x.service', { hash: 'h', load: 'loaded', active: 'active', sub: 'running' }]]);
  const f2 = await s.executor.execute(
    [{ type: 'unload', unit: 'x.service', reason: 'test' }],
    unknown,
    () => undefined,
  );
  assert.deepEqual([...f2.keys()], ['x.service']);
  assert.ok(!s.systemd.log.includes('disable x.service'));
});

test('a drift start is counted by drift repair; a failed unit is reset before its start', async (t) => {
  const s = await setup(t);
  await pass(s, { 'a.service': { content: svc(1), state: 'launched' } });
  s.systemd.log.length = 0;
  const tasks: AgentTask[] = [{ type: 'start', unit: 'a.service', reason: 'drift', drift: true, failed: true }];
  await s.systemd.stopUnit('a.service');
  await s.executor.execute(tasks, await s.executor.readActual(), () => undefined);
  assert.deepEqual(s.systemd.log, ['stop a.service', 'reset-failed a.service', 'start a.service']);
  assert.equal(s.drift.repairs('a.service'), 1);
  assert.ok(s.drift.held().has('a.service'));
});

test('a load whose right file is on disk links it without writing it again', async (t) => {
  const s = await setup(t);
  const a = svc(1, INSTALL);
  await s.unitDir.write('a.service', a);
  const mtime = statSync(join(s.unitDir.dir, 'a.service')).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  const failures = await s.executor.execute(
    [{ type: 'load', unit: 'a.service', reason: 'test' }],
    new Map(),
    () => undefined,
  );
  assert.deepEqual(failures, new Map());
  assert.deepEqual(s.systemd.log, ['link a.service', 'enable a.service']);
  assert.equal(statSync(join(s.unitDir.dir, 'a.service')).mtimeMs, mtime);
  // No content and no file: the load fails, nothing is linked.
  const f2 = await s.executor.execute(
    [{ type: 'load', unit: 'b.service', reason: 'test' }],
    new Map(),
    () => undefined,
  );
  assert.match(f2.get('b.service')!.message, /no content to load b\.service/);
});

test('readActual: the hash on disk, what systemd says, what was applied; the reporter sees each state', async (t) => {
  const s = await setup(t);
  await pass(s, {
    'a.service': { content: svc(1), state: 'launched' },
    'b.service': { content: svc(2), state: 'loaded' },
  });
  s.observed.length = 0;
  const actual = await s.executor.readActual();
  assert.deepEqual(Object.fromEntries(actual), {
    'a.service': { hash: svc(1).hash, load: 'loaded', active: 'active', sub: 'running', applied: 'launched' },
    'b.service': { hash: svc(2).hash, load: 'loaded', active: 'inactive', sub: 'dead', applied: 'loaded' },
  });
  assert.deepEqual(s.observed.map((x) => x.name).sort(), ['a.service', 'b.service']);
});

test('unloadAllBut: unloads every other unit and saves the record; throws when a unit cannot be', async (t) => {
  const s = await setup(t);
  await pass(s, {
    'a.service': { content: svc(1), state: 'launched' },
    'b.service': { content: svc(2), state: 'launched' },
  });
  await s.record.save();
  await s.executor.unloadAllBut(new Map([['b.service', {}]]), 'test');
  assert.deepEqual(s.unitDir.names(), ['b.service']);
  assert.deepEqual(s.systemd.activeUnits(), ['b.service']);
  const onDisk = JSON.parse(readFileSync(join(s.dir, 'agent-state.json'), 'utf8'));
  assert.deepEqual(onDisk.applied, { 'b.service': 'launched' });

  s.systemd.stopUnit = async () => {
    throw new Error('systemd is gone');
  };
  await assert.rejects(s.executor.unloadAllBut(new Map(), 'stopping'), /could not unload b\.service \(stopping\)/);
  assert.deepEqual(s.unitDir.names(), ['b.service']);
});
