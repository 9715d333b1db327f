import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFleetYaml } from '../../src/desired/fleetyaml.js';
import { MAX_FLEET_YAML_BYTES } from '../../src/desired/yaml-read.js';
import type { Diagnostic } from '../../src/diag.js';

const at = (d: Diagnostic) => `${d.rule}@${d.line}:${d.column}`;

test('parses the docs/cli.md example with defaults applied and entry positions', () => {
  const { spec, diagnostics } = parseFleetYaml(
    [
      'path: units                # where the unit files are',
      'defaults:',
      '  state: launched',
      'allowEmpty: false',
      'units:',
      '  hello.service: launched',
      '  web@.service:',
      '    instances: 3',
      '    state: launched',
      '  api@.service:',
      '    instances: [a, b, blue, 7]',
      '  cleanup.service: loaded',
      '  legacy.service: inactive',
      '',
    ].join('\n'),
    'fleet.yaml',
  );
  assert.deepEqual(diagnostics, []);
  assert.ok(spec);
  assert.equal(spec.path, 'units');
  assert.equal(spec.defaults.state, 'launched');
  assert.equal(spec.allowEmpty, false);
  assert.deepEqual(spec.units['hello.service'], { line: 6, column: 3, state: 'launched' });
  assert.deepEqual(spec.units['web@.service']?.instances, ['1', '2', '3']);
  assert.deepEqual(spec.units['api@.service']?.instances, ['a', 'b', 'blue', '7']);
  assert.equal(spec.units['api@.service']?.state, undefined);
  assert.equal(spec.units['legacy.service']?.state, 'inactive');
});

test('an empty fleet.yaml is the default spec; path is relative to the file', () => {
  assert.deepEqual(parseFleetYaml('', 'fleet.yaml').spec, {
    path: '',
    defaults: { state: 'launched' },
    allowEmpty: false,
    units: {},
  });
  assert.equal(parseFleetYaml('# nothing\n', 'deploy/fleet.yaml').spec?.path, 'deploy');
  assert.equal(parseFleetYaml('path: ./units/\n', 'deploy/fleet.yaml').spec?.path, 'deploy/units');
  assert.equal(parseFleetYaml('path: .\n', 'fleet.yaml').spec?.path, '');
});

test('unknown fields are YML01 at the key, with a did-you-mean', () => {
  const { spec, diagnostics } = parseFleetYaml(
    'pth: units\ndefaults:\n  stat: loaded\nunits:\n  a.service: {state: loaded, instance: 2}\n',
    'fleet.yaml',
  );
  assert.equal(spec, null);
  assert.deepEqual(diagnostics.map(at), ['YML01@1:1', 'YML01@3:3', 'YML01@5:30']);
  assert.match(diagnostics[0]!.message, /unknown field 'pth'.*did you mean 'path'/);
  assert.match(diagnostics[1]!.message, /did you mean 'state'/);
  assert.match(diagnostics[2]!.message, /did you mean 'instances'/);
});

test('an unknown field far from any known one lists what is allowed', () => {
  const { diagnostics } = parseFleetYaml('replicas: 3\n', 'fleet.yaml');
  assert.match(diagnostics[0]!.message, /expected one of: path, defaults, allowEmpty, rollout, units/);
});

test('an invalid state is YML04 at the value, with the state meant', () => {
  const { diagnostics } = parseFleetYaml(
    'defaults:\n  state: running\nunits:\n  a.service: "lauched"\n  b.service: {state: 3}\n',
    'fleet.yaml',
  );
  assert.deepEqual(diagnostics.map(at), ['YML04@2:10', 'YML04@4:14', 'YML04@5:22']);
  assert.match(diagnostics[0]!.message, /'running'.*did you mean 'launched'/);
  assert.match(diagnostics[1]!.message, /did you mean 'launched'/);
  assert.match(diagnostics[2]!.message, /the number 3/);
});

