/**
 * A private systemd user instance: gitfleet's own systemd for containers, CI, demos and tests
 * (`gitfleet agent --systemd private`), started the way verified to work on hosts without systemd as PID 1:
 *
 * 1. its own cgroup, made under this process's memory-cgroup path in every hierarchy that exists
 *    (systemd, unified, memory; or the one cgroup2 tree). The child moves itself there BEFORE it
 *    execs systemd: a systemd started from the root cgroup moves other processes of the machine
 *    into its own tree, and two instances started that way share one tree (stopping x.service in
 *    one killed x.service in the other);
 * 2. a private mount namespace (`unshare -m --propagation private`) with a tmpfs on /run/systemd
 *    holding /run/systemd/system, which is what makes `systemd --user` run without systemd as PID 1,
 *    and a systemd-journald of its own in that namespace (namespace.ts), so units have a journal;
 * 3. its own XDG_RUNTIME_DIR, HOME, XDG_CONFIG/DATA/STATE_HOME under `baseDir/name`.
 *
 * The child's PID is systemd's own (bash and unshare exec in place). systemd socket-activates a
 * user bus at $XDG_RUNTIME_DIR/bus; we are ready when Manager.SystemState is running/degraded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { killCgroupProcesses, makeCgroups, removeCgroups } from './cgroup.js';
import { SystemdManager } from './manager.js';
import { JOURNALD_BINARIES, JOURNALD_CONF, NAMESPACE_SCRIPT, privateJournalDir } from './namespace.js';

export { killCgroupProcessesSync, removeCgroups } from './cgroup.js';

export interface PrivateSystemd {
  /** Instance name (unique per machine while it runs). */
  name: string;
  /** systemd's PID. */
  pid: number;
  /** The instance's directory: rt/, home/, config/, data/, state/, log/, systemd.log, journald.log. */
  dir: string;
  /** Its journal (for `journalctl -D`), or null when it runs without one (no journald binary). */
  journalDir: string | null;
  /** The instance's XDG_RUNTIME_DIR. */
  runtimeDir: string;
  /** D-Bus address of its user bus: `unix:path=<runtimeDir>/bus`. */
  busAddress: string;
  /** Its runtime unit directory, `$XDG_RUNTIME_DIR/systemd/user` (LinkUnitFiles(runtime) puts links here). */
  unitDir: string;
  /** Its own cgroup directories, one per hierarchy (removed with everything below by stop()). */
  cgroupDirs: string[];
  /** Ancestors that exist only to hold instances, deepest first (removed by stop() when empty and unused). */
  cgroupParents: string[];
  /** Environment that reaches this instance from outside its namespace (for `systemctl --user`, `busctl --user`). */
  env: { XDG_RUNTIME_DIR: string; DBUS_SESSION_BUS_ADDRESS: string };
  /** Milliseconds from spawn to SystemState running/degraded. */
  startupMs: number;
  /** True once systemd has exited. */
  readonly exited: boolean;
  /**
   * SIGTERM, wait for exit (SIGKILL after `timeoutMs`, default 10 s), kill whatever is left in
   * its cgroups, remove the cgroup directories. Idempotent.
   */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
}

export interface PrivateSystemdOptions {
  /** Directory under which the instance's own directory `baseDir/name` is made. */
  baseDir: string;
  /** Instance name: [A-Za-z0-9_.-]+, unique on this machine while it runs (it names the cgroup). */
  name: string;
  /** How long to wait for systemd to be running (default 20 s). */
  readyTimeoutMs?: number;
  /** Run a journald in the instance's namespace (default true, when systemd-journald is installed). */
  journal?: boolean;
}

const SYSTEMD_BINARIES = ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'];
/** Written into the instance directory once systemd runs: what attachPrivateSystemd() needs. */
const RECORD = 'systemd.json';
interface InstanceRecord {
  pid: number;
  journal?: boolean;
  cgroupDirs: string[];
  cgroupParents: string[];
}

