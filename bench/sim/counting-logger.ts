/** bench/scale's logger for its components: counts warnings and errors and keeps the first few. */
import type { Logger } from '../../src/log.js';

export type CountingLogger = Logger & { warns: number; errors: number; samples: string[] };

/** `live`: also write every warning and error to stderr as it happens (BENCH_VERBOSE). */
export function countingLogger(live?: string): CountingLogger {
  const keep = (kind: string, m: string, f?: Record<string, unknown>) => {
    const line = `${kind} ${m} ${JSON.stringify(f, (_k, v) => (v instanceof Error ? v.message : v))}`;
    if (live) process.stderr.write(`[${new Date().toISOString().slice(11, 23)} ${live}] ${line}\n`);
    if (l.samples.length < 8) l.samples.push(line);
  };
  const l = {
    warns: 0,
    errors: 0,
    samples: [] as string[],
    debug() {},
    info() {},
    warn(m: string, f?: Record<string, unknown>) {
      l.warns++;
      keep('warn', m, f);
    },
    error(m: string, f?: Record<string, unknown>) {
      l.errors++;
      keep('error', m, f);
    },
    child: () => l,
  };
  return l;
}
