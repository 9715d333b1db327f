/**
 * The linter's rule registry (docs/lint.md's catalogue, as implemented). Used by docs/lint.md and
 * by the SARIF formatter. `severity` is the rule's usual severity; a rule may report a lower one
 * when it cannot be sure (e.g. VAL02 for a time zone only the target machine's tzdata can confirm).
 */
import type { Severity } from '../../diag.js';

export interface RuleInfo {
  id: string;
  severity: Severity;
  summary: string;
  /** Where the rule is implemented, when not in src/unit/lint (the parser, [X-Fleet], fleet.yaml). */
  source?: string;
}

export const RULES: readonly RuleInfo[] = [
  // syntax (emitted by the parser, src/unit/parse.ts)
  { id: 'SYN01', severity: 'error', summary: 'invalid or unsafe section header', source: 'src/unit/parse.ts' },
  { id: 'SYN02', severity: 'warning', summary: "line without '=' or with an empty key", source: 'src/unit/parse.ts' },
  {
    id: 'SYN03',
    severity: 'warning',
    summary: 'assignment before the first section header',
    source: 'src/unit/parse.ts',
  },
  {
    id: 'SYN04',
    severity: 'error',
    summary: 'invalid UTF-8 or a logical line of 1 MiB or more',
    source: 'src/unit/parse.ts',
  },
  {
    id: 'SYN05',
    severity: 'info',
    summary: "comment line ending in '\\' (continues nothing)",
    source: 'src/unit/parse.ts',
  },
  {
    id: 'SYN06',
    severity: 'warning',
    summary: "'#' or ';' after a value is part of the value, not a comment",
    source: 'src/unit/parse.ts',
  },
  // sections and keys
  { id: 'SCT01', severity: 'warning', summary: 'section unknown for the unit type (systemd skips its body)' },
  {
    id: 'KEY01',
    severity: 'warning',
    summary: 'unknown key, key in the wrong section, or wrong case (with "did you mean")',
  },
  { id: 'KEY02', severity: 'warning', summary: 'key removed from systemd (ignored)' },
  { id: 'KEY03', severity: 'warning', summary: 'deprecated key or value (with its replacement)' },
  { id: 'KEY04', severity: 'warning', summary: 'single-valued key set more than once in one file (the last one wins)' },
  // values
  { id: 'VAL01', severity: 'error', summary: 'invalid boolean' },
  { id: 'VAL02', severity: 'error', summary: 'invalid time span or OnCalendar= expression' },
  {
    id: 'VAL03',
    severity: 'error',
    summary: 'invalid enumerated value (Type=, Restart=, KillMode=, NotifyAccess=, ...)',
  },
  { id: 'VAL04', severity: 'error', summary: 'invalid number, size, file mode, signal or path' },
  { id: 'VAL05', severity: 'error', summary: 'unknown %-specifier' },
  { id: 'VAL06', severity: 'warning', summary: 'deprecated %-specifier (%c, %r, %R)' },
  { id: 'VAL07', severity: 'warning', summary: 'Documentation= entry that is not an http(s)/file/info/man URL' },
  {
    id: 'VAL08',
    severity: 'error',
    summary: 'invalid unit name in a dependency list, Unit=, Service=, Slice= or Sockets=',
  },
  // exec and service
  { id: 'EXE01', severity: 'error', summary: 'Exec command neither an absolute path nor a plain program name' },
  { id: 'EXE03', severity: 'error', summary: 'several ExecStart= without Type=oneshot' },
  {
    id: 'SVC01',
    severity: 'error',
    summary: 'service without ExecStart= (unless oneshot with RemainAfterExit= or SuccessAction=)',
  },
  {
    id: 'SVC02',
    severity: 'error',
    summary: 'Type=oneshot with Restart=always or on-success, or with ExitType=cgroup',
  },
  { id: 'SVC03', severity: 'error', summary: 'Type=dbus without BusName=' },
  { id: 'SVC05', severity: 'error', summary: 'PAMName= with a KillMode= other than control-group or mixed' },
  {
    id: 'SVC06',
    severity: 'warning',
    summary: 'a setting systemd ignores in this combination (RuntimeMaxSec= with Type=oneshot)',
  },
  {
    id: 'SVC07',
    severity: 'warning',
    summary: 'two services of the repo claim the same BusName= (systemd refuses the second on a machine)',
  },
  {
    id: 'SVC04',
    severity: 'warning',
    summary: 'simple/exec/notify service whose command daemonizes (docker run -d, --daemon)',
  },
  // dependencies and triggers
  {
    id: 'DEP01',
    severity: 'info',
    summary: 'Requires=/BindsTo=/Wants= without After= or Before= (ordering is separate)',
  },
  {
    id: 'DEP02',
    severity: 'warning',
    summary: 'Requires=/BindsTo=/Requisite= on a unit neither in the repo nor a well-known system unit',
  },
  {
    id: 'DEP03',
    severity: 'warning',
    summary: 'Before= a .device unit (systemd ignores it: devices cannot be delayed)',
  },
  { id: 'TRG01', severity: 'error', summary: 'timer without On*=, socket without Listen*=, path without Path*=' },
  { id: 'TRG02', severity: 'warning', summary: 'the unit a timer, socket or path triggers is not in the repo' },
  {
    id: 'TRG03',
    severity: 'error',
    summary:
      'socket with Accept=yes that systemd refuses (Service=, non-stream listeners, MaxConnections=0) or without a ' +
      'template service',
  },
  // install, names, fleet
  {
    id: 'USR01',
    severity: 'warning',
    summary: 'User=nobody, or a user/group name outside the strict rules (systemd warns)',
  },
  { id: 'INS01', severity: 'warning', summary: 'launched unit whose [Install] section names nothing' },
  { id: 'INS02', severity: 'error', summary: 'invalid unit name in [Install], or an Alias= of another unit type' },
  { id: 'NAM01', severity: 'error', summary: 'file name is not a valid unit name' },
  { id: 'MSK01', severity: 'warning', summary: 'empty (0-byte) file: systemd treats it as a masked unit' },
  { id: 'NAM02', severity: 'error', summary: 'mount/automount unit name does not match Where= (swap: What=)' },
  { id: 'NAM03', severity: 'error', summary: 'a unit type systemd does not load from files (.scope)' },
  {
    id: 'MNT01',
    severity: 'error',
    summary: 'mount unit without What=, or a mount/automount for an API file system (/proc, /sys, /dev, /run, ...)',
  },
  { id: 'FLT01', severity: 'warning', summary: 'unknown or deprecated [X-Fleet] key', source: 'src/unit/xfleet.ts' },
  {
    id: 'FLT02',
    severity: 'error',
    summary: 'invalid [X-Fleet] combination (Global with MachineOf, MachineID with others, ...)',
    source: 'src/unit/xfleet.ts',
  },
  {
    id: 'FLT03',
    severity: 'error',
    summary: 'invalid [X-Fleet] value (machine id, unit name, glob, metadata)',
    source: 'src/unit/xfleet-values.ts',
  },
  {
    id: 'DRP01',
    severity: 'error',
    summary:
      'a drop-in directory for a unit the repo does not have (a warning for prefix and type-wide ones that apply ' +
      'to no unit)',
    source: 'src/desired/repo.ts',
  },
  {
    id: 'DRP02',
    severity: 'warning',
    summary:
      'a file in a drop-in directory that systemd does not read (not *.conf, hidden); an error when gitfleet cannot ' +
      'deploy it',
    source: 'src/source/files.ts',
  },
  {
    id: 'DRP03',
    severity: 'warning',
    summary: "[Install] in a prefix or type-wide drop-in (deployed as each unit's own drop-in, where enable reads it)",
  },
  {
    id: 'SYSTEMD',
    severity: 'warning',
    summary:
      'a finding of systemd-analyze verify (gitfleet lint --systemd); an error when systemd cannot load the unit',
    source: 'src/unit/lint/systemd.ts',
  },
  {
    id: 'LINT',
    severity: 'warning',
    summary: 'a linter rule failed on this file (a gitfleet bug; the file is not blamed)',
  },
  // fleet.yaml (emitted by src/spec)
  {
    id: 'YML01',
    severity: 'error',
    summary: 'fleet.yaml is not valid YAML or does not match the schema',
    source: 'src/spec',
  },
  { id: 'YML02', severity: 'error', summary: 'fleet.yaml names a unit the repo does not have', source: 'src/spec' },
  {
    id: 'YML03',
    severity: 'error',
    summary: 'fleet.yaml names an instance of a template the repo does not have',
    source: 'src/spec',
  },
  {
    id: 'YML04',
    severity: 'error',
    summary: 'fleet.yaml state other than inactive, loaded or launched',
    source: 'src/spec',
  },
];

const BY_ID = new Map(RULES.map((r) => [r.id, r] as const));

/** The registry entry of a rule id, if known. */
export function ruleInfo(id: string): RuleInfo | undefined {
  return BY_ID.get(id);
}
