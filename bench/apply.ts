/**
 * bench/apply: the controller against a real etcd (issue 4).
 *
 *   node --import tsx bench/apply.ts [--pushes 30] [--units 20] [--big 10000] [--runs 3]
 *
 * Starts its own etcd (test/support/etcd.ts) and measures, with the controller's own code:
 *   1. push -> applied, local repository: a Controller follows a bare repository through its ref
 *      watch; each sample pushes one commit (one unit edited) with the git CLI and times from the
 *      push starting until the controller's 'outcome' event says that commit is applied.
 *      p50/p95 over --pushes pushes, on a --units-unit repository, then 5 pushes on the
 *      --big-unit one. Goal: p50 < 100 ms.
 *   2. a --big-unit commit applied to an empty keyspace through Controller.pass(): load (git read +
 *      desired state build) and write (everything after: applyDesired's bodies, shards, root
 *      flip, garbage) timed apart; median of --runs runs, each on a fresh prefix. Goal: < 5 s.
 *   3. etcd writes of a commit that changes 1 unit of --big, and of applying the same commit again
 *      (store.writes() deltas of the controller's client).
 * Beside each, its floor in the same run: for 1, the git push alone plus one transaction of as many
 * puts of the same size as the controller wrote, by the etcd3 client alone; for 2, git itself
 * printing every blob of the commit (`git cat-file --batch`) and the etcd3 client putting as many
 * keys of as many bytes as the controller wrote, in transactions of 128, 4 in flight.
 * Everything started here is ended by PID before exit.
 */
import { execFile, execFileSync } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Controller, type CommitLoader, type PassOutcome } from '../src/controller/controller.js';
import { loadCommit } from '../src/source/git.js';
import { silentLogger } from '../src/log.js';
import { clearBlobCache } from '../src/source/readsession.js';
import { EtcdStore } from '../src/store/etcd.js';
import { startEtcd } from '../test/support/etcd.js';
import { mapLimit } from '../src/util/pool.js';
import { ratio } from './floor.js';
import { CountingStore, delta, fmtWrites } from './sim/counting-store.js';
import { commitBlobs, fleetFiles, importCommit, initBare, plainServicePath, unitText } from './sim/fleetrepo.js';

const { values: args } = parseArgs({
  options: {
    pushes: { type: 'string', default: '30' },
    units: { type: 'string', default: '20' },
    big: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
  },
});
const PUSHES = Number(args.pushes);
const SMALL = Number(args.units);
const BIG = Number(args.big);
const RUNS = Number(args.runs);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const median = (xs: number[]) => pct(xs, 50);
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;

/** git push without blocking the event loop (the controller under test runs in this process). */
function push(from: string, to: string, refspec: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('git', ['push', '-q', to, refspec], { cwd: from }, (err, _out, stderr) =>
      err ? reject(new Error(`git push: ${stderr || err.message}`)) : resolve(),
    );
  });
}

function outcomeFor(c: Controller, commit: string, timeoutMs = 30_000): Promise<{ out: PassOutcome; at: number }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(new Error(`no outcome for ${commit} within ${timeoutMs} ms (last: ${JSON.stringify(c.lastOutcome)})`)),
      timeoutMs,
    );
    const on = (out: PassOutcome) => {
      if ('commit' in out && out.commit === commit) {
        const at = performance.now();
        clearTimeout(t);
        c.off('outcome', on);
        if (out.kind !== 'applied') reject(new Error(`commit ${commit} ${out.kind}: ${JSON.stringify(out)}`));
        else resolve({ out, at });
      }
    };
    c.on('outcome', on);
  });
}

/** The etcd3 client alone: `keys` puts of `bytes` in all, in transactions of 128, 4 in flight; ms. */
async function rawPuts(endpoints: string[], prefix: string, keys: number, bytes: number): Promise<number> {
  const client = new Etcd3({ hosts: endpoints });
  try {
    await client.get(`${prefix}warm-up`);
    const value = Buffer.alloc(Math.max(1, Math.round(bytes / Math.max(1, keys))), 'x');
    const batches: number[][] = [];
    for (let i = 0; i < keys; i += 128) batches.push([...Array(Math.min(128, keys - i)).keys()].map((k) => i + k));
    const a = performance.now();
    await mapLimit(batches, 4, async (b) => {
      const ns = client.namespace(prefix);
      await ns
        .if(`k${b[0]}`, 'Version', '>', -1)
        .then(...b.map((k) => ns.put(`k${k}`).value(value)))
        .commit();
    });
    return performance.now() - a;
  } finally {
    client.close();
  }
}

