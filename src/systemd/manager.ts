/**
 * systemd's Manager API over D-Bus, for the agent: unit states, unit files, jobs, and the
 * 'unit-state' events made from systemd's signals. The connection itself (match rules,
 * Subscribe(), call timeouts, reconnecting) is src/systemd/connection.ts; names and values of
 * the API are src/systemd/dbus.ts.
 *
 * - JobRemoved can arrive before the StartUnit reply: src/systemd/jobs.ts buffers results by job path.
 * - uint64 values arrive as BigInt and are converted where we return them.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type * as dbus from 'dbus-next';
import { removeFile, writeFileAtomic } from '../util/files.js';
import { mapLimit } from '../util/pool.js';
import {
  SystemdConnection,
  SystemdError,
  SystemdUnavailableError,
  type SystemdBus,
  type SystemdManagerOptions,
} from './connection.js';
import {
  assertPlainUnitName,
  MANAGER_IFACE,
  MANAGER_PATH,
  plain,
  PROPS_IFACE,
  SYSTEMD_NAME,
  TEMPLATE,
  toChanges,
  UNIT_IFACE,
  UNIT_PATH_PREFIX,
  unitObjectPath,
  type UnitFileChange,
} from './dbus.js';
import { statusFromProperties, UNIT_TYPE_IFACES, type UnitStatus } from './status.js';
import { UnitStates, type UnitStateOf } from './unit-states.js';
import { Jobs, type JobResult } from './jobs.js';

export type { UnitStatus } from './status.js';
export { SystemdError, SystemdUnavailableError, type SystemdBus, type SystemdManagerOptions } from './connection.js';
export { unitNameFromObjectPath, unitObjectPath, type UnitFileChange } from './dbus.js';

/** LoadState/ActiveState/SubState of one unit, as systemd reports them. */
export type UnitState = UnitStateOf;

export type { JobResult } from './jobs.js';

/**
 * The part of SystemdManager the Agent uses: the calls it makes and the two events it listens to.
 * (The unit files themselves the agent writes in its own directory: src/agent/unit-dir.ts.)
 * SystemdManager (D-Bus) is the real one; src/systemd/simulated.ts's SimulatedSystemd stands in
 * for it in the scale benchmark, which runs 1,000 agents in one process, and in the agent's unit
 * tests.
 */
export interface AgentSystemd {
  on(event: 'unit-state' | 'resync', listener: (state: UnitState) => void): unknown;
  off(event: 'unit-state' | 'resync', listener: (state: UnitState) => void): unknown;
  listUnits(names?: readonly string[]): Promise<UnitState[]>;
  linkUnitFiles(paths: readonly string[]): Promise<UnitFileChange[]>;
  enableUnitFiles(namesOrPaths: readonly string[]): Promise<{ carriesInstallInfo: boolean; changes: UnitFileChange[] }>;
  disableUnitFiles(names: readonly string[]): Promise<UnitFileChange[]>;
  reload(): Promise<void>;
  /**
   * Of these units, those systemd holds with a definition older than their files: a daemon-reload
   * is due for them. Optional: without it, every changed or removed unit counts as stale.
   */
  staleUnits?(names: readonly string[]): Promise<string[]>;
  startUnit(name: string): Promise<JobResult>;
  stopUnit(name: string): Promise<JobResult>;
  resetFailed(name?: string): Promise<void>;
  /** How a service last ended (health reasons); optional: a simulation may not know. */
  unitFacts?(name: string): Promise<{ result?: string; mainCode?: number; mainStatus?: number; restarts?: number }>;
}

/**
 * Events:
 * - 'unit-state' (state: UnitState): a unit's Load/Active/SubState changed (from PropertiesChanged
 *   signals, coalesced per unit within one event-loop turn, consecutive duplicates dropped).
 * - 'resync' (): signals may have been missed (systemd re-executed, or the connection was rebuilt):
 *   re-read everything you care about.
 * - 'disconnected' (err: Error): the bus connection died; calls fail with SystemdUnavailableError
 *   until it is rebuilt (then 'resync').
 */
