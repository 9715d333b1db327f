/**
 * The bounds of the agent's answers to `journal` / `status UNIT` (pure parts of src/agent/inspect.ts
 * and the decoders of src/store/records.ts). The whole path, with real etcd and systemd, is in
 * test/cli/journal.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitAnswer } from '../../src/agent/inspect.js';
import { INSPECT_MAX_BYTES, type InspectAnswer } from '../../src/store/keys.js';
import { decodeInspectAnswer, decodeInspectRequest, MalformedRecordError } from '../../src/store/records.js';

const kv = (key: string, value: unknown) => ({
  key,
  value: JSON.stringify(value),
  createRevision: 1,
  modRevision: 1,
  version: 1,
  lease: '7',
});
const line = (i: number, size = 2000) => ({
  time: 1_700_000_000_000_000 + i,
  identifier: 'sh',
  pid: 42,
  priority: 6,
  message: `${i} ${'x'.repeat(size)}`,
});

test('an answer too big for the limit keeps its newest lines and says it left some out', () => {
  const answer: InspectAnswer = {
    machine: 'm',
    unit: 'u.service',
    lines: Array.from({ length: 1000 }, (_, i) => line(i)),
  };
  const fit = fitAnswer(answer, INSPECT_MAX_BYTES);
  assert.ok(Buffer.byteLength(JSON.stringify(fit)) <= INSPECT_MAX_BYTES);
  assert.equal(fit.truncated, true);
  assert.ok(fit.lines!.length > 50 && fit.lines!.length < 1000, `${fit.lines!.length} lines kept`);
  assert.equal(fit.lines!.at(-1)!.time, answer.lines!.at(-1)!.time, 'the newest line is kept');
  // One more line would not fit: as many as fit are kept.
  const one_more = { ...fit, lines: answer.lines!.slice(1000 - fit.lines!.length - 1) };
  assert.ok(Buffer.byteLength(JSON.stringify(one_more)) > INSPECT_MAX_BYTES);
  const small: InspectAnswer = { machine: 'm', unit: 'u.service', lines: [line(1, 10)] };
  assert.equal(fitAnswer(small, INSPECT_MAX_BYTES), small, 'an answer that fits is left alone');
});

test('requests are checked: lines from 0 to 1000, a unit, status true or false', () => {
  const key = 'inspect/requests/m/0123456789abcdef';
  assert.deepEqual(decodeInspectRequest(kv(key, { unit: 'a.service', lines: 10, status: true })), {
    unit: 'a.service',
    lines: 10,
    status: true,
  });
  for (const bad of [
    { unit: 'a.service', lines: 1001, status: false },
    { unit: 'a.service', lines: 2.5, status: false },
    { unit: 'a.service', lines: -1, status: false },
    { lines: 1, status: false },
    { unit: 'a.service', lines: 1, status: 'yes' },
  ])
    assert.throws(() => decodeInspectRequest(kv(key, bad)), MalformedRecordError, JSON.stringify(bad));
  assert.throws(
    () => decodeInspectAnswer({ ...kv('inspect/answers/x', {}), value: 'not json' }),
    /malformed record at inspect\/answers\/x: not JSON/,
  );
});
