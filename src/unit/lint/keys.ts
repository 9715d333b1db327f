/**
 * Sections and keys: SCT01 (section unknown for the unit type), KEY01 (unknown key, with "did you
 * mean"), KEY02 (removed key), KEY03 (deprecated key), KEY04 (single-valued key repeated).
 * Knowledge of valid keys comes from the generated key table (systemd's own dump).
 */
import { KEY_TABLE } from '../keytable.generated.js';
import type { UnitType } from '../types.js';
import { editDistance } from '../../desired/suggest.js';

/** The section a unit type adds to [Unit] and [Install]. */
const TYPE_SECTION: Record<UnitType, string | null> = {
  service: 'Service',
  socket: 'Socket',
  mount: 'Mount',
  automount: 'Automount',
  swap: 'Swap',
  timer: 'Timer',
  path: 'Path',
  slice: 'Slice',
  scope: 'Scope',
  device: null,
  target: null,
};

/** Sections systemd reads in a unit of this type (unknown type: every section it knows). */
export function allowedSections(type: UnitType | null): string[] {
  if (!type) return Object.keys(KEY_TABLE);
  const own = TYPE_SECTION[type];
  return own ? ['Unit', own, 'Install'] : ['Unit', 'Install'];
}

/** The key table's type of `section`'s `key`, or undefined when systemd does not know it there. */
export function keyType(section: string, key: string): string | undefined {
  const keys = KEY_TABLE[section];
  return keys && Object.hasOwn(keys, key) ? keys[key] : undefined;
}

/**
 * Keys systemd 252 no longer implements. The first five are still recognized (systemd logs "Support
 * for option X= has been removed and it is ignored"); the rest are unknown to it by now, but
 * people still copy them from old units, so they get a specific message.
 */
export const REMOVED_KEYS: Record<string, string> = {
  IgnoreOnSnapshot: 'snapshot units were removed in systemd 228',
  Capabilities: 'use CapabilityBoundingSet= and AmbientCapabilities=',
  NetClass: 'removed in systemd 228; use a net_cls cgroup controller setup outside systemd',
  SysVStartPriority: 'SysV start priorities were removed in systemd 218; use After=/Before=',
  BusPolicy: 'kdbus was removed in systemd 230',
  FsckPassNo: 'removed in systemd 210; fsck ordering comes from /etc/fstab',
  TCPWrapName: 'TCP wrappers support was removed in systemd 236',
  ControlGroup: 'removed in systemd 205; use Slice= and the resource-control settings',
  ControlGroupModify: 'removed in systemd 205; use Delegate=',
  ControlGroupPersistent: 'removed in systemd 205',
  ControlGroupAttribute: 'removed in systemd 205; use the resource-control settings (CPUWeight=, MemoryMax=, ...)',
  PostStartJobTimeoutSec: 'removed; use JobTimeoutSec=',
  Names: 'removed; use Alias= in [Install]',
};

/** Deprecated keys: systemd still honours them, the message says what replaces them. */
const DEPRECATED_ANYWHERE: Record<string, string> = {
  MemoryLimit: 'use MemoryMax= (systemd: "Support for MemoryLimit= will be removed soon")',
  CPUShares: 'use CPUWeight=',
  StartupCPUShares: 'use StartupCPUWeight=',
  BlockIOAccounting: 'use IOAccounting=',
  BlockIOWeight: 'use IOWeight=',
  StartupBlockIOWeight: 'use StartupIOWeight=',
  BlockIODeviceWeight: 'use IODeviceWeight=',
  BlockIOReadBandwidth: 'use IOReadBandwidthMax=',
  BlockIOWriteBandwidth: 'use IOWriteBandwidthMax=',
  PermissionsStartOnly: "use the '+' prefix on the Exec lines that need full privileges",
  RequiresOverridable: 'obsolete; systemd treats it as Requires=',
  RequisiteOverridable: 'obsolete; systemd treats it as Requisite=',
  OnFailureIsolate: 'use OnFailureJobMode=isolate',
};

