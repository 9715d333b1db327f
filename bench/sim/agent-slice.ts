/**
 * A slice of bench/scale's simulated machines, run in one child process (bench/sim/component.ts,
 * role `agents`): real Agents (src/agent/agent.ts), each driving its own SimulatedSystemd
 * (src/systemd/simulated.ts), sharing this process's etcd client(s). Machine i is `sim-NNNN` with
 * the metadata bench/scale always gave it, so a slice of a fleet is the same machines in any
 * number of processes.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { SimulatedSystemd } from '../../src/systemd/simulated.js';
import { countingLogger } from './counting-logger.js';
import { CountingStore, type WriteCounts } from './counting-store.js';

/**
 * An agents' shared client carries every simulated machine of its process through that process's
 * thread: a call waits behind the other agents' work here, not in etcd. The store's deadlines
 * (1.5 s a call) are sized for one agent per machine; with them, a burst of agents timing out
 * together trips the client's breaker and the retries come back as one burst again, which
 * measures the simulation, not gitfleet. The controller and the engine keep the defaults.
 */
export const SHARED_DEADLINES = { callTimeoutMs: 15_000, watchCreateTimeoutMs: 30_000 };

/** What a slice reports beside a child's common figures. */
export interface SliceFigures {
  agents: number;
  passes: number;
  warns: number;
  errors: number;
  samples: string[];
  /** Units active in the slice's simulated systemds. */
  simActive: number;
  writes: WriteCounts;
  /**
   * The longest the process's event loop was held up since the previous figures(), ms: the
   * agents' timers (their lease keep-alives among them) waited that long.
   */
  loopDelayMaxMs: number;
}

export class AgentSlice {
  private readonly agents: Agent[] = [];
  private readonly sims: SimulatedSystemd[] = [];
  private readonly stores: CountingStore[] = [];
  private readonly log = countingLogger();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });

  constructor(opts: {
    endpoints: string[];
    prefix: string;
    from: number;
    count: number;
    dir: string;
    clients: number;
  }) {
    this.loopDelay.enable();
    for (let i = 0; i < opts.clients; i++) {
      const inner = new EtcdStore({ endpoints: opts.endpoints, prefix: opts.prefix, ...SHARED_DEADLINES });
      this.stores.push(new CountingStore(inner));
    }
    for (let i = opts.from; i < opts.from + opts.count; i++) {
      const sim = new SimulatedSystemd();
      const id = `sim-${String(i).padStart(4, '0')}`;
      this.sims.push(sim);
      this.agents.push(
        new Agent({
          store: this.stores[i % opts.clients]!,
          machineId: id,
          metadata: { region: i % 2 ? 'eu' : 'us', rack: `r${i % 40}` },
          address: `10.1.${i >> 8}.${i & 255}`,
          systemd: sim,
          unitDir: join(opts.dir, id, 'units'),
          stateDir: join(opts.dir, id),
          log: this.log,
        }),
      );
    }
  }

  /** Start (register) every agent, 50 at a time. */
  async start(): Promise<void> {
    for (let i = 0; i < this.agents.length; i += 50)
      await Promise.all(this.agents.slice(i, i + 50).map((a) => a.start()));
  }

  /** Resolves when every agent is idle (no pass running or due, reports written). */
  async idle(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.idle()));
  }

  figures(): SliceFigures {
    const writes = this.stores
      .map((x) => x.writes())
      .reduce((a, b) => ({
        puts: a.puts + b.puts,
        deletes: a.deletes + b.deletes,
        txns: a.txns + b.txns,
        ranges: a.ranges + b.ranges,
        bytes: (a.bytes ?? 0) + (b.bytes ?? 0),
      }));
    return {
      agents: this.agents.length,
      passes: this.agents.reduce((n, a) => n + a.passes, 0),
      warns: this.log.warns,
      errors: this.log.errors,
      samples: this.log.samples,
      simActive: this.sims.reduce((n, x) => n + x.activeUnits().length, 0),
      writes,
      loopDelayMaxMs: this.takeLoopDelay(),
    };
  }

  private takeLoopDelay(): number {
    const max = this.loopDelay.max / 1e6;
    this.loopDelay.reset();
    return Number.isFinite(max) ? max : 0;
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop().catch(() => {})));
    await Promise.all(this.stores.map((x) => x.close().catch(() => {})));
  }
}
