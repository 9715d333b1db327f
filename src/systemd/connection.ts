/**
 * The D-Bus connection to systemd's manager (dbus-next), the part of SystemdManager that is about
 * the bus and not about units: connect, add the match rules once, Subscribe(), call with a
 * timeout, and rebuild a dead connection with backoff.
 *
 * Written against the known traps of dbus-next and systemd's API:
 * - No proxy objects at all: every call is a raw method-call message with an explicit signature,
 *   so there is no Introspect round trip and no proxy `.on()` that leaks match rules.
 * - The match rules are added once per connection and signals are routed from `bus.on('message')`.
 * - Manager.Subscribe() is called on every connection and again whenever systemd's unique bus name
 *   changes (daemon-reexec): without it systemd emits no unit signals to us.
 * - Every call has a timeout; a dead connection rejects what is pending and is rebuilt with
 *   backoff; 'error' is always handled. Listener exceptions are caught and logged.
 */
import { EventEmitter } from 'node:events';
import * as dbus from 'dbus-next';
import { TransientError } from '../errors.js';
import { Backoff } from '../util/backoff.js';
import {
  DBUS_NAME,
  DBUS_PATH,
  describeArgs,
  MANAGER_IFACE,
  MANAGER_PATH,
  PROPS_IFACE,
  plain,
  SIGNAL,
  SYSTEMD_NAME,
  UNIT_IFACE,
  type DbusBody,
} from './dbus.js';

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

/**
 * A connection to systemd's manager. Subclasses get every signal but NameOwnerChanged (which this
 * class handles) in onSignal, are told to fail their job waiters when the connection dies, and to
 * forget what signals told them when they may have missed some (then 'resync' is emitted).
 * Emits 'disconnected' (err) when the connection died and 'resync' once it is back.
 */
export abstract class SystemdConnection extends EventEmitter {
  protected bus: Bus | null = null;
  protected closed = false;
  private readonly pending = new Set<PendingCall>();
  private systemdOwner = '';
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Reconnect delays: 100 ms doubling to 5 s, from the start again after each disconnect. */
  private readonly reconnectDelay = new Backoff({ minMs: 100, maxMs: 5000 });
  private readonly callTimeoutMs: number;
  private readonly reconnect: boolean;
  protected readonly log: (msg: string) => void;

  protected constructor(
    private readonly target: SystemdBus,
    opts: SystemdManagerOptions,
  ) {
    super();
    this.callTimeoutMs = opts.callTimeoutMs ?? 25_000;
    this.reconnect = opts.reconnect ?? true;
    this.log = opts.log ?? ((m) => console.error(m));
    // An EventEmitter without an 'error' listener throws; we never emit 'error', but be safe.
    this.on('error', (e: Error) => this.log(`systemd: ${e.message}`));
  }

  /** A signal from systemd (PropertiesChanged, JobRemoved, ...). */
  protected abstract onSignal(msg: dbus.Message): void;
  /** The connection died: reject whatever waits for a job. */
  protected abstract failJobs(e: Error): void;
  /** Signals may have been missed: forget what they said. */
  protected abstract forgetSignals(): void;

  /** A description of the bus for messages. */
  get busDescription(): string {
    const t = this.target;
    return typeof t === 'string' ? `the ${t} bus` : t.address;
  }

  // ---- connection -------------------------------------------------------------------------

  protected async open(): Promise<void> {
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
        if (msg.type === SIGNAL) this.dispatch(msg);
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
    this.failJobs(e);
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

  protected resync(): void {
    this.forgetSignals();
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
  protected call(
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
  protected async subscribe(): Promise<void> {
    try {
      await this.managerCall('Subscribe');
    } catch (e) {
      if (!(e instanceof SystemdError && e.type === 'org.freedesktop.systemd1.AlreadySubscribed')) throw e;
    }
  }

  protected managerCall(member: string, signature = '', body: unknown[] = [], timeoutMs?: number): Promise<DbusBody> {
    return this.call(SYSTEMD_NAME, MANAGER_PATH, MANAGER_IFACE, member, signature, body, timeoutMs);
  }

  protected async getProp(path: string, iface: string, prop: string): Promise<unknown> {
    const [v] = await this.call(SYSTEMD_NAME, path, PROPS_IFACE, 'Get', 'ss', [iface, prop]);
    return plain((v as dbus.Variant).value);
  }

  private dispatch(msg: dbus.Message): void {
    if (msg.interface === DBUS_NAME && msg.member === 'NameOwnerChanged') {
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
      return;
    }
    this.onSignal(msg);
  }
}
