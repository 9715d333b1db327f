/**
 * The native-zlib pack reader must return exactly what git stores, or nothing: checked against the
 * git CLI on a repository packed aggressively (long delta chains), and on what it must refuse.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { PackBlobs } from '../../src/source/packblobs.js';
import { TestRepo, git, tempDir } from '../support/git.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function unit(i: number, rev: number): string {
  return (
    `[Unit]\nDescription=unit ${i} revision ${rev}\n\n[Service]\nExecStart=/bin/sleep ${i}\nEnvironment=REV=${rev}\n` +
    'X-Pad=' +
    'p'.repeat(200 + i) +
    '\n'
  );
}

test('every blob of a deltified pack reads back byte for byte as git has it', () => {
  const repo = TestRepo.init(tmp.dir, 'packed');
  for (let rev = 0; rev < 6; rev++) {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`u${i}.service`] = unit(i, rev);
    files['big.bin'] = Buffer.alloc(200_000, rev).toString('latin1');
    repo.commit(`rev ${rev}`, files);
  }
  repo.git('gc', '-q', '--aggressive');
  const verify = repo.git(
    'verify-pack',
    '-v',
    ...fs
      .readdirSync(join(repo.dir, '.git/objects/pack'))
      .filter((n) => n.endsWith('.idx'))
      .map((n) => join(repo.dir, '.git/objects/pack', n)),
  );
  const blobs = verify
    .split('\n')
    .filter((l) => / blob /.test(l))
    .map((l) => l.split(/\s+/));
  assert.ok(
    blobs.some((f) => f.length >= 7),
    'the pack has deltified blobs (the path under test)',
  );

  const packs = new PackBlobs(join(repo.dir, '.git'));
  try {
    for (const [oid] of blobs) {
      const expected = execGitBytes(repo.dir, ['cat-file', 'blob', oid!]);
      const got = packs.read(oid!);
      assert.ok(got, `read ${oid}`);
      assert.ok(got.equals(expected), `content of ${oid}`);
    }
  } finally {
    packs.close();
  }
});

test('ids that are not blobs, not in any pack, or malformed give null (the caller falls back)', () => {
  const repo = TestRepo.init(tmp.dir, 'nulls');
  const commit = repo.commit('c', { 'a.service': unit(1, 1) });
  repo.git('gc', '-q');
  const loose = git(repo.dir, ['hash-object', '-w', '--stdin'], 'not packed\n');
  const packs = new PackBlobs(join(repo.dir, '.git'));
  try {
    assert.equal(packs.read(commit), null, 'a commit');
    assert.equal(packs.read(loose), null, 'a loose object');
    assert.equal(packs.read('0'.repeat(40)), null, 'absent');
    assert.equal(packs.read('xyz'), null, 'malformed');
    const blob = repo.git('rev-parse', 'HEAD:a.service');
    assert.equal(packs.read(blob)?.toString(), unit(1, 1));
  } finally {
    packs.close();
  }
});

test('a corrupted pack never yields wrong content', () => {
  const repo = TestRepo.init(tmp.dir, 'corrupt');
  repo.commit('c', { 'a.service': unit(1, 1), 'b.service': unit(2, 1) });
  repo.git('gc', '-q');
  const blob = repo.git('rev-parse', 'HEAD:a.service');
  const packDir = join(repo.dir, '.git/objects/pack');
  const pack = join(packDir, fs.readdirSync(packDir).find((n) => n.endsWith('.pack'))!);
  const bytes = fs.readFileSync(pack);
  // Flip bits throughout the object data (not the header), then read every blob.
  for (let i = 32; i < bytes.length - 20; i += 7) bytes[i]! ^= 0x55;
  fs.chmodSync(pack, 0o644);
  fs.writeFileSync(pack, bytes);
  const packs = new PackBlobs(join(repo.dir, '.git'));
  try {
    const got = packs.read(blob);
    assert.ok(got === null || got.toString() === unit(1, 1));
  } finally {
    packs.close();
  }
});

function execGitBytes(dir: string, args: string[]): Buffer {
  return execFileSync('git', args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
}
