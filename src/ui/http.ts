/**
 * The web UI's request handling that is not about the cluster: replies, the token check, and
 * turning a request line into path segments and a query (or saying what is malformed in it).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const TOKEN_COOKIE = 'gitfleet_token';

export function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text + '\n');
}

/** `body` as JSON (a string is sent as it is: it already is JSON). */
export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

export function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function decodeSafe(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * Does the request carry the token (`want` is its digest; null: none is required)? 'cookie' when
 * it came as ?token= on this request: the caller sets the cookie and redirects without it.
 */
export function authorize(req: IncomingMessage, query: URLSearchParams, want: Buffer | null): 'ok' | 'cookie' | 'no' {
  if (!want) return 'ok';
  const matches = (given: string | undefined | null) => given != null && timingSafeEqual(digest(given), want);
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && matches(auth.slice(7).trim())) return 'ok';
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE && matches(decodeSafe(v.join('=')))) return 'ok';
  }
  return matches(query.get('token')) ? 'cookie' : 'no';
}

export interface ParsedRequest {
  rawPath: string;
  /** Path segments, %-decoded: '/api/units/a%40b.service' -> ['api', 'units', 'a@b.service']. */
  segments: string[];
  query: URLSearchParams;
}

/** Path and query of a request, or null when the path has a broken %-escape. */
export function parseRequest(url: string): ParsedRequest | null {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const segments = rawPath.split('/').slice(1).map(decodeSafe);
  if (segments.some((s) => s === null)) return null;
  return { rawPath, segments: segments as string[], query };
}

/** Only these query parameters (and `token`) are allowed: anything else is answered 400. */
export function checkQuery(res: ServerResponse, query: URLSearchParams, allowed: readonly string[]): boolean {
  for (const k of query.keys()) {
    if (k === 'token' || allowed.includes(k)) continue;
    const takes = allowed.length ? `it takes ${allowed.join(', ')}` : 'it takes none';
    reply(res, 400, `unknown query parameter "${k}" for this path (${takes})`);
    return false;
  }
  return true;
}
