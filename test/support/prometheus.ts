/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for tests and scripts: started on a free
 * loopback port with a temp config and data dir, scraping the given targets every second; ended
 * by PID (SIGTERM, then SIGKILL), and SIGKILLed by an exit hook if a test left it running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './etcd.js';

export const PROMETHEUS = process.env.GITFLEET_PROMETHEUS ?? '/usr/bin/prometheus';

export interface ScrapeJob {
  job: string;
  targets: { address: string; labels?: Record<string, string> }[];
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Prometheus {
  url: string;
  pid: number;
  /** An instant query; the samples of its vector result. */
  query(q: string): Promise<Sample[]>;
  stop(): Promise<void>;
}

const live = new Map<number, ChildProcess>();
let hooked = false;

export async function startPrometheus(jobs: ScrapeJob[]): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-prometheus-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
    scrape_configs: jobs.map((j) => ({
      job_name: j.job,
      static_configs: j.targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} })),
    })),
  };
  // JSON is YAML: Prometheus reads it as its config.
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 1));
  const logFile = join(dir, 'prometheus.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const pid = child.pid;
  if (!pid) throw new Error(`${PROMETHEUS} could not be started`);
  live.set(pid, child);
  child.on('exit', () => live.delete(pid));
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const p of live.keys()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
  }
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(pid, 'SIGTERM');
      const t = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let start = performance.now(); ; ) {
    if (child.exitCode !== null) {
      const log = readFileSync(logFile, 'utf8');
      await stop();
      throw new Error(`prometheus exited with status ${child.exitCode}:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (performance.now() - start > 30_000) {
      await stop();
      throw new Error('prometheus was not ready within 30 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid,
    async query(q) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`query ${q}: ${body.error}`);
      if (body.data?.resultType !== 'vector') throw new Error(`query ${q}: a ${body.data?.resultType}, not a vector`);
      return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
    stop,
  };
}
