/**
 * Asking machines about a unit (src/store/keys.ts, "asked by the CLI"): one short lease per
 * machine, its request under it, the answers read back through a watch (and a last get for any the
 * watch did not bring), then the lease revoked so nothing stays behind.
 */
import { randomBytes } from 'node:crypto';
import {
  INSPECT_LEASE_SECONDS,
  inspectAnswerKey,
  inspectRequestKey,
  type InspectAnswer,
  type InspectRequest,
} from '../store/keys.js';
import { decodeInspectAnswer, MalformedRecordError } from '../store/records.js';
import type { Lease, Store, Watch } from '../store/store.js';
import type { ClusterView } from './view.js';

/** How long a machine has to answer. */
export const ANSWER_TIMEOUT_MS = 5_000;

export type MachineAnswer = { machine: string; answer: InspectAnswer } | { machine: string; error: string };

/**
 * The machines that run `unit`, as the cluster says: where it is scheduled, and every machine
 * that reports it (Global units, or a unit still stopping on the machine it left). With
 * `machine`, the one machine whose id is or starts with it (as fleetctl took id prefixes).
 */
export function machinesOf(view: ClusterView, unit: string, machine?: string): string[] {
  const all = new Set<string>([
    ...(view.schedule.get(unit) ?? []).map((s) => s.machine),
    ...view.reports.filter((r) => r.unit === unit).map((r) => r.machine),
  ]);
  const ids = [...all].sort();
  if (machine === undefined) return ids;
  const exact = view.machines.find((m) => m.id === machine)?.id;
  if (exact) return [exact];
  const matching = view.machines.map((m) => m.id).filter((id) => id.startsWith(machine));
  if (matching.length === 1) return matching;
  if (matching.length > 1) throw new Error(`--machine ${machine} matches ${matching.length} machines: give more of it`);
  throw new Error(`--machine ${machine}: no such machine is registered`);
}

/** A session of requests, one lease per machine asked: ask() as often as needed, then close(). */
export class InspectSession {
  private readonly leases = new Map<string, Promise<Lease>>();

  private constructor(private readonly store: Store) {}

  static async open(store: Store): Promise<InspectSession> {
    return new InspectSession(store);
  }

  private leaseFor(machine: string): Promise<Lease> {
    let l = this.leases.get(machine);
    if (!l) {
      l = this.store.grantLease(INSPECT_LEASE_SECONDS);
      this.leases.set(machine, l);
      l.catch(() => this.leases.delete(machine));
    }
    return l;
  }

  /** Ask each machine; every machine gets an answer or an error saying why there is none. */
  async ask(machines: readonly string[], req: InspectRequest, timeoutMs = ANSWER_TIMEOUT_MS): Promise<MachineAnswer[]> {
    const ids = new Map(machines.map((m) => [m, randomBytes(8).toString('hex')]));
    const got = new Map<string, MachineAnswer>();
    const byId = new Map([...ids].map(([m, id]) => [id, m]));
    let wake: () => void = () => {};
    const take = (key: string, value: string, kv: Parameters<typeof decodeInspectAnswer>[0]) => {
      const id = key.slice(key.lastIndexOf('/') + 1);
      const machine = byId.get(id);
      if (!machine || got.has(machine) || value === '') return;
      try {
        got.set(machine, { machine, answer: decodeInspectAnswer(kv) });
      } catch (e) {
        if (!(e instanceof MalformedRecordError)) throw e;
        got.set(machine, { machine, error: e.message });
      }
      if (got.size === machines.length) wake();
    };
    const watches: Watch[] = await Promise.all(
      [...ids].map(([m, id]) =>
        this.store.watch(inspectAnswerKey(m, id), undefined, {
          onEvents: (events) => {
            for (const ev of events) if (ev.type === 'put') take(ev.kv.key, ev.kv.value, ev.kv);
          },
        }),
      ),
    );
    try {
      const done = new Promise<void>((r) => (wake = r));
      for (const [m, id] of ids)
        await this.store.put(inspectRequestKey(m, id), JSON.stringify(req), { lease: (await this.leaseFor(m)).id });
      await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      // The watch may have started after an answer was written: read what is still missing.
      for (const [m, id] of ids) {
        if (got.has(m)) continue;
        const kv = await this.store.get(inspectAnswerKey(m, id));
        if (kv) take(kv.key, kv.value, kv);
      }
    } finally {
      await Promise.all(watches.map((w) => w.close().catch(() => {})));
      // Leave nothing behind for the rest of the lease (a follow session asks many times).
      await this.store
        .txn(
          [],
          [...ids].flatMap(([m, id]) => [
            { op: 'delete' as const, key: inspectRequestKey(m, id) },
            { op: 'delete' as const, key: inspectAnswerKey(m, id) },
          ]),
        )
        .catch(() => {});
    }
    return machines.map(
      (m) =>
        got.get(m) ?? {
          machine: m,
          error: `machine ${m} did not answer within ${timeoutMs / 1000} s (is its agent running?)`,
        },
    );
  }

  async close(): Promise<void> {
    const leases = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(leases.map((l) => l.then((x) => x.revoke()).catch(() => {})));
  }
}
