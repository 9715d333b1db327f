/**
 * A unit's journal lines, read with journalctl from the system or the user manager's journal (the
 * private systemd instance gitfleet starts keeps none). Bounded: 5 s, 1 MiB.
 */
import { execFile } from 'node:child_process';
import type { SystemdKind } from './connect.js';

export type Journal = { lines: string[] } | { unavailable: string };

/** The last `lines` journal lines of `unit`; `format` is journalctl's `-o` (short-iso, cat, ...). */
export function readJournal(kind: SystemdKind, unit: string, lines: number, format = 'short-iso'): Promise<Journal> {
  if (kind === 'private')
    return Promise.resolve({ unavailable: 'the private systemd instance gitfleet started keeps no journal' });
  const args = [...(kind === 'user' ? ['--user'] : []), '-u', unit, '-n', String(lines), '--no-pager', '-q', '-o'];
  return new Promise((resolve) => {
    execFile('journalctl', [...args, format], { timeout: 5_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !stdout) resolve({ unavailable: `journalctl: ${String(stderr).trim() || err.message}` });
      else
        resolve({
          lines: String(stdout)
            .split('\n')
            .filter((l) => l.length > 0),
        });
    });
  });
}

/** The messages of a unit's last `lines` journal lines, for a failure's reason ([] without a journal). */
export async function lastMessages(kind: SystemdKind, unit: string, lines = 3): Promise<string[]> {
  const j = await readJournal(kind, unit, lines, 'cat');
  return 'lines' in j ? j.lines.map((l) => (l.length > 200 ? `${l.slice(0, 200)}…` : l)) : [];
}
