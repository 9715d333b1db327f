/**
 * The whole system, for real: a 3-member etcd, 3 agents (`gitfleet agent --systemd private`, each
 * with its own state dir, machine id, metadata and systemd), 2 engines and a controller following
 * a bare repository over smart HTTP (poll + signed webhook), all as child processes
 * (test/support/cluster.ts). Every check of what runs where asks each machine's OWN systemd
 * (`systemctl --user show` against the instance, MainPID alive in its cgroup), and the CLI's JSON
 * is compared with that.
 *
 * The unit repo has MachineMetadata, MachineOf, Conflicts, a template with two instances, a timer
 * and its service (paired by the engine), and a Global unit.
 * The tests run in order and build on each other: deploy, change, lose a machine, get it back,
 * restart an agent at once, lose the leading engine, lose an etcd member, push a commit that lint
 * refuses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import {
  Cluster,
  environOf,
  runsVersion,
  type ClusterMachine,
  type Observation,
  type UnitObservation,
} from '../support/cluster.js';
import { tempDir } from '../support/git.js';

const TTL = 3;
/** cluster-secure.test.ts runs this same suite with etcd's TLS and auth on and signed commits required. */
const SECURE = process.env.GITFLEET_E2E_SECURE === '1';

// ---- the unit repository -------------------------------------------------------------------

const service = (description: string, version: string, xfleet = '') =>
  `[Unit]\nDescription=${description}\n\n[Service]\nExecStart=/bin/sleep ` +
  `infinity\nEnvironment=VERSION=${version}\n${xfleet ? `\n[X-Fleet]\n${xfleet}\n` : ''}`;

const UNITS = {
  'fleet.yaml':
    'allowEmpty: true\ndefaults:\n  state: launched\nunits:\n  web@.service:\n    instances: 2\n  tick.service: ' +
    'loaded\n',
  'pinned.service': service('pinned to region a', 'v1', 'MachineMetadata=region=a'),
  'bc.service': service('region b or c', 'v1', 'MachineMetadata=region=b\nMachineMetadata=region=c'),
  'sidecar.service': service('always beside bc.service', 'v1', 'MachineOf=bc.service'),
  'web@.service': service('web instance %i', 'v1', 'Conflicts=web@*.service'),
  'free.service': service('unconstrained', 'v1'),
  // Global: on every machine whose metadata matches (agents run it from the desired root themselves).
  'pair.service': service(
    'every machine of region a or b',
    'v1',
    'Global=true\nMachineMetadata=region=a\nMachineMetadata=region=b',
  ),
  // The engine places a timer's service with it (no MachineOf needed); the timer starts it.
  'tick.timer': '[Unit]\nDescription=fires tick.service once\n\n[Timer]\nOnActiveSec=1s\nAccuracySec=10ms\n',
  'tick.service':
    '[Unit]\nDescription=started by tick.timer\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n',
};

/** The Global unit: on every live machine of region a or b. */
const GLOBAL = 'pair.service';
/** Long-running services: each active with a live MainPID on exactly one machine (GLOBAL: on each of its machines). */
const SERVICES = [
  'pinned.service',
  'bc.service',
  'sidecar.service',
  'web@1.service',
  'web@2.service',
  'free.service',
  GLOBAL,
];
const ALL = [...SERVICES, 'tick.timer', 'tick.service'];
/** Units the engine places on one machine each. */
const PLACED = ALL.filter((u) => u !== GLOBAL);

// ---- oracle helpers --------------------------------------------------------------------------

const running = (o: UnitObservation | undefined) =>
  o !== undefined && o.active === 'active' && (o.mainPid === 0 || o.pidAlive);

/** unit -> machines whose own systemd runs it. */
function placements(obs: Observation, machines?: Set<string>): Map<string, string[]> {
  const out = new Map<string, string[]>(ALL.map((u) => [u, []]));
  for (const [machine, units] of obs) {
    if (machines && !machines.has(machine)) continue;
    for (const [unit, o] of units) if (running(o)) out.get(unit)!.push(machine);
  }
  return out;
}

/**
 * Why this placement (on `machines`, default all) breaks the repo's constraints ('' when it does
 * not): every placed unit on exactly one machine, the Global unit on each machine of region a or
 * b, pinned on region a, bc on b or c, sidecar with bc, the web instances apart, tick with its
 * timer (and started by it).
 */