/**
 * Push-to-applied over `samples` pushes: `dev` is where commits are made (fast-import), `followed`
 * the bare repository the controller watches.
 */
async function pushLatency(
  endpoints: string[],
  tmp: string,
  label: string,
  units: number,
  samples: number,
): Promise<void> {
  const dev = join(tmp, `${label}-dev.git`);
  const followed = join(tmp, `${label}.git`);
  initBare(dev);
  initBare(followed);
  let head = importCommit(dev, 'refs/heads/main', fleetFiles({ units }), `${units} units`);
  await push(dev, followed, 'main:main');
  const store = new EtcdStore({ endpoints, prefix: `/bench-apply-${label}/` });
  const controller = new Controller({
    store,
    repo: followed,
    branch: 'main',
    stateDir: join(tmp, `${label}-state`),
    load: loadCommit,
    log: silentLogger,
  });
  try {
    const first = outcomeFor(controller, head, 60_000);
    await controller.start();
    await first;
    await controller.idle();
    const lat: number[] = [];
    const pushOnly: number[] = [];
    const txnFloor: number[] = [];
    for (let s = 0; s < samples; s++) {
      const edit = plainServicePath(s % Math.max(1, Math.floor(units / 20)));
      head = importCommit(
        dev,
        'refs/heads/main',
        new Map([[edit.path, unitText(edit.name, edit.i, s + 2)]]),
        `edit ${edit.name}`,
        head,
      );
      const applied = outcomeFor(controller, head);
      const t0 = performance.now();
      await push(dev, followed, 'main:main');
      pushOnly.push(performance.now() - t0);
      const { at, out } = await applied;
      lat.push(at - t0);
      await controller.idle();
      // The floor's etcd part: one transaction of as many puts, each the size of the unit's text.
      const puts = out.kind === 'applied' ? out.writes : 1;
      const size = unitText(edit.name, edit.i, s + 2).length;
      txnFloor.push(await rawPuts(endpoints, `/bench-apply-floor-${label}/`, puts, puts * size));
    }
    const floor = median(pushOnly) + median(txnFloor);
    console.log(
      `  ${label.padEnd(6)} ${String(units).padStart(6)} units: p50 ${ms(pct(lat, 50))}, p95 ${ms(pct(lat, 95))}, ` +
        `max ${ms(Math.max(...lat))} (n=${samples}); FLOOR git push alone p50 ${ms(median(pushOnly))} + ` +
        `one etcd txn of the same puts p50 ${ms(median(txnFloor))} = ${ms(floor)}, ratio ${ratio(pct(lat, 50), floor)}`,
    );
  } finally {
    await controller.stop();
    await store.close();
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'gitfleet-bench-apply-'));
  const etcd = await startEtcd({ extraArgs: ['--quota-backend-bytes=4294967296'] });
  try {
    console.log(
      `gitfleet bench/apply: real etcd 3.4 (${etcd.endpoints[0]}), loadavg at start ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );

    // 1. push -> applied
    console.log('push -> applied (controller following a local bare repository; git CLI push)   goal p50 < 100 ms');
    await pushLatency(etcd.endpoints, tmp, 'small', SMALL, PUSHES);
    await pushLatency(etcd.endpoints, tmp, 'big', BIG, Math.min(5, PUSHES));

    // 2. a big commit to an empty keyspace, through the controller's pass
    const repo = join(tmp, 'big-apply.git');
    initBare(repo);
    const t0 = performance.now();
    const c1 = importCommit(repo, 'refs/heads/main', fleetFiles({ units: BIG }), `${BIG} units`);
    const edit = plainServicePath(7);
    const c2 = importCommit(
      repo,
      'refs/heads/next',
      new Map([[edit.path, unitText(edit.name, edit.i, 2)]]),
      `edit ${edit.name}`,
      c1,
    );
    console.log(`${BIG}-unit repository built with git fast-import in ${ms(performance.now() - t0)}`);

    let loadMs = 0;
    const timedLoad: CommitLoader = async (gitdir, commit, path) => {
      const a = performance.now();
      const r = await loadCommit(gitdir, commit, path);
      loadMs = performance.now() - a;
      return r;
    };
    const loads: number[] = [];
    const writes: number[] = [];
    const totals: number[] = [];
    let firstWrites = '';
    let firstCounts = { puts: 0, bytes: 0 };
    let oneUnit = '';
    let again = '';
    for (let r = 0; r < RUNS; r++) {
      const store = new CountingStore(new EtcdStore({ endpoints: etcd.endpoints, prefix: `/bench-apply-run${r}/` }));
      const controller = new Controller({
        store,
        repo,
        branch: 'main',
        stateDir: join(tmp, `run${r}`),
        load: timedLoad,
        log: silentLogger,
      });
      try {
        await store.get('warm-up');
        execFileSyncQuiet(repo, ['update-ref', 'refs/heads/main', c1]);
        clearBlobCache(); // cold: nothing of this repository read before in this process
        const s0 = store.writes();
        const a = performance.now();
        const out = await controller.pass();
        const total = performance.now() - a;
        if (out.kind !== 'applied') throw new Error(`first commit: ${JSON.stringify(out).slice(0, 300)}`);
        loads.push(loadMs);
        writes.push(total - loadMs);
        totals.push(total);
        const d = delta(s0, store.writes());
        firstWrites = fmtWrites(d);
        firstCounts = { puts: d.puts, bytes: d.bytes ?? 0 };

        if (r === 0) {
          // 3. one unit changed, then the same commit again
          execFileSyncQuiet(repo, ['update-ref', 'refs/heads/main', c2]);
          const s1 = store.writes();
          const b = performance.now();
          const out2 = await controller.pass();
          const t2 = performance.now() - b;
          if (out2.kind !== 'applied') throw new Error(`second commit: ${JSON.stringify(out2).slice(0, 300)}`);
          oneUnit = `${fmtWrites(delta(s1, store.writes()))}; ${ms(t2)} (load ${ms(loadMs)})`;
          const fresh = new Controller({
            store,
            repo,
            branch: 'main',
            stateDir: join(tmp, 'again'),
            load: timedLoad,
            log: silentLogger,
          });
          const s2 = store.writes();
          const out3 = await fresh.pass();
          if (out3.kind !== 'unchanged') throw new Error(`re-apply: ${out3.kind}`);
          again = fmtWrites(delta(s2, store.writes()));
        }
      } finally {
        await controller.stop();
        await store.close();
      }
    }
    // The floors: git printing every blob of the commit; the etcd3 client writing as much.
    const blobs = commitBlobs(repo, c1);
    const readFloors: number[] = [];
    const writeFloors: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const a = performance.now();
      blobs.catAll();
      readFloors.push(performance.now() - a);
      writeFloors.push(
        await rawPuts(etcd.endpoints, `/bench-apply-floor-big${r}/`, firstCounts.puts, firstCounts.bytes),
      );
    }
    const floorRow = (xs: number[], floor: number[], what: string) =>
      `   FLOOR ${ms(median(floor))} (${what}), ratio ${ratio(median(xs), median(floor))}`;
    console.log(`apply a ${BIG}-unit commit to an empty keyspace (Controller.pass), median of ${RUNS}:   goal < 5 s`);
    console.log(
      `  load  (git read + desired state)   ${ms(median(loads))}   [${loads.map(ms).join(', ')}]` +
        floorRow(loads, readFloors, `git cat-file --batch of its ${blobs.blobs.length} blobs`),
    );
    console.log(
      `  write (bodies, shards, root, gc)    ${ms(median(writes))}   [${writes.map(ms).join(', ')}]` +
        floorRow(writes, writeFloors, `${firstCounts.puts} puts of the same bytes, txns of 128, 4 in flight`),
    );
    console.log(
      `  total                               ${ms(median(totals))}   [${totals.map(ms).join(', ')}]` +
        floorRow(
          totals,
          readFloors.map((x, i) => x + writeFloors[i]!),
          'both',
        ),
    );
    console.log(`  etcd writes: ${firstWrites}`);
    console.log(`commit changing 1 unit of ${BIG}: ${oneUnit}`);
    console.log(`same commit again (a new controller): ${again}`);
    console.log(
      `loadavg at end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await etcd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Synchronous git: only between passes, when nothing in this process waits on the event loop. */
function execFileSyncQuiet(cwd: string, argv: string[]): void {
  execFileSync('git', argv, { cwd, stdio: 'ignore' });
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
