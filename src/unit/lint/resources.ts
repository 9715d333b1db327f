/**
 * Value validators keyed by systemd 252's parser function (src/unit/lint/parsers.generated.ts gives
 * each key's): resource control (config_parse_cpu_quota, _memory_limit, _tasks_max, _io_limit,
 * _allowed_cpuset, the weights), scheduling, exec directories, and the booleans with a second
 * grammar (Delegate=, RestrictNamespaces=). Limit*= and exit statuses are in limits.ts, user and
 * group names and capabilities in identity.ts; RESOURCE_PARSERS, at the end, maps every one of
 * these parser functions to its validator. Each mirrors the C function it is named after in
 * src/core/load-fragment.c or src/shared/conf-parser.c. An empty value resets most of these
 * settings, so it is only reported where the parser refuses it.
 */
import { isBoolean, parsePermyriad, parseRange, parseSize, safeAtoi, safeAtou, splitWords } from './grammar.js';
import { exitStatus, rlimit, setStatus } from './limits.js';
import { capabilitySet, userGroup } from './identity.js';
import { parseTimespan } from './timespan.js';
import { bad, type Validator } from './values.js';

const q = (s: string) => JSON.stringify(s);

/** A validator whose `test` says whether systemd's parser accepts the (non-empty) value. */
function grammar(
  what: string,
  example: string,
  test: (value: string, key: string) => boolean,
  opts: { emptyInvalid?: boolean; expands?: boolean } = {},
): Validator {
  return {
    emptyInvalid: opts.emptyInvalid ?? false,
    expands: opts.expands,
    check(value, key) {
      return test(value, key) ? null : bad(key, value, what, example);
    },
  };
}

const inRange = (v: string, bits: 32 | 64, min: bigint, max: bigint, signed = false) => {
  const n = signed ? safeAtoi(v, bits) : safeAtou(v, 64);
  return n.ok && n.value >= min && n.value <= max;
};

// ---------------------------------------------------------------------------------------------
// CPU, memory, tasks

/** cg_weight_parse / cg_cpu_weight_parse ("idle") / cg_cpu_shares_parse / cg_blkio_weight_parse. */
function weight(min: bigint, max: bigint, idle = false): Validator {
  return grammar(`a weight (${min}..${max}${idle ? ' or idle' : ''})`, `${min === 1n ? 100 : min * 10n}`, (v) => {
    if (idle && v === 'idle') return true;
    return inRange(v, 64, min, max);
  });
}

/** config_parse_cpu_quota: parse_permyriad_unbounded() > 0, e.g. 20%, 150%, 12.5%. */
const cpuQuota = grammar('a CPU quota (a percentage above 0, may exceed 100%)', '50%', (v) => {
  const p = parsePermyriad(v, false);
  return p !== null && p > 0;
});

const ZERO_OK_MEMORY = new Set(['MemorySwapMax', 'MemoryLow', 'MemoryMin', 'DefaultMemoryLow', 'DefaultMemoryMin']);

/** config_parse_memory_limit: infinity, a percentage of RAM (<= 100%), or bytes with K/M/G/T/P/E. */
const memoryLimit = grammar(
  'a memory limit (bytes with K, M, G, T suffix, a percentage, or infinity)',
  '512M',
  (v, key) => {
    if (v === 'infinity') return true;
    const p = parsePermyriad(v);
    if (p !== null) return p > 0 || ZERO_OK_MEMORY.has(key);
    const bytes = parseSize(v, 1024n);
    if (bytes === null || bytes >= (1n << 64n) - 1n) return false;
    return bytes > 0n || ZERO_OK_MEMORY.has(key);
  },
);

/** config_parse_tasks_max: infinity, a percentage (<= 100%) or a count above 0. */
const tasksMax = grammar('a task limit (a count, a percentage, or infinity)', '4096', (v) => {
  if (v === 'infinity' || parsePermyriad(v) !== null) return true;
  const n = safeAtou(v, 64);
  return n.ok && n.value > 0n && n.value < (1n << 64n) - 1n;
});

/** config_parse_managed_oom_mem_pressure_limit: parse_permyriad(), at most 100%. */
const pressureLimit = grammar('a percentage (0%..100%)', '60%', (v) => parsePermyriad(v) !== null);

