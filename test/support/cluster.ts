/**
 * A real gitfleet cluster on this machine, for the end-to-end test (test/e2e/), the benchmark
 * (bench/e2e.ts) and scripts/cluster.sh: a 3-member etcd (test/support/etcd.ts), agents as child
 * processes (`gitfleet agent --systemd private`, each with its own state dir, machine id, metadata
 * and private systemd user instance), engines as child processes, and a controller child process
 * following a bare repository, either over smart HTTP (test/support/gitserver.ts, in this process;
 * with a signed webhook after each push) or as a local path (ref watch).
 *
 * Every process is tracked by PID and ended by PID: stop() ends them gracefully (SIGTERM, then
 * SIGKILL), and a synchronous 'exit' handler SIGKILLs whatever is left. Agents run with
 * `--on-exit stop`, so a SIGTERMed agent stops its units and its systemd; a SIGKILLed agent leaves
 * its systemd running (as a real machine would), so its instance is found through the record in
 * its state dir (src/systemd/private.ts) and stopped by PID, and its cgroups removed.
 *
 * With `secureEtcd`, etcd serves clients over TLS and requires client certificates (made with
 * openssl), auth is turned on by `gitfleet auth setup` and every machine gets its user from
 * `gitfleet auth add-machine`: each component then runs as its own etcd user, and this process
 * observes as the read-only viewer. With `signedCommits`, every push is SSH-signed and the
 * controller takes only commits signed by that key (`--allowed-signers`).
 *
 * Oracle: `machineSystemd()` attaches to a machine's own systemd and `observe()` asks it through
 * `systemctl --user show` (not through gitfleet) what runs there.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attachPrivateSystemd,
  killCgroupProcessesSync,
  removeCgroups,
  type PrivateSystemd,
} from '../../src/systemd/private.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { DESIRED_ROOT, ENGINE_LEADER, machineKey } from '../../src/store/keys.js';
import { authUserName } from '../../src/store/auth.js';
import type { AccessRole } from '../../src/store/keys.js';
import { LOCAL_SERVER, makeCerts } from './certs.js';
import { startEtcd, freePort, type EtcdCluster } from './etcd.js';
import { TestRepo, gitAsync, git, type FileSpec } from './git.js';
import { commitAs, makeSshKey, type SshKey } from './signing.js';
import { startGitServer, type GitServer } from './gitserver.js';
import { pidAliveIn, systemctl } from './systemd.js';
import { TcpProxy } from './tcpproxy.js';

export const PROJECT_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const CLI = join(PROJECT_ROOT, 'src/cli/main.ts');
/** tsx's loader by absolute URL: `--import tsx` would resolve from the working directory. */
export const TSX_LOADER = import.meta.resolve('tsx');

/** argv (after the node binary) that runs the gitfleet CLI from source, from any directory. */
export function gitfleetArgv(args: string[]): string[] {
  return ['--import', TSX_LOADER, CLI, ...args];
}

// ---- processes -------------------------------------------------------------------------------

/** One child process, tracked by PID, its stdout+stderr in `logFile`. */
export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  readonly running: boolean;
  /** Resolves true once the process has exited, false after `ms`. */
  waitExit(ms?: number): Promise<boolean>;
  /** Send a signal by PID (no-op once it has exited). */
  signal(sig: NodeJS.Signals): void;
}

/** Live children by PID: SIGKILLed by the exit handler. */
const liveChildren = new Map<number, Proc>();
/** Agent state dirs whose private systemd instances the exit handler must stop. */
const agentStateDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveChildren.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of agentStateDirs) stopInstancesSync(dir);
  });
}

/** The private systemd records (src/systemd/private.ts) under an agent's state dir. */
function instanceRecords(
  stateDir: string,
): { name: string; pid: number; cgroupDirs: string[]; cgroupParents: string[] }[] {
  const base = join(stateDir, 'systemd');
  const out = [];
  let names: string[] = [];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  for (const name of names) {
    try {
      const rec = JSON.parse(readFileSync(join(base, name, 'systemd.json'), 'utf8'));
      out.push({
        name,
        pid: Number(rec.pid),
        cgroupDirs: rec.cgroupDirs ?? [],
        cgroupParents: rec.cgroupParents ?? [],
      });
    } catch {
      // no record: nothing runs there
    }
  }
  return out;
}

