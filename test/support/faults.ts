/**
 * The control-plane faults of the fault suite (test/e2e/faults.test.ts, one pass each) and of
 * bench/chaos.ts (N passes each, with figures), defined once here.
 *
 * Each fault runs on a real 3-machine cluster (test/support/cluster.ts: 3 etcd members, 3 agents
 * each with its own private systemd and its own TCP proxies to etcd, 2 engines, a controller over
 * smart HTTP) and is judged through each machine's OWN systemd: the same MainPID, InvocationID and
 * NRestarts of every unit before and after (a change is a restart), and no unit active on two
 * machines at any moment we look (sampled every 250 ms from the fault's start until the cluster is
 * settled again). When the fault ends a fresh commit is pushed at once: the time until its unit
 * runs is the recovery time.
 */
import { readFileSync } from 'node:fs';
import { BODIES_PREFIX, DESIRED_ROOT, machineKey } from '../../src/store/keys.js';
import { Cluster, type ClusterMachine, type Observation, type UnitObservation } from './cluster.js';

/** Lease TTL of agents and engines in the fault cluster, seconds. */
export const TTL = 3;
/** How long the stall / outage / partition faults last (the fault issue 11 was written for). */
export const OUTAGE_MS = 20_000;

const service = (d: string, v: string, x = '') =>
  `[Unit]\nDescription=${d}\n\n[Service]\nExecStart=/bin/sleep infinity\nEnvironment=VERSION=${v}\n` +
  (x ? `\n[X-Fleet]\n${x}\n` : '');

const PLACED = ['a.service', 'b.service', 'c.service', 'd.service', 'e.service', 'w@1.service', 'w@2.service'];
const GLOBAL = 'g.service';
const TEN = Array.from({ length: 10 }, (_, i) => `t${i}.service`);
/**
 * Padding of each of the ten: together they are more than one write transaction holds, so the
 * controller writes their content before it flips the root, and can be killed in between (a small
 * commit goes in one transaction with its flip, and has no such moment).
 */
const TEN_PAD = `Environment=PAD=${'x'.repeat(120 * 1024)}`;
const ALL = [...PLACED, GLOBAL, ...TEN];
/** The unit each fresh commit changes. */
const FRESH = 'a.service';

function unitRepo(version: string, tenVersion: string): Record<string, string> {
  const files: Record<string, string> = {
    'fleet.yaml': 'units:\n  w@.service:\n    instances: 2\n',
    'w@.service': service('web %i', 'v1', 'Conflicts=w@*.service'),
    [GLOBAL]: service('everywhere', 'v1', 'Global=true'),
  };
  for (const u of ['a', 'b', 'c', 'd', 'e']) files[`${u}.service`] = service(u, u === 'a' ? version : 'v1');
  for (const u of TEN) files[u] = `${service(u, tenVersion)}${TEN_PAD}\n`;
  return files;
}

const running = (o: UnitObservation | undefined): o is UnitObservation =>
  o !== undefined && o.active === 'active' && o.pidAlive;

function runsVersion(o: UnitObservation | undefined, v: string): boolean {
  if (!running(o)) return false;
  try {
    return readFileSync(`/proc/${o.mainPid}/environ`, 'utf8').split('\0').includes(`VERSION=${v}`);
  } catch {
    return false;
  }
}

/** unit -> machines whose systemd runs it. */
function where(obs: Observation): Map<string, string[]> {
  const out = new Map<string, string[]>(ALL.map((u) => [u, []]));
  for (const [m, units] of obs) for (const [u, o] of units) if (running(o)) out.get(u)?.push(m);
  return out;
}

/** Placed units running on more than one machine at once (`except`'s are not counted). */
function duplicates(obs: Observation, except?: string): string[] {
  const out: string[] = [];
  for (const [u, ms] of where(obs)) {
    const seen = ms.filter((m) => m !== except);
    if (u !== GLOBAL && seen.length > 1) out.push(`${u} on ${seen.join('+')}`);
  }
  return out;
}

/**
 * "unit@machine" -> "pid inv restarts": what must not change when nothing restarts. The fresh
 * commit's unit is restarted on purpose; only where it runs counts.
 */
function identities(obs: Observation): Map<string, string> {
  const out = new Map<string, string>();
  for (const [m, units] of obs)
    for (const [u, o] of units)
      if (running(o))
        out.set(`${u}@${m}`, u === FRESH ? 'runs' : `pid=${o.mainPid} inv=${o.invocation} n=${o.nRestarts}`);
  return out;
}

