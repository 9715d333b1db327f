// The unit directory in a temp dir: every file operation the agent makes on unit files.
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { unitContent } from '../../src/agent/content.js';
import { isUnitFileName, UnitDir } from '../../src/agent/unit-dir.js';
import { sha256 } from '../../src/util/hash.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-unit-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ONESHOT = '[Service]\nType=oneshot\nExecStart=/bin/true\n';
const INSTALLED = '[Service]\nExecStart=/bin/sleep 1\n[Install]\nWantedBy=default.target\n';

test('isUnitFileName: plain unit names only, no paths, at most 255 characters', () => {
  for (const ok of ['a.service', 'web@1.service', 'web@.service', 'x-y_z:1\\x2d.socket', 'm.mount', 's.scope'])
    assert.equal(isUnitFileName(ok), true, ok);
  const long = `${'a'.repeat(248)}.service`;
  for (const bad of ['../evil.service', 'a/b.service', 'a.conf', '.a.service.1.tmp', 'a.service ', '', long])
    assert.equal(isUnitFileName(bad), false, bad);
  assert.equal(isUnitFileName(long.slice(1)), true);
});

test('scan: creates the directory, reads the hash and facts of each unit file, skips everything else', async (t) => {
  const dir = join(tempDir(t), 'units');
  const ud = new UnitDir(dir);
  await ud.scan();
  assert.ok(statSync(dir).isDirectory());
  assert.deepEqual(ud.names(), []);

  writeFileSync(join(dir, 'job.service'), ONESHOT);
  writeFileSync(join(dir, 'web.service'), INSTALLED);
  writeFileSync(join(dir, '.web.service.123.tmp'), 'half a file');
  writeFileSync(join(dir, 'notes.txt'), 'not a unit');
  mkdirSync(join(dir, 'sub.service')); // a directory named like a unit: unreadable as a file
  await ud.scan();
  assert.deepEqual(ud.names().sort(), ['job.service', 'web.service']);
  assert.deepEqual(ud.get('job.service'), { hash: sha256(ONESHOT), install: false, oneshot: true });
  assert.deepEqual(ud.get('web.service'), { hash: sha256(INSTALLED), install: true, oneshot: false });
  assert.equal(ud.hashOf('notes.txt'), undefined);

  // A file removed behind the agent's back is gone after the next scan.
  rmSync(join(dir, 'job.service'));
  await ud.scan();
  assert.deepEqual(ud.names(), ['web.service']);
});

test('write: atomic (no temp file left), mode 0644, and the facts follow the new content', async (t) => {
  const dir = join(tempDir(t), 'units');
  const ud = new UnitDir(dir);
  const path = await ud.write('job.service', unitContent(INSTALLED)); // the directory is created as needed
  assert.equal(path, join(dir, 'job.service'));
  assert.equal(ud.path('job.service'), path);
  assert.equal(readFileSync(path, 'utf8'), INSTALLED);
  assert.equal(statSync(path).mode & 0o777, 0o644);
  assert.deepEqual(ud.get('job.service'), { hash: sha256(INSTALLED), install: true, oneshot: false });

  await ud.write('job.service', unitContent(ONESHOT));
  assert.equal(readFileSync(path, 'utf8'), ONESHOT);
  assert.equal(ud.hashOf('job.service'), sha256(ONESHOT));
  assert.equal(ud.get('job.service')?.oneshot, true);
  assert.deepEqual(readdirSync(dir), ['job.service']);
  // What a fresh scan reads is what write() remembered.
  const again = new UnitDir(dir);
  await again.scan();
  assert.deepEqual(again.get('job.service'), ud.get('job.service'));
});

test('remove: the file and its entry go; a file already gone is fine', async (t) => {
  const dir = tempDir(t);
  const ud = new UnitDir(dir);
  await ud.write('a.service', unitContent(ONESHOT));
  await ud.remove('a.service');
  assert.equal(existsSync(join(dir, 'a.service')), false);
  assert.equal(ud.has('a.service'), false);
  await ud.remove('a.service');
  await ud.remove('never.service');
});

test('a name that is not a plain unit name is refused before anything touches the disk', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'units');
  const ud = new UnitDir(dir);
  await ud.scan();
  writeFileSync(join(root, 'evil.service'), 'outside');
  await assert.rejects(ud.write('../evil.service', unitContent(ONESHOT)), /not a plain unit name/);
  await assert.rejects(ud.remove('../evil.service'), /not a plain unit name/);
  await assert.rejects(ud.write('a/b.service', unitContent(ONESHOT)), /not a plain unit name/);
  assert.equal(readFileSync(join(root, 'evil.service'), 'utf8'), 'outside');
  assert.deepEqual(readdirSync(dir), []);
});

