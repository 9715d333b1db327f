/**
 * The supervisor behind scripts/cluster.sh (docs/cluster.md): starts the end-to-end test's cluster
 * (test/support/cluster.ts) for people to try by hand, and holds it until told to stop.
 *
 *   node --import tsx scripts/cluster.ts run --dir DIR [--repo GIT_REPO] [--source local|http] [--lease-ttl S]
 *       3 etcd members, 3 agents (`gitfleet agent --systemd private`, metadata region=a/b/c),
 *       2 engines and a controller following a bare repository under DIR seeded from
 *       units.example/ (or --repo: a git repository is cloned, with its history, and its
 *       checked-out branch followed; any other directory is committed as the first commit), as
 *       local path (ref watch; default) or over smart
 *       HTTP served by this process (--source http, polled every 2 s).
 *       Writes DIR/supervisor.pid, DIR/pids ("role name pid starttime" per process), DIR/cluster.env,
 *       DIR/howto.txt, then DIR/ready. SIGTERM/SIGINT: ends everything by PID (agents stop their
 *       units and their systemd) and exits. SIGUSR1: starts again the agents and engines that
 *       exited (same machine id and state dir), and rewrites DIR/pids.
 *   node --import tsx scripts/cluster.ts cleanup --dir DIR
 *       Stops, by PID from their records, the private systemd instances still running under
 *       DIR/machines/ (after the supervisor was killed), removes their cgroups and etcd's data dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, PROJECT_ROOT, TSX_LOADER, stopInstancesSync } from '../test/support/cluster.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    repo: { type: 'string' },
    source: { type: 'string', default: 'local' },
    'lease-ttl': { type: 'string', default: '5' },
  },
});

function fail(msg: string): never {
  process.stderr.write(`cluster: ${msg}\n`);
  process.exit(2);
}

const cmd = positionals[0];
if (!values.dir) fail('--dir DIR is required');
const DIR = resolve(values.dir);

/** The kernel's start time of a process (field 22 of /proc/PID/stat): tells a reused PID apart. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

function writePids(c: Cluster): void {
  const lines = [{ role: 'supervisor', name: 'supervisor', pid: process.pid }, ...c.pids()].map(
    (p) => `${p.role} ${p.name} ${p.pid} ${startTime(p.pid)}`,
  );
  writeAtomic(join(DIR, 'pids'), lines.join('\n') + '\n');
}

/** Every regular file under `dir` (not .git), by relative path: the first commit of the unit repository. */
function filesOf(dir: string, rel = '', out: Record<string, Buffer> = {}): Record<string, Buffer> {
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    if (e.name === '.git') continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) filesOf(dir, r, out);
    else if (e.isFile()) out[r] = readFileSync(join(dir, r));
  }
  return out;
}

