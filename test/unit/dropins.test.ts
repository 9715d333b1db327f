// Which drop-ins apply to a unit and in which order (pure), and the same question put to a real
// systemd: the directories it reads and the order it applies the files in (DropInPaths).
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applicableDropIns,
  compareFileNames,
  dropInDirsOf,
  mergeDropIns,
  parseDropInDir,
} from '../../src/unit/dropins.js';
import { effectiveValues, lastValue, parseUnit } from '../../src/unit/parse.js';
import { showProperty, startSystemd, systemctl } from '../support/systemd.js';

describe('dropInDirsOf: the directories systemd 252 reads, most specific first', () => {
  it('a plain unit: its own, then the type-wide one', () => {
    assert.deepEqual(dropInDirsOf('web.service'), ['web.service', 'service']);
    assert.deepEqual(dropInDirsOf('backup.timer'), ['backup.timer', 'timer']);
  });
  it('dash prefixes, from the longest: foo-bar-baz.service reads foo-bar-.service.d and foo-.service.d', () => {
    assert.deepEqual(dropInDirsOf('foo-bar-baz.service'), [
      'foo-bar-baz.service',
      'foo-bar-.service',
      'foo-.service',
      'service',
    ]);
  });
  it('an instance: its own, its template and the template prefixes, then its own prefixes (with the instance)', () => {
    assert.deepEqual(dropInDirsOf('web@1.service'), ['web@1.service', 'web@.service', 'service']);
    assert.deepEqual(dropInDirsOf('foo-bar@1.service'), [
      'foo-bar@1.service',
      'foo-bar@.service',
      'foo-.service',
      'foo-@1.service',
      'foo-@.service',
      'service',
    ]);
  });
  it('a template reads its own and its prefixes', () => {
    assert.deepEqual(dropInDirsOf('foo-bar@.service'), ['foo-bar@.service', 'foo-.service', 'service']);
  });
  it('a leading dash is no prefix; a trailing one is chopped once; doubled dashes as systemd splits them', () => {
    assert.deepEqual(dropInDirsOf('-x.service'), ['-x.service', 'service']);
    assert.deepEqual(dropInDirsOf('x-.service'), ['x-.service', 'service']);
    assert.deepEqual(dropInDirsOf('a--b.service'), ['a--b.service', 'a--.service', 'a-.service', 'service']);
  });
  it('nothing for a name that is not a unit name', () => {
    assert.deepEqual(dropInDirsOf('web'), []);
    assert.deepEqual(dropInDirsOf('../x.service'), []);
  });
});

describe('parseDropInDir', () => {
  it('tells what a directory applies to', () => {
    assert.deepEqual(parseDropInDir('web.service.d'), { unit: 'web.service', kind: 'unit', type: 'service' });
    assert.deepEqual(parseDropInDir('web@.service.d'), { unit: 'web@.service', kind: 'template', type: 'service' });
    assert.deepEqual(parseDropInDir('web@1.service.d'), { unit: 'web@1.service', kind: 'instance', type: 'service' });
    assert.deepEqual(parseDropInDir('foo-.service.d'), { unit: 'foo-.service', kind: 'prefix', type: 'service' });
    assert.deepEqual(parseDropInDir('foo-@.socket.d'), { unit: 'foo-@.socket', kind: 'prefix', type: 'socket' });
    assert.deepEqual(parseDropInDir('service.d'), { unit: 'service', kind: 'type', type: 'service' });
  });
  it('refuses what systemd would not read as one', () => {
    for (const d of ['conf.d', 'web.service', 'web.service.wants', 'web.conf.d', 'Service.d', '.d'])
      assert.equal(parseDropInDir(d), null, d);
  });
});

describe('applicableDropIns: one file per name, the most specific directory wins, applied by name', () => {
  const dirs = new Map([
    [
      'service',
      new Map([
        ['10-limits.conf', 'type 10'],
        ['05-base.conf', 'type 05'],
        ['90-late.conf', 'type 90'],
      ]),
    ],
    [
      'web@.service',
      new Map([
        ['10-limits.conf', 'template 10'],
        ['20-env.conf', 'template 20'],
      ]),
    ],
    ['web@1.service', new Map([['20-env.conf', 'instance 20']])],
  ]);
  it('for an instance', () => {
    assert.deepEqual(
      applicableDropIns('web@1.service', dirs).map((d) => `${d.name}=${d.item}`),
      ['05-base.conf=type 05', '10-limits.conf=template 10', '20-env.conf=instance 20', '90-late.conf=type 90'],
    );
  });
  it('for another instance of the template, and an unrelated service', () => {
    assert.deepEqual(
      applicableDropIns('web@2.service', dirs).map((d) => d.item),
      ['type 05', 'template 10', 'template 20', 'type 90'],
    );
    assert.deepEqual(
      applicableDropIns('db.service', dirs).map((d) => d.item),
      ['type 05', 'type 10', 'type 90'],
    );
    assert.deepEqual(applicableDropIns('db.socket', dirs), []);
  });
  it('file names compare as strcmp compares bytes', () => {
    const names = ['b.conf', 'B.conf', '10.conf', '9.conf', 'a-b.conf', 'a.conf', 'é.conf', 'z.conf'];
    assert.deepEqual([...names].sort(compareFileNames), [
      '10.conf',
      '9.conf',
      'B.conf',
      'a-b.conf',
      'a.conf',
      'b.conf',
      'z.conf',
      'é.conf',
    ]);
  });
});

