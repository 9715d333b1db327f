/**
 * The controller's and the engine's metrics, on the embedded store `gitfleet up` uses and a real
 * git repository: commits applied and refused, how long applying took and how long after the
 * commit was made; the engine's leadership, passes and placements; the latest rollout's gauges.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Controller } from '../../src/controller/controller.js';
import { loadCommit } from '../../src/source/git.js';
import { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/log.js';
import { controllerMetrics } from '../../src/metrics/controller.js';
import { engineMetrics } from '../../src/metrics/engine.js';
import { newRegistry } from '../../src/metrics/registry.js';
import { machineKey } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { tempDir, TestRepo } from '../support/git.js';
import { eventually } from '../support/systemd.js';

const tmp = tempDir('gitfleet-metrics-');
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  tmp.cleanup();
});

type Registry = ReturnType<typeof newRegistry>;
/** One sample of a metric: a gauge's or counter's value, or a histogram's `_count` with suffix '_count'. */
async function sampleOf(registry: Registry, name: string, suffix = ''): Promise<number | null> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const s = m?.values.find((v) => ((v as { metricName?: string }).metricName ?? name) === name + suffix);
  return s?.value ?? null;
}
const value = (registry: Registry, name: string) => sampleOf(registry, name);
const count = (registry: Registry, name: string) => sampleOf(registry, name, '_count');

test('controller and engine metrics follow commits, refusals and placements', { timeout: 60_000 }, async () => {
  const store = new MemoryStore({ prefix: '/gitfleet/' });
  closers.push(() => store.close());
  const repo = TestRepo.init(tmp.dir, 'units');
  repo.commit('two units', {
    'fleet.yaml': 'units:\n  a.service: launched\n  b.service: launched\n',
    'a.service': '[Service]\nExecStart=/bin/sleep infinity\n',
    'b.service': '[Service]\nExecStart=/bin/sleep infinity\n\n[X-Fleet]\nMachineMetadata=disk=none\n',
  });
  await store.put(
    machineKey('m1'),
    JSON.stringify({ id: 'm1', address: '', metadata: {}, version: '0', startedAt: '2026-01-01T00:00:00Z' }),
  );
  const registry = newRegistry();
  const em = engineMetrics(registry);
  const engine = new Engine({ store, id: 'e1', leaseTtl: 5, log: silentLogger, onPass: (r) => em.onPass(r) });
  em.leading(() => engine.isLeader());
  const controller = new Controller({
    store,
    repo: repo.dir,
    stateDir: tmp.dir,
    load: loadCommit,
    log: silentLogger,
    metrics: controllerMetrics(registry, silentLogger),
  });
  closers.push(
    () => engine.stop(),
    () => controller.stop(),
  );
  assert.equal(await value(registry, 'gitfleet_engine_leader'), 0);
  await engine.start();
  await controller.start();
  await controller.idle();

  assert.equal(await value(registry, 'gitfleet_controller_commits_applied_total'), 1);
  assert.equal(await value(registry, 'gitfleet_controller_commits_refused_total'), 0);
  assert.equal(await count(registry, 'gitfleet_controller_apply_duration_seconds'), 1);
  await eventually(
    'the commit-to-applied time is observed',
    async () => (await count(registry, 'gitfleet_controller_commit_to_applied_seconds')) === 1,
  );
  await eventually(
    'the engine placed a.service and could not place b.service',
    async () =>
      (await value(registry, 'gitfleet_engine_units_placed')) === 1 &&
      (await value(registry, 'gitfleet_engine_units_unplaced')) === 1,
  );
  assert.equal(await value(registry, 'gitfleet_engine_leader'), 1);
  assert.ok(((await value(registry, 'gitfleet_engine_passes_total')) ?? 0) >= 1);
  assert.ok(((await value(registry, 'gitfleet_engine_schedule_writes_total')) ?? 0) >= 2);
  // No agent reports a.service healthy: the commit's rollout is in progress, on the leader only.
  assert.equal(await value(registry, 'gitfleet_rollouts_in_progress'), 1);
  assert.equal(await value(registry, 'gitfleet_rollouts_failed'), 0);

  repo.commit('break a', { 'a.service': '[Service]\nExecStart=/bin/true\nRestart=sometimes\n' });
  await eventually(
    'the refusal is counted',
    async () => (await value(registry, 'gitfleet_controller_commits_refused_total')) === 1,
  );
  assert.equal(await value(registry, 'gitfleet_controller_commits_applied_total'), 1);

  // A follower reports no placements of its own: the sum over engines is the leader's.
  await engine.stop();
  assert.equal(await value(registry, 'gitfleet_engine_leader'), 0);
  assert.equal(await value(registry, 'gitfleet_engine_units_placed'), 0);
  assert.equal(await value(registry, 'gitfleet_rollouts_in_progress'), 0);
});
