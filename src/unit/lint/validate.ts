/**
 * Which validator judges a setting: by systemd's parser function for the key where the linter has
 * one keyed so (resources.ts), else by the key's name or its dump type (values.ts, paths.ts); and
 * how a validator's finding is reported (judgeValue).
 */
import { PARSER_TABLE } from './parsers.generated.js';
import { absPath, CONDITION_PATH_KEYS, conditionPath, envFile, environ, pathList, workingDirectory } from './paths.js';
import { RESOURCE_PARSERS } from './resources.js';
import {
  bool,
  boolOr,
  EMERGENCY_ACTIONS,
  enumOf,
  enumOrNumber,
  FACILITIES,
  integer,
  jobMode,
  LOG_LEVELS,
  mode,
  RESTART_VALUES,
  SERVICE_TYPES,
  signal,
  size,
  stdio,
  timer,
  timespan,
  U32_MAX,
  type ValueFinding,
  type Validator,
} from './values.js';

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
  // sched_policy_from_string() falls back to any unsigned number (the kernel judges it at exec time)
  CPUSCHEDPOLICY: enumOrNumber(['other', 'batch', 'idle', 'fifo', 'rr'], 2147483647, false),
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
  // socket_timestamping_from_string_harder(): the words, µs spellings, or a boolean (yes = ns)
  Timestamping: boolOr(['off', 'us', 'usec', 'µs', 'μs', 'ns', 'nsec']),
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
  const id = `${section}\0${key}\0${type}`;
  if (CHOSEN.has(id)) return CHOSEN.get(id);
  const p = parserOf(section, key);
  const byParser =
    p && Object.hasOwn(RESOURCE_PARSERS, p.parser) ? RESOURCE_PARSERS[p.parser]!(p.ltype, section) : undefined;
  const v = byParser ?? KEY_VALIDATORS[key] ?? BY_TYPE[type];
  CHOSEN.set(id, v);
  return v;
}

/** validatorFor()'s answers: a lint pass asks for the same few hundred keys thousands of times. */
const CHOSEN = new Map<string, Validator | undefined>();

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
