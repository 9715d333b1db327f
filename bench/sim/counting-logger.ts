/** bench/scale's logger for its components: counts warnings and errors and keeps the first few. */
import type { Logger } from '../../src/log.js';

export type CountingLogger = Logger & { warns: number; errors: number; samples: string[] };

export function countingLogger(): CountingLogger {
  const keep = (kind: string, m: string, f?: Record<string, unknown>) => {
    if (l.samples.length < 8)
      l.samples.push(`${kind} ${m} ${JSON.stringify(f, (_k, v) => (v instanceof Error ? v.message : v))}`);
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
