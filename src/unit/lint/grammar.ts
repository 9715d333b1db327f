/**
 * systemd 252's low-level value parsers, transcribed: src/basic/parse-util.c (safe_atou and
 * friends, parse_size, parse_range), src/basic/percent-util.c (parse_permyriad), src/basic/
 * signal-util.c (signal_from_string) and src/shared/exit-status.c (exit_status_from_string).
 * The value validators build on these so that a value is judged by the grammar systemd applies.
 */

const WHITESPACE = ' \t\n\r';

const TRUE_WORDS = ['1', 'yes', 'y', 'true', 't', 'on'];
const FALSE_WORDS = ['0', 'no', 'n', 'false', 'f', 'off'];

/** systemd's parse_boolean(): case-insensitive. */
export function isBoolean(value: string): boolean {
  const v = value.toLowerCase();
  return TRUE_WORDS.includes(v) || FALSE_WORDS.includes(v);
}

/**
 * Split like extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE): whitespace-separated words,
 * quotes group (also mid-word), backslash escapes. null when a quote is left open.
 */
export function splitWords(s: string): { word: string; bare: boolean }[] | null {
  const out: { word: string; bare: boolean }[] = [];
  let i = 0;
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  for (;;) {
    while (ws(s[i])) i++;
    if (i >= s.length) return out;
    let word = '';
    let bare = true;
    let quote: string | null = null;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (quote) {
        if (c === quote) quote = null;
        else if (c === '\\' && i + 1 < s.length) word += s[++i];
        else word += c;
        continue;
      }
      if (ws(c)) break;
      if (c === '"' || c === "'") {
        quote = c;
        bare = false;
      } else if (c === '\\' && i + 1 < s.length) {
        word += s[++i];
        bare = false;
      } else word += c;
    }
    if (quote) return null;
    out.push({ word, bare });
  }
}

function skipWs(s: string): string {
  let i = 0;
  while (i < s.length && WHITESPACE.includes(s[i]!)) i++;
  return s.slice(i);
}

/**
 * strtoull/strtoll with base 0 after systemd's mangle_base(): optional sign, then `0x` hex, `0o`
 * or `0b` (Python style), a leading `0` for C octal, or decimal. Leading whitespace is skipped.
 * Returns the value or null when the text is not such a number (trailing garbage, no digits).
 */
export function parseCInteger(text: string): bigint | null {
  if (PLAIN_DECIMAL.test(text)) return BigInt(text);
  const s = skipWs(text);
  // mangle_base() looks for 0b/0o before the sign, so "-0x10" is strtol's own hex.
  let m = /^0[bB]([+-]?)([01]+)$/.exec(s);
  if (m) return (m[1] === '-' ? -1n : 1n) * BigInt('0b' + m[2]);
  m = /^0[oO]([+-]?)([0-7]+)$/.exec(s);
  if (m) return (m[1] === '-' ? -1n : 1n) * BigInt('0o' + m[2]);
  m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const d = m[2]!;
  const n = /^0[xX]/.test(d) ? BigInt(d) : d.length > 1 && d[0] === '0' ? BigInt('0o' + d.slice(1)) : BigInt(d);
  return m[1] === '-' ? -n : n;
}

/** The common case, decided without the general parse: `0` or a decimal without a leading zero. */
const PLAIN_DECIMAL = /^(?:0|[1-9][0-9]{0,17})$/;

export type NumberResult = { ok: true; value: bigint } | { ok: false; range: boolean };

/** safe_atou / safe_atou8 / safe_atou64: an unsigned number of `bits` bits ("-0" is 0). */
export function safeAtou(text: string, bits: 8 | 16 | 32 | 64): NumberResult {
  const n = parseCInteger(text);
  if (n === null) return { ok: false, range: false };
  if (n < 0n || n >= 1n << BigInt(bits)) return { ok: false, range: true };
  return { ok: true, value: n };
}

/** safe_atoi / safe_atoli: a signed number of `bits` bits. */
export function safeAtoi(text: string, bits: 32 | 64): NumberResult {
  const n = parseCInteger(text);
  if (n === null) return { ok: false, range: false };
  const lim = 1n << BigInt(bits - 1);
  if (n < -lim || n >= lim) return { ok: false, range: true };
  return { ok: true, value: n };
}