function isSystemdOf(pid: number, name: string): boolean {
  try {
    return (
      readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' &&
      readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/gitfleet-${name}/`)
    );
  } catch {
    return false;
  }
}

/** Synchronous last resort: SIGKILL an agent's systemd by PID, empty and remove its cgroups. */
export function stopInstancesSync(stateDir: string): void {
  for (const rec of instanceRecords(stateDir)) {
    if (isSystemdOf(rec.pid, rec.name)) {
      try {
        process.kill(rec.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    killCgroupProcessesSync(rec.cgroupDirs);
    removeCgroups(rec.cgroupDirs, rec.cgroupParents);
    rmSync(join(stateDir, 'systemd', rec.name, 'systemd.json'), { force: true });
  }
}

/** Stop every private systemd still running under an agent's state dir (by PID, via its record). */
export async function stopInstances(stateDir: string): Promise<void> {
  for (const rec of instanceRecords(stateDir)) {
    const inst = await attachPrivateSystemd({
      baseDir: join(stateDir, 'systemd'),
      name: rec.name,
      readyTimeoutMs: 2_000,
    }).catch(() => null);
    if (inst) await inst.stop({ timeoutMs: 5_000 });
    else stopInstancesSync(stateDir);
  }
}

export interface SpawnOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Its own process group and session, not ended with this process (scripts/cluster.sh). */
  detached?: boolean;
}

/** Spawn `node ...argv` tracked by PID (see liveChildren). */
export function spawnTracked(name: string, argv: string[], opts: SpawnOptions): Proc {
  installExitHook();
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, argv, {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
    detached: opts.detached ?? false,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not spawn node`);
  const pid = child.pid;
  let exited = false;
  const waiters: Array<() => void> = [];
  child.on('exit', () => {
    exited = true;
    liveChildren.delete(pid);
    for (const w of waiters.splice(0)) w();
  });
  child.on('error', () => {
    /* reported through 'exit' */
  });
  const proc: Proc = {
    name,
    pid,
    child,
    logFile: opts.logFile,
    get running() {
      return !exited;
    },
    waitExit(ms = 15_000) {
      return new Promise<boolean>((res) => {
        if (exited) return res(true);
        const t = setTimeout(() => res(false), ms);
        waiters.push(() => {
          clearTimeout(t);
          res(true);
        });
      });
    },
    signal(sig) {
      if (exited) return;
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    },
  };
  liveChildren.set(pid, proc);
  return proc;
}

/** SIGTERM, wait up to `ms`, then SIGKILL and wait. */
export async function endProc(p: Proc, ms = 15_000): Promise<void> {
  if (!p.running) return;
  p.signal('SIGTERM');
  if (await p.waitExit(ms)) return;
  p.signal('SIGKILL');
  await p.waitExit(5_000);
}

/** The last `lines` lines of a log file (for failure messages). */
export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command without blocking the event loop (the git server may live in this process). */
export function runAsync(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? PROJECT_ROOT,
        env: { ...process.env, ...opts.env },
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        res({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** A GET of `url` answers 200 (false while nothing listens there). */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

// ---- the unit repository ---------------------------------------------------------------------

/** Where units come from: a work tree whose pushes go to a bare repository the controller follows. */
export interface UnitSource {
  work: TestRepo;
  bare: string;
  /** What the controller's --repo is: the smart-HTTP URL of the bare repo, or its path. */
  repoArg: string;
  kind: 'http' | 'local';
  /**
   * Commit `files` in the work tree and push to the followed branch; then (http) deliver a signed
   * push webhook. Returns the commit. With signedCommits the commit is signed unless `unsigned`.
   */
  push(message: string, files: Record<string, FileSpec>, opts?: { unsigned?: boolean }): Promise<string>;
}

// ---- the cluster -----------------------------------------------------------------------------

export interface MachineSpec {
  id: string;
  metadata: Record<string, string>;
}

export interface ClusterOptions {
  /** Everything lives under this directory (state dirs, logs, repos). */
  dir: string;
  machines?: MachineSpec[];
  engines?: number;
  /** Lease TTL of agents and engines, seconds (default 3). */
  leaseTtl?: number;
  /** Controller source: bare repo over smart HTTP with --poll and a webhook (default), or its local path. */
  source?: 'http' | 'local';
  /** --poll seconds for the http source (default 1). */
  poll?: number;
  /** Initial files of the unit repository (default: a fleet.yaml that allows an empty cluster). */
  initialFiles?: Record<string, FileSpec>;
  /** Instead of initialFiles: clone this git repository (its checked-out branch is followed). */
  seedRepo?: string;
  /** Extra environment of every child (e.g. GITFLEET_LOG). */
  env?: NodeJS.ProcessEnv;
  /** Children in their own sessions, to outlive this process (scripts/cluster.sh). */
  detached?: boolean;
  /** Each agent reaches etcd through TCP proxies of its own, so a test can cut it off (cutAgent). */
  agentProxies?: boolean;
  /** Every agent, engine and the controller serve Prometheus metrics (`--metrics`) on a port of their own. */
  metrics?: boolean;
  /** etcd over TLS with client certificates and auth on; every component as its own user (see above). */
  secureEtcd?: boolean;
  /** Every push SSH-signed; the controller refuses commits not signed by that key (--allowed-signers). */
  signedCommits?: boolean;
}

export interface ClusterMachine extends MachineSpec {
  stateDir: string;
  /** systemd instance name under `stateDir/systemd/` (src/cli/agent.ts). */
  instanceName: string;
  proc: Proc | null;
  /** Agent starts so far (names the log files). */
  starts: number;
  /** With the metrics option: the agent's --metrics port (kept across restarts). */
  metricsPort?: number;
}

export interface ClusterEngine {
  id: string;
  proc: Proc | null;
  starts: number;
  metricsPort?: number;
}

/** A component's metrics endpoint (with the metrics option). */
export interface MetricsTarget {
  role: 'agent' | 'engine' | 'controller';
  /** Machine id, engine id, or 'controller'. */
  name: string;
  /** HOST:PORT, as Prometheus' static_configs want it. */
  address: string;
}

/** One `systemctl --user show` block: the unit as its machine's systemd has it. */
export interface UnitObservation {
  load: string;
  active: string;
  sub: string;
  mainPid: number;
  nRestarts: number;
  invocation: string;
  environment: string;
  /** When systemd started the main process / the unit turned active (CLOCK_MONOTONIC, µs; 0: never). */
  mainStartMono: number;
  activeEnterMono: number;
  /** Result (success, exit-code, ...) and the main process's exit status. */
  result: string;
  /** MainPID is a live process in this instance's cgroup. */
  pidAlive: boolean;
}

/** A process's own environment (empty once it is gone). */
export function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * The unit's live main process has VERSION=v: its own environment, not systemd's Environment
 * property (that one shows the new definition as soon as the daemon-reload is done, while the old
 * process still runs until the restart).
 */
export const runsVersion = (o: UnitObservation | undefined, v: string): boolean =>
  o !== undefined &&
  o.active === 'active' &&
  o.mainPid > 0 &&
  o.pidAlive &&
  environOf(o.mainPid).includes(`VERSION=${v}`);

/** machine id -> unit -> what its systemd says (machines whose systemd is gone are absent). */
export type Observation = Map<string, Map<string, UnitObservation>>;

export const DEFAULT_MACHINES = (tag: string): MachineSpec[] => [
  { id: `${tag}a`, metadata: { region: 'a' } },
  { id: `${tag}b`, metadata: { region: 'b' } },
  { id: `${tag}c`, metadata: { region: 'c', disk: 'ssd' } },
];

export class Cluster {
  etcd!: EtcdCluster;
  gitServer: GitServer | null = null;
  source!: UnitSource;
  controller: Proc | null = null;
  /** Observation store in this process (reads only). */
  store!: EtcdStore;
  readonly machines: ClusterMachine[];
  readonly engines: ClusterEngine[] = [];
  readonly leaseTtl: number;
  webhookUrl: string | null = null;
  private controllerMetricsPort: number | undefined;
  /** Controller starts so far (names the log files). */
  private controllerStarts = 0;
  /** The branch the controller follows (main, or the seed repository's checked-out branch). */
  branch = 'main';
  private webhookSecret = '';
  private readonly systemds = new Map<string, PrivateSystemd>();
  /** machine id -> its proxies, one per etcd member (with agentProxies). */
  private readonly proxies = new Map<string, TcpProxy[]>();
  private readonly tag = `${process.pid}`;
  /** secureEtcd: where `gitfleet auth setup` wrote each component's password. */
  readonly credentialsDir: string;
  /** signedCommits: the key every push is signed with, and the allowed-signers file listing it. */
  signingKey: SshKey | null = null;
  allowedSigners: string | null = null;

  private constructor(readonly opts: ClusterOptions) {
    this.leaseTtl = opts.leaseTtl ?? 3;
    this.machines = (opts.machines ?? DEFAULT_MACHINES(`m${process.pid}`)).map((m) => ({
      ...m,
      stateDir: join(opts.dir, 'machines', m.id),
      instanceName: `agent-${m.id.slice(0, 12)}`,
      proc: null,
      starts: 0,
    }));
    this.credentialsDir = join(opts.dir, 'credentials');
    const names = new Set(this.machines.map((m) => m.instanceName));
    if (names.size !== this.machines.length)
      throw new Error('machine ids must differ in their first 12 characters (they name the systemd instances)');
  }

  get endpoints(): string {
    return this.etcd.endpoints.join(',');
  }

  /**
   * Start etcd, the repository (and server), the agents, the engines and the controller; wait
   * until all machines registered.
   */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    mkdirSync(join(opts.dir, 'logs'), { recursive: true });
    try {
      c.etcd = await startEtcd({ members: 3, ...(opts.secureEtcd ? { tls: c.makeTls() } : {}) });
      if (opts.secureEtcd) await c.setupAuth();
      c.store = new EtcdStore({ endpoints: c.etcd.endpoints, prefix: '/gitfleet/', log: () => {}, ...c.viewerAuth() });
      await c.makeSource();
      if (opts.agentProxies) {
        for (const m of c.machines) {
          const ps = c.etcd.endpoints.map((e) => new TcpProxy('127.0.0.1', Number(new URL(e).port)));
          await Promise.all(ps.map((p) => p.start()));
          c.proxies.set(m.id, ps);
        }
      }
      await Promise.all(c.machines.map((m) => c.startAgent(m)));
      for (let i = 0; i < (opts.engines ?? 2); i++)
        c.engines.push({
          id: `engine${i + 1}-${c.tag}`,
          proc: null,
          starts: 0,
          ...(opts.metrics ? { metricsPort: await freePort() } : {}),
        });
      for (const e of c.engines) c.startEngine(e);
      await c.startController();
      await c.waitFor(
        'every machine registered',
        async () => (await Promise.all(c.machines.map((m) => c.store.get(machineKey(m.id))))).every(Boolean),
        30_000,
      );
      await c.waitFor('an engine leads', async () => (await c.leader()) !== null, 30_000);
    } catch (e) {
      const logs = c.logs();
      await c.stop().catch(() => {});
      throw new Error(`the cluster did not start: ${(e as Error).message}\n${logs}`);
    }
    return c;
  }

  private childEnv(): NodeJS.ProcessEnv {
    return { GITFLEET_LOG: 'info', NO_COLOR: '1', ...this.opts.env };
  }

  private get certsDir(): string {
    return join(this.opts.dir, 'certs');
  }

  /** A CA, etcd's server certificate and one client certificate (its CN names no etcd user). */
  private makeTls(): { certFile: string; keyFile: string; trustedCaFile: string } {
    mkdirSync(this.certsDir, { recursive: true });
    makeCerts(this.certsDir, [LOCAL_SERVER, { name: 'client' }]);
    const f = (n: string) => join(this.certsDir, n);
    return { certFile: f('server.crt'), keyFile: f('server.key'), trustedCaFile: f('ca.crt') };
  }

  /** `gitfleet auth setup`, then `gitfleet auth add-machine` for each machine, as a user would run them. */
  private async setupAuth(): Promise<void> {
    const rootPw = join(this.opts.dir, 'root.password');
    writeFileSync(rootPw, `root-${process.pid}-${Date.now()}\n`, { mode: 0o600 });
    const common = ['--root-password-file', rootPw, '--credentials-dir', this.credentialsDir, ...this.tlsArgs()];
    for (const args of [['auth', 'setup'], ...this.machines.map((m) => ['auth', 'add-machine', m.id])]) {
      const r = await runAsync(process.execPath, gitfleetArgv([...args, ...common, '--etcd', this.endpoints]));
      if (r.code !== 0) throw new Error(`gitfleet ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    }
  }

  private tlsArgs(): string[] {
    if (!this.opts.secureEtcd) return [];
    const f = (n: string) => join(this.certsDir, n);
    return ['--etcd-ca', f('ca.crt'), '--etcd-cert', f('client.crt'), '--etcd-key', f('client.key')];
  }

  /** The etcd flags of a component running as `role`: endpoints, and with secureEtcd its TLS files and user. */
  etcdArgs(role: AccessRole, endpoints = this.endpoints): string[] {
    if (!this.opts.secureEtcd) return ['--etcd', endpoints];
    const user = authUserName('/gitfleet/', role);
    return [
      '--etcd',
      endpoints,
      ...this.tlsArgs(),
      '--etcd-user',
      user,
      '--etcd-password-file',
      join(this.credentialsDir, `${user}.password`),
    ];
  }

  /** EtcdStore options of the read-only viewer (secureEtcd), for this process's observations. */
  private viewerAuth(): { ca?: Buffer; cert?: Buffer; key?: Buffer; user?: string; password?: string } {
    if (!this.opts.secureEtcd) return {};
    const f = (n: string) => readFileSync(join(this.certsDir, n));
    const user = authUserName('/gitfleet/', { kind: 'viewer' });
    return {
      ca: f('ca.crt'),
      cert: f('client.crt'),
      key: f('client.key'),
      user,
      password: readFileSync(join(this.credentialsDir, `${user}.password`), 'utf8').trim(),
    };
  }

  private logFile(name: string): string {
    return join(this.opts.dir, 'logs', `${name}.log`);
  }

  private async makeSource(): Promise<void> {
    const dir = this.opts.dir;
    let work: TestRepo;
    if (this.opts.seedRepo) {
      git(dir, ['clone', '-q', resolve(this.opts.seedRepo), 'work']);
      work = new TestRepo(join(dir, 'work'));
      work.git('remote', 'remove', 'origin');
      this.branch = work.git('rev-parse', '--abbrev-ref', 'HEAD');
      if (this.branch === 'HEAD')
        throw new Error(`${this.opts.seedRepo}: HEAD is detached; check out the branch to follow`);
    } else {
      work = TestRepo.init(dir, 'work');
    }
    if (this.opts.signedCommits) {
      this.signingKey = makeSshKey(dir, 'pusher');
      this.allowedSigners = join(dir, 'allowed_signers');
      writeFileSync(this.allowedSigners, this.signingKey.allowedLine());
      work.git('config', 'gpg.format', 'ssh');
      work.git('config', 'user.signingkey', `${this.signingKey.file}.pub`);
      work.git('config', 'commit.gpgsign', 'true');
    }
    if (!this.opts.seedRepo) work.commit('initial', this.opts.initialFiles ?? { 'fleet.yaml': 'allowEmpty: true\n' });
    // A seed's history is not signed by our key; with nothing applied yet only the head is checked.
    else if (this.opts.signedCommits) work.commit('signed by the test cluster');
    const kind = this.opts.source ?? 'http';
    const srv = join(dir, 'srv');
    const bare = work.cloneBare(srv, 'units.git');
    git(bare, ['config', 'http.receivepack', 'true']);
    let repoArg = bare;
    if (kind === 'http') {
      this.gitServer = await startGitServer(srv);
      repoArg = `${this.gitServer.url}/units.git`;
      this.webhookSecret = `secret-${process.pid}-${Date.now()}`;
      writeFileSync(join(dir, 'webhook.secret'), this.webhookSecret + '\n', { mode: 0o600 });
    }
    work.git('remote', 'add', 'origin', repoArg);
    const self = this;
    this.source = {
      work,
      bare,
      repoArg,
      kind,
      async push(message, files, opts = {}) {
        const commit = opts.unsigned ? commitAs(work, null, message, files) : work.commit(message, files);
        await gitAsync(work.dir, ['push', '-q', 'origin', `HEAD:${self.branch}`]);
        if (kind === 'http') await self.deliverWebhook();
        return commit;
      },
    };
  }

  /** POST a signed GitHub push event for the followed branch to the controller's webhook. */
  async deliverWebhook(): Promise<void> {
    if (!this.webhookUrl) return;
    const body = Buffer.from(JSON.stringify({ ref: `refs/heads/${this.branch}` }));
    const sig = `sha256=${createHmac('sha256', this.webhookSecret).update(body).digest('hex')}`;
    const res = await fetch(this.webhookUrl, {
      method: 'POST',
      body: new Uint8Array(body),
      headers: { 'x-github-event': 'push', 'x-hub-signature-256': sig, 'content-type': 'application/json' },
    }).catch((e: Error) => {
      const c = this.controller;
      const state = c ? `pid ${c.pid}, ${c.running ? 'running' : 'exited'}` : 'not started';
      const cause = (e.cause as Error | undefined)?.message ?? '';
      throw new Error(
        `webhook ${this.webhookUrl}: ${e.message} ${cause} (controller ${state}); its log ends:\n` +
          logTail(c?.logFile ?? '', 20),
      );
    });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
  }

  /** The gitfleet agent's command line for a machine. */
  agentArgs(m: ClusterMachine): string[] {
    const meta = Object.entries(m.metadata)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return [
      'agent',
      ...this.etcdArgs({ kind: 'machine', id: m.id }, this.agentEndpoints(m)),
      '--systemd',
      'private',
      '--state-dir',
      m.stateDir,
      '--machine-id',
      m.id,
      ...(meta ? ['--metadata', meta] : []),
      '--address',
      '127.0.0.1',
      '--lease-ttl',
      String(this.leaseTtl),
      '--on-exit',
      'stop',
      ...(m.metricsPort ? ['--metrics', `127.0.0.1:${m.metricsPort}`] : []),
    ];
  }

  /** Where each component serves its metrics (empty without the metrics option). */
  metricsTargets(): MetricsTarget[] {
    const out: MetricsTarget[] = [];
    for (const m of this.machines)
      if (m.metricsPort) out.push({ role: 'agent', name: m.id, address: `127.0.0.1:${m.metricsPort}` });
    for (const e of this.engines)
      if (e.metricsPort) out.push({ role: 'engine', name: e.id, address: `127.0.0.1:${e.metricsPort}` });
    if (this.controllerMetricsPort)
      out.push({ role: 'controller', name: 'controller', address: `127.0.0.1:${this.controllerMetricsPort}` });
    return out;
  }

  /** Start (or restart, same state dir and machine id) a machine's agent. Resolves once it runs its own systemd. */
  async startAgent(m: ClusterMachine): Promise<Proc> {
    if (m.proc?.running) throw new Error(`agent ${m.id} is already running (pid ${m.proc.pid})`);
    mkdirSync(m.stateDir, { recursive: true });
    agentStateDirs.add(m.stateDir);
    m.starts++;
    if (this.opts.metrics) m.metricsPort ??= await freePort();
    // Ready when its machine record is (re)written: a fresh registration, or a takeover of the
    // record a killed agent of this state dir left (same lineage, new startedAt).
    const before = (await this.read(machineKey(m.id))) ?? null;
    m.proc = spawnTracked(`agent ${m.id}`, gitfleetArgv(this.agentArgs(m)), {
      logFile: this.logFile(`agent-${m.id}-${m.starts}`),
      env: this.childEnv(),
      detached: this.opts.detached,
    });
    const proc = m.proc;
    await this.waitFor(
      `agent ${m.id} registered`,
      async () => {
        if (!proc.running) throw new Error(`agent ${m.id} exited; its log ends:\n${logTail(proc.logFile)}`);
        const now = (await this.store.get(machineKey(m.id)))?.value ?? null;
        return now !== null && now !== before;
      },
      30_000,
    );
    return proc;
  }

  /** Send a signal to a machine's agent and wait for it to exit. SIGKILL leaves its systemd (and units) running. */
  async killAgent(m: ClusterMachine, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = m.proc;
    if (!p) return;
    p.signal(sig);
    if (!(await p.waitExit(20_000))) throw new Error(`agent ${m.id} did not exit on ${sig}`);
  }

  startEngine(e: ClusterEngine): Proc {
    if (e.proc?.running) throw new Error(`engine ${e.id} is already running`);
    e.starts++;
    e.proc = spawnTracked(
      `engine ${e.id}`,
      gitfleetArgv([
        'engine',
        ...this.etcdArgs({ kind: 'engine' }),
        '--id',
        e.id,
        '--lease-ttl',
        String(this.leaseTtl),
        ...(e.metricsPort ? ['--metrics', `127.0.0.1:${e.metricsPort}`] : []),
      ]),
      { logFile: this.logFile(`${e.id}-${e.starts}`), env: this.childEnv(), detached: this.opts.detached },
    );
    return e.proc;
  }

  /**
   * Start (or restart) the controller. Resolves once it serves its webhook (http source; a
   * restart finds the desired root already there, so that alone says nothing) and the desired
   * root exists. A port taken between choosing it and the controller binding it is retried.
   */
  async startController(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const proc = await this.spawnController();
      try {
        await this.waitFor(
          'the controller serves its webhook and the branch head is applied',
          async () => {
            if (!proc.running) throw new Error(`controller exited; its log ends:\n${logTail(proc.logFile)}`);
            if (this.webhookUrl && !(await answers(`${this.webhookUrl}healthz`))) return false;
            return (await this.store.get(DESIRED_ROOT)) !== null;
          },
          30_000,
        );
        return;
      } catch (e) {
        if (attempt < 3 && !proc.running && /EADDRINUSE/.test(logTail(proc.logFile, 5))) continue;
        throw e;
      }
    }
  }

  private async spawnController(): Promise<Proc> {
    const args = [
      'controller',
      ...this.etcdArgs({ kind: 'controller' }),
      ...(this.allowedSigners ? ['--allowed-signers', this.allowedSigners] : []),
      '--repo',
      this.source.repoArg,
      '--branch',
      this.branch,
      '--state-dir',
      join(this.opts.dir, 'controller'),
    ];
    if (this.opts.metrics) {
      this.controllerMetricsPort ??= await freePort();
      args.push('--metrics', `127.0.0.1:${this.controllerMetricsPort}`);
    }
    if (this.source.kind === 'http') {
      const port = await freePort();
      args.push(
        '--poll',
        String(this.opts.poll ?? 1),
        '--listen',
        `127.0.0.1:${port}`,
        '--webhook-secret-file',
        join(this.opts.dir, 'webhook.secret'),
      );
      this.webhookUrl = `http://127.0.0.1:${port}/`;
    }
    this.controllerStarts++;
    this.controller = spawnTracked('controller', gitfleetArgv(args), {
      logFile: this.logFile(this.controllerStarts === 1 ? 'controller' : `controller-${this.controllerStarts}`),
      env: this.childEnv(),
      detached: this.opts.detached,
    });
    return this.controller;
  }

  /** A key's value as this process's store reads it, retried while etcd does not answer in time. */
  async read(key: string): Promise<string | undefined> {
    let value: string | undefined;
    await this.waitFor(
      `etcd to answer a read of ${key}`,
      async () => {
        value = (await this.store.get(key))?.value;
        return true;
      },
      15_000,
    );
    return value;
  }

  /** The leading engine's id, or null. */
  async leader(): Promise<string | null> {
    return (await this.store.get(ENGINE_LEADER))?.value ?? null;
  }

  /** A machine's own systemd (attached through the record its agent left; null if it is not running). */
  async machineSystemd(m: ClusterMachine): Promise<PrivateSystemd | null> {
    const cached = this.systemds.get(m.id);
    if (cached && !cached.exited) return cached;
    this.systemds.delete(m.id);
    const recPath = join(m.stateDir, 'systemd', m.instanceName, 'systemd.json');
    if (!existsSync(recPath)) return null;
    const inst = await attachPrivateSystemd({
      baseDir: join(m.stateDir, 'systemd'),
      name: m.instanceName,
      readyTimeoutMs: 5_000,
    }).catch(() => null);
    if (inst) this.systemds.set(m.id, inst);
    return inst;
  }

  /**
   * Ask every machine's own systemd (systemctl --user show, one call per machine) about `units`.
   * Units systemd does not know come back with load "not-found".
   */
  async observe(units: readonly string[]): Promise<Observation> {
    const out: Observation = new Map();
    await Promise.all(
      this.machines.map(async (m) => {
        const inst = await this.machineSystemd(m);
        if (!inst) return;
        const r = await systemctl(
          inst,
          'show',
          '-p',
          'Id,LoadState,ActiveState,SubState,MainPID,NRestarts,InvocationID,Environment,Result,' +
            'ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic',
          ...units,
        );
        if (r.code !== 0 && !r.stdout) return;
        const blocks = r.stdout.trim().split(/\n\s*\n/);
        const map = new Map<string, UnitObservation>();
        blocks.forEach((b, i) => {
          const p: Record<string, string> = {};
          for (const line of b.split('\n')) {
            const k = line.indexOf('=');
            if (k > 0) p[line.slice(0, k)] = line.slice(k + 1);
          }
          const unit = units[i];
          if (!unit) return;
          const mainPid = Number(p.MainPID ?? 0);
          map.set(unit, {
            load: p.LoadState ?? '',
            active: p.ActiveState ?? '',
            sub: p.SubState ?? '',
            mainPid,
            nRestarts: Number(p.NRestarts ?? 0),
            invocation: p.InvocationID ?? '',
            environment: p.Environment ?? '',
            mainStartMono: Number(p.ExecMainStartTimestampMonotonic ?? 0),
            activeEnterMono: Number(p.ActiveEnterTimestampMonotonic ?? 0),
            result: p.Result ?? '',
            pidAlive: pidAliveIn(inst, mainPid),
          });
        });
        out.set(m.id, map);
      }),
    );
    return out;
  }

  /** Run the gitfleet CLI against this cluster. */
  cli(...args: string[]): Promise<CommandResult> {
    return runAsync(process.execPath, gitfleetArgv([...args, ...this.etcdArgs({ kind: 'viewer' })]), {
      env: { NO_COLOR: '1' },
    });
  }

  /**
   * Observe `units` on every machine (observe()) until `problem` finds none; fail naming `what`,
   * the last problem and every process's log tail.
   */
  async settle(what: string, ms: number, units: readonly string[], problem: (o: Observation) => string) {
    let last = '';
    let obs: Observation = new Map();
    try {
      await this.waitFor(
        what,
        async () => {
          obs = await this.observe(units);
          last = problem(obs);
          return last === '';
        },
        ms,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\nlast problem: ${last}\n${this.logs()}`);
    }
    return obs;
  }

  /**
   * Poll `check` every 50 ms until true; fail naming `what` after `ms`. A read of this process's
   * own store that etcd did not answer in time (a loaded machine, a fault in progress) is a "not
   * yet", not a failure of the check.
   */
  async waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<number> {
    const start = performance.now();
    let unanswered: Error | null = null;
    for (;;) {
      try {
        if (await check()) return performance.now() - start;
      } catch (e) {
        if (!(e instanceof StoreUnavailableError)) throw e;
        unanswered = e;
      }
      if (performance.now() - start > ms)
        throw new Error(
          `timed out after ${ms} ms waiting for: ${what}${unanswered ? ` (etcd: ${unanswered.message})` : ''}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // ---- faults -------------------------------------------------------------------------------

  /** How a machine's agent reaches etcd: through its own proxies (agentProxies), else directly. */
  agentEndpoints(m: ClusterMachine): string {
    const ps = this.proxies.get(m.id);
    if (!ps) return this.endpoints;
    const scheme = new URL(this.etcd.endpoints[0]!).protocol;
    return ps.map((p) => `${scheme}//127.0.0.1:${p.port}`).join(',');
  }

  /** Partition a machine's agent from etcd (its proxies hold every byte), or heal it. */
  cutAgent(m: ClusterMachine): void {
    const ps = this.proxies.get(m.id);
    if (!ps) throw new Error('cutAgent needs the cluster started with agentProxies');
    for (const p of ps) p.cut();
  }

  healAgent(m: ClusterMachine): void {
    for (const p of this.proxies.get(m.id) ?? []) p.heal();
  }

  /** SIGSTOP every etcd member (a frozen control plane); thawEtcd sends SIGCONT. */
  async freezeEtcd(): Promise<void> {
    for (let i = 0; i < this.etcd.members.length; i++) await this.etcd.kill(i, 'SIGSTOP');
  }

  async thawEtcd(): Promise<void> {
    for (let i = 0; i < this.etcd.members.length; i++) await this.etcd.kill(i, 'SIGCONT');
  }

  /** SIGKILL every etcd member and wait for them to exit; restartEtcd starts them on their data. */
  async killEtcd(): Promise<void> {
    await Promise.all(this.etcd.members.map((_, i) => this.etcd.kill(i, 'SIGKILL')));
  }

  async restartEtcd(): Promise<void> {
    await Promise.all(this.etcd.members.map((_, i) => this.etcd.restart(i)));
  }

  /** The index of the etcd member that leads the raft group, from the members' own status. */
  async etcdLeader(): Promise<number> {
    for (let i = 0; i < this.etcd.members.length; i++) {
      const r = await runAsync('etcdctl', ['--endpoints', this.etcd.endpoints[i]!, 'endpoint', 'status', '-w', 'json']);
      if (r.code !== 0) continue;
      const [st] = JSON.parse(r.stdout) as { Status: { header: { member_id: number }; leader: number } }[];
      if (st && st.Status.header.member_id === st.Status.leader) return i;
    }
    throw new Error('no etcd member says it leads');
  }

  /** The engine process that leads (by the leader key's value). */
  async leaderEngine(): Promise<ClusterEngine> {
    const id = await this.leader();
    const e = this.engines.find((x) => x.id === id);
    if (!e) throw new Error(`no engine leads (leader key: ${id})`);
    return e;
  }

  /** `systemctl --user daemon-reexec` on a machine's own systemd. */
  async reexecSystemd(m: ClusterMachine): Promise<void> {
    const inst = await this.machineSystemd(m);
    if (!inst) throw new Error(`machine ${m.id} has no systemd running`);
    const r = await systemctl(inst, 'daemon-reexec');
    if (r.code !== 0) throw new Error(`daemon-reexec on ${m.id} failed: ${r.stderr}`);
  }

  /**
   * Bring every part back after a fault that was cut short (a check failed mid-fault): etcd
   * members running and not stopped, every agent's path to etcd healed, every engine running and
   * not stopped, every agent and the controller running. What runs is left as it is.
   */
  async repair(): Promise<void> {
    await this.thawEtcd();
    for (let i = 0; i < this.etcd.members.length; i++) if (!this.etcd.members[i]!.pid) await this.etcd.restart(i);
    for (const m of this.machines) this.healAgent(m);
    for (const e of this.engines) {
      e.proc?.signal('SIGCONT');
      if (!e.proc?.running) this.startEngine(e);
    }
    for (const m of this.machines) if (!m.proc?.running) await this.startAgent(m);
    if (!this.controller?.running) await this.startController();
  }

  /** Every process's log tail, for failure messages. */
  logs(lines = 15): string {
    const procs = [...this.machines.map((m) => m.proc), ...this.engines.map((e) => e.proc), this.controller].filter(
      (p): p is Proc => p !== null,
    );
    return procs
      .map(
        (p) =>
          `--- ${p.name} (pid ${p.pid}, ${p.running ? 'running' : 'exited'}) ` +
          `${p.logFile}\n${logTail(p.logFile, lines)}`,
      )
      .join('\n');
  }

  /** Every PID this cluster runs, by role (scripts/cluster.sh writes them down). */
  pids(): { role: string; name: string; pid: number }[] {
    const out: { role: string; name: string; pid: number }[] = [];
    for (const m of this.etcd?.members ?? []) if (m.pid) out.push({ role: 'etcd', name: m.name, pid: m.pid });
    for (const m of this.machines) if (m.proc?.running) out.push({ role: 'agent', name: m.id, pid: m.proc.pid });
    for (const m of this.machines)
      for (const r of instanceRecords(m.stateDir))
        if (isSystemdOf(r.pid, r.name)) out.push({ role: 'systemd', name: m.id, pid: r.pid });
    for (const e of this.engines) if (e.proc?.running) out.push({ role: 'engine', name: e.id, pid: e.proc.pid });
    if (this.controller?.running) out.push({ role: 'controller', name: 'controller', pid: this.controller.pid });
    return out;
  }

  /**
   * End everything by PID: controller, engines, agents (SIGTERM: they stop their units and their
   * systemd), any systemd left by a killed agent, then etcd and the git server.
   */
  async stop(): Promise<void> {
    if (this.controller) await endProc(this.controller);
    await Promise.all(this.engines.map((e) => (e.proc ? endProc(e.proc) : undefined)));
    await Promise.all(this.machines.map((m) => (m.proc ? endProc(m.proc, 20_000) : undefined)));
    for (const m of this.machines) {
      await stopInstances(m.stateDir);
      agentStateDirs.delete(m.stateDir);
    }
    this.systemds.clear();
    await this.store?.close().catch(() => {});
    for (const ps of this.proxies.values()) await Promise.all(ps.map((p) => p.stop()));
    this.proxies.clear();
    await this.gitServer?.stop();
    await this.etcd?.stop();
  }
}
