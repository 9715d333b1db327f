/**
 * Registration: the machine record machines/<id>, written under a lease that the store keeps
 * alive. Everything the agent writes is bound to that lease, so a machine that dies vanishes from
 * the cluster after the TTL and the engine moves its units.
 *
 * - A machine id registered by another live agent is refused (AgentError, not retried): two
 *   machines share one id, e.g. a cloned /etc/machine-id. The agent's own earlier registration
 *   (same boot and state dir: the same `instance`) is taken over instead.
 * - Lease lost: the engine may have moved units away meanwhile, and the machine's reports are
 *   gone. The next pass comes back: it re-reads the schedule, unloads what left and only then
 *   registers again, so no unit runs on two machines. A start is a return too.
 */
import { readFile } from 'node:fs/promises';
import { FatalError, retryKind } from '../errors.js';
import type { Logger } from '../log.js';
import { machineKey, type MachineRecord } from '../store/keys.js';
import { decodeMachineRecord, MalformedRecordError } from '../store/records.js';
import type { KeyValue, Lease, Store } from '../store/store.js';
import { sleep } from '../util/backoff.js';
import { VERSION } from '../version.js';
import type { DesiredWatch } from './desired-watch.js';
import type { Executor } from './executor.js';
import type { Reporter } from './reporter.js';

/** The agent cannot run as configured (e.g. its machine id is live elsewhere). Not retried. */
export class AgentError extends FatalError {
  override name = 'AgentError';
}

export interface RegistrationOptions {
  store: Store;
  machineId: string;
  address: string;
  metadata: Record<string, string>;
  ttlSeconds: number;
  log: Logger;
  /** What is scheduled here: read before coming back, re-followed after the lease was lost. */
  desired: Pick<DesiredWatch, 'follow' | 'entries' | 'broken'>;
  /** Unloads what was scheduled away before the agent registers again. */
  executor: Pick<Executor, 'unloadAllBut'>;
  /** Told when the lease, and every report with it, is gone. */
  reporter: Pick<Reporter, 'leaseLost'>;
  /** The lease was lost: run a pass (it comes back). */
  changed(reason: string): void;
}

/**
 * While unregistered, the store is asked again this often, with no backoff: an agent registers as
 * soon as etcd answers, well inside the grace the engine gives a silent machine (one TTL).
 */
export const REREGISTER_EVERY_MS = 250;
/** Attempts to write the record when it changes under us between read and write. */
const WRITE_ATTEMPTS = 5;

export class Registration {
  private current: Lease | null = null;
  private instance = '';
  private ended = false;

  constructor(private readonly o: RegistrationOptions) {}

  /** The lease while registered, else null. */
  get lease(): Lease | null {
    return this.current;
  }

  get registered(): boolean {
    return this.current !== null;
  }

  /**
   * The first registration, as the agent lineage `token` names (with this boot's id): retried
   * every REREGISTER_EVERY_MS while the store is unreachable, until it succeeds or `stopped()`; an AgentError
   * (the id is live elsewhere) is thrown at once. A start is a return too: if this machine's lease
   * expired meanwhile its units may run elsewhere now, so it comes back as after a lost lease.
   */
  async start(token: string, stopped: () => boolean): Promise<void> {
    this.instance = `${await bootId()}/${token}`;
    let logged = false;
    while (!stopped()) {
      try {
        await this.o.desired.follow();
        return await this.comeBack();
      } catch (e) {
        // The id is live elsewhere, or etcd refused the credentials: retrying cannot help.
        if (e instanceof AgentError || retryKind(e) === 'fatal') throw e;
        // Said once, not every 250 ms.
        if (!logged) this.o.log.warn('cannot register yet, retrying', { machine: this.o.machineId, error: e as Error });
        logged = true;
        await sleep(REREGISTER_EVERY_MS, { keepAlive: true });
      }
    }
  }

  /**
   * Unload what was scheduled away while this machine was gone (the schedule must have been read
   * just before), then register; a unit that cannot be unloaded stops the return (retried).
   */
  async comeBack(): Promise<void> {
    await this.o.executor.unloadAllBut(this.o.desired.entries(), 'rescheduled away while the lease was lost');
    await this.register();
  }

  /** Stop following: 'revoke' drops the lease and every key on it now; 'release' lets the TTL run out. */
  async end(how: 'revoke' | 'release'): Promise<void> {
    this.ended = true;
    const lease = this.current;
    this.current = null;
    if (!lease) return;
    // Released, the keys expire after the TTL unless this machine's agent comes back first and takes them over.
    if (how === 'revoke') await lease.revoke().catch(() => {});
    else lease.release();
  }

  /** Grant a lease and write the machine record under it; refuse an id another live agent holds. */
  private async register(): Promise<void> {
    const { store, machineId: id, ttlSeconds: ttl } = this.o;
    const key = machineKey(id);
    const record: MachineRecord = {
      id,
      address: this.o.address,
      metadata: this.o.metadata,
      version: VERSION,
      startedAt: new Date().toISOString(),
      instance: this.instance,
      ttl,
    };
    const lease = await store.grantLease(ttl, { onLost: (e) => this.leaseLost(lease, e) });
    try {
      for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        const existing = await store.get(key);
        if (existing) {
          const other = readOther(existing);
          if (other.instance !== this.instance) {
            throw new AgentError(
              `machine id ${id} is already registered by a live agent${describeAgent(other)}: ` +
                'two machines share one machine id (a cloned /etc/machine-id?); give each machine its own ' +
                `(--machine-id), or wait ${ttl} s if that agent has just died`,
            );
          }
        }
        const res = await store.txn(
          [
            existing
              ? { key, target: 'value', op: '==', value: existing.value }
              : { key, target: 'version', op: '==', value: 0 },
          ],
          [{ op: 'put', key, value: JSON.stringify(record), lease: lease.id }],
        );
        if (res.succeeded) {
          this.current = lease;
          this.o.log.info('registered', { machine: id, lease: lease.id, ttl });
          return;
        }
      }
      throw new AgentError(
        `machine id ${id}: the machine record keeps changing under us; another agent with this id is starting`,
      );
    } catch (e) {
      await lease.revoke().catch(() => {});
      throw e;
    }
  }

  private leaseLost(lease: Lease, err: Error): void {
    if (this.current !== lease || this.ended) return;
    this.o.log.warn('machine lease lost: will stop units moved away, then register again', {
      machine: this.o.machineId,
      error: err,
    });
    this.current = null;
    this.o.reporter.leaseLost();
    this.o.desired.broken = true;
    this.o.changed('lease lost');
  }
}

/** The record another agent wrote, as far as it can be read (an unreadable one says nothing). */
export function readOther(kv: KeyValue): Partial<MachineRecord> {
  try {
    return decodeMachineRecord(kv);
  } catch (e) {
    if (e instanceof MalformedRecordError) return {};
    throw e;
  }
}

/** " at <address> (started <time>)", as far as the record says: for messages about a live agent. */
export function describeAgent(other: Partial<MachineRecord>): string {
  return `${other.address ? ` at ${other.address}` : ''}${other.startedAt ? ` (started ${other.startedAt})` : ''}`;
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return 'unknown-boot';
  }
}
