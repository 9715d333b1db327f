/**
 * Value validators for who a unit's processes run as and with which powers: User=/Group= names
 * (config_parse_user_group_compat) and capability sets (config_parse_capability_set), each
 * mirroring systemd 252's C function. Apart from resources.ts because both are lists of names
 * systemd knows (user-name rules, the capability table) rather than resource grammars.
 */
import { safeAtoi, splitWords } from './grammar.js';
import type { Validator } from './values.js';

const q = (s: string) => JSON.stringify(s);

// ---------------------------------------------------------------------------------------------
// users and groups (config_parse_user_group_compat -> valid_user_group_name(RELAX|ALLOW_NUMERIC|WARN))

/** The strict name rules systemd warns about in relaxed mode: [A-Za-z_][A-Za-z0-9_-]*, at most 31 chars. */
const STRICT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,30}$/;

export const userGroup: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    if (/^[0-9]+$/.test(value) && BigInt(value) < 4294967295n && value !== '65535') return null;
    if (
      value.startsWith(' ') ||
      value.endsWith(' ') ||
      /[\x00-\x1f\x7f:/]/.test(value) ||
      /^-?[0-9]+$/.test(value) ||
      value === '.' ||
      value === '..'
    )
      return {
        rule: 'VAL04',
        certain: true,
        message: `${key}=${q(value)} is not a valid user/group name or numeric ID: systemd refuses to load the unit`,
      };
    if (key.includes('User') && value === 'nobody')
      return {
        rule: 'USR01',
        certain: false,
        message:
          `${key}=nobody: systemd warns "Special user nobody configured, this is not safe!" (files and processes ` +
          'of every service run as nobody are shared); use DynamicUser=yes or a user of its own',
      };
    if (!STRICT_NAME.test(value))
      return {
        rule: 'USR01',
        certain: false,
        message:
          `${key}=${q(value)} does not match the strict user/group name rules ([A-Za-z_][A-Za-z0-9_-]*, at most 31 ` +
          'characters): systemd accepts it with a notice',
      };
    return null;
  },
};

// ---------------------------------------------------------------------------------------------
// capabilities (config_parse_capability_set -> capability_from_name, a case-insensitive lookup)

/** The capabilities systemd 252 was built with (`systemd-analyze capability`), by number. */
const CAPABILITIES = [
  'chown',
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'linux_immutable',
  'net_bind_service',
  'net_broadcast',
  'net_admin',
  'net_raw',
  'ipc_lock',
  'ipc_owner',
  'sys_module',
  'sys_rawio',
  'sys_chroot',
  'sys_ptrace',
  'sys_pacct',
  'sys_admin',
  'sys_boot',
  'sys_nice',
  'sys_resource',
  'sys_time',
  'sys_tty_config',
  'mknod',
  'lease',
  'audit_write',
  'audit_control',
  'setfcap',
  'mac_override',
  'mac_admin',
  'syslog',
  'wake_alarm',
  'block_suspend',
  'audit_read',
  'perfmon',
  'bpf',
  'checkpoint_restore',
].map((c) => `cap_${c}`);

/**
 * CapabilityBoundingSet=/AmbientCapabilities=: an optional '~', then capability names or numbers
 * 0..63. systemd drops an unknown name without a word, so a typo silently grants or keeps nothing:
 * a warning (a newer kernel may know a name this build does not).
 */
export const capabilitySet: Validator = {
  emptyInvalid: false,
  check(value, key) {
    const words = splitWords(value.startsWith('~') ? value.slice(1) : value) ?? [];
    for (const { word } of words) {
      const n = safeAtoi(word, 32);
      if (n.ok ? n.value >= 0n && n.value < 64n : CAPABILITIES.includes(word.toLowerCase())) continue;
      return {
        rule: 'VAL04',
        certain: false,
        message:
          `${key}= ${q(word)} is not a capability systemd knows (e.g. CAP_NET_BIND_SERVICE): systemd ignores it ` +
          'without a warning',
      };
    }
    return null;
  },
};
