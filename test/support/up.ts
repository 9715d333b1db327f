/**
 * `gitfleet up` as a child process, the way a newcomer runs it: the CLI from source on a real
 * repository, with its own state dir. stop() sends SIGINT (Ctrl-C), SIGKILLs after 10 s, then stops
 * by PID any private systemd it left; the exit hook SIGKILLs a child a test left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { attachPrivateSystemd } from '../../src/systemd/private.js';
import { gitfleetArgv, PROJECT_ROOT } from './cluster.js';

export interface UpProcess {
  child: ChildProcess;
  /** Everything up wrote to stderr so far. */
  stderr(): string;
  /** Where up's private systemd instances live (state dir + /systemd). */
  instanceBase: string;
  /** Resolves with the exit code once up has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;

export function spawnUp(repo: string, stateDir: string, args: string[] = []): UpProcess {
  const child = spawn(
    process.execPath,
    gitfleetArgv(['up', '--repo', repo, '--systemd', 'private', '--state-dir', stateDir, ...args]),
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  live.add(child);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of live) if (c.exitCode === null) c.kill('SIGKILL');
    });
  }
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      live.delete(child);
      r(code);
    }),
  );
  const instanceBase = join(stateDir, 'systemd');
  return {
    child,
    stderr: () => err,
    instanceBase,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      if (!existsSync(instanceBase)) return;
      for (const name of readdirSync(instanceBase))
        await (await attachPrivateSystemd({ baseDir: instanceBase, name }))?.stop();
    },
  };
}
