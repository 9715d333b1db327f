/** Run an external tool (ssh-keygen, gpg) with input on stdin, without blocking the event loop. */
import { spawn } from 'node:child_process';
import { FatalError } from '../errors.js';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The tool is not installed: nothing gitfleet can retry its way out of. */
export class ToolMissingError extends FatalError {
  override name = 'ToolMissingError';
}

/**
 * Run `cmd args`, write `input` to its stdin, collect its output. Killed (by its PID) after
 * `timeoutMs`; a missing binary is a ToolMissingError naming what installs it.
 */
export function runTool(
  cmd: string,
  args: string[],
  opts: { input?: Buffer | string; timeoutMs?: number; env?: NodeJS.ProcessEnv; install?: string } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT')
        reject(new ToolMissingError(`${cmd} is not installed${opts.install ? ` (${opts.install})` : ''}`));
      else reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut)
        return reject(new Error(`${cmd} ${args[0] ?? ''} did not finish within ${opts.timeoutMs ?? 30_000} ms`));
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // A tool that exits before reading all its input closes the pipe: not an error of ours.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
