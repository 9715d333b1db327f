/**
 * Mount, automount and swap rules: NAM02 (the name must be the escaped Where=/What= path) and
 * MNT01 (What= present, not an API file system), as systemd 252's mount_verify()/swap_verify().
 */
import { escape, parseUnitName } from '../names.js';
import { getSection, lastOption } from '../parse.js';
import type { ParsedUnit } from '../types.js';
import type { Reporter } from './report.js';

/** NAM02: a mount unit's name must be its Where= path, escaped (systemd-escape --path). */
export function checkMountName(unit: ParsedUnit, name: string, type: 'mount' | 'automount', r: Reporter): void {
  const section = type === 'mount' ? 'Mount' : 'Automount';
  const where = lastOption(unit, section, 'Where');
  const p = parseUnitName(name);
  if (!where || where.value === '' || where.value.includes('%') || !p) return;
  if (!where.value.startsWith('/')) return; // VAL04 reports it
  let expected: string;
  try {
    expected = `${escape(where.value, { path: true })}.${type}`;
  } catch (e) {
    r.option(where, 'NAM02', 'error', `Where=${where.value} cannot be a mount point: ${(e as Error).message}`);
    return;
  }
  if (expected !== name) {
    r.option(
      where,
      'NAM02',
      'error',
      `Where=${where.value} does not match the unit name: a ${type} unit for this path must be named ${expected}; ` +
        `systemd refuses to load it`,
    );
  }
}

/** mount_point_is_api() of systemd 252: mount points systemd sets up itself. */
const API_MOUNTS = new Set([
  '/proc',
  '/sys',
  '/dev',
  '/dev/shm',
  '/dev/pts',
  '/run',
  '/run/lock',
  '/sys/kernel/security',
  '/sys/fs/pstore',
  '/sys/firmware/efi/efivars',
  '/sys/fs/bpf',
  '/sys/fs/smackfs',
  '/sys/fs/selinux',
  '/sys/fs/cgroup',
]);

function simplifyPath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  return '/' + parts.join('/');
}

/** MNT01: what mount_verify() refuses besides the name: no What=, or an API file system. */
export function checkMount(unit: ParsedUnit, type: 'mount' | 'automount', r: Reporter): void {
  const section = type === 'mount' ? 'Mount' : 'Automount';
  if (type === 'mount' && !getSection(unit, 'Mount')?.options.some((o) => o.key === 'What' && o.value !== '')) {
    r.section(
      getSection(unit, 'Mount'),
      'MNT01',
      'error',
      'mount unit without What= (the device, file system or path to mount): systemd refuses to load it',
    );
  }
  const where = lastOption(unit, section, 'Where');
  if (!where?.value.startsWith('/') || where.value.includes('%')) return;
  const w = simplifyPath(where.value);
  if (API_MOUNTS.has(w) || w.startsWith('/sys/fs/cgroup/')) {
    r.option(
      where,
      'MNT01',
      'error',
      `Where=${w} is an API file system that systemd mounts itself: systemd refuses a ${type} unit for it`,
    );
  }
}

/** NAM02 for swaps: a swap unit for a device or file must be named after its What= path. */
export function checkSwapName(unit: ParsedUnit, name: string, r: Reporter): void {
  const what = lastOption(unit, 'Swap', 'What');
  if (!what?.value.startsWith('/') || what.value.includes('%')) return;
  let expected: string;
  try {
    expected = `${escape(what.value, { path: true })}.swap`;
  } catch {
    return;
  }
  if (expected !== name) {
    r.option(
      what,
      'NAM02',
      'error',
      `What=${what.value} does not match the unit name: a swap unit for this path must be named ${expected}; systemd ` +
        `refuses to load it`,
    );
  }
}
