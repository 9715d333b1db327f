/**
 * The linter on repositories with drop-ins (pure, through buildDesired as the controller and
 * `gitfleet lint DIR` run it): each drop-in is checked at positions in its own file, the whole-unit
 * rules judge the unit merged with its drop-ins, and drop-ins that reach no unit are DRP01.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDesired } from '../../../src/desired/build.js';
import type { RepoFile } from '../../../src/desired/types.js';
import type { Diagnostic } from '../../../src/diag.js';

const enc = new TextEncoder();
function file(path: string, text: string): RepoFile {
  return { path, name: path.split('/').pop()!, content: enc.encode(text) };
}
const SVC = '[Unit]\nDescription=web\n\n[Service]\nExecStart=/bin/sleep infinity\n';
const FLEET = (units: string) => file('units/fleet.yaml', `path: .\nunits:\n${units}`);

/** Lint a repo: unit files and drop-ins by path under units/ (drop-ins are the paths with a `.d/`). */
function lint(files: Record<string, string>, fleetYaml: string | null = null): Diagnostic[] {
  const all = Object.entries(files).map(([p, t]) => file(`units/${p}`, t));
  const fy = fleetYaml === null ? null : FLEET(fleetYaml);
  const r = buildDesired(
    all.filter((f) => !f.path.includes('.d/')),
    fy,
    'c',
    { base: 'units', dropIns: all.filter((f) => f.path.includes('.d/')) },
  );
  return r.diagnostics;
}
const at = (ds: Diagnostic[]) => ds.map((d) => `${d.rule} ${d.severity} ${d.file}:${d.line}:${d.column}`);

describe('positions: a finding in a drop-in is reported in the drop-in', () => {
  it('syntax, keys and values at the drop-in line and column', () => {
    const ds = lint({
      'web.service': SVC,
      'web.service.d/10-env.conf': '# why\n[Service]\nRestart=sometimes\nNiice=1\n[Servce]\n',
    });
    assert.deepEqual(at(ds), [
      'VAL03 error units/web.service.d/10-env.conf:3:9',
      'KEY01 warning units/web.service.d/10-env.conf:4:1',
      'SCT01 warning units/web.service.d/10-env.conf:5:1',
    ]);
  });

  it('a whole-unit finding about a drop-in setting is at that setting', () => {
    const ds = lint({
      'web.service': SVC,
      'web.service.d/20-second.conf': '[Service]\nExecStart=/bin/sleep 2\n',
      'web.service.d/30-type.conf': '[Unit]\n\n[Service]\nType=oneshot\nRestart=always\n',
    });
    assert.deepEqual(at(ds), ['SVC02 error units/web.service.d/30-type.conf:5:9']);
    const two = lint({ 'web.service': SVC, 'web.service.d/20-second.conf': '[Service]\nExecStart=/bin/sleep 2\n' });
    assert.deepEqual(at(two), ['EXE03 error units/web.service.d/20-second.conf:2:11']);
  });

  it('a type-wide drop-in is checked once, for every unit it applies to', () => {
    const ds = lint({
      'a.service': SVC,
      'b.service': SVC,
      'service.d/10-hardening.conf': '[Service]\nProtectSystem=yes please\n',
    });
    assert.deepEqual(at(ds), ['VAL03 error units/service.d/10-hardening.conf:2:15']);
  });

  it('a drop-in for many units cannot know its name: %i and %n findings there only warn', () => {
    const ds = lint(
      {
        'web@.service': SVC,
        'service.d/10-dep.conf': '[Unit]\nWants=db@%i.service\n',
        'web@.service.d/10-dep.conf': '[Unit]\nWants=db@%i.service\n',
      },
      '  web@.service: { instances: 1 }\n',
    );
    assert.deepEqual(
      ds.filter((d) => d.severity !== 'info'),
      [],
    );
  });
});

