/**
 * For bench/e2e --observe: the cluster watched the way an operator watches it. Every component
 * serves metrics (the cluster's metrics option) and is scraped every second, as Prometheus would;
 * a `gitfleet ui` process follows the cluster with `pages` event streams open, as browsers would.
 * The push -> active figures then say what watching costs.
 */
import { join } from 'node:path';
import { openStream, type SseStream } from '../test/ui/sse.js';
import { endProc, gitfleetArgv, logTail, spawnTracked, type Cluster, type Proc } from '../test/support/cluster.js';
import { freePort } from '../test/support/etcd.js';

export interface Observer {
  describe(): string;
  stop(): Promise<void>;
}

export async function observe(c: Cluster, dir: string, pages = 2): Promise<Observer> {
  const port = await freePort();
  const ui: Proc = spawnTracked('ui', gitfleetArgv(['ui', '--etcd', c.endpoints, '--listen', `127.0.0.1:${port}`]), {
    logFile: join(dir, 'logs', 'ui.log'),
    env: { GITFLEET_LOG: 'warn' },
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let start = Date.now(); ; ) {
    if (!ui.running) throw new Error(`gitfleet ui exited:\n${logTail(ui.logFile)}`);
    if (
      await fetch(`${url}healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() - start > 30_000) throw new Error('gitfleet ui did not answer within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const streams: SseStream[] = [];
  for (let i = 0; i < pages; i++) streams.push(await openStream(`${url}events`));
  const targets = [...c.metricsTargets().map((t) => `http://${t.address}/metrics`), `${url}metrics`];
  let scrapes = 0;
  const timer = setInterval(() => {
    for (const t of targets)
      fetch(t).then(
        (r) => r.text().then(() => scrapes++),
        () => {},
      );
  }, 1000);
  return {
    describe: () =>
      `observed: ${targets.length} metrics endpoints scraped every 1 s (${scrapes} scrapes), gitfleet ui with ` +
      `${pages} open event streams (${streams.reduce((n, s) => n + s.events.length, 0)} events received)`,
    async stop() {
      clearInterval(timer);
      for (const s of streams) s.close();
      await endProc(ui);
    },
  };
}
