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
import { isBoolean, splitWords } from './grammar.js';
import { PARSER_TABLE } from './parsers.generated.js';
import { RESOURCE_PARSERS } from './resources.js';
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

function oneOf(values: readonly string[]): string {
  return values.length <= 10 ? values.join(', ') : `${values.slice(0, 10).join(', ')}, ...`;
}

// ---------------------------------------------------------------------------------------------
// booleans

const bool: Validator = {
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
function boolOr(extra: readonly string[], rule: ValueFinding['rule'] = 'VAL03'): Validator {
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

function enumOf(
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
const EMERGENCY_ACTIONS = [
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
const JOB_MODES = [
  'fail',
  'replace',
  'replace-irreversibly',
  'isolate',
  'flush',
  'ignore-dependencies',
  'ignore-requirements',
  'triggering',
];
const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const FACILITIES = [
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
function enumOrNumber(values: readonly string[], max: number, emptyInvalid = true): Validator {
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
function stdio(kind: 'input' | 'output'): Validator {
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

function timespan(base: 'sec' | 'nsec', emptyInvalid: boolean): Validator {
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
const timer: Validator = {
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

/**
 * systemd's safe_atou/safe_atoi family: optional sign, then decimal digits, or a 0x/0o/0b prefix.
 * Returns the value, or null when the text is not such a number.
 */
function parseInteger(value: string): bigint | null {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/.exec(value);
  if (!m) return null;
  let digits = m[2]!;
  let n: bigint;
  if (/^0[oO]/.test(digits)) n = BigInt('0o' + digits.slice(2));
  else if (/^0[bB]/.test(digits)) n = BigInt('0b' + digits.slice(2));
  else if (/^0[xX]/.test(digits)) n = BigInt(digits);
  else if (digits.length > 1 && digits.startsWith('0')) {
    // A leading 0 means octal to strtoul(base 0); non-octal digits make it "not a number".
    if (!/^[0-7]+$/.test(digits)) return null;
    n = BigInt('0o' + digits.slice(1));
  } else n = BigInt(digits);
  digits = '';
  return m[1] === '-' ? -n : n;
}

function integer(min: bigint, max: bigint, what: string): Validator {
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

const U32_MAX = 4294967295n;

/** config_parse_mode: octal, at most 07777. */
const mode: Validator = {
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
const jobMode = enumOf(JOB_MODES);

const SIGNALS = [
  'HUP',
  'INT',
  'QUIT',
  'ILL',
  'TRAP',
  'ABRT',
  'IOT',
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
  'POLL',
  'PWR',
  'SYS',
  'UNUSED',
];

/** signal_from_string(): names with or without SIG (case-sensitive), RTMIN+n / RTMAX-n, or 1..64. */
export function isSignal(value: string): boolean {
  const v = value.startsWith('SIG') ? value.slice(3) : value;
  if (SIGNALS.includes(v)) return true;
  if (v === 'RTMIN' || v === 'RTMAX') return true;
  const rt = /^RTMIN\+(\d+)$/.exec(v) ?? /^RTMAX-(\d+)$/.exec(v);
  if (rt) return Number(rt[1]) <= 30;
  if (/^\d+$/.test(value)) return Number(value) >= 1 && Number(value) <= 64;
  return false;
}

const signal: Validator = {
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

const SIZE_FACTORS: Record<string, number> = { '': 0, K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 };

/** config_parse_iec_size (parse_size base 1024): a number, optional fraction, optional K/M/G/T/P/E. */
const size: Validator = {
  emptyInvalid: true,
  check(value, key) {
    const m = /^([0-9]+)(?:\.([0-9]+))?[ \t]*([KMGTPE]?)$/.exec(value);
    if (!m)
      return {
        rule: 'VAL04',
        certain: true,
        message: `${key}=${q(value)} is not a size; e.g. 4096, 64K, 2M, 1.5G (suffixes are upper-case, no B)`,
      };
    const bytes = Number(m[1]) * 1024 ** SIZE_FACTORS[m[3]!]!;
    if (bytes >= 2 ** 64) return { rule: 'VAL04', certain: true, message: `${key}=${value} is too large` };
    return null;
  },
};

// ---------------------------------------------------------------------------------------------
// paths and environment (VAL04)

function notAbsolute(key: string, value: string, what = 'an absolute path'): ValueFinding {
  return { rule: 'VAL04', certain: true, message: `${key}=${q(value)} is not ${what}; systemd ignores the setting` };
}

/** config_parse_unit_path_printf and friends: one absolute path. */
const absPath: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    return value.startsWith('/') ? null : notAbsolute(key, value);
  },
};

/** Lists of paths with optional '-' (ignore if missing) and '+' (relative to RootDirectory=) prefixes. */
function pathList(prefixes: string): Validator {
  return {
    emptyInvalid: false,
    expands: true,
    check(value, key) {
      const words = splitWords(value);
      if (!words) return { rule: 'VAL04', certain: true, message: `${key}=${q(value)} has an unbalanced quote` };
      for (const { word } of words) {
        let w = word;
        while (w.length > 0 && prefixes.includes(w[0]!)) w = w.slice(1);
        if (!w.startsWith('/')) return notAbsolute(key, word, `a list of absolute paths (${q(word)} is not absolute)`);
      }
      return null;
    },
  };
}

/** EnvironmentFile=: optional '-' then an absolute path. */
const envFile: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const v = value.startsWith('-') ? value.slice(1) : value;
    return v.startsWith('/') ? null : notAbsolute(key, value);
  },
};

/** WorkingDirectory= (config_parse_working_directory): optional '-', then '~' or an absolute path. */
const workingDirectory: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const v = value.startsWith('-') ? value.slice(1) : value;
    return v === '~' || v.startsWith('/') ? null : notAbsolute(key, value, "an absolute path or '~'");
  },
};

/** Condition*=/Assert*= on paths: optional '|' (trigger) and '!' (negate), then an absolute path. */
const conditionPath: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    let v = value;
    if (v.startsWith('|')) v = v.slice(1).trimStart();
    if (v.startsWith('!')) v = v.slice(1).trimStart();
    return v.startsWith('/') ? null : notAbsolute(key, value);
  },
};

/** Environment= (config_parse_environ): words of NAME=VALUE with a valid variable name. */
const environ: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const words = splitWords(value);
    if (!words) return { rule: 'VAL04', certain: true, message: `${key}=${q(value)} has an unbalanced quote` };
    for (const { word } of words) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        return {
          rule: 'VAL04',
          certain: true,
          message:
            `${key}= entry ${q(word)} is not a NAME=VALUE assignment with a valid variable name; systemd ` +
            `ignores it (quote values with spaces: "NAME=a b")`,
        };
      }
    }
    return null;
  },
};

