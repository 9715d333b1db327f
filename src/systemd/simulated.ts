/**
 * SIMULATION, for bench/scale.ts and the agent's unit tests (test/agent/): an in-memory stand-in
 * for systemd's manager, so that 1,000 real Agents (src/agent/agent.ts) fit in one process and
 * the agent's parts can be tested without systemd. It implements AgentSystemd, the part of
 * SystemdManager the Agent calls, with the behaviour the Agent relies on:
 *   - linkUnitFiles makes a unit known (load "loaded"); disableUnitFiles forgets its links; the
 *     files themselves are the agent's (its unit directory), never read here;
 *   - startUnit flips a linked unit to active (sub "running", "waiting" for timers, "listening"
 *     for sockets) and resolves 'done'; a unit that is not linked fails like systemd's NoSuchUnit;
 *   - stopUnit flips it to inactive/dead; resetFailed clears "failed";
 *   - 'unit-state' is emitted for every change, coalesced per unit within one event-loop turn and
 *     with consecutive duplicates dropped, as SystemdManager does with PropertiesChanged signals.
 * No processes run; it measures gitfleet's own cost, not systemd's.
 */
import { EventEmitter } from 'node:events';
import { SystemdError, type AgentSystemd, type JobResult, type UnitFileChange, type UnitState } from './manager.js';

export interface SimulatedSystemdOptions {
  /** Delay of each job (start/stop) in ms; 0 (default) resolves on the next turn of the event loop. */
  jobMs?: number;
}

interface SimUnit {
  load: string;
  active: string;
  sub: string;
}

export class SimulatedSystemd extends EventEmitter implements AgentSystemd {
  private readonly units = new Map<string, SimUnit>();
  private readonly emitted = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private flushScheduled = false;
  /** Calls made, per method: the benchmark prints them. */
  readonly calls: Record<string, number> = {};

  constructor(private readonly opts: SimulatedSystemdOptions = {}) {
    super();
  }

  private count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  private tick(): Promise<void> {
    const ms = this.opts.jobMs ?? 0;
    return new Promise((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));
  }

  private state(name: string): UnitState {
    const u = this.units.get(name);
    return u ? { name, ...u } : { name, load: 'not-found', active: 'inactive', sub: 'dead' };
  }

  private set(name: string, u: SimUnit): void {
    this.units.set(name, u);
    this.dirty.add(name);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const names = [...this.dirty];
      this.dirty.clear();
      for (const n of names) {
        const s = this.state(n);
        const key = `${s.load}/${s.active}/${s.sub}`;
        if (this.emitted.get(n) === key) continue;
        this.emitted.set(n, key);
        this.emit('unit-state', s);
      }
    });
  }

  async listUnits(names?: readonly string[]): Promise<UnitState[]> {
    this.count('listUnits');
    return (names ?? [...this.units.keys()]).map((n) => this.state(n));
  }

  async linkUnitFiles(paths: readonly string[]): Promise<UnitFileChange[]> {
    this.count('linkUnitFiles');
    const changes: UnitFileChange[] = [];
    for (const p of paths) {
      const name = p.slice(p.lastIndexOf('/') + 1);
      const u = this.units.get(name);
      if (u?.load !== 'loaded')
        this.set(name, { load: 'loaded', active: u?.active ?? 'inactive', sub: u?.sub ?? 'dead' });
      changes.push({ type: 'symlink', file: `/run/systemd/user/${name}`, destination: p });
    }
    return changes;
  }

  async enableUnitFiles(
    namesOrPaths: readonly string[],
  ): Promise<{ carriesInstallInfo: boolean; changes: UnitFileChange[] }> {
    this.count('enableUnitFiles');
    return { carriesInstallInfo: namesOrPaths.length > 0, changes: [] };
  }

  async disableUnitFiles(names: readonly string[]): Promise<UnitFileChange[]> {
    this.count('disableUnitFiles');
    for (const n of names) {
      const u = this.units.get(n);
      if (u) this.set(n, { load: 'not-found', active: u.active, sub: u.sub });
    }
    return [];
  }

  async reload(): Promise<void> {
    this.count('reload');
    await this.tick();
    // Units whose links are gone and that are not running are forgotten, as systemd garbage-collects them.
    for (const [n, u] of this.units) if (u.load === 'not-found' && u.active === 'inactive') this.units.delete(n);
  }

  async startUnit(name: string): Promise<JobResult> {
    this.count('startUnit');
    const u = this.units.get(name);
    if (u?.load !== 'loaded') throw new SystemdError(`Unit ${name} not found.`, 'org.freedesktop.systemd1.NoSuchUnit');
    await this.tick();
    const sub = name.endsWith('.timer') ? 'waiting' : name.endsWith('.socket') ? 'listening' : 'running';
    this.set(name, { load: u.load, active: 'active', sub });
    return 'done';
  }

  async stopUnit(name: string): Promise<JobResult> {
    this.count('stopUnit');
    const u = this.units.get(name);
    if (!u) throw new SystemdError(`Unit ${name} not loaded.`, 'org.freedesktop.systemd1.NoSuchUnit');
    await this.tick();
    this.set(name, { load: u.load, active: 'inactive', sub: 'dead' });
    return 'done';
  }

  async resetFailed(name?: string): Promise<void> {
    this.count('resetFailed');
    for (const [n, u] of this.units) {
      if ((name === undefined || n === name) && u.active === 'failed')
        this.set(n, { load: u.load, active: 'inactive', sub: 'dead' });
    }
  }

  /** For the benchmark: units active right now. */
  activeUnits(): string[] {
    return [...this.units].filter(([, u]) => u.active === 'active').map(([n]) => n);
  }
}
