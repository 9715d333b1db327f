/**
 * bench/e2e: the whole system on a real 3-machine cluster, beside its floor (systemd itself).
 *
 *   node --import tsx bench/e2e.ts [--pushes 20] [--units 300] [--source http,local] [--observe]
 *
 * The cluster is test/support/cluster.ts's, the one the end-to-end test uses: a 3-member etcd,
 * 3 `gitfleet agent --systemd private` processes (each its own real systemd user instance),
 * 2 engines and a controller, all child processes; lease TTL 3 s. Two ways the controller hears
 * of a push, one cluster each (--source):
 *   http:  the bare repository served over smart HTTP (git http-backend); after each push the
 *          bench delivers a signed GitHub push event to the controller's webhook (--listen), as
 *          GitHub would; --poll 1 stays on as a fallback;
 *   local: the controller follows the bare repository's path (ref watch).
 *
 * 1. commit -> process running, --pushes samples of each kind, alternated:
 *    changed  a commit changes one unit (Environment=VERSION=n of lat.service, pinned to one
 *             machine): systemd must read the new file and restart it;
 *    new      a commit adds one unit (new-n.service, pinned to the same machine).
 *    Timed from the moment `git push` starts, and from the moment the branch ref moved in the
 *    bare repository (its reference-transaction hook notes the time: "commit landed"), until that
 *    machine's systemd says over D-Bus (a PropertiesChanged signal seen by this process) that the
 *    unit is active in a new invocation. The changed unit is then checked with `systemctl show`
 *    to run VERSION=n. The breakdown is when this process saw each hop: git push exit (+ webhook
 *    answered), ref moved, desired/root flipped, schedule entry written, active, agent report.
 *    After each sample, its FLOOR on the same machine's systemd: the same unit written and started
 *    by hand over D-Bus (bench/floor.ts), from the first write to the active signal:
 *      new unit      write + StartUnit;
 *      changed unit  write + daemon-reload + restart (what an administrator runs), and the least
 *                    systemd needs for a unit nothing refers to: write + stop + start.
 * 2. --units units in one commit (unconstrained /bin/sleep services) -> every one active on its
 *    machine (D-Bus signals of all 3 instances) and reported (etcd watch); checked with
 *    `systemctl show` on every machine: each unit active with a live MainPID on exactly one.
 *    Its FLOOR first: --units units written by hand, a third on each machine's systemd, all
 *    started at once over D-Bus, timed until all are active; then stopped and removed.
 * Each section prints the machine's load average at its start and end.
 * --observe: the same, watched as an operator would (bench/observe.ts): metrics on every component,
 * scraped every second, and a `gitfleet ui` with two open event streams.
 * BENCH_TRACE=1 prints every D-Bus signal of the awaited unit with its time; BENCH_LOG=debug sets the
 * components' GITFLEET_LOG (with GITFLEET_LOG_FORMAT=json their lines carry times) and BENCH_KEEP=1
 * keeps the cluster's directory (logs/) for reading; NODE_OPTIONS=--cpu-prof profiles every process.
 * Everything is ended by PID before exit.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DESIRED_ROOT, SCHEDULE_PREFIX, UNIT_STATE_PREFIX, splitMachineUnit } from '../src/store/keys.js';
import { decodeUnitStateReport } from '../src/store/records.js';
import type { Watch } from '../src/store/store.js';
import { unitObjectPath } from '../src/systemd/manager.js';
import { Cluster, type ClusterMachine } from '../test/support/cluster.js';
import { gitAsync } from '../test/support/git.js';
import { systemctl } from '../test/support/systemd.js';
import { Floor, load, ms, p50p95, pct, ratio, UnitSignals } from './floor.js';
import { observe, type Observer } from './observe.js';

const { values: args } = parseArgs({
  options: {
    pushes: { type: 'string', default: '20' },
    units: { type: 'string', default: '300' },
    source: { type: 'string', default: 'http,local' },
    observe: { type: 'boolean', default: false },
  },
});
const PUSHES = Number(args.pushes);
const UNITS = Number(args.units);
const SOURCES = String(args.source)
  .split(',')
  .map((s) => s.trim()) as ('http' | 'local')[];
for (const s of SOURCES) if (s !== 'http' && s !== 'local') throw new Error(`--source: "${s}" is not http or local`);

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

const probeUnit = (what: string, n: number, pinned = true) =>
  `[Unit]\nDescription=${what}\n\n[Service]\nExecStart=/bin/sleep infinity\nEnvironment=VERSION=${n}\n` +
  (pinned ? '\n[X-Fleet]\nMachineMetadata=region=a\n' : '');
const bulkUnit = (i: number) => `[Unit]\nDescription=bulk unit ${i}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;
const bulkName = (i: number) => `bulk-${String(i).padStart(4, '0')}.service`;

// ---- the commit landing: the bare repository's reference-transaction hook -------------------------

/** Notes (in `<bare>/ref-times`, ns since the epoch) when a ref transaction of the bare repository commits. */
function installRefHook(bare: string): () => number[] {
  const file = join(bare, 'ref-times');
  const hook = join(bare, 'hooks', 'reference-transaction');
  writeFileSync(hook, `#!/bin/sh\n[ "$1" = committed ] && date +%s%N >> '${file}'\nexit 0\n`);
  chmodSync(hook, 0o755);
  // As performance.now() times: ns since the epoch -> ms since this process's time origin.
  return () =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => Number(BigInt(l) / 1000n) / 1000 - performance.timeOrigin)
      : [];
}