test('instances on a non-template are refused', () => {
  const { spec, diagnostics } = parseFleetYaml('units:\n  web.service:\n    instances: 2\n', 'fleet.yaml');
  assert.equal(spec, null);
  assert.deepEqual(diagnostics.map(at), ['YML01@3:5']);
  assert.match(diagnostics[0]!.message, /only for templates.*web\.service is not a template/);
});

test('instances must make valid, distinct unit names and a sane count', () => {
  const cases: Array<[string, RegExp]> = [
    ['instances: -1', /whole number >= 0/],
    ['instances: 1.5', /whole number >= 0/],
    ['instances: 20000', /at most 10000/],
    ['instances: "3"', /number N.*or a list/],
    ['instances: [a, "b/c"]', /'b\/c'.*invalid character "\/"/],
    ['instances: [a, a]', /'a' of web@.service is listed twice/],
    ['instances: [""]', /is empty/],
    ['instances: [{x: 1}]', /must be a name or a whole number/],
  ];
  for (const [line, re] of cases) {
    const { spec, diagnostics } = parseFleetYaml(`units:\n  web@.service:\n    ${line}\n`, 'fleet.yaml');
    assert.equal(spec, null, line);
    assert.equal(diagnostics.length, 1, line);
    assert.equal(diagnostics[0]!.rule, 'YML01');
    assert.match(diagnostics[0]!.message, re, line);
    assert.equal(diagnostics[0]!.line, 3, line);
  }
});

test('instances are taken literally, not systemd-escaped', () => {
  const { spec } = parseFleetYaml('units:\n  web@.service: {instances: [a-b, "x:y"]}\n', 'fleet.yaml');
  assert.deepEqual(spec?.units['web@.service']?.instances, ['a-b', 'x:y']);
});

test('instances: 0 asks for no instances', () => {
  assert.deepEqual(
    parseFleetYaml('units:\n  web@.service: {instances: 0}\n', 'fleet.yaml').spec?.units['web@.service']?.instances,
    [],
  );
});

test('unit names in fleet.yaml must be valid unit names (path traversal included)', () => {
  const { diagnostics } = parseFleetYaml(
    'units:\n  ../x.service: launched\n  hello: launched\n  ok.service: launched\n',
    'fleet.yaml',
  );
  assert.deepEqual(diagnostics.map(at), ['YML01@2:3', 'YML01@3:3']);
  assert.match(diagnostics[0]!.message, /'..\/x.service'.*invalid character "\/"/);
  assert.match(diagnostics[1]!.message, /no type suffix/);
});

test('path must stay inside the repository', () => {
  for (const p of ['../x', 'units/../../x', '/etc/systemd', 'a\\\\b']) {
    const { spec, diagnostics } = parseFleetYaml(`path: "${p}"\n`, 'fleet.yaml');
    assert.equal(spec, null, p);
    assert.equal(diagnostics[0]!.rule, 'YML01', p);
    assert.equal(diagnostics[0]!.line, 1, p);
    assert.match(diagnostics[0]!.message, /leaves the repository|is absolute|contains '\\'/, p);
  }
  // '..' inside a name is just a name.
  assert.equal(parseFleetYaml('path: a..b\n', 'fleet.yaml').spec?.path, 'a..b');
});

test('a YAML bomb (anchors and aliases) is refused before any expansion', () => {
  const bomb = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
    'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
    'units: *h',
  ].join('\n');
  const { spec, diagnostics } = parseFleetYaml(bomb, 'fleet.yaml');
  assert.equal(spec, null);
  assert.deepEqual(diagnostics.map(at), ['YML01@1:4']);
  assert.match(diagnostics[0]!.message, /anchors .* and aliases .* are not allowed/);
});

test('a single harmless anchor is refused too (no alias machinery at all)', () => {
  const { diagnostics } = parseFleetYaml('defaults: &d\n  state: loaded\n', 'fleet.yaml');
  assert.equal(diagnostics[0]?.rule, 'YML01');
});

