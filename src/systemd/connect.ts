/**
 * Which systemd an agent drives, and how to reach it:
 *  - system:  the system manager on the system bus (root on a host with systemd as PID 1);
 *  - user:    the calling user's own manager on the session bus;
 *  - private: a systemd user instance gitfleet starts (or finds still running) in its own mount
 *             namespace and cgroup under the state directory (containers, CI, demos).
 * `auto` picks the first that is available, in that order.
 */
import { existsSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { JournalLocation } from './journal.js';
import { startOrAttachPrivateSystemd, type PrivateSystemd } from './private.js';
import { SystemdManager } from './manager.js';

export type SystemdKind = 'system' | 'user' | 'private';

export interface SystemdHost {
  kind: SystemdKind;
  manager: SystemdManager;
  /** The directory gitfleet owns for unit files. */
  unitDir: string;
  /** systemd's runtime unit directory, where LinkUnitFiles(runtime) links units (and the agent their drop-ins). */
  runtimeUnitDir: string;
  /** The private instance, when kind is 'private'. */
  instance: (PrivateSystemd & { attached: boolean }) | null;
  /** A sentence for people: which systemd, and why. */
  description: string;
  /** Where its units log (`gitfleet journal` reads there). */
  journal: JournalLocation;
  /** Close the connection; with stopInstance, also stop a private instance (and every unit in it). */
  close(opts: { stopInstance: boolean }): Promise<void>;
}

/** systemd is PID 1 here (a normal host, not a container without init). */
export function systemdIsInit(): boolean {
  if (!existsSync('/run/systemd/system')) return false;
  try {
    return /systemd/.test(readlinkSync('/proc/1/exe'));
  } catch {
    return true; // cannot read PID 1's exe (not root): /run/systemd/system is the documented test
  }
}

/** The calling user's own manager is reachable on the session bus. */
export function userManagerAvailable(): boolean {
  const rt = process.env.XDG_RUNTIME_DIR;
  return Boolean(rt && existsSync(join(rt, 'bus')) && existsSync(join(rt, 'systemd')));
}

export function chooseSystemd(): { kind: SystemdKind; why: string } {
  if (systemdIsInit() && process.getuid?.() === 0)
    return { kind: 'system', why: 'systemd is PID 1 and gitfleet runs as root' };
  if (userManagerAvailable()) return { kind: 'user', why: 'a user manager answers on $XDG_RUNTIME_DIR/bus' };
  return { kind: 'private', why: 'systemd is not PID 1 here and no user manager runs' };
}

/**
 * The user's bus: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus, where a user manager puts
 * it (as sd-bus looks; a unit of the user manager, like gitfleet's agent, may not have the former).
 */
function userBus(): 'session' | { address: string } {
  const rt = process.env.XDG_RUNTIME_DIR;
  if (process.env.DBUS_SESSION_BUS_ADDRESS || !rt) return 'session';
  return { address: `unix:path=${join(rt, 'bus')}` };
}

export async function connectSystemd(
  kind: SystemdKind,
  stateDir: string,
  name: string,
  log: (msg: string) => void,
): Promise<SystemdHost> {
  const dir = resolve(stateDir);
  const unitDir = join(dir, 'units');
  if (kind === 'private') {
    const instance = await startOrAttachPrivateSystemd({ baseDir: join(dir, 'systemd'), name });
    let manager: SystemdManager;
    try {
      manager = await SystemdManager.connect({ address: instance.busAddress }, { log });
    } catch (e) {
      if (!instance.attached) await instance.stop();
      throw e;
    }
    return {
      kind,
      manager,
      unitDir,
      runtimeUnitDir: instance.unitDir,
      instance,
      journal: instance.journalDir
        ? { kind: 'directory', directory: instance.journalDir }
        : { kind: 'none', why: 'its private systemd runs without a journald (no systemd-journald installed?)' },
      description:
        `a private systemd instance (pid ${instance.pid}${instance.attached ? ', still running from before' : ''}) ` +
        `under ${instance.dir}`,
      close: async ({ stopInstance }) => {
        manager.close();
        if (stopInstance) await instance.stop();
      },
    };
  }
  const manager = await SystemdManager.connect(kind === 'system' ? 'system' : userBus(), { log });
  return {
    kind,
    manager,
    unitDir,
    runtimeUnitDir:
      kind === 'system' ? '/run/systemd/system' : join(process.env.XDG_RUNTIME_DIR ?? '', 'systemd', 'user'),
    instance: null,
    journal: { kind: kind === 'system' ? 'system' : 'user' },
    description: kind === 'system' ? 'the system manager (system bus)' : 'your user manager (session bus)',
    close: async () => manager.close(),
  };
}
