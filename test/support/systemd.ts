/**
 * Test harness for real systemd user instances (src/systemd/private.ts does the starting, as
 * works without systemd as PID 1), plus an oracle that checks results independently of
 * gitfleet's D-Bus code:
 * `systemctl --user` and `busctl --user` run against the instance, and /proc for processes.
 *
 * Every instance is stopped by PID when its test ends (or when the test file's process exits,
 * synchronously: SIGKILL of systemd and of anything left in its cgroups, then the cgroup
 * directories are removed). Never by name.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  killCgroupProcessesSync,
  removeCgroups,
  startPrivateSystemd,
  type PrivateSystemd,
} from '../../src/systemd/private.js';

export type { PrivateSystemd };

const live = new Set<PrivateSystemd>();
let baseDir: string | null = null;
let counter = 0;

function base(): string {
  if (!baseDir) {
    baseDir = mkdtempSync(join(tmpdir(), 'gitfleet-systemd-'));
    process.on('exit', cleanupSync);
    // A test run interrupted by a signal skips 'exit' handlers unless the signal ends the process through exit().
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        cleanupSync();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
      });
    }
  }
  return baseDir;
}

/** Last resort at process exit: SIGKILL survivors by PID, empty and remove their cgroups and dirs. */
function cleanupSync(): void {
  for (const inst of live) {
    try {
      process.kill(inst.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    killCgroupProcessesSync(inst.cgroupDirs);
    removeCgroups(inst.cgroupDirs, inst.cgroupParents);
  }
  live.clear();
  if (baseDir) rmSync(baseDir, { recursive: true, force: true });
}

/** Anything with node:test's `after` hook shape (a TestContext or the module-level `after`). */
export type AfterHook = { after(fn: () => Promise<void> | void): void } | ((fn: () => Promise<void> | void) => void);

/**
 * Start a private systemd instance for a test. With `cleanup` (a TestContext `t`, or node:test's
 * `after` called at suite level) it is stopped when that ends; without, call stopSystemd() from
 * your own after hook. Either way the process 'exit' handler kills what is left.
 */
export async function startSystemd(cleanup?: AfterHook, opts: { baseDir?: string } = {}): Promise<PrivateSystemd> {
  const name = `t${process.pid}-${++counter}`;
  // `baseDir`: somewhere else than the temp dir (a unit with PrivateTmp= must see its state dir).
  // The caller removes it; the instance is still stopped here.
  if (opts.baseDir) base();
  const inst = await startPrivateSystemd({ baseDir: opts.baseDir ?? base(), name });
  live.add(inst);
  if (typeof cleanup === 'function') cleanup(() => stopSystemd(inst));
  else cleanup?.after(() => stopSystemd(inst));
  return inst;
}

/** Stop an instance by PID (SIGTERM, SIGKILL after 5 s) and remove its cgroups. */
export async function stopSystemd(inst: PrivateSystemd): Promise<void> {
  await inst.stop({ timeoutMs: 5_000 });
  live.delete(inst);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string>): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 1
        : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** `systemctl --user --no-pager ARGS` against the instance (the oracle; exit code not checked). */
export function systemctl(inst: PrivateSystemd, ...args: string[]): Promise<CommandResult> {
  return run('systemctl', ['--user', '--no-pager', ...args], { XDG_RUNTIME_DIR: inst.runtimeDir });
}

/** `systemctl --user is-active UNIT` output: "active", "inactive", "failed", ... */
export async function isActive(inst: PrivateSystemd, unit: string): Promise<string> {
  return (await systemctl(inst, 'is-active', unit)).stdout.trim();
}

/** `systemctl --user show -p PROP --value UNIT`. */
export async function showProperty(inst: PrivateSystemd, unit: string, prop: string): Promise<string> {
  const r = await systemctl(inst, 'show', '-p', prop, '--value', unit);
  if (r.code !== 0) throw new Error(`systemctl show ${unit}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * A property read through busctl (a second, independent D-Bus client): e.g.
 * busctlProperty(inst, 'x.service', 'org.freedesktop.systemd1.Unit', 'ActiveState') -> 'active'.
 * Returns busctl's value text without the type letter (strings unquoted).
 */
export async function busctlProperty(inst: PrivateSystemd, unit: string, iface: string, prop: string): Promise<string> {
  const env = { DBUS_SESSION_BUS_ADDRESS: inst.busAddress };
  const u = await run(
    'busctl',
    [
      '--user',
      'call',
      'org.freedesktop.systemd1',
      '/org/freedesktop/systemd1',
      'org.freedesktop.systemd1.Manager',
      'LoadUnit',
      's',
      unit,
    ],
    env,
  );
  if (u.code !== 0) throw new Error(`busctl LoadUnit ${unit}: ${u.stderr.trim()}`);
  const path = u.stdout.trim().replace(/^o\s+"?|"$/g, '');
  const r = await run('busctl', ['--user', 'get-property', 'org.freedesktop.systemd1', path, iface, prop], env);
  if (r.code !== 0) throw new Error(`busctl get-property ${unit} ${prop}: ${r.stderr.trim()}`);
  return r.stdout
    .trim()
    .replace(/^\S+\s+/, '')
    .replace(/^"(.*)"$/, '$1');
}

/** The unit's MainPID (0 when it has none). */
export async function mainPid(inst: PrivateSystemd, unit: string): Promise<number> {
  return Number(await showProperty(inst, unit, 'MainPID'));
}

/** Is `pid` a live process inside this instance's cgroup tree (so it belongs to this instance)? */
export function pidAliveIn(inst: PrivateSystemd, pid: number): boolean {
  if (!pid) return false;
  let cg: string;
  try {
    cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie is not running.
    if (/\) Z /.test(stat)) return false;
  } catch {
    return false;
  }
  const leaf = `/gitfleet-${inst.name}/`;
  return cg.split('\n').some((l) => l.includes(leaf));
}

/** Is the unit's MainPID a live process of this instance? */
export async function mainPidAlive(inst: PrivateSystemd, unit: string): Promise<boolean> {
  return pidAliveIn(inst, await mainPid(inst, unit));
}

/** Poll `check` until it returns true (every 10 ms), or fail with `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A process's command line, arguments joined by spaces ('' when it is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * Wait until `pid` runs a command matching `re`. A Type=simple start job is done as soon as systemd
 * has forked, before the child has exec'd the command: read the command line only once it has.
 */
export async function waitCommand(pid: number, re: RegExp, timeoutMs = 3_000): Promise<void> {
  await eventually(
    `process ${pid} running ${re} (now: ${JSON.stringify(cmdline(pid))})`,
    () => re.test(cmdline(pid)),
    timeoutMs,
  );
}
