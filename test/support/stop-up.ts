/**
 * Ending a `gitfleet up` child process a test started: Ctrl-C (SIGINT), SIGKILL if it does not exit
 * in time, and then, if up did not get to stop its private systemd, stop that by the PID it
 * recorded under `<state dir>/systemd`.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { attachPrivateSystemd } from '../../src/systemd/private.js';

export async function stopUp(child: ChildProcess | null, systemdBase: string | null, ms = 15_000): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, ms))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  if (systemdBase && existsSync(systemdBase)) {
    for (const name of readdirSync(systemdBase))
      await (await attachPrivateSystemd({ baseDir: systemdBase, name }))?.stop();
  }
}
