/**
 * How the engine's schedule writes are cut into transactions (pure): so that each agent sees what
 * a pass gives its machine at once, and no unit ever runs on two machines.
 *
 * 1. First the deletes of units that move away (a unit stops where it was before it is put where
 *    it goes: a moment on no machine, never a moment on two).
 * 2. Then machine by machine: a machine's operations are never split between transactions while
 *    they fit in one; several machines share a transaction when they fit together.
 * 3. A machine with more operations than one transaction holds gets a run of transactions of its
 *    own, opened by a marker key (`schedule/<machine>/~batch`) and closed by deleting it in the
 *    last one: its agent waits for the marker to go before it acts, so it acts on the whole.
 * 4. Everything else (unscheduled reasons, rollout records, the engine's status) after that.
 */
import { SCHEDULE_BATCH, scheduleBatchKey, splitMachineUnit, SCHEDULE_PREFIX } from '../store/keys.js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, type Op } from '../store/store.js';

/** Operations per transaction: etcd's max-txn-ops (128) with room for the leader compare. */
export const OPS_PER_TXN = MAX_TXN_OPS - 1;
/**
 * Bytes of keys and values per transaction, well inside etcd's --max-request-bytes: a rollout
 * record's shards at 100,000 units are ~100 KiB each, and 127 of them are no request etcd takes.
 */
export const BYTES_PER_TXN = Math.floor((MAX_REQUEST_BYTES * 2) / 3);

const sizeOf = (o: Op) => ('key' in o ? o.key.length : o.prefix.length) + (o.op === 'put' ? o.value.length : 0);

const keyOf = (op: Op) => ('key' in op ? op.key : op.prefix);

/** The machine a schedule operation is for, or null for any other key. */
function machineOf(op: Op): string | null {
  return splitMachineUnit(keyOf(op), SCHEDULE_PREFIX)?.machine ?? null;
}

/**
 * Cut `ops` into transactions as above. `moves` are the keys of deletes that move a unit to
 * another machine (they go first). The result's order is the order to write them in.
 */
export function cutTransactions(
  ops: readonly Op[],
  moves: ReadonlySet<string>,
  perTxn = OPS_PER_TXN,
  perTxnBytes = BYTES_PER_TXN,
): Op[][] {
  const txns: Op[][] = [];
  let batch: Op[] = [];
  let bytes = 0;
  const flush = () => {
    if (batch.length) txns.push(batch);
    batch = [];
    bytes = 0;
  };
  const first = ops.filter((o) => o.op === 'delete' && moves.has(keyOf(o)));
  for (let i = 0; i < first.length; i += perTxn) txns.push(first.slice(i, i + perTxn));

  const byMachine = new Map<string, Op[]>();
  const other: Op[] = [];
  for (const o of ops) {
    if (o.op === 'delete' && moves.has(keyOf(o))) continue;
    const m = machineOf(o);
    if (m === null) other.push(o);
    else {
      let list = byMachine.get(m);
      if (!list) byMachine.set(m, (list = []));
      list.push(o);
    }
  }
  for (const m of [...byMachine.keys()].sort()) {
    const list = byMachine.get(m)!;
    const listBytes = list.reduce((n, o) => n + sizeOf(o), 0);
    if (list.length <= perTxn && listBytes <= perTxnBytes) {
      if (batch.length + list.length > perTxn || bytes + listBytes > perTxnBytes) flush();
      batch.push(...list);
      bytes += listBytes;
      continue;
    }
    // Too many for one transaction: a run of its own, bracketed by the machine's batch marker.
    flush();
    const marker = scheduleBatchKey(m);
    const open: Op = { op: 'put', key: marker, value: '{}' };
    const close: Op = { op: 'delete', key: marker };
    const body = [open, ...list, close];
    for (let i = 0; i < body.length; i += perTxn) txns.push(body.slice(i, i + perTxn));
  }
  for (const o of other) {
    if (batch.length + 1 > perTxn || (batch.length > 0 && bytes + sizeOf(o) > perTxnBytes)) flush();
    batch.push(o);
    bytes += sizeOf(o);
  }
  flush();
  return txns;
}

/**
 * The transactions of cutTransactions as stages to write one after the other, each a set of lanes
 * that may be written at the same time (each lane's transactions in order): the deletes of moving
 * units; then every machine's transaction (a machine's run between batch markers is one lane);
 * then whatever holds other keys (reasons, the rollout record, the status), in order, in one lane.
 * No agent can see its machine's part of a pass in pieces, and a unit still never runs on two
 * machines: the order that matters is kept, and only independent machines' writes overlap.
 */
export function writeLanes(txns: readonly Op[][], moves: ReadonlySet<string>): Op[][][][] {
  const first: Op[][][] = [];
  const machines: Op[][][] = [];
  const last: Op[][] = [];
  let run: Op[][] | null = null;
  for (const t of txns) {
    if (run) {
      run.push(t);
      if (t.some((o) => o.op === 'delete' && splitMachineUnit(o.key, SCHEDULE_PREFIX)?.unit === SCHEDULE_BATCH)) {
        machines.push(run);
        run = null;
      }
      continue;
    }
    if (t.every((o) => o.op === 'delete' && moves.has(o.key))) first.push([t]);
    else if (t.some((o) => machineOf(o) === null)) last.push(t);
    else if (t[0]!.op === 'put' && splitMachineUnit(t[0]!.key, SCHEDULE_PREFIX)?.unit === SCHEDULE_BATCH) run = [t];
    else machines.push([t]);
  }
  if (run) machines.push(run);
  return [first, machines, last.length ? [last] : []].filter((s) => s.length > 0);
}
