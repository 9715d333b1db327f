/**
 * Time spans as systemd 252 reads them (src/basic/time-util.c `parse_time`, `parse_nsec`;
 * man systemd.time(7)): "5min 20s", "1h30" (a bare number takes the default unit), "infinity",
 * ".5s", "2 weeks". Checked against `systemd-analyze timespan` in test/unit/lint/timespan.test.ts.
 */

/** Unit suffixes in systemd's table order: the first prefix match wins ("5mins" is "5min" + "s"). */
const USEC_UNITS: readonly (readonly [string, bigint])[] = [
  ['seconds', 1_000_000n],
  ['second', 1_000_000n],
  ['sec', 1_000_000n],
  ['s', 1_000_000n],
  ['minutes', 60_000_000n],
  ['minute', 60_000_000n],
  ['min', 60_000_000n],
  ['months', 2_629_800_000_000n],
  ['month', 2_629_800_000_000n],
  ['M', 2_629_800_000_000n],
  ['msec', 1_000n],
  ['ms', 1_000n],
  ['m', 60_000_000n],
  ['hours', 3_600_000_000n],
  ['hour', 3_600_000_000n],
  ['hr', 3_600_000_000n],
  ['h', 3_600_000_000n],
  ['days', 86_400_000_000n],
  ['day', 86_400_000_000n],
  ['d', 86_400_000_000n],
  ['weeks', 604_800_000_000n],
  ['week', 604_800_000_000n],
  ['w', 604_800_000_000n],
  ['years', 31_557_600_000_000n],
  ['year', 31_557_600_000_000n],
  ['y', 31_557_600_000_000n],
  ['usec', 1n],
  ['us', 1n],
  ['\u03bcs', 1n], // GREEK SMALL LETTER MU
  ['\u00b5s', 1n], // MICRO SIGN
];

/** parse_nsec's table: the same words in nanoseconds, plus ns/nsec. */
const NSEC_UNITS: readonly (readonly [string, bigint])[] = [
  ['seconds', 1_000_000_000n],
  ['second', 1_000_000_000n],
  ['sec', 1_000_000_000n],
  ['s', 1_000_000_000n],
  ['minutes', 60_000_000_000n],
  ['minute', 60_000_000_000n],
  ['min', 60_000_000_000n],
  ['months', 2_629_800_000_000_000n],
  ['month', 2_629_800_000_000_000n],
  ['M', 2_629_800_000_000_000n],
  ['msec', 1_000_000n],
  ['ms', 1_000_000n],
  ['m', 60_000_000_000n],
  ['hours', 3_600_000_000_000n],
  ['hour', 3_600_000_000_000n],
  ['hr', 3_600_000_000_000n],
  ['h', 3_600_000_000_000n],
  ['days', 86_400_000_000_000n],
  ['day', 86_400_000_000_000n],
  ['d', 86_400_000_000_000n],
  ['weeks', 604_800_000_000_000n],
  ['week', 604_800_000_000_000n],
  ['w', 604_800_000_000_000n],
  ['years', 31_557_600_000_000_000n],
  ['year', 31_557_600_000_000_000n],
  ['y', 31_557_600_000_000_000n],
  ['usec', 1_000n],
  ['us', 1_000n],
  ['\u03bcs', 1_000n],
  ['\u00b5s', 1_000n],
  ['nsec', 1n],
  ['ns', 1n],
];

const WS = ' \t\n\r';
const U64_MAX = (1n << 64n) - 1n;

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.includes(s[i]!)) i++;
  return i;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Result of parsing: the value (in the base unit, rounded down), or why it is not a time span. */
export type TimespanResult = { ok: true; value: bigint | 'infinity' } | { ok: false; reason: string };

/**
 * Parse a time span. `base` selects the table and the unit of a bare number: 'sec' for parse_sec
 * (bare number = seconds, result in µs), 'usec' for parse_time(..., 1) (bare number = µs, as
 * LimitRTTIME= reads it), 'nsec' for parse_nsec (bare number = nanoseconds).
 */
export function parseTimespan(text: string, base: 'sec' | 'usec' | 'nsec' = 'sec'): TimespanResult {
  const table = base === 'nsec' ? NSEC_UNITS : USEC_UNITS;
  const defaultUnit = base === 'sec' ? 1_000_000n : 1n;
  // Fractions are kept to this many digits of the base unit (systemd rounds the same way, to µs/ns).
  let p = skipWs(text, 0);
  if (text.startsWith('infinity', p)) {
    const rest = skipWs(text, p + 'infinity'.length);
    return rest === text.length
      ? { ok: true, value: 'infinity' }
      : { ok: false, reason: "nothing may follow 'infinity'" };
  }
  let total = 0n;
  let something = false;
  for (;;) {
    p = skipWs(text, p);
    if (p >= text.length) {
      if (!something) return { ok: false, reason: 'empty time span' };
      break;
    }
    if (text[p] === '-') return { ok: false, reason: 'negative time span' };
    // strtoll: optional '+', then decimal digits.
    let q = p;
    if (text[q] === '+') q++;
    const digitsStart = q;
    while (isDigit(text[q])) q++;
    const intPart = text.slice(digitsStart, q);
    let fracPart = '';
    if (text[q] === '.') {
      // A '.' must be followed by a digit ("5." and "3.s" are refused); ".5" is fine.
      if (!isDigit(text[q + 1])) return { ok: false, reason: `bad number at ${JSON.stringify(text.slice(p))}` };
      if (intPart === '' && text[p] === '+')
        return { ok: false, reason: `bad number at ${JSON.stringify(text.slice(p))}` };
      q++;
      const fs = q;
      while (isDigit(text[q])) q++;
      fracPart = text.slice(fs, q);
    } else if (intPart === '') {
      return { ok: false, reason: `expected a number at ${JSON.stringify(text.slice(p))}` };
    }
    if (intPart.length > 20) return { ok: false, reason: 'number out of range' };
    const afterNumber = q;
    const u = skipWs(text, q);
    let mult: bigint | undefined;
    let unitLen = 0;
    for (const [suffix, m] of table) {
      if (text.startsWith(suffix, u)) {
        mult = m;
        unitLen = suffix.length;
        break;
      }
    }
    if (mult === undefined) {
      // No unit: the default one, but only when something separates this number from what follows
      // ("12.34.56" is refused, "12.34 .56" is two numbers).
      if (u === afterNumber && u < text.length) {
        return { ok: false, reason: `unknown time unit at ${JSON.stringify(text.slice(u))}` };
      }
      mult = defaultUnit;
      p = u;
    } else {
      p = u + unitLen;
    }
    const whole = BigInt(intPart === '' ? '0' : intPart);
    let add = whole * mult;
    if (fracPart !== '') {
      // fraction * mult, rounded down; the scale is the fraction's own digits.
      add += (BigInt(fracPart) * mult) / 10n ** BigInt(fracPart.length);
    }
    total += add;
    if (total > U64_MAX) return { ok: false, reason: 'time span out of range' };
    something = true;
  }
  return { ok: true, value: total };
}
