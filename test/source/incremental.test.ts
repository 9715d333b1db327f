/**
 * The commit loader's analysis memo (src/desired/memo.ts): over a history of real commits that
 * change, add, remove and rename units, edit fleet.yaml's states and instances, add and edit
 * drop-ins, make references dangle and resolve, and bring in errors across files (MachineOf
 * cycles, duplicate names, a missing template), each commit loaded after the one before it gives
 * exactly the diagnostics, desired state and analysis of the same commit loaded cold; and files
 * whose facts still hold are not linted again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCommit } from '../../src/source/git.js';
import { readCommitSnapshot } from '../../src/source/commitfiles.js';
import { clearBlobCache, commitMemo } from '../../src/source/readsession.js';
import { desiredFromSnapshot, type DesiredResult } from '../../src/desired/build.js';
import type { AnalyzedUnit } from '../../src/desired/repo.js';
import { TestRepo, tempDir, type FileSpec } from '../support/git.js';

const svc = (desc: string, extra = ''): string =>
  `[Unit]\nDescription=${desc}\n${extra}\n[Service]\nExecStart=/bin/sleep infinity\n`;
const fleet = (extra = '', instances = 2): string =>
  `path: units\ndefaults:\n  state: launched\nunits:\n  web@.service:\n    instances: ${instances}\n${extra}`;

/** The history: each step's files (null deletes), and a name for failure messages. */
const STEPS: Array<[string, Record<string, FileSpec>]> = [
  [
    'start',
    {
      'fleet.yaml': fleet(),
      'units/a.service': svc('a', 'Requires=b.service\n'),
      'units/b.service': svc('b'),
      'units/sub/c.timer': '[Unit]\nDescription=c\n\n[Timer]\nOnCalendar=hourly\n',
      'units/web@.service': svc('web %i', '\n[X-Fleet]\nConflicts=web@*.service\n'),
      'units/sub/deep/d.service': `${svc('d')}\n[X-Fleet]\nMachineOf=e.service\n`,
      'units/e.service': svc('e'),
      'units/f.service': svc('same text twice'),
      'units/sub/g.service': svc('same text twice'),
    },
  ],
  ['edit a unit', { 'units/a.service': svc('a, edited', 'Requires=b.service\n') }],
  ['add the unit a timer activates', { 'units/sub/c.service': svc('c') }],
  ['remove a required unit (Requires= dangles)', { 'units/b.service': null }],
  ['move a unit to another directory', { 'units/e.service': null, 'units/sub/e.service': svc('e') }],
  ['fleet.yaml: a state and more instances', { 'fleet.yaml': fleet('  a.service:\n    state: loaded\n', 3) }],
  [
    'drop-ins: a unit, a template, one instance',
    {
      'units/a.service.d/10-env.conf': '[Service]\nEnvironment=A=1\n',
      'units/web@.service.d/10-mem.conf': '[Service]\nMemoryMax=1G\n',
      'units/web@2.service.d/20-cpu.conf': '[Service]\nCPUQuota=50%\n',
    },
  ],
  ['edit a drop-in', { 'units/web@.service.d/10-mem.conf': '[Service]\nMemoryMax=2G\n' }],
  ['a MachineOf cycle (refused)', { 'units/sub/e.service': `${svc('e')}\n[X-Fleet]\nMachineOf=d.service\n` }],
  ['the cycle broken', { 'units/sub/e.service': svc('e') }],
  ['a duplicate unit name (refused)', { 'units/x/a.service': svc('a again') }],
  ['the duplicate removed, a syntax error (refused)', { 'units/x/a.service': null, 'units/f.service': '[Unit\n' }],
  ['fixed', { 'units/f.service': svc('same text twice') }],
  ['fleet.yaml names a unit the repo lacks (refused)', { 'fleet.yaml': fleet('  nope.service:\n    state: loaded\n') }],
  [
    'a socket with Accept=yes and no template (refused)',
    { 'fleet.yaml': fleet(), 'units/echo.socket': '[Socket]\nListenStream=7\nAccept=yes\n' },
  ],
  ['its template added', { 'units/echo@.service': '[Service]\nExecStart=/bin/cat\nStandardInput=socket\n' }],
  ['a unit file that is a symbolic link (refused)', { 'units/link.service': { symlink: 'a.service' } }],
  [
    'the link removed, every unit inactive by default',
    { 'units/link.service': null, 'fleet.yaml': fleet().replace('launched', 'inactive') },
  ],
  ['the instance drop-in removed', { 'units/web@2.service.d/20-cpu.conf': null }],
];

