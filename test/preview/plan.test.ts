/**
 * The pure planner and its renderings, on desired states built from in-memory files (the same
 * buildDesired the controller uses). test/preview/range.test.ts runs it over real git histories.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planChanges } from '../../src/preview/changes.js';
import { PLAN_COMMENT_MARKER, renderPlanJson, renderPlanMarkdown, renderPlanText } from '../../src/preview/render.js';
import { buildDesired } from '../../src/desired/build.js';
import type { DesiredState, RepoFile } from '../../src/desired/types.js';

const enc = new TextEncoder();
const file = (path: string, text: string): RepoFile => ({
  path,
  name: path.split('/').pop()!,
  content: enc.encode(text),
});
const svc = (desc: string, extra = ''): string =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep ` +
  `infinity\n${extra}\n[Install]\nWantedBy=default.target\n`;

function desired(files: RepoFile[], fleetYaml: string | null, commit: string): DesiredState {
  const r = buildDesired(files, fleetYaml === null ? null : file('fleet.yaml', fleetYaml), commit);
  assert.ok(r.desired, JSON.stringify(r.diagnostics));
  return r.desired;
}

const baseFiles = [
  file('keep.service', svc('keep')),
  file('gone.service', svc('gone')),
  file('edit.service', svc('edit')),
  file('restate.service', svc('restate')),
  file('comment.service', svc('comment')),
  file('web@.service', svc('web %i')),
];
const baseYaml = 'units:\n  restate.service: loaded\n  web@.service: {instances: 2}\n';
const headFiles = [
  file('keep.service', svc('keep')),
  file('edit.service', svc('edit', 'Restart=always\n')),
  file('restate.service', svc('restate')),
  file('comment.service', '# only a comment was added\n' + svc('comment')),
  file('web@.service', svc('web %i')),
  file('new.service', svc('new')),
];
const headYaml = 'units:\n  restate.service: launched\n  web@.service: {instances: 3}\n';

const base = desired(baseFiles, baseYaml, 'a'.repeat(40));
const head = desired(headFiles, headYaml, 'b'.repeat(40));

test('reports added, removed, changed and state changes, sorted by unit, with hashes and states', () => {
  const p = planChanges(base, head, baseFiles, headFiles);
  assert.equal(p.base, 'a'.repeat(40));
  assert.equal(p.head, 'b'.repeat(40));
  assert.equal(p.refused, false);
  assert.deepEqual(
    p.changes.map((c) => [c.unit, c.change, c.state.from, c.state.to]),
    [
      ['edit.service', 'changed', 'launched', 'launched'],
      ['gone.service', 'removed', 'launched', null],
      ['new.service', 'added', null, 'launched'],
      ['restate.service', 'state', 'loaded', 'launched'],
      ['web@3.service', 'added', null, 'launched'],
    ],
  );
  const edit = p.changes[0]!;
  assert.notEqual(edit.hash.from, edit.hash.to);
  assert.deepEqual(edit.source, { from: 'edit.service', to: 'edit.service' });
  assert.equal(p.changes[1]!.hash.to, null);
  assert.deepEqual(p.summary, { added: 2, removed: 1, changed: 1, state: 1, unchanged: 4, noEffect: 1 });
});

test('a comment-only edit is listed as a file with effect: false and its raw diff', () => {
  const p = planChanges(base, head, baseFiles, headFiles);
  assert.deepEqual(
    p.files.map((f) => [f.file, f.effect, f.units]),
    [
      ['comment.service', false, ['comment.service']],
      ['edit.service', true, ['edit.service']],
    ],
  );
  assert.match(
    p.files[0]!.diff,
    /^--- a\/comment\.service\n\+\+\+ b\/comment\.service\n@@ -1,3 \+1,4 @@\n\+# only a comment was added\n/,
  );
  assert.match(p.files[1]!.diff, /\n\+Restart=always\n/);
});

test('without raw files, diffs are of the canonical text and no-effect edits are invisible', () => {
  const p = planChanges(base, head);
  assert.deepEqual(
    p.files.map((f) => [f.file, f.effect]),
    [['edit.service', true]],
  );
  assert.equal(p.summary.noEffect, 0);
});

test('a changed template changes every instance, with one diff for the file', () => {
  const b = desired([file('web@.service', svc('web'))], 'units:\n  web@.service: {instances: 3}\n', 'a'.repeat(40));
  const h = desired(
    [file('web@.service', svc('web', 'Environment=X=1\n'))],
    'units:\n  web@.service: {instances: 3, state: loaded}\n',
    'b'.repeat(40),
  );
  const p = planChanges(b, h);
  assert.deepEqual(
    p.changes.map((c) => [c.unit, c.change, c.state.to]),
    [
      ['web@1.service', 'changed', 'loaded'],
      ['web@2.service', 'changed', 'loaded'],
      ['web@3.service', 'changed', 'loaded'],
    ],
  );
  assert.equal(p.files.length, 1);
  assert.deepEqual(p.files[0]!.units, ['web@1.service', 'web@2.service', 'web@3.service']);
});

test('no base: everything is added; refused head: no changes and refused: true', () => {
  const p = planChanges(null, head);
  assert.equal(p.base, null);
  assert.ok(p.changes.every((c) => c.change === 'added'));
  assert.equal(p.changes.length, head.units.length);
  const r = planChanges(base, null);
  assert.equal(r.refused, true);
  assert.deepEqual(r.changes, []);
});

test('the same desired state plans nothing', () => {
  const p = planChanges(base, { ...base, commit: 'c'.repeat(40) });
  assert.deepEqual(p.changes, []);
  assert.deepEqual(p.files, []);
  assert.match(renderPlanText(p), /No changes: the desired state is the same\./);
  assert.match(renderPlanMarkdown(p), /No changes: the desired state is the same\./);
});

test('text rendering lists each change with a mark, the summary and the diffs; colour only when asked', () => {
  const p = planChanges(base, head, baseFiles, headFiles);
  const t = renderPlanText(p);
  assert.ok(!t.includes('\x1b['), 'no escapes without color');
  assert.match(t, /^Plan for bbbbbbbbbbbb \(base aaaaaaaaaaaa\)\n/);
  assert.match(t, /\n {2}\+ new\.service +added, launched\n/);
  assert.match(t, /\n {2}- gone\.service +removed: destroyed on every machine\n/);
  assert.match(t, /\n {2}~ edit\.service +changed \(edit\.service\); replaced in place\n/);
  assert.match(t, /\n {2}> restate\.service +state loaded -> launched\n/);
  assert.match(t, /\n {2}= comment\.service +text changed, no effect on any unit\n/);
  assert.match(t, /\n2 added, 1 removed, 1 changed, 1 state change; 4 unchanged; 1 file changed with no effect\n/);
  assert.match(t, /\n\+Restart=always\n/);
  const coloured = renderPlanText(p, { color: true });
  assert.match(coloured, /\x1b\[32m\+Restart=always\x1b\[0m/);
});

test('markdown has the marker, a summary, a table row per change and collapsible diffs', () => {
  const md = renderPlanMarkdown(planChanges(base, head, baseFiles, headFiles));
  assert.ok(md.startsWith(PLAN_COMMENT_MARKER + '\n'));
  assert.match(
    md,
    new RegExp(
      String.raw`\*\*2\*\* added · \*\*1\*\* removed · \*\*1\*\* changed · \*\*1\*\* state change · ` +
        '4 unchanged · 1 file changed with no effect',
    ),
  );
  assert.match(
    md,
    /\n\| ➖ \| `gone\.service` \| removed \(destroyed everywhere\) \| launched → — \| `gone\.service` \|\n/,
  );
  assert.match(md, /\n\| 🔁 \| `restate\.service` \| state \| loaded → launched \| `restate\.service` \|\n/);
  assert.match(md, /<details><summary>`edit\.service`: edit\.service<\/summary>\n\n```diff\n--- a\/edit\.service\n/);
  assert.match(md, /<details><summary>`comment\.service`: text changed, no effect on any unit<\/summary>/);
  assert.equal(md.match(/<details>/g)?.length, md.match(/<\/details>/g)?.length);
});

test('markdown stays under the size limit: extra diffs are left out with a note', () => {
  const many = Array.from({ length: 40 }, (_, i) => `u${String(i).padStart(2, '0')}.service`);
  const b = desired(
    many.map((n) => file(n, svc(n))),
    null,
    'a'.repeat(40),
  );
  const h = desired(
    many.map((n) => file(n, svc(n, 'Environment=X=' + 'x'.repeat(2000) + '\n'))),
    null,
    'b'.repeat(40),
  );
  const md = renderPlanMarkdown(planChanges(b, h), { maxChars: 20_000 });
  assert.ok(md.length < 21_000, `length ${md.length}`);
  assert.match(md, /_\d+ diffs not shown \(comment size limit\); run `gitfleet plan` locally to see them\._/);
  const rows = renderPlanMarkdown(planChanges(b, h), { maxRows: 10 });
  assert.match(rows, /\| \| … and 30 more \| \| \| \|/);
});

test('markdown escapes what a message could break, and fences diffs that contain backticks', () => {
  const b = desired([file('a.service', svc('a'))], null, 'a'.repeat(40));
  const h = desired([file('a.service', svc('```'))], null, 'b'.repeat(40));
  const p = planChanges(b, h);
  p.diagnostics.push({
    file: 'a.service',
    line: 1,
    column: 1,
    rule: 'X01',
    severity: 'warning',
    message: 'use <b>|x|</b> *now*',
  });
  const md = renderPlanMarkdown(p);
  assert.match(md, /\*\*X01\*\* use &lt;b&gt;\\\|x\\\|&lt;\/b&gt; \\\*now\\\*/);
  assert.match(md, /\n````diff\n[\s\S]*\n````\n/);
});

