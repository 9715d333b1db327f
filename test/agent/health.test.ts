/** The agent's health verdict (pure) and its health checks against real servers and commands. */
import assert from 'node:assert/strict';
import { createServer as createHttp } from 'node:http';
import { createServer as createTcp, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { HealthChecks, probe } from '../../src/agent/checks.js';
import { describeFailure, judgeHealth, type HealthInput } from '../../src/agent/health.js';

const base = (over: Partial<HealthInput>): HealthInput => ({
  now: 10_000,
  state: 'launched',
  runsToCompletion: false,
  minHealthyMs: 2_000,
  facts: { load: 'loaded', active: 'active', sub: 'running', restarts: 0 },
  activeSince: 9_000,
  restartsAtStart: 0,
  hasCheck: false,
  ...over,
});

test('a service is healthy only after minHealthy of being active, and says when to look again', () => {
  const early = judgeHealth(base({}));
  assert.equal(early.state, 'starting');
  assert.equal(early.recheckAt, 11_000);
  assert.equal(judgeHealth(base({ now: 11_000 })).state, 'healthy');
});

test('failed, restarting, or restarted since taking the content are failures, with systemd words', () => {
  const failed = judgeHealth(
    base({
      facts: { load: 'loaded', active: 'failed', sub: 'failed', result: 'exit-code', mainCode: 1, mainStatus: 1 },
    }),
  );
  assert.deepEqual([failed.state, failed.reason], ['failed', 'exit-code 1']);
  const restarting = judgeHealth(
    base({ facts: { load: 'loaded', active: 'activating', sub: 'auto-restart', restarts: 2 } }),
  );
  assert.equal(restarting.state, 'failed');
  assert.match(restarting.reason!, /^restarting \(2 restarts\)/);
  const restarted = judgeHealth(
    base({ now: 60_000, facts: { load: 'loaded', active: 'active', sub: 'running', restarts: 1 } }),
  );
  assert.equal(restarted.state, 'failed');
  const killed = describeFailure({
    load: 'loaded',
    active: 'failed',
    sub: 'failed',
    result: 'signal',
    mainCode: 2,
    mainStatus: 9,
  });
  assert.equal(killed, 'signal SIGKILL');
});

test('a oneshot is healthy when it ran to success; a loaded unit when it is loaded', () => {
  const ran = judgeHealth(
    base({ runsToCompletion: true, facts: { load: 'loaded', active: 'inactive', sub: 'dead', result: 'success' } }),
  );
  assert.equal(ran.state, 'healthy');
  const notYet = judgeHealth(
    base({ runsToCompletion: true, activeSince: null, facts: { load: 'loaded', active: 'inactive', sub: 'dead' } }),
  );
  assert.equal(notYet.state, 'starting');
  assert.equal(
    judgeHealth(base({ state: 'loaded', facts: { load: 'loaded', active: 'inactive', sub: 'dead' } })).state,
    'healthy',
  );
});

test('with a health check, active is not enough: the check must pass', () => {
  assert.equal(judgeHealth(base({ now: 20_000, hasCheck: true })).reason, 'health check not run yet');
  const failing = judgeHealth(base({ now: 20_000, hasCheck: true, check: { ok: false, reason: 'HTTP 500' } }));
  assert.deepEqual([failing.state, failing.reason], ['starting', 'health check failing: HTTP 500']);
  assert.equal(
    judgeHealth(base({ now: 20_000, hasCheck: true, check: { ok: true, reason: 'HTTP 200' } })).state,
    'healthy',
  );
});

test('http, tcp and exec probes against real servers and commands', async () => {
  let status = 200;
  const http = createHttp((_req, res) => {
    res.statusCode = status;
    res.end('x');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const tcp = createTcp((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const hp = (http.address() as AddressInfo).port;
  const tp = (tcp.address() as AddressInfo).port;
  const t = { intervalMs: 1000, timeoutMs: 1000 };
  try {
    assert.deepEqual(await probe({ kind: 'http', url: `http://127.0.0.1:${hp}/`, ...t }), {
      ok: true,
      reason: 'HTTP 200',
    });
    status = 503;
    assert.equal((await probe({ kind: 'http', url: `http://127.0.0.1:${hp}/`, ...t })).ok, false);
    assert.equal((await probe({ kind: 'tcp', host: '127.0.0.1', port: tp, ...t })).ok, true);
    const closed = await probe({ kind: 'tcp', host: '127.0.0.1', port: 1, ...t });
    assert.deepEqual([closed.ok, closed.reason], [false, '127.0.0.1:1: ECONNREFUSED']);
    assert.equal((await probe({ kind: 'exec', argv: ['/bin/true'], ...t })).ok, true);
    const bad = await probe({ kind: 'exec', argv: ['/bin/sh', '-c', 'echo broken >&2; exit 3'], ...t });
    assert.deepEqual([bad.ok, bad.reason], [false, '/bin/sh: exit 3: broken']);
    const slow = await probe({ kind: 'exec', argv: ['/bin/sleep', '5'], intervalMs: 1000, timeoutMs: 100 });
    assert.deepEqual([slow.ok, slow.reason], [false, '/bin/sleep: killed after 100 ms']);
  } finally {
    http.close();
    tcp.close();
  }
});

test('HealthChecks reports the first result and each change (of verdict or why it fails), not each probe', async () => {
  let status = 200;
  const http = createHttp((_req, res) => {
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
  const seen: boolean[] = [];
  const checks = new HealthChecks((_u, r) => seen.push(r.ok));
  checks.set(new Map([['web.service', { kind: 'http', url, intervalMs: 20, timeoutMs: 2000 }]]));
  try {
    for (let i = 0; i < 200 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    status = 500;
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, [true, false]);
    assert.equal(checks.result('web.service')?.ok, false);
    // Failing for another reason is passed on (the reason is what a rollout records), once.
    status = 503;
    for (let i = 0; i < 200 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, [true, false, false]);
    assert.match(checks.result('web.service')!.reason, /HTTP 503/);
  } finally {
    checks.stop();
    http.close();
  }
});