function placementProblems(c: Cluster, place: Map<string, string[]>, machines?: Set<string>): string {
  const problems: string[] = [];
  const region = (id: string | undefined) => c.machines.find((m) => m.id === id)?.metadata.region;
  const globalOn = c.machines
    .filter((m) => (!machines || machines.has(m.id)) && ['a', 'b'].includes(m.metadata.region!))
    .map((m) => m.id)
    .sort();
  if ([...place.get(GLOBAL)!].sort().join() !== globalOn.join())
    problems.push(`${GLOBAL} runs on [${place.get(GLOBAL)!.join(', ')}], not on [${globalOn.join(', ')}]`);
  for (const unit of PLACED) {
    const ms = place.get(unit)!;
    if (ms.length !== 1) problems.push(`${unit} runs on ${ms.length} machines [${ms.join(', ')}]`);
  }
  if (problems.length) return problems.join('; ');
  const on = (u: string) => place.get(u)![0]!;
  if (region(on('pinned.service')) !== 'a') problems.push(`pinned.service on region ${region(on('pinned.service'))}`);
  if (!['b', 'c'].includes(region(on('bc.service'))!))
    problems.push(`bc.service on region ${region(on('bc.service'))}`);
  if (on('sidecar.service') !== on('bc.service')) problems.push('sidecar.service is not with bc.service');
  if (on('web@1.service') === on('web@2.service')) problems.push('web@1 and web@2 share a machine despite Conflicts');
  if (on('tick.service') !== on('tick.timer')) problems.push('tick.service is not with tick.timer');
  return problems.join('; ');
}

/**
 * unit (GLOBAL: "unit on machine") -> "machine pid invocation restarts" of the long-running
 * services on `machines` (default all): what must not change when nothing should restart.
 */
function identities(obs: Observation, machines?: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [machine, units] of obs) {
    if (machines && !machines.has(machine)) continue;
    for (const [unit, o] of units) {
      if (SERVICES.includes(unit) && running(o))
        out.set(
          unit === GLOBAL ? `${unit} on ${machine}` : unit,
          `${machine} pid=${o.mainPid} inv=${o.invocation} restarts=${o.nRestarts}`,
        );
    }
  }
  return out;
}

/** Is this etcd member the raft leader (its metrics say so)? */
function isEtcdLeader(metricsUrl: string): Promise<boolean> {
  return new Promise((res) => {
    http
      .get(`${metricsUrl}/metrics`, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (body += d));
        r.on('end', () => res(/^etcd_server_is_leader 1$/m.test(body)));
      })
      .on('error', () => res(false));
  });
}

// ---- the cluster -----------------------------------------------------------------------------

const tmp = tempDir('gitfleet-e2e-');
let c: Cluster;
/** The commit in force, and the machine we take away and bring back. */
let applied = '';
let lost: ClusterMachine;

before(async () => {
  c = await Cluster.start({
    dir: tmp.dir,
    leaseTtl: TTL,
    engines: 2,
    source: 'http',
    poll: 1,
    ...(SECURE ? { secureEtcd: true, signedCommits: true } : {}),
  });
});

after(async () => {
  await c?.stop();
  tmp.cleanup();
});

/** The running cluster and the suite's oracles, for cluster-secure.test.ts's own tests. */
export const suite = { cluster: () => c, settle, identities, ALL, service, running, runsVersion };

/** Observe every machine until `ok` finds no problem; fail with the last problem and the logs. */
function settle(what: string, ms: number, ok: (obs: Observation) => string): Promise<Observation> {
  return c.settle(what, ms, ALL, ok);
}

