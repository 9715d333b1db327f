import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Diagnostic } from '../../src/diag.js';
import { escapeGithubData, escapeGithubProperty, renderDiagnostics, summarize } from '../../src/render/diagnostics.js';
import { RULES } from '../../src/unit/lint/rules.js';

const diags: Diagnostic[] = [
  {
    file: 'units/web@.service',
    line: 3,
    column: 9,
    rule: 'VAL03',
    severity: 'error',
    message: 'Restart="ALWAYS" is not valid',
  },
  { file: 'units/a,b:c.service', line: 0, column: 0, rule: 'NAM01', severity: 'error', message: '100% bad\nname' },
  { file: 'units/t.timer', line: 2, column: 0, rule: 'TRG02', severity: 'warning', message: 'activates t.service' },
  { file: 'units/x.service', line: 4, column: 7, rule: 'DEP01', severity: 'info', message: 'Wants= without After=' },
];
const opts = { files: 12, color: false, toolVersion: '0.1.0' };

test('text: file:line:col: severity RULE message, then a summary line', () => {
  assert.equal(
    renderDiagnostics(diags, 'text', opts),
    [
      'units/web@.service:3:9: error VAL03 Restart="ALWAYS" is not valid',
      'units/a,b:c.service: error NAM01 100% bad\\nname',
      'units/t.timer:2: warning TRG02 activates t.service',
      'units/x.service:4:7: info DEP01 Wants= without After=',
      '2 errors, 1 warning, 1 note in 12 files',
      '',
    ].join('\n'),
  );
  assert.equal(renderDiagnostics([], 'text', { ...opts, files: 1 }), '1 file checked, no problems\n');
});

test('text is coloured only when asked', () => {
  assert.ok(!renderDiagnostics(diags, 'text', opts).includes('\x1b['));
  const coloured = renderDiagnostics(diags, 'text', { ...opts, color: true });
  assert.ok(coloured.includes('\x1b[31merror\x1b[0m'));
  assert.ok(coloured.includes('\x1b[33mwarning\x1b[0m'));
});

test('json: exactly {files, diagnostics[{file, line, column, rule, severity, message}]}', () => {
  const out = JSON.parse(renderDiagnostics(diags, 'json', opts));
  assert.deepEqual(Object.keys(out), ['files', 'diagnostics']);
  assert.equal(out.files, 12);
  assert.deepEqual(out.diagnostics[0], {
    file: 'units/web@.service',
    line: 3,
    column: 9,
    rule: 'VAL03',
    severity: 'error',
    message: 'Restart="ALWAYS" is not valid',
  });
  for (const d of out.diagnostics)
    assert.deepEqual(Object.keys(d), ['file', 'line', 'column', 'rule', 'severity', 'message']);
});

test('github: one workflow command per finding, escaped as the actions toolkit does', () => {
  assert.equal(escapeGithubData('a%b\r\nc'), 'a%25b%0D%0Ac');
  assert.equal(escapeGithubProperty('a:b,c%'), 'a%3Ab%2Cc%25');
  assert.equal(
    renderDiagnostics(diags, 'github', opts),
    [
      '::error file=units/web@.service,line=3,col=9,title=VAL03::Restart="ALWAYS" is not valid',
      '::error file=units/a%2Cb%3Ac.service,title=NAM01::100%25 bad%0Aname',
      '::warning file=units/t.timer,line=2,title=TRG02::activates t.service',
      '::notice file=units/x.service,line=4,col=7,title=DEP01::Wants= without After=',
      '',
    ].join('\n'),
  );
});

test('sarif: a SARIF 2.1.0 log with the rule registry and one result per finding', () => {
  const log = JSON.parse(renderDiagnostics(diags, 'sarif', opts));
  assert.equal(log.version, '2.1.0');
  assert.match(log.$schema, /sarif-2\.1\.0/);
  const run = log.runs[0];
  assert.equal(run.tool.driver.name, 'gitfleet');
  assert.equal(run.tool.driver.version, '0.1.0');
  assert.deepEqual(
    run.tool.driver.rules.map((r: { id: string }) => r.id),
    RULES.map((r) => r.id),
  );
  assert.equal(run.results.length, 4);
  const [first, second, third, fourth] = run.results;
  assert.equal(first.ruleId, 'VAL03');
  assert.equal(run.tool.driver.rules[first.ruleIndex].id, 'VAL03');
  assert.equal(first.level, 'error');
  assert.deepEqual(first.locations[0].physicalLocation, {
    artifactLocation: { uri: 'units/web%40.service' },
    region: { startLine: 3, startColumn: 9 },
  });
  assert.deepEqual(second.locations[0].physicalLocation, { artifactLocation: { uri: 'units/a%2Cb%3Ac.service' } });
  assert.deepEqual(third.locations[0].physicalLocation.region, { startLine: 2 });
  assert.equal(fourth.level, 'note');
});

test('sarif: a rule unknown to the registry still gets a descriptor', () => {
  const log = JSON.parse(
    renderDiagnostics(
      [{ file: 'f', line: 1, column: 1, rule: 'NEW99', severity: 'warning', message: 'm' }],
      'sarif',
      opts,
    ),
  );
  const run = log.runs[0];
  assert.equal(run.tool.driver.rules[run.results[0].ruleIndex].id, 'NEW99');
});

test('summary counts by severity', () => {
  assert.equal(summarize(diags.slice(0, 1), 1), '1 error in 1 file');
});
