import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  escape,
  instantiate,
  isInstance,
  isTemplate,
  isValidUnitName,
  parseUnitName,
  templateOf,
  unescape,
  unitNameError,
  unitType,
  UnitNameError,
} from '../../src/unit/names.js';

describe('unit name validity', () => {
  it('accepts plain, template and instance names of every type', () => {
    for (const n of [
      'a.service',
      'web@.service',
      'web@1.service',
      'dev-sda1.device',
      '-.mount',
      'home-user\\x2dx.mount',
      'a:b_c.d-e.socket',
      'x.automount',
      's.swap',
      't.target',
      'p.path',
      't.timer',
      'user-1000.slice',
      'session-1.scope',
      'a@b@c.service',
      'a.b.c.timer',
    ]) {
      assert.equal(unitNameError(n), null, n);
      assert.equal(isValidUnitName(n), true, n);
    }
  });

  it('explains why a name is invalid', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['noext', /no type suffix/],
      ['.service', /nothing before/],
      ['a.serv', /unknown unit type suffix "\.serv"/],
      ['a.Service', /unknown unit type suffix/],
      ['../x.service', /invalid character "\/" at position 3.*not a path/],
      ['a b.service', /invalid character " " at position 2/],
      ['é.service', /invalid character "é" at position 1/],
      ['@x.service', /may not start with '@'/],
      ['@.service', /may not start with '@'/],
      ['a'.repeat(248) + '.service', /256 bytes long; at most 255/],
    ];
    for (const [n, re] of cases) {
      const err = unitNameError(n);
      assert.ok(err, `${JSON.stringify(n)} should be invalid`);
      assert.match(err, re);
      assert.equal(isValidUnitName(n), false);
    }
    // 255 bytes is the maximum.
    assert.equal(unitNameError('a'.repeat(247) + '.service'), null);
  });

  it('gives the type from the suffix', () => {
    assert.equal(unitType('a.socket'), 'socket');
    assert.equal(unitType('a@.timer'), 'timer');
    assert.equal(unitType('a.conf'), null);
    assert.equal(unitType('noext'), null);
  });
});

describe('templates and instances', () => {
  it('splits names like systemd (first @, last .)', () => {
    assert.deepEqual(parseUnitName('web@8080.service'), {
      prefix: 'web',
      instance: '8080',
      template: false,
      type: 'service',
    });
    assert.deepEqual(parseUnitName('web@.service'), { prefix: 'web', instance: '', template: true, type: 'service' });
    assert.deepEqual(parseUnitName('a.b.socket'), { prefix: 'a.b', instance: null, template: false, type: 'socket' });
    assert.deepEqual(parseUnitName('a@b@c.d.service'), {
      prefix: 'a',
      instance: 'b@c.d',
      template: false,
      type: 'service',
    });
    assert.equal(parseUnitName('bad name.service'), null);
  });

  it('tells templates from instances', () => {
    assert.equal(isTemplate('web@.service'), true);
    assert.equal(isTemplate('web@1.service'), false);
    assert.equal(isInstance('web@1.service'), true);
    assert.equal(isInstance('web@.service'), false);
    assert.equal(isInstance('web.service'), false);
    assert.equal(templateOf('web@1.service'), 'web@.service');
    assert.equal(templateOf('web@.service'), null);
    assert.equal(templateOf('web.service'), null);
  });

  it('instantiates with an escaped instance, or as given with escape: false', () => {
    assert.equal(instantiate('web@.service', '1'), 'web@1.service');
    assert.equal(instantiate('web@.service', 'a b/c-d'), 'web@a\\x20b-c\\x2dd.service');
    assert.equal(instantiate('web@.service', 'a-b', { escape: false }), 'web@a-b.service');
    assert.equal(instantiate('mnt@.service', '/srv/data', { path: true }), 'mnt@srv-data.service');
  });

  it('refuses to instantiate what systemd refuses', () => {
    assert.throws(() => instantiate('web.service', '1'), UnitNameError);
    assert.throws(() => instantiate('web@1.service', '2'), /not a valid template/);
    assert.throws(() => instantiate('web@.service', ''), /empty instance/);
    assert.throws(() => instantiate('web@.service', 'a b', { escape: false }), /invalid character " "/);
    assert.throws(() => instantiate('web@.service', 'x'.repeat(250)), /at most 255/);
  });
});

/** The real binary is the reference: stdout only (it prints warnings on stderr). */
/**
 * systemd-escape prints its results for several arguments on one line, separated by spaces, and
 * stops at the first argument it cannot handle. Inputs whose result cannot contain blanks (every
 * escape result; unescapes without an escaped blank) are run in batches, a failing batch split in
 * halves; the others one process each.
 */