test('drop-ins: written in NAME.d, linked into the runtime directory, replaced and removed with it', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'units');
  const rt = join(root, 'rt', 'systemd', 'user');
  const ud = new UnitDir(dir, rt);
  const env = { name: '10-env.conf', text: '[Service]\nEnvironment=A=1\n' };
  const nice = { name: '20-nice.conf', text: '[Service]\nNice=5\n' };
  const v1 = unitContent({ unit: ONESHOT, dropIns: [env, nice] });
  await ud.write('job.service', v1);
  assert.equal(readFileSync(join(dir, 'job.service'), 'utf8'), ONESHOT);
  assert.deepEqual(readdirSync(join(dir, 'job.service.d')).sort(), ['10-env.conf', '20-nice.conf']);
  assert.equal(readFileSync(join(dir, 'job.service.d', '10-env.conf'), 'utf8'), env.text);
  assert.equal(readlinkSync(join(rt, 'job.service.d')), join(dir, 'job.service.d'));
  assert.equal(ud.hashOf('job.service'), sha256(v1.text));

  // A fresh scan reads the same files back to the same hash and facts.
  const again = new UnitDir(dir, rt);
  await again.scan();
  assert.deepEqual(again.get('job.service'), ud.get('job.service'));

  // New content without 20-nice.conf: that drop-in is removed, the other rewritten.
  const env2 = { name: '10-env.conf', text: '[Service]\nEnvironment=A=2\n' };
  await ud.write('job.service', unitContent({ unit: ONESHOT, dropIns: [env2] }));
  assert.deepEqual(readdirSync(join(dir, 'job.service.d')), ['10-env.conf']);
  assert.equal(readFileSync(join(dir, 'job.service.d', '10-env.conf'), 'utf8'), env2.text);

  // Content without drop-ins: the directory and its link go.
  await ud.write('job.service', unitContent(ONESHOT));
  assert.equal(existsSync(join(dir, 'job.service.d')), false);
  assert.equal(existsSync(join(rt, 'job.service.d')), false);
  assert.equal(ud.hashOf('job.service'), sha256(ONESHOT));

  await ud.write('job.service', v1);
  await ud.remove('job.service');
  assert.deepEqual(readdirSync(dir), []);
  assert.deepEqual(readdirSync(rt), []);
});

test('drop-ins: a lost link makes the unit differ; strays are cleaned, foreign dirs kept', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'units');
  const rt = join(root, 'rt');
  const ud = new UnitDir(dir, rt);
  const c = unitContent({ unit: ONESHOT, dropIns: [{ name: 'a.conf', text: '[Service]\nNice=1\n' }] });
  await ud.write('a.service', c);
  rmSync(join(rt, 'a.service.d'));
  await ud.scan();
  assert.equal(ud.hashOf('a.service'), '', 'systemd no longer sees its drop-ins: not the content scheduled');
  await ud.write('a.service', c);
  assert.equal(ud.hashOf('a.service'), c.hash);

  // A drop-in directory left without its unit file (a crash between the two removals) goes at scan.
  mkdirSync(join(dir, 'gone.service.d'));
  writeFileSync(join(dir, 'gone.service.d', 'x.conf'), '[Service]\n');
  symlinkSync(join(dir, 'gone.service.d'), join(rt, 'gone.service.d'));
  await ud.scan();
  assert.equal(existsSync(join(dir, 'gone.service.d')), false);
  assert.equal(existsSync(join(rt, 'gone.service.d')), false);

  // Someone else's drop-in directory in the runtime directory is never replaced or removed.
  mkdirSync(join(rt, 'b.service.d'));
  writeFileSync(join(rt, 'b.service.d', 'override.conf'), '[Service]\nNice=9\n');
  await assert.rejects(ud.write('b.service', c), /exists and is not gitfleet's link/);
  assert.equal(ud.has('b.service'), false);
  await ud.remove('b.service');
  assert.equal(readFileSync(join(rt, 'b.service.d', 'override.conf'), 'utf8'), '[Service]\nNice=9\n');

  // Without a runtime directory, a unit with drop-ins cannot be written (nothing half-written).
  const bare = new UnitDir(join(root, 'bare'));
  await assert.rejects(bare.write('a.service', c), /knows no runtime unit directory/);
  assert.equal(existsSync(join(root, 'bare', 'a.service')), false);
});
