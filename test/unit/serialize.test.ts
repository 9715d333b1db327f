import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUnit } from '../../src/unit/parse.js';
import { canonicalize, serializeUnit, unitHash } from '../../src/unit/serialize.js';
import type { ParsedUnit } from '../../src/unit/types.js';

/** Sections, keys and values only: positions and diagnostics differ after a round trip. */
const shape = (u: ParsedUnit) => u.sections.map((s) => [s.name, s.options.map((o) => [o.key, o.value])]);

function assertRoundTrip(content: string | Uint8Array, label: string) {
  const first = parseUnit(content, label);
  const text = serializeUnit(first);
  const second = parseUnit(text, label);
  assert.deepEqual(shape(second), shape(first), `${label}: parse(serialize(parse(x))) differs\n${text}`);
  assert.equal(second.fatal, false, label);
  // Canonical text is a fixed point.
  assert.equal(serializeUnit(second), text, `${label}: serialize is not idempotent`);
}

describe('serializeUnit', () => {
  it('writes sections in first-appearance order, one blank line between, trailing newline, no comments', () => {
    const u = parseUnit(
      '# head\n[Unit]\nDescription=web\n\n[Service]\n  ExecStart = /bin/x \\\n   --y\n; c\n[Unit]\nAfter=a.service\n',
      'web.service',
    );
    assert.equal(serializeUnit(u), '[Unit]\nDescription=web\nAfter=a.service\n\n[Service]\nExecStart=/bin/x     --y\n');
  });

  it('writes an empty section and an empty value', () => {
    assert.equal(
      serializeUnit(parseUnit('[Install]\n[Service]\nExecStart=\n', 'x')),
      '[Install]\n\n[Service]\nExecStart=\n',
    );
  });

  it('writes nothing for a unit without sections', () => {
    assert.equal(serializeUnit(parseUnit('# only a comment\n', 'x')), '');
  });

  it('protects a value ending in an odd number of backslashes from becoming a continuation', () => {
    const u = parseUnit('[Service]\nA=x \\ \nB=y\n', 'x');
    assert.equal(u.sections[0]!.options[0]!.value, 'x \\');
    assert.equal(serializeUnit(u), '[Service]\nA=x \\ \nB=y\n');
    assertRoundTrip('[Service]\nA=x \\ \nB=y\n', 'odd backslash');
  });
});

describe('unitHash / canonicalize', () => {
  const a =
    '[Unit]\nDescription=hello\n[Service]\nExecStart=/bin/sh -c "while true; do echo Hello World; sleep 1; done"\n';
  const b =
    '\uFEFF# hello world\r\n[Unit]\r\n  Description = hello  \r\n\r\n[Service]\r\nExecStart=/bin/sh -c\\\r\n"while ' +
    'true; do echo Hello World; sleep 1; done"\r\n';

  it('is the sha256 hex of the canonical text', () => {
    const c = canonicalize(a, 'hello.service');
    assert.equal(c.hash, createHash('sha256').update(c.text).digest('hex'));
    assert.match(c.hash, /^[0-9a-f]{64}$/);
    assert.equal(unitHash(a), c.hash);
    assert.equal(unitHash(c.unit), c.hash);
    assert.equal(unitHash(Buffer.from(a)), c.hash);
  });

  it('ignores comments, blank lines, BOM, CRLF and blanks around keys and values', () => {
    // b's continuation backslash becomes the one space that a has: same value.
    assert.equal(unitHash(b), unitHash(a));
  });

  it('changes when a value, a key, the order of options or a section changes', () => {
    const h = unitHash(a);
    assert.notEqual(unitHash(a.replace('hello', 'Hello')), h);
    assert.notEqual(unitHash(a.replace('Description', 'description')), h);
    assert.notEqual(unitHash('[Service]\nA=1\nB=2\n'), unitHash('[Service]\nB=2\nA=1\n'));
    assert.notEqual(unitHash(a + '[Install]\n'), h);
  });
});

