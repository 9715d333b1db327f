/**
 * docs/fleet.schema.json (what editors validate against) and parseFleetYaml (what gitfleet
 * enforces) must agree: each sample is accepted by both or refused by both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { parseFleetYaml } from '../../src/desired/fleetyaml.js';
import { validate } from './minischema.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/fleet.schema.json', import.meta.url), 'utf8'));

const valid: Record<string, string> = {
  'the example of docs/fleet-yaml.md': `path: units
defaults:
  state: launched
allowEmpty: false
units:
  hello.service: launched
  web@.service:
    instances: 3
    state: launched
  cleanup.timer: launched
  cleanup.service: loaded
  legacy.service: inactive
`,
  'empty mapping': '{}',
  'only allowEmpty': 'allowEmpty: true',
  'path with ./ and trailing slash': 'path: ./deploy/units/',
  'name with dots': 'path: a..b',
  'null defaults and units': 'defaults:\nunits:\n',
  'instance list with numbers': 'units:\n  web@.service: {instances: [a, 2, x-y, "c:d"]}',
  'zero instances': 'units:\n  web@.service: {instances: 0}',
  'template with only a state': 'units:\n  web@.service: loaded',
  'instance entry': 'units:\n  web@blue.service: {state: inactive}',
  'null unit entry': 'units:\n  a.socket:',
  'escaped unit name': 'units:\n  "dev-disk-by\\\\x2duuid.mount": launched',
  'a rollout block and a unit override': `rollout:
  maxParallel: 1
  minHealthy: 2s
units:
  web@.service:
    instances: 3
    rollout: {maxParallel: "50%", canary: 1, autoRevert: true, healthyDeadline: 1m, progressDeadline: 5m}
    health:
      http: http://127.0.0.1:80%i/healthz
      interval: 2s
      timeout: 1s
  db.service:
    health: {tcp: "127.0.0.1:5432"}
  job.service:
    health: {exec: [/usr/bin/check, --quick]}
`,
};

const invalid: Record<string, string> = {
  'unknown top field': 'pth: units',
  'unknown unit field': 'units:\n  a.service: {stat: loaded}',
  'unknown defaults field': 'defaults: {state: loaded, restart: always}',
  'bad state': 'units:\n  a.service: started',
  'bad default state': 'defaults: {state: running}',
  'allowEmpty as string': 'allowEmpty: "true"',
  'path with ..': 'path: ../elsewhere',
  'path with inner ..': 'path: a/../../b',
  'absolute path': 'path: /etc/systemd/system',
  'path with backslash': 'path: "a\\\\b"',
  'path not a string': 'path: [a]',
  'negative instances': 'units:\n  web@.service: {instances: -1}',
  'fractional instances': 'units:\n  web@.service: {instances: 1.5}',
  'too many instances': 'units:\n  web@.service: {instances: 10001}',
  'instance with slash': 'units:\n  web@.service: {instances: ["a/b"]}',
  'duplicate instance': 'units:\n  web@.service: {instances: [a, a]}',
  'instances on a plain unit': 'units:\n  web.service: {instances: 2}',
  'instances on an instance': 'units:\n  web@a.service: {instances: 2}',
  'unit name without suffix': 'units:\n  hello: launched',
  'unit name with slash': 'units:\n  ../x.service: launched',
  'unit name with space': 'units:\n  "my app.service": launched',
  'unit name starting with @': 'units:\n  "@x.service": launched',
  'unit entry is a list': 'units:\n  a.service: [launched]',
  'units is a list': 'units: [a.service]',
  'top level is a list': '- path',
  'top level is a string': 'hello',
  'maxParallel 0': 'rollout: {maxParallel: 0}',
  'maxParallel 150%': 'rollout: {maxParallel: "150%"}',
  'negative canary': 'rollout: {canary: -1}',
  'negative minHealthy': 'rollout: {minHealthy: -5}',
  'minHealthy not a duration': 'rollout: {minHealthy: soon}',
  'unknown rollout key': 'rollout: {maxParalel: 2}',
  'autoRevert as a string': 'rollout: {autoRevert: "yes"}',
  'health URL not http': 'units:\n  a.service: {health: {http: "ftp://x/y"}}',
  'health with two checks': 'units:\n  a.service: {health: {http: "http://x/", tcp: "x:1"}}',
  'health with no check': 'units:\n  a.service: {health: {interval: 2s}}',
  'health exec relative': 'units:\n  a.service: {health: {exec: "check --quick"}}',
  'unknown health key': 'units:\n  a.service: {health: {http: "http://x/", retries: 3}}',
};

for (const [name, text] of Object.entries(valid)) {
  test(`schema and parser both accept: ${name}`, () => {
    const r = parseFleetYaml(text, 'fleet.yaml');
    assert.deepEqual(r.diagnostics, [], 'parser');
    assert.deepEqual(validate(schema, yaml.load(text)), [], 'schema');
  });
}

for (const [name, text] of Object.entries(invalid)) {
  test(`schema and parser both refuse: ${name}`, () => {
    const r = parseFleetYaml(text, 'fleet.yaml');
    assert.equal(r.spec, null, 'parser accepted it');
    assert.ok(r.diagnostics.some((d) => d.severity === 'error'));
    assert.notDeepEqual(validate(schema, yaml.load(text)), [], 'schema accepted it');
  });
}

test('the schema states are exactly the parser states', () => {
  assert.deepEqual(schema.$defs.state.enum, ['inactive', 'loaded', 'launched']);
  assert.deepEqual(Object.keys(schema.properties).sort(), ['allowEmpty', 'defaults', 'path', 'rollout', 'units']);
});
