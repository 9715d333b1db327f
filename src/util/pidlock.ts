/**
 * A lock file naming the process that holds it: created exclusively (O_EXCL), released by its
 * holder on exit. A lock whose holder is gone (killed, crashed, a reboot) is taken over: the file
 * records the holder's PID and its start time from /proc, so a PID reused by another process does
 * not keep a dead holder's lock alive.
 */
import fs from 'node:fs';

export interface LockHolder {
  pid: number;
  /** The holder's start time in clock ticks since boot (/proc/PID/stat field 22); 0 if unknown. */
  startTicks: number;
  startedAt: string;
}

/** The lock is held by a live process. */
export class LockHeldError extends Error {
  override name = 'LockHeldError';
  constructor(
    readonly path: string,
    readonly holder: LockHolder,
  ) {
    super(`${path} is held by pid ${holder.pid} (since ${holder.startedAt})`);
  }
}

export interface PidLock {
  path: string;
  /** Remove the lock file if it is still this process's. Idempotent. */
  release(): void;
}

/** The start time of a process in clock ticks since boot, or null when there is no such process. */
export function processStartTicks(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z') return null; // a zombie holds nothing
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : 0;
}

function readHolder(path: string): LockHolder | null {
  try {
    const v = JSON.parse(fs.readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, startTicks: Number(v.startTicks) || 0, startedAt: String(v.startedAt ?? '?') };
  } catch {
    return null;
  }
}

function alive(h: LockHolder): boolean {
  const ticks = processStartTicks(h.pid);
  if (ticks === null) return false;
  return h.startTicks === 0 || ticks === 0 || ticks === h.startTicks;
}

/**
 * Take the lock at `path` for this process, or throw LockHeldError naming the live holder. A file
 * left by a dead holder, or one that cannot be read (a crash while writing it), is replaced.
 */
export function acquirePidLock(path: string): PidLock {
  const me: LockHolder = {
    pid: process.pid,
    startTicks: processStartTicks(process.pid) ?? 0,
    startedAt: new Date().toISOString(),
  };
  const body = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(path, body, { flag: 'wx', mode: 0o600 });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        if (readHolder(path)?.pid === me.pid) fs.rmSync(path, { force: true });
      };
      process.on('exit', release);
      return { path, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readHolder(path);
    if (holder && alive(holder)) throw new LockHeldError(path, holder);
    // Stale or half-written: take it over. A file that appeared in between is checked on the next turn.
    if (!holder) {
      // A holder may be between creating the file and writing it: give it a moment once.
      const age = Date.now() - (fs.statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < 2_000 && attempt === 0) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
        continue;
      }
    }
    fs.rmSync(path, { force: true });
  }
  const holder = readHolder(path);
  if (holder) throw new LockHeldError(path, holder);
  throw new Error(`cannot take the lock ${path}: it keeps changing`);
}