/** Start a private systemd user instance (see the module comment) and wait until it runs. */
export async function startPrivateSystemd(opts: PrivateSystemdOptions): Promise<PrivateSystemd> {
  const { name } = opts;
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') {
    throw new Error(`private systemd: invalid instance name "${name}" (use letters, digits, '_', '.', '-')`);
  }
  const binary = SYSTEMD_BINARIES.find((b) => existsSync(b));
  if (!binary) throw new Error(`private systemd: no systemd binary found (looked at ${SYSTEMD_BINARIES.join(', ')})`);

  const journald = opts.journal === false ? undefined : JOURNALD_BINARIES.find((b) => existsSync(b));

  const dir = resolve(opts.baseDir, name);
  const runtimeDir = join(dir, 'rt');
  for (const d of ['rt', 'home', 'config', 'data', 'state']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(runtimeDir, 0o700);
  const busAddress = `unix:path=${join(runtimeDir, 'bus')}`;

  const { dirs: cgroupDirs, parents: cgroupParents } = makeCgroups(`gitfleet-${name}`);

  const logPath = join(dir, 'systemd.log');
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  const started = Date.now();
  try {
    // "$@" = the cgroup directories: move this shell there first, then exec (PID unchanged)
    // unshare -> sh (namespace.ts: /run/systemd, journald) -> systemd.
    const script =
      'for d in "$@"; do echo $$ > "$d/cgroup.procs" || exit 97; done; ' +
      'exec unshare -m --propagation private sh -c "$GITFLEET_NAMESPACE_SCRIPT"';
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Nothing of the caller's session may leak into the instance.
    delete env.DBUS_SESSION_BUS_ADDRESS;
    delete env.NOTIFY_SOCKET;
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    delete env.INVOCATION_ID;
    delete env.MANAGERPID;
    Object.assign(env, {
      XDG_RUNTIME_DIR: runtimeDir,
      HOME: join(dir, 'home'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_STATE_HOME: join(dir, 'state'),
      GITFLEET_SYSTEMD_BINARY: binary,
      GITFLEET_NAMESPACE_SCRIPT: NAMESPACE_SCRIPT,
      GITFLEET_JOURNALD: journald ?? '',
      GITFLEET_LOG_DIR: join(dir, 'log'),
      GITFLEET_JOURNALD_CONF: JOURNALD_CONF,
      GITFLEET_JOURNALD_LOG: join(dir, 'journald.log'),
    });
    // detached: its own process group, so a terminal's Ctrl-C reaches only its owner, which stops it.
    child = spawn('bash', ['-c', script, 'gitfleet-systemd', ...cgroupDirs], {
      env,
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
  } catch (e) {
    closeSync(logFd);
    removeCgroups(cgroupDirs, cgroupParents);
    throw e;
  }
  closeSync(logFd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    removeCgroups(cgroupDirs, cgroupParents);
    throw new Error(`private systemd ${name}: could not spawn bash`);
  }

  let exited = false;
  let exitCode: number | null = null;
  let exitSignal: string | null = null;
  const exitWaiters: Array<() => void> = [];
  child.on('exit', (code, signal) => {
    exited = true;
    exitCode = code;
    exitSignal = signal;
    for (const w of exitWaiters.splice(0)) w();
  });
  child.on('error', () => {
    /* reported through 'exit' or the readiness timeout */
  });
  const waitExit = (ms: number) =>
    new Promise<boolean>((res) => {
      if (exited) return res(true);
      const t = setTimeout(() => res(false), ms);
      exitWaiters.push(() => {
        clearTimeout(t);
        res(true);
      });
    });

  let stopping: Promise<void> | null = null;
  const stop = (o: { timeoutMs?: number } = {}): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
        if (!(await waitExit(o.timeoutMs ?? 10_000))) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
          await waitExit(5_000);
        }
      }
      await killCgroupProcesses(cgroupDirs);
      removeCgroups(cgroupDirs, cgroupParents);
      rmSync(join(dir, RECORD), { force: true });
    })();
    return stopping;
  };

  const describeExit = () =>
    `exited (${exitSignal ? `signal ${exitSignal}` : `code ${exitCode}`}` +
    `${exitCode === 97 ? ': could not enter its cgroup' : ''}); ` +
    `its log ${logPath} ends with: ${tail(logPath)}`;

  try {
    await waitRunning(busAddress, opts.readyTimeoutMs ?? 20_000, () => (exited ? describeExit() : null));
  } catch (e) {
    await stop({ timeoutMs: 2_000 });
    throw new Error(`private systemd ${name}: ${(e as Error).message}`);
  }
  // For attachPrivateSystemd(): a later owner (the agent restarted) finds and reuses this instance.
  // journald made its directory before systemd was exec'ed: it exists now, or there is no journal.
  const journal = journald !== undefined && existsSync(privateJournalDir(dir));
  const record: InstanceRecord = { pid, cgroupDirs, cgroupParents, journal };
  writeFileSync(join(dir, RECORD), JSON.stringify(record));

  return {
    name,
    pid,
    dir,
    journalDir: journal ? privateJournalDir(dir) : null,
    runtimeDir,
    busAddress,
    unitDir: join(runtimeDir, 'systemd', 'user'),
    cgroupDirs,
    cgroupParents,
    env: { XDG_RUNTIME_DIR: runtimeDir, DBUS_SESSION_BUS_ADDRESS: busAddress },
    startupMs: Date.now() - started,
    get exited() {
      return exited;
    },
    stop,
  };
}

