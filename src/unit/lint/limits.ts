/**
 * Value validators for resource limits (config_parse_rlimit: every Limit*= by its RLIMIT_* kind, as
 * src/basic/rlimit-util.c parses it) and exit statuses (config_parse_set_status,
 * config_parse_exit_status).
 */
import { exitStatusFromString, parseSize, safeAtou, signalFromString } from './grammar.js';
import { parseTimespan } from './timespan.js';
import { bad, type Validator } from './values.js';

const q = (s: string) => JSON.stringify(s);

// ---------------------------------------------------------------------------------------------
// resource limits (config_parse_rlimit -> rlimit_parse)

const U64_INF = (1n << 64n) - 1n;
type Rl = bigint | null;

/** rlimit_parse_one() for each RLIMIT_* kind; the value in the limit's unit, U64_INF for infinity. */
const RLIMIT_PARSERS: Record<string, { what: string; example: string; parse: (v: string) => Rl }> = {
  sec: {
    what: 'a time span (CPU seconds: 30, 5min) or infinity',
    example: '1h',
    parse: (v) => {
      if (v === 'infinity') return U64_INF;
      const t = parseTimespan(v, 'sec');
      if (!t.ok) return null;
      return t.value === 'infinity' ? U64_INF : (t.value + 999_999n) / 1_000_000n;
    },
  },
  usec: {
    what: 'a time span (a bare number is microseconds) or infinity',
    example: '200ms',
    parse: (v) => {
      if (v === 'infinity') return U64_INF;
      const t = parseTimespan(v, 'usec');
      if (!t.ok) return null;
      return t.value === 'infinity' ? U64_INF : t.value;
    },
  },
  size: {
    what: 'a size in bytes (K, M, G, T suffixes) or infinity',
    example: '64M',
    parse: (v) => {
      if (v === 'infinity') return U64_INF;
      const n = parseSize(v, 1024n);
      return n === null || n >= U64_INF ? null : n;
    },
  },
  u64: {
    what: 'a number or infinity',
    example: '65536',
    parse: (v) => {
      if (v === 'infinity') return U64_INF;
      const n = safeAtou(v, 64);
      return n.ok && n.value < U64_INF ? n.value : null;
    },
  },
  nice: {
    what: 'a nice level (-20..19, with a sign) or a raw limit (0..40)',
    example: '-5',
    parse: (v) => {
      const sign = v[0];
      const n = safeAtou(sign === '+' || sign === '-' ? v.slice(1) : v, 64);
      if (!n.ok) return null;
      if (sign === '+') return n.value < 20n ? 20n - n.value : null;
      if (sign === '-') return n.value <= 20n ? 20n + n.value : null;
      return n.value <= 40n ? n.value : null;
    },
  },
};

const RLIMIT_KIND: Record<string, string> = {
  RLIMIT_CPU: 'sec',
  RLIMIT_RTTIME: 'usec',
  RLIMIT_NICE: 'nice',
  RLIMIT_NOFILE: 'u64',
  RLIMIT_NPROC: 'u64',
  RLIMIT_LOCKS: 'u64',
  RLIMIT_SIGPENDING: 'u64',
  RLIMIT_RTPRIO: 'u64',
};

/** config_parse_rlimit: `VALUE` or `SOFT:HARD`, each of the limit's kind; soft may not exceed hard. */
export function rlimit(ltype: string | undefined): Validator {
  const p = RLIMIT_PARSERS[RLIMIT_KIND[ltype ?? ''] ?? 'size']!;
  return {
    emptyInvalid: true,
    check(value, key) {
      const parts = value.split(':');
      if (parts.length > 2 || parts.some((x) => x === ''))
        return bad(key, value, `a limit or SOFT:HARD (each ${p.what})`, `${p.example}:${p.example}`);
      const soft = p.parse(parts[0]!);
      const hard = parts.length === 2 ? p.parse(parts[1]!) : soft;
      if (soft === null || hard === null)
        return bad(key, value, `a limit or SOFT:HARD (each ${p.what})`, `${p.example}:infinity`);
      if (soft > hard)
        return {
          rule: 'VAL04',
          certain: true,
          message: `${key}=${value}: the soft limit is above the hard limit; systemd ignores the setting`,
        };
      return null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// exit statuses

/** config_parse_set_status: words, each an exit status (0..255 or a name systemd knows) or a signal. */
export const setStatus: Validator = {
  emptyInvalid: false,
  check(value, key) {
    for (const word of value.split(/[ \t\n\r]+/)) {
      if (word === '' || exitStatusFromString(word) !== null || signalFromString(word) !== null) continue;
      return {
        rule: 'VAL04',
        certain: true,
        message:
          `${key}= entry ${q(word)} is neither an exit status (0..255, or a name such as TEMPFAIL) nor a signal ` +
          `(SIGTERM, HUP, 15); systemd ignores it`,
      };
    }
    return null;
  },
};

/** config_parse_exit_status (SuccessActionExitStatus=, FailureActionExitStatus=): 0..255. */
export const exitStatus: Validator = {
  emptyInvalid: false,
  check(value, key) {
    return safeAtou(value, 8).ok ? null : bad(key, value, 'an exit status (0..255)', '0');
  },
};
