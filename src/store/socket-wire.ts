/**
 * The wire protocol between a Store served over a unix socket (socket-server.ts) and its client
 * (socket-client.ts): how other commands on the same machine reach the embedded store of a running
 * `gitfleet up` (its reads, watches, and the leased writes `gitfleet journal` makes). Owner-only by
 * where it lives: the socket is made inside a directory of mode 0700 (the socket's own mode is not
 * honoured everywhere), so only the user who runs `up` (and root) can connect. Nothing listens on
 * the network.
 *
 * The protocol is JSON, one message per line. Requests `{id, op, ...}` get `{id, result}` or
 * `{id, error: {name, message}}`; a watch pushes `{watch, events}` or `{watch, failed}`, a lease
 * `{lease, lost}`. A connection's leases are released (their keys expire after the TTL, as etcd
 * does for a client that went away) and its watches closed when it ends.
 */
import type { Socket } from 'node:net';

/** Longest message accepted (a txn of 128 puts of unit bodies fits). */
const MAX_LINE = 8 * 1024 * 1024;

// biome-ignore lint/suspicious/noExplicitAny: messages are JSON, checked field by field where read
export type Msg = Record<string, any>;

/** Split a stream into JSON lines; a line over MAX_LINE ends the connection. */
export function onLines(sock: Socket, handle: (m: Msg) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE && !buf.includes('\n')) return void sock.destroy(new Error('message too large'));
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line) continue;
      let m: Msg;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        return void sock.destroy(new Error('not JSON'));
      }
      handle(m);
    }
  });
}

/** Write one message, unless the connection is already gone. */
export const send = (sock: Socket, m: Msg) => {
  if (!sock.destroyed) sock.write(JSON.stringify(m) + '\n');
};
