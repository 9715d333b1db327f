/**
 * The push webhook: GitHub (X-Hub-Signature-256), Gitea/Forgejo (X-Gitea-Signature), and GitLab
 * (X-Gitlab-Token, GitLab's shared-secret scheme). A request whose signature does not verify gets
 * 401 and does nothing. A verified push to the followed branch triggers a fetch at once; other
 * events and branches are acknowledged (202) and ignored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';

export const MAX_WEBHOOK_BODY = 5 * 1024 * 1024;

export type Verdict =
  | { ok: true; provider: 'github' | 'gitea' | 'gitlab'; push: boolean; ref: string | null }
  | { ok: false; status: 400 | 401; reason: string };

function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a),
    bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

const header = (h: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Pure: verify one delivery and say whether it is a push, and to which ref. */
export function verifyDelivery(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  secret: string,
): Verdict {
  const hmac = createHmac('sha256', secret).update(body).digest('hex');
  let provider: 'github' | 'gitea' | 'gitlab';
  let push: boolean;
  const gh = header(headers, 'x-hub-signature-256');
  const gitea = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
  const gitlab = header(headers, 'x-gitlab-token');
  if (gitea !== undefined) {
    provider = 'gitea';
    if (!safeEqual(gitea.toLowerCase(), hmac))
      return { ok: false, status: 401, reason: 'X-Gitea-Signature does not match the body' };
    push = (header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event')) === 'push';
  } else if (gh !== undefined) {
    provider = 'github';
    if (!safeEqual(gh.toLowerCase(), `sha256=${hmac}`))
      return { ok: false, status: 401, reason: 'X-Hub-Signature-256 does not match the body' };
    push = header(headers, 'x-github-event') === 'push';
  } else if (gitlab !== undefined) {
    provider = 'gitlab';
    if (!safeEqual(gitlab, secret))
      return { ok: false, status: 401, reason: 'X-Gitlab-Token is not the shared secret' };
    push = header(headers, 'x-gitlab-event') === 'Push Hook';
  } else {
    return {
      ok: false,
      status: 401,
      reason: 'no signature header (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)',
    };
  }
  if (!push) return { ok: true, provider, push: false, ref: null };
  let ref: string | null = null;
  try {
    const payload = JSON.parse(body.toString('utf8')) as { ref?: unknown };
    ref = typeof payload.ref === 'string' ? payload.ref : null;
  } catch {
    return { ok: false, status: 400, reason: 'push payload is not JSON' };
  }
  return { ok: true, provider, push: true, ref };
}

export interface WebhookServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Serve the webhook on host:port (POST to any path). `onPush` is called for verified pushes to `branch`. */
export async function startWebhook(opts: {
  listen: string;
  secret: string;
  branch: () => string | null;
  onPush: () => void;
  log: Logger;
}): Promise<WebhookServer> {
  const { host, port } = parseListen(opts.listen);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text + '\n');
    };
    if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/')) return reply(200, 'ok');
    if (req.method !== 'POST') return reply(405, 'POST push events here');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_WEBHOOK_BODY) {
        reply(413, `body larger than ${MAX_WEBHOOK_BODY} bytes`);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      const v = verifyDelivery(req.headers, Buffer.concat(chunks), opts.secret);
      if (!v.ok) {
        opts.log.warn('webhook refused', { status: v.status, reason: v.reason, from: req.socket.remoteAddress });
        return reply(v.status, v.reason);
      }
      const branch = opts.branch();
      if (!v.push) return reply(202, 'not a push event; ignored');
      if (branch && v.ref && v.ref !== `refs/heads/${branch}`)
        return reply(202, `push to ${v.ref}, not refs/heads/${branch}; ignored`);
      opts.log.info('webhook push', { provider: v.provider, ref: v.ref });
      opts.onPush();
      reply(202, 'fetch triggered');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}/`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

export function parseListen(listen: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen) ?? /^()()(\d+)$/.exec(listen);
  if (!m) throw new Error(`${flag}: "${listen}" is not HOST:PORT (e.g. 0.0.0.0:8080 or :8080)`);
  const port = Number(m[3]);
  if (!(port >= 0 && port <= 65535)) throw new Error(`${flag}: port ${m[3]} is out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
