/**
 * The web UI's HTTP server: the page (static/), its live event stream (/events), a small JSON API
 * (/api/...) and the process's metrics (/metrics). It reads the cluster through ClusterState and
 * never writes to it: GET and HEAD only, and the store it gets cannot write.
 *
 * Reachable from other machines only with a token: on a loopback address none is needed (unless
 * given); elsewhere every request must carry it, as `Authorization: Bearer TOKEN` (scripts,
 * Prometheus) or the cookie set when the page is first opened as /?token=TOKEN.
 *
 * Bad input is answered, never fatal: an unknown unit or machine is 404 with a message, a
 * malformed path or query 400, a slow sender is cut off by the server's timeouts, and a reader
 * that falls behind on the event stream is dropped (events.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { parseListen } from '../controller/webhook.js';
import type { Logger } from '../log.js';
import { closeServer, listenOn, newRegistry } from '../metrics/registry.js';
import { EventHub, type HubOptions } from './events.js';
import { authorize, digest, parseRequest, reply, TOKEN_COOKIE } from './http.js';
import type { UnitInspector } from './inspect.js';
import { sectionsOf } from './model.js';
import { Routes } from './routes.js';
import { ClusterState, type StoreReader } from './state.js';
import { staticFile } from './static.js';

export interface UiServerOptions {
  store: StoreReader;
  /** HOST:PORT (port 0: any free port). */
  listen: string;
  /** The flag `listen` came from, for messages (default --listen). */
  flag?: string;
  /** Required when `listen` is not a loopback address. */
  token?: string;
  /** Served at /metrics; the UI's own metrics are added to it. Default: a new registry. */
  registry?: Registry;
  /** Journal and systemd properties of units on the machine the UI runs on (`gitfleet up`). */
  inspector?: UnitInspector;
  log: Logger;
  events?: HubOptions;
  /** Store changes within this many ms go out as one patch (default 100). */
  coalesceMs?: number;
  /** A request whose headers have not all arrived by then is cut off (default 10 s). */
  headersTimeoutMs?: number;
}

export interface UiServer {
  /** http://HOST:PORT/ */
  url: string;
  server: Server;
  state: ClusterState;
  hub: EventHub;
  close(): Promise<void>;
}

/** The options cannot work (e.g. reachable from elsewhere without a token). */
export class UiConfigError extends Error {
  override name = 'UiConfigError';
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const flag = o.flag ?? '--listen';
  const { host, port } = parseListen(o.listen, flag);
  if (!isLoopback(host) && !o.token)
    throw new UiConfigError(
      `${flag} ${o.listen}: the UI would be reachable from other machines; give --token-file, or listen on 127.0.0.1`,
    );
  staticFile('index.html'); // the page's files are there, or the server does not start
  const registry = o.registry ?? newRegistry();
  const dropped = new Counter({
    name: 'gitfleet_ui_event_streams_dropped_total',
    help: 'Event streams the UI closed because their reader fell behind.',
    registers: [registry],
  });
  const hub = new EventHub({ ...o.events, onDrop: () => dropped.inc() });
  new Gauge({
    name: 'gitfleet_ui_event_streams',
    help: 'Event streams (open pages) the UI serves now.',
    registers: [registry],
    collect() {
      this.set(hub.clientCount);
    },
  });
  let timer: NodeJS.Timeout | null = null;
  const publish = () => {
    timer = null;
    hub.publish(sectionsOf(state));
  };
  const state = new ClusterState(o.store, o.log, () => {
    timer ??= setTimeout(publish, o.coalesceMs ?? 100);
  });
  await state.start();
  publish();

  const tokenDigest = o.token ? digest(o.token) : null;
  const routes = new Routes(state, hub, registry, o.inspector ?? null);
  const failed = (req: IncomingMessage, res: ServerResponse, e: unknown) => {
    o.log.warn('ui: request failed', { url: req.url, error: e as Error });
    if (!res.headersSent) reply(res, 500, `internal error: ${(e as Error).message}`);
    else res.destroy();
  };
  const headersTimeout = o.headersTimeoutMs ?? 10_000;
  // Node checks the timeouts every connectionsCheckingInterval: often enough to honour them.
  const server = createServer({ connectionsCheckingInterval: Math.min(headersTimeout, 5_000) }, (req, res) => {
    try {
      handle(req, res, tokenDigest, routes)?.catch((e) => failed(req, res, e));
    } catch (e) {
      failed(req, res, e);
    }
  });
  // A client that sends its request slowly (or never finishes it) is cut off.
  server.headersTimeout = headersTimeout;
  server.requestTimeout = Math.max(headersTimeout, 30_000);
  server.on('clientError', (_e, socket) => socket.destroy());
  let url: string;
  try {
    url = await listenOn(server, host, port, flag);
  } catch (e) {
    await state.close();
    hub.close();
    throw e;
  }
  o.log.info('ui listening', { url });
  return {
    url,
    server,
    state,
    hub,
    close: async () => {
      if (timer) clearTimeout(timer);
      hub.close();
      await closeServer(server);
      await state.close();
    },
  };
}

function handle(req: IncomingMessage, res: ServerResponse, token: Buffer | null, routes: Routes): Promise<void> | void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply(res, 405, 'this UI is read-only: GET and HEAD only', { allow: 'GET, HEAD' });
    return;
  }
  const parsed = parseRequest(req.url ?? '/');
  if (!parsed) {
    reply(res, 400, `malformed path: ${(req.url ?? '').split('?')[0]} has a broken %-escape`);
    return;
  }
  const auth = authorize(req, parsed.query, token);
  if (auth === 'no') {
    reply(res, 401, 'this gitfleet UI needs its token: open /?token=TOKEN (from the token file) once', {
      'www-authenticate': 'Bearer realm="gitfleet"',
    });
    return;
  }
  if (auth === 'cookie') {
    const q = parsed.query;
    const cookie = `${TOKEN_COOKIE}=${encodeURIComponent(q.get('token')!)}; Path=/; HttpOnly; SameSite=Strict`;
    q.delete('token');
    const rest = q.toString();
    res.writeHead(303, {
      'set-cookie': cookie,
      location: parsed.rawPath + (rest ? `?${rest}` : ''),
      'cache-control': 'no-store',
    });
    res.end();
    return;
  }
  return routes.dispatch(req, res, parsed.segments, parsed.query);
}
