/**
 * The executor: runs a task list (src/agent/tasks.ts) against systemd in fleet's order, and reads
 * what is on the machine for the planner.
 *
 *   unload  stop the unit if it runs, remove its links ([Install] ones and the runtime link) in one
 *           DisableUnitFiles, remove its file
 *   load    write the files, then one LinkUnitFiles (for files not linked yet) and one
 *           EnableUnitFiles (for files with an [Install] section) for all of them
 *   stop    `concurrency` jobs at a time; then failed units about to be started are reset
 *   reload  one daemon-reload for the pass, only if systemd still holds an outdated definition of a
 *           changed or removed unit (it forgets a stopped unit that nothing refers to, and reads
 *           its file afresh when it starts it): without it start would use the stale definition
 *   start   `concurrency` jobs at a time
 *
 * A task that fails is logged and its unit's later tasks are skipped; the caller gets the
 * failures (and retries the pass). A failed daemon-reload fails the whole list.
 */
import { TransientError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentSystemd } from '../systemd/manager.js';
import { mapLimit } from '../util/pool.js';
import type { UnitContent } from './content.js';
import type { DriftRepair } from './drift.js';
import type { AgentMetrics } from './metrics.js';
import type { AgentRecord } from './record.js';
import type { Reporter } from './reporter.js';
import { isUp, type ActualAgentUnit, type AgentTask } from './tasks.js';
import type { UnitDir } from './unit-dir.js';

export interface ExecutorOptions {
  systemd: AgentSystemd;
  unitDir: UnitDir;
  /** Read for what was last applied; unloaded units are forgotten in it. */
  record: AgentRecord;
  /** Parallel systemd jobs per phase. */
  concurrency: number;
  log: Logger;
  /** Told of each drift repair made, and of each unit unloaded. */
  drift: Pick<DriftRepair, 'noteRepair' | 'forget'>;
  /** Told what systemd says of each unit listed, and of each unit unloaded. */
  reporter: Pick<Reporter, 'observe' | 'forget'>;
  /** Told how long each task took (from the start of its phase) and whether it failed. */
  metrics?: Pick<AgentMetrics, 'taskDone'>;
}

/** For a load: the content to write, or undefined when the right file is on disk already (only its link is missing). */
export type BodyOf = (unit: string) => UnitContent | undefined;

/** Unit files written at once in a pass. */
const FILE_WRITES = 32;

export class Executor {
  constructor(private readonly o: ExecutorOptions) {}

  /** What is on the machine for every unit with a file in the unit directory. */
  async readActual(): Promise<Map<string, ActualAgentUnit>> {
    const { unitDir, record } = this.o;
    const actual = new Map<string, ActualAgentUnit>();
    for (const s of await this.o.systemd.listUnits(unitDir.names())) {
      this.o.reporter.observe(s);
      const applied = record.applied(s.name);
      actual.set(s.name, {
        hash: unitDir.hashOf(s.name) ?? '',
        load: s.load,
        active: s.active,
        sub: s.sub,
        ...(applied ? { applied } : {}),
      });
    }
    return actual;
  }

  /** Read the states of the units these tasks touched that still have a file (a load emits no signal). */
  async readStates(tasks: readonly AgentTask[]): Promise<void> {
    const touched = [...new Set(tasks.flatMap((t) => (t.unit && this.o.unitDir.has(t.unit) ? [t.unit] : [])))];
    if (touched.length > 0) for (const s of await this.o.systemd.listUnits(touched)) this.o.reporter.observe(s);
  }

  /**
   * Unload every unit with a file here that `keep` does not name (back after the lease was lost,
   * or stopping with onExit=stop) and save the record; throws when one could not be unloaded.
   */
  async unloadAllBut(keep: ReadonlyMap<string, unknown>, reason: string): Promise<void> {
    const units = this.o.unitDir
      .names()
      .filter((u) => !keep.has(u))
      .sort();
    if (units.length === 0) return;
    this.o.log.info('unloading units', { units: units.join(', '), reason });
    const tasks: AgentTask[] = units.map((unit) => ({ type: 'unload', unit, reason }));
    const failures = await this.execute(tasks, await this.readActual(), () => undefined);
    await this.o.record.save();
    if (failures.size > 0) throw new TransientError(`could not unload ${[...failures.keys()].join(', ')} (${reason})`);
  }

