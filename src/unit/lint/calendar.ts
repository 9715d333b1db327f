/**
 * Calendar events (OnCalendar=) as systemd 252 reads them (src/basic/calendarspec.c
 * `calendar_spec_from_string`; man systemd.time(7)):
 *
 *     [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [TIMEZONE]
 *
 * with `*`, lists `a,b`, ranges `a..b`, repetition `a/n` and `a..b/n` in every date/time component,
 * `~` for "days before the end of the month", `@EPOCH`, weekday names and ranges (`Mon..Fri`,
 * `Mon-Fri`), and the shorthands minutely ... semiannually. Checked against
 * `systemd-analyze calendar` in test/unit/lint/calendar.test.ts.
 *
 * Time zones are host-dependent (systemd accepts a zone only when the machine's tzdata has it, plus
 * the machine's own local zone abbreviations), so an unknown zone gives an uncertain verdict: the
 * linter warns instead of refusing a deploy.
 */
import { parseTimespan } from './timespan.js';

export type CalendarResult = { ok: true } | { ok: false; reason: string; certain: boolean };

const SHORTHANDS = new Set([
  'minutely',
  'hourly',
  'daily',
  'monthly',
  'weekly',
  'yearly',
  'annually',
  'quarterly',
  'semiannually',
  'semi-annually',
  'biannually',
  'bi-annually',
]);

/** Longest names first within each day, as in systemd's table. */
const WEEKDAYS: readonly (readonly [string, number])[] = [
  ['monday', 0],
  ['mon', 0],
  ['tuesday', 1],
  ['tue', 1],
  ['wednesday', 2],
  ['wed', 2],
  ['thursday', 3],
  ['thu', 3],
  ['friday', 4],
  ['fri', 4],
  ['saturday', 5],
  ['sat', 5],
  ['sunday', 6],
  ['sun', 6],
];

const INT_MAX = 2147483647;

class CalendarError extends Error {}

function fail(reason: string): never {
  throw new CalendarError(reason);
}