/** parse_cpu_set_full(): ranges N or N-M separated by spaces or commas; CPUs below 8192. */
function cpuSet(keyword: string | null, expands: boolean): Validator {
  return {
    emptyInvalid: false,
    expands,
    check(value, key) {
      if (keyword && value === keyword) return null;
      const words = splitWords(value.replaceAll(',', ' '));
      if (!words) return bad(key, value, 'a CPU list (unbalanced quote)', '0-3 6');
      for (const { word } of words) {
        const r = parseRange(word);
        if (!r) return bad(key, value, `a CPU list (${q(word)} is not N or N-M)`, '0-3 6');
        if (r.upper >= 8192n) return bad(key, value, `a CPU list (CPU ${r.upper} is above 8191)`, '0-3 6');
        if (r.lower > r.upper)
          return { rule: 'VAL04', certain: true, message: `${key}= range ${q(word)} is empty: systemd ignores it` };
      }
      return null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// IO: "PATH VALUE" pairs

/**
 * config_parse_io_limit / _io_device_weight / _io_device_latency / _blockio_*: a device path (the
 * first word, quotes allowed), then the value, which `valid` judges.
 */
function deviceValue(what: string, example: string, valid: (v: string) => boolean): Validator {
  return {
    emptyInvalid: false,
    expands: true,
    check(value, key) {
      const split = firstWord(value);
      if (!split || split.rest === '')
        return bad(key, value, `a device path followed by ${what}`, `/dev/sda ${example}`);
      if (valid(split.rest)) return null;
      return bad(key, value, `a device path followed by ${what} (${q(split.rest)} is not)`, `/dev/sda ${example}`);
    },
  };
}

/** extract_first_word(EXTRACT_UNQUOTE): the first word (quotes group) and what follows it. */
function firstWord(value: string): { word: string; rest: string } | null {
  let i = 0;
  let quote: string | null = null;
  let word = '';
  for (; i < value.length; i++) {
    const c = value[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ' ' || c === '\t') break;
    else word += c;
  }
  if (quote || word === '') return null;
  return { word, rest: value.slice(i).trim() };
}

const ioBytes = (v: string) => {
  if (v === 'infinity') return true;
  const n = parseSize(v, 1000n);
  return n !== null && n > 0n;
};

// ---------------------------------------------------------------------------------------------
// booleans with a second grammar

const NAMESPACES = ['cgroup', 'ipc', 'net', 'mnt', 'pid', 'user', 'uts'];
const CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'io',
  'blkio',
  'memory',
  'devices',
  'pids',
  'bpf-firewall',
  'bpf-devices',
  'bpf-foreign',
  'bpf-socket-bind',
  'bpf-restrict-network-interfaces',
];

/** A boolean, or a list of words from `words` (after an optional '~' when `invert`). */
function boolOrList(what: string, words: readonly string[], invert: boolean): Validator {
  return {
    emptyInvalid: false,
    check(value, key) {
      if (isBoolean(value)) return null;
      const list = invert && value.startsWith('~') ? value.slice(1) : value;
      const unknown = list.split(/[ \t\n\r]+/).find((w) => w !== '' && !words.includes(w));
      if (unknown === undefined) return null;
      return {
        rule: 'VAL04',
        certain: true,
        message: `${key}= ${q(unknown)} is not ${what}; expected a boolean or ${invert ? '[~]' : ''}${words.join(' ')}`,
      };
    },
  };
}

/**
 * A setting only some unit types support (Delegate=: services and scopes; ManagedOOM*=: and
 * slices): elsewhere systemd warns "not supported for this unit type" and ignores it.
 */
function onlyIn(sections: readonly string[], section: string, v: Validator): Validator {
  if (sections.includes(section)) return v;
  const where = sections.map((x) => `[${x}]`).join(', ');
  return {
    ...v,
    check(_value, key) {
      return {
        rule: 'VAL04',
        certain: false,
        message: `${key}= is not supported in [${section}] (only in ${where}): systemd ignores it`,
      };
    },
  };
}

const managedOomMode = grammar('auto or kill', 'kill', (v) => v === 'auto' || v === 'kill');

/**
 * config_parse_exec_directories (RuntimeDirectory=, StateDirectory=, ...): words of relative,
 * normalized paths (not "private"), each optionally `:DEST` (not for ConfigurationDirectory=).
 */
const execDirectories: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const words = splitWords(value);
    if (!words) return bad(key, value, 'a list of directory names (unbalanced quote)', 'myservice');
    for (const { word } of words) {
      // extract_many_words(":"): SRC and an optional DEST; anything after a second ':' is dropped.
      const [src = '', dest = ''] = word.split(':');
      if (dest !== '' && key === 'ConfigurationDirectory')
        return bad(key, value, `a list of directory names (${q(word)}: no :DEST for this key)`, 'myservice');
      for (const path of dest === '' ? [src] : [src, dest]) {
        const segs = path.split('/').filter((x) => x !== '');
        if (path.startsWith('/'))
          return bad(
            key,
            value,
            `a list of names relative to the directory systemd picks (${q(path)} is absolute)`,
            'myservice',
          );
        if (segs.length === 0 || segs.includes('..') || (path === src && segs[0] === 'private'))
          return bad(key, value, `a list of directory names (${q(path)} is not a valid one)`, 'myservice');
      }
    }
    return null;
  },
};

