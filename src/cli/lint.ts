/**
 * `gitfleet lint [PATH...]`: a directory is a unit repository (its fleet.yaml and every unit
 * file under fleet.yaml's `path`, checked together exactly as the controller checks a commit);
 * a file is linted on its own (a fleet.yaml file by the fleet.yaml rules, a `*.conf` file in a
 * drop-in directory as a drop-in).
 * Exit 0 clean (or only warnings without --strict), 1 findings that fail, 2 usage.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { sortDiagnostics, type Diagnostic } from '../diag.js';
import { renderDiagnostics, type DiagnosticFormat } from '../render/diagnostics.js';
import { useColor } from '../render/color.js';
import { readDirSnapshot } from '../source/fsrepo.js';
import { desiredFromSnapshot } from '../desired/build.js';
import { FLEET_YAML, parseFleetYaml } from '../desired/fleetyaml.js';
import { parseDropInDir } from '../unit/dropins.js';
import { lintDropIn, lintUnitFile } from '../unit/lint/index.js';
import { verifyCommand, verifyDiagnostics, verifyMissing } from '../unit/lint/systemd.js';
import { unitType } from '../unit/names.js';
import { VERSION } from '../version.js';
import { UsageError } from './errors.js';
import { writeOut } from './common.js';

interface LintFlags {
  format: DiagnosticFormat;
  strict?: boolean;
  systemd?: boolean;
}

/**
 * Lint paths; returns the findings (file paths as the user gave them) and how many files were read.
 * With `systemd`, also systemd-analyze verify's findings on the same unit files.
 */
export function lintPaths(
  paths: string[],
  opts: { systemd?: boolean } = {},
): { diagnostics: Diagnostic[]; files: number } {
  const diagnostics: Diagnostic[] = [];
  /** Unit files for systemd-analyze: the path given to it -> the path shown. */
  const units = new Map<string, string>();
  /** Drop-ins, which systemd-analyze reads beside their unit file and names in its findings. */
  const dropIns = new Map<string, string>();
  let files = 0;
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(
        code === 'ENOENT' ? `${p}: no such file or directory` : `${p}: cannot read (${code ?? (e as Error).message})`,
      );
    }
    if (st.isDirectory()) {
      const snap = readDirSnapshot(p);
      const { diagnostics: ds } = desiredFromSnapshot(snap, 'worktree');
      files += snap.files.length + snap.dropIns.length + snap.rejected.length + (snap.fleetYaml ? 1 : 0);
      const shown = (f: string) => (p === '.' || p === './' ? f : join(p, f));
      for (const d of ds) diagnostics.push({ ...d, file: shown(d.file) });
      for (const f of snap.files) units.set(resolve(p, f.path), shown(f.path));
      for (const f of snap.dropIns) dropIns.set(resolve(p, f.path), shown(f.path));
    } else if (st.isFile()) {
      let content: Buffer;
      try {
        content = fs.readFileSync(p);
      } catch (e) {
        throw new UsageError(`${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      files++;
      const dropInDir = parseDropInDir(basename(dirname(resolve(p))));
      if (basename(p) === FLEET_YAML) diagnostics.push(...parseFleetYaml(content, p).diagnostics);
      else if (dropInDir && basename(p).endsWith('.conf'))
        diagnostics.push(...lintDropIn(dropInDir, content, p).diagnostics);
      else {
        diagnostics.push(...lintUnitFile(basename(p), content, { file: p }).diagnostics);
        if (unitType(basename(p))) units.set(resolve(p), p);
      }
    } else {
      throw new UsageError(`${p}: not a regular file or directory`);
    }
  }
  if (opts.systemd) diagnostics.push(...systemdFindings(units, dropIns, paths[0] ?? '.'));
  return { diagnostics: sortDiagnostics(diagnostics), files };
}

/** systemd-analyze verify on the unit files, its output as SYSTEMD diagnostics. */
function systemdFindings(
  units: ReadonlyMap<string, string>,
  dropIns: ReadonlyMap<string, string>,
  first: string,
): Diagnostic[] {
  if (units.size === 0) return [];
  const { cmd, args } = verifyCommand([...units.keys()]);
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, SYSTEMD_LOG_COLOR: '0' },
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return [verifyMissing(first, code === 'ENOENT' ? 'it is not installed on this machine' : r.error.message)];
  }
  return verifyDiagnostics(`${r.stdout}\n${r.stderr}`, units, dropIns);
}

export async function run(paths: string[], flags: LintFlags): Promise<number> {
  const { diagnostics, files } = lintPaths(paths.length ? paths : ['.'], { systemd: flags.systemd });
  writeOut(renderDiagnostics(diagnostics, flags.format, { files, color: useColor(), toolVersion: VERSION }));
  const failing = diagnostics.some((d) => d.severity === 'error' || (flags.strict && d.severity === 'warning'));
  return failing ? 1 : 0;
}
