/**
 * bench/scale's side of its child processes (bench/sim/component.ts, started with
 * child_process.fork under tsx): the messages a child sent, waiting for one, asking for its
 * report and stopping it. BENCH_CPU_PROF=DIR makes each child write V8 CPU profiles into DIR/<name>.
 * Children still running when the benchmark exits are killed (by their pid).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WriteCounts } from './counting-store.js';

/** What every child reports when asked (agents' processes add their own figures). */
export interface Report {
  writes: WriteCounts;
  memory: NodeJS.MemoryUsage;
  vmHWM: number;
  vmRSS: number;
  cpu: NodeJS.CpuUsage;
  /** Warnings and errors logged (the first few of them). */
  warns: number;
  errors: number;
  samples: string[];
}

type Message = Record<string, any>;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children)
    if (c.pid)
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

export class Child {
  readonly proc: ChildProcess;
  readonly messages: Message[] = [];
  private waiters: Array<{ pred: (m: Message) => boolean; resolve: (m: Message) => void }> = [];

  constructor(
    readonly name: string,
    argv: string[],
    private readonly timeoutMs: number,
  ) {
    const prof = process.env.BENCH_CPU_PROF;
    this.proc = fork(join(import.meta.dirname, 'component.ts'), argv, {
      execArgv: ['--import', 'tsx', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${join(prof, name)}`] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.proc);
    this.proc.on('exit', () => children.delete(this.proc));
    this.proc.on('message', (m: Message) => {
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  /** The first message (already received or to come) that matches. */
  wait(pred: (m: Message) => boolean, timeoutMs = this.timeoutMs): Promise<Message> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.name}: no matching message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  /** Send `type` and wait for the child's answer of the same type. */
  async ask<T = Message>(type: string): Promise<T> {
    const n = this.messages.length;
    this.proc.send({ type });
    const m = await this.wait((x) => x.type === type && this.messages.indexOf(x) >= n);
    return m as T;
  }

  report<T extends Report = Report>(): Promise<T> {
    return this.ask<T>('report');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ type: 'stop' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  }
}
