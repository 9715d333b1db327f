/** The etcd test harness itself: clear error without etcd, nothing left behind however a test file ends. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEtcd } from './etcd.js';

const harness = fileURLToPath(new URL('./etcd.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has exited already
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 3000): Promise<boolean> {
  const end = performance.now() + ms;
  while (alive(pid)) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Run a script that starts etcd and prints `pid dataDir`, then ends as `ending` says. */
async function orphanScript(
  t: { after(fn: () => void): void },
  ending: string,
): Promise<{ child: ReturnType<typeof spawn>; pid: number; dataDir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitfleet-harness-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'orphan.mts');
  fs.writeFileSync(
    script,
    `import { startEtcd } from ${JSON.stringify(harness)};\n` +
      `const c = await startEtcd();\n` +
      `console.log(c.members[0].pid, c.members[0].dataDir);\n` +
      ending,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`script exited (${code}) before printing: ${out}`)));
  });
  const [pid, dataDir] = line.split(' ');
  return { child, pid: Number(pid), dataDir: dataDir! };
}

test('startEtcd without etcd on PATH says how to install it', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  t.after(() => {
    process.env.PATH = saved;
  });
  await assert.rejects(startEtcd(), /etcd is not installed.*apt-get install etcd-server.*npm test/s);
});

test('stop() ends the process, waits for it, and removes the data dir', async () => {
  const c = await startEtcd();
  const { pid, dataDir } = c.members[0]!;
  assert.ok(alive(pid));
  await c.stop();
  assert.equal(alive(pid), false);
  assert.equal(fs.existsSync(dataDir), false);
});

test('a test process that exits without stop() leaves no etcd running', async (t) => {
  const { child, pid, dataDir } = await orphanScript(t, 'process.exit(0);\n');
  await new Promise((r) => child.once('exit', r));
  assert.ok(await gone(pid), `etcd ${pid} still runs after its test process exited`);
  assert.equal(fs.existsSync(dataDir), false, 'its data dir was removed');
});

test('a test process ended by SIGTERM leaves no etcd running', async (t) => {
  const { child, pid } = await orphanScript(t, 'setInterval(() => {}, 1000);\n');
  assert.ok(alive(pid));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  assert.ok(await gone(pid), `etcd ${pid} still runs after SIGTERM to its test process`);
});
