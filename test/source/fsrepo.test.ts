/**
 * A unit repository read from a plain directory (`gitfleet lint DIR`), with the same untrusted-input
 * checks as a commit.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { readDirFiles, readDirSnapshot } from '../../src/source/fsrepo.js';
import { desiredFromSnapshot } from '../../src/desired/build.js';
import { tempDir } from '../support/git.js';

const svc = (desc: string): string =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=default.target\n`;

const tmp = tempDir();
after(() => tmp.cleanup());

function tree(name: string, files: Record<string, string | Buffer>): string {
  const root = join(tmp.dir, name);
  for (const [p, c] of Object.entries(files)) {
    fs.mkdirSync(join(root, p, '..'), { recursive: true });
    fs.writeFileSync(join(root, p), c);
  }
  return root;
}

test('reads unit files recursively with repo-relative paths, skipping .git and other files', () => {
  const root = tree('plain', {
    'units/a.service': svc('a'),
    'units/sub/b.timer': '[Timer]\nOnCalendar=daily\n',
    'units/readme.md': 'x',
    'units/.git/c.service': svc('c'),
  });
  const r = readDirFiles(root, 'units');
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(
    r.files.map((f) => [f.path, f.name]),
    [
      ['units/a.service', 'a.service'],
      ['units/sub/b.timer', 'b.timer'],
    ],
  );
});

test('symlinked unit files and directories are reported or skipped, never followed', () => {
  const outside = tree('outside', { 'secret.service': svc('secret'), 'more/x.service': svc('x') });
  const root = tree('links', { 'a.service': svc('a') });
  fs.symlinkSync(join(outside, 'secret.service'), join(root, 'evil.service'));
  fs.symlinkSync(join(outside, 'more'), join(root, 'linkdir'));
  const r = readDirFiles(root);
  assert.deepEqual(
    r.files.map((f) => f.path),
    ['a.service'],
  );
  assert.deepEqual(r.rejected, ['evil.service']);
  assert.deepEqual(
    r.diagnostics.map((d) => `${d.rule} ${d.file}`),
    ['SRC01 evil.service'],
  );
});

test('a FIFO named like a unit is refused without being opened (no hang)', () => {
  const root = tree('fifo', { 'a.service': svc('a') });
  execFileSync('mkfifo', [join(root, 'pipe.service')]);
  const r = readDirFiles(root);
  assert.deepEqual(
    r.files.map((f) => f.path),
    ['a.service'],
  );
  assert.deepEqual(
    r.diagnostics.map((d) => `${d.rule} ${d.file}`),
    ['SRC02 pipe.service'],
  );
});

test('binary, oversized and non-UTF-8 files are refused as in a commit', () => {
  const root = tree('bad', {
    'ok.service': svc('ok'),
    'bin.service': Buffer.from([1, 0, 2]),
    'big.service': 'x'.repeat(1024 * 1024 + 1),
    'latin1.service': Buffer.from([0x5b, 0x55, 0xe9, 0x5d]),
  });
  const r = readDirFiles(root);
  assert.deepEqual(
    r.files.map((f) => f.path),
    ['ok.service'],
  );
  assert.deepEqual(r.diagnostics.map((d) => `${d.rule} ${d.file}`).sort(), [
    'SRC03 big.service',
    'SRC04 bin.service',
    'SYN04 latin1.service',
  ]);
});

test('readDirSnapshot follows fleet.yaml to its path and builds the same desired state as git would', () => {
  const root = tree('snap', {
    'fleet.yaml': 'path: units\nunits:\n  w@.service: {instances: [x]}\n',
    'units/w@.service': svc('w'),
    'units/a.service': svc('a'),
  });
  const snap = readDirSnapshot(root);
  const d = desiredFromSnapshot(snap, 'worktree');
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity === 'error'),
    [],
  );
  assert.deepEqual(
    d.desired?.units.map((u) => [u.name, u.source]),
    [
      ['a.service', 'units/a.service'],
      ['w@x.service', 'units/w@.service'],
    ],
  );
});

test('a symlinked fleet.yaml refuses the directory (SRC01), a missing unit directory is SRC05', () => {
  const root = tree('fylink', { 'a.service': svc('a'), 'real.yaml': 'allowEmpty: true\n' });
  fs.symlinkSync(join(root, 'real.yaml'), join(root, 'fleet.yaml'));
  const d = desiredFromSnapshot(readDirSnapshot(root), 'worktree');
  assert.equal(d.desired, null);
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity === 'error').map((x) => `${x.rule} ${x.file}`),
    ['SRC01 fleet.yaml'],
  );

  const missing = tree('missing', { 'fleet.yaml': 'path: nowhere\n' });
  const m = desiredFromSnapshot(readDirSnapshot(missing), 'worktree');
  assert.equal(m.desired, null);
  assert.ok(m.diagnostics.some((x) => x.rule === 'SRC05' && /does not exist/.test(x.message)));
});

test('--path outside the directory is refused with a message naming it', () => {
  assert.throws(
    () => readDirSnapshot(tmp.dir, { path: '../etc' }),
    /--path '..\/etc' must be a relative path inside the repository/,
  );
});

test('drop-ins (foo.service.d/*.conf) are read as in a commit; a refused one is refused as a unit file is', () => {
  const root = tree('dropin', {
    'a.service': svc('a'),
    'a.service.d/override.conf': '[Service]\nEnvironment=X=1\n',
    'a.service.d/bin.conf': Buffer.from([0x5b, 0, 0x5d]),
    'a.service.d/.hidden.conf': '[Service]\n',
    'notes.d/readme.conf': 'not a drop-in',
  });
  fs.symlinkSync(join(root, 'a.service.d', 'override.conf'), join(root, 'a.service.d', 'link.conf'));
  const snap = readDirSnapshot(root);
  assert.deepEqual(
    snap.dropIns.map((f) => f.path),
    ['a.service.d/override.conf'],
  );
  assert.deepEqual(
    snap.diagnostics.map((d) => [d.rule, d.severity, d.file]),
    [
      ['DRP02', 'warning', 'a.service.d/.hidden.conf'],
      ['SRC04', 'error', 'a.service.d/bin.conf'],
      ['SRC01', 'error', 'a.service.d/link.conf'],
    ],
  );
  assert.match(snap.diagnostics[2]!.message, /drop-in is a symbolic link/);
  const r = desiredFromSnapshot(snap, 'worktree');
  assert.equal(r.desired, null, 'a refused drop-in refuses the commit, as a refused unit file does');
});
