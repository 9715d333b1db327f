/**
 * A real Prometheus scrapes the real 3-machine cluster (test/support/cluster.ts with --metrics on
 * every agent, engine and the controller), and its queries return what the machines' own systemd
 * instances say runs there. Uses the shared cluster harness: run it under
 * `flock /tmp/gitfleet-cluster.lock`.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SCHEDULE_PREFIX, splitMachineUnit } from '../../src/store/keys.js';
import { Cluster } from '../support/cluster.js';
import { tempDir } from '../support/git.js';
import { startPrometheus, type Prometheus } from '../support/prometheus.js';

const service = (desc: string, extra = '') =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep infinity\n${extra}`;

const UNITS = {
  'fleet.yaml': 'allowEmpty: true\ndefaults:\n  state: launched\nunits:\n  idle.service: loaded\n',
  'free-1.service': service('free 1'),
  'free-2.service': service('free 2'),
  'free-3.service': service('free 3'),
  'free-4.service': service('free 4'),
  'pinned.service': service('region a only', '\n[X-Fleet]\nMachineMetadata=region=a\n'),
  'idle.service': service('loaded, never started'),
  // Runs to completion: inactive afterwards, and that is its launched state.
  'once.service': '[Unit]\nDescription=runs once\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n',
};
const UNIT_NAMES = Object.keys(UNITS).filter((f) => f !== 'fleet.yaml');

const tmp = tempDir('gitfleet-prometheus-test-');
let cluster: Cluster | null = null;
let prom: Prometheus | null = null;
after(async () => {
  await prom?.stop();
  await cluster?.stop();
  tmp.cleanup();
});

/** machine -> state -> count, as a sorted plain object (for deepEqual and messages). */
type Counts = Record<string, Record<string, number>>;
const sorted = (c: Counts): Counts =>
  Object.fromEntries(
    Object.keys(c)
      .sort()
      .map((m) => [m, Object.fromEntries(Object.entries(c[m]!).sort())]),
  );

test('Prometheus scrapes every component; the agents report what their systemd runs', {
  timeout: 240_000,
}, async () => {
  cluster = await Cluster.start({ dir: tmp.dir, metrics: true, source: 'local', env: { GITFLEET_LOG: 'warn' } });
  const c = cluster;
  const targets = c.metricsTargets();
  assert.equal(targets.length, 6, JSON.stringify(targets));
  prom = await startPrometheus([
    { job: 'gitfleet', targets: targets.map((t) => ({ address: t.address, labels: { role: t.role } })) },
  ]);
  const p = prom;
  await c.source.push('units', UNITS);

  // What each machine's own systemd says of the units placed on it.
  const fromSystemd = async (): Promise<Counts> => {
    const placed = new Map<string, string[]>();
    for (const kv of (await c.store.range(SCHEDULE_PREFIX)).kvs) {
      const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX)!;
      placed.set(mu.machine, [...(placed.get(mu.machine) ?? []), mu.unit]);
    }
    const obs = await c.observe(UNIT_NAMES);
    const out: Counts = {};
    for (const [machine, units] of placed) {
      for (const u of units) {
        const state = obs.get(machine)?.get(u)?.active ?? 'unknown';
        out[machine] ??= {};
        out[machine][state] = (out[machine][state] ?? 0) + 1;
      }
    }
    return sorted(out);
  };
  // The same from Prometheus: each agent's units by state, joined to its machine id.
  const fromPrometheus = async (): Promise<Counts> => {
    const samples = await p.query(
      'sum by (machine, state) (gitfleet_agent_units * on (instance) group_left (machine) gitfleet_agent_info)',
    );
    const out: Counts = {};
    for (const s of samples) {
      if (s.value === 0) continue;
      out[s.labels.machine!] ??= {};
      out[s.labels.machine!]![s.labels.state!] = s.value;
    }
    return sorted(out);
  };

  let last = { systemd: {} as Counts, prometheus: {} as Counts };
  await c
    .waitFor(
      'Prometheus reports the states systemd has',
      async () => {
        const [systemd, prometheus] = await Promise.all([fromSystemd(), fromPrometheus()]);
        last = { systemd, prometheus };
        const total = (x: Counts, s: string) => Object.values(x).reduce((n, m) => n + (m[s] ?? 0), 0);
        return (
          total(systemd, 'active') === 5 &&
          total(systemd, 'inactive') === 2 &&
          JSON.stringify(systemd) === JSON.stringify(prometheus)
        );
      },
      90_000,
    )
    .catch((e) => {
      throw new Error(`${(e as Error).message}\nlast seen: ${JSON.stringify(last)}\n${c.logs(5)}`);
    });
  assert.deepEqual(last.prometheus, last.systemd);
  const byState = await p.query('sum by (state) (gitfleet_agent_units)');
  assert.deepEqual(Object.fromEntries(byState.filter((s) => s.value > 0).map((s) => [s.labels.state, s.value])), {
    active: 5,
    inactive: 2,
  });

  // Every component is scraped, and reports its part.
  const one = async (q: string) => {
    const r = await p.query(q);
    assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
    return r[0]!.value;
  };
  // Each target is scraped on its own schedule: the first scrape of some may still be due.
  await c.waitFor('every component scraped', async () => (await p.query('count(up == 1)'))[0]?.value === 6, 30_000);
  assert.equal(await one('sum(gitfleet_engine_leader)'), 1);
  assert.equal(await one('count(gitfleet_engine_leader)'), 2);
  // The commit's rollout ends once every unit stayed healthy for minHealthy (10 s by default).
  await c
    .waitFor(
      'the rollout succeeded',
      async () => (await p.query('sum(gitfleet_rollouts_in_progress)'))[0]?.value === 0,
      60_000,
    )
    .catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${(await c.cli('rollout', 'status')).stdout}`);
    });
  assert.equal(await one('sum(gitfleet_rollouts_failed)'), 0);
  await c.waitFor('the engine placed every unit that should run', async () => {
    const r = await p.query('sum(gitfleet_engine_units_placed)');
    return r[0]?.value === 7;
  });
  assert.ok((await one('sum(gitfleet_agent_tasks_total{type="start",result="ok"})')) >= 5);
  const tenMinutesAgo = Date.now() / 1000 - 600;
  assert.ok((await one('min(gitfleet_agent_last_successful_pass_timestamp_seconds)')) > tenMinutesAgo, 'recent passes');
  assert.equal(await one('gitfleet_controller_commits_applied_total'), 2);

  // A refused commit is counted as such.
  await c.source.push('break one', { 'free-1.service': '[Service]\nExecStart=/bin/true\nRestart=sometimes\n' });
  await c.waitFor('the refusal is scraped', async () => {
    const r = await p.query('gitfleet_controller_commits_refused_total');
    return r[0]?.value === 1;
  });
  assert.equal(await one('gitfleet_controller_apply_duration_seconds_count'), 2);
  assert.equal(await one('gitfleet_controller_commit_to_applied_seconds_count'), 2);
});
