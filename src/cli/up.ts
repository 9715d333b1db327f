/**
 * `gitfleet up`: controller + engine + agent in one process on the embedded memory store,
 * following the git repository it is run in and running its units on this machine's systemd.
 * Shows progress while it converges, then a live status table that follows new commits (with the
 * latest rollout's progress).
 * Desired state is re-derived from git at start, so nothing needs persisting.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent } from '../agent/agent.js';
import { UnitInspector } from '../agent/inspect.js';
import { lastMessages } from '../systemd/journal.js';
import { chooseSystemd, connectSystemd, type SystemdHost, type SystemdKind } from '../systemd/connect.js';
import { Controller, type PassOutcome } from '../controller/controller.js';
import { loadCommitOrRefuse } from '../source/git.js';
import { Engine } from '../engine/engine.js';
import { createLogger } from '../log.js';
import { paint, useColor } from '../render/color.js';
import { renderTable } from '../render/table.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/store.js';
import { isMachineId } from '../fleet/machine-id.js';
import { acquirePidLock, LockHeldError, type PidLock } from '../util/pidlock.js';
import { publishUp, upStateDirFor } from './endpoint.js';
import { CliError } from './errors.js';
import { fatalSignal, untilSignal, untilSignalOrFatal } from './signals.js';
import { loadTrust, type TrustFlags } from './trust.js';
import { readClusterView, type ClusterView } from './view.js';
import { progressLine, rolloutCounts } from '../store/rollouts.js';
import { rolloutLines } from './status.js';
import { sha256 } from '../util/hash.js';
import { startUpUi, upMetrics } from './up-ui.js';
import { diagnosticLine } from '../render/diagnostics.js';

/** How long `up --once` waits to converge. */
const ONCE_TIMEOUT_MS = 60_000;

/** Why `up --once` stopped waiting: converged (exit 0 unless a unit failed), or why not (exit 1). */
type OnceEnd = { kind: 'converged' } | { kind: 'refused' | 'empty' | 'timeout' | 'fatal' | 'signal'; why: string };

interface UpFlags extends TrustFlags {
  repo: string;
  branch?: string;
  path?: string;
  systemd: SystemdKind | 'auto';
  stateDir?: string;
  onExit: 'leave' | 'stop';
  once?: boolean;
  /** HOST:PORT of the web UI, or 'off'. */
  ui: string;
  tokenFile?: string;
  allowForcePush?: boolean;
}

/**
 * One `up` per state dir: a second one would share the first one's private systemd and then stop
 * its units on exit. The lock says who holds it.
 */
function lockStateDir(stateDir: string): PidLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  try {
    return acquirePidLock(join(stateDir, 'up.lock'));
  } catch (e) {
    if (!(e instanceof LockHeldError)) throw e;
    throw new CliError(
      `another gitfleet up (pid ${e.holder.pid}, running since ${e.holder.startedAt}) already runs with the state ` +
        `dir ${stateDir}; stop it first (Ctrl-C there, or kill ${e.holder.pid}), or give this one its own --state-dir`,
    );
  }
}

function localMachineId(): string {
  try {
    const id = readFileSync('/etc/machine-id', 'utf8').trim();
    if (isMachineId(id)) return id;
  } catch {
    /* none */
  }
  return 'local';
}

/** This machine's reports by unit. */
function reportsOf(view: ClusterView, machine: string): Map<string, ClusterView['reports'][number]['report']> {
  return new Map(view.reports.filter((x) => x.machine === machine).map((x) => [x.unit, x.report]));
}

/** Is every unit that should run where it should be, in the state it should be in? */
export function converged(view: ClusterView, machine: string): { done: boolean; pending: string[]; failed: string[] } {
  const pending: string[] = [];
  const failed: string[] = [];
  if (!view.root) return { done: false, pending: ['(no commit applied yet)'], failed };
  const reports = reportsOf(view, machine);
  for (const u of view.units) {
    if (u.state === 'inactive') continue;
    if (view.unscheduled.has(u.name)) continue; // cannot be placed: settled, the table says why
    const r = reports.get(u.name);
    if (!r || r.hash !== u.hash) {
      pending.push(u.name);
      continue;
    }
    if (r.active === 'failed') failed.push(u.name);
    else if (u.state === 'launched' ? r.active !== 'active' : r.load !== 'loaded') pending.push(u.name);
  }
  return { done: pending.length === 0, pending, failed };
}

