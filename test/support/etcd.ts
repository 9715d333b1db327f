/**
 * A real etcd for tests: one member or a three-member cluster on free loopback ports, with a temp
 * data dir and fast election flags (short heartbeat and election timeouts, so a killed leader is
 * replaced within a second).
 *
 * Every process started here is tracked by PID and ended by PID: on stop(), and, should a test
 * file die first, by a synchronous 'exit' handler that SIGKILLs whatever is still running (SIGINT
 * and SIGTERM are routed through process.exit so that handler runs). Start one cluster per test
 * file (in before()), stop it in after().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Etcd3 } from 'etcd3';

export interface EtcdMember {
  name: string;
  /** PID of the running process; 0 while the member is stopped. */
  pid: number;
  /** http(s)://127.0.0.1:PORT, what clients connect to. */
  clientUrl: string;
  peerUrl: string;
  /** Plain-http URL serving /health and /metrics (also when clients use TLS). */
  metricsUrl: string;
  dataDir: string;
  /** etcd's stderr log (kept until stop()). */
  logFile: string;
}

export interface EtcdCluster {
  /** Client URLs of every member, for the store's `--etcd`. */
  endpoints: string[];
  members: EtcdMember[];
  /**
   * Send `signal` (default SIGKILL) to member i and wait until its process has exited.
   * SIGSTOP and SIGCONT (a hung member, and its recovery) are sent without waiting.
   */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Start member i again on the same ports and data dir; resolves once it answers /health. */
  restart(i: number): Promise<void>;
  /** End every member (SIGKILL: the data is thrown away), wait for the PIDs, remove the data dirs. */
  stop(): Promise<void>;
}

export interface EtcdTlsFiles {
  /** Server certificate and key (must be valid for 127.0.0.1). */
  certFile: string;
  keyFile: string;
  /** CA that signed client certificates; when set, etcd requires a client certificate. */
  trustedCaFile?: string;
}

export interface StartEtcdOptions {
  members?: 1 | 3;
  /** Serve clients over TLS (peers stay on plain http on loopback). */
  tls?: EtcdTlsFiles;
  /** More etcd flags, e.g. ['--auto-compaction-retention=0']. */
  extraArgs?: string[];
}

const HEALTH_TIMEOUT_MS = 15_000;

/** Every etcd process this module started and has not yet seen exit, by PID. */
const live = new Map<number, ChildProcess>();
/** Temp roots of clusters not yet stopped: removed by the exit hook too. */
const roots = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the one signal that needs no waiting.
  process.on('exit', () => {
    for (const pid of live.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
  });
  // A signal's default action skips 'exit' handlers: turn it into an exit.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  }
}

/** Throws a clear error when the etcd binary is not on PATH. */
export function requireEtcd(): void {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      'etcd is not installed: the store tests need a real etcd server (3.4+). ' +
        "Install Debian's etcd-server (`apt-get install etcd-server`), or run `npm test`, " +
        'which installs it when it runs as root with apt-get.',
    );
  }
}

/** A port that was free a moment ago: bind port 0 on loopback, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function healthy(metricsUrl: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${metricsUrl}/health`, { timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  // The child is unref'd: hold the event loop open until its exit is seen.
  const keepAlive = setInterval(() => undefined, 1000);
  return new Promise((resolve) =>
    child.once('exit', () => {
      clearInterval(keepAlive);
      resolve();
    }),
  );
}

interface MemberState extends EtcdMember {
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  child: ChildProcess | null;
}

/**
 * Start etcd (one member, or three forming one cluster) and wait until every member answers
 * /health. Throws naming the member and quoting its log when one does not come up.
 */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  requireEtcd();
  installExitHook();
  // Ports are found free then handed to etcd; another process can take one in between. Retry
  // with fresh ports a few times before giving up.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastErr = e;
      if (!(e instanceof Error && /address already in use/.test(e.message))) throw e;
    }
  }
  throw lastErr;
}

