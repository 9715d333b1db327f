/** `gitfleet agent`: run the units scheduled to this machine, until SIGINT/SIGTERM. */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, AgentError } from '../agent/agent.js';
import { describeAgent } from '../agent/registration.js';
import { UnitInspector } from '../agent/inspect.js';
import { lastMessages } from '../systemd/journal.js';
import { connectSystemd, type SystemdKind } from '../systemd/connect.js';
import { createLogger } from '../log.js';
import { readMachine } from '../store/readers.js';
import { agentMetrics } from '../metrics/agent.js';
import { openEtcdStore, type StoreFlags } from './common.js';
import { machineIdProblem } from '../fleet/machine-id.js';
import { CliError, UsageError } from './errors.js';
import { serveMetricsFlag } from './metrics.js';
import { fatalSignal, untilSignalOrFatal } from './signals.js';

interface AgentFlags extends StoreFlags {
  machineId?: string;
  metadata?: string;
  address?: string;
  systemd: SystemdKind;
  stateDir: string;
  journalDir?: string;
  leaseTtl: string;
  onExit: 'leave' | 'stop';
  metrics?: string;
}

export function readMachineId(flag: string | undefined): string {
  let id = flag;
  if (id === undefined) {
    try {
      id = readFileSync('/etc/machine-id', 'utf8').trim();
    } catch {
      throw new UsageError('no --machine-id given and /etc/machine-id cannot be read');
    }
    if (!id) throw new UsageError('/etc/machine-id is empty; pass --machine-id');
  }
  const problem = machineIdProblem(id);
  if (problem) throw new UsageError(`--machine-id: ${problem}`);
  return id;
}

/** `k=v,k2=v2` -> record. Keys and values are fleet metadata: no '=' or ',' inside. */
export function parseMetadata(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--metadata: "${p}" is not key=value`);
    const k = p.slice(0, i).trim(),
      v = p.slice(i + 1).trim();
    if (!/^[A-Za-z0-9_.-]+$/.test(k))
      throw new UsageError(`--metadata: key "${k}" must be letters, digits, '_', '.', '-'`);
    if (!v) throw new UsageError(`--metadata: "${k}" has an empty value`);
    if (k in out) throw new UsageError(`--metadata: "${k}" is given twice`);
    out[k] = v;
  }
  return out;
}

export function defaultAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function parseSeconds(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag}: "${v}" is not a number of seconds >= ${min}`);
  return n;
}

export async function run(flags: AgentFlags): Promise<number> {
  const machineId = readMachineId(flags.machineId);
  const metadata = parseMetadata(flags.metadata);
  const leaseTtl = parseSeconds('--lease-ttl', flags.leaseTtl, 2);
  const log = createLogger(`agent ${machineId.slice(0, 8)}`);
  const stateDir = resolve(flags.stateDir);
  const served = await serveMetricsFlag(flags.metrics, log);
  const store = await openEtcdStore(flags);
  let host: Awaited<ReturnType<typeof connectSystemd>>;
  try {
    host = await connectSystemd(flags.systemd, stateDir, `agent-${machineId.slice(0, 12)}`, (m) => log.warn(m));
  } catch (e) {
    // The likeliest reason a private instance cannot start: another agent with this machine id
    // runs on this host and owns it. Say that, rather than what the cgroup said.
    const other = await readMachine(store, machineId).catch(() => null);
    await store.close();
    await served?.server.close();
    if (other && flags.systemd === 'private') {
      throw new CliError(
        `machine id ${machineId} is already registered by a live agent${describeAgent(other)}; ` +
          `give each agent its own --machine-id`,
      );
    }
    throw new CliError(`cannot reach ${flags.systemd} systemd: ${(e as Error).message}`);
  }
  log.info('driving systemd', { which: host.description });
  // Answers `gitfleet journal` and `gitfleet status UNIT` for the units it runs here.
  const inspector = new UnitInspector({
    store,
    machineId,
    systemd: host.manager,
    journal: flags.journalDir ? { kind: 'directory', directory: resolve(flags.journalDir) } : host.journal,
    unitDir: host.unitDir,
    log: log.child('inspect'),
  });
  const { fatal, onFatal } = fatalSignal();
  const agent = new Agent({
    onFatal,
    store,
    machineId,
    metadata,
    address: flags.address ?? defaultAddress(),
    systemd: host.manager,
    unitDir: host.unitDir,
    runtimeUnitDir: host.runtimeUnitDir,
    stateDir: join(stateDir, 'agent'),
    onExit: flags.onExit,
    leaseTtlSeconds: leaseTtl,
    log,
    journal: (unit) => lastMessages(inspector.journal, unit),
    ...(served ? { metrics: agentMetrics(served.registry, machineId) } : {}),
  });
  try {
    await agent.start();
  } catch (e) {
    await host.close({ stopInstance: flags.onExit === 'stop' && !host.instance?.attached });
    await store.close();
    await served?.server.close();
    if (e instanceof AgentError) throw new CliError(e.message);
    throw e;
  }
  await inspector.start();
  const end = await untilSignalOrFatal(fatal);
  const units = flags.onExit === 'stop' ? 'stopping them' : 'left running';
  log.info('stopping', end.signal ? { signal: end.signal, units } : { error: end.fatal, units });
  await inspector.stop();
  await agent.stop();
  await host.close({ stopInstance: flags.onExit === 'stop' });
  await store.close();
  await served?.server.close();
  // A permanent failure (credentials refused, ...) is never retried forever: say it, exit 1.
  if (end.fatal) throw new CliError(`agent stopped: ${end.fatal.message}`);
  return 0;
}