const SIZE_SUFFIXES = ['E', 'P', 'T', 'G', 'M', 'K', 'B', ''] as const;
const SIZE_POWERS = [6, 5, 4, 3, 2, 1, 0, 0];
const U64_LIMIT = 1n << 64n;

/**
 * parse_size(): one or more `NUMBER[.FRACTION] [SUFFIX]` parts in descending suffix order (`1G 512M`),
 * suffixes E P T G M K B (upper case) in powers of `base` (1024 or 1000). Returns bytes or null.
 */
export function parseSize(text: string, base: 1000n | 1024n): bigint | null {
  let p = text;
  let total = 0n;
  let start = 0;
  do {
    p = skipWs(p);
    if (p[0] === '-') return null;
    const m = /^\+?([0-9]+)/.exec(p);
    if (!m) return null;
    let e = p.slice(m[0].length);
    const whole = BigInt(m[1]!);
    let frac = '';
    if (e[0] === '.') {
      e = e.slice(1);
      const f = /^[0-9]+/.exec(e);
      if (f) {
        frac = f[0];
        e = e.slice(frac.length);
      }
    }
    e = skipWs(e);
    let i = start;
    while (i < SIZE_SUFFIXES.length && !e.startsWith(SIZE_SUFFIXES[i]!)) i++;
    if (i >= SIZE_SUFFIXES.length) return null;
    const factor = base ** BigInt(SIZE_POWERS[i]!);
    const fracBytes = frac === '' ? 0n : (BigInt(frac) * factor) / 10n ** BigInt(frac.length);
    total += whole * factor + fracBytes;
    if (total >= U64_LIMIT) return null;
    p = e.slice(SIZE_SUFFIXES[i]!.length);
    start = i + 1;
  } while (p !== '');
  return total;
}

/** parse_range(): `N` or `N-M` of unsigned numbers. */
export function parseRange(text: string): { lower: bigint; upper: bigint } | null {
  const dash = text.indexOf('-');
  const lo = safeAtou(dash < 0 ? text : text.slice(0, dash), 32);
  if (!lo.ok) return null;
  if (dash < 0) return { lower: lo.value, upper: lo.value };
  const rest = text.slice(dash + 1);
  if (rest === '') return null;
  const hi = safeAtou(rest, 32);
  return hi.ok ? { lower: lo.value, upper: hi.value } : null;
}

/**
 * parse_permyriad() (bounded: at most 100%) or parse_permyriad_unbounded(): `N%` with up to two
 * decimals, `N‰` with one, `N‱` whole. Returns the value in 1/10000, or null.
 */
export function parsePermyriad(text: string, bounded = true): number | null {
  let v: number | null;
  if (text.endsWith('‱')) v = parts(text.slice(0, -1), 0);
  else if (text.endsWith('‰')) v = parts(text.slice(0, -1), 1);
  else if (text.endsWith('%')) v = parts(text.slice(0, -1), 2);
  else return null;
  if (v === null || (bounded && v > 10000)) return null;
  return v;
}

/** The number before a percent-like sign, with at most `places` decimals, scaled to 10^places. */
function parts(n: string, places: number): number | null {
  const dot = n.indexOf('.');
  let whole = n;
  let frac = 0;
  if (dot >= 0) {
    const f = n.slice(dot + 1);
    if (places === 0 || f.length === 0 || f.length > places || !/^[0-9]+$/.test(f)) return null;
    frac = Number(f.padEnd(places, '0'));
    whole = n.slice(0, dot);
  }
  const w = safeAtoi(whole, 32);
  if (!w.ok || w.value < 0n) return null;
  const v = Number(w.value) * 10 ** places + frac;
  return v > 2147483647 ? null : v;
}

/** static_signal_table[] of src/basic/signal-util.c, by number (no IOT, POLL or UNUSED aliases). */
const SIGNAL_NAMES = [
  'HUP',
  'INT',
  'QUIT',
  'ILL',
  'TRAP',
  'ABRT',
  'BUS',
  'FPE',
  'KILL',
  'USR1',
  'SEGV',
  'USR2',
  'PIPE',
  'ALRM',
  'TERM',
  'STKFLT',
  'CHLD',
  'CONT',
  'STOP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'XCPU',
  'XFSZ',
  'VTALRM',
  'PROF',
  'WINCH',
  'IO',
  'PWR',
  'SYS',
];

