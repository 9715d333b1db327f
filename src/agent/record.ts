/**
 * The agent's record on disk, stateDir/agent-state.json: what it must remember across restarts.
 *   token:   random, made once per state dir; with the boot id it tells this machine's own earlier
 *            registration (take it over) from another machine's that uses the same id (refuse).
 *   applied: unit -> the desired state last applied to it, which tells "launched -> loaded" (stop
 *            it) from a loaded unit its socket or timer started (leave it).
 * An unreadable record is logged and replaced: the agent then starts afresh.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../util/files.js';
import type { AgentUnitState } from './tasks.js';

const STATES: ReadonlySet<string> = new Set<AgentUnitState>(['loaded', 'launched']);

export class AgentRecord {
  private rec: { token: string; applied: Record<string, AgentUnitState> } = { token: '', applied: {} };
  private dirty = false;
  readonly path: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, 'agent-state.json');
  }

  get token(): string {
    return this.rec.token;
  }

  /** Read the record (a missing one is a first start); make and save a token if it has none. */
  async load(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    try {
      const r: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      const { token, applied } = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
      this.rec = { token: typeof token === 'string' ? token : '', applied: {} };
      if (typeof applied === 'object' && applied !== null) {
        for (const [unit, state] of Object.entries(applied)) {
          if (STATES.has(state as string)) this.rec.applied[unit] = state as AgentUnitState;
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn('agent state file unreadable; starting afresh', { file: this.path, error: e as Error });
      }
    }
    if (!this.rec.token) {
      this.rec.token = randomBytes(12).toString('hex');
      this.dirty = true;
      await this.save();
    }
  }

  /** The desired state last applied to `unit`, if known. */
  applied(unit: string): AgentUnitState | undefined {
    return this.rec.applied[unit];
  }

  setApplied(unit: string, state: AgentUnitState): void {
    if (this.rec.applied[unit] === state) return;
    this.rec.applied[unit] = state;
    this.dirty = true;
  }

  /** The unit was unloaded: nothing to remember about it. */
  forget(unit: string): void {
    if (!(unit in this.rec.applied)) return;
    delete this.rec.applied[unit];
    this.dirty = true;
  }

  /** Write the record if it changed since the last save. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await writeFileAtomic(this.path, JSON.stringify(this.rec, null, 1));
  }
}