export class SystemdManager extends SystemdConnection implements AgentSystemd {
  private readonly jobs: Jobs;
  /** 'unit-state' events from the signals (src/systemd/unit-states.ts). */
  private readonly states = new UnitStates({
    read: (names) => this.listUnits(names),
    closed: () => this.closed,
    emit: (s) => {
      try {
        this.emit('unit-state', s);
      } catch (e) {
        this.log(`systemd: a 'unit-state' listener threw: ${(e as Error).stack ?? e}`);
      }
    },
    failed: (e) => {
      // A dead connection is reported once through 'disconnected' (and 'resync' after it).
      if (!(e instanceof SystemdUnavailableError && this.bus === null))
        this.log(`systemd: reading unit states failed: ${e.message}`);
    },
  });
  private constructor(target: SystemdBus, opts: SystemdManagerOptions) {
    super(target, opts);
    this.jobs = new Jobs(opts.jobTimeoutMs ?? 120_000);
  }

  /** Connect to systemd on `bus`, add match rules and Subscribe(). */
  static async connect(bus: SystemdBus, opts: SystemdManagerOptions = {}): Promise<SystemdManager> {
    const m = new SystemdManager(bus, opts);
    await m.open();
    return m;
  }

  // ---- reading state ----------------------------------------------------------------------

  /** The manager's SystemState: "initializing", "starting", "running", "degraded", "stopping", ... */
  async systemState(): Promise<string> {
    return String(await this.getProp(MANAGER_PATH, MANAGER_IFACE, 'SystemState'));
  }

  /**
   * States of units. With `names`, exactly those units in that order (a unit systemd has no file
   * for comes back with load "not-found"); without, every unit systemd has loaded.
   */
  async listUnits(names?: readonly string[]): Promise<UnitState[]> {
    // A template (foo@.service) has no unit object, and ListUnitsByNames refuses the whole call
    // for one: ask for templates' unit files instead.
    const templates = names?.filter((n) => TEMPLATE.test(n)) ?? [];
    const plain = names?.filter((n) => !TEMPLATE.test(n));
    const [rows] = plain
      ? plain.length === 0
        ? [[]]
        : await this.managerCall('ListUnitsByNames', 'as', [plain])
      : await this.managerCall('ListUnits');
    const out: UnitState[] = (rows as unknown[][]).map((r) => ({
      name: String(r[0]),
      load: String(r[2]),
      active: String(r[3]),
      sub: String(r[4]),
    }));
    for (const t of templates) out.push(await this.templateState(t));
    return out;
  }

  /** A template is "loaded" while systemd finds its file (linked or enabled); it is never active. */
  private async templateState(name: string): Promise<UnitState> {
    let load = 'not-found';
    try {
      const [state] = await this.managerCall('GetUnitFileState', 's', [name]);
      if (typeof state === 'string' && state !== 'bad' && state !== 'masked' && state !== 'masked-runtime')
        load = 'loaded';
    } catch (e) {
      if (!(e instanceof SystemdError)) throw e;
    }
    return { name, load, active: 'inactive', sub: 'dead' };
  }

  /** One unit's state (load "not-found" when systemd has no file for it). */
  async getUnitState(name: string): Promise<UnitState> {
    const [s] = await this.listUnits([name]);
    if (!s) throw new SystemdError(`ListUnitsByNames(${name}) returned nothing`, 'gitfleet.NoAnswer');
    return s;
  }

  /**
   * Properties of a unit (e.g. ['MainPID', 'NRestarts', 'ActiveEnterTimestamp'] on
   * org.freedesktop.systemd1.Service / .Unit). uint64 values become numbers when they fit in
   * 2^53 (timestamps in µs do), else decimal strings.
   */
  async getUnitProperties(name: string, iface: string, props: readonly string[]): Promise<Record<string, unknown>> {
    const path = unitObjectPath(name);
    const out: Record<string, unknown> = {};
    for (const p of props) out[p] = await this.getProp(path, iface, p);
    return out;
  }

