/**
 * The cgroups of a private systemd instance (see private.ts): made under this process's own
 * cgroup in every hierarchy that exists, emptied by SIGKILL and removed when the instance stops.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Make `leaf` under this process's cgroup in each hierarchy that exists and return the
 * directories. The memory controller's path is used for the v1 hierarchies (the recipe's choice:
 * on these hosts the process's systemd/unified paths are the root). Refuses a cgroup that still
 * holds processes (an instance of that name is running).
 *
 * `parents` are the ancestors that exist only to hold such instances: those that are not this
 * process's own cgroup or one of its ancestors in that hierarchy (in systemd/unified, the mirrored
 * memory path). stop() removes them when empty; another instance still using one keeps it busy.
 */
export function makeCgroups(leaf: string): { dirs: string[]; parents: string[] } {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const byHierarchy = new Map<string, string>();
  for (const l of lines) {
    const [, ctrls, path] = l.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (ctrls === undefined || path === undefined) continue;
    for (const c of ctrls.split(','))
      byHierarchy.set(c === 'name=systemd' ? 'systemd' : c === '' ? 'unified' : c, path);
  }
  const plan: Array<{ root: string; dir: string; own: string; under: string }> = [];
  const memory = byHierarchy.get('memory');
  if (memory !== undefined) {
    for (const h of ['systemd', 'unified', 'memory']) {
      const root = `/sys/fs/cgroup/${h}`;
      if (existsSync(join(root, 'cgroup.procs')))
        plan.push({ root, dir: join(root, memory, leaf), own: byHierarchy.get(h) ?? '/', under: memory });
    }
  } else if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    // Pure cgroup v2: one tree.
    const own = byHierarchy.get('unified') ?? '/';
    plan.push({ root: '/sys/fs/cgroup', dir: join('/sys/fs/cgroup', own, leaf), own, under: own });
  }
  if (plan.length === 0) {
    throw new Error(
      'private systemd: found no cgroup hierarchy to give it its own cgroup (/sys/fs/cgroup/{systemd,unified,memory} ' +
        'or cgroup2)',
    );
  }
  const dirs = plan.map((p) => p.dir);
  for (const d of dirs) {
    const procs = readProcs(d);
    if (procs.length > 0) {
      throw new Error(
        `private systemd: cgroup ${d} already holds processes (${procs.join(', ')}): an instance named ` +
          `"${leaf.replace(/^gitfleet-/, '')}" is running`,
      );
    }
  }
  const parents: string[] = [];
  for (const p of plan) {
    // Ancestors of the leaf below the root, deepest first, that are not (ancestors of) our own cgroup.
    for (let rel = p.under; rel !== '/' && rel !== ''; rel = dirname(rel)) {
      if (p.own === rel || p.own.startsWith(rel + '/')) break;
      parents.push(join(p.root, rel));
    }
  }
  const made: string[] = [];
  try {
    for (const d of dirs) {
      // Another instance's stop() may remove an empty shared parent between mkdir's steps: retry.
      for (let attempt = 0; ; attempt++) {
        try {
          mkdirSync(d, { recursive: true });
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
        }
      }
      made.push(d);
    }
  } catch (e) {
    removeCgroups(made, parents);
    throw new Error(
      `private systemd: cannot create cgroup: ${(e as Error).message} (needs root and a writable /sys/fs/cgroup)`,
    );
  }
  return { dirs, parents };
}

/** PIDs in a cgroup directory and all below it. */
function readProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    let text: string;
    try {
      text = readFileSync(join(d, 'cgroup.procs'), 'utf8');
    } catch {
      return;
    }
    for (const l of text.split('\n')) if (l.trim()) out.push(Number(l));
    for (const e of safeReaddir(d)) if (isDir(join(d, e))) walk(join(d, e));
  };
  walk(dir);
  return out;
}

/** SIGKILL every process now in the cgroups; false when they were empty. */
function killCgroupRound(dirs: readonly string[]): boolean {
  const pids = [...new Set(dirs.flatMap(readProcs))];
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return pids.length > 0;
}

/** SIGKILL every process left in the cgroups (units systemd did not stop) and wait briefly. */
export async function killCgroupProcesses(dirs: string[]): Promise<void> {
  for (let round = 0; round < 50 && killCgroupRound(dirs); round++) await sleep(20);
}

/**
 * Remove cgroup directories with everything below them, deepest first (systemd makes
 * sub-cgroups: init.scope, app.slice, ...), then the `parents` that are empty (another instance
 * may still use one). Synchronous so it also works from a process 'exit' handler. Returns the
 * directories of `dirs` that could not be removed.
 */
export function removeCgroups(dirs: readonly string[], parents: readonly string[] = []): string[] {
  const failed: string[] = [];
  const rm = (d: string) => {
    for (const e of safeReaddir(d)) if (isDir(join(d, e))) rm(join(d, e));
    try {
      rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(d);
    }
  };
  for (const d of dirs) rm(d);
  for (const p of parents) {
    try {
      rmdirSync(p);
    } catch {
      // in use by another instance, or already gone
    }
  }
  return failed;
}

/** Synchronously SIGKILL every process in these cgroups (for 'exit' handlers). */
export function killCgroupProcessesSync(dirs: readonly string[]): void {
  for (let round = 0; round < 100 && killCgroupRound(dirs); round++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
