/**
 * What the web UI serves, by path. Every route only reads: the cluster through ClusterState, the
 * rows the page was last sent through the EventHub, the machine's own systemd through the
 * inspector (in `gitfleet up`).
 *
 *   /, /app.js, /app.css   the page (static/)
 *   /events                the live event stream (events.ts)
 *   /api/state             every section's rows, as the stream's snapshot
 *   /api/units/NAME        one unit: its row, file, journal (?lines=N, 1..1000) and systemd properties
 *   /api/machines/ID       one machine and its units
 *   /metrics, /healthz
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { writeMetrics } from '../metrics/registry.js';
import { renderUnitFiles } from '../unit/body.js';
import { unitNameError } from '../unit/names.js';
import type { EventHub } from './events.js';
import { checkQuery, reply, replyJson } from './http.js';
import type { Journal, UnitInspector } from './inspect.js';
import { machineRows, unitRow, unitRows } from './model.js';
import type { ClusterState } from './state.js';
import { staticFile } from './static.js';

const DEFAULT_JOURNAL_LINES = 50;

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export class Routes {
  constructor(
    private readonly state: ClusterState,
    private readonly hub: EventHub,
    private readonly registry: Registry,
    private readonly inspector: UnitInspector | null,
  ) {}

  async dispatch(req: IncomingMessage, res: ServerResponse, seg: string[], query: URLSearchParams): Promise<void> {
    const path = seg.join('/');
    const file = path === '' ? staticFile('index.html') : seg.length === 1 ? staticFile(path) : null;
    if (file) {
      if (!checkQuery(res, query, [])) return;
      res.writeHead(200, { 'content-type': file.type, ...PAGE_HEADERS });
      res.end(file.body);
    } else if (path === 'events') {
      if (checkQuery(res, query, [])) this.hub.attach(req, res);
    } else if (path === 'metrics') {
      if (checkQuery(res, query, [])) await writeMetrics(this.registry, res);
    } else if (path === 'healthz') {
      reply(res, 200, this.state.live ? 'ok' : 'ok (reading the cluster again)');
    } else if (path === 'favicon.ico') {
      res.writeHead(204).end();
    } else if (path === 'api/state') {
      if (checkQuery(res, query, [])) replyJson(res, 200, this.hub.snapshotJson());
    } else if (seg.length === 3 && seg[0] === 'api' && seg[1] === 'units') {
      await this.unit(res, seg[2]!, query);
    } else if (seg.length === 3 && seg[0] === 'api' && seg[1] === 'machines') {
      this.machine(res, seg[2]!, query);
    } else if (seg[0] === 'api') {
      replyJson(res, 404, { error: `no such API path: /${path}` });
    } else {
      reply(res, 404, `not found: /${path}`);
    }
  }

  private async unit(res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
    if (!checkQuery(res, query, ['lines'])) return;
    const problem = unitNameError(name);
    if (problem) {
      replyJson(res, 400, { error: `"${name}" is not a unit name: ${problem}` });
      return;
    }
    const linesText = query.get('lines');
    const lines = linesText === null ? DEFAULT_JOURNAL_LINES : Number(linesText);
    if (!/^\d+$/.test(linesText ?? '50') || lines < 1 || lines > 1000) {
      replyJson(res, 400, { error: `lines=${linesText}: must be a whole number from 1 to 1000` });
      return;
    }
    const row = unitRow(this.state, name);
    if (!row) {
      replyJson(res, 404, { error: `unit ${name} is not in the applied commit and no machine reports it` });
      return;
    }
    // The content in force: the commit's, else what a machine still runs while it is being removed.
    const hash = row.hash ?? row.machines.find((m) => m.hash)?.hash ?? null;
    let body: { text: string } | { unavailable: string };
    try {
      const files = hash ? await this.state.body(hash) : null;
      body =
        files !== null
          ? { text: renderUnitFiles(name, files) }
          : { unavailable: 'the store no longer holds this content' };
    } catch (e) {
      body = { unavailable: (e as Error).message };
    }
    const inspector =
      this.inspector && row.machines.some((m) => m.machine === this.inspector!.machine) ? this.inspector : null;
    let journal: Journal;
    if (inspector) journal = await inspector.journal(name, lines);
    else if (this.inspector) journal = { unavailable: 'the unit does not run on this machine' };
    else journal = { unavailable: `journals stay on each machine: there, run journalctl -u ${name}` };
    const properties = inspector ? await inspector.properties(name) : null;
    replyJson(res, 200, { unit: row, body, journal, properties, machine: this.inspector?.machine ?? null });
  }

  private machine(res: ServerResponse, id: string, query: URLSearchParams): void {
    if (!checkQuery(res, query, [])) return;
    const row = machineRows(this.state).get(id);
    if (!row) {
      replyJson(res, 404, { error: `no machine ${id} is registered` });
      return;
    }
    const units = [...unitRows(this.state).values()]
      .map((u) => ({ name: u.name, desired: u.desired, placement: u.machines.find((m) => m.machine === id) }))
      .filter((u) => u.placement);
    replyJson(res, 200, { machine: row, units });
  }
}
