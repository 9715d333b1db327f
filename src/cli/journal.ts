/**
 * `gitfleet journal UNIT [--machine ID] [-n N] [-f]`: the unit's journal lines from the machine(s)
 * that run it, as `fleetctl journal` showed them, asked through the store (inspect.ts) rather than
 * over SSH or a port of the agent's own. `-f` asks again every second for what came after the
 * last line each machine sent, until Ctrl-C.
 */
import { INSPECT_MAX_LINES, type InspectRequest } from '../store/keys.js';
import type { JournalLine } from '../systemd/journal.js';
import { paint, useColor } from '../render/color.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { CliError, UsageError } from './errors.js';
import { InspectSession, machinesOf, type MachineAnswer } from './inspect.js';
import { untilSignal } from './signals.js';
import { readClusterView } from './view.js';

interface JournalFlags extends StoreFlags {
  machine?: string;
  lines: string;
  follow?: boolean;
  format: 'text' | 'json';
}

const FOLLOW_EVERY_MS = 1_000;

/** `hello` -> `hello.service`, as systemctl and fleetctl take a name without a suffix. */
export function unitName(raw: string): string {
  return /\.[a-z]+$/.test(raw) ? raw : `${raw}.service`;
}

/** journalctl's short format: `Mon DD HH:MM:SS machine identifier[pid]: message` (local time). */
export function formatLine(machine: string, l: JournalLine, color = false): string {
  const d = new Date(l.time / 1000);
  const month = d.toLocaleString('en-US', { month: 'short' });
  const pad = (n: number) => String(n).padStart(2, '0');
  const when = `${month} ${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const who = `${l.identifier}${l.pid ? `[${l.pid}]` : ''}`;
  const text =
    l.priority <= 3 ? paint(color, 'red', l.message) : l.priority === 4 ? paint(color, 'yellow', l.message) : l.message;
  return `${when} ${machine.slice(0, 8)} ${who}: ${text}`;
}

export async function run(rawUnit: string, flags: JournalFlags): Promise<number> {
  const unit = unitName(rawUnit);
  const n = Number(flags.lines);
  if (!Number.isInteger(n) || n < 1 || n > INSPECT_MAX_LINES)
    throw new UsageError(`-n: "${flags.lines}" is not a number of lines from 1 to ${INSPECT_MAX_LINES}`);
  const color = useColor();
  return withStore(
    flags,
    async (store) => {
      const view = await readClusterView(store);
      let machines: string[];
      try {
        machines = machinesOf(view, unit, flags.machine);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (machines.length === 0) throw new CliError(`unit ${unit} runs on no machine (see gitfleet status ${unit})`);
      const session = await InspectSession.open(store);
      try {
        const cursors = new Map<string, string | null>();
        let failed = show(await session.ask(machines, { unit, lines: n, status: false }), cursors, flags, color);
        if (!flags.follow) {
          if (failed === 0 && cursors.size > 0 && [...cursors.values()].every((c) => c === null))
            writeOut('-- No entries --\n');
          return failed > 0 ? 1 : 0;
        }
        failed = await follow(session, unit, machines, cursors, flags, color);
        return failed > 0 ? 1 : 0;
      } finally {
        await session.close();
      }
    },
    { up: true },
  );
}

/** Ask again every second for what came after each machine's cursor, until SIGINT/SIGTERM. */
async function follow(
  session: InspectSession,
  unit: string,
  machines: string[],
  cursors: Map<string, string | null>,
  flags: JournalFlags,
  color: boolean,
): Promise<number> {
  let stop = false;
  const signalled = untilSignal().then(() => {
    stop = true;
  });
  while (!stop) {
    await Promise.race([signalled, new Promise((r) => setTimeout(r, FOLLOW_EVERY_MS))]);
    if (stop) break;
    for (const m of machines) {
      const after = cursors.get(m);
      const req: InspectRequest = { unit, lines: INSPECT_MAX_LINES, status: false, ...(after ? { after } : {}) };
      show(await session.ask([m], req), cursors, flags, color);
    }
  }
  return 0;
}

/** Print the answers' lines (oldest first, machines interleaved by time); returns how many failed. */
function show(
  answers: MachineAnswer[],
  cursors: Map<string, string | null>,
  flags: JournalFlags,
  color: boolean,
): number {
  let failed = 0;
  const lines: { machine: string; line: JournalLine }[] = [];
  for (const a of answers) {
    const problem = 'error' in a ? a.error : (a.answer.error ?? a.answer.journalError);
    if ('error' in a || problem) {
      failed++;
      process.stderr.write(`gitfleet: ${a.machine.slice(0, 8)}: ${problem}\n`);
      continue;
    }
    const ans = a.answer;
    if (ans.truncated) process.stderr.write(`gitfleet: ${a.machine.slice(0, 8)}: older lines left out (size limit)\n`);
    for (const line of ans.lines ?? []) lines.push({ machine: a.machine, line });
    cursors.set(a.machine, ans.cursor ?? cursors.get(a.machine) ?? null);
  }
  lines.sort((x, y) => x.line.time - y.line.time);
  const out = lines.map(({ machine, line }) =>
    flags.format === 'json' ? JSON.stringify({ machine, ...line }) : formatLine(machine, line, color),
  );
  if (out.length) writeOut(out.join('\n') + '\n');
  return failed;
}