/** What changed between two identity maps: each entry a restart, a stop or a start. */
function changes(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} -> ${b.get(k) ?? 'not running'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: started (${v})`);
  return out;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one pass of a fault did. */
export interface FaultOutcome {
  /** Units restarted, stopped or started that the fault must leave alone ("unit@machine: before -> after"). */
  restarts: string[];
  /** Units seen running on two machines at once, from the fault's start until settled again. */
  duplicates: string[];
  /** Fault end -> a fresh commit's unit running its new content (ms). */
  recoveryMs: number;
  /** The fault's own expectations that did not hold. */
  problems: string[];
  /** Units the fault had to move (only the one fault that moves units). */
  moved: number;
}

/** The fault cluster, the commits pushed to it, and the observations every fault shares. */
export class FaultRig {
  private version = 1;
  private tenVersion = 1;

  private constructor(readonly c: Cluster) {}

  static async start(dir: string): Promise<FaultRig> {
    const c = await Cluster.start({ dir, leaseTtl: TTL, engines: 2, source: 'http', poll: 1, agentProxies: true });
    const rig = new FaultRig(c);
    try {
      await c.source.push('units', rig.repo());
      await rig.settled('every unit runs once', 60_000);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return rig;
  }

  stop(): Promise<void> {
    return this.c.stop();
  }

  private repo(): Record<string, string> {
    return unitRepo(`v${this.version}`, `v${this.tenVersion}`);
  }

  /** Wait until every placed unit runs on exactly one machine and the Global one on all. */
  async settled(what: string, ms: number): Promise<Observation> {
    let obs: Observation = new Map();
    let last = '';
    try {
      await this.c.waitFor(
        what,
        async () => {
          obs = await this.c.observe(ALL);
          const bad = [...where(obs)].filter(([u, on]) =>
            u === GLOBAL ? on.length !== this.c.machines.length : on.length !== 1,
          );
          last = bad.map(([u, on]) => `${u} on [${on.join(', ')}]`).join('; ');
          return bad.length === 0;
        },
        ms,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\nlast: ${last}\n${this.c.logs(25)}`);
    }
    return obs;
  }

  /**
   * Sample every machine's systemd every 250 ms until stopped; collect the duplicates seen. While
   * `except()` names a machine, what it runs is not counted (it is cut off and cannot know better).
   */
  sampleDuplicates(except?: () => string | undefined): { stop(): Promise<string[]> } {
    const seen = new Set<string>();
    let done = false;
    const loop = (async () => {
      while (!done) {
        // Read before observing: a machine cut off until just now is judged as it was when we looked.
        const ex = except?.();
        for (const d of duplicates(await this.c.observe(ALL), ex)) seen.add(d);
        await delay(250);
      }
    })();
    return {
      async stop() {
        done = true;
        await loop;
        return [...seen];
      },
    };
  }

  /** Push a commit that changes the fresh unit; resolves with the ms from `since` until it runs. */
  async freshCommit(since = Date.now(), ms = 15_000): Promise<number> {
    this.version++;
    const v = `v${this.version}`;
    await this.c.source.push(`a ${v}`, this.repo());
    await this.c.waitFor(
      `${FRESH} runs ${v}`,
      async () => [...(await this.c.observe([FRESH])).values()].some((u) => runsVersion(u.get(FRESH), v)),
      ms,
    );
    return Date.now() - since;
  }

  /**
   * The frame of every fault: settle, sample duplicates, run `inject` (the fault; it returns the
   * expectations of its own that failed), push a fresh commit the moment it ends, settle, wait a
   * TTL for late reactions (an engine pass after re-election, an agent's comeback), look again.
   * `expected` says which changes of "unit@machine" the fault is allowed to cause.
   */
  async measure(
    inject: (before: Observation) => Promise<{ problems: string[]; moved?: number }>,
    opts: { expected?: (key: string) => boolean; sampleExcept?: () => string | undefined } = {},
  ): Promise<FaultOutcome> {
    const beforeObs = await this.settled('settled before the fault', 30_000);
    const before = identities(beforeObs);
    const sampler = this.sampleDuplicates(opts.sampleExcept);
    let problems: string[] = [];
    let moved = 0;
    let recoveryMs = 0;
    let after = new Map<string, string>();
    let later = new Map<string, string>();
    let dups: string[] = [];
    try {
      const r = await inject(beforeObs);
      problems = r.problems;
      moved = r.moved ?? 0;
      recoveryMs = await this.freshCommit();
      after = identities(await this.settled('settled after the fault', 30_000));
      await delay(TTL * 1000 + 1000);
      later = identities(await this.settled('still settled', 10_000));
    } finally {
      dups = await sampler.stop();
    }
    const allowed = opts.expected ?? (() => false);
    const restarts = [...new Set([...changes(before, after), ...changes(before, later)])].filter(
      (line) => !allowed(line.slice(0, line.indexOf(':'))),
    );
    return { restarts, duplicates: dups, recoveryMs, problems, moved };
  }

  /** Fault: nothing may move; `inject` is the fault, done when it returns. */
  nothingMoves(inject: () => Promise<string[] | undefined>): Promise<FaultOutcome> {
    return this.measure(async () => ({ problems: (await inject()) ?? [] }));
  }

  /** `gitfleet status` until it says the engine holds `silent` of `known`; a problem when it never does. */
  async statusHolding(silent: number, known: number, ms: number): Promise<string[]> {
    const want = new RegExp(`^holding:\\s+${silent} of ${known} machines silent since \\S+`, 'm');
    let last = '';
    try {
      await this.c.waitFor(
        `gitfleet status says it holds ${silent} of ${known}`,
        async () => {
          const r = await this.c.cli('status');
          last = r.stdout + r.stderr;
          return want.test(r.stdout);
        },
        ms,
      );
      return [];
    } catch {
      return [
        `gitfleet status never said "holding: ${silent} of ${known} machines silent since ..."; it said:\n${last}`,
      ];
    }
  }

  /**
   * The controller SIGKILLed between writing a new commit's bodies and flipping the desired root
   * (checked: the root had not moved when it died; tried again with a newer commit when the kill
   * came too late), restarted; the ten units it changes each run their new content once.
   */
  async controllerKilledMidApply(): Promise<FaultOutcome> {
    const c = this.c;
    const isTen = (key: string) => TEN.some((u) => key.startsWith(`${u}@`));
    let beforeObs: Observation = new Map();
    const outcome = await this.measure(
      async (obs) => {
        beforeObs = obs;
        for (let attempt = 1; attempt <= 5; attempt++) {
          const rootBefore = await c.read(DESIRED_ROOT);
          let killed = false;
          const w = await c.store.watch(BODIES_PREFIX, undefined, {
            onEvents: () => {
              if (!killed && c.controller?.running) {
                killed = true;
                c.controller.signal('SIGKILL');
              }
            },
            onError: () => {},
          });
          this.tenVersion++;
          const v = `v${this.tenVersion}`;
          // The webhook may find the controller killed already (its poll fetched the commit first).
          await c.source.push(`ten ${v}`, this.repo()).catch((e) => {
            if (!killed) throw e;
          });
          await c.waitFor('the controller was killed mid-apply', () => killed, 15_000);
          await w.close();
          await c.controller!.waitExit(10_000);
          await delay(300); // whatever it had sent before dying has landed by now
          const midApply = (await c.read(DESIRED_ROOT)) === rootBefore;
          await c.startController();
          await c.waitFor(
            `the ten units run ${v}`,
            async () => {
              const o = await c.observe(TEN);
              return TEN.every((u) => [...o.values()].some((m) => runsVersion(m.get(u), v)));
            },
            20_000,
          );
          if (midApply) return { problems: [] };
        }
        return { problems: ['the controller was never killed before it flipped the root (5 attempts)'] };
      },
      { expected: isTen },
    );
    // The ten restarted for their new content, where they were, and did not restart after it.
    const afterObs = await this.settled('settled', 10_000);
    const at = (obs: Observation, u: string): [string, UnitObservation] | [] => {
      for (const [id, units] of obs) if (running(units.get(u))) return [id, units.get(u)!];
      return [];
    };
    for (const u of TEN) {
      const [bm, bo] = at(beforeObs, u);
      const [am, ao] = at(afterObs, u);
      if (am !== bm) outcome.problems.push(`${u} moved from ${bm} to ${am}`);
      else if (ao?.invocation === bo?.invocation) outcome.problems.push(`${u} was not restarted for its new content`);
      else if (ao?.nRestarts !== 0)
        outcome.problems.push(`${u} restarted ${ao?.nRestarts} times after its new content`);
    }
    return outcome;
  }

  /**
   * The agent that runs the most placed units cut from etcd past its TTL: its units move to the
   * others; while it is cut off it keeps running them (it cannot know), and once it reaches etcd
   * again it stops them before it registers: from then on nothing runs twice.
   */
  async oneAgentCutPastTtl(): Promise<FaultOutcome> {
    const c = this.c;
    let m: ClusterMachine | null = null;
    let mine: string[] = [];
    /** The cut machine until it has registered again. */
    let excused: string | undefined;
    const outcome = await this.measure(
      async (obs) => {
        const w0 = where(obs);
        const count = (id: string) => PLACED.concat(TEN).filter((u) => w0.get(u)!.includes(id)).length;
        m = [...c.machines].sort((x, y) => count(y.id) - count(x.id))[0]!;
        const cut = m;
        mine = [...w0].filter(([u, on]) => u !== GLOBAL && on.includes(cut.id)).map(([u]) => u);
        if (mine.length === 0) return { problems: [`${cut.id} runs no placed unit`] };
        excused = cut.id;
        c.cutAgent(cut);
        try {
          await c.waitFor(
            `${mine.join(', ')} run on another machine`,
            async () => {
              const o = await c.observe(mine);
              return mine.every((u) => [...o].some(([id, units]) => id !== cut.id && running(units.get(u))));
            },
            TTL * 1000 * 4 + 10_000,
          );
        } finally {
          c.healAgent(cut);
        }
        void c
          .waitFor(`${cut.id} registered again`, async () => (await c.store.get(machineKey(cut.id))) !== null, 30_000)
          .then(
            () => (excused = undefined),
            () => {},
          );
        return { problems: [], moved: mine.length };
      },
      {
        // Its units leave it and start elsewhere; nothing else may change.
        expected: (key) => mine.some((u) => key.startsWith(`${u}@`)),
        sampleExcept: () => excused,
      },
    );
    if (excused !== undefined) outcome.problems.push(`${excused} never registered again`);
    const back = where(await this.settled('back: every unit once', 10_000));
    for (const u of mine) if (back.get(u)!.includes(m!.id)) outcome.problems.push(`${u} still runs on ${m!.id}`);
    return outcome;
  }
}