  /**
   * What `systemctl status` shows of a unit: its states, main PID, since when it is in its state,
   * how its main process last ended (ExecMainCode/Status), the Result, NRestarts, its Slice.
   * Two GetAll calls (the Unit interface and the unit type's own, e.g. Service).
   */
  async unitStatus(name: string): Promise<UnitStatus> {
    let path: string;
    try {
      [path] = (await this.managerCall('GetUnit', 's', [name])) as [string];
    } catch (e) {
      if (!(e instanceof SystemdError && e.type === 'org.freedesktop.systemd1.NoSuchUnit')) throw e;
      [path] = (await this.managerCall('LoadUnit', 's', [name])) as [string];
    }
    const all = async (iface: string) => {
      const [props] = await this.call(SYSTEMD_NAME, path, PROPS_IFACE, 'GetAll', 's', [iface]);
      return plain(props) as Record<string, unknown>;
    };
    const unit = await all(UNIT_IFACE);
    const typeIface = UNIT_TYPE_IFACES[name.slice(name.lastIndexOf('.') + 1)];
    const own = typeIface ? await all(`org.freedesktop.systemd1.${typeIface}`) : {};
    return statusFromProperties(name, unit, own);
  }

  /**
   * How a service last ended, for health reasons (src/agent/health.ts): its Result, how its main
   * process ended (1 exited, 2 killed, 3 dumped, with the status or signal) and NRestarts.
   */
  async unitFacts(
    name: string,
  ): Promise<{ result?: string; mainCode?: number; mainStatus?: number; restarts?: number }> {
    if (!name.endsWith('.service')) return {};
    const st = await this.unitStatus(name);
    const code =
      st.execMainCode === 'exited' ? 1 : st.execMainCode === 'killed' ? 2 : st.execMainCode === 'dumped' ? 3 : 0;
    return {
      ...(st.result ? { result: st.result } : {}),
      ...(code ? { mainCode: code, mainStatus: st.execMainStatus } : {}),
      restarts: st.nRestarts,
    };
  }

  /** The manager's own cgroup (its ControlGroup property), under which its units' cgroups are. */
  async managerCgroup(): Promise<string> {
    return String(await this.getProp(MANAGER_PATH, MANAGER_IFACE, 'ControlGroup'));
  }

  /** True when the unit's file changed on disk since systemd loaded it (a reload is due). */
  async needsDaemonReload(name: string): Promise<boolean> {
    let path: string;
    try {
      [path] = (await this.managerCall('GetUnit', 's', [name])) as [string];
    } catch (e) {
      if (e instanceof SystemdError && e.type === 'org.freedesktop.systemd1.NoSuchUnit') return false;
      throw e;
    }
    try {
      return Boolean(await this.getProp(path, UNIT_IFACE, 'NeedDaemonReload'));
    } catch (e) {
      // Forgotten between the two calls: it reads its file afresh when next loaded.
      if (e instanceof SystemdError && e.type === 'org.freedesktop.DBus.Error.UnknownObject') return false;
      throw e;
    }
  }

  /**
   * Of these units, those whose file changed (or went) since systemd loaded them. A unit systemd
   * no longer holds (it forgets a stopped unit nothing refers to) is not stale: it reads the file
   * afresh when it is next loaded, with no daemon-reload. A template always counts as stale: the
   * instances made from it (a socket's per-connection services, say) hold its old definition.
   */
  async staleUnits(names: readonly string[]): Promise<string[]> {
    const stale = await mapLimit(names, 64, async (n) => TEMPLATE.test(n) || (await this.needsDaemonReload(n)));
    return names.filter((_, i) => stale[i]);
  }

  // ---- unit files -------------------------------------------------------------------------

  /**
   * Write `dir/name` atomically (temp file + rename) so systemd never reads half a file. For
   * callers that drive systemd directly; the agent keeps its files in src/agent/unit-dir.ts.
   */
  async writeUnitFile(dir: string, name: string, content: string): Promise<string> {
    assertPlainUnitName(name);
    await mkdir(dir, { recursive: true });
    const path = join(dir, name);
    await writeFileAtomic(path, content, { mode: 0o644 });
    return path;
  }

  /** Remove `dir/name`; a file that is already gone is fine. */
  async removeUnitFile(dir: string, name: string): Promise<void> {
    assertPlainUnitName(name);
    await removeFile(join(dir, name));
  }

  /** Link unit files (absolute paths) into systemd's runtime unit directory, replacing old links. */
  async linkUnitFiles(paths: readonly string[]): Promise<UnitFileChange[]> {
    if (paths.length === 0) return [];
    const [changes] = await this.managerCall('LinkUnitFiles', 'asbb', [paths, true, true]);
    return toChanges(changes);
  }