test('refused plans render the errors and no changes', () => {
  const r = planChanges(base, null);
  r.head = 'b'.repeat(40);
  r.diagnostics = [{ file: 'x.service', line: 3, column: 1, rule: 'VAL03', severity: 'error', message: 'bad Restart' }];
  const t = renderPlanText(r);
  assert.match(t, /Refused: 1 error in bbbbbbbbbbbb; the controller would not apply it/);
  assert.match(t, /x\.service:3:1: error VAL03 bad Restart/);
  const md = renderPlanMarkdown(r);
  assert.match(md, /\*\*❌ Refused:\*\* 1 error\./);
  assert.match(md, /- `x\.service:3:1` \*\*VAL03\*\* bad Restart/);
  assert.doesNotMatch(md, /\| Unit \|/);
});

test('JSON has the docs/cli.md fields and round-trips', () => {
  const p = planChanges(base, head, baseFiles, headFiles);
  const j = JSON.parse(renderPlanJson(p));
  assert.deepEqual(Object.keys(j).sort(), ['base', 'changes', 'diagnostics', 'files', 'head', 'refused', 'summary']);
  for (const c of j.changes) {
    const extra = c.change === 'changed' ? ['files'] : [];
    assert.deepEqual(Object.keys(c).sort(), ['change', ...extra, 'hash', 'source', 'state', 'unit'].sort());
  }
  assert.deepEqual(j, JSON.parse(JSON.stringify(p)));
});