async function startOnce(opts: StartEtcdOptions): Promise<EtcdCluster> {
  const n = opts.members ?? 1;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gitfleet-etcd-'));
  roots.add(root);
  const scheme = opts.tls ? 'https' : 'http';
  const members: MemberState[] = [];
  for (let i = 0; i < n; i++) {
    const [clientPort, peerPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const name = `m${i}`;
    const dataDir = path.join(root, name);
    members.push({
      name,
      pid: 0,
      clientPort,
      peerPort,
      metricsPort,
      clientUrl: `${scheme}://127.0.0.1:${clientPort}`,
      peerUrl: `http://127.0.0.1:${peerPort}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}`,
      dataDir,
      logFile: path.join(root, `${name}.log`),
      child: null,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');

  const spawnMember = (m: MemberState): void => {
    const args = [
      '--name',
      m.name,
      '--data-dir',
      m.dataDir,
      '--listen-client-urls',
      m.clientUrl,
      '--advertise-client-urls',
      m.clientUrl,
      '--listen-peer-urls',
      m.peerUrl,
      '--initial-advertise-peer-urls',
      m.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      path.basename(root),
      '--listen-metrics-urls',
      m.metricsUrl,
      '--heartbeat-interval=10',
      '--election-timeout=100',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ];
    if (opts.tls) {
      args.push('--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile);
      if (opts.tls.trustedCaFile) args.push('--trusted-ca-file', opts.tls.trustedCaFile, '--client-cert-auth');
    }
    args.push(...(opts.extraArgs ?? []));
    const log = fs.openSync(m.logFile, 'a');
    const child = spawn('etcd', args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    // Unref'd: a test file that forgets stop() still exits, and the exit hook ends the process.
    child.unref();
    if (child.pid === undefined) throw new Error(`etcd member ${m.name} could not be started`);
    const pid = child.pid;
    live.set(pid, child);
    child.once('exit', () => {
      live.delete(pid);
      if (m.child === child) {
        m.child = null;
        m.pid = 0;
      }
    });
    m.child = child;
    m.pid = pid;
  };

  const waitHealthy = async (ms: MemberState[]): Promise<void> => {
    const deadline = performance.now() + HEALTH_TIMEOUT_MS;
    const pending = new Set(ms);
    while (pending.size > 0) {
      for (const m of [...pending]) {
        if (!m.child) {
          throw new Error(`etcd member ${m.name} exited while starting; its log ends:\n${tail(m.logFile)}`);
        }
        if (await healthy(m.metricsUrl)) pending.delete(m);
      }
      if (pending.size === 0) break;
      if (performance.now() > deadline) {
        const m = [...pending][0]!;
        throw new Error(
          `etcd member ${m.name} did not answer ${m.metricsUrl}/health within ${HEALTH_TIMEOUT_MS} ms; its log ` +
            `ends:\n${tail(m.logFile)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i} (the cluster has ${members.length})`);
    const child = m.child;
    if (!child) return;
    child.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    await waitExit(child);
  };

  const stop = async (): Promise<void> => {
    await Promise.all(members.map((_, i) => kill(i, 'SIGKILL')));
    fs.rmSync(root, { recursive: true, force: true });
    roots.delete(root);
  };

  try {
    for (const m of members) spawnMember(m);
    await waitHealthy(members);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    endpoints: members.map((m) => m.clientUrl),
    members,
    kill,
    async restart(i: number): Promise<void> {
      const m = members[i];
      if (!m) throw new Error(`no etcd member ${i} (the cluster has ${members.length})`);
      // The old process must be gone before its ports and data dir are reused.
      await kill(i, 'SIGKILL');
      spawnMember(m);
      await waitHealthy([m]);
    },
    stop,
  };
}

/**
 * Turn authentication on through `admin` (a client of the cluster, closed afterwards): a root user,
 * which etcd requires first, and `user` with `password`, who may read and write under `prefix` only.
 */
export async function enableAuth(
  admin: Etcd3,
  opts: { user: string; password: string; prefix: string },
): Promise<void> {
  try {
    const root = await admin.user('root').create('root-pw');
    await root.addRole('root');
    const role = await admin.role(opts.user).create();
    await role.grant({ permission: 'Readwrite', range: admin.range({ prefix: opts.prefix }) });
    const user = await admin.user(opts.user).create(opts.password);
    await user.addRole(opts.user);
    await admin.auth.authEnable({});
  } finally {
    admin.close();
  }
}
