/**
 * `gitfleet lint --systemd`: systemd's own verdict (`systemd-analyze verify`) in gitfleet's
 * diagnostics, for those who want it in CI beside the linter's. Pure: the command to run and the
 * reading of its output; src/cli/lint.ts runs it.
 *
 * Each line systemd prints becomes one SYSTEMD diagnostic: `PATH:LINE: message` at that file and
 * line, `NAME.service: message` at the file of that unit, anything else at the first file. A line
 * saying the unit cannot load ("bad unit file setting", "fatal error", "failed to load") is an
 * error, every other one a warning: systemd itself only logs those and carries on.
 */
import type { Diagnostic } from '../../diag.js';

export const SYSTEMD_RULE = 'SYSTEMD';

/** The verify command for these unit files: no dependency loading, so the host's units do not matter. */
export function verifyCommand(paths: readonly string[]): { cmd: string; args: string[] } {
  return { cmd: 'systemd-analyze', args: ['verify', '--man=no', '--recursive-errors=no', ...paths] };
}

const FATAL = /fatal error|has a bad unit file setting|failed to load|Failed to prepare filename/;
const UNIT_PREFIX = /^([A-Za-z0-9:_.\\@-]+\.[a-z]+): (.*)$/;

/**
 * Diagnostics from verify's output. `files` maps each path given to systemd (absolute or as passed)
 * to the path shown to the user; `dropIns` the same for drop-ins, which systemd reads beside their
 * unit file (it adds each file's directory to its search path) and names by path in its findings.
 */
export function verifyDiagnostics(
  output: string,
  files: ReadonlyMap<string, string>,
  dropIns: ReadonlyMap<string, string> = new Map(),
): Diagnostic[] {
  const byName = new Map<string, string>();
  for (const [given, shown] of files) byName.set(given.slice(given.lastIndexOf('/') + 1), shown);
  const first = files.values().next().value ?? '';
  const paths = new Map([...files, ...dropIns]);
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || seen.has(line)) continue;
    seen.add(line);
    let file = first;
    let at = 0;
    let message = line;
    const pos = /^(.+?):(\d+): (.*)$/.exec(line);
    const unit = UNIT_PREFIX.exec(line);
    if (pos && paths.has(pos[1]!)) {
      file = paths.get(pos[1]!)!;
      at = Number(pos[2]);
      message = pos[3]!;
    } else if (unit && byName.has(unit[1]!)) {
      file = byName.get(unit[1]!)!;
      message = unit[2]!;
    } else {
      const named = /^Unit (\S+) /.exec(line)?.[1];
      if (named && byName.has(named)) file = byName.get(named)!;
    }
    out.push({
      file,
      line: at,
      column: 0,
      rule: SYSTEMD_RULE,
      severity: FATAL.test(line) ? 'error' : 'warning',
      message: `systemd-analyze verify: ${message}`,
    });
  }
  return out;
}

/** The finding when the machine has no systemd-analyze: the run must not pass as if systemd agreed. */
export function verifyMissing(file: string, why: string): Diagnostic {
  return {
    file,
    line: 0,
    column: 0,
    rule: SYSTEMD_RULE,
    severity: 'error',
    message:
      `--systemd: cannot run systemd-analyze (${why}); install systemd (Debian: apt-get install systemd) or lint ` +
      'without --systemd',
  };
}