/** A cursor over the expression. */
interface Cur {
  s: string;
  i: number;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function parseWeekdays(c: Cur): void {
  let rangeStart = -1;
  let first = true;
  for (;;) {
    const rest = c.s.slice(c.i).toLowerCase();
    const hit = WEEKDAYS.find(([name]) => rest.startsWith(name));
    if (!hit) {
      if (first) return; // no weekday part: the date follows
      fail(`expected a weekday at ${JSON.stringify(c.s.slice(c.i))}`);
    }
    const [name, nr] = hit;
    const after = c.s[c.i + name.length];
    if (!(after === undefined || after === '-' || after === '.' || after === ',' || after === ' ')) {
      fail(`unknown weekday at ${JSON.stringify(c.s.slice(c.i))}`);
    }
    if (rangeStart >= 0 && rangeStart > nr) fail('weekday range goes backwards');
    c.i += name.length;
    const ch = c.s[c.i];
    if (ch === undefined) return;
    if (ch === ' ') {
      while (c.s[c.i] === ' ') c.i++;
      return;
    }
    if (ch === '.') {
      if (rangeStart >= 0 || c.s[c.i + 1] !== '.') fail("bad weekday range: use 'Mon..Fri'");
      rangeStart = nr;
      c.i += 2;
    } else if (ch === '-') {
      if (rangeStart >= 0) fail('bad weekday range');
      rangeStart = nr;
      c.i += 1;
    } else if (ch === ',') {
      rangeStart = -1;
      c.i += 1;
    }
    const next = c.s[c.i];
    if (next === undefined || next === ' ') {
      while (c.s[c.i] === ' ') c.i++;
      if (rangeStart >= 0) fail('weekday range without an end');
      return;
    }
    first = false;
  }
}

/** parse_component_decimal: digits (and for seconds a fraction); returns the value (µs for seconds). */
function parseDecimal(c: Cur, usec: boolean): number {
  if (!isDigit(c.s[c.i])) fail(`expected a number at ${JSON.stringify(c.s.slice(c.i))}`);
  const start = c.i;
  while (isDigit(c.s[c.i])) c.i++;
  let value = Number(c.s.slice(start, c.i));
  if (usec) {
    value *= 1_000_000;
    // One '.' is a decimal point, '..' a range.
    if (c.s[c.i] === '.' && c.s[c.i + 1] !== '.') {
      c.i++;
      if (!isDigit(c.s[c.i])) fail('bad fraction of a second');
      const fs = c.i;
      while (isDigit(c.s[c.i])) c.i++;
      const frac = c.s.slice(fs, c.i).slice(0, 6).padEnd(6, '0');
      value += Number(frac);
    }
  }
  if (!Number.isFinite(value) || value > INT_MAX) fail('number out of range');
  return value;
}

interface Component {
  start: number;
  stop: number; // -1: none
  repeat: number;
  /** True when the repetition was written with '/' (a bare range repeats every unit). */
  explicitRepeat: boolean;
}

function parseComponent(c: Cur, usec: boolean): Component {
  const start = parseDecimal(c, usec);
  let stop = -1;
  let repeat = 0;
  let explicitRepeat = false;
  if (c.s.startsWith('..', c.i)) {
    c.i += 2;
    stop = parseDecimal(c, usec);
    repeat = usec ? 1_000_000 : 1;
  }
  if (c.s[c.i] === '/') {
    c.i++;
    repeat = parseDecimal(c, usec);
    explicitRepeat = true;
    if (repeat === 0) fail('repetition of 0');
  }
  const next = c.s[c.i];
  if (!(next === undefined || next === ' ' || next === ',' || next === '-' || next === '~' || next === ':')) {
    fail(`unexpected ${JSON.stringify(next)} in ${JSON.stringify(c.s)}`);
  }
  // A range whose repetition cannot fire twice is just its start ("20..59/40" is 20).
  if (explicitRepeat && stop >= start && start + repeat > stop)
    return { start, stop: -1, repeat: 0, explicitRepeat: false };
  return { start, stop, repeat, explicitRepeat };
}

/** A chain: `*` (null: any) or a comma list of components. */
function parseChain(c: Cur, usec: boolean): Component[] | null {
  if (c.s[c.i] === '*') {
    c.i++;
    return null;
  }
  const out = [parseComponent(c, usec)];
  while (c.s[c.i] === ',') {
    c.i++;
    out.push(parseComponent(c, usec));
  }
  return out;
}

interface Spec {
  year: Component[] | null;
  month: Component[] | null;
  day: Component[] | null;
  hour: Component[] | null;
  minute: Component[] | null;
  second: Component[] | null;
  /** `~`: days count back from the end of the month. */
  endOfMonth: boolean;
}

/** Returns true when it parsed a date (or @epoch, which also sets the time). */
function parseDate(c: Cur, spec: Spec): 'date' | 'none' | 'epoch' {
  if (c.i >= c.s.length) return 'none';
  if (c.s[c.i] === '@') {
    const r = parseTimespan(c.s.slice(c.i + 1));
    if (!r.ok) fail(`bad @timestamp: ${r.reason}`);
    c.i = c.s.length;
    return 'epoch';
  }
  const save = c.i;
  const first = parseChain(c, false);
  const ch = c.s[c.i];
  if (ch === undefined || ch === ':') {
    c.i = save; // it was a time, not a date
    return 'none';
  }
  let endOfMonth = false;
  if (ch === '~') endOfMonth = spec.endOfMonth = true;
  else if (ch !== '-') fail(`expected '-' in date at ${JSON.stringify(c.s.slice(c.i))}`);
  c.i++;
  const second = parseChain(c, false);
  const ch2 = c.s[c.i];
  if (ch2 === undefined || ch2 === ' ') {
    while (c.s[c.i] === ' ') c.i++;
    spec.month = first;
    spec.day = second;
    return 'date';
  }
  if (endOfMonth) fail("'~' may only separate month and day");
  if (ch2 === '~') spec.endOfMonth = true;
  else if (ch2 !== '-') fail(`expected '-' in date at ${JSON.stringify(c.s.slice(c.i))}`);
  c.i++;
  const third = parseChain(c, false);
  const ch3 = c.s[c.i];
  if (!(ch3 === undefined || ch3 === ' ')) fail(`unexpected ${JSON.stringify(ch3)} after the date`);
  while (c.s[c.i] === ' ') c.i++;
  spec.year = first;
  spec.month = second;
  spec.day = third;
  return 'date';
}

function parseTime(c: Cur, spec: Spec): void {
  if (c.i >= c.s.length) return; // no time: 00:00:00
  spec.hour = parseChain(c, false);
  if (c.s[c.i] !== ':') fail(`expected ':' in time at ${JSON.stringify(c.s.slice(c.i))}`);
  c.i++;
  spec.minute = parseChain(c, false);
  if (c.i >= c.s.length) return;
  if (c.s[c.i] !== ':') fail(`expected ':' in time at ${JSON.stringify(c.s.slice(c.i))}`);
  c.i++;
  spec.second = parseChain(c, true);
  if (c.i < c.s.length) fail(`unexpected ${JSON.stringify(c.s.slice(c.i))} after the time`);
}

function normalizeYears(chain: Component[] | null): void {
  for (const x of chain ?? []) {
    for (const k of ['start', 'stop'] as const) {
      if (x[k] >= 0 && x[k] < 70) x[k] += 2000;
      else if (x[k] >= 70 && x[k] < 100) x[k] += 1900;
    }
  }
}

function show(v: number, usec: boolean): string {
  return usec ? String(v / 1_000_000) : String(v);
}

/**
 * calendar_spec_valid()'s per-component rules: values in range; a range may not go backwards; a
 * repetition must fit at least once (`10/20:00` is refused: no hour 30); counted from the end of the
 * month (`~`) the repetition must stay above day 1; a seconds range without '/' spans >= 1 s.
 */
function chainValid(
  chain: Component[] | null,
  from: number,
  to: number,
  what: string,
  opts: { usec?: boolean; endOfMonth?: boolean } = {},
): void {
  const usec = opts.usec ?? false;
  const range = `${show(from, usec)}..${show(to, usec)}`;
  for (const x of chain ?? []) {
    if (x.start < from || x.start > to) fail(`${what} ${show(x.start, usec)} is out of range ${range}`);
    if (x.stop >= 0) {
      if (x.stop < from || x.stop > to) fail(`${what} ${show(x.stop, usec)} is out of range ${range}`);
      if (x.stop < x.start) fail(`${what} range ${show(x.start, usec)}..${show(x.stop, usec)} goes backwards`);
      if (usec && !x.explicitRepeat && x.stop - x.start < 1_000_000) fail(`${what} range is shorter than a second`);
    } else if (x.repeat > 0) {
      if (opts.endOfMonth ? x.start - x.repeat < from : x.start + x.repeat > to) {
        fail(`${what} repetition ${show(x.start, usec)}/${show(x.repeat, usec)} never repeats within ${range}`);
      }
    }
  }
}

/** Validates the expression without a time zone suffix. Throws CalendarError. */
function parseCore(expr: string): void {
  if (expr === '') fail('empty calendar expression');
  if (SHORTHANDS.has(expr.toLowerCase())) return;
  const c: Cur = { s: expr, i: 0 };
  const spec: Spec = { year: null, month: null, day: null, hour: null, minute: null, second: null, endOfMonth: false };
  parseWeekdays(c);
  const d = parseDate(c, spec);
  if (d !== 'epoch') parseTime(c, spec);
  if (c.i < c.s.length) fail(`unexpected ${JSON.stringify(c.s.slice(c.i))}`);
  normalizeYears(spec.year);
  chainValid(spec.year, 1970, 2199, 'year');
  chainValid(spec.month, 1, 12, 'month');
  // Counted back from the month's end, only 28 days exist in every month.
  chainValid(spec.day, 1, spec.endOfMonth ? 28 : 31, 'day', { endOfMonth: spec.endOfMonth });
  chainValid(spec.hour, 0, 23, 'hour');
  chainValid(spec.minute, 0, 59, 'minute');
  chainValid(spec.second, 0, 60 * 1_000_000 - 1, 'second', { usec: true });
}

let knownZones: Set<string> | undefined;

/** IANA zones the JS runtime knows (canonical names), plus the aliases every tzdata ships. */
function isKnownZone(name: string): boolean {
  if (!knownZones) {
    let zones: string[] = [];
    try {
      zones = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf('timeZone');
    } catch {
      // older runtimes: only the fixed aliases below
    }
    knownZones = new Set([...zones, 'UTC', 'GMT', 'Etc/UTC', 'Etc/GMT', 'Universal', 'Zulu', 'UCT']);
  }
  return knownZones.has(name);
}

/** Shape of a tz database name (timezone_is_valid's character rules). */
const ZONE_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

function attempt(expr: string): string | null {
  try {
    parseCore(expr);
    return null;
  } catch (e) {
    if (e instanceof CalendarError) return e.message;
    throw e;
  }
}

/** Check one OnCalendar= value (specifiers already expanded or absent). */
export function checkCalendar(value: string): CalendarResult {
  const expr = value;
  // " UTC" is recognized case-insensitively; then the local zone abbreviations (host-dependent);
  // then a tz database name after the last space.
  if (expr.length > 4 && expr.slice(-4).toLowerCase() === ' utc') {
    const r = attempt(expr.slice(0, -4));
    return r === null ? { ok: true } : { ok: false, reason: r, certain: true };
  }
  const sp = expr.lastIndexOf(' ');
  if (sp >= 0) {
    const zone = expr.slice(sp + 1);
    const body = expr.slice(0, sp);
    if (isKnownZone(zone)) {
      const r = attempt(body);
      return r === null ? { ok: true } : { ok: false, reason: r, certain: true };
    }
    const whole = attempt(expr);
    if (whole === null) return { ok: true };
    if (ZONE_SHAPE.test(zone) && /[A-Za-z]/.test(zone) && attempt(body) === null) {
      return {
        ok: false,
        reason:
          `time zone ${JSON.stringify(zone)} is not a known tz database name; systemd accepts it only if the ` +
          `machine's tzdata (or its local zone abbreviation) has it`,
        certain: false,
      };
    }
    return { ok: false, reason: whole, certain: true };
  }
  const r = attempt(expr);
  return r === null ? { ok: true } : { ok: false, reason: r, certain: true };
}
