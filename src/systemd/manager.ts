/**
 * systemd's Manager API over D-Bus (dbus-next), for the agent.
 *
 * Written against the known traps of dbus-next and systemd's API:
 * - No proxy objects at all: every call is a raw method-call message with an explicit signature,
 *   so there is no Introspect round trip and no proxy `.on()` that leaks match rules.
 * - Three match rules are added once per connection (PropertiesChanged under the unit path
 *   namespace, the Manager's JobRemoved, NameOwnerChanged of systemd's bus name) and signals are
 *   routed from `bus.on('message')`.
 * - Manager.Subscribe() is called on every connection and again whenever systemd's unique bus name
 *   changes (daemon-reexec): without it systemd emits no unit signals to us.
 * - Every call has a timeout; a dead connection rejects what is pending and is rebuilt with
 *   backoff; 'error' is always handled. Listener exceptions are caught and logged.
 * - JobRemoved can arrive before the StartUnit reply: job results are buffered by job path.
 * - uint64 values arrive as BigInt and are converted where we return them.
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as dbus from 'dbus-next';
import { TransientError } from '../errors.js';
import { removeFile, writeFileAtomic } from '../util/files.js';
import { Backoff } from '../util/backoff.js';
import { statusFromProperties, UNIT_TYPE_IFACES, type UnitStatus } from './status.js';

export type { UnitStatus } from './status.js';

const SYSTEMD_NAME = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER_IFACE = 'org.freedesktop.systemd1.Manager';
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const UNIT_PATH_PREFIX = '/org/freedesktop/systemd1/unit/';
const PROPS_IFACE = 'org.freedesktop.DBus.Properties';
const DBUS_NAME = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';
/** dbus-next's MessageType.SIGNAL (the enum is not exported as a value in its typings). */
const SIGNAL = 4;
/** A template name (foo@.service): it has no unit object of its own. */
const TEMPLATE = /^[^@]+@\.[a-z]+$/;

/**
 * PropertiesChanged only for the Unit interface (arg0): systemd sends one for each of a unit's
 * interfaces on every change (Service, Socket, ...: ~40 values each to unmarshal), and the
 * agent reads only the Unit one. Reloading and UnitRemoved tell when a unit's LoadState may have
 * changed: it is never in a PropertiesChanged.
 */
const MATCH_RULES = [
  `type='signal',sender='${SYSTEMD_NAME}',interface='${PROPS_IFACE}',member='PropertiesChanged',` +
    `path_namespace='/org/freedesktop/systemd1/unit',arg0='${UNIT_IFACE}'`,
  `type='signal',sender='${SYSTEMD_NAME}',interface='${MANAGER_IFACE}',member='JobRemoved',path='${MANAGER_PATH}'`,
  `type='signal',sender='${SYSTEMD_NAME}',interface='${MANAGER_IFACE}',member='Reloading',path='${MANAGER_PATH}'`,
  `type='signal',sender='${SYSTEMD_NAME}',interface='${MANAGER_IFACE}',member='UnitRemoved',path='${MANAGER_PATH}'`,
  `type='signal',sender='${DBUS_NAME}',interface='${DBUS_NAME}',member='NameOwnerChanged',arg0='${SYSTEMD_NAME}'`,
];

/** LoadState/ActiveState/SubState of one unit, as systemd reports them. */

/** A D-Bus reply body: dbus-next types it only at run time (by the call's signature). */
// biome-ignore lint/suspicious/noExplicitAny: values are typed by the D-Bus signature, checked where read
type DbusBody = any[];

export interface UnitState {
  name: string;
  load: string;
  active: string;
  sub: string;
}

/** How a systemd job ended (the `result` of JobRemoved). */
export type JobResult = 'done' | 'canceled' | 'timeout' | 'failed' | 'dependency' | 'skipped' | 'invalid';

/** One change systemd made to unit files/links (LinkUnitFiles, EnableUnitFiles, DisableUnitFiles). */
export interface UnitFileChange {
  type: string;
  file: string;
  destination: string;
}

/** Which bus to reach systemd on: the system bus, the user's session bus, or an explicit address. */
export type SystemdBus = 'system' | 'session' | { address: string };

