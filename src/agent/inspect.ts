/**
 * The agent's side of `gitfleet journal` and `gitfleet status UNIT` (src/store/keys.ts, "asked by
 * the CLI"): watch this machine's request prefix, and answer each request once, under the asker's
 * lease, with the unit's live status from systemd and its last journal lines.
 *
 * It runs beside the Agent (the agent command and `up` start both) and needs nothing of the
 * Agent's state: gitfleet's own unit directory says which units it may talk about (a request for
 * sshd.service is answered with a refusal, not sshd's logs), systemd says the rest.
 *
 * Bounded work: at most MAX_IN_FLIGHT requests are served at once and MAX_QUEUED wait; more are
 * answered "busy". A request without a lease is ignored (its answer could never be cleaned up).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import {
  INSPECT_ID,
  INSPECT_MAX_BYTES,
  inspectAnswerKey,
  inspectRequestPrefix,
  type InspectAnswer,
  type InspectRequest,
} from '../store/keys.js';
import { decodeInspectRequest, MalformedRecordError } from '../store/records.js';
import type { KeyValue, Store, Watch } from '../store/store.js';
import { journalReader, type JournalLocation, type JournalReader } from '../systemd/journal.js';
import type { UnitStatus } from '../systemd/status.js';
import { Backoff, sleep } from '../util/backoff.js';

const MAX_IN_FLIGHT = 2;
const MAX_QUEUED = 32;

/** What the inspector asks of systemd (SystemdManager has both). */
export interface InspectSystemd {
  unitStatus(name: string): Promise<UnitStatus>;
  managerCgroup(): Promise<string>;
}

export interface UnitInspectorOptions {
  store: Store;
  machineId: string;
  systemd: InspectSystemd;
  /** Where units on this machine log (SystemdHost.journal). */
  journal: JournalLocation;
  /** gitfleet's unit directory on this machine: the only units it answers for. */
  unitDir: string;
  log: Logger;
}

export class UnitInspector {
  private watch: Watch | null = null;
  /** Request keys being served or answered, with their mod revision (a request is served once). */
  private readonly seen = new Map<string, number>();
  private readonly queue: KeyValue[] = [];
  private inFlight = 0;
  private stopped = false;
  /** This machine's journal (also what an agent quotes in a failure's reason). */
  readonly journal: JournalReader;
  private readonly backoff = new Backoff({ minMs: 500, maxMs: 10_000 });

  constructor(private readonly opts: UnitInspectorOptions) {
    this.journal = journalReader(opts.journal, opts.systemd, opts.machineId);
  }

  /**
   * Serve requests already waiting, then every new one. Resolves once following (or after the
   * first failure, when it keeps trying in the background with backoff).
   */
  async start(): Promise<void> {
    await this.follow().catch((e) => this.retry(e as Error));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    await this.watch?.close().catch(() => {});
    this.watch = null;
  }

  private async follow(): Promise<void> {
    const prefix = inspectRequestPrefix(this.opts.machineId);
    const r = await this.opts.store.range(prefix);
    for (const kv of r.kvs) this.offer(kv);
    this.watch = await this.opts.store.watch(prefix, r.revision + 1, {
      onEvents: (events) => {
        for (const ev of events) {
          if (ev.type === 'put') this.offer(ev.kv);
          else this.seen.delete(ev.kv.key);
        }
      },
      onError: (e) => {
        this.watch = null;
        this.retry(e);
      },
    });
    this.backoff.reset();
  }

  /** Follow again after a delay that grows while it keeps failing. */
  private retry(e: Error): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.opts.log.warn('inspect: cannot follow requests; trying again', { error: e, retryInMs: delay });
    void sleep(delay).then(() => (this.stopped ? undefined : this.follow().catch((err) => this.retry(err as Error))));
  }

  private offer(kv: KeyValue): void {
    if (this.stopped || (this.seen.get(kv.key) ?? -1) >= kv.modRevision) return;
    this.seen.set(kv.key, kv.modRevision);
    if (kv.lease === '0') {
      this.opts.log.debug('inspect: ignoring a request without a lease', { key: kv.key });
      return;
    }
    if (this.inFlight >= MAX_IN_FLIGHT && this.queue.length >= MAX_QUEUED) {
      void this.send(kv, { machine: this.opts.machineId, unit: '', error: 'the agent is busy: ask again' });
      return;
    }
    this.queue.push(kv);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      const kv = this.queue.shift()!;
      this.inFlight++;
      this.serve(kv)
        .catch((e) => this.opts.log.warn('inspect: request failed', { key: kv.key, error: e as Error }))
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  private async serve(kv: KeyValue): Promise<void> {
    const machine = this.opts.machineId;
    let req: InspectRequest;
    try {
      req = decodeInspectRequest(kv);
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      return this.send(kv, { machine, unit: '', error: e.message });
    }
    const unit = req.unit;
    if (!isPlainName(unit) || !existsSync(join(this.opts.unitDir, unit))) {
      return this.send(kv, { machine, unit, error: `gitfleet runs no unit ${unit} on machine ${machine}` });
    }
    const answer: InspectAnswer = { machine, unit };
    let status: UnitStatus | null = null;
    try {
      status = await this.opts.systemd.unitStatus(unit);
      if (req.status) answer.status = status;
    } catch (e) {
      if (req.status) answer.error = `systemd: ${(e as Error).message}`;
    }
    if (req.lines > 0) {
      try {
        const r = await this.journal({
          unit,
          lines: req.lines,
          ...(req.after ? { after: req.after } : {}),
          ...(status?.slice ? { slice: status.slice } : {}),
        });
        answer.lines = r.lines;
        answer.cursor = r.cursor;
      } catch (e) {
        answer.journalError = (e as Error).message;
      }
    }
    return this.send(kv, fitAnswer(answer, INSPECT_MAX_BYTES));
  }

  /** Write the answer under the request's lease (gone already: the asker gave up, nothing to do). */
  private async send(kv: KeyValue, answer: InspectAnswer): Promise<void> {
    const id = kv.key.slice(kv.key.lastIndexOf('/') + 1);
    if (!INSPECT_ID.test(id)) {
      this.opts.log.debug('inspect: ignoring a request with a malformed id', { key: kv.key });
      return;
    }
    try {
      await this.opts.store.put(inspectAnswerKey(this.opts.machineId, id), JSON.stringify(answer), { lease: kv.lease });
    } catch (e) {
      this.opts.log.debug('inspect: could not answer (the asker left?)', { key: kv.key, error: e as Error });
    }
  }
}

/** A unit name that is one path component (requests come from anyone who may write to etcd). */
function isPlainName(unit: string): boolean {
  return unit !== '' && !unit.startsWith('.') && !unit.includes('/') && !unit.includes('\0') && unit.length <= 256;
}

/** Drop the oldest journal lines until the answer's JSON fits in `maxBytes` (pure; exported for tests). */
export function fitAnswer(answer: InspectAnswer, maxBytes: number): InspectAnswer {
  const size = (a: InspectAnswer) => Buffer.byteLength(JSON.stringify(a));
  if (!answer.lines || size(answer) <= maxBytes) return answer;
  const out: InspectAnswer = { ...answer, lines: [...answer.lines], truncated: true };
  // Binary search on how many of the oldest lines to drop: O(log n) serialisations.
  let lo = 0;
  let hi = out.lines!.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (size({ ...out, lines: answer.lines.slice(mid) }) <= maxBytes) hi = mid;
    else lo = mid + 1;
  }
  out.lines = answer.lines.slice(lo);
  return out;
}
