/**
 * Time that never jumps: milliseconds since the epoch as they were when this process started,
 * advanced by the monotonic clock since. A wall clock stepped by NTP (or by hand) must not make a
 * lease expire early or a silent machine look silent for longer than it was; durations and
 * deadlines are taken on this clock. It reads as a date (for records and status lines), off by at
 * most the clock's drift since the process started.
 */
const base = Date.now() - performance.now();

export function steadyNow(): number {
  return base + performance.now();
}