export interface SystemdManagerOptions {
  /** Timeout of each D-Bus call in ms (default 25000, D-Bus's own default). */
  callTimeoutMs?: number;
  /** How long startUnit/stopUnit/restartUnit wait for their job to finish, in ms (default 120000). */
  jobTimeoutMs?: number;
  /** Rebuild the connection when it dies (default true). */
  reconnect?: boolean;
  /** Where to report problems that have no caller to throw to (default console.error). */
  log?: (msg: string) => void;
}

/** A D-Bus error returned by systemd (or the bus), with its D-Bus error name in `type`. */
export class SystemdError extends Error {
  override name = 'SystemdError';
  constructor(
    message: string,
    /** D-Bus error name, e.g. org.freedesktop.systemd1.NoSuchUnit. */
    readonly type: string,
  ) {
    super(message);
  }
}

/** systemd could not be reached or did not answer in time: state is unchanged or unknown. */
export class SystemdUnavailableError extends TransientError {
  override name = 'SystemdUnavailableError';
}

type Bus = dbus.MessageBus;

interface PendingCall {
  reject(err: Error): void;
}

interface JobWaiter {
  resolve(result: JobResult): void;
  reject(err: Error): void;
}

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
export class SystemdManager extends EventEmitter implements AgentSystemd {
  private bus: Bus | null = null;
  private closed = false;
  private readonly pending = new Set<PendingCall>();
  private readonly jobWaiters = new Map<string, JobWaiter>();
  /** JobRemoved results that arrived before the call that created the job returned. */
  private readonly jobResults = new Map<string, JobResult>();
  private jobCallsInFlight = 0;
  private systemdOwner = '';
  /** Last state emitted per unit name (to drop duplicate emissions). */
  private readonly emitted = new Map<string, UnitState>();
  /** Per unit object path: what this turn's PropertiesChanged signals said. */
  private readonly dirty = new Map<string, Partial<UnitState>>();
  /**
   * Per unit object path: its LoadState as last read. Signals never carry it; it holds until the
   * unit is removed (UnitRemoved) or systemd reloads (Reloading), so a signal costs no read.
   */
  private readonly loadStates = new Map<string, string>();
  private flushScheduled = false;
  /** The flush in flight: flushes run one after another, so states are emitted in order. */
  private flushing: Promise<void> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Reconnect delays: 100 ms doubling to 5 s, from the start again after each disconnect. */
  private readonly reconnectDelay = new Backoff({ minMs: 100, maxMs: 5000 });
  private readonly callTimeoutMs: number;
  private readonly jobTimeoutMs: number;
  private readonly reconnect: boolean;
  private readonly log: (msg: string) => void;

  private constructor(
    private readonly target: SystemdBus,
    opts: SystemdManagerOptions,
  ) {
    super();
    this.callTimeoutMs = opts.callTimeoutMs ?? 25_000;
    this.jobTimeoutMs = opts.jobTimeoutMs ?? 120_000;
    this.reconnect = opts.reconnect ?? true;
    this.log = opts.log ?? ((m) => console.error(m));
    // An EventEmitter without an 'error' listener throws; we never emit 'error', but be safe.
    this.on('error', (e: Error) => this.log(`systemd: ${e.message}`));
  }

  /** Connect to systemd on `bus`, add match rules and Subscribe(). */
  static async connect(bus: SystemdBus, opts: SystemdManagerOptions = {}): Promise<SystemdManager> {
    const m = new SystemdManager(bus, opts);
    await m.open();
    return m;
  }

  /** A description of the bus for messages. */
  get busDescription(): string {
    const t = this.target;
    return typeof t === 'string' ? `the ${t} bus` : t.address;
  }

  // ---- connection -------------------------------------------------------------------------

