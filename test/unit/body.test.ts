// A unit's body: the unit file alone, or the unit file and its drop-ins in one canonical text.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeUnitFiles,
  encodeUnitFiles,
  isDropInFileName,
  parseUnitFiles,
  renderUnitFiles,
  UnitBodyError,
} from '../../src/unit/body.js';
import { effectiveValues } from '../../src/unit/parse.js';
import { serializeUnit } from '../../src/unit/serialize.js';
import { parseUnit } from '../../src/unit/parse.js';

const UNIT = '[Service]\nExecStart=/bin/sleep 1\n';

describe('unit bodies', () => {
  it('a unit without drop-ins is its text, as before drop-ins existed', () => {
    assert.equal(encodeUnitFiles({ unit: UNIT, dropIns: [] }), UNIT);
    assert.deepEqual(decodeUnitFiles(UNIT), { unit: UNIT, dropIns: [] });
    assert.deepEqual(decodeUnitFiles(''), { unit: '', dropIns: [] });
  });

  it('with drop-ins: one JSON text, drop-ins sorted by file name, the same for the same files', () => {
    const a = { name: 'b.conf', text: '[Service]\nNice=1\n' };
    const b = { name: '10-env.conf', text: '[Service]\nEnvironment=A=1\n' };
    const body = encodeUnitFiles({ unit: UNIT, dropIns: [a, b] });
    assert.equal(body, encodeUnitFiles({ unit: UNIT, dropIns: [b, a] }));
    assert.equal(
      body,
      JSON.stringify({ unit: UNIT, dropIns: [b, a] }),
      'exactly {"unit","dropIns":[{"name","text"}]}, as docs/keyspace.md says',
    );
    assert.deepEqual(decodeUnitFiles(body), { unit: UNIT, dropIns: [b, a] });
  });

  it('canonical unit text never starts with "{", so the two forms never mix up', () => {
    for (const text of ['{"unit":"x"}\n', '[Unit]\n{\n', '\uFEFF{=1\n', ' {a=b\n[Service]\nExecStart=/bin/true\n'])
      assert.ok(!serializeUnit(parseUnit(text, 'x')).startsWith('{'), text);
  });

  it('refuses a body that is not exactly what encodeUnitFiles writes', () => {
    const ok = encodeUnitFiles({ unit: UNIT, dropIns: [{ name: 'a.conf', text: '' }] });
    const bad = [
      '{',
      '{"unit":1,"dropIns":[{"name":"a.conf","text":""}]}',
      '{"unit":"","dropIns":[]}',
      '{"unit":"","dropIns":[{"name":"a.txt","text":""}]}',
      '{"unit":"","dropIns":[{"name":"../a.conf","text":""}]}',
      '{"unit":"","dropIns":[{"name":"b.conf","text":""},{"name":"a.conf","text":""}]}',
      '{"unit":"","dropIns":[{"name":"a.conf","text":""},{"name":"a.conf","text":""}]}',
      '{"dropIns":[{"name":"a.conf","text":""}],"unit":""}',
      ok.replace('"dropIns"', ' "dropIns"'),
    ];
    for (const b of bad) assert.throws(() => decodeUnitFiles(b), UnitBodyError, b);
    assert.throws(() => encodeUnitFiles({ unit: '', dropIns: [{ name: 'x', text: '' }] }), UnitBodyError);
  });

  it('drop-in names: what systemd reads, and safe as a file name', () => {
    for (const n of ['10-env.conf', 'override.conf', 'a b.conf', 'ü.conf', 'x.service.conf'])
      assert.equal(isDropInFileName(n), true, n);
    for (const n of [
      '.conf',
      '.hidden.conf',
      'a.conf~',
      'a/b.conf',
      'a\nb.conf',
      'a.CONF',
      'README',
      `${'a'.repeat(251)}.conf`,
    ])
      assert.equal(isDropInFileName(n), false, n);
  });

  it('renders as systemctl cat does; parses as systemd merges', () => {
    const files = { unit: UNIT, dropIns: [{ name: '10-env.conf', text: '[Service]\nEnvironment=A=1\n' }] };
    assert.equal(
      renderUnitFiles('web@1.service', files),
      `# web@1.service\n${UNIT}\n# web@1.service.d/10-env.conf\n[Service]\nEnvironment=A=1\n`,
    );
    assert.equal(renderUnitFiles('web@1.service', { unit: UNIT, dropIns: [] }), UNIT);
    assert.deepEqual(effectiveValues(parseUnitFiles(files, 'web@1.service'), 'Service', 'Environment'), ['A=1']);
  });
});