describe('round trip: parse(serialize(parse(x))) equals parse(x)', () => {
  it('on tricky inputs', () => {
    const cases = [
      '[Service]\nExecStart=/bin/echo a \\\n# c\n  b\n',
      '[Service]\nA=x\\\\\nB=y \\\\\\\nz\n',
      '[Service]\r\nA=1\rB=2\0C=3\n',
      '[ Odd ]\nA=1\n[]\nB=2\n[Unit]]\nC=3\n',
      '[Service]\nA=a # b ; c\n',
      '[Unit]\nDescription=Grüße 😀\n',
      '[Service]\nA=1\n[Unit]\nB=2\n[Service]\nC=3\n',
      '[Service]\nA=1\n\uFEFF# key with a hash=1\n',
      '[Service]\nA=1\n\uFEFFB=2\n\uFEFFC=3\n',
      '[Service]\nA=\\\n',
      '[Service]\nKey\\=x\n',
    ];
    for (const c of cases) assertRoundTrip(c, JSON.stringify(c));
  });

  it('on random inputs', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = ['[', ']', '=', '\\', '#', ';', ' ', '\t', '\n', '\n', '\n', 'a', 'B', '\uFEFF', 'é', '"', '\r'];
    for (let n = 0; n < 3000; n++) {
      let s = rnd() < 0.7 ? '[S]\n' : '';
      const len = Math.floor(rnd() * 50);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      const u = parseUnit(s, 'r');
      if (u.fatal) continue;
      assertRoundTrip(s, JSON.stringify(s));
    }
  });
});

/** Every regular file shipped in these directories, plus drop-in *.conf files of their *.d dirs. */
function shippedUnitFiles(): string[] {
  const out: string[] = [];
  for (const dir of ['/usr/lib/systemd/system', '/usr/lib/systemd/user']) {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isFile()) out.push(path);
      else if (st.isDirectory() && name.endsWith('.d')) {
        for (const conf of readdirSync(path).sort()) {
          const cp = join(path, conf);
          if (conf.endsWith('.conf') && lstatSync(cp).isFile()) out.push(cp);
        }
      }
    }
  }
  return out;
}

describe('the unit files shipped on this machine', () => {
  const files = shippedUnitFiles();
  const contents = files.map((f) => readFileSync(f));

  it('are found (regular files; symlinks and .wants dirs skipped)', () => {
    assert.ok(files.length > 100, `only ${files.length} files found`);
  });

  it('all parse without a fatal error or an error diagnostic, and round-trip', () => {
    for (const [i, f] of files.entries()) {
      const u = parseUnit(contents[i]!, f);
      assert.equal(u.fatal, false, f);
      assert.deepEqual(
        u.diagnostics.filter((d) => d.severity === 'error'),
        [],
        f,
      );
      // Drop-ins may be empty on purpose (user@0.service.d/10-login-barrier.conf masks its twin).
      if (!f.endsWith('.conf')) assert.ok(u.sections.length > 0, `${f}: no sections`);
      assertRoundTrip(contents[i]!, f);
    }
  });

  it('parse + serialize + hash 1,000 of them: one hash per distinct content (time printed, not asserted)', (t) => {
    const batch = Array.from({ length: 1000 }, (_, i) => contents[i % contents.length]!);
    const bytes = batch.reduce((n, c) => n + c.length, 0);
    // Warm up the JIT once, then measure.
    for (const c of batch.slice(0, 100)) canonicalize(c, 'x');
    const t0 = process.hrtime.bigint();
    const hashes = new Set<string>();
    for (const c of batch) hashes.add(canonicalize(c, 'x.service').hash);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t.diagnostic(`parse+serialize+hash of 1000 files (${(bytes / 1024).toFixed(0)} KiB): ${ms.toFixed(1)} ms`);
    assert.equal(hashes.size, new Set(contents.map((c) => unitHash(c))).size);
  });
});
