/**
 * Differential test of the value validators against systemd 252 itself: every key of the generated
 * key table that the linter value-checks is assigned a set of sample values (valid and invalid for
 * its type) in a scratch unit, and `systemd-analyze verify` says which lines its parser refuses.
 * The linter must never call an error what systemd accepts, and must flag what systemd refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_TABLE } from '../../../src/unit/keytable.generated.js';
import { deprecation } from '../../../src/unit/lint/keys.js';
import { judgeValue, parserOf, validatorFor } from '../../../src/unit/lint/validate.js';
import type { Validator } from '../../../src/unit/lint/values.js';
import { pool, probeAssignments } from './support/oracle.js';

/** Sample values by key-table type (and by key for keys checked by name). */
const SAMPLES: Record<string, string[]> = {
  BOOLEAN: ['yes', 'NO', 'On', '1', 't', 'F', 'maybe', '2', 'enabled', ''],
  SECONDS: ['5', '5min 20s', '1h30', 'infinity', '.5s', '5x', '-1', '5.', '1e3', ''],
  NANOSECONDS: ['5', '10ns', '1ms', 'infinity', 'fast', '-5', ''],
  TIMER: ['5min', 'infinity', '1h 30', 'soon', '-1', ''],
  OnCalendar: [
    'daily',
    'Mon..Fri *-*-* 09:00',
    '*:0/15',
    '*-*-* 25:00',
    'Tuesdays',
    'hourly UTC',
    '12:00 Europe/Berlin',
    '',
  ],
  SERVICETYPE: ['simple', 'notify', 'oneshot', 'Simple', 'notify-reload', 'daemon', ''],
  SERVICERESTART: ['always', 'on-failure', 'on-abort', 'ALWAYS', 'sometimes', ''],
  SERVICEEXITTYPE: ['main', 'cgroup', 'Main', ''],
  KILLMODE: ['control-group', 'mixed', 'process', 'none', 'all', ''],
  ACCESS: ['none', 'main', 'exec', 'all', 'everyone', ''],
  TIMEOUTMODE: ['terminate', 'abort', 'kill', 'stop', ''],
  SOCKETBIND: ['default', 'both', 'ipv6-only', 'yes', 'no', 'On', 'ipv4', ''],
  ACTION: ['none', 'reboot', 'poweroff-immediate', 'exit-force', 'kexec', 'halt', 'Reboot', ''],
  OUTPUT: [
    'journal',
    'null',
    'kmsg+console',
    'file:/tmp/x',
    'append:/tmp/x',
    'fd:foo',
    'socket',
    'syslog',
    'file:rel',
    'Journal',
    'stdout',
    '',
  ],
  INPUT: ['null', 'tty-force', 'data', 'file:/tmp/x', 'fd:x', 'socket', 'journal', 'file:rel', ''],
  IOCLASS: ['idle', 'best-effort', 'realtime', '2', '4', 'low', ''],
  CPUSCHEDPOLICY: ['other', 'fifo', 'rr', 'FIFO', 'deadline', ''],
  LEVEL: ['info', 'debug', '7', '8', 'warn', 'INFO', ''],
  FACILITY: ['daemon', 'local7', 'local8', 'DAEMON', ''],
  POLICY: ['auto', 'closed', 'strict', 'open', ''],
  MODE: ['0755', '022', '7777', '10000', '0999', '0o22', 'rwx', '-0', ''],
  OnSuccessJobMode: ['fail', 'replace', 'triggering', 'restart-dependencies', 'Fail', ''],
  OnFailureJobMode: ['fail', 'isolate', 'ignore-requirements', 'sometimes', ''],
  SIGNAL: [
    'SIGTERM',
    'TERM',
    '15',
    'SIGRTMIN+3',
    'RTMAX-2',
    '64',
    'sigterm',
    '65',
    '0',
    'SIGFOO',
    'SIGIOT',
    '0x0f',
    '+15',
    '',
  ],
  UNSIGNED: ['5', '0', '4294967295', '0x10', '+5', '4294967296', '-1', '5k', 'many', ''],
  INTEGER: ['5', '-5', '0x10', '2147483648', 'x', ''],
  LONG: ['5', '-5', '100000', 'x', ''],
  NICE: ['0', '-20', '19', '20', '-21', 'low', ''],
  OOMSCOREADJUST: ['0', '-1000', '1000', '1001', 'x', ''],
  IOPRIORITY: ['0', '7', '8', 'x', ''],
  SIZE: ['4096', '64K', '2M', '1.5G', 'big', '-1', ''],
  TimeoutSec: ['5', 'infinity', '5min', '5x', ''],
  TimeoutStopSec: ['5', 'infinity', '1m 30s', 'never', ''],
  TimeoutIdleSec: ['5', 'infinity', 'x', ''],
  JobTimeoutSec: ['5', 'infinity', 'x', ''],
  JobRunningTimeoutSec: ['5', 'infinity', 'x', ''],
  TimeoutAbortSec: ['5', 'infinity', 'x', ''],
  CollectMode: ['inactive', 'inactive-or-failed', 'failed', ''],
  OOMPolicy: ['continue', 'stop', 'kill', 'restart', ''],
  KeyringMode: ['inherit', 'private', 'shared', 'none', ''],
  ProtectProc: ['noaccess', 'invisible', 'ptraceable', 'default', 'hidden', ''],
  ProcSubset: ['all', 'pid', 'none', ''],
  UtmpMode: ['init', 'login', 'user', 'x', ''],
  Timestamping: ['off', 'us', 'nanoseconds', 'ms', ''],
  ManagedOOMSwap: ['auto', 'kill', 'stop', ''],
  ManagedOOMMemoryPressure: ['auto', 'kill', 'stop', ''],
  ManagedOOMPreference: ['none', 'avoid', 'omit', 'x', ''],
  ProtectSystem: ['yes', 'full', 'strict', 'no', 'read-only', ''],
  ProtectHome: ['yes', 'read-only', 'tmpfs', 'full', ''],
  RuntimeDirectoryPreserve: ['yes', 'no', 'restart', 'always', ''],
  CPUSCHEDPRIO: ['0', '99', '100', '-1', 'high', ''],
  PATH: ['/tmp/x', 'relative/x', 'x', '%t/x', ''],
  'PATH [...]': ['/a /b', '-/a +/b', '"/a b"', 'rel', '/a rel', '"/a', ''],
  FILE: ['/etc/x', '-/etc/x', 'rel', '-rel', ''],
  ENVIRON: ['A=1', 'A=1 B="2 3"', '"A=1 2"', 'A=', '_x=1', '1A=x', 'A', 'A-B=1', '"A=1', ''],
  WorkingDirectory: ['/tmp', '~', '-/tmp', '-~', 'rel', ''],
  RequiresMountsFor: ['/var /srv', 'var', '-/var', ''],
  ConditionPathExists: ['/x', '!/x', '|/x', '|!/x', 'x', '!x', ''],
  AssertFileIsExecutable: ['/bin/true', '!/x', 'bin/true', ''],
  ConditionNeedsUpdate: ['/etc', '!/var', 'etc', ''],
  IOSchedulingClass: ['idle', 'best-effort', '2', '4', '8', '100', '-1', '0x2', 'low', ''],
  SyslogLevel: ['info', '0x2', '07', '08', 'INFO', ''],
  ReceiveBuffer: ['4096', '5 K', '5.5', '5E', '5KB', '5k', '0x10', '20E', ''],
  // by parser function (parsers.generated.ts), for keys the linter checks by their parser
  cpu_quota: ['20%', '150%', '12.5%', '12.555%', '0%', '20', '1‰', '5‱', '-5%', ''],
  cg_weight: ['1', '10000', '0', '10001', 'idle', '0x10', 'x', ''],
  cg_cpu_weight: ['idle', '1', '10000', '0', '10001', 'x', ''],
  cpu_shares: ['2', '262144', '1', '262145', ''],
  blockio_weight: ['10', '1000', '5', ''],
  memory_limit: ['512M', '1G 512M', '512M 1G', 'infinity', '50%', '12.5%', '0', '0%', '101%', '5B', '5KB', 'x', ''],
  tasks_max: ['4096', 'infinity', '0', '0%', '50%', '150%', '-1', 'x', ''],
  managed_oom_mem_pressure_limit: ['50%', '0%', '101%', 'x', ''],
  managed_oom_mode: ['auto', 'kill', 'stop', ''],
  allowed_cpuset: ['0-3', '0,1 2', '3-1', '8191', '8192', 'a', '0-', ''],
  exec_cpu_affinity: ['numa', '0-1', 'x', ''],
  numa_mask: ['all', '0', 'x', ''],
  io_limit: ['/dev/sda 10M', '/dev/sda', '/dev/sda infinity', '/dev/sda 0', '/dev/sda x', '"/dev/a b" 1K', ''],
  io_device_weight: ['/dev/sda 100', '/dev/sda 0', '/dev/sda 10001', '/dev/sda x', ''],
  io_device_latency: ['/dev/sda 25ms', '/dev/sda x', '/dev/sda', ''],
  blockio_device_weight: ['/dev/sda 500', '/dev/sda 5', ''],
  blockio_bandwidth: ['/dev/sda 10M', '/dev/sda infinity', ''],
  rlimit: [
    '1024',
    '1024:4096',
    '4096:1024',
    'infinity',
    '1024:infinity',
    '64K',
    '5min',
    '-5',
    '+5',
    '1:2:3',
    '5:',
    'x',
    '',
  ],
  set_status: ['0 1', '255', '256', 'SIGTERM', 'TERM 15', 'TEMPFAIL', 'tempfail', 'RTMIN+3', 'SIGFOO', '-1', ''],
  exit_status: ['0', '255', '256', 'x', ''],
  swap_priority: ['-1', '32767', '-2', '32768', 'x', ''],
  tty_size: ['80', '0', '-1', 'x', ''],
  exec_mount_apivfs: ['yes', 'x', ''],
  job_mode_isolate: ['yes', 'x', ''],
  sec_def_infinity: ['10ms', '1s', 'x', ''],
  restrict_namespaces: ['yes', 'no', 'net ipc', '~net', 'foo', ''],
  delegate: ['yes', 'no', 'cpu memory', 'cpu foo', ''],
  capability_set: ['CAP_NET_BIND_SERVICE', 'cap_sys_admin CAP_CHOWN', '~CAP_SYS_PTRACE', '12', 'CAP_BOGUS', ''],
  exec_directories: ['foo', 'foo/bar baz', '/run/foo', '../x', 'private', 'foo:bar', 'a:/b', ''],
  ip_tos: ['low-delay', '16', '255', '256', 'x', ''],
  numa_policy: ['bind', 'interleave', 'x', ''],
  exec_mount_flags: ['shared', 'private', 'x', ''],
  user_group_compat: ['root', 'nobody', '0', '65534', 'foo.bar', 'a:b', '123x', '-1', ''],
};

