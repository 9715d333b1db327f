import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globMatch, globError, isGlob, pathMatch } from '../../src/fleet/glob.js';

// Go's own table for path.Match (src/path/match_test.go): [pattern, name, matched, malformed].
const GO_TABLE: [string, string, boolean, boolean][] = [
  ['abc', 'abc', true, false],
  ['*', 'abc', true, false],
  ['*c', 'abc', true, false],
  ['a*', 'a', true, false],
  ['a*', 'abc', true, false],
  ['a*', 'ab/c', false, false],
  ['a*/b', 'abc/b', true, false],
  ['a*/b', 'a/c/b', false, false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true, false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true, false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false, false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false, false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true, false],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false, false],
  ['ab[c]', 'abc', true, false],
  ['ab[b-d]', 'abc', true, false],
  ['ab[e-g]', 'abc', false, false],
  ['ab[^c]', 'abc', false, false],
  ['ab[^b-d]', 'abc', false, false],
  ['ab[^e-g]', 'abc', true, false],
  ['a\\*b', 'a*b', true, false],
  ['a\\*b', 'ab', false, false],
  ['a?b', 'a☺b', true, false],
  ['a[^a]b', 'a☺b', true, false],
  ['a???b', 'a☺b', false, false],
  ['a[^a][^a][^a]b', 'a☺b', false, false],
  ['[a-ζ]*', 'α', true, false],
  ['*[a-ζ]', 'A', false, false],
  ['a?b', 'a/b', false, false],
  ['a*b', 'a/b', false, false],
  ['[\\]a]', ']', true, false],
  ['[\\-]', '-', true, false],
  ['[x\\-]', 'x', true, false],
  ['[x\\-]', '-', true, false],
  ['[x\\-]', 'z', false, false],
  ['[\\-x]', 'x', true, false],
  ['[\\-x]', '-', true, false],
  ['[\\-x]', 'a', false, false],
  ['[]a]', ']', false, true],
  ['[-]', '-', false, true],
  ['[x-]', 'x', false, true],
  ['[x-]', '-', false, true],
  ['[x-]', 'z', false, true],
  ['[-x]', 'x', false, true],
  ['[-x]', '-', false, true],
  ['[-x]', 'a', false, true],
  ['\\', 'a', false, true],
  ['[a-b-c]', 'a', false, true],
  ['[', 'a', false, true],
  ['[^', 'a', false, true],
  ['[^bc', 'a', false, true],
  ['a[', 'a', false, true],
  ['a[', 'ab', false, true],
  ['a[', 'x', false, true],
  ['a/b[', 'x', false, true],
  ['*x', 'xxx', true, false],
];

// Unit-name cases as they appear in [X-Fleet] Conflicts=/Replaces=.
const FLEET_TABLE: [string, string, boolean, boolean][] = [
  ['web@*.service', 'web@1.service', true, false],
  ['web@*.service', 'web@.service', true, false],
  ['web@*.service', 'web@1.socket', false, false],
  ['conflict-global.*.service', 'conflict-global.2.service', true, false],
  ['monitor*', 'monitor.service', true, false],
  ['monitor*', 'xmonitor.service', false, false],
  ['*.service', 'a.service', true, false],
  ['*', 'anything.timer', true, false],
  ['web@[0-9].service', 'web@7.service', true, false],
  ['web@[0-9].service', 'web@10.service', false, false],
  ['web@[!0-9].service', 'web@!.service', true, false], // '!' is not negation in path.Match
  ['web@[!0-9].service', 'web@a.service', false, false],
  ['{a,b}.service', 'a.service', false, false], // no brace expansion
  ['{a,b}.service', '{a,b}.service', true, false],
  ['**.service', 'a.service', true, false], // '**' is just '*'
  ['db.service', 'db.service', true, false],
  ['db.service', 'db.services', false, false],
  ['a\\[1].service', 'a[1].service', true, false],
  ['web@*.service[', 'web@1.service', false, true],
  ['', '', true, false],
  ['', 'a', false, false],
];

for (const [pattern, name, matched, malformed] of [...GO_TABLE, ...FLEET_TABLE]) {
  test(
    `path.Match(${JSON.stringify(pattern)}, ${JSON.stringify(name)}) is ` +
      `${matched}${malformed ? ' (malformed)' : ''}`,
    () => {
      assert.equal(globMatch(pattern, name), matched);
      assert.equal(pathMatch(pattern, name), matched);
      assert.equal(globError(pattern) !== null, malformed);
    },
  );
}

test('malformed patterns get a message that says what is wrong', () => {
  assert.match(globError('web@[0-9.service')!, /not closed/);
  assert.match(globError('a\\')!, /escapes nothing/);
  assert.match(globError('[-x]')!, /"-"/);
});

test('isGlob tells exact names from patterns', () => {
  assert.equal(isGlob('db.service'), false);
  assert.equal(isGlob('web@*.service'), true);
  assert.equal(isGlob('a?.service'), true);
  assert.equal(isGlob('a[1].service'), true);
});

test('the fast RegExp path agrees with the literal path.Match port on 20,000 random pattern/name pairs', () => {
  // A small deterministic PRNG so a failure is reproducible.
  let seed = 12345;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const atoms = ['a', 'b', '.', '@', '*', '?', '[ab]', '[^a]', '[a-b]', '[b-a]', '[^b-a]', '\\*', '\\a', '☺', '[\\]a]'];
  const chars = ['a', 'b', '.', '@', '*', ']', '☺'];
  let agreed = 0;
  for (let i = 0; i < 20_000; i++) {
    const pattern = Array.from({ length: rnd(6) }, () => atoms[rnd(atoms.length)]).join('');
    const name = Array.from({ length: rnd(7) }, () => chars[rnd(chars.length)]).join('');
    assert.equal(
      globMatch(pattern, name),
      pathMatch(pattern, name),
      `pattern ${JSON.stringify(pattern)} name ${JSON.stringify(name)}`,
    );
    if (pathMatch(pattern, name)) agreed++;
  }
  assert.ok(agreed > 1000, `the sample should contain matches too (had ${agreed})`);
});