test('a drop-in change shows under the unit it changes, with its diff; a comment-only one has no effect', () => {
  const build = (files: RepoFile[], commit: string) => {
    const r = buildDesired(
      files.filter((f) => !f.path.includes('.d/')),
      file('fleet.yaml', 'units:\n  web@.service: {instances: 2}\n'),
      commit,
      { dropIns: files.filter((f) => f.path.includes('.d/')) },
    );
    assert.ok(r.desired, JSON.stringify(r.diagnostics));
    return r.desired;
  };
  const before = [
    file('web@.service', svc('web')),
    file('web@.service.d/10-env.conf', '[Service]\nEnvironment=PORT=80\n'),
    file('db.service', svc('db')),
    file('db.service.d/notes.conf', '[Service]\nNice=1\n'),
    file('service.d/05-all.conf', '[Service]\nLimitNOFILE=4096\n'),
  ];
  const after = [
    file('web@.service', svc('web')),
    file('web@.service.d/10-env.conf', '[Service]\nEnvironment=PORT=8080\n'),
    file('web@2.service.d/20-nice.conf', '[Service]\nNice=3\n'),
    file('db.service', svc('db')),
    file('db.service.d/notes.conf', '# why Nice=1\n[Service]\nNice=1\n'),
  ];
  const p = planChanges(build(before, 'a'.repeat(40)), build(after, 'b'.repeat(40)), before, after);
  assert.deepEqual(
    p.changes.map((c) => [c.unit, c.change, c.files]),
    [
      ['db.service', 'changed', ['service.d/05-all.conf']],
      ['web@1.service', 'changed', ['service.d/05-all.conf', 'web@.service.d/10-env.conf']],
      [
        'web@2.service',
        'changed',
        ['service.d/05-all.conf', 'web@.service.d/10-env.conf', 'web@2.service.d/20-nice.conf'],
      ],
    ],
  );
  assert.deepEqual(
    p.files.map((f) => [f.file, f.units, f.effect]),
    [
      ['db.service.d/notes.conf', ['db.service'], false],
      ['service.d/05-all.conf', ['db.service', 'web@1.service', 'web@2.service'], true],
      ['web@.service.d/10-env.conf', ['web@1.service', 'web@2.service'], true],
      ['web@2.service.d/20-nice.conf', ['web@2.service'], true],
    ],
  );
  const env = p.files.find((f) => f.file === 'web@.service.d/10-env.conf')!;
  assert.match(env.diff, /^-Environment=PORT=80$/m);
  assert.match(env.diff, /^\+Environment=PORT=8080$/m);
  assert.match(p.files.find((f) => f.file === 'service.d/05-all.conf')!.diff, /^-LimitNOFILE=4096$/m);
  const text = renderPlanText(p);
  const files = 'service.d/05-all.conf, web@.service.d/10-env.conf, web@2.service.d/20-nice.conf';
  assert.ok(text.includes(`~ web@2.service  changed (${files}); replaced in place`), text);
  assert.match(text, /^web@2\.service\.d\/20-nice\.conf: web@2\.service$/m);
  assert.match(
    renderPlanMarkdown(p),
    /\| `web@1\.service` \| changed \| launched \| `service\.d\/05-all\.conf`, `web@\.service\.d\/10-env\.conf` \|/,
  );
});