/** glibc's SIGRTMIN and SIGRTMAX on Linux (the kernel's 32..64 less glibc's two private signals). */
const RTMIN = 34;
const RTMAX = 64;

/** signal_from_string(): a number 1..64, or a name with or without SIG, RTMIN+n, RTMAX-n. */
export function signalFromString(value: string): number | null {
  // A word that starts with a letter is never a number to safe_atoi: skip straight to the names.
  const n = /^[A-Za-z]/.test(value) ? { ok: false as const } : safeAtoi(value, 32);
  if (n.ok) return n.value >= 1n && n.value <= 64n ? Number(n.value) : null;
  const v = value.startsWith('SIG') ? value.slice(3) : value;
  const idx = SIGNAL_NAMES.indexOf(v);
  if (idx >= 0) return idx + 1;
  for (const [prefix, base, sign] of [
    ['RTMIN', RTMIN, '+'],
    ['RTMAX', RTMAX, '-'],
  ] as const) {
    if (!v.startsWith(prefix)) continue;
    const rest = v.slice(prefix.length);
    if (rest === '') return base;
    if (rest[0] !== sign) return null;
    const k = safeAtoi(rest, 32);
    if (!k.ok) return null;
    const off = Number(k.value);
    if (sign === '+' ? off < 0 || off > RTMAX - RTMIN : off > 0 || off < RTMIN - RTMAX) return null;
    return base + off;
  }
  return null;
}

/** exit_status_mappings[] of src/shared/exit-status.c: the names systemd gives exit statuses. */
export const EXIT_STATUS_NAMES: Readonly<Record<string, number>> = {
  SUCCESS: 0,
  FAILURE: 1,
  INVALIDARGUMENT: 2,
  NOTIMPLEMENTED: 3,
  NOPERMISSION: 4,
  NOTINSTALLED: 5,
  NOTCONFIGURED: 6,
  NOTRUNNING: 7,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  NOUSER: 67,
  NOHOST: 68,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  OSFILE: 72,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: 78,
  CHDIR: 200,
  NICE: 201,
  FDS: 202,
  EXEC: 203,
  MEMORY: 204,
  LIMITS: 205,
  OOM_ADJUST: 206,
  SIGNAL_MASK: 207,
  STDIN: 208,
  STDOUT: 209,
  CHROOT: 210,
  IOPRIO: 211,
  TIMERSLACK: 212,
  SECUREBITS: 213,
  SETSCHEDULER: 214,
  CPUAFFINITY: 215,
  GROUP: 216,
  USER: 217,
  CAPABILITIES: 218,
  CGROUP: 219,
  SETSID: 220,
  CONFIRM: 221,
  STDERR: 222,
  PAM: 224,
  NETWORK: 225,
  NAMESPACE: 226,
  NO_NEW_PRIVILEGES: 227,
  SECCOMP: 228,
  SELINUX_CONTEXT: 229,
  PERSONALITY: 230,
  APPARMOR: 231,
  ADDRESS_FAMILIES: 232,
  RUNTIME_DIRECTORY: 233,
  CHOWN: 235,
  SMACK_PROCESS_LABEL: 236,
  KEYRING: 237,
  STATE_DIRECTORY: 238,
  CACHE_DIRECTORY: 239,
  LOGS_DIRECTORY: 240,
  CONFIGURATION_DIRECTORY: 241,
  NUMA_POLICY: 242,
  CREDENTIALS: 243,
  BPF: 244,
  EXCEPTION: 255,
};

/** exit_status_from_string(): a name of the table (case-sensitive) or a number 0..255. */
export function exitStatusFromString(value: string): number | null {
  if (Object.hasOwn(EXIT_STATUS_NAMES, value)) return EXIT_STATUS_NAMES[value]!;
  if (/^[A-Za-z]/.test(value)) return null;
  const n = safeAtou(value, 8);
  return n.ok ? Number(n.value) : null;
}