/** A word of `values`, or a number up to `max` (DEFINE_STRING_TABLE_LOOKUP_WITH_FALLBACK). */
function wordOrNumber(values: readonly string[], max: bigint | null, emptyInvalid: boolean): Validator {
  return grammar(
    `one of ${values.join(', ')}${max === null ? '' : ` or a number 0..${max}`}`,
    values[0]!,
    (v) => values.includes(v) || (max !== null && inRange(v, 64, 0n, max)),
    { emptyInvalid },
  );
}

// ---------------------------------------------------------------------------------------------

/** Validators by parser function (without config_parse_), given the parser's ltype. */
export const RESOURCE_PARSERS: Record<string, (ltype: string | undefined, section: string) => Validator> = {
  cpu_quota: () => cpuQuota,
  cg_weight: () => weight(1n, 10000n),
  cg_cpu_weight: () => weight(1n, 10000n, true),
  cpu_shares: () => weight(2n, 262144n),
  blockio_weight: () => weight(10n, 1000n),
  memory_limit: () => memoryLimit,
  tasks_max: () => tasksMax,
  managed_oom_mem_pressure_limit: (_, section) => onlyIn(['Service', 'Scope', 'Slice'], section, pressureLimit),
  managed_oom_mode: (_, section) => onlyIn(['Service', 'Scope', 'Slice'], section, managedOomMode),
  allowed_cpuset: () => cpuSet(null, true),
  exec_cpu_affinity: () => cpuSet('numa', true),
  numa_mask: () => cpuSet('all', false),
  io_limit: () => deviceValue('a rate (bytes or operations per second, K/M/G suffixes) or infinity', '10M', ioBytes),
  io_device_weight: () => deviceValue('a weight (1..10000)', '200', (v) => inRange(v, 64, 1n, 10000n)),
  io_device_latency: () => deviceValue('a time span', '25ms', (v) => parseTimespan(v, 'sec').ok),
  blockio_device_weight: () => deviceValue('a weight (10..1000)', '500', (v) => inRange(v, 64, 10n, 1000n)),
  blockio_bandwidth: () =>
    deviceValue('a rate (bytes per second, K/M/G suffixes)', '10M', (v) => {
      const n = parseSize(v, 1000n);
      return n !== null && n > 0n;
    }),
  rlimit,
  set_status: () => setStatus,
  exit_status: () => exitStatus,
  exec_nice: () => grammar('a nice level (-20..19)', '5', (v) => inRange(v, 32, -20n, 19n, true)),
  exec_oom_score_adjust: () =>
    grammar('an OOM score adjustment (-1000..1000)', '-500', (v) => inRange(v, 32, -1000n, 1000n, true)),
  exec_io_priority: () => grammar('an I/O priority (0..7)', '4', (v) => inRange(v, 32, 0n, 7n, true)),
  exec_cpu_sched_prio: () =>
    grammar('a real-time priority (0..99)', '50', (v) => inRange(v, 32, 0n, 99n, true), { emptyInvalid: true }),
  swap_priority: () => grammar('a swap priority (-1..32767)', '10', (v) => inRange(v, 32, -1n, 32767n, true)),
  tty_size: () => grammar('an unsigned number', '80', (v) => safeAtou(v, 32).ok),
  exec_mount_apivfs: () => grammar('a boolean', 'yes', isBoolean),
  job_mode_isolate: () => grammar('a boolean', 'yes', isBoolean, { emptyInvalid: true }),
  sec_def_infinity: () => grammar('a time span', '100ms', (v) => parseTimespan(v, 'sec').ok),
  restrict_namespaces: () => boolOrList('a namespace type', NAMESPACES, true),
  delegate: (_, section) =>
    onlyIn(['Service', 'Scope'], section, boolOrList('a cgroup controller', CONTROLLERS, false)),
  user_group_compat: () => userGroup,
  exec_directories: () => execDirectories,
  capability_set: () => capabilitySet,
  ip_tos: () => wordOrNumber(['low-delay', 'throughput', 'reliability', 'low-cost'], 255n, false),
  numa_policy: () => wordOrNumber(['default', 'preferred', 'bind', 'interleave', 'local'], null, false),
  exec_mount_flags: () => wordOrNumber(['shared', 'slave', 'private'], null, false),
};
