/**
 * buildDesired / analyzeRepo on in-memory file lists (the pure half; test/source/ and test/preview/
 * cover the same paths through real git repositories).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDesired } from '../../src/desired/build.js';
import { parseFleetYaml } from '../../src/desired/fleetyaml.js';
import { analyzeRepo } from '../../src/desired/repo.js';
import type { RepoFile } from '../../src/desired/types.js';
import type { Diagnostic } from '../../src/diag.js';

const enc = new TextEncoder();
function file(path: string, text: string | Uint8Array): RepoFile {
  return { path, name: path.split('/').pop()!, content: typeof text === 'string' ? enc.encode(text) : text };
}
const svc = (desc: string, extra = ''): string =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep ` +
  `infinity\n${extra}\n[Install]\nWantedBy=default.target\n`;
const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === 'error');
const brief = (d: Diagnostic) => `${d.rule} ${d.file}:${d.line}`;

test('without fleet.yaml every unit file is launched, sorted by name; the template alone runs nothing', () => {
  const r = buildDesired(
    [file('b.service', svc('b')), file('a.service', svc('a')), file('w@.service', svc('w'))],
    null,
    'c1',
  );
  assert.deepEqual(errors(r.diagnostics), []);
  assert.equal(r.desired?.commit, 'c1');
  assert.deepEqual(
    r.desired?.units.map((u) => [u.name, u.state, u.source]),
    [
      ['a.service', 'launched', 'a.service'],
      ['b.service', 'launched', 'b.service'],
    ],
  );
});

test('states come from fleet.yaml entries, else defaults.state; files outside path are ignored', () => {
  const r = buildDesired(
    [file('units/a.service', svc('a')), file('units/b.service', svc('b')), file('other/c.service', svc('c'))],
    file('fleet.yaml', 'path: units\ndefaults: {state: loaded}\nunits:\n  a.service: inactive\n'),
    'c1',
  );
  assert.deepEqual(errors(r.diagnostics), []);
  assert.deepEqual(
    r.desired?.units.map((u) => [u.name, u.state]),
    [
      ['a.service', 'inactive'],
      ['b.service', 'loaded'],
    ],
  );
});

test('fleet.yaml as the reader parsed it is used, not parsed again', () => {
  const fy = file('fleet.yaml', 'units:\n  a.service: loaded\n');
  const files = [file('a.service', svc('a'))];
  assert.deepEqual(
    buildDesired(files, fy, 'c').desired?.units.map((u) => u.state),
    ['loaded'],
  );
  // The reader's parse stands for the bytes (readers parse fleet.yaml to find `path:`).
  const parsed = parseFleetYaml('units:\n  a.service: inactive\n', 'fleet.yaml');
  assert.deepEqual(
    buildDesired(files, fy, 'c', { fleetYamlResult: parsed }).desired?.units.map((u) => u.state),
    ['inactive'],
  );
});

test('content is canonical: comments and layout do not change the hash', () => {
  const a = buildDesired([file('a.service', svc('a'))], null, 'c1').desired!.units[0]!;
  const b = buildDesired(
    [file('a.service', '# a comment\n\n' + svc('a').replace('\n\n', '\n\n\n').replace(/\n/g, '\r\n'))],
    null,
    'c2',
  ).desired!.units[0]!;
  assert.equal(a.hash, b.hash);
  assert.equal(a.content, b.content);
  assert.match(a.hash, /^[0-9a-f]{64}$/);
});

test('template instances are expanded with the template content and %i in [X-Fleet] per instance', () => {
  const tmpl = svc('web %i') + '\n[X-Fleet]\nMachineMetadata=role=%i\nConflicts=web@*.service\n';
  const r = buildDesired(
    [file('web@.service', tmpl)],
    file(
      'fleet.yaml',
      'units:\n  web@.service:\n    instances: [blue, green]\n    state: loaded\n  web@red.service: inactive\n',
    ),
    'c1',
  );
  assert.deepEqual(errors(r.diagnostics), []);
  const units = r.desired!.units;
  assert.deepEqual(
    units.map((u) => [u.name, u.state]),
    [
      ['web@blue.service', 'loaded'],
      ['web@green.service', 'loaded'],
      ['web@red.service', 'inactive'],
    ],
  );
  assert.deepEqual(
    units.map((u) => u.constraints.machineMetadata),
    [{ role: ['blue'] }, { role: ['green'] }, { role: ['red'] }],
  );
  assert.ok(units.every((u) => u.source === 'web@.service' && u.hash === units[0]!.hash && u.content.includes('%i')));
});

test('instances: N makes instances 1..N', () => {
  const r = buildDesired(
    [file('w@.service', svc('w'))],
    file('fleet.yaml', 'units:\n  w@.service: {instances: 3}\n'),
    'c1',
  );
  assert.deepEqual(
    r.desired?.units.map((u) => u.name),
    ['w@1.service', 'w@2.service', 'w@3.service'],
  );
});

test('a unit file named like an instance wins over the template, with a warning', () => {
  const r = buildDesired(
    [file('w@.service', svc('tmpl')), file('w@1.service', svc('special'))],
    file('fleet.yaml', 'units:\n  w@.service: {instances: 2}\n'),
    'c1',
  );
  assert.deepEqual(errors(r.diagnostics), []);
  assert.deepEqual(
    r.desired?.units.map((u) => [u.name, u.source]),
    [
      ['w@1.service', 'w@1.service'],
      ['w@2.service', 'w@.service'],
    ],
  );
  assert.ok(r.diagnostics.some((d) => d.severity === 'warning' && /both a unit file and an instance/.test(d.message)));
});

test('YML02: fleet.yaml names a unit the repo lacks (with a did-you-mean), at the entry line', () => {
  const r = buildDesired(
    [file('units/hello.service', svc('h'))],
    file('fleet.yaml', 'path: units\nunits:\n  helo.service: loaded\n'),
    'c1',
  );
  assert.equal(r.desired, null);
  assert.deepEqual(errors(r.diagnostics).map(brief), ['YML02 fleet.yaml:3']);
  assert.match(
    r.diagnostics[0]!.message,
    /helo\.service.*no unit file helo\.service under 'units'.*did you mean 'hello\.service'/,
  );
});

test('YML03: instances of a template the repo lacks, by list or by instance entry', () => {
  const r = buildDesired(
    [file('a.service', svc('a'))],
    file('fleet.yaml', 'units:\n  web@.service: {instances: 2}\n  api@blue.service: launched\n'),
    'c1',
  );
  assert.equal(r.desired, null);
  assert.deepEqual(errors(r.diagnostics).map(brief), ['YML03 fleet.yaml:2', 'YML03 fleet.yaml:3']);
  assert.match(r.diagnostics[1]!.message, /api@blue\.service is an instance of api@\.service/);
});

test('a lint error in one unit refuses the whole commit, naming file and line', () => {
  const r = buildDesired([file('a.service', svc('a')), file('b.service', svc('b', 'Restart=sometimes\n'))], null, 'c1');
  assert.equal(r.desired, null);
  const e = errors(r.diagnostics);
  assert.ok(e.length >= 1);
  assert.equal(e[0]!.file, 'b.service');
  assert.equal(e[0]!.line, 6);
});

test('an invalid file name is NAM01 and refuses the commit; ..x.service is a valid (harmless) name', () => {
  const bad = buildDesired([file('units/bad name.service', svc('x'))], file('fleet.yaml', 'path: units\n'), 'c1');
  assert.equal(bad.desired, null);
  assert.deepEqual(
    errors(bad.diagnostics).map((d) => d.rule),
    ['NAM01'],
  );
  const dots = buildDesired([file('..x.service', svc('x'))], null, 'c1');
  assert.deepEqual(
    dots.desired?.units.map((u) => u.name),
    ['..x.service'],
  );
});

test('EMPTY01: no units at all is refused unless allowEmpty', () => {
  const none = buildDesired([], null, 'c1');
  assert.equal(none.desired, null);
  assert.deepEqual(none.diagnostics.map(brief), ['EMPTY01 fleet.yaml:0']);
  assert.match(none.diagnostics[0]!.message, /destroy every unit.*allowEmpty: true/);
  // Only a template without instances: still nothing to run.
  assert.equal(buildDesired([file('w@.service', svc('w'))], null, 'c1').desired, null);
  const allowed = buildDesired([], file('fleet.yaml', 'allowEmpty: true\n'), 'c1');
  assert.deepEqual(allowed.desired, { commit: 'c1', units: [] });
});

test('two unit files with one name in different directories are refused (SRC06)', () => {
  const r = buildDesired(
    [file('units/a/x.service', svc('1')), file('units/b/x.service', svc('2'))],
    file('fleet.yaml', 'path: units\n'),
    'c1',
  );
  assert.equal(r.desired, null);
  assert.deepEqual(errors(r.diagnostics).map(brief), ['SRC06 units/b/x.service:0']);
  assert.match(r.diagnostics[0]!.message, /also defined by units\/a\/x\.service/);
});

test('unit files in subdirectories of path are units too', () => {
  const r = buildDesired(
    [file('units/web/x.service', svc('x')), file('units/y.service', svc('y'))],
    file('fleet.yaml', 'path: units\n'),
    'c1',
  );
  assert.deepEqual(
    r.desired?.units.map((u) => [u.name, u.source]),
    [
      ['x.service', 'units/web/x.service'],
      ['y.service', 'units/y.service'],
    ],
  );
});

test('an invalid fleet.yaml refuses the commit and the units are still linted', () => {
  const r = buildDesired([file('a.service', svc('a', 'Restart=sometimes\n'))], file('fleet.yaml', 'unitz: {}\n'), 'c1');
  assert.equal(r.desired, null);
  assert.deepEqual(
    errors(r.diagnostics)
      .map((d) => d.file)
      .sort(),
    ['a.service', 'fleet.yaml'],
  );
});

test('refused files count as present: no YML02 on top of the reader finding', () => {
  const r = buildDesired([file('a.service', svc('a'))], file('fleet.yaml', 'units:\n  link.service: loaded\n'), 'c1', {
    rejected: ['link.service'],
  });
  assert.deepEqual(
    r.diagnostics.filter((d) => d.rule === 'YML02'),
    [],
  );
});

test('the result is deterministic: file order does not matter', () => {
  const files = [file('b.service', svc('b')), file('w@.service', svc('w')), file('a.service', svc('a'))];
  const fy = file('fleet.yaml', 'units:\n  w@.service: {instances: [z, y]}\n');
  const one = buildDesired(files, fy, 'c1');
  const two = buildDesired([...files].reverse(), fy, 'c1');
  assert.deepEqual(one.desired, two.desired);
  assert.deepEqual(
    one.desired?.units.map((u) => u.name),
    ['a.service', 'b.service', 'w@y.service', 'w@z.service'],
  );
});

test('MachineOf cycles between units are refused', () => {
  const r = buildDesired(
    [
      file('a.service', svc('a') + '\n[X-Fleet]\nMachineOf=b.service\n'),
      file('b.service', svc('b') + '\n[X-Fleet]\nMachineOf=a.service\n'),
    ],
    null,
    'c1',
  );
  assert.equal(r.desired, null);
  assert.ok(errors(r.diagnostics).some((d) => d.rule === 'FLT02'));
});

test('analyzeRepo lints with the repo as context and reports the unit directory', () => {
  const a = analyzeRepo([file('units/a.service', svc('a'))], file('fleet.yaml', 'path: units\n'));
  assert.equal(a.unitDir, 'units');
  assert.equal(a.units.length, 1);
  assert.equal(a.units[0]!.name, 'a.service');
  assert.ok(a.units[0]!.loaded);
  assert.match(a.units[0]!.canonical ?? '', /^\[Unit\]/);
  // Only a template keeps its parse tree (its instances are built from it).
  assert.equal(a.units[0]!.unit, null);
});

test('a timer, path or socket records the unit it activates (Unit=, else the same-named service)', () => {
  const r = buildDesired(
    [
      file('job.service', '[Service]\nType=oneshot\nExecStart=/bin/true\n'),
      file('job.timer', '[Timer]\nOnCalendar=daily\n'),
      file('other.timer', '[Timer]\nOnCalendar=hourly\nUnit=job.service\n'),
      file('watch.path', '[Path]\nPathExists=/tmp/x\nUnit=job.service\n'),
    ],
    file('fleet.yaml', 'units:\n  job.service: loaded\n'),
    'c1',
  );
  assert.deepEqual(errors(r.diagnostics), []);
  const t = new Map(r.desired!.units.map((u) => [u.name, u.triggers]));
  assert.equal(t.get('job.timer'), 'job.service');
  assert.equal(t.get('other.timer'), 'job.service');
  assert.equal(t.get('watch.path'), 'job.service');
  assert.equal(t.get('job.service'), undefined);
});

test('a socket with Accept=yes brings its template along, loaded, and is paired with it', () => {
  const files = [
    file('echo.socket', '[Socket]\nListenStream=127.0.0.1:9999\nAccept=yes\n'),
    file('echo@.service', '[Service]\nExecStart=/bin/cat\nStandardInput=socket\n'),
  ];
  const r = buildDesired(files, null, 'c1');
  assert.deepEqual(errors(r.diagnostics), []);
  assert.deepEqual(
    r.desired?.units.map((u) => [u.name, u.state, u.triggers]),
    [
      ['echo.socket', 'launched', 'echo@.service'],
      ['echo@.service', 'loaded', undefined],
    ],
  );
  // An inactive socket needs no template anywhere.
  const off = buildDesired(files, file('fleet.yaml', 'allowEmpty: true\nunits:\n  echo.socket: inactive\n'), 'c2');
  assert.deepEqual(
    off.desired?.units.map((u) => u.name),
    ['echo.socket'],
  );
});