/** Keys that moved from [Service] to [Unit] in systemd 229; [Service] still accepts them. */
const MOVED_TO_UNIT = new Set([
  'StartLimitInterval',
  'StartLimitBurst',
  'StartLimitAction',
  'FailureAction',
  'RebootArgument',
]);

/** The deprecation message for a known key, or null. */
export function deprecation(section: string, key: string): string | null {
  if (section === 'Service' && MOVED_TO_UNIT.has(key)) {
    const to = key === 'StartLimitInterval' ? 'StartLimitIntervalSec' : key;
    return `${key}= in [Service] is deprecated: move it to [Unit] as ${to}=`;
  }
  const d = DEPRECATED_ANYWHERE[key];
  return d ? `${key}= is deprecated: ${d}` : null;
}

/**
 * Types whose keys hold one value (the last assignment wins). Repeating such a key in one file is
 * usually a copy-paste mistake. List-valued types (UNIT [...], PATH [...], CONDITION, TIMER, URL,
 * ENVIRON, exec lines, ...) and OTHER are not checked.
 */
const SCALAR_TYPES = new Set([
  'BOOLEAN',
  'SECONDS',
  'NANOSECONDS',
  'SERVICETYPE',
  'SERVICERESTART',
  'SERVICEEXITTYPE',
  'KILLMODE',
  'ACCESS',
  'TIMEOUTMODE',
  'SOCKETBIND',
  'ACTION',
  'OUTPUT',
  'INPUT',
  'IOCLASS',
  'IOPRIORITY',
  'CPUSCHEDPOLICY',
  'CPUSCHEDPRIO',
  'LEVEL',
  'FACILITY',
  'MODE',
  'SIGNAL',
  'UNSIGNED',
  'INTEGER',
  'LONG',
  'NICE',
  'OOMSCOREADJUST',
  'SIZE',
  'UNIT',
  'SLICE',
  'SERVICE',
  'POLICY',
  'STRING',
]);

export function isScalarType(type: string): boolean {
  return SCALAR_TYPES.has(type);
}

/** Closest candidate by edit distance, if it is a plausible typo; case-insensitive matches first. */
export function closestName(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    if (cl === lower) return c;
    if (Math.abs(cl.length - lower.length) > 3) continue;
    const d = editDistance(lower, cl);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 4)));
  return bestDist <= limit ? best : undefined;
}

/**
 * Advice for an unknown key in `section` of a unit whose sections are `allowed`: the key's right
 * case, the section it belongs in, or its closest spelling. Empty string when nothing is close.
 */
export function keyHint(section: string, key: string, allowed: readonly string[]): string {
  const here = Object.keys(KEY_TABLE[section] ?? {});
  const lower = key.toLowerCase();
  const caseMatch = here.find((k) => k.toLowerCase() === lower);
  if (caseMatch) return `; keys are case-sensitive: did you mean ${caseMatch}=?`;
  for (const other of allowed) {
    if (other === section) continue;
    if (keyType(other, key) !== undefined) return `; ${key}= belongs in [${other}]`;
  }
  for (const other of Object.keys(KEY_TABLE)) {
    if (allowed.includes(other)) continue;
    if (keyType(other, key) !== undefined) return `; ${key}= is a [${other}] setting, not valid in this unit type`;
  }
  const near = closestName(key, here);
  if (near) return `; did you mean ${near}=?`;
  for (const other of allowed) {
    if (other === section) continue;
    const n = closestName(key, Object.keys(KEY_TABLE[other] ?? {}));
    if (n) return `; did you mean ${n}= in [${other}]?`;
  }
  return '';
}

/** Advice for a section systemd does not read in this unit type. */
export function sectionHint(name: string, allowed: readonly string[], typeName: string): string {
  const ci = allowed.find((s) => s.toLowerCase() === name.toLowerCase());
  if (ci) return `; section names are case-sensitive: did you mean [${ci}]?`;
  if (KEY_TABLE[name]) return `; [${name}] belongs in a .${name.toLowerCase()} unit, not a .${typeName} unit`;
  const near = closestName(name, allowed);
  if (near) return `; did you mean [${near}]?`;
  return `; this unit type reads ${allowed.map((s) => `[${s}]`).join(', ')} (custom sections must start with X-)`;
}
