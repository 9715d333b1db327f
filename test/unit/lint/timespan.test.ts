import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimespan } from '../../../src/unit/lint/timespan.js';

const run = promisify(execFile);

/** Samples: valid and invalid spans, the tricky ones of systemd.time(7) and parse_time(). */
const SAMPLES = [
  '5',
  '5min 20s',
  '1h30',
  'infinity',
  ' infinity ',
  '5 min',
  '5mins',
  '.5s',
  '5.',
  '1.5h',
  '',
  ' ',
  '5s5',
  '1h 30',
  '5ns',
  '5us',
  '5\u00b5s',
  '5\u03bcs',
  '1M',
  '1y',
  '1w',
  '2months',
  '3weeks',
  '+5',
  '-5',
  '0',
  '-0',
  '5 s',
  '5S',
  '5Min',
  '1e3',
  '0x10',
  '1h,2m',
  'inf',
  '1.2.3',
  '12.34 .56',
  '12.34s.56',
  'infinity 5',
  '5msec',
  '5usec',
  '5hr',
  '5sec',
  '5seconds',
  '5minute',
  '99999999999999999999',
  '10 minutes',
  '1d',
  '5m',
  '5 m 3',
  '+.5',
  '3.s',
  '1h30m',
  '2h 5 min',
  '0.000001s',
  '1 y 2 M',
  '5 minutes\t10s',
  'infinityx',
  'Infinity',
  '100ms',
  '1.5',
  '00',
  '007s',
  '1_000',
  'forever',
  '5m5',
  '1 2 3',
  '5d 4h 3min 2s 1ms 9us',
];

async function systemdAccepts(value: string): Promise<boolean> {
  try {
    await run('systemd-analyze', ['timespan', value]);
    return true;
  } catch {
    return false;
  }
}

test('parseTimespan accepts exactly the time spans systemd-analyze timespan accepts', async () => {
  const verdicts = await Promise.all(SAMPLES.map(systemdAccepts));
  const disagreements: string[] = [];
  SAMPLES.forEach((v, i) => {
    const ours = parseTimespan(v).ok;
    if (ours !== verdicts[i]) disagreements.push(`${JSON.stringify(v)}: systemd ${verdicts[i]}, gitfleet ${ours}`);
  });
  assert.deepEqual(disagreements, []);
  // Both sides of the comparison must be exercised.
  assert.ok(verdicts.filter(Boolean).length > 20 && verdicts.filter((x) => !x).length > 15);
});

test('parseTimespan computes values in microseconds with a seconds default', () => {
  assert.deepEqual(parseTimespan('1h30'), { ok: true, value: 3_630_000_000n });
  assert.deepEqual(parseTimespan('5min 20s'), { ok: true, value: 320_000_000n });
  assert.deepEqual(parseTimespan('.5s'), { ok: true, value: 500_000n });
  assert.deepEqual(parseTimespan('infinity'), { ok: true, value: 'infinity' });
  assert.deepEqual(parseTimespan('5', 'nsec'), { ok: true, value: 5n });
  assert.equal(parseTimespan('5ns', 'nsec').ok, true);
});
