/** fleet.yaml's rollout and health blocks: positions of bad values, and the policy each unit gets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDesired } from '../../src/desired/build.js';
import { parseFleetYaml } from '../../src/desired/fleetyaml.js';
import { DEFAULT_ROLLOUT } from '../../src/desired/policy.js';
import type { RepoFile } from '../../src/desired/types.js';

const enc = new TextEncoder();
const file = (path: string, text: string): RepoFile => ({
  path,
  name: path.split('/').pop()!,
  content: enc.encode(text),
});
const svc = '[Service]\nExecStart=/bin/sleep 1000\n';
const errors = (text: string) =>
  parseFleetYaml(text, 'fleet.yaml')
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => `${d.line}:${d.column} ${d.rule} ${d.message}`);

test('each bad rollout or health value is an error at its own line, naming the field', () => {
  const e = errors(`rollout:
  maxParallel: 0
  canary: -1
  minHealthy: soon
units:
  web@.service:
    instances: 2
    rollout: {maxParallel: "150%"}
    health:
      http: ftp://example/x
  web@1.service:
    rollout: {canary: 1}
  sock.socket:
    health: {tcp: "127.0.0.1:80"}
`);
  assert.deepEqual(e, [
    '2:16 YML05 rollout.maxParallel must be a whole number of machines (at least 1) or a percentage 1%-100%; ' +
      'found the number 0',
    '3:11 YML05 rollout.canary must be a whole number of machines (0 or more); found the number -1',
    "4:15 YML05 rollout.minHealthy must be a duration like 10s, 2m or 500ms; 'soon': " + e[2]!.split("'soon': ")[1],
    '8:28 YML05 units.web@.service.rollout.maxParallel must be a whole number of machines (at least 1) or a ' +
      "percentage 1%-100%; found '150%'",
    "10:13 YML05 units.web@.service.health.http must be an http:// or https:// URL; found a ftp URL 'ftp://example/x'",
    '12:5 YML05 units.web@1.service.rollout: the instances of a template roll out together; set it on web@.service',
    '14:5 YML05 units.sock.socket.health: a health check is for services; sock.socket is not a .service',
  ]);
});

test('deadlines must leave room for what they wait for', () => {
  const e = errors('rollout: {minHealthy: 30s, healthyDeadline: 20s}\n');
  assert.equal(e.length, 1);
  assert.match(e[0]!, /^1:1 YML05 rollout: healthyDeadline \(20000 ms\) must be longer than minHealthy \(30000 ms\)/);
});

test('a unit gets the defaults, then the top-level block, then its own (or its template)', () => {
  const yamlText = `rollout:
  minHealthy: 2s
units:
  web@.service:
    instances: 2
    rollout: {maxParallel: 1, canary: 1, autoRevert: true}
    health:
      http: http://127.0.0.1:80%i/healthz
      interval: 3s
      timeout: 1s
  plain.service: launched
`;
  const r = buildDesired([file('web@.service', svc), file('plain.service', svc)], file('fleet.yaml', yamlText), 'c1');
  assert.deepEqual(r.diagnostics, []);
  const by = new Map(r.desired!.units.map((u) => [u.name, u]));
  assert.deepEqual(by.get('web@1.service')!.rollout, {
    ...DEFAULT_ROLLOUT,
    minHealthyMs: 2000,
    maxParallel: { count: 1 },
    canary: 1,
    autoRevert: true,
  });
  assert.deepEqual(by.get('web@2.service')!.health, {
    kind: 'http',
    url: 'http://127.0.0.1:802/healthz',
    intervalMs: 3000,
    timeoutMs: 1000,
  });
  assert.deepEqual(by.get('plain.service')!.rollout, { ...DEFAULT_ROLLOUT, minHealthyMs: 2000 });
  assert.equal(by.get('plain.service')!.health, undefined);
});

test('without any rollout block a unit carries no policy (the defaults apply)', () => {
  const r = buildDesired([file('a.service', svc)], null, 'c1');
  assert.equal(r.desired!.units[0]!.rollout, undefined);
});