export function renderUp(view: ClusterView, machine: string, color: boolean, header: string): string {
  const lines = [header];
  const applied = view.status.applied;
  lines.push(`commit:  ${applied ? `${applied.commit.slice(0, 12)} applied ${applied.at}` : 'none applied yet'}`);
  if (view.status.refused) {
    const r = view.status.refused;
    lines.push(paint(color, 'red', `refused: ${r.commit.slice(0, 12)}: ${r.reason}`));
    for (const d of r.diagnostics.slice(0, 10)) lines.push(`         ${diagnosticLine(d)}`);
  }
  if (view.rollout) {
    const r = view.rollout;
    lines.push(...rolloutLines({ ...r, counts: rolloutCounts(r) }, color));
    // While it moves, each group's progress (a few: the table below has every unit).
    const moving = r.groups.filter((g) => g.state === 'progressing');
    for (const g of moving.slice(0, 5)) lines.push(`           ${progressLine(g)}`);
    if (moving.length > 5) lines.push(`           ... and ${moving.length - 5} more`);
  }
  const reports = reportsOf(view, machine);
  const rows = view.units.map((u) => {
    const r = reports.get(u.name);
    const why = view.unscheduled.get(u.name);
    return [
      u.name,
      u.state,
      r?.load ?? '-',
      r?.active ?? '-',
      r?.sub ?? (why ? `(${why})` : '-'),
      r && r.hash !== u.hash ? 'updating' : '',
    ];
  });
  lines.push('');
  lines.push(
    renderTable(['unit', 'dstate', 'load', 'active', 'sub', ''], rows, { color, stateColumns: [1, 2, 3, 4] }).trimEnd(),
  );
  return lines.join('\n') + '\n';
}