const CONDITION_PATH_KEYS = [
  'PathExists',
  'PathExistsGlob',
  'PathIsDirectory',
  'PathIsSymbolicLink',
  'PathIsMountPoint',
  'PathIsReadWrite',
  'PathIsEncrypted',
  'DirectoryNotEmpty',
  'FileNotEmpty',
  'FileIsExecutable',
  'NeedsUpdate',
];

// ---------------------------------------------------------------------------------------------
// the maps

/** Validators by the key table's type name. Types not listed are not value-checked. */
const BY_TYPE: Record<string, Validator> = {
  BOOLEAN: bool,
  SECONDS: timespan('sec', true),
  NANOSECONDS: timespan('nsec', true),
  TIMER: timer,
  SERVICETYPE: enumOf(SERVICE_TYPES),
  SERVICERESTART: enumOf(RESTART_VALUES),
  SERVICEEXITTYPE: enumOf(['main', 'cgroup']),
  KILLMODE: enumOf(['control-group', 'process', 'mixed', 'none'], {
    deprecated: { none: 'systemd leaves processes running when the unit stops; use mixed or control-group' },
  }),
  ACCESS: enumOf(['none', 'main', 'exec', 'all']),
  TIMEOUTMODE: enumOf(['terminate', 'abort', 'kill']),
  // config_parse_socket_bind: socket_address_bind_ipv6_only_or_bool_from_string() takes booleans too
  SOCKETBIND: boolOr(['default', 'both', 'ipv6-only']),
  ACTION: enumOf(EMERGENCY_ACTIONS),
  OUTPUT: stdio('output'),
  INPUT: stdio('input'),
  // config_parse_exec_io_class / _cpu_sched_policy: an empty value resets to the default
  IOCLASS: enumOrNumber(['none', 'realtime', 'best-effort', 'idle'], 8, false),
  CPUSCHEDPOLICY: enumOf(['other', 'batch', 'idle', 'fifo', 'rr'], { emptyInvalid: false }),
  LEVEL: enumOrNumber(LOG_LEVELS, 7),
  FACILITY: enumOrNumber(FACILITIES, 23),
  POLICY: enumOf(['auto', 'closed', 'strict']),
  MODE: mode,
  SIGNAL: signal,
  UNSIGNED: integer(0n, U32_MAX, 'an unsigned number'),
  INTEGER: integer(-2147483648n, 2147483647n, 'a number'),
  LONG: integer(-(2n ** 63n), 2n ** 63n - 1n, 'a number'),
  NICE: integer(-20n, 19n, 'a nice level (-20..19)'),
  OOMSCOREADJUST: integer(-1000n, 1000n, 'an OOM score adjustment (-1000..1000)'),
  IOPRIORITY: integer(0n, 7n, 'an I/O priority (0..7)'),
  CPUSCHEDPRIO: integer(0n, 99n, 'a real-time priority (0..99)'),
  SIZE: size,
  PATH: absPath,
  'PATH [...]': pathList('-+'),
  FILE: envFile,
  ENVIRON: environ,
};

