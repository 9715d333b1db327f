/**
 * How long linting 1,000 unit files takes (goal: under 1 s including CLI start).
 *
 *     npx tsx bench/lint.ts [COUNT]
 *
 * Generates COUNT (default 1,000) realistic unit files in a temp dir (services, templates, timers
 * with their oneshots, sockets with their services, [X-Fleet] sections, a fleet.yaml), then measures:
 *  - the library: read every file + lintUnitFiles() (what the controller does per commit);
 *  - end to end: `node dist/src/cli/main.js lint DIR` including Node and CLI start, when the CLI is
 *    built (`npm run build`) and has its lint command; otherwise it says so.
 * Prints medians of 5 runs (after one warm-up for the library). The temp dir is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintUnitFiles } from '../src/unit/lint/index.js';
import { load } from './floor.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function service(i: number): string {
  return `[Unit]
Description=Worker ${i} of the demo fleet
Documentation=https://example.com/docs/worker-${i} man:worker(8)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
Environment="WORKER_ID=${i}" LOG_LEVEL=info
ExecStartPre=-/bin/mkdir -p /tmp/worker-${i}
ExecStart=/bin/sh -c 'while true; do echo worker ${i}; sleep 5; done'
Restart=on-failure
RestartSec=2s
TimeoutStopSec=30s
KillSignal=SIGTERM
PrivateTmp=yes
NoNewPrivileges=true
MemoryMax=256M
CPUQuota=50%
TasksMax=512
LimitNOFILE=65536:524288
SuccessExitStatus=143 SIGTERM
IOReadBandwidthMax=/dev/sda 20M

[Install]
WantedBy=multi-user.target

[X-Fleet]
MachineMetadata="region=us-east" "region=us-west"
Conflicts=worker-${i}-*.service
`;
}

function template(i: number): string {
  return `[Unit]
Description=Web %i (pool ${i})
After=network.target

[Service]
ExecStart=/usr/bin/python3 -m http.server 80%i --bind 127.0.0.1
Restart=always
RestartSec=1s

[X-Fleet]
Conflicts=web${i}@*.service
`;
}

function timer(i: number): string {
  return `[Unit]
Description=Job ${i} every hour

[Timer]
OnCalendar=*-*-* *:${String(i % 60).padStart(2, '0')}:00
OnBootSec=5min
RandomizedDelaySec=30s
Persistent=true

[Install]
WantedBy=timers.target
`;
}

function oneshot(i: number): string {
  return `[Unit]
Description=Job ${i}

[Service]
Type=oneshot
ExecStart=/usr/bin/find /tmp -maxdepth 1 -name job-${i}-* -mmin +60 -delete

[X-Fleet]
MachineOf=job-${i}.timer
`;
}

function socket(i: number): string {
  return `[Unit]
Description=Echo socket ${i}

[Socket]
ListenStream=127.0.0.1:${10000 + i}
Accept=yes

[Install]
WantedBy=sockets.target
`;
}

function echo(): string {
  return `[Unit]
Description=Echo connection %i

[Service]
ExecStart=/bin/cat
StandardInput=socket
`;
}

/** Writes `count` unit files (and a fleet.yaml) into a new temp dir. */
function generate(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-bench-lint-'));
  const units: string[] = [];
  for (let i = 0; units.length < count; i++) {
    // Pairs need two free slots; the last slot, if odd, gets a plain service.
    const kind = count - units.length < 2 ? 0 : i % 10;
    if (kind < 6) {
      units.push(`worker-${i}.service`);
      writeFileSync(join(dir, `worker-${i}.service`), service(i));
    } else if (kind === 6) {
      units.push(`web${i}@.service`);
      writeFileSync(join(dir, `web${i}@.service`), template(i));
    } else if (kind < 9) {
      units.push(`job-${i}.timer`, `job-${i}.service`);
      writeFileSync(join(dir, `job-${i}.timer`), timer(i));
      writeFileSync(join(dir, `job-${i}.service`), oneshot(i));
    } else {
      units.push(`echo${i}.socket`, `echo${i}@.service`);
      writeFileSync(join(dir, `echo${i}.socket`), socket(i));
      writeFileSync(join(dir, `echo${i}@.service`), echo());
    }
  }
  const yaml = ['path: .', 'defaults:', '  state: launched', 'units:'];
  for (const u of units) {
    if (u.includes('@.service') && u.startsWith('web')) yaml.push(`  ${u}:`, '    instances: 2', '    state: launched');
    if (u.startsWith('job-') && u.endsWith('.service')) yaml.push(`  ${u}: loaded`);
  }
  writeFileSync(join(dir, 'fleet.yaml'), yaml.join('\n') + '\n');
  return dir;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function libraryRun(dir: string): { ms: number; diagnostics: number; files: number } {
  const t0 = performance.now();
  const names = readdirSync(dir).filter((n) => n !== 'fleet.yaml');
  const files = names.map((n) => ({ name: n, file: n, content: readFileSync(join(dir, n)) }));
  const { diagnostics } = lintUnitFiles(files);
  return {
    ms: performance.now() - t0,
    diagnostics: diagnostics.filter((d) => d.severity !== 'info').length,
    files: files.length,
  };
}

/** The library's floor: the same files read and cut into lines, nothing parsed. */
function readRun(dir: string): number {
  const t0 = performance.now();
  let lines = 0;
  for (const n of readdirSync(dir))
    if (n !== 'fleet.yaml') lines += readFileSync(join(dir, n), 'utf8').split('\n').length;
  if (lines === 0) throw new Error('bench/lint: no lines read');
  return performance.now() - t0;
}

function cliRun(args: string[]): { ms: number; status: number | null; stderr: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { ms: performance.now() - t0, status: r.status, stderr: r.stderr };
}

function main(): void {
  const count = Number(process.argv[2] ?? 1000);
  const dir = generate(count);
  try {
    console.log(`bench/lint: ${count} unit files in ${dir} (${process.version}, ${process.platform})`);
    libraryRun(dir); // warm-up: JIT and file cache
    const lib = Array.from({ length: 5 }, () => libraryRun(dir));
    const l = lib[0]!;
    const libMs = median(lib.map((x) => x.ms));
    const readMs = median(Array.from({ length: 5 }, () => readRun(dir)));
    console.log(
      `library  read + lintUnitFiles(): median ${libMs.toFixed(1)} ms ` +
        `(runs: ${lib.map((x) => x.ms.toFixed(0)).join(', ')} ms); ${l.files} files, ${l.diagnostics} warnings/errors`,
    );
    console.log(
      `floor    the same files read and split into lines: median ${readMs.toFixed(1)} ms; ratio ` +
        `${(libMs / readMs).toFixed(1)}x`,
    );

    if (!existsSync(CLI)) {
      console.log(`cli      not measured: ${CLI} does not exist (run \`npm run build\` first)`);
      return;
    }
    const probe = cliRun(['lint', dir, '--format', 'json']);
    if (probe.status !== 0 && probe.status !== 1) {
      console.log(
        `cli      not measured: \`gitfleet lint\` exited ${probe.status}: ${probe.stderr.trim().split('\n')[0] ?? ''}`,
      );
      return;
    }
    const help = Array.from({ length: 5 }, () => cliRun(['--help']));
    const cli = Array.from({ length: 5 }, () => cliRun(['lint', dir, '--format', 'json']));
    const m = median(cli.map((x) => x.ms));
    const floor = median(help.map((x) => x.ms));
    console.log(
      `floor    gitfleet --help: median ${floor.toFixed(0)} ms (Node + CLI start, measured in this run); ratio ` +
        `${(m / floor).toFixed(2)}x`,
    );
    console.log(
      `cli      gitfleet lint DIR: median ${m.toFixed(0)} ms end to end (runs: ` +
        `${cli.map((x) => x.ms.toFixed(0)).join(', ')} ` +
        `ms; exit ${cli[0]!.status})`,
    );
    console.log(
      `goal     < 1000 ms end to end: ${m < 1000 ? 'met' : 'NOT met'} (${(m - floor).toFixed(0)} ms above the floor)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    console.log(`load average at start ${loadAtStart}, at end ${load()}`);
  }
}

const loadAtStart = load();
main();
