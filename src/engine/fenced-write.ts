/**
 * Writing a pass's transactions (cut by src/engine/writer.ts into stages of lanes) under the
 * leader fence: stages one after another, the lanes of a stage a few at a time (independent
 * machines), each lane's transactions in order. A refused fence means another engine leads: the
 * write stops at once with NotLeaderError and is never retried as leader.
 */
import type { Compare, Op, Store } from '../store/store.js';
import { NotLeaderError } from './leader.js';

/**
 * Lanes of one stage written at once: independent machines' transactions need no order. etcd
 * applies transactions one at a time, so more lanes only queue them there: with 8, a 10,000-unit
 * pass had 8 large transactions waiting at once behind the agents' reports, and the last of them
 * timed out ("request timed out", or the client's deadline) while etcd was still working through
 * the first; 2 keep one transaction on the wire while etcd applies the other.
 */
export const WRITE_LANES = 2;

export interface FencedWriteHooks {
  /** Awaited before each transaction (a test hook may hold an engine between planning and writing). */
  before(): Promise<void>;
  /** A transaction succeeded at `revision`: what it wrote is what is stored. */
  written(batch: Op[], revision: number): void;
  /** The fence was refused: this engine no longer leads. */
  refused(): void;
}

export async function writeFenced(
  store: Store,
  stages: Op[][][][],
  fence: Compare,
  hooks: FencedWriteHooks,
): Promise<{ ops: number; txns: number }> {
  let ops = 0;
  let txns = 0;
  let failure: unknown = null;
  const writeLane = async (lane: Op[][]) => {
    for (const batch of lane) {
      if (failure !== null) return;
      await hooks.before();
      const r = await store.txn([fence], batch);
      if (!r.succeeded) {
        hooks.refused();
        throw new NotLeaderError('another engine leads: schedule write refused');
      }
      hooks.written(batch, r.revision);
      ops += batch.length;
      txns++;
    }
  };
  for (const lanes of stages) {
    // Every lane settles before the pass goes on; after a failure the others start nothing new.
    let next = 0;
    const worker = async () => {
      while (failure === null && next < lanes.length) await writeLane(lanes[next++]!).catch((e) => (failure ??= e));
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_LANES, lanes.length) }, worker));
    if (failure !== null) throw failure;
  }
  return { ops, txns };
}