/** Keys whose dump type is OTHER (or ambiguous) with the systemd 252 parser behind each. */
const KEY_VALIDATORS: Record<string, Validator> = {
  // config_parse_job_mode (dumped as MODE, like config_parse_mode)
  OnSuccessJobMode: jobMode,
  OnFailureJobMode: jobMode,
  // config_parse_service_timeout / config_parse_sec_fix_0 / config_parse_job_timeout_sec /
  // config_parse_job_running_timeout_sec / config_parse_service_timeout_abort (OTHER outside [Service])
  TimeoutSec: timespan('sec', true),
  TimeoutStopSec: timespan('sec', true),
  TimeoutIdleSec: timespan('sec', true),
  JobTimeoutSec: timespan('sec', true),
  JobRunningTimeoutSec: timespan('sec', true),
  TimeoutAbortSec: timespan('sec', false),
  // config_parse_collect_mode, config_parse_oom_policy, config_parse_exec_keyring_mode, ...
  CollectMode: enumOf(['inactive', 'inactive-or-failed']),
  OOMPolicy: enumOf(['continue', 'stop', 'kill']),
  KeyringMode: enumOf(['inherit', 'private', 'shared']),
  ProtectProc: enumOf(['noaccess', 'invisible', 'ptraceable', 'default']),
  ProcSubset: enumOf(['all', 'pid']),
  UtmpMode: enumOf(['init', 'login', 'user']),
  Timestamping: enumOf(['off', 'us', 'usec', 'ns', 'nsec']),
  ManagedOOMSwap: enumOf(['auto', 'kill']),
  ManagedOOMMemoryPressure: enumOf(['auto', 'kill']),
  ManagedOOMPreference: enumOf(['none', 'avoid', 'omit']),
  // config_parse_protect_system / _protect_home / _exec_preserve_mode: booleans or words
  ProtectSystem: boolOr(['full', 'strict']),
  ProtectHome: boolOr(['read-only', 'tmpfs']),
  RuntimeDirectoryPreserve: boolOr(['restart']),
  WorkingDirectory: workingDirectory,
  RequiresMountsFor: pathList(''),
};
for (const k of CONDITION_PATH_KEYS) {
  KEY_VALIDATORS[`Condition${k}`] = conditionPath;
  KEY_VALIDATORS[`Assert${k}`] = conditionPath;
}

/** systemd's parser function of `section`'s `key` (config_parse_ dropped) and its ltype argument. */
export function parserOf(section: string, key: string): { parser: string; ltype?: string } | undefined {
  const p = PARSER_TABLE[section]?.[key];
  if (!p) return undefined;
  const [parser, ltype] = p.split(' ');
  return { parser: parser!, ltype };
}

/**
 * The validator for `section`'s `key` of key-table type `type`, if the linter checks its values:
 * by the key's parser function where the linter knows it (resource control, limits, exit statuses),
 * else by the key's dump type or its name.
 */
export function validatorFor(section: string, key: string, type: string): Validator | undefined {
  if (section === 'Install' || section.startsWith('X-')) return undefined;
  const p = parserOf(section, key);
  const byParser =
    p && Object.hasOwn(RESOURCE_PARSERS, p.parser) ? RESOURCE_PARSERS[p.parser]!(p.ltype, section) : undefined;
  return byParser ?? KEY_VALIDATORS[key] ?? BY_TYPE[type];
}

export interface ValueVerdict {
  rule: ValueFinding['rule'];
  severity: 'error' | 'warning';
  message: string;
}

/**
 * Judge one assignment with its validator, as the linter reports it: an empty value is a warning
 * where systemd refuses it (the line is ignored, nothing is reset); a value with %-specifiers is
 * skipped when the parser expands them first; uncertain findings and deprecations are warnings.
 */
export function judgeValue(v: Validator, key: string, value: string): ValueVerdict | null {
  if (value === '') {
    if (!v.emptyInvalid) return null;
    const f = v.check('', key);
    return {
      rule: f && f.rule !== 'KEY03' ? f.rule : 'VAL04',
      severity: 'warning',
      message:
        `${key}= with an empty value does not reset it: systemd 252 refuses the empty value and ignores the ` +
        `line; remove it`,
    };
  }
  if (v.expands && value.includes('%')) return null;
  const f = v.check(value, key);
  if (!f) return null;
  return { rule: f.rule, severity: f.certain && f.rule !== 'KEY03' ? 'error' : 'warning', message: f.message };
}

/** Exported for tests: every type name the value checks know. */
export const VALIDATED_TYPES: readonly string[] = Object.keys(BY_TYPE);
export const VALIDATED_KEYS: readonly string[] = Object.keys(KEY_VALIDATORS);
