/**
 * bench/rollout: how long a staged rollout takes beside its floor, and what tracking costs a
 * commit with the default policy (issue 12).
 *
 *   node --import tsx bench/rollout.ts [--min-healthy 2] [--runs 2] [--sim-machines 100]
 *                                      [--sim-min-healthy 1] [--pushes 20] [--skip real,sim,e2e]
 *
 * A staged rollout cannot be faster than its floor: batches x minHealthy (each batch must stay
 * active for minHealthy before the next one starts). What gitfleet adds on top per batch is the
 * agent's restart and report, the engine's pass and its schedule write, the next agent's restart.
 *   real  the 3-machine cluster of the end-to-end test (test/support/cluster.ts: 3-member etcd,
 *         3 agents with their own private systemd, 2 engines, a controller following a local
 *         bare repository), a Global unit changed under `maxParallel: 1` and under `canary: 1,
 *         maxParallel: 2`; timed from `git push` starting until the rollout record says succeeded
 *         (an etcd watch in this process), and checked through each machine's systemd.
 *   sim   --sim-machines in-process agents on SIMULATED systemd (src/systemd/simulated.ts: no
 *         unit process runs), a real etcd and a real Engine, a Global unit under `maxParallel:
 *         10%`: timed from the desired state's write until the record says succeeded.
 *   e2e   the default policy (every machine at once): bench/e2e.ts's push -> active measurement
 *         (run as a child process, --units 0), beside docs/performance.md's figure, which was
 *         measured before rollouts were tracked.
 * Everything is ended by PID before exit.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../src/agent/agent.js';
import { applyDesired } from '../src/controller/apply.js';
import { desiredFromSnapshot } from '../src/desired/build.js';
import { Engine } from '../src/engine/engine.js';
import { silentLogger } from '../src/log.js';
import { readDirSnapshot } from '../src/source/fsrepo.js';
import { EtcdStore } from '../src/store/etcd.js';
import { rolloutHeadKey, rolloutPrefix } from '../src/store/keys.js';
import { decodeRolloutHead } from '../src/store/records.js';
import type { Store } from '../src/store/store.js';
import { SimulatedSystemd } from '../src/systemd/simulated.js';
import { sha256 } from '../src/util/hash.js';
import { Cluster } from '../test/support/cluster.js';
import { startEtcd } from '../test/support/etcd.js';
import { gitAsync } from '../test/support/git.js';

const { values: args } = parseArgs({
  options: {
    'min-healthy': { type: 'string', default: '2' },
    runs: { type: 'string', default: '2' },
    'sim-machines': { type: 'string', default: '100' },
    'sim-min-healthy': { type: 'string', default: '1' },
    pushes: { type: 'string', default: '20' },
    skip: { type: 'string', default: '' },
  },
});
const MIN_HEALTHY_S = Number(args['min-healthy']);
const RUNS = Number(args.runs);
const SIM_MACHINES = Number(args['sim-machines']);
const SIM_MIN_HEALTHY_S = Number(args['sim-min-healthy']);
const SKIP = new Set(String(args.skip).split(','));

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Resolves with performance.now() when the rollout record of `commit` ends (and its state). */
async function rolloutEnd(store: Store, commit: string, timeoutMs: number) {
  let done: (v: { at: number; state: string }) => void = () => {};
  const ended = new Promise<{ at: number; state: string }>((r) => (done = r));
  const watch = await store.watch(rolloutPrefix(commit), undefined, {
    onEvents: (events) => {
      const now = performance.now();
      for (const e of events) {
        if (e.type !== 'put' || e.kv.key !== rolloutHeadKey(commit)) continue;
        const head = decodeRolloutHead(e.kv);
        if (head.ended !== null) done({ at: now, state: head.state });
      }
    },
    onError: () => {},
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, rej) =>
      (timer = setTimeout(() => rej(new Error(`rollout of ${commit} did not end in ${timeoutMs} ms`)), timeoutMs)),
  );
  return {
    ended: Promise.race([ended, timeout]).finally(() => {
      clearTimeout(timer);
      void watch.close();
    }),
  };
}