// ---- etcd: when this process sees each hop -------------------------------------------------------

/** Times (performance.now()) of the hops of one push, as watches in this process see them. */
interface Hops {
  root?: number;
  schedule?: number;
  report?: number;
}

/** Watch the whole keyspace for the hops of the push in flight: `target()` says which unit and the hash it replaces. */
function watchHops(c: Cluster, machine: string, target: () => { unit: string; oldHash: string; hops: Hops }) {
  return c.store.watch('', undefined, {
    onEvents: (events) => {
      const now = performance.now();
      const { unit, oldHash, hops: h } = target();
      for (const e of events) {
        if (e.kv.key === DESIRED_ROOT) h.root ??= now;
        else if (e.kv.key === `${SCHEDULE_PREFIX}${machine}/${unit}` && e.type === 'put') h.schedule ??= now;
        else if (e.kv.key === `${UNIT_STATE_PREFIX}${machine}/${unit}` && e.type === 'put') {
          const r = decodeUnitStateReport(e.kv);
          if (r.active === 'active' && r.hash !== oldHash) h.report ??= now;
        }
      }
    },
    onError: () => {},
  });
}

async function show(c: Cluster, m: ClusterMachine, unit: string, props: string): Promise<Record<string, string>> {
  const inst = await c.machineSystemd(m);
  if (!inst) throw new Error(`machine ${m.id} has no systemd`);
  const r = await systemctl(inst, 'show', '-p', props, unit);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

// ---- 1. commit -> process running ----------------------------------------------------------------

type Kind = 'changed' | 'new';
/** Per kind: samples of each hop, from push start (ms), plus the floors. */
interface Samples {
  total: number[];
  landed: number[];
  push: number[];
  ref: number[];
  root: number[];
  schedule: number[];
  report: number[];
}
const emptySamples = (): Samples => ({
  total: [],
  landed: [],
  push: [],
  ref: [],
  root: [],
  schedule: [],
  report: [],
});

async function latency(c: Cluster): Promise<{
  samples: Record<Kind, Samples>;
  floors: { new: number[]; changedReload: number[]; changedNoReload: number[] };
}> {
  const m = c.machines.find((x) => x.metadata.region === 'a')!;
  await c.source.push('latency probe', { 'lat.service': probeUnit('latency probe', 0) });
  await c.waitFor(
    'lat.service active',
    async () => (await show(c, m, 'lat.service', 'ActiveState')).ActiveState === 'active',
    30_000,
  );
  const inst = (await c.machineSystemd(m))!;
  const refTimes = installRefHook(c.source.bare);
  const signals = await UnitSignals.open(inst.busAddress);
  const floor = await Floor.open(inst);
  let current = { unit: 'lat.service', oldHash: '', hops: {} as Hops };
  const watch: Watch = await watchHops(c, m.id, () => current);
  const samples = { changed: emptySamples(), new: emptySamples() };
  const floors = { new: [] as number[], changedReload: [] as number[], changedNoReload: [] as number[] };
  await floor.newUnit('floor-lat.service', probeUnit('floor probe', 0, false));
  try {
    for (let n = 1; n <= PUSHES; n++) {
      for (const kind of ['changed', 'new'] as const) {
        const unit = kind === 'changed' ? 'lat.service' : `new-${n}.service`;
        const report = await c.store.get(`${UNIT_STATE_PREFIX}${m.id}/${unit}`);
        const since = kind === 'changed' ? ((await show(c, m, unit, 'InvocationID')).InvocationID ?? '') : '';
        current = { unit, oldHash: report ? decodeUnitStateReport(report).hash : '', hops: {} };
        // The commit is made before the clock starts: it is the author's work, not the system's.
        c.source.work.commit(`probe ${kind} ${n}`, { [unit]: probeUnit(`${kind} probe`, n) });
        const activated = signals.nextActivation(unit, since, 30_000);
        const refsBefore = refTimes().length;
        const t0 = performance.now();
        if (signals.trace) console.log(`    trace ${t0.toFixed(0)} push ${kind} ${n} starts`);
        await gitAsync(c.source.work.dir, ['push', '-q', 'origin', `HEAD:${c.branch}`]);
        if (c.source.kind === 'http') await c.deliverWebhook();
        const tPushed = performance.now();
        const tActive = await activated;
        await c.waitFor('the agent reports the new hash', () => current.hops.report !== undefined, 10_000);
        if (kind === 'changed') {
          const after = await show(c, m, unit, 'ActiveState,Environment');
          if (after.ActiveState !== 'active' || after.Environment !== `VERSION=${n}`)
            throw new Error(`push ${n}: ${unit} is ${JSON.stringify(after)}`);
        }
        const tRef = refTimes()[refsBefore] ?? NaN;
        const h = current.hops;
        const s = samples[kind];
        s.total.push(tActive - t0);
        s.landed.push(tActive - tRef);
        s.push.push(tPushed - t0);
        s.ref.push(tRef - t0);
        s.root.push((h.root ?? NaN) - t0);
        s.schedule.push((h.schedule ?? NaN) - t0);
        s.report.push(h.report! - t0);
        await sleep(100);
        // The floor of the same kind, right after, on the same systemd.
        if (kind === 'new')
          floors.new.push(await floor.newUnit(`floor-new-${n}.service`, probeUnit('floor', n, false)));
        else {
          const text = (v: number) => probeUnit('floor probe', v, false);
          floors.changedReload.push(await floor.changedUnit('floor-lat.service', text(2 * n), { reload: true }));
          await sleep(50);
          floors.changedNoReload.push(await floor.changedUnit('floor-lat.service', text(2 * n + 1), { reload: false }));
          const env = (await show(c, m, 'floor-lat.service', 'Environment')).Environment;
          if (env !== `VERSION=${2 * n + 1}`) throw new Error(`floor: floor-lat.service runs ${env}, not the new file`);
        }
        await sleep(150);
      }
    }
  } finally {
    await floor.stop();
    floor.close();
    signals.close();
    await watch.close();
  }
  return { samples, floors };
}

// ---- 2. many units converge -----------------------------------------------------------------------

/**
 * How many of the UNITS new units each machine gets: what the engine's least-loaded placement does
 * with the units each machine is scheduled now (fewest first, ties in machine order), so that the
 * floor starts on each systemd as many units as gitfleet will put there.
 */
async function expectedSpread(c: Cluster): Promise<Map<string, number>> {
  const { kvs } = await c.store.range(SCHEDULE_PREFIX, { keysOnly: true });
  const load = new Map(c.machines.map((m) => [m.id, 0]));
  for (const kv of kvs) {
    const mu = splitMachineUnit(kv.key, SCHEDULE_PREFIX);
    if (mu && load.has(mu.machine)) load.set(mu.machine, load.get(mu.machine)! + 1);
  }
  const added = new Map(c.machines.map((m) => [m.id, 0]));
  for (let i = 0; i < UNITS; i++) {
    const [id] = [...load].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]!;
    load.set(id, load.get(id)! + 1);
    added.set(id, added.get(id)! + 1);
  }
  return added;
}