describe('mergeDropIns: systemd reads the drop-ins after the unit file, into the same settings', () => {
  const main = parseUnit('[Unit]\nAfter=a.service\n[Service]\nExecStart=/bin/a\nEnvironment=A=1\nNice=1\n', 'u');
  const one = parseUnit('[Service]\nEnvironment=B=2\nNice=5\n[Install]\nWantedBy=x.target\n', 'u.d/10.conf');
  const two = parseUnit('[Service]\nExecStart=\nExecStart=/bin/b\n[Unit]\nAfter=\n', 'u.d/20.conf');
  const m = mergeDropIns(main, [one, two]);
  it('lists append, an empty assignment resets, single values: the last wins', () => {
    assert.deepEqual(effectiveValues(m, 'Service', 'Environment'), ['A=1', 'B=2']);
    assert.deepEqual(effectiveValues(m, 'Service', 'ExecStart'), ['/bin/b']);
    assert.deepEqual(effectiveValues(m, 'Unit', 'After'), []);
    assert.equal(lastValue(m, 'Service', 'Nice'), '5');
  });
  it('sections the unit file lacks are added; each option keeps its file and position', () => {
    assert.deepEqual(
      m.sections.map((s) => [s.name, s.file ?? 'u', s.line]),
      [
        ['Unit', 'u', 1],
        ['Service', 'u', 3],
        ['Install', 'u.d/10.conf', 4],
      ],
    );
    const nice = m.sections[1]!.options.filter((o) => o.key === 'Nice');
    assert.deepEqual(
      nice.map((o) => [o.file ?? 'u', o.line]),
      [
        ['u', 6],
        ['u.d/10.conf', 3],
      ],
    );
    assert.equal(main.sections[1]!.options.length, 3, 'the unit file parse is left as it was');
  });
});

test('systemd 252 agrees: the drop-ins it reads for each unit, and their order (DropInPaths)', {
  timeout: 60_000,
}, async (t) => {
  const inst = await startSystemd(t);
  const units = [
    'plain.service',
    'foo-bar-baz.service',
    'foo-bar@1.service',
    'web@blue.service',
    'a--b.service',
    'x-.service',
    'tick.timer',
  ];
  const files = new Set([...units, 'foo-bar@.service', 'web@.service']);
  // Every directory some unit reads, and some that none does.
  const dirNames = new Set([
    ...units.flatMap(dropInDirsOf),
    'foo.service',
    'bar-.service',
    'foo-bar-baz@.service',
    'web@red.service',
    'socket',
  ]);
  mkdirSync(inst.unitDir, { recursive: true });
  for (const f of files) {
    const body = f.endsWith('.timer') ? '[Timer]\nOnActiveSec=1h\n' : '[Service]\nExecStart=/bin/true\n';
    writeFileSync(join(inst.unitDir, f), body);
  }
  const index = new Map<string, Map<string, string>>();
  let i = 0;
  for (const d of dirNames) {
    const dir = join(inst.unitDir, `${d}.d`);
    mkdirSync(dir);
    // A name of its own (sorted among the others), and one name every directory has.
    const own = `${String((++i * 7) % 100).padStart(2, '0')}-own.conf`;
    writeFileSync(join(dir, own), '[Unit]\n');
    writeFileSync(join(dir, '50-shared.conf'), `[Unit]\nDescription=from ${d}\n`);
    writeFileSync(join(dir, 'README'), 'not read');
    index.set(
      d,
      new Map([
        [own, own],
        ['50-shared.conf', '50-shared.conf'],
      ]),
    );
  }
  await systemctl(inst, 'daemon-reload');
  for (const unit of units) {
    const want = applicableDropIns(unit, index).map((d) => join(inst.unitDir, `${d.dir}.d`, d.name));
    assert.deepEqual((await showProperty(inst, unit, 'DropInPaths')).split(' '), want, unit);
    const winner = applicableDropIns(unit, index).find((d) => d.name === '50-shared.conf')!;
    assert.equal(await showProperty(inst, unit, 'Description'), `from ${winner.dir}`, unit);
  }
});
