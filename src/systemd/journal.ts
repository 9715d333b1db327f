/**
 * A unit's journal lines, read with journalctl (the journal's own reader: its file format is not
 * ours to parse) on the machine that runs the unit.
 *
 * Where the lines are depends on which systemd runs the unit:
 * - the system manager: the system journal, `journalctl -u UNIT`;
 * - a user manager: the journal it logs to, matching the unit's own lines (_SYSTEMD_USER_UNIT),
 *   the manager's lines about it (USER_UNIT), or lines from its cgroup (_SYSTEMD_CGROUP=<the
 *   manager's cgroup>/<slice path>/UNIT): a journald outside the manager's cgroup tree (a private
 *   instance's, or the one an agent unit of such an instance sees) cannot name the unit itself;
 * - a private instance (namespace.ts), from outside its namespace: the same matches, in its own
 *   journal directory (`journalctl -D DIR`).
 *
 * Every answer is bounded: at most `lines` lines (callers cap it), each message at most
 * MAX_MESSAGE_CHARS characters, journalctl killed after READ_TIMEOUT_MS.
 */
import { spawn } from 'node:child_process';

/** Where a machine's units log (SystemdHost.journal): as JournalSource, less what is asked of systemd. */
export type JournalLocation =
  | { kind: 'system' }
  | { kind: 'user' }
  | { kind: 'directory'; directory: string }
  | { kind: 'none'; why: string };

export type JournalSource =
  | { kind: 'system' }
  | { kind: 'user'; managerCgroup: string }
  | { kind: 'directory'; directory: string; managerCgroup: string };

export interface JournalLine {
  /** Microseconds since the epoch (journald's __REALTIME_TIMESTAMP). */
  time: number;
  /** SYSLOG_IDENTIFIER, else the command name. */
  identifier: string;
  pid: number | null;
  /** syslog priority: 0 emerg .. 7 debug (6 info when absent). */
  priority: number;
  message: string;
}

export interface JournalQuery {
  unit: string;
  /** How many lines: the last N, or with `after`, the first N after that cursor. */
  lines: number;
  /** A cursor from an earlier answer: only what came after it. */
  after?: string;
  /** The unit's slice (its Slice property), for a private instance's cgroup match; default app.slice. */
  slice?: string;
}

export interface JournalResult {
  lines: JournalLine[];
  /** Cursor of the last line returned (or the `after` given, when there is nothing new). */
  cursor: string | null;
}

/** Longest message kept (characters); longer ones end in "…". */
export const MAX_MESSAGE_CHARS = 2048;
const READ_TIMEOUT_MS = 5_000;
const FIELDS = 'MESSAGE,SYSLOG_IDENTIFIER,_COMM,_PID,PRIORITY';

/** No journal to read, or journalctl failed: the message says which and why. */
export class JournalError extends Error {
  override name = 'JournalError';
}

/**
 * The cgroup path systemd gives a unit: the manager's own cgroup, then the slice's path (each
 * dash-separated prefix of a slice name is its parent: a-b.slice lives in a.slice/a-b.slice),
 * then the unit. -.slice is the root slice.
 */
export function unitCgroupPath(managerCgroup: string, slice: string, unit: string): string {
  const parts: string[] = [];
  if (slice && slice !== '-.slice') {
    const base = slice.replace(/\.slice$/, '');
    const words = base.split('-');
    for (let i = 1; i <= words.length; i++) parts.push(`${words.slice(0, i).join('-')}.slice`);
  }
  const root = managerCgroup === '/' ? '' : managerCgroup.replace(/\/+$/, '');
  return [root, ...parts, unit].join('/');
}

/** journalctl's arguments for a query (pure; exported for tests). */
export function journalctlArgs(source: JournalSource, q: JournalQuery): string[] {
  const args = ['--no-pager', '--all', '-o', 'json', `--output-fields=${FIELDS}`, '-n', String(q.lines)];
  if (q.after) args.push(`--after-cursor=${q.after}`);
  if (source.kind === 'system') return [...args, '-u', q.unit];
  if (source.kind === 'directory') args.push('-D', source.directory);
  const cg = unitCgroupPath(source.managerCgroup, q.slice || 'app.slice', q.unit);
  return [...args, `_SYSTEMD_USER_UNIT=${q.unit}`, '+', `USER_UNIT=${q.unit}`, '+', `_SYSTEMD_CGROUP=${cg}`];
}

