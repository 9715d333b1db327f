/**
 * bench/e2e: the whole system on a real 3-machine cluster (issue 7).
 *
 *   node --import tsx bench/e2e.ts [--pushes 20] [--units 300] [--source http,local]
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
 * 1. push -> unit active, --pushes samples: each pushes a commit changing one unit (Environment=
 *    VERSION=n of lat.service, pinned to one machine) with the git CLI, timed from the moment
 *    `git push` starts until that machine's systemd says, over D-Bus (a PropertiesChanged signal
 *    seen by this process on the instance's bus), that the unit is active with a new invocation.
 *    Then checked with `systemctl show` that it runs VERSION=n. The breakdown timestamps are
 *    when this process saw: git push exit (+ webhook answered), desired/root flipped, the
 *    schedule entry rewritten, and the agent's report (new hash, active) in etcd. Goal: p50 < 300 ms.
 * 2. --units units converge: one commit adds --units unconstrained services (/bin/sleep infinity);
 *    timed from `git push` starting until every one is reported active by the machine it runs on
 *    (etcd watch), and until the machines' own systemd instances have signalled every one active
 *    (D-Bus). Then checked with `systemctl show` on every machine: each unit active, with a live
 *    MainPID, on exactly one machine; and the spread across machines.
 * --observe: the same, watched as an operator would (bench/observe.ts): metrics on every component,
 * scraped every second, and a `gitfleet ui` with two open event streams.
 * BENCH_TRACE=1 prints every D-Bus signal of the probe unit with its time (where the time goes
 * inside the agent: daemon-reload done, stop, new invocation, active).
 * Everything is ended by PID before exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as dbus from 'dbus-next';
import { DESIRED_ROOT, SCHEDULE_PREFIX, UNIT_STATE_PREFIX, splitMachineUnit } from '../src/store/keys.js';
import { decodeUnitStateReport } from '../src/store/records.js';
import type { Watch } from '../src/store/store.js';
import { Cluster, type ClusterMachine } from '../test/support/cluster.js';
import { gitAsync } from '../test/support/git.js';
import { systemctl } from '../test/support/systemd.js';
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

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (x: number) => `${Math.round(x)} ms`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const latUnit = (n: number) =>
  `[Unit]\nDescription=latency probe\n\n[Service]\nExecStart=/bin/sleep ` +
  `infinity\nEnvironment=VERSION=${n}\n\n[X-Fleet]\nMachineMetadata=region=a\n`;
const bulkUnit = (i: number) => `[Unit]\nDescription=bulk unit ${i}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;
const bulkName = (i: number) => `bulk-${String(i).padStart(4, '0')}.service`;

// ---- D-Bus: a unit's transitions as its systemd signals them -------------------------------------

const SIGNAL = 4;
const unitPath = (name: string) =>
  '/org/freedesktop/systemd1/unit/' +
  [...Buffer.from(name)]
    .map((b) =>
      /[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, '0')}`,
    )
    .join('');

/**
 * Follows units' ActiveState and InvocationID through PropertiesChanged signals on an instance's
 * bus (its own D-Bus connection, Subscribe()d), timestamped as they arrive in this process.
 */
class UnitSignals {
  /** Per unit object path: last ActiveState and InvocationID seen, and whether it went down since armed. */
  readonly units = new Map<string, { active: string; invocation: string; wentDown: boolean }>();
  private waiter: { path: string; since: string; resolve: (t: number) => void } | null = null;
  /** Called on every ActiveState change (convergence counting). */
  onActive: ((path: string, active: string, now: number) => void) | null = null;

  private constructor(private readonly bus: dbus.MessageBus) {}