/** What a commit comes to, loaded without any memo. */
async function cold(dir: string, sha: string): Promise<DesiredResult> {
  return desiredFromSnapshot(await readCommitSnapshot(dir, sha), sha);
}

const unitNamed = (r: DesiredResult, name: string): AnalyzedUnit => r.analysis.units.find((u) => u.name === name)!;

describe('loading commit after commit through the memo', () => {
  const tmp = tempDir();
  let repo: TestRepo;
  const shas: string[] = [];
  const warm: DesiredResult[] = [];
  before(async () => {
    clearBlobCache();
    repo = TestRepo.init(tmp.dir, 'incremental');
    for (const [name, files] of STEPS) {
      shas.push(repo.commit(name, files));
      warm.push(await loadCommit(repo.dir, shas.at(-1)!));
    }
  });
  after(() => tmp.cleanup());

  test('every commit: the same diagnostics, desired state and analysis as a cold load', async () => {
    let refused = 0;
    for (const [i, [name]] of STEPS.entries()) {
      const c = await cold(repo.dir, shas[i]!);
      const w = warm[i]!;
      assert.deepEqual(w.diagnostics, c.diagnostics, `diagnostics after '${name}'`);
      assert.deepEqual(w.desired, c.desired, `desired state after '${name}'`);
      assert.deepEqual(w.analysis, c.analysis, `analysis after '${name}'`);
      if (!c.desired) refused++;
    }
    // The history does exercise both outcomes.
    assert.equal(refused, 6);
  });

  test('what changed is linted again; what did not is reused as it was', () => {
    const [start, edited, added, removed] = warm;
    // One file edited: it alone is new.
    assert.notEqual(unitNamed(edited!, 'a.service'), unitNamed(start!, 'a.service'));
    for (const n of ['b.service', 'c.timer', 'web@.service', 'd.service', 'e.service', 'f.service', 'g.service'])
      assert.equal(unitNamed(edited!, n), unitNamed(start!, n), n);
    // c.service added: the timer that activates it is judged again (no TRG02 now), not the others.
    assert.ok(start!.diagnostics.some((d) => d.rule === 'TRG02' && d.file === 'units/sub/c.timer'));
    assert.ok(!added!.diagnostics.some((d) => d.rule === 'TRG02'));
    assert.notEqual(unitNamed(added!, 'c.timer'), unitNamed(edited!, 'c.timer'));
    assert.equal(unitNamed(added!, 'a.service'), unitNamed(edited!, 'a.service'));
    // b.service removed: a.service, unchanged, now requires a unit the repo lacks (DEP02).
    assert.ok(removed!.diagnostics.some((d) => d.rule === 'DEP02' && d.file === 'units/a.service'));
    assert.notEqual(unitNamed(removed!, 'a.service'), unitNamed(added!, 'a.service'));
    assert.equal(unitNamed(removed!, 'd.service'), unitNamed(added!, 'd.service'));
  });

  test('a state changed in fleet.yaml re-lints that unit only', () => {
    const before = warm[4]!;
    const after_ = warm[5]!;
    assert.equal(unitNamed(after_, 'a.service').state, 'loaded');
    assert.notEqual(unitNamed(after_, 'a.service'), unitNamed(before, 'a.service'));
    assert.equal(unitNamed(after_, 'd.service'), unitNamed(before, 'd.service'));
    assert.equal(after_.desired?.units.filter((u) => u.name.startsWith('web@')).length, 3);
  });

  test('an edited drop-in re-lints the units it applies to', () => {
    const before = warm[6]!;
    const after_ = warm[7]!;
    assert.notEqual(unitNamed(after_, 'web@.service'), unitNamed(before, 'web@.service'));
    assert.equal(unitNamed(after_, 'a.service'), unitNamed(before, 'a.service'));
    const mem = (r: DesiredResult) => r.desired?.units.find((u) => u.name === 'web@1.service')?.content;
    assert.match(mem(after_) ?? '', /MemoryMax=2G/);
    assert.match(mem(before) ?? '', /MemoryMax=1G/);
  });

  test('the memo keeps what the last commit used, and nothing of files it no longer has', () => {
    const memo = commitMemo(repo.dir, undefined);
    const last = warm.at(-1)!;
    assert.equal(memo.units.size, last.analysis.units.length);
    assert.equal(
      memo.dropIns.size,
      [...last.analysis.dropIns.values()].reduce((n, m) => n + m.size, 0),
    );
  });
});
