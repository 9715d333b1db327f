/**
 * units.example/ is the project's example unit repository: it lints clean, and its units really
 * run under a systemd user instance without root privileges in the units (test/support/systemd.ts's private
 * instance; ports on 127.0.0.1 only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { lintUnitFiles } from '../../../src/unit/lint/index.js';
import { isTemplate, unitType } from '../../../src/unit/names.js';
import { eventually, isActive, mainPidAlive, showProperty, startSystemd, systemctl } from '../../support/systemd.js';

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'units.example');

function unitFiles(): string[] {
  return readdirSync(EXAMPLE)
    .filter((f) => unitType(f) !== null)
    .sort();
}

test('units.example lints clean (no error, warning or note), with the states of its fleet.yaml', () => {
  const spec = yaml.load(readFileSync(join(EXAMPLE, 'fleet.yaml'), 'utf8')) as {
    defaults?: { state?: string };
    units?: Record<string, string | { state?: string; instances?: unknown }>;
  };
  const stateOf = (name: string) => {
    const e = spec.units?.[name];
    const s = typeof e === 'string' ? e : (e?.state ?? spec.defaults?.state ?? 'launched');
    return s as 'inactive' | 'loaded' | 'launched';
  };
  const names = unitFiles();
  assert.ok(
    names.includes('hello.service') &&
      names.includes('web@.service') &&
      names.includes('echo.socket') &&
      names.includes('cleanup.timer'),
  );
  const { diagnostics } = lintUnitFiles(
    names.map((n) => ({
      name: n,
      file: `units.example/${n}`,
      content: readFileSync(join(EXAMPLE, n)),
      state: stateOf(n),
    })),
  );
  assert.deepEqual(diagnostics, []);
  // Every unit fleet.yaml names exists (templates by their file, instances through them).
  for (const n of Object.keys(spec.units ?? {}))
    assert.ok(names.includes(n), `fleet.yaml names ${n}, which units.example lacks`);
  assert.ok(Object.keys(spec.units ?? {}).some((n) => isTemplate(n)));
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection({ port, host: '127.0.0.1' }, () => c.write(text));
    let got = '';
    c.setTimeout(3000, () => c.destroy(new Error('echo timed out')));
    c.on('data', (b) => {
      got += b.toString();
      if (got.length >= text.length) c.end();
    });
    c.on('close', () => resolve(got));
    c.on('error', reject);
  });
}

test('units.example runs under a private systemd user instance', async (t) => {
  const inst = await startSystemd(t);
  mkdirSync(inst.unitDir, { recursive: true });
  // echo.socket's fixed port is swapped for a free one so that this test never collides with a
  // running demo; everything else is used as written.
  const echoPort = await freePort();
  for (const n of unitFiles()) {
    if (n === 'echo.socket') {
      writeFileSync(
        join(inst.unitDir, n),
        readFileSync(join(EXAMPLE, n), 'utf8').replace(
          'ListenStream=127.0.0.1:9901',
          `ListenStream=127.0.0.1:${echoPort}`,
        ),
      );
    } else copyFileSync(join(EXAMPLE, n), join(inst.unitDir, n));
  }
  assert.equal((await systemctl(inst, 'daemon-reload')).code, 0);

  // hello.service: the shell loop keeps running.
  assert.equal((await systemctl(inst, 'start', 'hello.service')).code, 0);
  await eventually('hello.service active', async () => (await isActive(inst, 'hello.service')) === 'active');
  assert.ok(await mainPidAlive(inst, 'hello.service'));

  // web@N.service serves its page on 127.0.0.1:808N (an instance whose port is free right now).
  let instance = -1;
  for (let i = 9; i >= 4 && instance < 0; i--) if (await portFree(8080 + i)) instance = i;
  assert.ok(instance > 0, 'no free port among 8084..8089 for a web@ instance');
  const web = `web@${instance}.service`;
  const started = await systemctl(inst, 'start', web);
  assert.equal(started.code, 0, started.stderr);
  let page = '';
  await eventually(
    `${web} answers on 127.0.0.1:808${instance}`,
    async () => {
      try {
        const res = await fetch(`http://127.0.0.1:808${instance}/`);
        page = await res.text();
        return res.ok;
      } catch {
        return false;
      }
    },
    10_000,
  );
  assert.match(page, new RegExp(`^Hello from web@${instance}\\.service on `));

  // echo.socket + echo@.service: each connection gets its own /bin/cat.
  const sock = await systemctl(inst, 'start', 'echo.socket');
  assert.equal(sock.code, 0, sock.stderr);
  await eventually('echo.socket listening', async () => (await isActive(inst, 'echo.socket')) === 'active');
  assert.equal(await roundTrip(echoPort, 'ping\n'), 'ping\n');
  assert.equal(await roundTrip(echoPort, 'second connection\n'), 'second connection\n');

  // cleanup.timer waits; cleanup.service (started by hand here) removes stale demo files only.
  assert.equal((await systemctl(inst, 'start', 'cleanup.timer')).code, 0);
  assert.equal(await isActive(inst, 'cleanup.timer'), 'active');
  // %T is the manager's $TMPDIR (it inherits this process's environment), or /tmp.
  const tmp = process.env.TMPDIR || '/tmp';
  const stale = join(tmp, `gitfleet-demo-stale-${process.pid}`);
  const fresh = join(tmp, `gitfleet-demo-fresh-${process.pid}`);
  writeFileSync(stale, 'x');
  writeFileSync(fresh, 'x');
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(stale, twoHoursAgo, twoHoursAgo);
  const run = await systemctl(inst, 'start', 'cleanup.service');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await showProperty(inst, 'cleanup.service', 'Result'), 'success');
  assert.equal(existsSync(stale), false, 'stale demo file removed');
  assert.equal(existsSync(fresh), true, 'fresh demo file kept');
  rmSync(fresh, { force: true });

  for (const u of ['hello.service', web, 'echo.socket', 'cleanup.timer']) await systemctl(inst, 'stop', u);
});
