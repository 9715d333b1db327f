// startPrivateSystemd and the test harness's cleanup, against real systemd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { attachPrivateSystemd, startOrAttachPrivateSystemd, startPrivateSystemd } from '../../src/systemd/private.js';
import { eventually, startSystemd } from '../support/systemd.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('startPrivateSystemd refuses a second instance with the name of one that is running', async (t) => {
  const inst = await startSystemd(t);
  const base = join(inst.dir, '..');
  await assert.rejects(
    startPrivateSystemd({ baseDir: base, name: inst.name }),
    /already holds processes .*an instance named "t\d+-\d+" is running/,
  );
  // The running instance is untouched by the refused start.
  assert.ok(alive(inst.pid));
  for (const d of inst.cgroupDirs) assert.ok(existsSync(d));
});

test('startPrivateSystemd rejects an instance name that could escape its directory, naming it', async () => {
  await assert.rejects(
    startPrivateSystemd({ baseDir: tmpdir(), name: '../evil' }),
    /invalid instance name "\.\.\/evil"/,
  );
});

test('stop() is idempotent and leaves no process or cgroup behind', async (t) => {
  const inst = await startSystemd(t);
  await Promise.all([inst.stop(), inst.stop()]);
  await inst.stop();
  assert.equal(inst.exited, true);
  assert.equal(alive(inst.pid), false);
  for (const d of inst.cgroupDirs) assert.equal(existsSync(d), false, `${d} removed`);
});

test('two starts in parallel get separate cgroups and both become ready', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'gitfleet-private-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const [a, b] = await Promise.all([
    startPrivateSystemd({ baseDir: base, name: `p${process.pid}-a` }),
    startPrivateSystemd({ baseDir: base, name: `p${process.pid}-b` }),
  ]);
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  assert.notDeepEqual(a.cgroupDirs, b.cgroupDirs);
  assert.ok(a.startupMs > 0 && b.startupMs > 0);
  t.diagnostic(`startup: ${a.startupMs} ms and ${b.startupMs} ms (two in parallel)`);
});

test('a test process that exits without stopping its instance leaves nothing running (exit handler)', async () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'exit-without-stop.ts');
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      const c = execFile(process.execPath, ['--import', 'tsx', fixture], { timeout: 30_000 }, (_e, so, se) =>
        resolve({ code: c.exitCode, stdout: String(so), stderr: String(se) }),
      );
    },
  );
  assert.equal(code, 3, stderr);
  const info = JSON.parse(stdout.trim()) as { pid: number; unitPid: number; cgroupDirs: string[]; dir: string };
  assert.ok(info.unitPid > 0);
  await eventually('systemd and its unit process gone', () => !alive(info.pid) && !alive(info.unitPid), 3_000);
  for (const d of info.cgroupDirs) assert.equal(existsSync(d), false, `${d} removed`);
  assert.equal(existsSync(info.dir), false, 'instance directory removed');
});

test(
  'a later owner attaches to an instance left running, and can stop it; nothing to attach to ' + 'afterwards',
  async (t) => {
    const inst = await startSystemd(t);
    const base = dirname(inst.dir);
    const again = await startOrAttachPrivateSystemd({ baseDir: base, name: inst.name });
    assert.equal(again.attached, true);
    assert.equal(again.pid, inst.pid);
    assert.equal(again.busAddress, inst.busAddress);
    await again.stop();
    assert.equal(alive(inst.pid) && !again.exited, false);
    await eventually('systemd gone', () => !alive(inst.pid));
    for (const d of inst.cgroupDirs) assert.equal(existsSync(d), false, `${d} removed`);
    assert.equal(await attachPrivateSystemd({ baseDir: base, name: inst.name }), null);
  },
);
