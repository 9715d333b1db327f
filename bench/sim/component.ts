/**
 * bench/scale's child process: runs one real Controller or one real Engine, wired as
 * `gitfleet controller` / `gitfleet engine` wire them, so that its memory is its own (the parent
 * reads the kernel's peak RSS, VmHWM) and its etcd writes are counted by its own client.
 *
 *   node --import tsx bench/sim/component.ts controller ENDPOINTS PREFIX REPO STATEDIR
 *   node --import tsx bench/sim/component.ts engine ENDPOINTS PREFIX
 *
 * Talks to the parent over the IPC channel (child_process.fork):
 *   -> { type: 'ready' }                             started (controller: following; engine: leading)
 *   -> { type: 'load', at }                          the controller began reading a commit
 *   -> { type: 'outcome', kind, commit, at }         a controller pass ended
 *   -> { type: 'pass', at, ops, txns, readMs, planMs, writeMs, assigned, unscheduled }   an engine pass
 *   <- { type: 'report' }  -> { type: 'report', writes, memory, vmHWM, vmRSS, cpu }
 *   <- { type: 'stop' }    stops, closes the store, exits 0
 * Times are wall-clock milliseconds (performance.timeOrigin + performance.now()).
 */
import { readFileSync } from 'node:fs';
import { Controller, type CommitLoader } from '../../src/controller/controller.js';
import { loadCommit } from '../../src/source/git.js';
import { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/log.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { CountingStore } from './counting-store.js';

const [role, endpoints, prefix, repo, stateDir] = process.argv.slice(2);
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

if (role === 'controller') {
  const load: CommitLoader = async (gitdir, commit, path) => {
    send({ type: 'load', at: wall(), commit });
    return loadCommit(gitdir, commit, path);
  };
  const controller = new Controller({
    store,
    repo: repo!,
    branch: 'main',
    stateDir: stateDir!,
    load,
    log: silentLogger,
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
    log: silentLogger,
    onPass: (r) =>
      send({
        type: 'pass',
        at: wall(),
        ops: r.ops,
        txns: r.txns,
        readMs: r.readMs,
        planMs: r.planMs,
        writeMs: r.writeMs,
        planned: r.planned,
        assigned: r.assigned,
        unscheduled: r.unscheduled,
        units: r.units,
        machines: r.machines,
      }),
  });
  await engine.start();
  while (!engine.isLeader()) await new Promise((r) => setTimeout(r, 10));
  stop = () => engine.stop();
} else {
  throw new Error(`unknown role ${role}`);
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'report') {
    send({
      type: 'report',
      writes: store.writes(),
      memory: process.memoryUsage(),
      vmHWM: procStatus('VmHWM'),
      vmRSS: procStatus('VmRSS'),
      cpu: process.cpuUsage(),
    });
  } else if (m.type === 'stop') {
    void stop()
      .then(() => store.close())
      .finally(() => process.exit(0));
  }
});
// The parent went away without saying stop: do not linger.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', at: wall() });
