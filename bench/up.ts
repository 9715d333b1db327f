/**
 * bench/up: `gitfleet up --once` on the embedded example (units.example/) beside its floor.
 *
 *   node --import tsx bench/up.ts [--runs 5]
 *
 * A git repository with the example's files (its own fleet.yaml: path .). Each run:
 *   1. starts the private systemd instance `up` would start, in a fresh state dir (the same
 *      code, src/systemd/private.ts), so `up` finds it running and attaches to it;
 *   2. FLOOR, on that instance: the example's units written by hand (renamed floor-*, so that
 *      nothing of gitfleet's is touched) into its runtime unit directory, the launched ones
 *      (hello, web@1..3, echo.socket, cleanup.timer) started at once over D-Bus, timed from the
 *      first write until all are active (D-Bus signals); then stopped and removed;
 *   3. `gitfleet up --repo R --systemd private --state-dir S --once --on-exit stop` as a child
 *      process: its own figure ("converged in N ms", counted from when its systemd answers, which
 *      is this goal's figure), and the process's wall time (Node + tsx start, the repository's
 *      load, stopping the units and the instance on exit). The run fails unless it exits 0.
 * Goal: converged <= 300 ms after the private systemd is up. Load average at start and end.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOrAttachPrivateSystemd } from '../src/systemd/private.js';
import { sha256 } from '../src/util/hash.js';
import { gitfleetArgv, PROJECT_ROOT } from '../test/support/cluster.js';
import { TestRepo } from '../test/support/git.js';
import { Floor, load, ms, p50p95, pct, ratio } from './floor.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(args.runs);

/** The example's units that fleet.yaml launches (by their floor names) and every file they need. */
const LAUNCHED = ['hello.service', 'web@1.service', 'web@2.service', 'web@3.service', 'echo.socket', 'cleanup.timer'];
const FILES = ['hello.service', 'web@.service', 'echo.socket', 'echo@.service', 'cleanup.timer', 'cleanup.service'];

function runUp(repo: string, stateDir: string): Promise<{ code: number | null; stderr: string; wall: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      gitfleetArgv([
        'up',
        '--repo',
        repo,
        '--systemd',
        'private',
        '--state-dir',
        stateDir,
        '--once',
        '--on-exit',
        'stop',
      ]),
      {
        env: { ...process.env, NO_COLOR: '1', GITFLEET_ETCD: '', GITFLEET_LOG: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stderr, wall: performance.now() - t0 }));
  });
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'gitfleet-bench-up-'));
  console.log(`bench/up: gitfleet up --once on units.example, ${RUNS} runs; ${cpus().length} cores`);
  console.log(`load average at start ${load()}`);
  try {
    const repo = TestRepo.init(tmp, 'example');
    cpSync(join(PROJECT_ROOT, 'units.example'), repo.dir, { recursive: true });
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'the example');
    const example = Object.fromEntries(FILES.map((f) => [f, readFileSync(join(repo.dir, f), 'utf8')]));
    const floors: number[] = [];
    const converged: number[] = [];
    const walls: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const stateDir = join(tmp, `state-${run}`);
      const name = `up-${sha256(repo.dir).slice(0, 10)}`;
      const inst = await startOrAttachPrivateSystemd({ baseDir: join(stateDir, 'systemd'), name });
      try {
        const floor = await Floor.open(inst);
        try {
          const renamed = (f: string) => `floor-${f}`;
          const files = Object.fromEntries(FILES.map((f) => [renamed(f), example[f]!]));
          floors.push(await floor.manyUnits(files, LAUNCHED.map(renamed)));
          await floor.stop();
        } finally {
          floor.close();
        }
        const r = await runUp(repo.dir, stateDir);
        const m = /converged in (\d+) ms/.exec(r.stderr);
        if (r.code !== 0 || !m) throw new Error(`gitfleet up --once exited ${r.code}:\n${r.stderr}`);
        converged.push(Number(m[1]));
        walls.push(r.wall);
      } finally {
        await inst.stop();
      }
    }
    const row = (label: string, xs: number[]) => console.log(`  ${label.padEnd(52)} ${p50p95(xs)}`);
    row('up --once: converged after its systemd answers', converged);
    row(`FLOOR by hand: ${FILES.length} files written, ${LAUNCHED.length} units started`, floors);
    console.log(
      `  ratio (p50) ${ratio(pct(converged, 50), pct(floors, 50))}; goal converged <= 300 ms: ` +
        `${pct(converged, 50) <= 300 ? 'met' : 'NOT met'} (p50 ${ms(pct(converged, 50))})`,
    );
    row('up --once: the whole process (Node start to exit)', walls);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    console.log(`load average at end ${load()}`);
  }
}

await main();
