/**
 * What the UI can say about a unit beyond the stored reports: its recent journal lines and a few
 * of systemd's properties. Only where the UI runs beside the machine's systemd (`gitfleet up`):
 * `gitfleet ui` reads etcd alone, and a machine's journal stays on that machine.
 */
import type { SystemdHost } from '../systemd/connect.js';
import type { JournalReader } from '../systemd/journal.js';

export type Journal = { lines: string[] } | { unavailable: string };

export interface UnitInspector {
  /** The machine this inspector sees. */
  machine: string;
  journal(unit: string, lines: number): Promise<Journal>;
  /** A few systemd properties (Result, NRestarts, MainPID, since when) as text; null when systemd has no such unit. */
  properties(unit: string): Promise<Record<string, string> | null>;
}

/** The machine's journal (the agent's reader: system, user or a private instance's journald) and systemd. */
export function localInspector(
  host: Pick<SystemdHost, 'manager'>,
  machine: string,
  read: JournalReader,
): UnitInspector {
  return {
    machine,
    async journal(unit, lines) {
      try {
        const r = await read({ unit, lines });
        return {
          lines: r.lines.map(
            (l) => `${new Date(l.time / 1000).toISOString()} ${l.identifier}[${l.pid ?? '-'}]: ${l.message}`,
          ),
        };
      } catch (e) {
        return { unavailable: (e as Error).message };
      }
    },
    async properties(unit) {
      try {
        const u = await host.manager.getUnitProperties(unit, 'org.freedesktop.systemd1.Unit', [
          'ActiveEnterTimestamp',
          'StateChangeTimestamp',
        ]);
        const out: Record<string, string> = {
          'state changed': microsToIso(u.StateChangeTimestamp),
          'active since': microsToIso(u.ActiveEnterTimestamp),
        };
        if (unit.endsWith('.service')) {
          const s = await host.manager.getUnitProperties(unit, 'org.freedesktop.systemd1.Service', [
            'Result',
            'NRestarts',
            'MainPID',
            'ExecMainStatus',
          ]);
          out.result = String(s.Result);
          out.restarts = String(s.NRestarts);
          out['main PID'] = String(s.MainPID);
          out['last exit status'] = String(s.ExecMainStatus);
        }
        return out;
      } catch {
        return null;
      }
    },
  };
}

function microsToIso(v: unknown): string {
  const n = Number(v);
  return n > 0 ? new Date(n / 1000).toISOString() : '-';
}
