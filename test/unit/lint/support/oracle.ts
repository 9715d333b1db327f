/**
 * systemd as the oracle for the linter's tests: `systemd-analyze verify` (docs/lint.md gives the
 * invocation) for whole unit files, `systemctl --root=DIR enable` for [Install] sections (verify does
 * not evaluate them), and a line prober that finds which `Key=value` lines systemd's parser refuses.
 * Every call works in its own temp directory, which it removes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface OracleRun {
  /** Exit status of the command. */
  code: number;
  /** stdout + stderr, one finding per line. */
  lines: string[];
}

/** Runs a tool to completion; never rejects (a failure is its exit code and output). */
export function runTool(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<OracleRun> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 1
        : 0;
      const lines = `${stdout}\n${stderr}`
        .split('\n')
        .map((l) => l.trimEnd())
        .filter((l) => l !== '');
      resolve({ code, lines });
    });
  });
}

/**
 * `SYSTEMD_UNIT_PATH= systemd-analyze verify --man=no --recursive-errors=no NAME` in `dir`.
 * With `deps: true`, without `--recursive-errors=no`: only then does systemd parse the unit names
 * of Requires=/After=/... (with `=no` it skips dependencies entirely); that run also reports
 * host-dependent job failures (no sysinit.target in an empty unit path), so callers should keep only
 * its `file:LINE:` findings.
 */
export function verify(dir: string, name: string, opts: { deps?: boolean } = {}): Promise<OracleRun> {
  const args = opts.deps ? ['verify', '--man=no', name] : ['verify', '--man=no', '--recursive-errors=no', name];
  return runTool('systemd-analyze', args, {
    cwd: dir,
    env: { ...process.env, SYSTEMD_UNIT_PATH: '', SYSTEMD_LOG_COLOR: '0', TZ: 'UTC' },
  });
}

/**
 * `systemctl --root=ROOT enable NAME` with the unit (and its siblings) under ROOT/etc/systemd/system:
 * refuses invalid WantedBy=/RequiredBy=/Alias=/Also= names and cross-type aliases.
 */
export async function enable(files: string[], name: string | string[]): Promise<OracleRun> {
  const root = await mkdtemp(join(tmpdir(), 'gitfleet-enable-'));
  try {
    const dir = join(root, 'etc', 'systemd', 'system');
    await mkdir(dir, { recursive: true });
    for (const f of files) await copyFile(f, join(dir, basename(f)));
    return await runTool('systemctl', [`--root=${root}`, '--no-reload', 'enable', ...[name].flat()]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Run `fn` over `items` with at most `limit` at a time, keeping order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A scratch unit for probing one section's keys: its file name, and the lines that make it loadable. */
const PROBE_HOST: Record<string, { name: string; head: string[] }> = {
  Unit: { name: 'probe.service', head: ['[Service]', 'ExecStart=/bin/true', '[Unit]'] },
  Install: { name: 'probe.service', head: ['[Service]', 'ExecStart=/bin/true', '[Install]'] },
  Service: { name: 'probe.service', head: ['[Service]', 'ExecStart=/bin/true'] },
  Socket: { name: 'probe.socket', head: ['[Socket]', 'ListenStream=127.0.0.1:1'] },
  Timer: { name: 'probe.timer', head: ['[Timer]', 'OnActiveSec=1'] },
  Path: { name: 'probe.path', head: ['[Path]', 'PathExists=/tmp'] },
  Mount: { name: 'tmp-probe.mount', head: ['[Mount]', 'What=tmpfs', 'Where=/tmp/probe'] },
  Automount: { name: 'tmp-probe.automount', head: ['[Automount]', 'Where=/tmp/probe'] },
  Swap: { name: 'dev-null.swap', head: ['[Swap]', 'What=/dev/null'] },
  Slice: { name: 'probe.slice', head: ['[Slice]'] },
  Scope: { name: 'probe.scope', head: ['[Scope]'] },
};

/**
 * Which of `assignments` (each `Key=value`, in section `section`) systemd's parser complains about.
 * Returns one boolean per assignment. A fatal parse error stops systemd's reading, so the prober
 * re-runs with the assignments after the fatal one.
 */
export async function probeAssignments(section: string, assignments: readonly string[]): Promise<boolean[]> {
  const host = PROBE_HOST[section];
  if (!host) throw new Error(`no probe host for section [${section}]`);
  const flagged = new Array<boolean>(assignments.length).fill(false);
  const dir = await mkdtemp(join(tmpdir(), 'gitfleet-probe-'));
  try {
    let from = 0;
    while (from < assignments.length) {
      const lines = [...host.head, ...assignments.slice(from)];
      await writeFile(join(dir, host.name), lines.join('\n') + '\n');
      const r = await verify(dir, host.name, { deps: true });
      let last = -1;
      for (const l of r.lines) {
        const m = /^\S*?:(\d+): /.exec(l);
        if (!m) continue;
        const idx = Number(m[1]) - 1 - host.head.length;
        if (idx >= 0) {
          flagged[from + idx] = true;
          last = Math.max(last, idx);
        }
      }
      if (r.lines.some((l) => l.includes('fatal error')) && last >= 0) from += last + 1;
      else break;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return flagged;
}
