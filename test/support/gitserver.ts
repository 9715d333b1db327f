/**
 * A smart-HTTP git server for tests: an in-process Node http server that runs the real
 * `git http-backend` as a CGI program per request. Serves every repository under
 * `root` (http://127.0.0.1:PORT/<path under root>); clone, fetch and push all work, for both
 * isomorphic-git and the git CLI. Each CGI child is tracked by PID and killed on stop() and on
 * process exit, so nothing outlives the test. With `auth`, every request needs HTTP basic
 * authentication.
 *
 * The server runs in the test's own event loop: a git CLI talking to it must be run asynchronously
 * (gitAsync / TestRepo.gitAsync in test/support/git.ts). execFileSync / TestRepo.git would block
 * the loop that has to answer the request, and the push or clone hangs forever.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitServer {
  /** Base URL without trailing slash: `${url}/repo.git` serves `${root}/repo.git`. */
  url: string;
  /** Requests served so far (method + path), for assertions about what a client did. */
  requests: string[];
  stop(): Promise<void>;
}

const BACKEND = process.env.GIT_HTTP_BACKEND ?? '/usr/lib/git-core/git-http-backend';

export interface GitServerOptions {
  /**
   * Require HTTP basic authentication with this user and password on every request (401 with a
   * WWW-Authenticate challenge otherwise), as a hosted git server does for a private repository.
   */
  auth?: { username: string; password: string };
  /**
   * Called with each request ("POST /repo.git/git-upload-pack"); a promise it returns holds the
   * request until it settles (a test's way to have a fetch in flight at a moment of its choosing).
   */
  hold?: (request: string) => Promise<void> | undefined;
}

export async function startGitServer(root: string, opts: GitServerOptions = {}): Promise<GitServer> {
  const children = new Set<ChildProcess>();
  const requests: string[] = [];
  const killAll = (): void => {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
  };
  process.on('exit', killAll);

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${u.pathname}`);
    const held = opts.hold?.(`${req.method} ${u.pathname}`);
    if (held) void held.then(() => serve(req, res, u));
    else serve(req, res, u);
  });

  function serve(req: IncomingMessage, res: ServerResponse, u: URL): void {
    if (opts.auth) {
      const want = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        req.resume();
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('authentication required\n');
        return;
      }
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(u.pathname),
      QUERY_STRING: u.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      // http-backend only allows receive-pack (push) for an authenticated user.
      REMOTE_USER: 'test',
    };
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);

    const child = spawn(BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    child.on('error', (e) => {
      children.delete(child);
      if (!res.headersSent) res.writeHead(500).end(`git http-backend failed to start: ${e.message}`);
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    req.pipe(child.stdin!);
    child.stdin!.on('error', () => {
      /* backend may exit before reading everything */
    });

    // CGI response: header lines, a blank line, then the body.
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      let sep = head.indexOf('\r\n\r\n');
      let sepLen = 4;
      if (sep < 0) {
        sep = head.indexOf('\n\n');
        sepLen = 2;
      }
      if (sep < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, sep).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = parseInt(v, 10) || 200;
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(sep + sepLen));
    });
    child.stdout!.on('end', () => {
      if (!headersDone) res.writeHead(502).end(`git http-backend: no CGI headers; ${stderr}`);
      else res.end();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async stop() {
      killAll();
      process.off('exit', killAll);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