  /**
   * Enable units at runtime as their [Install] section says (WantedBy= links and so on).
   * `carriesInstallInfo` is false when the files have no [Install] section (nothing to enable).
   */
  async enableUnitFiles(
    namesOrPaths: readonly string[],
  ): Promise<{ carriesInstallInfo: boolean; changes: UnitFileChange[] }> {
    if (namesOrPaths.length === 0) return { carriesInstallInfo: false, changes: [] };
    const [carries, changes] = await this.managerCall('EnableUnitFiles', 'asbb', [namesOrPaths, true, true]);
    return { carriesInstallInfo: Boolean(carries), changes: toChanges(changes) };
  }

  /**
   * Remove every runtime link to these units: [Install] links and the link made by linkUnitFiles.
   * A unit that has no link left (e.g. /run was wiped by a reboot) is not an error.
   */
  async disableUnitFiles(names: readonly string[]): Promise<UnitFileChange[]> {
    if (names.length === 0) return [];
    try {
      const [changes] = await this.managerCall('DisableUnitFiles', 'asb', [names, true]);
      return toChanges(changes);
    } catch (e) {
      if (!(e instanceof SystemdError && e.type === 'org.freedesktop.systemd1.NoSuchUnit')) throw e;
    }
    // systemd refused the batch because some name has no unit file link: one by one, skipping those.
    const out: UnitFileChange[] = [];
    for (const n of names) {
      try {
        const [changes] = await this.managerCall('DisableUnitFiles', 'asb', [[n], true]);
        out.push(...toChanges(changes));
      } catch (e) {
        if (!(e instanceof SystemdError && e.type === 'org.freedesktop.systemd1.NoSuchUnit')) throw e;
      }
    }
    return out;
  }

  /** daemon-reload; resolves when systemd has finished reloading (it answers only then). */
  async reload(): Promise<void> {
    await this.managerCall('Reload');
  }

  // ---- jobs -------------------------------------------------------------------------------

  /** Start a unit and wait for its job: 'done' when it started, 'failed', 'dependency', ... */
  startUnit(name: string, mode = 'replace'): Promise<JobResult> {
    return this.runJob('StartUnit', name, mode);
  }

  stopUnit(name: string, mode = 'replace'): Promise<JobResult> {
    return this.runJob('StopUnit', name, mode);
  }

  restartUnit(name: string, mode = 'replace'): Promise<JobResult> {
    return this.runJob('RestartUnit', name, mode);
  }

  /** Forget a unit's failed state (or every unit's, without a name). */
  async resetFailed(name?: string): Promise<void> {
    if (name === undefined) await this.managerCall('ResetFailed');
    else await this.managerCall('ResetFailedUnit', 's', [name]);
  }

  private runJob(method: string, name: string, mode: string): Promise<JobResult> {
    return this.jobs.run(`${method}(${name})`, async () => {
      const [job] = (await this.managerCall(method, 'ss', [name, mode])) as [string];
      return job;
    });
  }

  // ---- signals ----------------------------------------------------------------------------

  protected failJobs(e: Error): void {
    this.jobs.failAll(e);
  }

  protected forgetSignals(): void {
    this.states.forget();
  }

  protected onSignal(msg: dbus.Message): void {
    if (msg.interface === PROPS_IFACE && msg.member === 'PropertiesChanged') {
      if (!msg.path.startsWith(UNIT_PATH_PREFIX)) return;
      const [iface, changed, invalidated] = msg.body as [string, Record<string, dbus.Variant>, string[]];
      if (iface === UNIT_IFACE) this.states.changed(msg.path, changed, invalidated);
    } else if (msg.interface === MANAGER_IFACE && msg.member === 'Reloading') {
      this.states.reloading();
    } else if (msg.interface === MANAGER_IFACE && msg.member === 'UnitRemoved') {
      this.states.removed((msg.body as [string, string])[1]);
    } else if (msg.interface === MANAGER_IFACE && msg.member === 'JobRemoved') {
      const [, job, , result] = msg.body as [number, string, string, JobResult];
      this.jobs.removed(job, result);
    }
  }
}