  static async open(busAddress: string): Promise<UnitSignals> {
    const bus = dbus.sessionBus({ busAddress });
    bus.on('error', () => {});
    const u = new UnitSignals(bus);
    bus.on('message', (m: dbus.Message) => u.onMessage(m));
    const call = (
      destination: string,
      path: string,
      iface: string,
      member: string,
      signature = '',
      body: unknown[] = [],
    ) => bus.call(new dbus.Message({ destination, path, interface: iface, member, signature, body }));
    await call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [
      "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties'," +
        "member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'",
    ]);
    await call(
      'org.freedesktop.systemd1',
      '/org/freedesktop/systemd1',
      'org.freedesktop.systemd1.Manager',
      'Subscribe',
    );
    return u;
  }

  private onMessage(m: dbus.Message): void {
    if (m.type !== SIGNAL || m.member !== 'PropertiesChanged' || !m.path) return;
    const [iface, changed] = m.body as [string, Record<string, dbus.Variant>];
    if (iface !== 'org.freedesktop.systemd1.Unit') return;
    const now = performance.now();
    let u = this.units.get(m.path);
    if (!u) this.units.set(m.path, (u = { active: '', invocation: '', wentDown: false }));
    if (changed.InvocationID) u.invocation = Buffer.from(changed.InvocationID.value as Buffer).toString('hex');
    if (changed.ActiveState) {
      u.active = String(changed.ActiveState.value);
      if (u.active !== 'active') u.wentDown = true;
      this.onActive?.(m.path, u.active, now);
    }
    if (process.env.BENCH_TRACE && this.waiter?.path === m.path) {
      console.log(
        `    trace ${now.toFixed(0)} ${m.path} ${changed.ActiveState?.value ?? ''} ${changed.SubState?.value ?? ''} ` +
          `inv=${u.invocation.slice(0, 8)}`,
      );
    }
    const w = this.waiter;
    if (w && w.path === m.path && u.active === 'active' && (u.wentDown || (u.invocation && u.invocation !== w.since))) {
      this.waiter = null;
      w.resolve(now);
    }
  }

  /** Resolves with the time (performance.now()) `unit` is next seen active in a new invocation. */
  nextActivation(unit: string, sinceInvocation: string, timeoutMs: number): Promise<number> {
    const path = unitPath(unit);
    const u = this.units.get(path);
    if (u) u.wentDown = false;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${unit}: no new activation within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = {
        path,
        since: sinceInvocation,
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      };
    });
  }

  close(): void {
    this.bus.disconnect();
  }
}

// ---- etcd: when this process sees each hop -------------------------------------------------------

/** Times (performance.now()) of the hops of one push, as watches in this process see them. */
interface Hops {
  root?: number;
  schedule?: number;
  report?: number;
}

