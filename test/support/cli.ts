/**
 * The gitfleet CLI run as a user runs it: a child process of this Node with tsx, colour off, no
 * $GITFLEET_ETCD from the environment unless a test gives one. Asynchronous, so a server in the
 * test's own process (test/support/gitserver.ts) can answer it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import assert from 'node:assert/strict';

export const CLI = resolve('src/cli/main.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function gitfleet(
  args: string[],
  env: Record<string, string | undefined> = {},
  opts: { cwd?: string; input?: string } = {},
): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, NO_COLOR: '1', GITFLEET_ETCD: '', ...env },
      cwd: opts.cwd,
    });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.stdin.end(opts.input ?? '');
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** A long-running gitfleet (up, agent, engine) whose output is collected as it comes. */
export interface CliChild {
  proc: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<number | null>;
  /** SIGINT, then SIGKILL after `ms` if still running; resolves with the exit code. */
  stop(ms?: number): Promise<number | null>;
}

export function spawnGitfleet(args: string[], env: Record<string, string | undefined> = {}): CliChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', GITFLEET_ETCD: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  const kill = () => proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL');
  process.once('exit', kill);
  return {
    proc,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    async stop(ms = 15_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT');
        const t = setTimeout(kill, ms);
        await exited;
        clearTimeout(t);
      }
      process.off('exit', kill);
      return exited;
    },
  };
}

export const noStack = (s: string): void =>
  assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+\)?\n/, `a stack trace was printed:\n${s}`);