interface Case {
  section: string;
  key: string;
  value: string;
  validator: Validator;
}

function casesFor(): Map<string, Case[]> {
  const bySection = new Map<string, Case[]>();
  const seen = new Set<string>();
  for (const [section, keys] of Object.entries(KEY_TABLE)) {
    if (section === 'Scope') continue; // scope units cannot be loaded from files
    for (const [key, type] of Object.entries(keys)) {
      const validator = validatorFor(section, key, type);
      if (!validator) continue;
      const id = `${key}=${type}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const parser = parserOf(section, key)?.parser ?? '';
      const samples =
        SAMPLES[key] ?? SAMPLES[parser] ?? (type === 'CONDITION' ? SAMPLES.ConditionPathExists : SAMPLES[type]);
      if (!samples) throw new Error(`no samples for ${section}.${key} (${type})`);
      const list = bySection.get(section) ?? [];
      for (const value of samples) list.push({ section, key, value, validator });
      bySection.set(section, list);
    }
  }
  return bySection;
}

/** The linter's verdict on the line: its value check, or KEY03 for a deprecated key (systemd warns on those). */
function ours(c: Case): 'error' | 'warning' | 'ok' {
  return judgeValue(c.validator, c.key, c.value)?.severity ?? (deprecation(c.section, c.key) ? 'warning' : 'ok');
}

test('value validators agree with systemd 252 on every value-checked key of the key table', async () => {
  const bySection = casesFor();
  const falseErrors: string[] = [];
  const missed: string[] = [];
  let total = 0;
  let agreeExactly = 0;
  await pool([...bySection.entries()], 2, async ([section, cases]) => {
    const flagged = await probeAssignments(
      section,
      cases.map((c) => `${c.key}=${c.value}`),
    );
    cases.forEach((c, i) => {
      total++;
      const v = ours(c);
      const line = `[${section}] ${c.key}=${JSON.stringify(c.value)}`;
      if (!flagged[i] && v === 'error') falseErrors.push(line);
      if (flagged[i] && v === 'ok') missed.push(line);
      if (flagged[i] === (v !== 'ok')) agreeExactly++;
    });
  });
  assert.deepEqual(
    { falseErrors, missed },
    { falseErrors: [], missed: [] },
    'falseErrors: values systemd accepts that gitfleet calls errors; missed: values systemd refuses that gitfleet ' +
      'lets through',
  );
  assert.ok(total > 1000, `only ${total} cases`);
  console.log(`# value validators: ${agreeExactly}/${total} samples agree exactly with systemd`);
});

/**
 * Booleans and other common words and numbers in every value-checked key of every section: where
 * gitfleet says error, systemd must refuse the line too. This is the net for parsers that take a
 * boolean as well as their own words (ProtectSystem=, BindIPv6Only=, Timestamping=, Delegate=,
 * ...) and for lookups with a numeric fallback (CPUSchedulingPolicy=).
 */
const COMMON = ['yes', 'no', 'true', '0', '1', '-1', '100', 'infinity', '50%', 'foo', '1K', '/dev/null', '0x10', '+5'];

test('no false error on booleans and common values in any key of any section', async () => {
  const falseErrors: string[] = [];
  let probed = 0;
  const sections = Object.entries(KEY_TABLE).filter(([s]) => s !== 'Scope' && s !== 'Install');
  await pool(sections, 2, async ([section, keys]) => {
    const cases: string[] = [];
    for (const [key, type] of Object.entries(keys)) {
      const v = validatorFor(section, key, type);
      if (!v) continue;
      for (const value of COMMON) if (judgeValue(v, key, value)?.severity === 'error') cases.push(`${key}=${value}`);
    }
    const flagged = await probeAssignments(section, cases);
    probed += cases.length;
    cases.forEach((c, i) => {
      if (!flagged[i]) falseErrors.push(`[${section}] ${c}`);
    });
  });
  assert.deepEqual(falseErrors, []);
  assert.ok(probed > 1000, `only ${probed} lines probed`);
});