/** One journalctl JSON line -> a JournalLine and its cursor (null for a line that is not an entry). */
export function parseEntry(line: string): { line: JournalLine; cursor: string } | null {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof e !== 'object' || e === null || typeof e.__CURSOR !== 'string') return null;
  const text = (v: unknown): string => {
    if (typeof v === 'string') return v;
    // Non-UTF-8 or binary fields come as byte arrays; a field given twice as an array of values.
    if (Array.isArray(v) && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]).toString('utf8');
    if (Array.isArray(v)) return v.map(text).join(' ');
    return '';
  };
  let message = text(e.MESSAGE);
  if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
  const pid = Number(text(e._PID));
  const priority = text(e.PRIORITY) === '' ? 6 : Number(text(e.PRIORITY));
  return {
    cursor: e.__CURSOR,
    line: {
      time: Number(text(e.__REALTIME_TIMESTAMP)) || 0,
      identifier: text(e.SYSLOG_IDENTIFIER) || text(e._COMM) || '?',
      pid: Number.isInteger(pid) && pid > 0 ? pid : null,
      priority: Number.isInteger(priority) && priority >= 0 && priority <= 7 ? priority : 6,
      message,
    },
  };
}

/** Read a unit's lines (see the module comment). Rejects with JournalError. */
export function readJournal(source: JournalSource, q: JournalQuery): Promise<JournalResult> {
  const args = journalctlArgs(source, q);
  return new Promise((resolve, reject) => {
    const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d.length < 4096 ? d : ''));
    const timer = setTimeout(() => child.kill('SIGKILL'), READ_TIMEOUT_MS);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new JournalError(e.code === 'ENOENT' ? 'journalctl is not installed on this machine' : e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(new JournalError(`journalctl did not answer within ${READ_TIMEOUT_MS} ms`));
      // "No journal files were found" / "-- No entries --" are answers too: nothing to show.
      if (code !== 0 && !/No journal files were found/.test(err))
        return reject(new JournalError(`journalctl exited with ${code}: ${err.trim().split('\n')[0] ?? ''}`));
      const lines: JournalLine[] = [];
      let cursor: string | null = q.after ?? null;
      for (const l of out.split('\n')) {
        const entry = l ? parseEntry(l) : null;
        if (!entry) continue;
        lines.push(entry.line);
        cursor = entry.cursor;
      }
      resolve({ lines: lines.slice(-q.lines), cursor });
    });
  });
}

/** A machine's journal, read where its units log (SystemdHost.journal); the manager's cgroup asked once. */
export type JournalReader = (q: JournalQuery) => Promise<JournalResult>;

export function journalReader(
  where: JournalLocation,
  systemd: { managerCgroup(): Promise<string> },
  machine: string,
): JournalReader {
  let managerCgroup: Promise<string> | null = null;
  const source = async (): Promise<JournalSource> => {
    if (where.kind === 'none') throw new JournalError(`no journal on machine ${machine}: ${where.why}`);
    if (where.kind === 'system') return where;
    managerCgroup ??= systemd.managerCgroup().catch((e) => {
      managerCgroup = null;
      throw e;
    });
    const cg = await managerCgroup;
    return where.kind === 'user'
      ? { kind: 'user', managerCgroup: cg }
      : { kind: 'directory', directory: where.directory, managerCgroup: cg };
  };
  return async (q) => readJournal(await source(), q);
}

/** Longest message a failure's reason quotes. */
const REASON_MESSAGE_CHARS = 200;

/** The messages of a unit's last `lines` journal lines, for a failure's reason ([] without a journal). */
export async function lastMessages(read: JournalReader, unit: string, lines = 3): Promise<string[]> {
  try {
    const r = await read({ unit, lines });
    return r.lines.map((l) =>
      l.message.length > REASON_MESSAGE_CHARS ? `${l.message.slice(0, REASON_MESSAGE_CHARS)}…` : l.message,
    );
  } catch {
    return [];
  }
}
