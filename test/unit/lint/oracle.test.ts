/**
 * gitfleet's linter against systemd itself on the corpus (docs/lint.md says how it is judged):
 *  - every file systemd flags, gitfleet flags with a warning or an error;
 *  - no file systemd accepts gets an error from gitfleet.
 *
 * "systemd flags a file" means any of:
 *  1. `SYSTEMD_UNIT_PATH= systemd-analyze verify --man=no --recursive-errors=no FILE` prints a
 *     finding (the invocation this file runs), minus host-dependent ones (a missing binary);
 *  2. the same without `--recursive-errors=no` prints a `FILE:LINE:` finding: only in that mode does
 *     systemd parse dependency names (Requires=foo); its other findings are host-dependent (no
 *     sysinit.target in an empty unit path) and are dropped;
 *  3. for a file with an [Install] section, `systemctl --root=TMP enable NAME` fails: verify never
 *     reads [Install], enable does.
 * Each case is copied into its own temp dir (a case of several files together); cases run in a
 * pool of 4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintUnitFile } from '../../../src/unit/lint/index.js';
import type { Diagnostic } from '../../../src/diag.js';
import { loadCorpus, type CorpusCase, type CorpusFile } from './support/corpus.js';
import { enable, pool, verify } from './support/oracle.js';

/**
 * Rules about fleet's [X-Fleet] semantics: systemd ignores X- sections, so it cannot judge them; their
 * errors are not counted against gitfleet when systemd accepts the file.
 */
const OUTSIDE_SYSTEMD = /^FLT/;

/** Findings that depend on the machine running the test, not on the unit file. */
const HOST_DEPENDENT = [/ is not executable: No such file or directory$/];

interface Verdict {
  file: CorpusFile;
  systemd: string[];
  gitfleet: Diagnostic[];
}

async function judgeCase(c: CorpusCase): Promise<Verdict[]> {
  const dir = await mkdtemp(join(tmpdir(), 'gitfleet-oracle-'));
  try {
    for (const f of c.files) await copyFile(f.path, join(dir, f.name));
    const repoUnits = new Set(c.files.map((f) => f.name));
    const out: Verdict[] = [];
    for (const f of c.files) {
      const plain = await verify(dir, f.name);
      const deps = await verify(dir, f.name, { deps: true });
      const systemd = [
        ...plain.lines.filter((l) => !HOST_DEPENDENT.some((re) => re.test(l))),
        ...deps.lines.filter((l) => /^\S.*?:\d+: /.test(l) && !plain.lines.includes(l)),
      ];
      if (/^\[Install\]/m.test(f.content.toString('latin1')) && !/[\s/]/.test(f.name)) {
        const en = await enable(
          c.files.map((x) => join(dir, x.name)),
          f.name,
        );
        if (en.code !== 0) systemd.push(...en.lines.map((l) => `systemctl enable: ${l}`));
      }
      const gitfleet = lintUnitFile(f.name, f.content, { file: f.id, repoUnits, state: f.state }).diagnostics;
      out.push({ file: f, systemd, gitfleet });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('gitfleet agrees with systemd-analyze verify on the corpus', async () => {
  const cases = loadCorpus();
  const verdicts = (await pool(cases, 4, judgeCase)).flat();
  const missed: string[] = [];
  const falseErrors: string[] = [];
  let flaggedBySystemd = 0;
  let acceptedBySystemd = 0;
  for (const v of verdicts) {
    const flagged = v.systemd.length > 0;
    const worst = v.gitfleet.some((d) => d.severity === 'error')
      ? 'error'
      : v.gitfleet.some((d) => d.severity === 'warning')
        ? 'warning'
        : 'none';
    if (flagged) {
      flaggedBySystemd++;
      if (worst === 'none') missed.push(`${v.file.id}: systemd says ${JSON.stringify(v.systemd)}`);
    } else {
      acceptedBySystemd++;
      const errors = v.gitfleet.filter((d) => d.severity === 'error' && !OUTSIDE_SYSTEMD.test(d.rule));
      if (errors.length > 0)
        falseErrors.push(`${v.file.id}: ${errors.map((d) => `${d.rule} ${d.message}`).join('; ')}`);
    }
  }
  console.log(
    `# oracle: ${verdicts.length} files in ${cases.length} cases; systemd flags ${flaggedBySystemd} ` +
      `(gitfleet flags ${flaggedBySystemd - missed.length}), accepts ${acceptedBySystemd} (gitfleet errors on ` +
      `${falseErrors.length})`,
  );
  assert.deepEqual({ missed, falseErrors }, { missed: [], falseErrors: [] });
  assert.ok(verdicts.length >= 60, `corpus has only ${verdicts.length} files`);
  assert.ok(flaggedBySystemd >= 30 && acceptedBySystemd >= 30, 'the corpus must exercise both verdicts');
});
