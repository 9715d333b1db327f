/**
 * The names and values of systemd's D-Bus API, pure: bus names, paths and interfaces, unit object
 * paths (systemd's escaping), and D-Bus values turned into plain JS (src/systemd/manager.ts).
 */
import * as dbus from 'dbus-next';

export const SYSTEMD_NAME = 'org.freedesktop.systemd1';
export const MANAGER_PATH = '/org/freedesktop/systemd1';
export const MANAGER_IFACE = 'org.freedesktop.systemd1.Manager';
export const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
export const UNIT_PATH_PREFIX = '/org/freedesktop/systemd1/unit/';
export const PROPS_IFACE = 'org.freedesktop.DBus.Properties';
export const DBUS_NAME = 'org.freedesktop.DBus';
export const DBUS_PATH = '/org/freedesktop/DBus';
/** dbus-next's MessageType.SIGNAL (the enum is not exported as a value in its typings). */
export const SIGNAL = 4;
/** A template name (foo@.service): it has no unit object of its own. */
export const TEMPLATE = /^[^@]+@\.[a-z]+$/;

/** A D-Bus reply body: dbus-next types it only at run time (by the call's signature). */
// biome-ignore lint/suspicious/noExplicitAny: values are typed by the D-Bus signature, checked where read
export type DbusBody = any[];

/** One change systemd made to unit files/links (LinkUnitFiles, EnableUnitFiles, DisableUnitFiles). */
export interface UnitFileChange {
  type: string;
  file: string;
  destination: string;
}

/**
 * Unit name -> its D-Bus object path, as systemd's bus_label_escape does it: every byte that is
 * not [A-Za-z0-9] (and a leading digit) becomes `_xx` (two lowercase hex digits).
 */
export function unitObjectPath(name: string): string {
  if (name === '') return UNIT_PATH_PREFIX + '_';
  let out = '';
  const bytes = Buffer.from(name, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    if (alpha || (digit && i > 0)) out += String.fromCharCode(c);
    else out += '_' + c.toString(16).padStart(2, '0');
  }
  return UNIT_PATH_PREFIX + out;
}

/** The inverse of unitObjectPath; null for a path that is not a unit's. */
export function unitNameFromObjectPath(path: string): string | null {
  if (!path.startsWith(UNIT_PATH_PREFIX)) return null;
  const label = path.slice(UNIT_PATH_PREFIX.length);
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const ch = label[i]!;
    if (ch === '_') {
      const hex = label.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** D-Bus values -> plain JS: BigInt to number (or string past 2^53), Variants unwrapped. */
export function plain(v: unknown): unknown {
  if (typeof v === 'bigint')
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof dbus.Variant) return plain(v.value);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

export function toChanges(rows: unknown): UnitFileChange[] {
  return ((rows ?? []) as string[][]).map(([type, file, destination]) => ({
    type: String(type),
    file: String(file),
    destination: String(destination),
  }));
}

export function describeArgs(body: unknown[]): string {
  return body
    .map((b) => (typeof b === 'string' ? b : JSON.stringify(b, (_k, x) => (typeof x === 'bigint' ? String(x) : x))))
    .join(', ');
}

/** Unit file names gitfleet writes must be a single path component (no traversal). */
export function assertPlainUnitName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`refusing to write unit file "${name}": not a plain file name`);
  }
}
