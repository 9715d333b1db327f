/**
 * bench/scale's child process: runs one real Controller or one real Engine, wired as
 * `gitfleet controller` / `gitfleet engine` wire them, or a slice of the simulated machines' Agents
 * (bench/sim/agent-slice.ts), so that its memory and CPU are its own (the parent reads the
 * kernel's peak RSS, VmHWM) and its etcd writes are counted by its own client(s). The parent's
 * side is bench/sim/child.ts.
 *
 *   node --import tsx bench/sim/component.ts controller ENDPOINTS PREFIX REPO STATEDIR
 *   node --import tsx bench/sim/component.ts engine ENDPOINTS PREFIX
 *   node --import tsx bench/sim/component.ts agents ENDPOINTS PREFIX FROM COUNT DIR CLIENTS
 *
 * Talks to the parent over the IPC channel (child_process.fork):
 *   -> { type: 'ready' }                             started (controller: following; engine: leading)
 *   -> { type: 'load', at }                          the controller began reading a commit
 *   -> { type: 'loaded', at }                        it has read and built the commit's desired state
 *   -> { type: 'outcome', kind, commit, at }         a controller pass ended
 *   -> { type: 'pass', at, ops, txns, readMs, planMs, writeMs, assigned, unscheduled }   an engine pass
 *   -> { type: 'leadership', leading, at }           the engine stopped (or again started) leading
 *   -> { type: 'started', at }                       agents: every agent of the slice registered
 *   <- { type: 'report' }  -> { type: 'report', writes, memory, vmHWM, vmRSS, cpu }
 *                             (agents: and the slice's figures, SliceFigures)
 *   <- { type: 'idle' }    -> { type: 'idle' }       agents: every agent of the slice is idle
 *   <- { type: 'stop' }    stops, closes the store, exits 0
 * Times are wall-clock milliseconds (performance.timeOrigin + performance.now()).
 */
import { readFileSync } from 'node:fs';
import { Controller, type CommitLoader } from '../../src/controller/controller.js';
import { loadCommit } from '../../src/source/git.js';
import { Engine } from '../../src/engine/engine.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { AgentSlice } from './agent-slice.js';
import { countingLogger } from './counting-logger.js';
import { CountingStore } from './counting-store.js';

const [role, endpoints, prefix, repo, stateDir, ...rest] = process.argv.slice(2);
if (!process.send || !role || !endpoints || !prefix) {
  console.error('bench/sim/component.ts is started by bench/scale.ts (child_process.fork)');
  process.exit(2);
}
const send = (m: object) => process.send!(m);
const wall = () => performance.timeOrigin + performance.now();

/** kB figures from /proc/self/status (VmHWM: peak resident set size). */
function procStatus(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const store = new CountingStore(new EtcdStore({ endpoints: endpoints.split(','), prefix }));
let stop: () => Promise<void>;
let slice: AgentSlice | null = null;
/** The controller's or the engine's warnings and errors (counted, the first few kept). */
const log = countingLogger(process.env.BENCH_VERBOSE && role !== 'agents' ? role : undefined);

if (role === 'agents') {
  // FROM COUNT DIR CLIENTS arrive where the controller's REPO STATEDIR are.
  const [from, count, dir, clients] = [Number(repo), Number(stateDir), rest[0]!, Number(rest[1] ?? 1)];
  slice = new AgentSlice({ endpoints: endpoints.split(','), prefix, from, count, dir, clients: Math.max(1, clients) });
  const s = slice;
  stop = () => s.stop();
} else if (role === 'controller') {
  const load: CommitLoader = async (gitdir, commit, path) => {
    send({ type: 'load', at: wall(), commit });
    const loaded = await loadCommit(gitdir, commit, path);
    send({ type: 'loaded', at: wall(), commit });
    return loaded;
  };
  const controller = new Controller({
    store,
    repo: repo!,
    branch: 'main',
    stateDir: stateDir!,
    load,
    log,
  });
  controller.on('outcome', (o) =>
    send({ type: 'outcome', at: wall(), kind: o.kind, commit: 'commit' in o ? o.commit : null }),
  );
  await controller.start();
  await controller.idle();
  stop = () => controller.stop();
} else if (role === 'engine') {
  const engine = new Engine({
    store,
    id: `bench-engine-${process.pid}`,
    log,
    onPass: (r) => {
      if (process.env.BENCH_VERBOSE)
        process.stderr.write(
          `[${new Date().toISOString().slice(11, 23)} engine] pass ${Math.round(r.readMs)}/${Math.round(r.planMs)}/` +
            `${Math.round(r.writeMs)} ms, ${r.ops} ops, ${r.planned} ${r.plannedWhy ?? ''}\n`,
        );
      send({
        type: 'pass',
        at: wall(),
        ops: r.ops,
        txns: r.txns,
        readMs: r.readMs,
        planMs: r.planMs,
        writeMs: r.writeMs,
        planned: r.planned + (r.plannedWhy ? ` (${r.plannedWhy})` : ''),
        assigned: r.assigned,
        unscheduled: r.unscheduled,
        units: r.units,
        machines: r.machines,
      });
    },
  });
  await engine.start();
  while (!engine.isLeader()) await new Promise((r) => setTimeout(r, 10));
  // Leadership lost and won again, as the benchmark's timeline shows it (polled: the engine has no hook).
  let leading = true;
  setInterval(() => {
    if (engine.isLeader() === leading) return;
    leading = !leading;
    send({ type: 'leadership', leading, at: wall() });
  }, 50).unref();
  stop = () => engine.stop();
} else {
  throw new Error(`unknown role ${role}`);
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'report') {
    const figures = slice?.figures();
    send({
      type: 'report',
      warns: log.warns,
      errors: log.errors,
      samples: log.samples,
      ...figures,
      writes: figures?.writes ?? store.writes(),
      memory: process.memoryUsage(),
      vmHWM: procStatus('VmHWM'),
      vmRSS: procStatus('VmRSS'),
      cpu: process.cpuUsage(),
    });
  } else if (m.type === 'idle') {
    void slice?.idle().then(() => send({ type: 'idle' }));
  } else if (m.type === 'stop') {
    void stop()
      .then(() => store.close())
      .finally(() => process.exit(0));
  }
});
// The parent went away without saying stop: do not linger.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', at: wall() });
if (slice) {
  await slice.start();
  send({ type: 'started', at: wall() });
}