test('duplicate keys are refused, naming the key and its line', () => {
  const { spec, diagnostics } = parseFleetYaml(
    'units:\n  a.service: launched\n  b.service: loaded\n  a.service: inactive\n',
    'fleet.yaml',
  );
  assert.equal(spec, null);
  assert.deepEqual(diagnostics.map(at), ['YML01@4:3']);
  assert.match(diagnostics[0]!.message, /duplicate key 'a.service'/);
});

test('deep nesting, huge files, several documents and non-UTF-8 are refused', () => {
  const deep = parseFleetYaml('units: ' + '['.repeat(100) + ']'.repeat(100) + '\n', 'fleet.yaml');
  assert.equal(deep.spec, null);
  assert.match(deep.diagnostics[0]!.message, /maxDepth|nesting/);

  const huge = parseFleetYaml('#'.repeat(MAX_FLEET_YAML_BYTES + 1), 'fleet.yaml');
  assert.equal(huge.spec, null);
  assert.match(huge.diagnostics[0]!.message, /limit is 1048576/);

  const multi = parseFleetYaml('path: a\n---\npath: b\n', 'fleet.yaml');
  assert.match(multi.diagnostics[0]!.message, /one YAML document, found 2/);

  const latin1 = parseFleetYaml(Uint8Array.from([0x70, 0x61, 0x74, 0x68, 0x3a, 0x20, 0xe9, 0x0a]), 'fleet.yaml');
  assert.match(latin1.diagnostics[0]!.message, /not valid UTF-8/);
});

test('YAML syntax errors carry the line and column js-yaml found', () => {
  const { diagnostics } = parseFleetYaml('units:\n  a.service: [launched\nb: 1\n', 'fleet.yaml');
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0]!.rule, 'YML01');
  assert.ok(diagnostics[0]!.line >= 2, `line ${diagnostics[0]!.line}`);
  assert.match(diagnostics[0]!.message, /^invalid YAML: /);
});

test('wrong types are named: top level list, allowEmpty string, units list', () => {
  assert.match(parseFleetYaml('- a\n', 'fleet.yaml').diagnostics[0]!.message, /must be a mapping.*found a list/);
  assert.match(
    parseFleetYaml('allowEmpty: "yes"\n', 'fleet.yaml').diagnostics[0]!.message,
    /true or false; found the string 'yes'/,
  );
  assert.match(parseFleetYaml('units: [a.service]\n', 'fleet.yaml').diagnostics[0]!.message, /units must be a mapping/);
  assert.match(parseFleetYaml('path: 3\n', 'fleet.yaml').diagnostics[0]!.message, /path must be a directory name/);
  assert.match(
    parseFleetYaml('units:\n  a.service: [x]\n', 'fleet.yaml').diagnostics[0]!.message,
    /must be a state .* or a mapping/,
  );
});

test('custom tags (code execution in other YAML loaders) are refused', () => {
  const { spec, diagnostics } = parseFleetYaml('path: !!js/function "function(){}"\n', 'fleet.yaml');
  assert.equal(spec, null);
  assert.match(diagnostics[0]!.message, /unknown scalar tag/);
});

test('a key named __proto__ is an unknown field, not a prototype change', () => {
  const { diagnostics } = parseFleetYaml('__proto__: {polluted: true}\n', 'fleet.yaml');
  assert.deepEqual(diagnostics.map(at), ['YML01@1:1']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('an instance-name entry sets that instance state; a null entry means listed with the default', () => {
  const { spec, diagnostics } = parseFleetYaml('units:\n  web@blue.service: loaded\n  other.service:\n', 'fleet.yaml');
  assert.deepEqual(diagnostics, []);
  assert.equal(spec?.units['web@blue.service']?.state, 'loaded');
  assert.deepEqual(spec?.units['other.service'], { line: 3, column: 3 });
});
