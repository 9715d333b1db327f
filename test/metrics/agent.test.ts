/**
 * The agent's and the metrics server's figures, against a real etcd and a real private systemd:
 * units by state, tasks, a drift repair (the unit stopped behind the agent's back), a
 * call systemd refuses (a unit file systemd will not load), the last good pass; read the way
 * Prometheus reads them, from /metrics.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/log.js';
import { agentMetrics } from '../../src/metrics/agent.js';
import { newRegistry, startMetricsServer } from '../../src/metrics/registry.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { bodyKey, scheduleKey } from '../../src/store/keys.js';
import { SystemdManager } from '../../src/systemd/manager.js';
import { sha256 } from '../../src/util/hash.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { eventually, isActive, startSystemd, stopSystemd, systemctl, type PrivateSystemd } from '../support/systemd.js';

let etcd: EtcdCluster;
let inst: PrivateSystemd;
const closers: (() => Promise<unknown> | unknown)[] = [];
before(async () => {
  etcd = await startEtcd();
  inst = await startSystemd();
});
after(async () => {
  for (const c of closers.reverse()) await c();
  await stopSystemd(inst);
  await etcd?.stop();
});

/** The value of one sample in Prometheus' text format (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return 0;
}

test('the agent counts its units by state, its tasks, drift repairs and refused D-Bus calls', {
  timeout: 90_000,
}, async () => {
  const prefix = `/metrics-agent-${process.pid}/`;
  const admin = new EtcdStore({ endpoints: etcd.endpoints, prefix, log: () => {} });
  const store = new EtcdStore({ endpoints: etcd.endpoints, prefix, log: () => {} });
  const mgr = await SystemdManager.connect({ address: inst.busAddress }, { log: () => {} });
  const registry = newRegistry();
  const server = await startMetricsServer('127.0.0.1:0', registry, silentLogger);
  const stateDir = join(inst.dir, 'gitfleet-m1');
  const agent = new Agent({
    store,
    machineId: 'm1',
    metadata: {},
    address: '127.0.0.1',
    systemd: mgr,
    unitDir: join(stateDir, 'units'),
    stateDir,
    onExit: 'stop',
    leaseTtlSeconds: 3,
    driftBackoff: { minMs: 200, maxMs: 2_000 },
    log: silentLogger,
    metrics: agentMetrics(registry, 'm1'),
  });
  closers.push(
    () => admin.close(),
    () => store.close(),
    () => mgr.close(),
    () => server.close(),
    () => agent.stop(),
  );
  await agent.start();
  const scrape = async () => (await fetch(server.url)).text();
  const schedule = async (unit: string, content: string, state: 'loaded' | 'launched') => {
    await admin.put(bodyKey(sha256(content)), content);
    await admin.put(scheduleKey('m1', unit), JSON.stringify({ hash: sha256(content), state }));
  };

  await schedule('run.service', '[Service]\nExecStart=/bin/sleep 3001\n', 'launched');
  await schedule('idle.service', '[Service]\nExecStart=/bin/sleep 3002\n', 'loaded');
  await eventually('run.service active', async () => (await isActive(inst, 'run.service')) === 'active');
  await eventually('the agent reports one active and one inactive unit', async () => {
    const t = await scrape();
    return (
      sample(t, 'gitfleet_agent_units', { state: 'active' }) === 1 &&
      sample(t, 'gitfleet_agent_units', { state: 'inactive' }) === 1
    );
  });
  let text = await scrape();
  assert.equal(sample(text, 'gitfleet_agent_info', { machine: 'm1' }), 1);
  assert.ok(sample(text, 'gitfleet_agent_tasks_total', { type: 'load', result: 'ok' }) >= 2);
  assert.equal(sample(text, 'gitfleet_agent_tasks_total', { type: 'start', result: 'ok' }), 1);
  assert.ok(sample(text, 'gitfleet_agent_task_duration_seconds_count', { type: 'start' }) >= 1);
  const aMinuteAgo = Date.now() / 1000 - 60;
  assert.ok(sample(text, 'gitfleet_agent_last_successful_pass_timestamp_seconds') > aMinuteAgo, 'a recent pass');
  assert.equal(sample(text, 'gitfleet_agent_dbus_errors_total'), 0);

  // Stopped behind the agent's back: started again, and counted against the unit.
  assert.equal((await systemctl(inst, 'stop', 'run.service')).code, 0);
  await eventually(
    'one drift repair is counted',
    async () => sample(await scrape(), 'gitfleet_agent_drift_repairs_total', { unit: 'run.service' }) === 1,
  );
  await eventually('run.service runs again', async () => (await isActive(inst, 'run.service')) === 'active');

  // A unit systemd refuses to load (no ExecStart=): its start is a failed D-Bus call.
  await schedule('bad.service', '[Unit]\nDescription=no ExecStart\n\n[Service]\nType=simple\n', 'launched');
  await eventually('the refused start is counted', async () => {
    const t = await scrape();
    return (
      sample(t, 'gitfleet_agent_dbus_errors_total') >= 1 &&
      sample(t, 'gitfleet_agent_tasks_total', { type: 'start', result: 'failed' }) >= 1
    );
  });
  text = await scrape();
  assert.match(text, /^gitfleet_build_info\{version="[^"]+"\} 1$/m);
  assert.match(text, /^process_cpu_seconds_total /m);
  assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
});