async function cliJson<T>(...args: string[]): Promise<T> {
  const r = await c.cli(...args, '--format', 'json');
  assert.equal(r.code, 0, `gitfleet ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe("a 3-machine cluster from git push to each machine's systemd", () => {
  test(
    'a pushed unit repo runs every unit once on a machine its constraints allow, and the Global one on each ' +
      'matching machine',
    async () => {
      applied = await c.source.push('units', UNITS);
      const obs = await settle('every unit active where its constraints allow', 30_000, (o) =>
        placementProblems(c, placements(o)),
      );
      const place = placements(obs);
      for (const u of SERVICES) {
        for (const machine of place.get(u)!) {
          const o = obs.get(machine)!.get(u)!;
          assert.ok(o.pidAlive, `${u}: MainPID ${o.mainPid} is a live process of ${machine}'s systemd`);
          assert.ok(environOf(o.mainPid).includes('VERSION=v1'), `${u} on ${machine} runs the pushed content`);
        }
      }
      assert.equal(
        obs.get(place.get('tick.service')![0]!)!.get('tick.service')!.sub,
        'exited',
        'tick.timer started tick.service (oneshot, exited)',
      );
    },
  );

  test(
    "list-machines, list-units, list-unit-files, cat and status agree with what each machine's " + 'systemd runs',
    async () => {
      const machines =
        await cliJson<{ machine: string; address: string; metadata: Record<string, string> }[]>('list-machines');
      assert.deepEqual(
        machines.map((m) => [m.machine, m.metadata]).sort(),
        c.machines.map((m) => [m.id, m.metadata]).sort(),
      );

      const obs = await c.observe(ALL);
      const place = placements(obs);
      const units =
        await cliJson<{ unit: string; machine: string; load: string; active: string; sub: string; hash: string }[]>(
          'list-units',
        );
      const files =
        await cliJson<
          { unit: string; hash: string; desiredState: string; state: string; targetMachine: string | null }[]
        >('list-unit-files');
      // Every unit reported by exactly the machines that run it, in the states their systemd says.
      for (const u of ALL) {
        assert.deepEqual(
          units
            .filter((x) => x.unit === u)
            .map((x) => x.machine)
            .sort(),
          [...place.get(u)!].sort(),
          `list-units places ${u} where it runs`,
        );
      }
      assert.equal(
        units.length,
        [...place.values()].reduce((n, ms) => n + ms.length, 0),
        'nothing else is reported',
      );
      for (const u of units) {
        const o = obs.get(u.machine)!.get(u.unit)!;
        assert.deepEqual(
          [u.load, u.active, u.sub],
          [o.load, o.active, o.sub],
          `list-units ${u.unit} on ${u.machine}: states = systemd's`,
        );
      }
      for (const u of ALL) {
        const rows = files.filter((x) => x.unit === u);
        assert.deepEqual(
          rows.map((r) => r.targetMachine).sort(),
          [...place.get(u)!].sort(),
          `list-unit-files targets of ${u}`,
        );
        for (const r of rows) {
          assert.equal(
            r.hash,
            units.find((x) => x.unit === u && x.machine === r.targetMachine)?.hash,
            `${u}: ${r.targetMachine} runs the desired hash`,
          );
          assert.equal(r.desiredState, u === 'tick.service' ? 'loaded' : 'launched');
        }
      }
      const tmpl = files.find((x) => x.unit === 'web@.service');
      assert.ok(!tmpl || tmpl.targetMachine === null, 'the template itself is placed nowhere');

      const cat = await c.cli('cat', 'pinned.service');
      assert.equal(cat.code, 0, cat.stderr);
      assert.match(cat.stdout, /^\[X-Fleet\]$/m);
      assert.match(cat.stdout, /^MachineMetadata=region=a$/m);
      assert.match(cat.stdout, /^Environment=VERSION=v1$/m);

      const status = await cliJson<{
        applied: { commit: string } | null;
        refused: unknown;
        leader: string | null;
        machines: number;
        units: Record<string, number>;
      }>('status');
      assert.equal(status.applied?.commit, applied);
      assert.equal(status.refused, null);
      assert.equal(status.leader, await c.leader());
      assert.ok(
        c.engines.some((e) => e.id === status.leader),
        'one of our engines leads',
      );
      assert.equal(status.machines, 3);
      assert.deepEqual(status.units, { launched: 8, loaded: 1, inactive: 0, failed: 0 });
    },
  );

  test(
    'a changed unit is replaced in place: same machine, new process with the new content, nothing else ' + 'restarted',
    async () => {
      const before = await c.observe(ALL);
      const was = identities(before);
      const machine = placements(before).get('free.service')![0]!;
      const oldPid = before.get(machine)!.get('free.service')!.mainPid;
      applied = await c.source.push('free v2', { 'free.service': service('unconstrained', 'v2') });
      const obs = await settle('free.service runs v2', 20_000, (o) => {
        const f = o.get(machine)?.get('free.service');
        return runsVersion(f, 'v2') ? '' : `free.service on ${machine}: ${JSON.stringify(f)}`;
      });
      const now = obs.get(machine)!.get('free.service')!;
      assert.notEqual(now.mainPid, oldPid, 'a new process');
      assert.equal(now.environment, 'VERSION=v2', 'systemd has the new definition');
      assert.equal(placementProblems(c, placements(obs)), '');
      const is = identities(obs);
      for (const u of SERVICES.filter((s) => s !== 'free.service'))
        assert.equal(is.get(u), was.get(u), `${u} untouched`);
      const cat = await c.cli('cat', 'free.service');
      assert.match(cat.stdout, /^Environment=VERSION=v2$/m);
    },
  );

  test('a machine gone (agent SIGKILLed) loses its units to the others once its lease runs out', async () => {
    const obs0 = await c.observe(ALL);
    const place0 = placements(obs0);
    lost = c.machines.find((m) => m.id === place0.get('bc.service')![0])!;
    const moving = PLACED.filter((u) => place0.get(u)![0] === lost.id);
    const others = new Set(c.machines.filter((m) => m !== lost).map((m) => m.id));
    const killedAt = Date.now();
    await c.killAgent(lost, 'SIGKILL');
    // Its systemd keeps running its units, as a cut-off machine would.
    await settle("the lost machine's units active on the other machines", (TTL + 60) * 1000, (o) =>
      placementProblems(c, placements(o, others), others),
    );
    const took = Date.now() - killedAt;
    const obs = await c.observe(ALL);
    for (const u of moving)
      assert.ok(running(obs.get(lost.id)?.get(u)), `${u} still runs on the cut-off machine (nobody told it)`);
    const machines = await cliJson<{ machine: string }[]>('list-machines');
    assert.deepEqual(machines.map((m) => m.machine).sort(), [...others].sort());
    process.stderr.write(`# moved ${moving.join(', ')} off ${lost.id} in ${took} ms (lease TTL ${TTL} s)\n`);
  });

  test('the machine back (same id and state dir) stops what was moved away: every unit runs exactly once', async () => {
    const others = new Set(c.machines.filter((m) => m !== lost).map((m) => m.id));
    const obs0 = await c.observe(ALL);
    const elsewhere = identities(obs0, others);
    const globalHere = lost.metadata.region === 'b';
    const kept = identities(obs0, new Set([lost.id])).get(`${GLOBAL} on ${lost.id}`);
    assert.equal(
      Boolean(kept),
      globalHere,
      `${GLOBAL} kept running on the cut-off machine of region ${lost.metadata.region} only if it matches`,
    );
    await c.startAgent(lost);
    const obs = await settle('no unit runs twice', 20_000, (o) => placementProblems(c, placements(o)));
    await c.waitFor(
      'the machine registered again',
      async () => (await cliJson<unknown[]>('list-machines')).length === 3,
      15_000,
    );
    // Scheduling is stable: nothing moved back to the returning machine.
    const place = placements(obs);
    for (const u of PLACED) assert.ok(others.has(place.get(u)![0]!), `${u} stays where it was rescheduled`);
    assert.deepEqual(identities(obs, others), elsewhere, 'nothing restarted on the other machines');
    assert.equal(
      identities(obs, new Set([lost.id])).get(`${GLOBAL} on ${lost.id}`),
      kept,
      `${GLOBAL} on the returning machine was adopted, not restarted`,
    );
    const units = await cliJson<{ unit: string; machine: string }[]>('list-units');
    assert.deepEqual(
      units.filter((u) => u.machine === lost.id).map((u) => u.unit),
      globalHere ? [GLOBAL] : [],
      'the returning machine reports only its Global unit',
    );
  });

  test('an agent that crashes and restarts at once takes its machine back: nothing moves or restarts', async () => {
    const before = identities(await c.observe(ALL));
    const m = c.machines.find((x) => x.metadata.region === 'a')!;
    await c.killAgent(m, 'SIGKILL');
    // Same state dir: the new agent is the same lineage and takes over the live registration.
    await c.startAgent(m);
    await new Promise((r) => setTimeout(r, 1_000 + TTL * 1000));
    const obs = await c.observe(ALL);
    assert.equal(placementProblems(c, placements(obs)), '');
    assert.deepEqual(identities(obs), before, 'same machines, MainPIDs, invocations and NRestarts');
    const units = await cliJson<{ unit: string; machine: string }[]>('list-units');
    assert.deepEqual(
      units.map((u) => `${u.unit} ${u.machine}`).sort(),
      [...placements(obs)].flatMap(([u, ms]) => ms.map((x) => `${u} ${x}`)).sort(),
      'reports survive the restart',
    );
  });

  test('the leading engine killed: another leads and nothing restarts', async () => {
    const before = identities(await c.observe(ALL));
    const leaderId = await c.leader();
    const leader = c.engines.find((e) => e.id === leaderId);
    assert.ok(leader?.proc, `leader ${leaderId} is one of our engines`);
    leader.proc.signal('SIGKILL');
    assert.ok(await leader.proc.waitExit(10_000));
    await c.waitFor(
      'the other engine leads',
      async () => {
        const l = await c.leader();
        return l !== null && l !== leaderId;
      },
      (TTL + 10) * 1000,
    );
    // Give the new leader time for its first passes, then compare.
    await new Promise((r) => setTimeout(r, 1_500));
    const obs = await c.observe(ALL);
    assert.equal(placementProblems(c, placements(obs)), '');
    assert.deepEqual(identities(obs), before, 'same MainPIDs, invocations and NRestarts');
    c.startEngine(leader);
  });

  test('an etcd member killed: nothing stops, machines keep their leases, a push still deploys', async () => {
    const before = identities(await c.observe(ALL));
    // The raft leader is the member whose loss hurts most.
    let victim = 0;
    for (let i = 0; i < c.etcd.members.length; i++) if (await isEtcdLeader(c.etcd.members[i]!.metricsUrl)) victim = i;
    await c.etcd.kill(victim, 'SIGKILL');
    try {
      // Longer than two lease TTLs: a machine that lost its lease would have its units moved.
      await new Promise((r) => setTimeout(r, (2 * TTL + 1) * 1000));
      const obs = await c.observe(ALL);
      assert.equal(placementProblems(c, placements(obs)), '');
      assert.deepEqual(identities(obs), before, 'same MainPIDs, invocations and NRestarts');
      const machines = await cliJson<{ machine: string }[]>('list-machines');
      assert.equal(machines.length, 3, 'every machine still registered');
      const pinnedOn = placements(obs).get('pinned.service')![0]!;
      applied = await c.source.push('pinned v2', {
        'pinned.service': service('pinned to region a', 'v2', 'MachineMetadata=region=a'),
      });
      await settle('pinned.service runs v2 with one etcd member down', 20_000, (o) => {
        const p = o.get(pinnedOn)?.get('pinned.service');
        return runsVersion(p, 'v2') ? '' : `pinned.service: ${JSON.stringify(p)}`;
      });
    } finally {
      await c.etcd.restart(victim);
    }
  });

  test('a commit with a lint error is refused: the cluster is unchanged and status says why', async () => {
    const obs0 = await c.observe(ALL);
    const before = identities(obs0);
    const filesBefore = await cliJson<{ unit: string; hash: string }[]>('list-unit-files');
    const bad = await c.source.push('broken unit', {
      'broken.service': '[Service]\nType=bogus\nExecStart=/bin/sleep infinity\n',
      'free.service': service('unconstrained', 'v3'),
    });
    let status: {
      applied: { commit: string } | null;
      refused: {
        commit: string;
        reason: string;
        diagnostics: { file: string; line: number; rule: string; severity: string; message: string }[];
      } | null;
    } = { applied: null, refused: null };
    let code = 0;
    await c.waitFor(
      'status reports the refusal',
      async () => {
        const r = await c.cli('status', '--format', 'json');
        code = r.code;
        status = JSON.parse(r.stdout);
        return status.refused?.commit === bad;
      },
      20_000,
    );
    assert.equal(code, 1, 'status exits 1 while the newest commit is refused');
    assert.equal(status.applied?.commit, applied, 'the last good commit stays in force');
    const d = status.refused!.diagnostics.find((x) => x.file.endsWith('broken.service') && x.severity === 'error');
    assert.ok(d, `a diagnostic names broken.service: ${JSON.stringify(status.refused)}`);
    assert.equal(d.line, 2);
    assert.match(d.message, /Type="bogus"/);
    const text = await c.cli('status');
    assert.match(text.stdout, /refused/);
    assert.match(text.stdout, /broken\.service:2:\d+: error/);
    // Nothing of the refused commit reached any machine.
    const obs = await c.observe([...ALL, 'broken.service']);
    for (const [, units] of obs) assert.equal(units.get('broken.service')?.load, 'not-found');
    assert.deepEqual(identities(obs), before);
    for (const [, units] of obs) {
      const f = units.get('free.service');
      if (running(f))
        assert.ok(runsVersion(f, 'v2') && f!.environment === 'VERSION=v2', 'free.service keeps the applied content');
    }
    assert.deepEqual(await cliJson<unknown[]>('list-unit-files'), filesBefore);
  });
});
