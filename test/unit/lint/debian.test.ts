/**
 * gitfleet's linter against systemd itself on unit files nobody on this project wrote: the units
 * of 588 Debian packages (test/unit/lint/debian/, see its README). Each package is linted as a
 * repository (its unit files together, as `gitfleet lint DIR` would), and systemd judges every file
 * (support/judge.ts: `systemd-analyze verify` in batches, plus `systemctl enable` for [Install]).
 *
 *  - every file systemd flags gets a warning or an error from gitfleet;
 *  - no file systemd accepts gets an error (a false error would block a deploy of a valid unit);
 *  - no noise where systemd is right to be silent: no DEP01 note on Requires=/BindsTo= of the socket
 *    that activates the service, no SVC04 warning on daemons told to stay in the foreground.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Diagnostic } from '../../../src/diag.js';
import { lintUnitFiles } from '../../../src/unit/lint/index.js';
import { judgeFiles, type JudgedFile } from './support/judge.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), 'debian');

interface Package {
  name: string;
  files: { name: string; file: string; content: Buffer; user: boolean }[];
}

function loadPackages(): Package[] {
  const out: Package[] = [];
  for (const name of readdirSync(ROOT).sort()) {
    const files: Package['files'] = [];
    for (const kind of ['system', 'user']) {
      const dir = join(ROOT, name, kind);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).sort())
        files.push({ name: f, file: join(dir, f), content: readFileSync(join(dir, f)), user: kind === 'user' });
    }
    if (files.length > 0) out.push({ name, files });
  }
  return out;
}

/** gitfleet's findings per file, each package linted as one repository (one per kind of unit). */
function lintPackages(packages: readonly Package[]): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  for (const p of packages) {
    for (const user of [false, true]) {
      const files = p.files.filter((f) => f.user === user);
      for (const f of files) out.set(f.file, []);
      for (const d of lintUnitFiles(files).diagnostics) out.get(d.file)?.push(d);
    }
  }
  return out;
}

const packages = loadPackages();
const gitfleet = lintPackages(packages);

test('the Debian corpus is large enough to mean something', () => {
  const files = packages.reduce((n, p) => n + p.files.length, 0);
  assert.ok(packages.length >= 400, `only ${packages.length} packages`);
  assert.ok(files >= 900, `only ${files} unit files`);
});

test('gitfleet flags every Debian unit file systemd flags, and errs on none systemd accepts', async () => {
  const files: JudgedFile[] = packages.flatMap((p) =>
    p.files.map((f) => ({ path: f.file, user: f.user, install: /^\[Install\]/m.test(f.content.toString('latin1')) })),
  );
  const systemd = await judgeFiles(files);
  const missed: string[] = [];
  const falseErrors: string[] = [];
  let flagged = 0;
  for (const f of files) {
    const said = systemd.get(f.path)!;
    const ours = gitfleet.get(f.path)!;
    const rel = f.path.slice(ROOT.length + 1);
    if (said.length > 0) {
      flagged++;
      if (!ours.some((d) => d.severity !== 'info')) missed.push(`${rel}: systemd says ${JSON.stringify(said)}`);
    } else {
      const errors = ours.filter((d) => d.severity === 'error');
      if (errors.length > 0)
        falseErrors.push(`${rel}: ${errors.map((d) => `${d.line}: ${d.rule} ${d.message}`).join('; ')}`);
    }
  }
  console.log(
    `# debian: ${files.length} files of ${packages.length} packages; systemd flags ${flagged} (gitfleet flags ` +
      `${flagged - missed.length}), accepts ${files.length - flagged} (gitfleet errors on ${falseErrors.length})`,
  );
  assert.deepEqual({ missed, falseErrors }, { missed: [], falseErrors: [] });
  assert.ok(flagged >= 10, `systemd flags only ${flagged} files: the judge is not working`);
  // Findings naming no corpus file would be findings this comparison could not count.
  assert.deepEqual(systemd.get(''), []);
});

test('no DEP01 note on the socket that activates the service, no SVC04 on daemons kept in the foreground', () => {
  const noise: string[] = [];
  for (const [file, ds] of gitfleet) {
    for (const d of ds) {
      // The service's own socket: NAME.socket for NAME.service (or NAME@.service, NAME@x.service).
      const socket = /^\w+=(\S+?)(?:@[^.]*)?\.socket without/.exec(d.message)?.[1];
      if (d.rule === 'DEP01' && socket === basename(file).replace(/(@[^.]*)?\.service$/, ''))
        noise.push(`${file}:${d.line} ${d.message}`);
      if (d.rule === 'SVC04') {
        const line = readFileSync(file, 'utf8').split('\n')[d.line - 1] ?? '';
        if (/--daemonize[= ]no|--daemon=no|--no-?detach|--no-?fork|--foreground| -D\b/.test(line))
          noise.push(`${file}:${d.line} ${line}`);
      }
    }
  }
  assert.deepEqual(noise, []);
  // The corpus does have those patterns: the exemptions are exercised.
  const all = [...gitfleet.keys()].map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(all, /--daemonize no/);
  assert.match(all, /--daemon --no-detach/);
  assert.match(all, /^Requires=\S+\.socket$/m);
});
