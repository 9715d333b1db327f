/**
 * fleet.yaml text edits (pure): each edit changes only what it must, and the result parses to what
 * was meant (checked with gitfleet's own fleet.yaml parser).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeInstance, removeUnitEntry, setUnitState, yamlKey } from '../../src/desired/edit.js';
import { parseFleetYaml } from '../../src/desired/fleetyaml.js';

const spec = (t: string) => {
  const r = parseFleetYaml(t, 'fleet.yaml');
  assert.deepEqual(r.diagnostics, [], t);
  return r.spec!;
};

test('setUnitState: replace, insert into block and flow entries, append; no trailing newline; null units', () => {
  const t = 'units:\n  "a.service": launched # why\n  b@.service:\n    # keep\n    instances: 2\n  c.service:';
  assert.equal(
    setUnitState(t, 'a.service', 'loaded'),
    'units:\n  "a.service": loaded # why\n  b@.service:\n    # keep\n    instances: 2\n  c.service:',
  );
  assert.equal(
    setUnitState(t, 'b@.service', 'inactive'),
    t.replace('    instances: 2', '    state: inactive\n    instances: 2'),
  );
  const appended = setUnitState(t, 'd@1.service', 'loaded');
  assert.equal(appended, `${t}\n  d@1.service: loaded\n`);
  assert.equal(spec(setUnitState(t, 'c.service', 'loaded')).units['c.service']?.state, 'loaded');
  assert.equal(
    setUnitState('path: x\nunits:\n# none yet\n', 'e.service', 'loaded'),
    'path: x\nunits:\n  e.service: loaded\n# none yet\n',
  );
  assert.equal(
    setUnitState('units: {a.service: loaded}\n', 'b.service', 'inactive'),
    'units: {a.service: loaded, b.service: inactive}\n',
  );
  assert.equal(setUnitState('path: .\n', 'x.service', 'loaded'), 'path: .\nunits:\n  x.service: loaded\n');
  assert.equal(setUnitState(null, 'x.service', 'loaded'), 'units:\n  x.service: loaded\n');
  const esc = setUnitState('units:\n  a.service: loaded\n', 'srv-my\\x2ddata.mount', 'inactive');
  assert.equal(spec(esc).units['srv-my\\x2ddata.mount']?.state, 'inactive');
  assert.equal(yamlKey('a:b.service'), "'a:b.service'");
});

test('removeUnitEntry and removeInstance keep everything else', () => {
  const t = [
    'units:',
    '  a.service: loaded',
    '  web@.service:',
    '    instances:',
    '      - x',
    '      - y',
    '  b.service: {state: loaded}',
    '',
  ].join('\n');
  assert.equal(removeUnitEntry(t, 'a.service'), t.replace('  a.service: loaded\n', ''));
  assert.equal(removeUnitEntry(t, 'b.service'), t.replace('  b.service: {state: loaded}\n', ''));
  assert.equal(removeUnitEntry(t, 'zzz.service'), t);
  const one = removeInstance(t, 'web@.service', 'web@x.service');
  assert.equal(one, t.replace('      - x\n', ''));
  assert.deepEqual(spec(removeInstance(one, 'web@.service', 'web@y.service')).units['web@.service']?.instances, []);
  assert.equal(
    removeInstance('units:\n  w@.service: {instances: [1, 2, 3]}\n', 'w@.service', 'w@2.service'),
    'units:\n  w@.service: {instances: [1, 3]}\n',
  );
  assert.equal(
    removeInstance('units:\n  w@.service: {instances: [1, 2]}\n', 'w@.service', 'w@2.service'),
    'units:\n  w@.service: {instances: [1]}\n',
  );
  assert.throws(
    () => removeInstance('units:\n  w@.service: {instances: 3}\n', 'w@.service', 'w@2.service'),
    /a count cannot lose/,
  );
});