/** The floor of the many-units figure: on each machine's systemd, as many units as gitfleet places there, at once. */
async function manyFloor(c: Cluster, spread: Map<string, number>): Promise<number> {
  const floors: Floor[] = [];
  try {
    for (const m of c.machines) floors.push(await Floor.open((await c.machineSystemd(m))!));
    let next = 1;
    const per = (count: number) => {
      const files: Record<string, string> = {};
      for (let k = 0; k < count; k++, next++) files[`floor-${bulkName(next)}`] = bulkUnit(next);
      return files;
    };
    const batches = c.machines.map((m) => per(spread.get(m.id) ?? 0));
    const times = await Promise.all(floors.map((f, k) => f.manyUnits(batches[k]!)));
    return Math.max(...times);
  } finally {
    for (const f of floors) {
      await f.stop();
      f.close();
    }
  }
}

async function converge(c: Cluster): Promise<{
  reported: number;
  systemd: number;
  landed: number;
  spread: Record<string, number>;
}> {
  const files: Record<string, string> = {};
  const names: string[] = [];
  for (let i = 1; i <= UNITS; i++) {
    files[bulkName(i)] = bulkUnit(i);
    names.push(bulkName(i));
  }
  c.source.work.commit(`${UNITS} units`, files);
  const refTimes = installRefHook(c.source.bare);
  const want = new Set(names);
  // Agents' reports (etcd watch): unit -> machine reporting it active.
  const reported = new Map<string, string>();
  let reportedAt = 0;
  const watch = await c.store.watch(UNIT_STATE_PREFIX, undefined, {
    onEvents: (events) => {
      for (const e of events) {
        const mu = splitMachineUnit(e.kv.key, UNIT_STATE_PREFIX);
        if (!mu || !want.has(mu.unit)) continue;
        if (e.type === 'put' && decodeUnitStateReport(e.kv).active === 'active') reported.set(mu.unit, mu.machine);
        else if (reported.get(mu.unit) === mu.machine) reported.delete(mu.unit);
      }
      if (reported.size === want.size && !reportedAt) reportedAt = performance.now();
    },
    onError: () => {},
  });
  // Each machine's systemd (D-Bus signals): "machine path" of every bulk unit active there.
  const paths = new Set(names.map(unitObjectPath));
  const activeOn = new Set<string>();
  let systemdAt = 0;
  const buses: UnitSignals[] = [];
  for (const m of c.machines) {
    const inst = await c.machineSystemd(m);
    if (!inst) throw new Error(`machine ${m.id} has no systemd`);
    const sig = await UnitSignals.open(inst.busAddress);
    sig.onActive = (path, active, now) => {
      if (!paths.has(path)) return;
      if (active === 'active') activeOn.add(`${m.id} ${path}`);
      else activeOn.delete(`${m.id} ${path}`);
      if (activeOn.size === paths.size && !systemdAt) systemdAt = now;
    };
    buses.push(sig);
  }
  const refsBefore = refTimes().length;
  const t0 = performance.now();
  await gitAsync(c.source.work.dir, ['push', '-q', 'origin', `HEAD:${c.branch}`]);
  if (c.source.kind === 'http') await c.deliverWebhook();
  const spread: Record<string, number> = {};
  try {
    await c.waitFor(
      `${UNITS} units reported active and seen active over D-Bus`,
      () => reportedAt > 0 && systemdAt > 0,
      120_000,
    );
    // Then the oracle: each unit active, with a live MainPID, on exactly one machine's systemd.
    const obs = await c.observe(names);
    const where = new Map<string, string[]>();
    for (const [machine, units] of obs)
      for (const [u, o] of units)
        if (o.active === 'active' && o.pidAlive) where.set(u, [...(where.get(u) ?? []), machine]);
    const wrong = names.filter((u) => where.get(u)?.length !== 1);
    if (wrong.length)
      throw new Error(
        `not on exactly one machine: ${wrong
          .slice(0, 10)
          .map((u) => `${u} [${where.get(u)?.join(',') ?? ''}]`)
          .join('; ')}`,
      );
    for (const [, [m]] of where) spread[m!] = (spread[m!] ?? 0) + 1;
  } finally {
    await watch.close();
    for (const b of buses) b.close();
  }
  const tRef = refTimes()[refsBefore] ?? NaN;
  return { reported: reportedAt - t0, systemd: systemdAt - t0, landed: systemdAt - tRef, spread };
}

