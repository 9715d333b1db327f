/**
 * Control-plane faults never move, stop or restart a unit (fleet #1289), checked on a real
 * 3-machine cluster (test/support/cluster.ts: 3 etcd members, 3 agents each with its own private
 * systemd and its own TCP proxies to etcd, 2 engines, a controller over smart HTTP) through each
 * machine's OWN systemd: the same MainPID, InvocationID and NRestarts of every unit before and
 * after, and no unit active on two machines at any moment we look (sampled through the fault).
 * After each fault a fresh commit must deploy within a few seconds.
 *
 * One pass of each fault; bench/chaos.ts runs them N times and prints restarts, duplicates and
 * recovery times.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Cluster, type ClusterMachine, type Observation, type UnitObservation } from '../support/cluster.js';
import { tempDir } from '../support/git.js';
import { BODIES_PREFIX } from '../../src/store/keys.js';

const TTL = 3;
/** How long the stall / outage / partition faults last (the fault this suite was written for). */
const OUTAGE_MS = 20_000;

const service = (d: string, v: string, x = '') =>
  `[Unit]\nDescription=${d}\n\n[Service]\nExecStart=/bin/sleep infinity\nEnvironment=VERSION=${v}\n` +
  (x ? `\n[X-Fleet]\n${x}\n` : '');

const PLACED = ['a.service', 'b.service', 'c.service', 'd.service', 'e.service', 'w@1.service', 'w@2.service'];
const GLOBAL = 'g.service';
const TEN = Array.from({ length: 10 }, (_, i) => `t${i}.service`);
const ALL = [...PLACED, GLOBAL, ...TEN];

function repo(version: string, tenVersion = 'v1'): Record<string, string> {
  const files: Record<string, string> = {
    'fleet.yaml': 'units:\n  w@.service:\n    instances: 2\n',
    'w@.service': service('web %i', 'v1', 'Conflicts=w@*.service'),
    [GLOBAL]: service('everywhere', 'v1', 'Global=true'),
  };
  for (const u of ['a', 'b', 'c', 'd', 'e']) files[`${u}.service`] = service(u, u === 'a' ? version : 'v1');
  for (const u of TEN) files[u] = service(u, tenVersion);
  return files;
}

const running = (o: UnitObservation | undefined) => o !== undefined && o.active === 'active' && o.pidAlive;

function environ(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** unit -> machines whose systemd runs it. */
function where(obs: Observation): Map<string, string[]> {
  const out = new Map<string, string[]>(ALL.map((u) => [u, []]));
  for (const [m, units] of obs) for (const [u, o] of units) if (running(o)) out.get(u)?.push(m);
  return out;
}

/** Units placed on more than one machine at once. */
function duplicates(obs: Observation, except?: string): string[] {
  const out: string[] = [];
  for (const [u, ms] of where(obs)) {
    const seen = ms.filter((m) => m !== except);
    if (u !== GLOBAL && seen.length > 1) out.push(`${u} on ${seen.join('+')}`);
  }
  return out;
}

/** "unit@machine" -> "pid inv restarts": what must not change when nothing restarts. */
function identities(obs: Observation): Map<string, string> {
  const out = new Map<string, string>();
  for (const [m, units] of obs)
    for (const [u, o] of units)
      if (running(o)) out.set(`${u}@${m}`, `pid=${o.mainPid} inv=${o.invocation} n=${o.nRestarts}`);
  return out;
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} -> ${b.get(k) ?? 'not running'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: started (${v})`);
  return out;
}

const tmp = tempDir('gitfleet-faults-');
let c: Cluster;
let version = 1;

before(async () => {
  c = await Cluster.start({ dir: tmp.dir, leaseTtl: TTL, engines: 2, source: 'http', poll: 1, agentProxies: true });
  await c.source.push('units', repo('v1'));
  await settled('every unit runs once', 60_000);
});

after(async () => {
  await c?.stop();
  tmp.cleanup();
});

/** Wait until every placed unit runs on exactly one machine and the Global one on all. */
async function settled(what: string, ms: number): Promise<Observation> {
  let obs: Observation = new Map();
  let last = '';
  try {
    await c.waitFor(
      what,
      async () => {
        obs = await c.observe(ALL);
        const w = where(obs);
        const bad = [...w].filter(([u, ms]) => (u === GLOBAL ? ms.length !== c.machines.length : ms.length !== 1));
        last = bad.map(([u, ms]) => `${u} on [${ms.join(', ')}]`).join('; ');
        return bad.length === 0;
      },
      ms,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast: ${last}\n${c.logs(25)}`);
  }
  return obs;
}

/** Sample every machine's systemd while `during` runs; return the duplicates seen. */
async function watchDuring(during: () => Promise<void>, except?: () => string | undefined): Promise<string[]> {
  const seen = new Set<string>();
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const obs = await c.observe(ALL);
      for (const d of duplicates(obs, except?.())) seen.add(d);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  try {
    await during();
  } finally {
    done = true;
    await sampler;
  }
  return [...seen];
}

/** A new commit changes a.service; it must run the new content within `ms`. */
async function freshCommitDeploys(ms = 15_000): Promise<void> {
  version++;
  const v = `v${version}`;
  await c.source.push(`a ${v}`, repo(v));
  await c.waitFor(
    `a.service runs ${v}`,
    async () => {
      const obs = await c.observe(['a.service']);
      return [...obs.values()].some((u) => {
        const o = u.get('a.service');
        return running(o) && environ(o!.mainPid).includes(`VERSION=${v}`);
      });
    },
    ms,
  );
  await settled('every unit runs once after the fresh commit', 15_000);
}

