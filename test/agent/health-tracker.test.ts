/** The agent's health tracker: verdicts from systemd's signals, minHealthy, sticky failure. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HealthTracker } from '../../src/agent/health-tracker.js';

const st = (active: string, sub: string) => ({ name: 'a.service', load: 'loaded', active, sub });

test('starting until active for minHealthy, then healthy; told once per change', async () => {
  const changes: string[] = [];
  const h = new HealthTracker({ changed: (u) => changes.push(`${u} ${h.verdict(u)?.state}`) });
  h.configure(
    new Map([['a.service', { hash: 'h1', state: 'launched', minHealthy: 60, runsToCompletion: false }]]),
    () => st('activating', 'start'),
  );
  assert.equal(h.verdict('a.service')?.state, 'starting');
  h.observe(st('active', 'running'));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(h.verdict('a.service')?.state, 'healthy');
  assert.deepEqual([...new Set(changes)], ['a.service starting', 'a.service healthy']);
  h.stop();
});

test('a failure sticks for the content, with systemd facts in the reason; new content starts afresh', async () => {
  const h = new HealthTracker({
    changed: () => {},
    facts: async () => ({ result: 'exit-code', mainCode: 1, mainStatus: 3, restarts: 1 }),
  });
  const cfg = { hash: 'h1', state: 'launched' as const, minHealthy: 0, runsToCompletion: false };
  h.configure(new Map([['a.service', cfg]]), () => st('active', 'running'));
  h.observe(st('activating', 'auto-restart'));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(h.verdict('a.service'), { state: 'failed', reason: 'restarting (exit-code 3, 1 restart)' });
  h.observe(st('active', 'running'));
  assert.equal(h.verdict('a.service')?.state, 'failed', 'came back, but this content failed');
  h.configure(new Map([['a.service', { ...cfg, hash: 'h2' }]]), () => st('active', 'running'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service')?.state, 'healthy');
  h.stop();
});

test('a failure is judged with the facts of when it failed, even if it came back before they arrived', async () => {
  let answer: (f: { result: string; mainCode: number; mainStatus: number }) => void = () => {};
  const h = new HealthTracker({
    changed: () => {},
    facts: () => new Promise((r) => (answer = r)),
  });
  const cfg = { hash: 'h1', state: 'launched' as const, minHealthy: 0, runsToCompletion: false };
  h.configure(new Map([['a.service', cfg]]), () => st('activating', 'start'));
  h.observe(st('failed', 'failed'));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'starting', 'not failed before systemd says how');
  h.observe(st('active', 'running'));
  answer({ result: 'exit-code', mainCode: 1, mainStatus: 1 });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(h.verdict('a.service', 'h1'), { state: 'failed', reason: 'exit-code 1' });
  h.stop();
});

test('content the tracker has not judged is starting, never the verdict on the content it replaces', async () => {
  const h = new HealthTracker({ changed: () => {} });
  const cfg = { hash: 'h1', state: 'launched' as const, minHealthy: 0, runsToCompletion: false };
  h.configure(new Map([['a.service', cfg]]), () => st('active', 'running'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'healthy');
  assert.equal(h.verdict('a.service', 'h2')?.state, 'starting', 'h2 is on disk, not judged yet');
  assert.equal(h.verdict('b.service', 'h1')?.state, 'starting', 'not tracked yet');
  h.stop();
});

test("a failure's reason ends with the unit's last journal lines, where the machine has a journal", async () => {
  const h = new HealthTracker({
    changed: () => {},
    facts: async () => ({ result: 'exit-code', mainCode: 1, mainStatus: 2 }),
    journal: async (unit) => [`${unit}: listen tcp :8080: bind: address already in use`, 'exiting'],
  });
  const cfg = { hash: 'h1', state: 'launched' as const, minHealthy: 0, runsToCompletion: false };
  h.configure(new Map([['a.service', cfg]]), () => st('activating', 'start'));
  h.observe(st('failed', 'failed'));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(h.verdict('a.service', 'h1'), {
    state: 'failed',
    reason: 'exit-code 2; journal: a.service: listen tcp :8080: bind: address already in use | exiting',
  });
  h.stop();
});

test('a oneshot that ran to its end before the agent judged it is healthy, by what systemd says of it', async () => {
  let exited = { result: 'success', mainCode: 1, mainStatus: 0 };
  const h = new HealthTracker({ changed: () => {}, facts: async () => exited });
  const cfg = { hash: 'h1', state: 'launched' as const, runsToCompletion: true };
  // Its start job waited for it: by the time the pass judges it, it is inactive again.
  h.configure(new Map([['a.service', cfg]]), () => st('inactive', 'dead'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'healthy');
  // Never started (no main process yet): not healthy.
  exited = { result: 'success', mainCode: 0, mainStatus: 0 };
  h.configure(new Map([['a.service', { ...cfg, hash: 'h2' }]]), () => st('inactive', 'dead'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service', 'h2')?.state, 'starting');
  h.stop();
});

test('a oneshot started after the agent began judging it is healthy once systemd says its run exited 0', async () => {
  let exited = { result: 'success', mainCode: 0, mainStatus: 0 };
  const h = new HealthTracker({ changed: () => {}, facts: async () => exited });
  const cfg = { hash: 'h1', state: 'launched' as const, runsToCompletion: true };
  h.configure(new Map([['a.service', cfg]]), () => st('inactive', 'dead'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'starting', 'not run yet');
  // It ran (its activating signal coalesced away): a listing says inactive, systemd says it exited 0.
  exited = { result: 'success', mainCode: 1, mainStatus: 0 };
  h.observe(st('inactive', 'dead'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'healthy');
  h.stop();
});

test('a oneshot the agent saw run to success is healthy even when systemd has forgotten the run', async () => {
  // systemd collects an inactive unit: its ExecMain* properties read as never run afterwards.
  const h = new HealthTracker({ changed: () => {}, facts: async () => ({ result: 'success' }) });
  const cfg = { hash: 'h1', state: 'launched' as const, runsToCompletion: true };
  h.configure(new Map([['a.service', cfg]]), () => st('inactive', 'dead'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'starting', 'nothing says it ran');
  h.configure(new Map([['a.service', { ...cfg, completed: true }]]), () => st('inactive', 'dead'));
  assert.equal(h.verdict('a.service', 'h1')?.state, 'healthy');
  h.configure(new Map([['a.service', { ...cfg, hash: 'h2', completed: true }]]), () => st('inactive', 'dead'));
  assert.equal(h.verdict('a.service', 'h2')?.state, 'healthy', 'new content started and ran in the same pass');
  h.stop();
});