export async function run(flags: UpFlags): Promise<number> {
  const log = createLogger('up', { level: (process.env.GITFLEET_LOG as 'info' | undefined) ?? 'warn' });
  const repo = resolve(flags.repo);
  const repoId = sha256(repo).slice(0, 10);
  // Outside the repository by default: nothing of gitfleet's may end up in a `git add -A`.
  const stateDir = flags.stateDir ? resolve(flags.stateDir) : upStateDirFor(repo);
  // One up per state dir: a second would share (and then stop) the first one's systemd.
  const lock = lockStateDir(stateDir);
  const chosen = flags.systemd === 'auto' ? chooseSystemd() : { kind: flags.systemd, why: 'as asked (--systemd)' };
  const machine = localMachineId();
  const store: Store = new MemoryStore({ prefix: '/gitfleet/' });
  const color = useColor();
  const say = (s: string) => process.stderr.write(s + '\n');
  // The web UI and its metrics: checked before anything starts, served once the parts run.
  const metrics = upMetrics(flags, machine, log);
  const signatures = await loadTrust(flags, repo);
  // A component stopped by a permanent error never converges: --once ends on it.
  const { fatal, onFatal } = fatalSignal();

  let controller: Controller;
  try {
    controller = new Controller({
      store,
      repo,
      branch: flags.branch,
      path: flags.path,
      stateDir,
      load: loadCommitOrRefuse,
      signatures,
      allowForcePush: flags.allowForcePush,
      onFatal,
      log: log.child('controller'),
      ...(metrics ? { metrics: metrics.controller } : {}),
    });
  } catch (e) {
    signatures?.close();
    lock.release();
    throw new CliError((e as Error).message);
  }
  say(`gitfleet up: following ${repo}${flags.path ? ` (fleet.yaml in ${flags.path})` : ''}`);
  const instanceName = `up-${repoId}`;
  let host: SystemdHost;
  try {
    host = await connectSystemd(chosen.kind, stateDir, instanceName, (m) => log.warn(m));
  } catch (e) {
    lock.release();
    throw new CliError(`cannot reach ${chosen.kind} systemd: ${(e as Error).message}`);
  }
  say(`gitfleet up: units run under ${host.description} — ${chosen.why}`);

  const engine = new Engine({
    store,
    id: 'up',
    leaseTtl: 10,
    onFatal,
    log: log.child('engine'),
    ...(metrics ? { onPass: (r) => metrics.engine.onPass(r) } : {}),
  });
  metrics?.engine.leading(() => engine.isLeader());
  const agent = new Agent({
    store,
    machineId: machine,
    metadata: {},
    address: '127.0.0.1',
    systemd: host.manager,
    unitDir: host.unitDir,
    runtimeUnitDir: host.runtimeUnitDir,
    stateDir: resolve(stateDir, 'agent'),
    onExit: flags.onExit,
    log: log.child('agent'),
    journal: (unit) => lastMessages(inspector.journal, unit),
    ...(metrics ? { metrics: metrics.agent } : {}),
  });
  const inspector = new UnitInspector({
    store,
    machineId: machine,
    systemd: host.manager,
    journal: host.journal,
    unitDir: host.unitDir,
    log: log.child('inspect'),
  });
  const started = Date.now();
  let stopping = false;
  const ui = metrics ? await startUpUi(metrics, store, host, machine, inspector.journal, say, log) : null;
  let endpoint: { path: string; close(): Promise<void> } | null = null;
  const shutdown = async () => {
    stopping = true;
    await endpoint?.close().catch(() => {});
    await inspector.stop();
    await ui?.close();
    await controller.stop().catch(() => {});
    await engine.stop().catch(() => {});
    await agent.stop().catch((e) => say(`gitfleet up: stopping the agent: ${(e as Error).message}`));
    // A private instance started here goes when up goes, unless asked to leave units running.
    const stopInstance = host.kind === 'private' && flags.onExit === 'stop';
    await host.close({ stopInstance });
    signatures?.close();
    if (host.instance && !stopInstance)
      say(
        `gitfleet up: private systemd (pid ${host.instance.pid}) left running with its units; \`gitfleet up\` ` +
          `attaches ` +
          `to it again`,
      );
    await store.close();
    lock.release();
  };

  // What ends --once: convergence, or an outcome after which nothing converges until a new commit.
  let endOnce: (end: OnceEnd) => void = () => {};
  const onceEnded = new Promise<OnceEnd>((r) => (endOnce = r));
  try {
    await agent.start();
    await inspector.start();
    await engine.start();
    // Other terminals (status, list-*, cat, journal) reach this store here when given no --etcd.
    endpoint = await publishUp(store, stateDir, repo);
    say(`gitfleet up: other terminals in ${repo} reach it without --etcd (gitfleet status, list-units, journal UNIT)`);
    controller.on('outcome', (o: PassOutcome) => {
      if (o.kind === 'refused') {
        say(paint(useColor(process.stderr), 'red', `gitfleet up: refused ${o.commit.slice(0, 12)}: ${o.reason}`));
        endOnce({ kind: 'refused', why: `the branch head ${o.commit.slice(0, 12)} is refused (${o.reason})` });
      }
      if (o.kind === 'no-branch') {
        say(`gitfleet up: branch ${o.branch} has no commits yet`);
        endOnce({ kind: 'empty', why: `branch ${o.branch} has no commits: nothing to run` });
      }
    });
    await controller.start();
  } catch (e) {
    await shutdown();
    throw new CliError((e as Error).message);
  }

  // Redraw on every change in the store, at most every 100 ms.
  let timer: NodeJS.Timeout | null = null;
  let lastDrawn = '';
  let reported = false;
  const header =
    `gitfleet up — ${repo} on ${machine.slice(0, 8)} (${host.kind} systemd). Ctrl-C ` +
    `${flags.onExit === 'stop' ? 'stops the units and exits' : 'exits, leaving units running'}.`;
  const draw = async () => {
    timer = null;
    if (stopping) return;
    const view = await readClusterView(store);
    const c = converged(view, machine);
    if (c.done && !reported && view.root) {
      reported = true;
      say(
        `gitfleet up: converged in ${Date.now() - started} ms (${view.units.length} ` +
          `units${c.failed.length ? `, failed: ${c.failed.join(', ')}` : ''})`,
      );
    }
    if (c.done) endOnce({ kind: 'converged' });
    if (flags.once) return;
    const text = renderUp(view, machine, color, header);
    if (text === lastDrawn) return;
    lastDrawn = text;
    process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
  };
  // The table is redrawn at most every 100 ms; --once draws nothing and only checks convergence,
  // so it checks at once (a 100 ms wait was up to a third of its time to converge).
  const redrawMs = flags.once ? 0 : 100;
  const schedule = () => {
    if (!timer) timer = setTimeout(() => void draw().catch((e) => log.warn('status', { error: e as Error })), redrawMs);
  };
  const watch = await store.watch('', undefined, { onEvents: schedule });
  schedule();

  if (flags.once) {
    const timeout = new Promise<OnceEnd>((r) =>
      setTimeout(() => r({ kind: 'timeout', why: 'not converged after 60 s' }), ONCE_TIMEOUT_MS).unref(),
    );
    const end = await untilSignalOrFatal(fatal, Promise.race([onceEnded, timeout])).then(
      (r): OnceEnd =>
        r.other ??
        (r.fatal
          ? { kind: 'fatal', why: `stopped by an error: ${r.fatal.message}` }
          : { kind: 'signal', why: `${r.signal} before it converged` }),
    );
    const view = await readClusterView(store);
    process.stdout.write(renderUp(view, machine, color, header));
    await watch.close();
    await shutdown();
    const c = converged(view, machine);
    if (end.kind === 'converged') {
      if (!c.failed.length) return 0;
      say(`gitfleet up: --once: converged with failed units: ${c.failed.join(', ')}`);
      return 1;
    }
    const pending = end.kind === 'timeout' || end.kind === 'signal' ? `; waiting for: ${c.pending.join(', ')}` : '';
    const lastError =
      end.kind === 'timeout' && controller.lastError ? `; last error: ${controller.lastError.message}` : '';
    say(`gitfleet up: --once: ${end.why}${pending}${lastError}`);
    return 1;
  }
  const sig = await untilSignal();
  say(`gitfleet up: ${sig}: ${flags.onExit === 'stop' ? 'stopping units' : 'leaving units running'}`);
  await watch.close();
  await shutdown();
  return 0;
}
