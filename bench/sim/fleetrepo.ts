/**
 * A synthetic unit repository for the benchmarks (bench/apply.ts, bench/scale.ts): N units shaped
 * like a real fleet, written into a real git repository with `git fast-import` (the git CLI, not
 * the library under test), so the controller reads it exactly as it reads any repository.
 *
 * The mix, per block of 20 units (every unit is placeable on a cluster of ≥ 1 machine per region
 * `eu`/`us` and as many machines as there are `web@` instances):
 *   i%20 == 1       a sidecar: MachineOf= the unit before it
 *   i%20 == 2, 3    MachineMetadata=region=eu
 *   i%20 == 4       an instance of the template web@.service (Conflicts=web@*.service), from fleet.yaml
 *   i%20 == 5       a timer for the service 5 before it (OnCalendar=hourly)
 *   otherwise       a plain service
 * Units live under units/, fleet.yaml launches everything.
 */
import { execFileSync } from 'node:child_process';

export interface FleetRepoOptions {
  units: number;
}

const pad = (i: number) => String(i).padStart(5, '0');

/** The unit (file) names of the repository, and how many web@ instances fleet.yaml asks for. */
function layout(n: number): { files: Array<{ name: string; i: number }>; instances: number } {
  const files: Array<{ name: string; i: number }> = [];
  let instances = 0;
  for (let i = 0; i < n; i++) {
    switch (i % 20) {
      case 4:
        instances++;
        break;
      case 5:
        files.push({ name: `svc-${pad(i - 5)}.timer`, i });
        break;
      default:
        files.push({ name: `svc-${pad(i)}.service`, i });
    }
  }
  return { files, instances };
}

/** Text of one unit file; `rev` changes its Description (a content change). */
export function unitText(name: string, i: number, rev = 1): string {
  if (name.endsWith('.timer')) {
    return `[Unit]\nDescription=timer ${i} rev ${rev}\n\n[Timer]\nOnCalendar=hourly\n`;
  }
  const lines = [
    '[Unit]',
    `Description=bench unit ${i} rev ${rev}`,
    '',
    '[Service]',
    `ExecStart=/usr/bin/sleep ${100_000 + i}`,
    'Restart=on-failure',
  ];
  const fleet: string[] = [];
  if (i % 20 === 1) fleet.push(`MachineOf=svc-${pad(i - 1)}.service`);
  if (i % 20 === 2 || i % 20 === 3) fleet.push('MachineMetadata=region=eu');
  if (fleet.length) lines.push('', '[X-Fleet]', ...fleet);
  return lines.join('\n') + '\n';
}

const WEB_TEMPLATE =
  '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/usr/bin/sleep 200000\n\n[X-Fleet]\nConflicts=web@*.service\n';

/** Every file of the repository at revision 1: path -> content. */
export function fleetFiles(opts: FleetRepoOptions): Map<string, string> {
  const { files, instances } = layout(opts.units);
  const out = new Map<string, string>();
  out.set(
    'fleet.yaml',
    `path: units\ndefaults:\n  state: launched\nunits:\n  web@.service:\n    instances: ${instances}\n    state: ` +
      `launched\n`,
  );
  if (instances > 0) out.set('units/web@.service', WEB_TEMPLATE);
  for (const f of files) out.set(`units/${f.name}`, unitText(f.name, f.i));
  return out;
}

/** The path of a plain service of the repository (one that no other unit refers to), for edits. */
export function plainServicePath(k: number): { path: string; name: string; i: number } {
  // i%20 in 6..19 are plain services.
  const i = 20 * k + 6;
  const name = `svc-${pad(i)}.service`;
  return { path: `units/${name}`, name, i };
}

let clock = 1_700_000_000;

/**
 * Write one commit onto `ref` of the repository at `gitdir` with git fast-import: `files` maps
 * path -> content (null deletes). With `parent`, the commit continues from it and changes only
 * those files; without, the commit holds exactly `files`. Returns the commit id.
 */
export function importCommit(
  gitdir: string,
  ref: string,
  files: Map<string, string | null>,
  message: string,
  parent?: string,
): string {
  const out: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}`;
  out.push(`commit ${ref}`, `committer Bench <bench@example.invalid> ${clock++} +0000`, data(message));
  if (parent) out.push(`from ${parent}`);
  else out.push('deleteall');
  for (const [path, content] of files) {
    if (content === null) out.push(`D ${path}`);
    else out.push(`M 100644 inline ${path}`, data(content));
  }
  out.push('');
  execFileSync('git', ['fast-import', '--quiet', '--force'], {
    cwd: gitdir,
    input: out.join('\n') + '\n',
    maxBuffer: 1 << 30,
  });
  return execFileSync('git', ['rev-parse', ref], { cwd: gitdir, encoding: 'utf8' }).trim();
}

/** `git init --bare -b main` at `dir`. */
export function initBare(dir: string): void {
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', dir]);
}

/**
 * A git floor: every blob of `rev`'s tree, and git itself printing them all (`git cat-file
 * --batch` to a pipe) — the least any reader of the commit's files does.
 */
export function commitBlobs(repo: string, rev: string): { blobs: string[]; catAll(): Buffer } {
  const git = (argv: string[], input?: string) =>
    execFileSync('git', argv, { cwd: repo, input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
  const blobs = git(['ls-tree', '-r', rev])
    .toString()
    .split('\n')
    .filter((l) => l.includes(' blob '))
    .map((l) => l.split(/\s+/)[2]!);
  const batch = `${blobs.join('\n')}\n`;
  return { blobs, catAll: () => git(['cat-file', '--batch'], batch) };
}
