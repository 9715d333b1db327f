/**
 * A real OpenSSH server for tests, on a free loopback port, with its own host key, config and
 * authorized client key in a temp dir: git over SSH is then the real thing (`git-upload-pack` run
 * by sshd for the logged-in user). Runs as the test's user (root here), in the foreground (-D), and
 * is ended by its PID on stop() or, should the test die first, by a synchronous 'exit' handler.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export interface Sshd {
  port: number;
  pid: number;
  /** The login that sshd accepts the client key for. */
  user: string;
  /** Private key the server accepts (mode 0600). */
  clientKey: string;
  /** known_hosts with this server's host key for [127.0.0.1]:port. */
  knownHosts: string;
  /** A known_hosts that names another key for the same host and port. */
  wrongKnownHosts: string;
  /** A valid key the server does not accept. */
  otherKey: string;
  /** sshd's log so far (stderr, -e). */
  log(): string;
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gitfleet-test', '-f', file]);
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('error', () => res(false));
  });
}

export async function startSshd(dir: string): Promise<Sshd> {
  mkdirSync(dir, { recursive: true });
  // sshd's privilege separation directory; Debian creates it at boot only when the service runs.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'client_ed25519');
  const otherKey = join(dir, 'other_ed25519');
  const otherHost = join(dir, 'otherhost_ed25519');
  for (const k of [hostKey, clientKey, otherKey, otherHost]) keygen(k);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const hostLine = (pub: string) => {
    const [type, key] = readFileSync(pub, 'utf8').trim().split(/\s+/);
    return `[127.0.0.1]:${port} ${type} ${key}\n`;
  };
  const knownHosts = join(dir, 'known_hosts');
  const wrongKnownHosts = join(dir, 'wrong_known_hosts');
  writeFileSync(knownHosts, hostLine(`${hostKey}.pub`));
  writeFileSync(wrongKnownHosts, hostLine(`${otherHost}.pub`));

  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', kill);
  const deadline = performance.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || performance.now() > deadline) {
      kill();
      throw new Error(`sshd did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    user: userInfo().username,
    clientKey,
    knownHosts,
    wrongKnownHosts,
    otherKey,
    log: () => log,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(kill, 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}