/** One fault of the suite: `id` picks it in bench/chaos.ts (--faults). */
export interface Fault {
  id: string;
  title: string;
  run(rig: FaultRig): Promise<FaultOutcome>;
}

export const FAULTS: Fault[] = [
  {
    id: 'etcd-stall',
    title: 'the whole etcd cluster SIGSTOPped for 20 s',
    run: (rig) =>
      rig.nothingMoves(async () => {
        await rig.c.freezeEtcd();
        await delay(OUTAGE_MS);
        await rig.c.thawEtcd();
        return [];
      }),
  },
  {
    id: 'etcd-restart',
    title: 'the whole etcd cluster killed and restarted after 20 s',
    run: (rig) =>
      rig.nothingMoves(async () => {
        await rig.c.killEtcd();
        await delay(OUTAGE_MS);
        await rig.c.restartEtcd();
        return [];
      }),
  },
  {
    id: 'etcd-leader',
    title: 'the etcd leader SIGKILLed (restarted after the pass)',
    async run(rig) {
      const i = await rig.c.etcdLeader();
      try {
        return await rig.nothingMoves(async () => {
          await rig.c.etcd.kill(i, 'SIGKILL');
          await delay(3_000);
          return [];
        });
      } finally {
        await rig.c.etcd.restart(i);
      }
    },
  },
  {
    id: 'engine-pause',
    title: 'the leading engine SIGSTOPped for 10 s',
    async run(rig) {
      const e = await rig.c.leaderEngine();
      return rig.nothingMoves(async () => {
        e.proc!.signal('SIGSTOP');
        await delay(10_000);
        e.proc!.signal('SIGCONT');
        return [];
      });
    },
  },
  {
    id: 'agent-restart',
    title: 'an agent SIGKILLed and restarted with the same state dir',
    run: (rig) =>
      rig.nothingMoves(async () => {
        const m = rig.c.machines[1]!;
        await rig.c.killAgent(m, 'SIGKILL');
        await rig.c.startAgent(m);
        return [];
      }),
  },
  {
    id: 'daemon-reexec',
    title: "daemon-reexec of one machine's systemd",
    run: (rig) =>
      rig.nothingMoves(async () => {
        await rig.c.reexecSystemd(rig.c.machines[0]!);
        await delay(2_000);
        return [];
      }),
  },
  {
    id: 'agents-cut',
    title: 'every agent cut from etcd for 20 s (gitfleet status says the engine holds)',
    run: (rig) =>
      rig.nothingMoves(async () => {
        const n = rig.c.machines.length;
        const t0 = performance.now();
        for (const m of rig.c.machines) rig.c.cutAgent(m);
        try {
          const problems = await rig.statusHolding(n, n, OUTAGE_MS - 2_000);
          await delay(Math.max(0, OUTAGE_MS - (performance.now() - t0)));
          return problems;
        } finally {
          for (const m of rig.c.machines) rig.c.healAgent(m);
        }
      }),
  },
  {
    id: 'controller-kill',
    title: 'the controller SIGKILLed while applying a 10-unit change: each runs its new content once',
    run: (rig) => rig.controllerKilledMidApply(),
  },
  {
    id: 'agent-cut-ttl',
    title: 'one agent cut off past its TTL loses its units to the others, and runs none twice once back',
    run: (rig) => rig.oneAgentCutPastTtl(),
  },
];
