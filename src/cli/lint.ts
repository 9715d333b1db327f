/**
 * `gitfleet lint [PATH...]`: a directory is a unit repository (its fleet.yaml and every unit
 * file under fleet.yaml's `path`, checked together exactly as the controller checks a commit);
 * a file is linted on its own (a fleet.yaml file by the fleet.yaml rules).
 * Exit 0 clean (or only warnings without --strict), 1 findings that fail, 2 usage.
 */
import fs from 'node:fs';
import { basename, join } from 'node:path';
import { sortDiagnostics, type Diagnostic } from '../diag.js';
import { renderDiagnostics, type DiagnosticFormat } from '../render/diagnostics.js';
import { useColor } from '../render/color.js';
import { readDirSnapshot } from '../source/fsrepo.js';
import { desiredFromSnapshot } from '../desired/build.js';
import { FLEET_YAML, parseFleetYaml } from '../desired/fleetyaml.js';
import { lintUnitFile } from '../unit/lint/index.js';
import { VERSION } from '../version.js';
import { UsageError } from './errors.js';
import { writeOut } from './common.js';

interface LintFlags {
  format: DiagnosticFormat;
  strict?: boolean;
}

/** Lint paths; returns the findings (file paths as the user gave them) and how many files were read. */
export function lintPaths(paths: string[]): { diagnostics: Diagnostic[]; files: number } {
  const diagnostics: Diagnostic[] = [];
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
      files += snap.files.length + snap.rejected.length + (snap.fleetYaml ? 1 : 0);
      const shown = (f: string) => (p === '.' || p === './' ? f : join(p, f));
      for (const d of ds) diagnostics.push({ ...d, file: shown(d.file) });
    } else if (st.isFile()) {
      let content: Buffer;
      try {
        content = fs.readFileSync(p);
      } catch (e) {
        throw new UsageError(`${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      files++;
      if (basename(p) === FLEET_YAML) diagnostics.push(...parseFleetYaml(content, p).diagnostics);
      else diagnostics.push(...lintUnitFile(basename(p), content, { file: p }).diagnostics);
    } else {
      throw new UsageError(`${p}: not a regular file or directory`);
    }
  }
  return { diagnostics: sortDiagnostics(diagnostics), files };
}

export async function run(paths: string[], flags: LintFlags): Promise<number> {
  const { diagnostics, files } = lintPaths(paths.length ? paths : ['.']);
  writeOut(renderDiagnostics(diagnostics, flags.format, { files, color: useColor(), toolVersion: VERSION }));
  const failing = diagnostics.some((d) => d.severity === 'error' || (flags.strict && d.severity === 'warning'));
  return failing ? 1 : 0;
}