/** A git repository's top level is `dir` itself (then it is cloned, history and all). */
function isGitRepo(dir: string): boolean {
  try {
    return (
      resolve(
        execFileSync('git', ['-C', dir, 'rev-parse', '--show-toplevel'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim(),
      ) === resolve(dir)
    );
  } catch {
    return false;
  }
}

function howto(c: Cluster): string {
  const cli = `node --import ${TSX_LOADER} ${join(PROJECT_ROOT, 'src/cli/main.ts')}`;
  const agents = c.machines
    .map(
      (m) =>
        `    ${m.id}  ${Object.entries(m.metadata)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}  state dir ${m.stateDir}`,
    )
    .join('\n');
  return `gitfleet cluster running (everything under ${DIR}):
  etcd       ${c.etcd.endpoints.join(',')}
  agents (machine id, metadata, state dir):
${agents}
  engines    ${c.engines.map((e) => e.id).join(', ')} (lease TTL ${c.leaseTtl} s)
  controller follows ${c.source.repoArg} (branch ${c.branch})
  logs       ${join(DIR, 'logs')}/
  PIDs       ${join(DIR, 'pids')}

Use it (gitfleet from this checkout; \`npm run build\` gives dist/src/cli/main.js too):
  source ${join(DIR, 'cluster.env')}        # sets GITFLEET_ETCD and a gitfleet shell function
  gitfleet status
  gitfleet list-machines
  gitfleet list-units
  gitfleet list-unit-files
  gitfleet cat hello.service

Change what runs: edit, commit and push from the work tree
  cd ${c.source.work.dir}
  $EDITOR fleet.yaml && git commit -am 'my change' && git push origin HEAD:${c.branch}

Look at a machine's own systemd:
  XDG_RUNTIME_DIR=${c.machines[0]!.stateDir}/systemd/${c.machines[0]!.instanceName}/rt systemctl --user list-units

Take a machine away and bring it back:
  kill -9 <agent pid from ${join(DIR, 'pids')}>    # its units move after the lease TTL
  scripts/cluster.sh revive                        # restarts exited agents and engines

Stop everything:
  scripts/cluster.sh stop
  (cli: ${cli})
`;
}

async function run(): Promise<void> {
  const source = values.source as 'local' | 'http';
  if (source !== 'local' && source !== 'http') fail(`--source: "${source}" is not local or http`);
  const ttl = Number(values['lease-ttl']);
  if (!Number.isFinite(ttl) || ttl < 2) fail(`--lease-ttl: "${values['lease-ttl']}" is not a number of seconds >= 2`);
  const seed = values.repo;
  if (seed !== undefined && !statSync(seed, { throwIfNoEntry: false })?.isDirectory())
    fail(`--repo: ${seed} is not a directory`);
  writeFileSync(join(DIR, 'supervisor.pid'), `${process.pid}\n`);
  process.stdout.write(`cluster: starting under ${DIR}\n`);
  const c = await Cluster.start({
    dir: DIR,
    leaseTtl: ttl,
    engines: 2,
    source,
    poll: 2,
    env: { GITFLEET_LOG: 'info' },
    ...(seed && isGitRepo(seed)
      ? { seedRepo: seed }
      : { initialFiles: filesOf(seed ?? join(PROJECT_ROOT, 'units.example')) }),
  }).catch((e: Error) => fail(e.message));
  // test/support/etcd.ts turns SIGINT/SIGTERM into an immediate exit (its exit hook then SIGKILLs
  // etcd). Here a signal must end the cluster gracefully, so those handlers are replaced.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`cluster: ${sig}: stopping\n`);
    rmSync(join(DIR, 'ready'), { force: true });
    await c.stop();
    rmSync(join(DIR, 'pids'), { force: true });
    rmSync(join(DIR, 'supervisor.pid'), { force: true });
    process.stdout.write('cluster: stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  process.on('SIGUSR1', () => {
    void (async () => {
      for (const m of c.machines) {
        if (m.proc?.running) continue;
        process.stdout.write(`cluster: starting agent ${m.id} again\n`);
        await c.startAgent(m).catch((e: Error) => process.stdout.write(`cluster: agent ${m.id}: ${e.message}\n`));
      }
      for (const e of c.engines) {
        if (e.proc?.running) continue;
        process.stdout.write(`cluster: starting engine ${e.id} again\n`);
        c.startEngine(e);
      }
      writePids(c);
    })();
  });
  writePids(c);
  // etcd's data lives in a temp dir of its own (test/support/etcd.ts): `cleanup` removes it if we are killed.
  writeFileSync(join(DIR, 'etcd.dir'), `${dirname(c.etcd.members[0]!.dataDir)}\n`);
  writeFileSync(
    join(DIR, 'cluster.env'),
    `export GITFLEET_ETCD=${c.endpoints}\ngitfleet() { node --import ${TSX_LOADER} ` +
      `${join(PROJECT_ROOT, 'src/cli/main.ts')} ` +
      `"$@"; }\n`,
  );
  writeFileSync(join(DIR, 'howto.txt'), howto(c));
  writeFileSync(join(DIR, 'ready'), `${process.pid}\n`);
  process.stdout.write('cluster: ready\n');
  // Keep the PID file true when a process exits (killed by hand, or crashed).
  setInterval(() => {
    if (!stopping) writePids(c);
  }, 2_000);
}

if (cmd === 'run') {
  await run();
} else if (cmd === 'cleanup') {
  const machines = join(DIR, 'machines');
  if (existsSync(machines)) for (const m of readdirSync(machines)) stopInstancesSync(join(machines, m));
  const etcdDir = existsSync(join(DIR, 'etcd.dir')) ? readFileSync(join(DIR, 'etcd.dir'), 'utf8').trim() : '';
  if (etcdDir.startsWith(join(tmpdir(), 'gitfleet-etcd-'))) rmSync(etcdDir, { recursive: true, force: true });
  rmSync(join(DIR, 'etcd.dir'), { force: true });
} else {
  fail(`unknown command "${cmd ?? ''}" (run or cleanup)`);
}