// ---- main -----------------------------------------------------------------------------------------

const row = (label: string, xs: number[], extra = '') =>
  console.log(`    ${label.padEnd(40)} ${p50p95(xs)}   max ${ms(Math.max(...xs)).padStart(7)}${extra}`);

function printLatency(source: 'http' | 'local', l: Awaited<ReturnType<typeof latency>>): void {
  const goals = {
    new: 'goal p50 <= 80 ms, <= 2x floor',
    changed: `goal p50 <= ${source === 'http' ? 150 : 120} ms, p95 <= 2x p50`,
  };
  for (const kind of ['new', 'changed'] as const) {
    const s = l.samples[kind];
    console.log(`  ${kind} unit: commit -> process running (D-Bus), ${s.total.length} pushes; ${goals[kind]}`);
    row('push start -> active', s.total);
    row('commit landed (ref moved) -> active', s.landed);
    const floorsOf =
      kind === 'new'
        ? [['FLOOR by hand: write + StartUnit', l.floors.new] as const]
        : ([
            ['FLOOR by hand: write + daemon-reload + restart', l.floors.changedReload],
            ['FLOOR by hand: write + stop + start', l.floors.changedNoReload],
          ] as const);
    for (const [label, f] of floorsOf) {
      const f50 = pct(f, 50);
      const vs = `   ratio (p50): push start ${ratio(pct(s.total, 50), f50)}, landed ${ratio(pct(s.landed, 50), f50)}`;
      row(label, [...f], vs);
    }
    console.log('    where the time goes (from push start, as this process saw each hop):');
    row(source === 'http' ? '  git push exited + webhook answered' : '  git push exited', s.push);
    row('  ref moved in the bare repository', s.ref);
    row('  desired/root flipped (controller)', s.root);
    row('  schedule entry written (engine)', s.schedule);
    row('  active in systemd (D-Bus signal)', s.total);
    row('  agent report in etcd (new hash)', s.report);
  }
}