  private async open(): Promise<void> {
    const bus = this.makeBus();
    this.bus = bus;
    const connectTimeout = Math.min(this.callTimeoutMs, 10_000);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new SystemdUnavailableError(`no answer from ${this.busDescription} within ${connectTimeout} ms`)),
          connectTimeout,
        );
        bus.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        bus.once('error', (e: Error) => {
          clearTimeout(timer);
          reject(new SystemdUnavailableError(`cannot connect to ${this.busDescription}: ${e.message}`));
        });
      });
      for (const rule of MATCH_RULES) {
        await this.call(DBUS_NAME, DBUS_PATH, DBUS_NAME, 'AddMatch', 's', [rule]);
      }
      this.systemdOwner = String(
        (await this.call(DBUS_NAME, DBUS_PATH, DBUS_NAME, 'GetNameOwner', 's', [SYSTEMD_NAME]))[0],
      );
      await this.subscribe();
    } catch (e) {
      this.dropBus(bus);
      throw e instanceof SystemdUnavailableError || e instanceof SystemdError
        ? e
        : new SystemdUnavailableError(`cannot connect to ${this.busDescription}: ${(e as Error).message}`);
    }
  }

  private makeBus(): Bus {
    const t = this.target;
    const bus =
      t === 'system'
        ? dbus.systemBus()
        : t === 'session'
          ? dbus.sessionBus()
          : dbus.sessionBus({ busAddress: t.address });
    bus.on('message', (msg: dbus.Message) => {
      try {
        if (msg.type === SIGNAL) this.onSignal(msg);
      } catch (e) {
        this.log(`systemd: signal handler failed: ${(e as Error).stack ?? e}`);
      }
    });
    // 'error' is fatal when unhandled: a dead bus must become a reconnect, not a crash.
    bus.on('error', (e: Error) => this.onConnectionLost(bus, e));
    const stream = (bus as unknown as { _connection?: { stream?: NodeJS.EventEmitter } })._connection?.stream;
    stream?.on('close', () => this.onConnectionLost(bus, new Error('connection closed')));
    return bus;
  }

  private dropBus(bus: Bus): void {
    if (this.bus === bus) this.bus = null;
    try {
      bus.disconnect();
    } catch {
      // already closed
    }
  }

  private onConnectionLost(bus: Bus, err: Error): void {
    if (this.bus !== bus) return;
    this.dropBus(bus);
    const e = new SystemdUnavailableError(`lost the connection to ${this.busDescription}: ${err.message}`);
    for (const p of [...this.pending]) p.reject(e);
    this.pending.clear();
    for (const w of this.jobWaiters.values()) w.reject(e);
    this.jobWaiters.clear();
    this.jobResults.clear();
    if (this.closed) return;
    this.emit('disconnected', e);
    if (this.reconnect) {
      this.reconnectDelay.reset();
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed) return;
      this.open().then(
        () => this.resync(),
        (e: Error) => {
          this.log(`systemd: reconnect to ${this.busDescription} failed: ${e.message}`);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay.next());
    this.reconnectTimer.unref();
  }

  private resync(): void {
    this.emitted.clear();
    this.loadStates.clear();
    this.dirty.clear();
    this.emit('resync');
  }

  /** Close the connection; pending calls fail. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const bus = this.bus;
    if (bus) this.onConnectionLost(bus, new Error('closed by the caller'));
  }

  // ---- calls ------------------------------------------------------------------------------

  /** One method call with a timeout. Returns the reply body. */
  private call(
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature = '',
    body: unknown[] = [],
    timeoutMs = this.callTimeoutMs,
  ): Promise<DbusBody> {
    const bus = this.bus;
    if (!bus) {
      return Promise.reject(new SystemdUnavailableError(`not connected to ${this.busDescription} (calling ${member})`));
    }
    const msg = new dbus.Message({ destination, path, interface: iface, member, signature, body });
    return new Promise<DbusBody>((resolve, reject) => {
      const entry: PendingCall = { reject: (e) => finish(e) };
      const timer = setTimeout(() => {
        // dbus-next keeps the reply handler forever; drop it so late replies are ignored.
        const handlers = (bus as unknown as { _methodReturnHandlers?: Record<number, unknown> })._methodReturnHandlers;
        if (handlers && msg.serial !== null) delete handlers[msg.serial];
        finish(
          new SystemdUnavailableError(`${member} got no answer from ${this.busDescription} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      let done = false;
      const finish = (err: Error | null, reply?: dbus.Message | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(entry);
        if (err) reject(err);
        else resolve(reply?.body ?? []);
      };
      this.pending.add(entry);
      bus.call(msg).then(
        (reply) => finish(null, reply),
        (e: unknown) => {
          if (e instanceof dbus.DBusError) {
            finish(new SystemdError(`${member}(${describeArgs(body)}): ${e.text ?? e.type}`, e.type));
          } else {
            finish(
              new SystemdUnavailableError(`${member} failed on ${this.busDescription}: ${(e as Error)?.message ?? e}`),
            );
          }
        },
      );
    });
  }

  /** Manager.Subscribe(); systemd keeps subscriptions across a re-exec, so "already subscribed" is fine. */
  private async subscribe(): Promise<void> {
    try {
      await this.managerCall('Subscribe');
    } catch (e) {
      if (!(e instanceof SystemdError && e.type === 'org.freedesktop.systemd1.AlreadySubscribed')) throw e;
    }
  }

  private managerCall(member: string, signature = '', body: unknown[] = [], timeoutMs?: number): Promise<DbusBody> {
    return this.call(SYSTEMD_NAME, MANAGER_PATH, MANAGER_IFACE, member, signature, body, timeoutMs);
  }

  private async getProp(path: string, iface: string, prop: string): Promise<unknown> {
    const [v] = await this.call(SYSTEMD_NAME, path, PROPS_IFACE, 'Get', 'ss', [iface, prop]);
    return plain((v as dbus.Variant).value);
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
    const stale = await Promise.all(names.map((n) => TEMPLATE.test(n) || this.needsDaemonReload(n)));
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

  private async runJob(method: string, name: string, mode: string): Promise<JobResult> {
    this.jobCallsInFlight++;
    try {
      const [job] = (await this.managerCall(method, 'ss', [name, mode])) as [string];
      return await this.waitJob(job, `${method}(${name})`);
    } finally {
      // Results are buffered only while some job call may still need them.
      if (--this.jobCallsInFlight === 0) this.jobResults.clear();
    }
  }

  private waitJob(job: string, what: string): Promise<JobResult> {
    const early = this.jobResults.get(job);
    if (early !== undefined) {
      this.jobResults.delete(job);
      return Promise.resolve(early);
    }
    return new Promise<JobResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.jobWaiters.delete(job);
        reject(new SystemdUnavailableError(`${what}: job ${job} did not finish within ${this.jobTimeoutMs} ms`));
      }, this.jobTimeoutMs);
      this.jobWaiters.set(job, {
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

  // ---- signals ----------------------------------------------------------------------------

  private onSignal(msg: dbus.Message): void {
    if (msg.interface === PROPS_IFACE && msg.member === 'PropertiesChanged') {
      if (!msg.path.startsWith(UNIT_PATH_PREFIX)) return;
      const [iface, changed, invalidated] = msg.body as [string, Record<string, dbus.Variant>, string[]];
      if (iface !== UNIT_IFACE) return;
      const d = this.dirty.get(msg.path) ?? {};
      const take = (prop: string, key: 'load' | 'active' | 'sub') => {
        if (changed[prop] !== undefined) d[key] = String(changed[prop].value);
        else if (invalidated.includes(prop)) delete d[key];
      };
      take('LoadState', 'load');
      take('ActiveState', 'active');
      take('SubState', 'sub');
      this.dirty.set(msg.path, d);
      this.scheduleFlush();
    } else if (msg.interface === MANAGER_IFACE && msg.member === 'Reloading') {
      this.loadStates.clear();
    } else if (msg.interface === MANAGER_IFACE && msg.member === 'UnitRemoved') {
      const [, path] = msg.body as [string, string];
      this.loadStates.delete(path);
    } else if (msg.interface === MANAGER_IFACE && msg.member === 'JobRemoved') {
      const [, job, , result] = msg.body as [number, string, string, JobResult];
      const w = this.jobWaiters.get(job);
      if (w) {
        this.jobWaiters.delete(job);
        w.resolve(result);
      } else if (this.jobCallsInFlight > 0) {
        this.jobResults.set(job, result);
      }
    } else if (msg.interface === DBUS_NAME && msg.member === 'NameOwnerChanged') {
      const [name, , owner] = msg.body as [string, string, string];
      if (name !== SYSTEMD_NAME) return;
      const previous = this.systemdOwner;
      this.systemdOwner = owner;
      // '' = systemd left the bus (re-executing); a new owner = it is back: Subscribe again,
      // since whatever it emitted meanwhile is lost to us.
      if (owner !== '' && owner !== previous) {
        this.subscribe().then(
          () => this.resync(),
          (e: Error) => {
            this.log(`systemd: Subscribe after systemd came back failed: ${e.message}`);
            this.resync();
          },
        );
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flushing.then(() =>
        this.flush().catch((e: Error) => {
          // A dead connection is reported once through 'disconnected' (and 'resync' after it).
          if (!(e instanceof SystemdUnavailableError && this.bus === null))
            this.log(`systemd: reading unit states failed: ${e.message}`);
        }),
      );
    });
  }

  /** Emit one 'unit-state' per unit touched this turn; read what the signals left out. */
  private async flush(): Promise<void> {
    if (this.closed) return;
    const batch = [...this.dirty];
    this.dirty.clear();
    const complete: UnitState[] = [];
    const missing: string[] = [];
    for (const [path, d] of batch) {
      const name = unitNameFromObjectPath(path);
      if (name === null) continue;
      d.load ??= this.loadStates.get(path);
      if (d.load !== undefined && d.active !== undefined && d.sub !== undefined) {
        complete.push({ name, load: d.load, active: d.active, sub: d.sub });
      } else {
        missing.push(name);
      }
    }
    if (missing.length > 0) {
      const read = await this.listUnits(missing);
      for (const s of read) this.loadStates.set(unitObjectPath(s.name), s.load);
      complete.push(...read);
    }
    for (const s of complete) {
      const last = this.emitted.get(s.name);
      if (last && last.load === s.load && last.active === s.active && last.sub === s.sub) continue;
      this.emitted.set(s.name, s);
      try {
        this.emit('unit-state', s);
      } catch (e) {
        this.log(`systemd: a 'unit-state' listener threw: ${(e as Error).stack ?? e}`);
      }
    }
  }
}

// ---- helpers (pure) -----------------------------------------------------------------------

/**
 * Unit name -> its D-Bus object path, as systemd's bus_label_escape does it: every byte that is
 * not [A-Za-z0-9] (and a leading digit) becomes `_xx` (two lowercase hex digits).
 */
export function unitObjectPath(name: string): string {
  if (name === '') return UNIT_PATH_PREFIX + '_';
  let out = '';
  const bytes = Buffer.from(name, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    if (alpha || (digit && i > 0)) out += String.fromCharCode(c);
    else out += '_' + c.toString(16).padStart(2, '0');
  }
  return UNIT_PATH_PREFIX + out;
}

/** The inverse of unitObjectPath; null for a path that is not a unit's. */
export function unitNameFromObjectPath(path: string): string | null {
  if (!path.startsWith(UNIT_PATH_PREFIX)) return null;
  const label = path.slice(UNIT_PATH_PREFIX.length);
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const ch = label[i]!;
    if (ch === '_') {
      const hex = label.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** D-Bus values -> plain JS: BigInt to number (or string past 2^53), Variants unwrapped. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint')
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof dbus.Variant) return plain(v.value);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

function toChanges(rows: unknown): UnitFileChange[] {
  return ((rows ?? []) as string[][]).map(([type, file, destination]) => ({
    type: String(type),
    file: String(file),
    destination: String(destination),
  }));
}

function describeArgs(body: unknown[]): string {
  return body
    .map((b) => (typeof b === 'string' ? b : JSON.stringify(b, (_k, x) => (typeof x === 'bigint' ? String(x) : x))))
    .join(', ');
}

/** Unit file names gitfleet writes must be a single path component (no traversal). */
function assertPlainUnitName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`refusing to write unit file "${name}": not a plain file name`);
  }
}