/** The fault must restart nothing and duplicate nothing; then a fresh commit deploys. */
async function nothingMoves(inject: () => Promise<void>): Promise<void> {
  const before = identities(await settled('settled before the fault', 30_000));
  const dups = await watchDuring(inject);
  const after = identities(await settled('settled after the fault', 30_000));
  // Let late reactions (an engine pass after re-election, an agent's comeback) happen, then look again.
  await new Promise((r) => setTimeout(r, TTL * 1000 + 1000));
  const later = identities(await settled('still settled', 10_000));
  assert.deepEqual(dups, [], 'a unit ran on two machines during the fault');
  assert.deepEqual(diff(before, after), [], `units restarted or moved\n${c.logs(30)}`);
  assert.deepEqual(diff(before, later), [], `units restarted or moved after recovery\n${c.logs(30)}`);
  // identities() holds the a.service of the fresh commit afterwards; keep the baseline honest.
  await freshCommitDeploys();
}

describe('control-plane faults never move, stop or restart a unit', () => {
  test('the whole etcd cluster SIGSTOPped for 20 s', async () => {
    await nothingMoves(async () => {
      await c.freezeEtcd();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await c.thawEtcd();
    });
  });

  test('the whole etcd cluster killed and restarted after 20 s', async () => {
    await nothingMoves(async () => {
      await c.killEtcd();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await c.restartEtcd();
    });
  });

  test('the etcd leader SIGKILLed (and restarted later)', async () => {
    const i = await c.etcdLeader();
    await nothingMoves(async () => {
      await c.etcd.kill(i, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 3_000));
    });
    await c.etcd.restart(i);
  });

  test('the leading engine SIGSTOPped for 10 s', async () => {
    const e = await c.leaderEngine();
    await nothingMoves(async () => {
      e.proc!.signal('SIGSTOP');
      await new Promise((r) => setTimeout(r, 10_000));
      e.proc!.signal('SIGCONT');
    });
  });

  test('an agent SIGKILLed and restarted with the same state dir', async () => {
    const m = c.machines[1]!;
    await nothingMoves(async () => {
      await c.killAgent(m, 'SIGKILL');
      await c.startAgent(m);
    });
  });

  test("daemon-reexec of one machine's systemd", async () => {
    await nothingMoves(async () => {
      await c.reexecSystemd(c.machines[0]!);
      await new Promise((r) => setTimeout(r, 2_000));
    });
  });

  test('every agent cut from etcd for 20 s', async () => {
    await nothingMoves(async () => {
      for (const m of c.machines) c.cutAgent(m);
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      for (const m of c.machines) c.healAgent(m);
    });
  });

  test('the controller SIGKILLed while applying a 10-unit change: each runs its new content once', async () => {
    const before = identities(await settled('settled', 30_000));
    // Kill it as soon as the new commit's first body is written (before the root flips).
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
    await c.source.push('ten changed', repo(`v${version}`, 'v2'));
    await c.waitFor('the controller was killed mid-apply', () => killed, 15_000);
    await w.close();
    await c.controller!.waitExit(10_000);
    await c.startController();
    await c.waitFor(
      'the ten units run v2',
      async () => {
        const obs = await c.observe(TEN);
        return TEN.every((u) =>
          [...obs.values()].some((m) => running(m.get(u)) && environ(m.get(u)!.mainPid).includes('VERSION=v2')),
        );
      },
      20_000,
    );
    const after = identities(await settled('settled', 20_000));
    for (const u of TEN) {
      const b = [...before].find(([k]) => k.startsWith(`${u}@`))!;
      const a = [...after].find(([k]) => k.startsWith(`${u}@`))!;
      assert.equal(a[0], b[0], `${u} stayed on its machine`);
      assert.notEqual(a[1], b[1], `${u} was restarted for its new content`);
      assert.match(a[1], / n=0$/, `${u} ran its new content once (no restart after it)`);
    }
    const others = [...before].filter(([k]) => !TEN.some((u) => k.startsWith(`${u}@`)));
    for (const [k, v] of others) assert.equal(after.get(k), v, `${k} untouched`);
  });

  test('one agent cut off past its TTL loses its units to the others, and runs none twice once back', async () => {
    const obs = await settled('settled', 30_000);
    // The machine that runs the most placed units.
    const w0 = where(obs);
    const count = (id: string) => PLACED.concat(TEN).filter((u) => w0.get(u)!.includes(id)).length;
    const m: ClusterMachine = [...c.machines].sort((x, y) => count(y.id) - count(x.id))[0]!;
    const mine = [...w0].filter(([u, ms]) => u !== GLOBAL && ms.includes(m.id)).map(([u]) => u);
    assert.ok(mine.length > 0, 'the machine runs some placed unit');
    c.cutAgent(m);
    try {
      await c.waitFor(
        `${mine.join(', ')} run on another machine`,
        async () => {
          const o = await c.observe(mine);
          return mine.every((u) => [...o].some(([id, units]) => id !== m.id && running(units.get(u))));
        },
        TTL * 1000 * 4 + 10_000,
      );
    } finally {
      c.healAgent(m);
    }
    const back = await settled('back: every unit once', 30_000);
    const w = where(back);
    for (const u of mine) assert.ok(!w.get(u)!.includes(m.id), `${u} is stopped on ${m.id} after its return`);
    assert.deepEqual(duplicates(back), []);
    await freshCommitDeploys();
  });
});