/** Batches of a rollout over `machines` (as src/engine/rollout.ts stages it). */
function batches(machines: number, canary: number, parallel: number): number {
  const c = Math.min(canary, machines);
  return (c > 0 ? 1 : 0) + Math.ceil((machines - c) / parallel);
}

function row(label: string, n: number, ms: number[], floorMs: number): void {
  const med = [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
  console.log(
    `  ${label.padEnd(40)} ${n} batches   floor ${sec(floorMs).padStart(8)}   measured ${ms.map(sec).join(', ')}` +
      `   over the floor: ${sec(med - floorMs)} (${sec((med - floorMs) / n)} per batch, median)`,
  );
}

// ---- real: the 3-machine cluster ------------------------------------------------------------------

const globalUnit = (v: string) =>
  `[Unit]\nDescription=rolled out\n\n[Service]\nExecStart=/bin/sleep infinity\nEnvironment=VERSION=${v}\n` +
  '\n[X-Fleet]\nGlobal=true\n';
const fleetYaml = (rollout: string) => `units:\n  roll.service:\n    state: launched\n    rollout: ${rollout}\n`;

async function real(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bench-rollout-'));
  const c = await Cluster.start({ dir, leaseTtl: 3, source: 'local', env: { GITFLEET_LOG: 'warn' } });
  try {
    const n = c.machines.length;
    console.log(`\n== real cluster: ${n} machines (private systemd each), 2 engines, local ref watch`);
    const policies = [
      { label: 'maxParallel 1', yaml: `{ maxParallel: 1, minHealthy: ${MIN_HEALTHY_S}s }`, canary: 0, parallel: 1 },
      {
        label: 'canary 1, maxParallel 2',
        yaml: `{ canary: 1, maxParallel: 2, minHealthy: ${MIN_HEALTHY_S}s }`,
        canary: 1,
        parallel: 2,
      },
    ];
    let version = 0;
    const push = async (files: Record<string, string>) => {
      const commit = c.source.work.commit(`v${version}`, files);
      const end = await rolloutEnd(c.store, commit, 120_000);
      const t0 = performance.now();
      await gitAsync(c.source.work.dir, ['push', '-q', 'origin', `HEAD:${c.branch}`]);
      const { at, state } = await end.ended;
      if (state !== 'succeeded') throw new Error(`rollout of ${commit} ${state}\n${c.logs()}`);
      // The oracle: every machine's systemd runs the new version.
      const obs = await c.observe(['roll.service']);
      for (const m of c.machines) {
        const u = obs.get(m.id)?.get('roll.service');
        if (u?.active !== 'active' || u.environment !== `VERSION=v${version}`)
          throw new Error(`${m.id}: roll.service is ${JSON.stringify(u)} after the rollout of v${version}`);
      }
      return at - t0;
    };
    for (const p of policies) {
      version++;
      await push({ 'fleet.yaml': fleetYaml(p.yaml), 'roll.service': globalUnit(`v${version}`) });
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        version++;
        ms.push(await push({ 'roll.service': globalUnit(`v${version}`) }));
      }
      const b = batches(n, p.canary, p.parallel);
      row(`${p.label}, minHealthy ${MIN_HEALTHY_S}s`, b, ms, b * MIN_HEALTHY_S * 1000);
    }
  } finally {
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- sim: many simulated machines -----------------------------------------------------------------

async function sim(): Promise<void> {
  const n = SIM_MACHINES;
  const percent = 10;
  console.log(`\n== ${n} SIMULATED machines (in-process agents, simulated systemd), real etcd, in-process engine`);
  const etcd = await startEtcd({ members: 1 });
  const tmp = mkdtempSync(join(tmpdir(), 'gitfleet-bench-rollout-sim-'));
  const prefix = '/gitfleet-rollout/';
  const stores: EtcdStore[] = [];
  const open = () => {
    const s = new EtcdStore({ endpoints: etcd.endpoints, prefix, log: () => {} });
    stores.push(s);
    return s;
  };
  const agents: Agent[] = [];
  let engine: Engine | null = null;
  try {
    const agentStore = open();
    for (let i = 0; i < n; i++) {
      const id = `sim-${String(i).padStart(4, '0')}`;
      agents.push(
        new Agent({
          store: agentStore,
          machineId: id,
          metadata: {},
          address: '10.0.0.1',
          systemd: new SimulatedSystemd(),
          unitDir: join(tmp, 'agents', id, 'units'),
          stateDir: join(tmp, 'agents', id),
          log: silentLogger,
        }),
      );
    }
    for (let i = 0; i < agents.length; i += 50) await Promise.all(agents.slice(i, i + 50).map((a) => a.start()));
    engine = new Engine({ store: open(), id: 'bench', log: silentLogger });
    await engine.start();
    const store = open();
    const repo = join(tmp, 'repo');
    mkdirSync(repo, { recursive: true });
    const policy = `{ maxParallel: ${percent}%, minHealthy: ${SIM_MIN_HEALTHY_S}s }`;
    const apply = async (version: number) => {
      writeFileSync(join(repo, 'fleet.yaml'), fleetYaml(policy));
      writeFileSync(join(repo, 'roll.service'), globalUnit(`v${version}`));
      const commit = sha256(`commit ${version}`).slice(0, 40);
      const { desired, diagnostics } = desiredFromSnapshot(readDirSnapshot(repo), commit);
      if (!desired) throw new Error(`the bench's repository does not lint: ${JSON.stringify(diagnostics)}`);
      const end = await rolloutEnd(store, commit, 300_000);
      const t0 = performance.now();
      const applied = await applyDesired(store, desired);
      if (applied.result !== 'applied') throw new Error(`apply: ${applied.result}`);
      const { at, state } = await end.ended;
      if (state !== 'succeeded') throw new Error(`rollout of v${version} ${state}`);
      return at - t0;
    };
    await apply(0);
    const ms: number[] = [];
    for (let v = 1; v <= RUNS; v++) ms.push(await apply(v));
    const b = batches(n, 0, Math.max(1, Math.floor((n * percent) / 100)));
    row(`maxParallel ${percent}%, minHealthy ${SIM_MIN_HEALTHY_S}s`, b, ms, b * SIM_MIN_HEALTHY_S * 1000);
  } finally {
    await engine?.stop();
    for (const a of agents) await a.stop().catch(() => {});
    for (const s of stores) await s.close().catch(() => {});
    await etcd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- e2e: the default policy, tracked -------------------------------------------------------------

async function e2e(): Promise<void> {
  console.log(
    `\n== default policy (every machine at once, tracked): bench/e2e.ts --units 0 --pushes ${args.pushes}, ` +
      'as a child process; its figures and floors:',
  );
  const out = await new Promise<string>((res, rej) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/e2e.ts', '--units', '0', '--pushes', String(args.pushes)],
      { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
      (err, stdout, stderr) => (err ? rej(new Error(`bench/e2e.ts failed: ${err.message}\n${stderr}`)) : res(stdout)),
    ),
  );
  let source = '';
  let kind = '';
  let printed = 0;
  for (const line of out.split('\n')) {
    if (line.startsWith('== controller follows'))
      source = /local/.test(line) ? 'local ref watch' : 'smart HTTP + webhook';
    const k = /^\s+(new unit|changed unit):/.exec(line);
    if (k) kind = k[1]!;
    if (/^\s+(push start -> active|FLOOR by hand)/.test(line) && source && kind) {
      console.log(`  ${source}, ${kind}: ${line.trim()}`);
      printed++;
    }
  }
  if (printed === 0) throw new Error(`bench/e2e.ts printed no figures this benchmark knows:\n${out.slice(0, 2000)}`);
}

async function main(): Promise<void> {
  console.log(`bench/rollout: ${cpus().length} cores, load average at start ${load()}`);
  if (!SKIP.has('real')) await real();
  if (!SKIP.has('sim')) await sim();
  if (!SKIP.has('e2e')) await e2e();
  console.log(`\nload average at end ${load()}`);
}

await main();