/**
 * Reuse an instance a previous owner started and left running (an agent that exited with
 * onExit 'leave' keeps its units, so their systemd keeps running): found by its record in
 * `baseDir/name`, checked to be alive, to be systemd, to live in its own cgroup, and to answer.
 * Null when there is nothing to attach to. stop() works as for a started instance (by PID).
 */
export async function attachPrivateSystemd(opts: PrivateSystemdOptions): Promise<PrivateSystemd | null> {
  const dir = resolve(opts.baseDir, opts.name);
  let rec: InstanceRecord;
  try {
    rec = JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as InstanceRecord;
  } catch {
    return null;
  }
  const alive = () => {
    try {
      const comm = readFileSync(`/proc/${rec.pid}/comm`, 'utf8').trim();
      const cg = readFileSync(`/proc/${rec.pid}/cgroup`, 'utf8');
      return (
        comm === 'systemd' &&
        cg.includes(`/gitfleet-${opts.name}/`) &&
        !/\) Z /.test(readFileSync(`/proc/${rec.pid}/stat`, 'utf8'))
      );
    } catch {
      return false;
    }
  };
  if (!alive()) {
    // Its systemd is gone: clean what it left so a new one can start under the same name.
    await killCgroupProcesses(rec.cgroupDirs);
    removeCgroups(rec.cgroupDirs, rec.cgroupParents);
    rmSync(join(dir, RECORD), { force: true });
    return null;
  }
  const runtimeDir = join(dir, 'rt');
  const busAddress = `unix:path=${join(runtimeDir, 'bus')}`;
  const started = Date.now();
  await waitRunning(busAddress, opts.readyTimeoutMs ?? 5_000, () => (alive() ? null : 'exited while attaching'));
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (alive()) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  };
  let stopping: Promise<void> | null = null;
  return {
    name: opts.name,
    pid: rec.pid,
    dir,
    journalDir: rec.journal ? privateJournalDir(dir) : null,
    runtimeDir,
    busAddress,
    unitDir: join(runtimeDir, 'systemd', 'user'),
    cgroupDirs: rec.cgroupDirs,
    cgroupParents: rec.cgroupParents,
    env: { XDG_RUNTIME_DIR: runtimeDir, DBUS_SESSION_BUS_ADDRESS: busAddress },
    startupMs: Date.now() - started,
    get exited() {
      return !alive();
    },
    stop(o: { timeoutMs?: number } = {}) {
      stopping ??= (async () => {
        if (alive()) {
          try {
            process.kill(rec.pid, 'SIGTERM');
          } catch {
            // already gone
          }
          if (!(await waitGone(o.timeoutMs ?? 10_000))) {
            try {
              process.kill(rec.pid, 'SIGKILL');
            } catch {
              // already gone
            }
            await waitGone(5_000);
          }
        }
        await killCgroupProcesses(rec.cgroupDirs);
        removeCgroups(rec.cgroupDirs, rec.cgroupParents);
        rmSync(join(dir, RECORD), { force: true });
      })();
      return stopping;
    },
  };
}

/** attachPrivateSystemd() when a previous instance still runs, else startPrivateSystemd(). */
export async function startOrAttachPrivateSystemd(
  opts: PrivateSystemdOptions,
): Promise<PrivateSystemd & { attached: boolean }> {
  const found = await attachPrivateSystemd(opts);
  if (found) return Object.assign(found, { attached: true });
  return Object.assign(await startPrivateSystemd(opts), { attached: false });
}

/** Poll (bus socket, then SystemState) until systemd runs; `dead()` says why it never will. */
async function waitRunning(busAddress: string, timeoutMs: number, dead: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const socket = busAddress.slice('unix:path='.length);
  let last = 'its bus socket did not appear';
  let mgr: SystemdManager | null = null;
  try {
    while (Date.now() < deadline) {
      const why = dead();
      if (why) throw new Error(why);
      if (!mgr && existsSync(socket)) {
        try {
          mgr = await SystemdManager.connect(
            { address: busAddress },
            { callTimeoutMs: 2_000, reconnect: false, log: () => {} },
          );
        } catch (e) {
          last = (e as Error).message;
        }
      }
      if (mgr) {
        try {
          const state = await mgr.systemState();
          if (state === 'running' || state === 'degraded') return;
          last = `SystemState is "${state}"`;
        } catch (e) {
          last = (e as Error).message;
          mgr.close();
          mgr = null;
        }
      }
      await sleep(15);
    }
    throw new Error(`not running within ${timeoutMs} ms: ${last}`);
  } finally {
    mgr?.close();
  }
}

function tail(path: string): string {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t ? JSON.stringify(t.slice(-600)) : '(empty)';
  } catch {
    return '(unreadable)';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
