/**
 * systemd jobs as promises: a StartUnit/StopUnit/RestartUnit call returns a job's object path at
 * once, and the job's end comes later as a JobRemoved signal with its result. A signal may arrive
 * before the call that made the job has returned its path, so results are buffered while any job
 * call is in flight.
 */
import { SystemdUnavailableError } from './connection.js';

/** How a systemd job ended (the `result` of JobRemoved). */
export type JobResult = 'done' | 'canceled' | 'timeout' | 'failed' | 'dependency' | 'skipped' | 'invalid';

interface JobWaiter {
  resolve(result: JobResult): void;
  reject(err: Error): void;
}

export class Jobs {
  private readonly waiters = new Map<string, JobWaiter>();
  /** JobRemoved results that arrived before the call that created the job returned. */
  private readonly early = new Map<string, JobResult>();
  private callsInFlight = 0;

  constructor(private readonly timeoutMs: number) {}

  /** Make a job with `call` (it returns the job's path) and wait for its end. */
  async run(what: string, call: () => Promise<string>): Promise<JobResult> {
    this.callsInFlight++;
    try {
      return await this.wait(await call(), what);
    } finally {
      // Results are buffered only while some job call may still need them.
      if (--this.callsInFlight === 0) this.early.clear();
    }
  }

  /** A JobRemoved signal. */
  removed(job: string, result: JobResult): void {
    const w = this.waiters.get(job);
    if (w) {
      this.waiters.delete(job);
      w.resolve(result);
    } else if (this.callsInFlight > 0) {
      this.early.set(job, result);
    }
  }

  /** The connection died: every job waited for fails with `e`. */
  failAll(e: Error): void {
    for (const w of this.waiters.values()) w.reject(e);
    this.waiters.clear();
    this.early.clear();
  }

  private wait(job: string, what: string): Promise<JobResult> {
    const early = this.early.get(job);
    if (early !== undefined) {
      this.early.delete(job);
      return Promise.resolve(early);
    }
    return new Promise<JobResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(job);
        reject(new SystemdUnavailableError(`${what}: job ${job} did not finish within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiters.set(job, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }
}
