/**
 * buildDesired with drop-ins (pure): every unit's body holds the drop-ins systemd would apply to it,
 * in its order, so its hash changes with them; instances get their own; [X-Fleet] in a drop-in
 * places the unit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDesired } from '../../src/desired/build.js';
import type { DesiredUnit, RepoFile } from '../../src/desired/types.js';
import { decodeUnitFiles } from '../../src/unit/body.js';
import { sha256 } from '../../src/util/hash.js';

const enc = new TextEncoder();
const file = (path: string, text: string): RepoFile => ({
  path,
  name: path.split('/').pop()!,
  content: enc.encode(text),
});
const SVC = '[Service]\nExecStart=/bin/sleep infinity\n';

function build(files: Record<string, string>): Map<string, DesiredUnit> {
  const all = Object.entries(files).map(([p, t]) => file(p, t));
  const fy = all.find((f) => f.path === 'fleet.yaml') ?? null;
  const units = all.filter((f) => f !== fy && !f.path.includes('.d/'));
  const r = buildDesired(units, fy, 'c', { dropIns: all.filter((f) => f.path.includes('.d/')) });
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity !== 'info'),
    [],
  );
  return new Map(r.desired!.units.map((u) => [u.name, u]));
}
const dropInsOf = (u: DesiredUnit) => decodeUnitFiles(u.content).dropIns.map((d) => `${d.name}: ${d.text.trim()}`);

test("a unit's body holds its drop-ins, canonical, in systemd's order; its hash is the body's", () => {
  const u = build({
    'web.service': `# the web server\n${SVC}`,
    'web.service.d/20-env.conf': '# region\n[Service]\nEnvironment=REGION=eu\n',
    'service.d/10-hardening.conf': '[Service]\nProtectSystem=full\n',
    'service.d/20-env.conf': '[Service]\nEnvironment=REGION=default\n',
  }).get('web.service')!;
  assert.deepEqual(decodeUnitFiles(u.content).unit, SVC);
  assert.deepEqual(dropInsOf(u), [
    '10-hardening.conf: [Service]\nProtectSystem=full',
    '20-env.conf: [Service]\nEnvironment=REGION=eu',
  ]);
  assert.equal(u.hash, sha256(u.content));
  assert.deepEqual(u.dropIns, ['service.d/10-hardening.conf', 'web.service.d/20-env.conf']);
});

test('a drop-in edit changes the hash, a comment-only one does not; a unit without drop-ins keeps its hash', () => {
  const base = { 'web.service': SVC, 'db.service': SVC, 'web.service.d/env.conf': '[Service]\nEnvironment=A=1\n' };
  const a = build(base);
  const b = build({ ...base, 'web.service.d/env.conf': '[Service]\nEnvironment=A=2\n' });
  const c = build({ ...base, 'web.service.d/env.conf': '# a note\n[Service]\n\nEnvironment=A=1\n' });
  assert.notEqual(a.get('web.service')!.hash, b.get('web.service')!.hash);
  assert.equal(a.get('web.service')!.hash, c.get('web.service')!.hash);
  assert.equal(a.get('db.service')!.hash, b.get('db.service')!.hash);
  assert.equal(a.get('db.service')!.content, SVC);
  assert.equal(a.get('db.service')!.dropIns, undefined);
});

test("instances: the template's drop-ins for all, an instance's own for it alone; type-wide ones by type", () => {
  const u = build({
    'fleet.yaml': 'units:\n  web@.service: { instances: 3 }\n',
    'web@.service': SVC,
    'web@.service.d/10-env.conf': '[Service]\nEnvironment=PORT=80\n',
    'web@2.service.d/10-env.conf': '[Service]\nEnvironment=PORT=8080\n',
    'web@3.service.d/20-nice.conf': '[Service]\nNice=5\n',
    'service.d/05-all.conf': '[Service]\nLimitNOFILE=4096\n',
    'tick.timer': '[Timer]\nOnActiveSec=1h\nUnit=web@1.service\n',
  });
  assert.deepEqual(dropInsOf(u.get('web@1.service')!), [
    '05-all.conf: [Service]\nLimitNOFILE=4096',
    '10-env.conf: [Service]\nEnvironment=PORT=80',
  ]);
  assert.deepEqual(dropInsOf(u.get('web@2.service')!), [
    '05-all.conf: [Service]\nLimitNOFILE=4096',
    '10-env.conf: [Service]\nEnvironment=PORT=8080',
  ]);
  assert.deepEqual(dropInsOf(u.get('web@3.service')!), [
    '05-all.conf: [Service]\nLimitNOFILE=4096',
    '10-env.conf: [Service]\nEnvironment=PORT=80',
    '20-nice.conf: [Service]\nNice=5',
  ]);
  assert.deepEqual(u.get('web@2.service')!.dropIns, ['service.d/05-all.conf', 'web@2.service.d/10-env.conf']);
  assert.equal(new Set([...u.values()].filter((x) => x.name.startsWith('web@')).map((x) => x.hash)).size, 3);
  assert.deepEqual(dropInsOf(u.get('tick.timer')!), [], 'service.d/ is not for timers');
});

test('[X-Fleet] in a drop-in places the unit; an empty assignment there resets the key', () => {
  const u = build({
    'fleet.yaml': 'units:\n  web@.service: { instances: 2 }\n',
    'web@.service': `${SVC}\n[X-Fleet]\nMachineMetadata=region=eu\nConflicts=web@*.service\n`,
    'web@2.service.d/site.conf': '[X-Fleet]\nMachineMetadata=\nMachineMetadata=region=us\nMachineMetadata=disk=ssd\n',
    'db.service': SVC,
    'db.service.d/site.conf': '[X-Fleet]\nGlobal=true\n',
  });
  assert.deepEqual(u.get('web@1.service')!.constraints.machineMetadata, { region: ['eu'] });
  assert.deepEqual(u.get('web@2.service')!.constraints.machineMetadata, { region: ['us'], disk: ['ssd'] });
  assert.deepEqual(u.get('web@2.service')!.constraints.conflicts, ['web@*.service']);
  assert.equal(u.get('db.service')!.constraints.global, true);
});

test('a socket-activated template is deployed with its drop-ins', () => {
  const u = build({
    'echo.socket': '[Socket]\nListenStream=127.0.0.1:7000\nAccept=yes\n',
    'echo@.service': '[Service]\nExecStart=/bin/cat\nStandardInput=socket\n',
    'echo@.service.d/env.conf': '[Service]\nEnvironment=A=1\n',
  });
  assert.deepEqual(dropInsOf(u.get('echo@.service')!), ['env.conf: [Service]\nEnvironment=A=1']);
});

test('a unit whose files together are over 1 MiB is refused (SRC03): its body is one etcd value', () => {
  const big = `[Service]\nEnvironment=${'A=1 '.repeat(150_000)}\n`;
  const all = [file('web.service', SVC), file('web.service.d/a.conf', big), file('web.service.d/b.conf', big)];
  const r = buildDesired(all.slice(0, 1), null, 'c', { dropIns: all.slice(1) });
  assert.equal(r.desired, null);
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.rule, d.file]),
    [['SRC03', 'web.service']],
  );
});
