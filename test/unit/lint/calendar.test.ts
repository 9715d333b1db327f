import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCalendar } from '../../../src/unit/lint/calendar.js';

const run = promisify(execFile);

/** Valid and invalid calendar expressions: systemd.time(7)'s examples and the parser's edges. */
const SAMPLES = [
  'daily',
  'Daily',
  'DAILY',
  'weekly',
  'annually',
  'yearly',
  'minutely',
  'hourly',
  'monthly',
  'quarterly',
  'semiannually',
  'semi-annually',
  'biannually',
  'bi-annually',
  'fortnightly',
  'daily ',
  'mon..fri *-*-* 10:00',
  'Mon-Fri 10:00',
  'Sat,Sun 8:00',
  '*-*-* 00:00:00',
  '*:0/15',
  '*-*~01',
  '*-02~1..3',
  '2024-01-01',
  'Mon 2024-*-1 00:00 UTC',
  '12:00 Europe/Berlin',
  '12:00 Mars/Olympus',
  '@1234567',
  '@0',
  '@x',
  'today',
  'now',
  '*-*-* 25:00',
  '0/2:00',
  '12:00:00.5',
  '12:00 +01:00',
  'hourly UTC',
  'Mon..Wed,Fri *-*-* *:*:*',
  '*-*-1..7/2 12:00',
  'mon',
  '1..5:00',
  '2003-03-05 05:40 UTC',
  '*:*',
  '*',
  '12',
  '*:0,30',
  'Fri *-1,6-13 12:00',
  '*-*-* 12:00:00 GMT',
  '12:00 utc',
  'Sat,Thu,Mon..Wed,Sat..Sun',
  'Mon,Sun 12-*-* 2,1:23',
  'Wed *-1',
  'Wed..Wed,Wed *-1',
  'Wed, 17:48',
  'Wed..Sat,Tue 12-10-15 1:2:3',
  '*-*-7 0:0:0',
  '10-15',
  'monday *-12-* 17:00',
  'Mon,Fri *-*-3,1,2 *:30:45',
  '12010-1-01',
  '1-1',
  '2016-03-27 03:17:00.4200005',
  '*:2/3',
  'Sun..Mon',
  'Fri..Mon 12:00',
  'Mon.Fri',
  'Mon..',
  'Mon,',
  'Mon, 12:00',
  'Monday..Friday 9:00',
  'Mo 12:00',
  'Mond 12:00',
  '*-*-32',
  '*-13-1',
  '*-0-1',
  '*-*-0',
  '1969-01-01',
  '2199-12-31',
  '2200-01-01',
  '69-01-01',
  '99-01-01',
  '*:60',
  '23:59:60',
  '23:59:59.999999',
  '*:*:0/0',
  '0/0:00',
  '*:*/15',
  '*-*-* *:*:*',
  '*-*-* *:*:* UTC',
  '12:00:00 junk',
  '12:00 12:00',
  '*-*-*',
  '*-*-* ',
  ' daily',
  '2024-01-01T12:00',
  '12:00:00:00',
  '1..5/2:00',
  '5..1:00',
  'Tue..Mon',
  '*-*-1/0',
  '2024-02-30',
  '*-*~1/2',
  '*-*-*~1',
  '*~*~*',
  '1:2',
  '01:02:03.',
  '12:00:00.12345678',
  '12:00 Etc/GMT+5',
  '12:00 America/Argentina/Buenos_Aires',
  '12:00 US/Eastern',
  '12:00 CET',
  '12:00 Europe/Kyiv',
  'Mon *-*-* 12:00 Asia/Tokyo',
  'daily Europe/Berlin',
  '12:00 UTC UTC',
  '@1234 UTC',
  '*-*-* 9..17:00',
  'hourly, daily',
  '0,30:00',
  '*:00,30',
  'weekly utc',
  '12-31~1',
  '2 1..3:00',
  '5..5:00',
  '*:0/59',
  '*:0/60',
  '*-*-1/30',
  '*-*-1/31',
  '1..3/3:00',
  '*-*~1..3/2',
  '*-*~3/1',
  '*-*~3..1',
  '*-*~0',
  '*-*~28',
  '*-*~29',
  '*-*~4/3',
  '*-*~4/4',
  '*-*~1..29',
  '*-*-28/3',
  '*-*-28/4',
  '*-*-1..3/40',
  '*:*:0/59',
  '*:*:0/60',
  '*:*:0/59.9',
  '*:*:1..1',
  '*:*:5..5/1',
  '*:*:1..2',
  '*:*:1..1.5',
  '*:*:1.5..2',
  '0/23:00',
  '0/24:00',
  '10/20:00',
  '*-*-* *:*:0..59/60',
  '2024/2-1-1',
  '2199/1-1-1',
  '*-1/11-1',
  '*-1/12-1',
  '0..59:00',
  '20..59/60:00',
  '20..59/39:00',
  '20..30/11:00',
  '20..30/10:00',
  '*-*-1..40/40',
  '30..1/40:00',
  '*-*~1..40/40',
];

async function systemdAccepts(value: string): Promise<boolean> {
  try {
    await run('systemd-analyze', ['calendar', value], { env: { ...process.env, TZ: 'UTC' } });
    return true;
  } catch {
    return false;
  }
}

async function verdicts(values: string[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < values.length; i += 16)
    out.push(...(await Promise.all(values.slice(i, i + 16).map(systemdAccepts))));
  return out;
}

test('checkCalendar never refuses what systemd-analyze calendar accepts, and flags all it refuses', async () => {
  const sd = await verdicts(SAMPLES);
  const falseErrors: string[] = [];
  const missed: string[] = [];
  const mismatched: string[] = [];
  SAMPLES.forEach((v, i) => {
    const ours = checkCalendar(v);
    if (sd[i] && !ours.ok && ours.certain) falseErrors.push(`${JSON.stringify(v)}: ${ours.reason}`);
    if (!sd[i] && ours.ok) missed.push(JSON.stringify(v));
    if (sd[i] !== ours.ok) mismatched.push(JSON.stringify(v));
  });
  assert.deepEqual(falseErrors, [], 'values systemd accepts but gitfleet refuses');
  assert.deepEqual(missed, [], 'values systemd refuses but gitfleet accepts');
  // Only host-dependent time zones may be uncertain.
  assert.ok(
    mismatched.every((m) => / [A-Za-z]/.test(m)),
    `uncertain verdicts: ${mismatched.join(', ')}`,
  );
  assert.ok(sd.filter(Boolean).length > 40 && sd.filter((x) => !x).length > 25);
});

test('checkCalendar marks an unknown time zone as uncertain, not as an error', () => {
  const r = checkCalendar('12:00 Mars/Olympus');
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.certain, false);
  assert.deepEqual(checkCalendar('12:00 Europe/Berlin'), { ok: true });
  const bad = checkCalendar('*-*-* 25:00');
  assert.ok(!bad.ok && bad.certain && /hour 25/.test(bad.reason));
});