async function watchHops(
  c: Cluster,
  machine: string,
  unit: string,
  hops: () => Hops,
  oldHash: () => string,
): Promise<Watch> {
  const scheduleKey = `${SCHEDULE_PREFIX}${machine}/${unit}`;
  const stateKey = `${UNIT_STATE_PREFIX}${machine}/${unit}`;
  return c.store.watch('', undefined, {
    onEvents: (events) => {
      const now = performance.now();
      const h = hops();
      for (const e of events) {
        if (e.kv.key === DESIRED_ROOT) h.root ??= now;
        else if (e.kv.key === scheduleKey && e.type === 'put') h.schedule ??= now;
        else if (e.kv.key === stateKey && e.type === 'put') {
          const r = decodeUnitStateReport(e.kv);
          if (r.active === 'active' && r.hash !== oldHash()) h.report ??= now;
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

// ---- 1. push -> active ----------------------------------------------------------------------------

async function latency(c: Cluster): Promise<{
  total: number[];
  push: number[];
  root: number[];
  schedule: number[];
  active: number[];
  report: number[];
}> {
  const m = c.machines.find((x) => x.metadata.region === 'a')!;
  await c.source.push('latency probe', { 'lat.service': latUnit(0) });
  await c.waitFor(
    'lat.service active',
    async () => (await show(c, m, 'lat.service', 'ActiveState')).ActiveState === 'active',
    30_000,
  );
  const inst = (await c.machineSystemd(m))!;
  const signals = await UnitSignals.open(inst.busAddress);
  let hops: Hops = {};
  let lastHash = '';
  const watch = await watchHops(
    c,
    m.id,
    'lat.service',
    () => hops,
    () => lastHash,
  );
  const out = {
    total: [] as number[],
    push: [] as number[],
    root: [] as number[],
    schedule: [] as number[],
    active: [] as number[],
    report: [] as number[],
  };
  try {
    for (let n = 1; n <= PUSHES; n++) {
      const before = await show(c, m, 'lat.service', 'InvocationID');
      const report = await c.store.get(`${UNIT_STATE_PREFIX}${m.id}/lat.service`);
      lastHash = report ? decodeUnitStateReport(report).hash : '';
      // The commit is made before the clock starts: it is the author's work, not the system's.
      c.source.work.commit(`probe ${n}`, { 'lat.service': latUnit(n) });
      hops = {};
      const activated = signals.nextActivation('lat.service', before.InvocationID ?? '', 30_000);
      const t0 = performance.now();
      if (process.env.BENCH_TRACE) console.log(`    trace ${t0.toFixed(0)} push ${n} starts`);
      await gitAsync(c.source.work.dir, ['push', '-q', 'origin', `HEAD:${c.branch}`]);
      if (c.source.kind === 'http') await c.deliverWebhook();
      const tPushed = performance.now();
      const tActive = await activated;
      await c.waitFor('the agent reports the new hash', () => hops.report !== undefined, 10_000);
      const after = await show(c, m, 'lat.service', 'ActiveState,Environment');
      if (after.ActiveState !== 'active' || after.Environment !== `VERSION=${n}`)
        throw new Error(`push ${n}: lat.service is ${JSON.stringify(after)}`);
      out.total.push(tActive - t0);
      out.push.push(tPushed - t0);
      out.root.push((hops.root ?? NaN) - t0);
      out.schedule.push((hops.schedule ?? NaN) - t0);
      out.active.push(tActive - t0);
      out.report.push(hops.report! - t0);
      await sleep(250);
    }
  } finally {
    signals.close();
    await watch.close();
  }
  return out;
}

// ---- 2. many units converge -----------------------------------------------------------------------

async function converge(c: Cluster): Promise<{ reported: number; systemd: number; spread: Record<string, number> }> {
  const files: Record<string, string> = {};
  const names: string[] = [];
  for (let i = 1; i <= UNITS; i++) {
    files[bulkName(i)] = bulkUnit(i);
    names.push(bulkName(i));
  }
  c.source.work.commit(`${UNITS} units`, files);
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
  const paths = new Set(names.map(unitPath));
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
  return { reported: reportedAt - t0, systemd: systemdAt - t0, spread };
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(
    `bench/e2e: 3-member etcd, 3 agents with private systemd, 2 engines, 1 controller (child processes); ${PUSHES} ` +
      `pushes; ${UNITS} units`,
  );
  console.log(
    `machine: ${(await import('node:os')).cpus().length} cores, load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  for (const source of SOURCES) {
    const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bench-e2e-'));
    const c = await Cluster.start({
      dir,
      leaseTtl: 3,
      source,
      poll: 1,
      env: { GITFLEET_LOG: 'warn' },
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
      const l = await latency(c);
      const row = (label: string, xs: number[]) =>
        console.log(
          `  ${label.padEnd(34)} p50 ${fmt(pct(xs, 50)).padStart(7)}   p95 ${fmt(pct(xs, 95)).padStart(7)}   max ` +
            `${fmt(Math.max(...xs)).padStart(7)}`,
        );
      console.log(`  push -> unit active (D-Bus), ${PUSHES} pushes:`);
      row('TOTAL push start -> active', l.total);
      console.log('  where the time goes (from push start, as this process saw each hop):');
      row(source === 'http' ? 'git push exited + webhook answered' : 'git push exited', l.push);
      row('desired/root flipped (controller)', l.root);
      row('schedule entry rewritten (engine)', l.schedule);
      row('active in systemd (D-Bus signal)', l.active);
      row('agent report in etcd (new hash)', l.report);
      console.log(`  goal p50 < 300 ms: ${pct(l.total, 50) < 300 ? 'met' : 'NOT met'}`);
      if (UNITS > 0) {
        const v = await converge(c);
        console.log(`  ${UNITS} units in one commit, push start -> every unit active on its machine:`);
        console.log(`    reported active by the agents (etcd watch):     ${fmt(v.reported)}`);
        console.log(`    active in the machines' systemd (D-Bus signals): ${fmt(v.systemd)}`);
        console.log(
          `    spread: ${Object.entries(v.spread)
            .sort()
            .map(([m, n]) => `${m}=${n}`)
            .join(' ')}`,
        );
      }
      if (observer) console.log(`  ${observer.describe()}`);
    } finally {
      await observer?.stop();
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(
    `\nload average at end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

await main();
