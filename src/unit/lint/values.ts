/**
 * Value validators for unit-file settings, chosen by the key's type in the generated key table
 * (systemd's own short name for the key's parser function: BOOLEAN is config_parse_bool, SECONDS
 * config_parse_sec, SERVICERESTART config_parse_service_restart, ...) or, for keys systemd dumps as
 * OTHER, by the key's name (KEY_VALIDATORS below names the parser function behind each).
 *
 * Conservative by design: a value systemd accepts must never get an error (errors block deploys).
 * Each validator mirrors systemd 252's parser; where the linter cannot be sure (specifiers that
 * expand at load time, host-dependent values), it stays silent or warns. The test
 * test/unit/lint/values.test.ts runs every validated key of the key table through systemd itself.
 */
import { checkCalendar } from './calendar.js';
import { isBoolean, parseCInteger, parseSize, signalFromString } from './grammar.js';
import { parseTimespan } from './timespan.js';

/** What is wrong with a value. `certain: false` findings are reported as warnings. */
export interface ValueFinding {
  rule: 'VAL01' | 'VAL02' | 'VAL03' | 'VAL04' | 'KEY03' | 'USR01';
  message: string;
  certain: boolean;
}

export interface Validator {
  check(value: string, key: string): ValueFinding | null;
  /**
   * systemd 252 refuses an empty assignment for this parser ("Failed to parse ..., ignoring"):
   * the line is dropped instead of resetting the setting. Reported as a warning.
   */
  emptyInvalid: boolean;
  /** The parser expands %-specifiers before parsing: the linter cannot judge a value with '%'. */
  expands?: boolean;
}

export { isBoolean, splitWords } from './grammar.js';

const q = (s: string) => JSON.stringify(s);

/** A VAL04 finding: the value is not what systemd's parser for the key takes; with an example. */
export function bad(key: string, value: string, what: string, example: string): ValueFinding {
  return {
    rule: 'VAL04',
    certain: true,
    message: `${key}=${q(value)} is not ${what}; systemd ignores the setting (e.g. ${key}=${example})`,
  };
}

function oneOf(values: readonly string[]): string {
  return values.length <= 10 ? values.join(', ') : `${values.slice(0, 10).join(', ')}, ...`;
}

// ---------------------------------------------------------------------------------------------
// booleans

export const bool: Validator = {
  emptyInvalid: true,
  check(value, key) {
    if (isBoolean(value)) return null;
    return {
      rule: 'VAL01',
      certain: true,
      message: `${key}=${q(value)} is not a boolean; use yes/no (also true/false, on/off, 1/0)`,
    };
  },
};

