/**
 * The page's live feed: server-sent events. A client that connects gets one `snapshot` event
 * (every section's rows), then a `patch` event whenever rows change: per section the rows added or
 * changed (`upsert`, by id) and the ids gone (`remove`). The rows last sent are kept here once, as
 * JSON text, for all clients: a change costs one diff, whatever the number of clients.
 *
 * A client that reads slowly, or never, must not hold the server's memory: each has a bound on
 * the bytes queued for it; a client still over the bound when the next event is due is dropped
 * (its EventSource reconnects and starts again from a snapshot, if it is alive at all).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SECTIONS, type SectionName, type Sections } from './model.js';

export interface HubOptions {
  /** Bytes that may wait in one client's queue before it is dropped (default 1 MiB). */
  maxQueuedBytes?: number;
  /** Event streams open at once; more are refused with 503 (default 64). */
  maxClients?: number;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number;
  /** Told each time a client is dropped for not reading. */
  onDrop?: () => void;
}

interface Client {
  res: ServerResponse;
}

type Published = Record<SectionName, Map<string, string>>;

export class EventHub {
  private readonly published: Published = emptyPublished();
  private readonly clients = new Set<Client>();
  private readonly maxQueued: number;
  private readonly maxClients: number;
  private readonly heartbeat: NodeJS.Timeout;
  /** Clients dropped for not reading (for tests). */
  dropped = 0;

  constructor(private readonly opts: HubOptions = {}) {
    this.maxQueued = opts.maxQueuedBytes ?? 1024 * 1024;
    this.maxClients = opts.maxClients ?? 64;
    this.heartbeat = setInterval(() => this.broadcast(': ping\n\n'), opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Take the current rows; push what changed since the last call to every client. */
  publish(sections: Sections): void {
    const patch: string[] = [];
    for (const name of SECTIONS) {
      const before = this.published[name];
      const now = new Map<string, string>();
      const upsert: string[] = [];
      for (const [id, row] of sections[name]) {
        const json = JSON.stringify(row);
        now.set(id, json);
        if (before.get(id) !== json) upsert.push(`${JSON.stringify(id)}:${json}`);
      }
      const remove = [...before.keys()].filter((id) => !now.has(id));
      this.published[name] = now;
      if (upsert.length || remove.length)
        patch.push(`"${name}":{"upsert":{${upsert.join(',')}},"remove":${JSON.stringify(remove)}}`);
    }
    if (patch.length) this.broadcast(`event: patch\ndata: {${patch.join(',')}}\n\n`);
  }

  /** Every section's rows as the last publish() left them: what a new client starts from. */
  snapshotJson(): string {
    const parts = SECTIONS.map((name) => {
      const rows = [...this.published[name]].map(([id, json]) => `${JSON.stringify(id)}:${json}`);
      return `"${name}":{${rows.join(',')}}`;
    });
    return `{${parts.join(',')}}`;
  }

  /** Serve one event stream on `res`. Refuses (503) when too many are open. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= this.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' });
      res.end(`too many event streams open (${this.maxClients}); try again later\n`);
      return;
    }
    const client: Client = { res };
    this.clients.add(client);
    const gone = () => this.clients.delete(client);
    req.on('close', gone);
    res.on('close', gone);
    res.on('error', gone);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\nevent: snapshot\ndata: ${this.snapshotJson()}\n\n`);
  }

  private broadcast(text: string): void {
    for (const c of this.clients) {
      if (c.res.writableLength > this.maxQueued) {
        this.clients.delete(c);
        this.dropped++;
        this.opts.onDrop?.();
        c.res.destroy();
        continue;
      }
      c.res.write(text);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }
}

function emptyPublished(): Published {
  return { summary: new Map(), machines: new Map(), units: new Map(), rollouts: new Map() };
}
