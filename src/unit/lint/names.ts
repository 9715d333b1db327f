/**
 * Unit names inside values: %-specifier expansion as far as the linter can know it (the unit's own
 * name parts), and the well-known units systemd or the distribution provides on every machine.
 */
import { parseUnitName } from '../names.js';

/** Instance used to check a template's values: every instance sees the same shape. */
export const SAMPLE_INSTANCE = 'x';

export interface Expansion {
  text: string;
  /** False when a specifier expands to something host-dependent (%H, %m, %u, ...). */
  certain: boolean;
  /** An unknown specifier was found: the value is left for VAL05. */
  unknown: boolean;
}

/**
 * Expand the specifiers that depend only on the unit's name (%n %N %p %P %i %I %j %J %%) as systemd
 * would for `unitName`; a template is expanded as one of its instances. Host-dependent specifiers
 * become a placeholder and make the result uncertain; so do the name's own when `unitName` is null
 * (a drop-in that applies to many units: a prefix or type-wide one).
 */
export function expandNameSpecifiers(
  value: string,
  unitName: string | null,
  known: (spec: string) => boolean,
): Expansion {
  if (!value.includes('%')) return { text: value, certain: true, unknown: false };
  if (unitName === null) {
    const x = expandNameSpecifiers(value, `${SAMPLE_INSTANCE}.service`, known);
    return { ...x, certain: x.certain && !/%[nNpPiIjJ]/.test(value.replace(/%%/g, '')) };
  }
  const p = parseUnitName(unitName);
  let name = unitName;
  let prefix = unitName;
  let instance = '';
  if (p) {
    instance = p.template ? SAMPLE_INSTANCE : (p.instance ?? '');
    prefix = p.prefix;
    name = p.instance !== null ? `${p.prefix}@${instance}.${p.type}` : unitName;
  }
  const noSuffix = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
  const dash = prefix.lastIndexOf('-');
  const lastPart = dash >= 0 ? prefix.slice(dash + 1) : prefix;
  let certain = true;
  let unknown = false;
  const text = value.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'n':
        return name;
      case 'N':
        return noSuffix;
      case 'p':
      case 'P':
        return prefix;
      case 'i':
      case 'I':
        return instance;
      case 'j':
      case 'J':
        return lastPart;
      default:
        if (!/[A-Za-z0-9]/.test(c)) return all;
        if (!known(c)) unknown = true;
        certain = false;
        return SAMPLE_INSTANCE;
    }
  });
  return { text, certain, unknown };
}

/**
 * Units every systemd machine has (systemd.special(7)) or that come with systemd itself. DEP02
 * does not warn about depending on them.
 */
const WELL_KNOWN = new Set([
  'basic.target',
  'bluetooth.target',
  'boot-complete.target',
  'cryptsetup-pre.target',
  'cryptsetup.target',
  'ctrl-alt-del.target',
  'default.target',
  'emergency.target',
  'exit.target',
  'factory-reset.target',
  'final.target',
  'first-boot-complete.target',
  'getty-pre.target',
  'getty.target',
  'graphical.target',
  'halt.target',
  'hibernate.target',
  'hybrid-sleep.target',
  'initrd-fs.target',
  'initrd-root-device.target',
  'initrd-root-fs.target',
  'initrd-switch-root.target',
  'initrd-usr-fs.target',
  'initrd.target',
  'integritysetup-pre.target',
  'integritysetup.target',
  'kbrequest.target',
  'kexec.target',
  'local-fs-pre.target',
  'local-fs.target',
  'multi-user.target',
  'network-online.target',
  'network-pre.target',
  'network.target',
  'nss-lookup.target',
  'nss-user-lookup.target',
  'paths.target',
  'poweroff.target',
  'printer.target',
  'reboot.target',
  'remote-cryptsetup.target',
  'remote-fs-pre.target',
  'remote-fs.target',
  'remote-veritysetup.target',
  'rescue.target',
  'rpcbind.target',
  'shutdown.target',
  'sigpwr.target',
  'sleep.target',
  'slices.target',
  'smartcard.target',
  'sockets.target',
  'sound.target',
  'suspend-then-hibernate.target',
  'suspend.target',
  'swap.target',
  'sysinit.target',
  'system-update-pre.target',
  'system-update.target',
  'time-set.target',
  'time-sync.target',
  'timers.target',
  'umount.target',
  'usb-gadget.target',
  'veritysetup-pre.target',
  'veritysetup.target',
  'runlevel0.target',
  'runlevel1.target',
  'runlevel2.target',
  'runlevel3.target',
  'runlevel4.target',
  'runlevel5.target',
  'runlevel6.target',
  // user manager specials
  'graphical-session.target',
  'graphical-session-pre.target',
  'xdg-desktop-autostart.target',
  // slices, scopes, sockets and services of systemd itself
  '-.slice',
  'system.slice',
  'user.slice',
  'machine.slice',
  'app.slice',
  'background.slice',
  'session.slice',
  'init.scope',
  'dbus.service',
  'dbus.socket',
  'syslog.socket',
  'display-manager.service',
  'system-update-cleanup.service',
  'dbus-broker.service',
]);

/** True for units DEP02 treats as present on every machine. Mounts, devices and swaps are host facts. */
export function isWellKnownUnit(name: string): boolean {
  if (WELL_KNOWN.has(name)) return true;
  if (name.startsWith('systemd-')) return true;
  return /\.(mount|automount|device|swap|slice)$/.test(name);
}