describe('the merged unit is what the whole-unit rules judge', () => {
  it('a required key set only in a drop-in is present', () => {
    const main = '[Service]\nType=simple\n';
    assert.deepEqual(at(lint({ 'web.service': main })), ['SVC01 error units/web.service:1:1']);
    assert.deepEqual(
      at(lint({ 'web.service': main, 'web.service.d/exec.conf': '[Service]\nExecStart=/bin/true\n' })),
      [],
    );
    // ... even from a type-wide or prefix drop-in.
    assert.deepEqual(
      at(lint({ 'web-1.service': main, 'web-.service.d/exec.conf': '[Service]\nExecStart=/bin/true\n' })),
      [],
    );
  });

  it('a drop-in that resets a required list (ExecStart=) without a new value: SVC01', () => {
    const ds = lint({ 'web.service': SVC, 'web.service.d/reset.conf': '[Service]\nExecStart=\n' });
    assert.deepEqual(at(ds), ['SVC01 error units/web.service:4:1']);
  });

  it('a repeated single-valued key across files is no KEY04: overriding is what drop-ins are for', () => {
    assert.deepEqual(at(lint({ 'web.service': `${SVC}Nice=1\n`, 'web.service.d/n.conf': '[Service]\nNice=5\n' })), []);
  });

  it("an instance's own drop-ins are judged with it; its siblings are not blamed", () => {
    const ds = lint(
      { 'web@.service': SVC, 'web@2.service.d/oneshot.conf': '[Service]\nType=oneshot\nRestart=always\n' },
      '  web@.service: { instances: 3 }\n',
    );
    assert.deepEqual(at(ds), ['SVC02 error units/web@2.service.d/oneshot.conf:3:9']);
  });

  it('[X-Fleet] in a drop-in counts, and is checked where it is written', () => {
    const ds = lint({
      'web.service': `${SVC}\n[X-Fleet]\nGlobal=true\n`,
      'web.service.d/site.conf': '[X-Fleet]\nMachineOf=db.service\n',
      'db.service': SVC,
    });
    assert.deepEqual(at(ds), ['FLT02 error units/web.service.d/site.conf:2:1']);
  });
});

describe('drop-ins that reach no unit (DRP01), and [Install] where enable would not read it (DRP03)', () => {
  it('a directory for a unit the repo does not have is an error, with a hint', () => {
    const ds = lint({ 'web.service': SVC, 'wbe.service.d/10.conf': '[Service]\nNice=1\n' });
    assert.deepEqual(at(ds), ['DRP01 error units/wbe.service.d:0:0']);
    assert.match(ds[0]!.message, /is for wbe\.service, which the repo does not deploy.*did you mean web\.service\.d\//);
  });

  it('an instance fleet.yaml does not run; a template without its file', () => {
    const ds = lint(
      {
        'web@.service': SVC,
        'web@1.service.d/a.conf': '[Service]\nNice=1\n',
        'web@7.service.d/a.conf': '[Service]\nNice=1\n',
        'db@.service.d/a.conf': '[Service]\nNice=1\n',
      },
      '  web@.service: { instances: 2 }\n',
    );
    assert.deepEqual(at(ds), ['DRP01 error units/db@.service.d:0:0', 'DRP01 error units/web@7.service.d:0:0']);
  });

  it('prefix and type-wide directories that apply to nothing only warn; those that apply are fine', () => {
    const ds = lint({
      'web-a.service': SVC,
      'web-.service.d/a.conf': '[Service]\nNice=1\n',
      'db-.service.d/a.conf': '[Service]\nNice=1\n',
      'service.d/a.conf': '[Service]\nNice=1\n',
      'timer.d/a.conf': '[Timer]\nAccuracySec=1s\n',
    });
    assert.deepEqual(at(ds), ['DRP01 warning units/db-.service.d:0:0', 'DRP01 warning units/timer.d:0:0']);
  });

  it('[Install] in a type-wide drop-in', () => {
    const ds = lint({ 'web.service': SVC, 'service.d/i.conf': '[Install]\nWantedBy=multi-user.target\n' });
    assert.deepEqual(at(ds), ['DRP03 warning units/service.d/i.conf:1:1']);
    assert.deepEqual(at(lint({ 'web.service': SVC, 'web.service.d/i.conf': '[Install]\nWantedBy=x.target\n' })), []);
  });

  it('the same drop-in twice under the unit directory is SRC06', () => {
    const ds = lint({
      'web.service': SVC,
      'a/web.service.d/10.conf': '[Service]\nNice=1\n',
      'b/web.service.d/10.conf': '[Service]\nNice=2\n',
      'b/web.service.d/20.conf': '[Service]\nNice=3\n',
    });
    assert.deepEqual(at(ds), ['SRC06 error units/b/web.service.d/10.conf:0:0']);
  });
});
