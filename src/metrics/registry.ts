/**
 * One Prometheus registry per process, and the small HTTP server that exposes it at /metrics
 * (`--metrics ADDR` on the controller, engine and agent). Each component adds its own metrics to
 * the registry (controller.ts, engine.ts, agent.ts beside this file); `gitfleet up` puts all three
 * in one registry and its web UI serves it. Names follow Prometheus' conventions: `gitfleet_`
 * prefix, `_total` counters, `_seconds` durations, and no label whose values are unbounded except
 * unit names. Node's process metrics (`process_*`, `nodejs_*`) come from prom-client as they are.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { parseListen } from '../controller/webhook.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';

export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'gitfleet_build_info',
    help: 'The gitfleet version this process runs (always 1).',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: VERSION }, 1);
  return registry;
}

/** Answer one request with the registry in Prometheus' text format. */
export async function writeMetrics(registry: Registry, res: ServerResponse): Promise<void> {
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`collecting metrics failed: ${(e as Error).message}\n`);
  }
}

export interface MetricsServer {
  server: Server;
  /** http://HOST:PORT/metrics */
  url: string;
  close(): Promise<void>;
}

/** Listen on HOST:PORT (the flag's value) and serve GET /metrics; everything else is 404. */
export async function startMetricsServer(
  listen: string,
  registry: Registry,
  log: Logger,
  flag = '--metrics',
): Promise<MetricsServer> {
  const { host, port } = parseListen(listen, flag);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET /metrics here\n');
    } else if (path === '/metrics') {
      void writeMetrics(registry, res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found: metrics are at /metrics\n');
    }
  });
  // A scrape that stalls while sending its request must not hold a socket for long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  const url = await listenOn(server, host, port, flag);
  log.info('metrics listening', { url });
  return { server, url: `${url}metrics`, close: () => closeServer(server) };
}

/** Listen and return the base URL (http://HOST:PORT/); a busy or bad address names the flag. */
export function listenOn(server: Server, host: string, port: number, flag: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      reject(
        new Error(
          e.code === 'EADDRINUSE'
            ? `${flag}: ${where} is already in use`
            : `${flag}: cannot listen on ${where}: ${e.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address() as AddressInfo;
      resolve(`http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/`);
    });
  });
}

/** Close the server and every connection it holds (keep-alive, event streams). */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}
