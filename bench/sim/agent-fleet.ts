/**
 * bench/scale's simulated machines, spread over child processes (bench/sim/agent-slice.ts in
 * bench/sim/component.ts): machine i runs in process i * procs / machines, each process with its
 * own etcd client(s), so that a thousand agents no longer share the benchmark's own thread with
 * its observer. Their figures come back over IPC and are summed here.
 */
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { Child, type Report } from './child.js';
import type { SliceFigures } from './agent-slice.js';

export type SliceReport = Report & SliceFigures;

/** A slice's figures summed over the processes, and: */
export interface FleetFigures extends Omit<SliceFigures, 'agents'> {
  /** Summed over the processes: peak RSS (VmHWM) and CPU time (ms). */
  vmHWM: number;
  cpuMs: number;
}

export class AgentFleet {
  readonly procs: Child[] = [];

  constructor(opts: {
    endpoints: string;
    prefix: string;
    machines: number;
    procs: number;
    clients: number;
    dir: string;
    timeoutMs: number;
    /** Niceness of the agents' processes (0: as the rest). */
    nice?: number;
  }) {
    const n = Math.min(opts.procs, opts.machines);
    for (let p = 0; p < n; p++) {
      const from = Math.floor((p * opts.machines) / n);
      const to = Math.floor(((p + 1) * opts.machines) / n);
      const argv = ['agents', opts.endpoints, opts.prefix, String(from), String(to - from), join(opts.dir, 'agents')];
      const child = new Child(`agents-${p}`, [...argv, String(opts.clients)], opts.timeoutMs);
      if (opts.nice && child.proc.pid) setPriority(child.proc.pid, opts.nice);
      this.procs.push(child);
    }
  }

  /** Every agent of every process registered. */
  async started(): Promise<void> {
    await Promise.all(this.procs.map((c) => c.wait((m) => m.type === 'started')));
  }

  async idle(): Promise<void> {
    await Promise.all(this.procs.map((c) => c.ask('idle')));
  }

  async figures(): Promise<FleetFigures> {
    const rs = await Promise.all(this.procs.map((c) => c.report<SliceReport>()));
    const sum = (f: (r: SliceReport) => number) => rs.reduce((n, r) => n + f(r), 0);
    return {
      passes: sum((r) => r.passes),
      warns: sum((r) => r.warns),
      errors: sum((r) => r.errors),
      samples: rs.flatMap((r) => r.samples).slice(0, 8),
      simActive: sum((r) => r.simActive),
      writes: {
        puts: sum((r) => r.writes.puts),
        deletes: sum((r) => r.writes.deletes),
        txns: sum((r) => r.writes.txns),
        ranges: sum((r) => r.writes.ranges),
        bytes: sum((r) => r.writes.bytes ?? 0),
      },
      vmHWM: sum((r) => r.vmHWM),
      cpuMs: sum((r) => (r.cpu.user + r.cpu.system) / 1000),
      loopDelayMaxMs: Math.max(0, ...rs.map((r) => r.loopDelayMaxMs)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((c) => c.stop()));
  }
}