function runEscape(args: string[], inputs: string[]): { ok: boolean; out: string }[] {
  const unescaping = args.includes('--unescape');
  const batchable = (x: string) => !/\s/.test(x) && !(unescaping && /\\x(20|0[9a-d])/i.test(x));
  const one = (batch: string[]) => {
    const r = spawnSync('systemd-escape', [...args, '--', ...batch], { encoding: 'utf8' });
    if (r.error) throw r.error;
    return { ok: r.status === 0, out: r.stdout.replace(/\n$/, '') };
  };
  const solve = (batch: string[]): { ok: boolean; out: string }[] => {
    if (batch.length === 0) return [];
    if (batch.length > 1 && batch.every(batchable)) {
      const r = one(batch);
      const parts = r.out.split(' ');
      if (r.ok && parts.length === batch.length) return parts.map((out) => ({ ok: true, out }));
    }
    if (batch.length === 1) {
      const r = one(batch);
      return [{ ok: r.ok, out: r.ok ? r.out : '' }];
    }
    const mid = batch.length >> 1;
    return [...solve(batch.slice(0, mid)), ...solve(batch.slice(mid))];
  };
  return solve(inputs);
}

function ours(f: () => string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: f() };
  } catch (e) {
    assert.ok(e instanceof UnitNameError, `unexpected ${String(e)}`);
    return { ok: false, out: '' };
  }
}

const INPUTS = [
  '',
  '/',
  '//',
  '///a',
  'a',
  'a b',
  '.x',
  '/.x',
  '..x',
  'a//b/',
  'a/../b',
  '../a',
  './a',
  'a/./b',
  '.',
  './',
  '..',
  '-',
  '--',
  '-a-',
  'ü',
  'ünïcødé/路径/😀',
  'a\\b',
  '\\x2d',
  '@',
  'foo@bar',
  'x.y:z_w',
  'A-Z_09:.',
  '/home/user/My Files',
  '.hidden/.x',
  'a-b-c',
  'tab\there',
  'nl\nx',
  '%n',
  '/dev/sda1',
  '/a/b/',
  '~',
  '\x7f',
  '\x01',
  `'"\`$;&|`,
  'a'.repeat(255),
  'a'.repeat(256),
  '/' + 'a'.repeat(255),
  '/' + 'a'.repeat(256),
  ('/' + 'b'.repeat(200)).repeat(21),
];

describe('escape/unescape equal systemd-escape byte for byte', () => {
  for (const path of [false, true]) {
    const args = path ? ['--path'] : [];
    it(`escape${path ? ' --path' : ''} on ${INPUTS.length} strings`, () => {
      const theirs = runEscape(args, INPUTS);
      INPUTS.forEach((s, i) => {
        assert.deepEqual(
          ours(() => escape(s, { path })),
          theirs[i],
          `systemd-escape ${args.join(' ')} ${JSON.stringify(s)}`,
        );
      });
    });

    it(`unescape${path ? ' --path' : ''} of escaped strings and of malformed input`, () => {
      const escaped = runEscape([], INPUTS)
        .filter((r) => r.ok)
        .map((r) => r.out);
      const odd = [
        '\\x',
        '\\xZZ',
        '\\X41',
        '\\x41',
        '\\xC3\\xBC',
        '\\x2e',
        'a-b',
        '-',
        '',
        '-a',
        'a-',
        'a--b',
        '.',
        '..',
        'a-..-b',
        'a-.-b',
        '\\x2f',
        'x\\x2fy',
        '\\',
      ];
      const inputs = [...escaped, ...odd];
      const theirs = runEscape(['--unescape', ...args], inputs);
      inputs.forEach((s, i) => {
        assert.deepEqual(
          ours(() => unescape(s, { path })),
          theirs[i],
          `systemd-escape --unescape ${args.join(' ')} ${JSON.stringify(s)}`,
        );
      });
    });
  }

  it('instantiate equals systemd-escape --template', () => {
    const theirs = runEscape(['--template=web@.service'], INPUTS);
    INPUTS.forEach((s, i) => {
      assert.deepEqual(
        ours(() => instantiate('web@.service', s)),
        theirs[i],
        `--template ${JSON.stringify(s)}`,
      );
    });
    const theirsPath = runEscape(['--template=mnt@.mount', '--path'], INPUTS);
    INPUTS.forEach((s, i) => {
      assert.deepEqual(
        ours(() => instantiate('mnt@.mount', s, { path: true })),
        theirsPath[i],
        `--template --path ${JSON.stringify(s)}`,
      );
    });
  });

  it('round-trips unescape(escape(s)) for paths and strings', () => {
    for (const s of ['a b', 'ünï/x', '-x-', 'a\\b', '.dot']) assert.equal(unescape(escape(s)), s);
    for (const s of ['/srv/my data', '/a-b/c', '/.hidden'])
      assert.equal(unescape(escape(s, { path: true }), { path: true }), s);
  });

  it('refuses an unescape result that is not UTF-8 (systemd would print raw bytes)', () => {
    assert.throws(() => unescape('\\xff'), /not valid UTF-8/);
  });
});