async function main(): Promise<void> {
  console.log(
    `bench/e2e: 3-member etcd, 3 agents with private systemd, 2 engines, 1 controller (child processes); ${PUSHES} ` +
      `pushes of each kind; ${UNITS} units`,
  );
  console.log(`machine: ${cpus().length} cores, load average at start ${load()}`);
  for (const source of SOURCES) {
    const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bench-e2e-'));
    const c = await Cluster.start({
      dir,
      leaseTtl: 3,
      source,
      poll: 1,
      env: { GITFLEET_LOG: process.env.BENCH_LOG ?? 'warn' },
      metrics: args.observe,
    }).catch((e: Error) => {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    });
    let observer: Observer | null = null;
    try {
      if (args.observe) observer = await observe(c, dir);
      const how =
        source === 'http'
          ? 'smart HTTP remote, signed webhook after each push (--poll 1 as fallback)'
          : 'local bare repository path (ref watch)';
      console.log(`\n== controller follows a ${how}`);
      const loadBefore = load();
      printLatency(source, await latency(c));
      console.log(`  load average: ${loadBefore} at the start, ${load()} at the end`);
      if (UNITS > 0) {
        const loadAt = load();
        const expected = await expectedSpread(c);
        const floor = await manyFloor(c, expected);
        const v = await converge(c);
        console.log(`  ${UNITS} units in one commit -> every unit active on its machine (goal <= 1.5x floor):`);
        console.log(`    active in the machines' systemd, from push start (D-Bus):  ${ms(v.systemd)}`);
        console.log(`    active in the machines' systemd, from commit landed:       ${ms(v.landed)}`);
        console.log(`    reported active by the agents, from push start (etcd):     ${ms(v.reported)}`);
        console.log(
          `    FLOOR by hand: on each systemd at once, as many units as the schedule's least-loaded placement ` +
            `gives it (${[...expected].map(([m, n]) => `${m}=${n}`).join(' ')}): ${ms(floor)}` +
            `   ratio: push start ${ratio(v.systemd, floor)}, landed ${ratio(v.landed, floor)}`,
        );
        console.log(
          `    spread: ${Object.entries(v.spread)
            .sort()
            .map(([m, n]) => `${m}=${n}`)
            .join(' ')}; load average ${loadAt} at the start, ${load()} at the end`,
        );
      }
      if (observer) console.log(`  ${observer.describe()}`);
    } finally {
      await observer?.stop();
      await c.stop();
      if (process.env.BENCH_KEEP) console.log(`  kept ${dir} (BENCH_KEEP)`);
      else rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\nload average at end ${load()}`);
}

await main();