  /** Run the tasks in order; returns the units whose tasks failed. */
  async execute(
    tasks: readonly AgentTask[],
    actual: ReadonlyMap<string, ActualAgentUnit>,
    bodyOf: BodyOf,
  ): Promise<Map<string, Error>> {
    const { systemd: sys, unitDir, concurrency, log } = this.o;
    const failures = new Map<string, Error>();
    const fail = (unit: string, e: unknown) => {
      failures.set(unit, e as Error);
      log.warn('task failed', { unit, error: e as Error });
    };
    const of = (type: AgentTask['type']) => tasks.filter((t) => t.type === type);
    if (tasks.length > 0)
      log.debug('plan', { tasks: tasks.map((t) => `${t.type}${t.unit ? ' ' + t.unit : ''}`).join(', ') });

    const m = this.o.metrics;
    let since = performance.now();
    /** Each phase's duration in ms, for the debug log (where a pass's time goes). */
    const phaseMs: Record<string, number> = {};
    const done = (ts: readonly AgentTask[]) => {
      const now = performance.now();
      if (m) for (const t of ts) m.taskDone(t.type, (now - since) / 1000, !failures.has(t.unit ?? ''));
      if (ts[0]) phaseMs[ts[0].type] = Math.round((now - since) * 10) / 10;
      since = now;
    };
    const unloads = of('unload');
    if (unloads.length > 0) {
      await mapLimit(unloads, concurrency, async (t) => {
        const unit = t.unit!;
        try {
          if (isUp(actual.get(unit)?.active ?? 'inactive')) await sys.stopUnit(unit);
        } catch (e) {
          fail(unit, e);
        }
      });
      const names = unloads.map((t) => t.unit!).filter((u) => !failures.has(u));
      try {
        await sys.disableUnitFiles(names);
        for (const unit of names) {
          await unitDir.remove(unit);
          this.o.record.forget(unit);
          this.o.drift.forget(unit);
          this.o.reporter.forget(unit);
          log.info('unloaded', { unit, reason: unloads.find((t) => t.unit === unit)?.reason });
        }
      } catch (e) {
        for (const u of names) fail(u, e);
      }
    }

    done(unloads);
    const loads = of('load');
    // Files written side by side (each is its own temp file + rename): hundreds of units in one
    // pass otherwise wait on each other's file system calls.
    const toLink = await mapLimit(loads, FILE_WRITES, async (t) => {
      const unit = t.unit!;
      try {
        const body = bodyOf(unit);
        // A rewritten file keeps its link; a file systemd cannot find is always linked again.
        const linked = body !== undefined && unitDir.has(unit) && (await unitDir.fileLinked(unit));
        if (body) await unitDir.write(unit, body);
        else if (!unitDir.has(unit)) throw new Error(`no content to load ${unit} from`);
        return linked ? null : unitDir.path(unit);
      } catch (e) {
        fail(unit, e);
        return null;
      }
    });
    const paths = toLink.filter((p): p is string => p !== null);
    const loaded = loads.map((t) => t.unit!).filter((u) => !failures.has(u));
    if (loaded.length > 0) {
      try {
        if (paths.length > 0) await sys.linkUnitFiles(paths);
        const install = loaded.filter((u) => unitDir.get(u)?.install);
        if (install.length > 0) await sys.enableUnitFiles(install);
        for (const t of loads) if (!failures.has(t.unit!)) log.info('loaded', { unit: t.unit, reason: t.reason });
      } catch (e) {
        for (const u of loaded) fail(u, e);
      }
    }

    done(loads);
    // The old version is stopped under its own definition, before systemd reads the new one.
    await mapLimit(of('stop'), concurrency, async (t) => {
      const unit = t.unit!;
      if (failures.has(unit)) return;
      try {
        const r = await sys.stopUnit(unit);
        log.info('stopped', { unit, reason: t.reason, result: r });
      } catch (e) {
        fail(unit, e);
      }
    });
    // A failed unit is reset now rather than just before its start: so reset, systemd can forget
    // it, and then needs no reload to read its new file.
    await mapLimit(of('start'), concurrency, async (t) => {
      if (!t.failed || failures.has(t.unit!)) return;
      try {
        await sys.resetFailed(t.unit!);
      } catch (e) {
        fail(t.unit!, e);
      }
    });

    done(of('stop'));
    const reload = of('reload')[0];
    if (reload) {
      const changed = [...unloads, ...loads].map((t) => t.unit!);
      const stale = sys.staleUnits ? await sys.staleUnits(changed) : changed;
      if (stale.length > 0) {
        await sys.reload();
        log.info('daemon-reload', { reason: reload.reason, stale: stale.join(', ') });
      } else log.debug('no daemon-reload needed: systemd holds none of the changed units', { reason: reload.reason });
      done([reload]);
    }

    await mapLimit(of('start'), concurrency, async (t) => {
      const unit = t.unit!;
      if (failures.has(unit)) return;
      try {
        if (t.drift) this.o.drift.noteRepair(unit);
        const r = await sys.startUnit(unit);
        if (r === 'done') log.info('started', { unit, reason: t.reason });
        else log.warn('start did not succeed', { unit, reason: t.reason, result: r });
      } catch (e) {
        fail(unit, e);
      }
    });
    done(of('start'));
    if (tasks.length > 0) log.debug('tasks done', { ms: phaseMs });
    return failures;
  }
}
