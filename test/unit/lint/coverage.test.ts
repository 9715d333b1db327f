/**
 * Every parser function systemd 252 uses for unit files (parsers.generated.ts, read from its
 * load-fragment-gperf.gperf.in) is either judged by a value validator for every key that uses it,
 * or listed in src/unit/lint/coverage.ts with the reason it is checked elsewhere or not at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_TABLE } from '../../../src/unit/keytable.generated.js';
import { CHECKED_ELSEWHERE, NOT_CHECKED } from '../../../src/unit/lint/coverage.js';
import { PARSER_TABLE } from '../../../src/unit/lint/parsers.generated.js';
import { validatorFor } from '../../../src/unit/lint/validate.js';

test('every parser of systemd is value-checked, or said where else or why not', () => {
  const listed = new Set([...Object.keys(CHECKED_ELSEWHERE), ...Object.keys(NOT_CHECKED)]);
  const unjudged: string[] = [];
  for (const [section, keys] of Object.entries(PARSER_TABLE)) {
    for (const [key, p] of Object.entries(keys)) {
      const parser = p.split(' ')[0]!;
      const v = validatorFor(section, key, KEY_TABLE[section]?.[key] ?? '');
      if (!v && !listed.has(parser)) unjudged.push(`${section}.${key} (${parser})`);
    }
  }
  assert.deepEqual(unjudged, [], 'keys whose parser is neither validated nor listed in coverage.ts');
});

test('the parser table covers the keys systemd dumps, plus only the removed ones it omits', () => {
  const dump = new Set(Object.entries(KEY_TABLE).flatMap(([s, keys]) => Object.keys(keys).map((k) => `${s}.${k}`)));
  const extra: string[] = [];
  for (const [s, keys] of Object.entries(PARSER_TABLE)) {
    for (const [k, p] of Object.entries(keys)) {
      if (!dump.delete(`${s}.${k}`) && p.split(' ')[0] !== 'warn_compat') extra.push(`${s}.${k} (${p})`);
    }
  }
  assert.deepEqual({ missing: [...dump], extra }, { missing: [], extra: [] });
});
