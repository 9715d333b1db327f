// The unit directory in a temp dir: every file operation the agent makes on unit files.
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
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