/** A boolean or one of `extra` (ProtectSystem=, ProtectHome=, RuntimeDirectoryPreserve=). */
export function boolOr(extra: readonly string[], rule: ValueFinding['rule'] = 'VAL03'): Validator {
  return {
    emptyInvalid: true,
    check(value, key) {
      if (isBoolean(value) || extra.includes(value)) return null;
      return {
        rule,
        certain: true,
        message: `${key}=${q(value)} is not valid; expected a boolean or one of ${extra.join(', ')}`,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// enums (case-sensitive, as systemd's string tables)

export function enumOf(
  values: readonly string[],
  opts: { deprecated?: Record<string, string>; emptyInvalid?: boolean } = {},
): Validator {
  return {
    emptyInvalid: opts.emptyInvalid ?? true,
    check(value, key) {
      const dep = opts.deprecated?.[value];
      if (dep) return { rule: 'KEY03', certain: true, message: `${key}=${value} is deprecated: ${dep}` };
      if (values.includes(value)) return null;
      const ci = values.find((v) => v.toLowerCase() === value.toLowerCase());
      const hint = ci ? ` (values are case-sensitive: did you mean ${ci}?)` : '';
      return {
        rule: 'VAL03',
        certain: true,
        message: `${key}=${q(value)} is not valid${hint}; expected one of ${oneOf(values)}`,
      };
    },
  };
}

export const SERVICE_TYPES = ['simple', 'exec', 'forking', 'oneshot', 'dbus', 'notify', 'idle'] as const;
export const RESTART_VALUES = [
  'no',
  'on-success',
  'on-failure',
  'on-abnormal',
  'on-watchdog',
  'on-abort',
  'always',
] as const;
export const EMERGENCY_ACTIONS = [
  'none',
  'reboot',
  'reboot-force',
  'reboot-immediate',
  'poweroff',
  'poweroff-force',
  'poweroff-immediate',
  'exit',
  'exit-force',
];
export const JOB_MODES = [
  'fail',
  'replace',
  'replace-irreversibly',
  'isolate',
  'flush',
  'ignore-dependencies',
  'ignore-requirements',
  'triggering',
];
export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
export const FACILITIES = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
];

/**
 * A name from a table, or a number (string_table_lookup_with_fallback: safe_atoi, any base). A
 * number above `max` (the largest systemd was seen to accept) is only a warning.
 */
export function enumOrNumber(values: readonly string[], max: number, emptyInvalid = true): Validator {
  const e = enumOf(values);
  return {
    emptyInvalid,
    check(value, key) {
      if (/^[+-]?[0-9]/.test(value)) {
        const n = parseInteger(value);
        if (n === null || n < 0n)
          return {
            rule: 'VAL03',
            certain: n !== null,
            message: `${key}=${q(value)} is not valid; expected one of ${oneOf(values)} or a number`,
          };
        if (n <= BigInt(max)) return null;
        return {
          rule: 'VAL03',
          certain: false,
          message: `${key}=${value} is probably out of range; expected one of ${oneOf(values)} or a number 0..${max}`,
        };
      }
      return e.check(value, key);
    },
  };
}

const OUTPUTS = ['inherit', 'null', 'tty', 'journal', 'kmsg', 'journal+console', 'kmsg+console', 'socket'];
const INPUTS = ['null', 'tty', 'tty-force', 'tty-fail', 'data', 'socket'];

/** StandardOutput=/StandardError= (config_parse_exec_output), StandardInput= (config_parse_exec_input). */
export function stdio(kind: 'input' | 'output'): Validator {
  const words = kind === 'input' ? INPUTS : OUTPUTS;
  const prefixes = kind === 'input' ? ['file:', 'fd:'] : ['file:', 'append:', 'truncate:', 'fd:'];
  return {
    emptyInvalid: true,
    expands: true,
    check(value, key) {
      if (words.includes(value) || value === 'fd') return null;
      if (kind === 'output' && (value === 'syslog' || value === 'syslog+console')) {
        return {
          rule: 'KEY03',
          certain: true,
          message: `${key}=${value} is obsolete; systemd treats it as ${value.replace('syslog', 'journal')}`,
        };
      }
      for (const p of prefixes) {
        if (!value.startsWith(p)) continue;
        const rest = value.slice(p.length);
        if (p === 'fd:')
          return rest === ''
            ? { rule: 'VAL03', certain: true, message: `${key}=fd: needs a file descriptor name` }
            : null;
        if (rest.startsWith('/')) return null;
        return { rule: 'VAL03', certain: true, message: `${key}=${value}: the path after '${p}' must be absolute` };
      }
      const ci = words.find((w) => w.toLowerCase() === value.toLowerCase());
      const hint = ci ? ` (values are case-sensitive: did you mean ${ci}?)` : '';
      return {
        rule: 'VAL03',
        certain: true,
        message:
          `${key}=${q(value)} is not valid${hint}; expected one of ${words.join(', ')}, or ` +
          `${prefixes.map((p) => p + '...').join(', ')}`,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// time

export function timespan(base: 'sec' | 'nsec', emptyInvalid: boolean): Validator {
  return {
    emptyInvalid,
    check(value, key) {
      const r = parseTimespan(value, base);
      if (r.ok) return null;
      return {
        rule: 'VAL02',
        certain: true,
        message: `${key}=${q(value)} is not a time span (${r.reason}); examples: 90, 5min 20s, 1h30, 500ms, infinity`,
      };
    },
  };
}

/** [Timer] On*= (config_parse_timer): OnCalendar= is a calendar event, the others time spans. */
export const timer: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    if (key === 'OnCalendar') {
      const r = checkCalendar(value);
      if (r.ok) return null;
      return {
        rule: 'VAL02',
        certain: r.certain,
        message:
          `OnCalendar=${q(value)} is not a calendar event: ${r.reason}; examples: daily, Mon..Fri *-*-* 09:00, ` +
          `*:0/15`,
      };
    }
    return timespan('sec', false).check(value, key);
  },
};

// ---------------------------------------------------------------------------------------------
// numbers, sizes, modes, signals (VAL04)

/** systemd's safe_atou/safe_atoi family (grammar.ts): the value, or null when not such a number. */
const parseInteger = parseCInteger;

export function integer(min: bigint, max: bigint, what: string): Validator {
  return {
    emptyInvalid: true,
    check(value, key) {
      const n = parseInteger(value);
      if (n === null) {
        // Only a value with no number in it at all is surely wrong; odd spellings get a warning.
        const certain = !/^[+-]?[0-9]/.test(value) || /^[+-]?[0-9]+[^0-9xXoObB]/.test(value);
        return { rule: 'VAL04', certain, message: `${key}=${q(value)} is not ${what}` };
      }
      if (n < min || n > max)
        return { rule: 'VAL04', certain: true, message: `${key}=${value} is out of range (${min}..${max})` };
      return null;
    },
  };
}

export const U32_MAX = 4294967295n;

/** config_parse_mode: octal, at most 07777. */
export const mode: Validator = {
  emptyInvalid: true,
  check(value, key) {
    if (/^[0-7]+$/.test(value) && parseInt(value, 8) <= 0o7777) return null;
    return {
      rule: 'VAL04',
      certain: true,
      message: `${key}=${q(value)} is not an octal file mode (0000..7777), e.g. 0755`,
    };
  },
};

/** MODE is both config_parse_mode (octal) and config_parse_job_mode (OnSuccessJobMode=, OnFailureJobMode=). */
export const jobMode = enumOf(JOB_MODES);

/** signal_from_string(). */
export function isSignal(value: string): boolean {
  return signalFromString(value) !== null;
}

export const signal: Validator = {
  emptyInvalid: true,
  check(value, key) {
    if (isSignal(value)) return null;
    const upper = value.toUpperCase();
    const hint = upper !== value && isSignal(upper) ? ` (signal names are case-sensitive: ${upper})` : '';
    return {
      rule: 'VAL04',
      certain: true,
      message: `${key}=${q(value)} is not a signal${hint}; e.g. SIGTERM, SIGKILL, SIGRTMIN+3, 15`,
    };
  },
};

/** config_parse_iec_size: parse_size() with base 1024 (`64K`, `1.5G`, `1G 512M`; no `KB`). */
export const size: Validator = {
  emptyInvalid: true,
  check(value, key) {
    if (parseSize(value, 1024n) !== null) return null;
    return {
      rule: 'VAL04',
      certain: true,
      message: `${key}=${q(value)} is not a size; e.g. 4096, 64K, 2M, 1.5G (suffixes are upper-case, no B after them)`,
    };
  },
};
