// Drift repair's backoff (src/agent/drift.ts), with an injected clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DriftRepair } from '../../src/agent/drift.js';
import { createLogger, silentLogger } from '../../src/log.js';

const drift = (ready = () => {}) => new DriftRepair({ minMs: 100, maxMs: 800, log: silentLogger, ready });

test('each repair of a unit counts and holds its next drift start back for longer, up to maxMs', () => {
  const d = drift();
  const t0 = 1_000_000;
  assert.equal(d.repairs('a.service'), undefined);
  assert.deepEqual(d.held(t0), new Set());

  const waits: number[] = [];
  let now = t0;
  for (let i = 0; i < 6; i++) {
    d.noteRepair('a.service', now);
    // The wait is over at the first instant no longer held.
    let wait = 0;
    while (d.held(now + wait).has('a.service')) wait += 50;
    waits.push(wait);
    now += wait; // repaired again as soon as allowed (it keeps failing)
  }
  assert.deepEqual(waits, [100, 200, 400, 800, 800, 800]);
  assert.equal(d.repairs('a.service'), 6);
  assert.equal(d.repairs('b.service'), undefined);
});

test('a unit that stayed up for twice maxMs starts over at minMs; units are paced apart', () => {
  const d = drift();
  const t0 = 1_000_000;
  d.noteRepair('a.service', t0);
  d.noteRepair('a.service', t0 + 100); // wait 200 from here
  d.noteRepair('b.service', t0 + 100);
  assert.deepEqual(d.held(t0 + 250), new Set(['a.service']));
  d.noteRepair('a.service', t0 + 100 + 1_600); // up for 2 x maxMs since its last repair
  assert.equal(d.held(t0 + 1_700 + 99).has('a.service'), true);
  assert.equal(d.held(t0 + 1_700 + 100).has('a.service'), false);
  assert.equal(d.repairs('a.service'), 3);

  d.forget('a.service');
  assert.equal(d.repairs('a.service'), undefined);
  assert.deepEqual(d.held(t0 + 1_700), new Set());
  assert.equal(d.repairs('b.service'), 1);
});

test('arm: asks for a pass once the earliest wait is over, and not when nothing waits', async () => {
  let passes = 0;
  const d = new DriftRepair({ minMs: 20, maxMs: 100, log: silentLogger, ready: () => passes++ });
  d.arm();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(passes, 0, 'nothing was repaired: no pass asked for');

  d.noteRepair('a.service');
  d.arm();
  d.arm(); // re-arming replaces the timer: one pass, not two
  for (let i = 0; i < 100 && passes === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(passes, 1);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(passes, 1);

  d.noteRepair('a.service');
  d.arm();
  d.stop();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(passes, 1, 'stopped: no pass');
});

test('each repair is logged with its count and the wait before the next', () => {
  const lines: string[] = [];
  const log = createLogger('test', { level: 'warn', sink: (l) => lines.push(l) });
  const d = new DriftRepair({ minMs: 100, maxMs: 800, log, ready: () => {} });
  d.noteRepair('a.service', 0);
  d.noteRepair('a.service', 1);
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /drift: starting a launched unit found stopped or failed/);
  assert.match(lines[1]!, /repairs=2/);
  assert.match(lines[1]!, /nextRepairNotBeforeMs=200/);
});
