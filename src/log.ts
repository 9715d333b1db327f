/**
 * The one logger: one line per event on stderr, `LEVEL component: message key=value ...`, or JSON
 * lines with GITFLEET_LOG_FORMAT=json. GITFLEET_LOG=debug|info|warn|error|silent sets the level.
 * (A small logger of our own rather than pino: gitfleet logs little, and start-up time matters.)
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function fmtValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return /^[\w./:@-]*$/.test(v) && v !== '' ? v : JSON.stringify(v);
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v);
}

export function createLogger(
  component: string,
  opts: { level?: Level | 'silent'; sink?: (line: string) => void } = {},
): Logger {
  const envLevel = (process.env.GITFLEET_LOG as Level | 'silent' | undefined) ?? 'info';
  const min = order[opts.level ?? envLevel] ?? order.info;
  const json = process.env.GITFLEET_LOG_FORMAT === 'json';
  const sink = opts.sink ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    if (json) {
      const rec: Record<string, unknown> = { time: new Date().toISOString(), level, component, msg };
      for (const [k, v] of Object.entries(fields ?? {}))
        rec[k] = v instanceof Error ? v.message : typeof v === 'bigint' ? v.toString() : v;
      sink(JSON.stringify(rec));
    } else {
      const kv = Object.entries(fields ?? {})
        .map(([k, v]) => `${k}=${fmtValue(v)}`)
        .join(' ');
      sink(`${level.toUpperCase().padEnd(5)} ${component}: ${msg}${kv ? ' ' + kv : ''}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(`${component}/${c}`, { level: opts.level ?? envLevel, sink }),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = createLogger('silent', { level: 'silent' });
