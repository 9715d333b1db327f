/**
 * The live half of `gitfleet status UNIT`: what `systemctl status UNIT` would print on each
 * machine that runs it (main PID, since when, how the main process last ended, restarts, the
 * last journal lines), asked of those machines' agents through the store (inspect.ts).
 */
import { constants } from 'node:os';
import { paint } from '../render/color.js';
import type { Store } from '../store/store.js';
import type { UnitStatus } from '../systemd/status.js';
import { InspectSession, machinesOf, type MachineAnswer } from './inspect.js';
import { formatLine } from './journal.js';
import { machineLabel, type ClusterView } from './view.js';

/** Journal lines shown under each machine's status, as systemctl status shows 10. */
export const STATUS_LINES = 10;

export async function askLive(store: Store, view: ClusterView, unit: string): Promise<MachineAnswer[]> {
  const machines = machinesOf(view, unit);
  if (machines.length === 0) return [];
  const session = await InspectSession.open(store);
  try {
    return await session.ask(machines, { unit, lines: STATUS_LINES, status: true });
  } finally {
    await session.close();
  }
}

const signalName = (n: number) =>
  Object.entries(constants.signals)
    .find(([, v]) => v === n)?.[0]
    ?.replace(/^SIG/, '') ?? String(n);

/** systemctl's "(code=exited, status=3)" / "(code=killed, signal=TERM)". */
export function describeExit(s: UnitStatus): string {
  if (!s.execMainCode) return '';
  return s.execMainCode === 'exited'
    ? `(code=exited, status=${s.execMainStatus})`
    : `(code=${s.execMainCode}, signal=${signalName(s.execMainStatus)})`;
}

/** "2026-12-01 19:55:18 UTC; 3min ago" (UTC, so every machine's times read alike). */
export function describeSince(us: number | null, now = Date.now()): string {
  if (us === null) return '';
  const d = new Date(us / 1000);
  const ago = Math.max(0, Math.round((now - d.getTime()) / 1000));
  const rel =
    ago < 60
      ? `${ago}s`
      : ago < 3600
        ? `${Math.floor(ago / 60)}min`
        : ago < 86400
          ? `${Math.floor(ago / 3600)}h`
          : `${Math.floor(ago / 86400)}d`;
  return `${d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')}; ${rel} ago`;
}

export function renderLive(answers: MachineAnswer[], view: ClusterView, color: boolean): string {
  const addr = new Map(view.machines.map((m) => [m.id, m.address]));
  const out: string[] = [];
  for (const a of answers) {
    const label = machineLabel(a.machine, addr.get(a.machine), false);
    out.push('');
    if ('error' in a || a.answer.error) {
      out.push(`● on ${label}: ${paint(color, 'yellow', 'error' in a ? a.error : a.answer.error!)}`);
      continue;
    }
    const s = a.answer.status;
    if (!s) continue;
    const dot =
      s.active === 'failed' ? paint(color, 'red', '×') : s.active === 'active' ? paint(color, 'green', '●') : '○';
    out.push(`${dot} ${s.name} on ${label}`);
    out.push(`     Loaded: ${s.load}${s.fragmentPath ? ` (${s.fragmentPath})` : ''}`);
    const state = `${s.active} (${s.sub})`;
    const shown =
      s.active === 'failed' ? paint(color, 'red', state) : s.active === 'active' ? paint(color, 'green', state) : state;
    const result = s.result && s.result !== 'success' ? ` (Result: ${s.result})` : '';
    const since = s.since !== null ? ` since ${describeSince(s.since)}` : '';
    out.push(`     Active: ${shown}${result}${since}`);
    if (s.mainPid > 0) out.push(`   Main PID: ${s.mainPid}`);
    else if (s.execMainPid > 0) out.push(`   Main PID: ${s.execMainPid} ${describeExit(s)}`.trimEnd());
    out.push(`   Restarts: ${s.nRestarts}`);
    if (a.answer.journalError) out.push(`    Journal: ${a.answer.journalError}`);
    const lines = a.answer.lines ?? [];
    if (lines.length) {
      out.push('');
      for (const l of lines) out.push(formatLine(a.machine, l, color));
    }
  }
  return out.length ? out.join('\n') + '\n' : '';
}
