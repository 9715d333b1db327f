/**
 * An engine in its own process, for tests that must SIGKILL or SIGSTOP one (engine.test.ts).
 * Run with `node --import tsx test/engine/engine-child.ts`; configured by the environment:
 *   ENDPOINTS (comma-separated), PREFIX, ENGINE_ID, LEASE_TTL (seconds).
 * Prints one JSON line per event on stdout: {"event":"leader","fence":{...}} when it starts leading
 * (with the fence it holds), {"event":"follower"} when it stops. On SIGCONT (resumed after
 * SIGSTOP) it first tries one raw write guarded by the fence it held as leader and prints
 * {"event":"stale-write","succeeded":bool}: a paused-then-resumed leader's writes must be refused.
 */
import { Engine } from '../../src/engine/engine.js';
import { createLogger } from '../../src/log.js';
import { scheduleKey } from '../../src/store/keys.js';
import { EtcdStore } from '../../src/store/etcd.js';
import type { Compare } from '../../src/store/store.js';

const store = new EtcdStore({ endpoints: process.env.ENDPOINTS!.split(','), prefix: process.env.PREFIX! });
const id = process.env.ENGINE_ID!;
const engine = new Engine({
  store,
  id,
  leaseTtl: Number(process.env.LEASE_TTL ?? 2),
  resyncSeconds: 0,
  log: createLogger(`engine-${id}`, { level: (process.env.CHILD_LOG as 'warn' | undefined) ?? 'warn' }),
});
const emit = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

let fence: Compare | null = null;
let leading = false;
setInterval(() => {
  if (engine.isLeader() !== leading) {
    leading = engine.isLeader();
    if (leading) fence = engine.fence();
    emit(leading ? { event: 'leader', fence } : { event: 'follower' });
  }
}, 20);

process.on('SIGCONT', () => {
  if (!fence) return;
  const stale = fence;
  // The connection may need a moment after a long pause: retry until etcd answers at all.
  void (async () => {
    let error = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const r = await store.txn(
          [stale],
          [{ op: 'put', key: scheduleKey('stale-machine', 'stale.service'), value: '{"hash":"x","state":"launched"}' }],
        );
        emit({ event: 'stale-write', succeeded: r.succeeded, attempts: attempt + 1 });
        return;
      } catch (e) {
        error = String(e);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    emit({ event: 'stale-write', error });
  })();
});

process.on('SIGTERM', () => {
  void engine.stop().finally(() => store.close().finally(() => process.exit(0)));
});

await engine.start();
emit({ event: 'started' });
