/**
 * `gitfleet plan [REV | BASE..HEAD]`: the git I/O around the pure planner. Reads both commits,
 * builds their desired states, and plans the difference.
 */
import type { Diagnostic } from '../diag.js';
import type { DesiredState, RepoFile } from '../desired/types.js';
import type { DesiredResult } from '../desired/build.js';
import { firstParent, loadCommit, mergeBase, resolveRev, GitSourceError } from '../source/git.js';
import type { GitCache } from '../source/readsession.js';
import { planChanges, type PreviewResult } from './changes.js';

export interface PlanRangeOptions {
  /** Directory of fleet.yaml inside the repository (`--path`); default the root. */
  path?: string;
  cache?: GitCache;
  /**
   * When the base commit itself would be refused, look back this many first-parent commits for the
   * last one that would deploy (what the controller would still be running). Default 20.
   */
  baseSearch?: number;
  /** Receives the head's desired state (null when refused), for callers that need more than the plan. */
  onHeadDesired?: (desired: DesiredState | null) => void;
}

/** Which two commits a plan spec names. */
export interface PlanRange {
  base: string | null;
  head: string;
  /** How the base was found, for messages. */
  baseFrom: 'first-parent' | 'merge-base';
}

/**
 * Resolve '' (HEAD vs its first parent), 'REV' (REV vs its first parent) or 'BASE..HEAD' /
 * 'BASE...HEAD' (the merge base of BASE and HEAD vs HEAD: what merging HEAD's changes would do).
 * Throws GitSourceError for unknown revisions.
 */
export async function resolvePlanRange(dir: string, spec: string, cache: GitCache = {}): Promise<PlanRange> {
  const m = /^(.*?)\.\.\.?(.*)$/.exec(spec.trim());
  if (m) {
    const a = await resolveRev(dir, m[1] || 'HEAD', cache);
    const b = await resolveRev(dir, m[2] || 'HEAD', cache);
    return { base: await mergeBase(dir, a, b, cache), head: b, baseFrom: 'merge-base' };
  }
  const head = await resolveRev(dir, spec.trim() || 'HEAD', cache);
  return { base: await firstParent(dir, head, cache), head, baseFrom: 'first-parent' };
}

/** Plan a range of a local repository (bare or not). Lint findings of the head are in `diagnostics`. */
export async function planRange(dir: string, spec: string, opts: PlanRangeOptions = {}): Promise<PreviewResult> {
  const cache = opts.cache ?? {};
  const range = await resolvePlanRange(dir, spec, cache);
  const notes: Diagnostic[] = [];

  const headRes = await loadCommit(dir, range.head, opts.path, cache);
  opts.onHeadDesired?.(headRes.desired);

  let baseDesired: DesiredState | null = null;
  let baseFiles: RepoFile[] = [];
  let baseSha = range.base;
  if (range.base === null) {
    if (range.baseFrom === 'merge-base') {
      notes.push(note('warning', `${short(range.head)} shares no history with the base: every unit is shown as added`));
    }
  } else {
    // The base should deploy; if it would be refused, the cluster still runs an older commit.
    let sha: string | null = range.base;
    const limit = opts.baseSearch ?? 20;
    let found: { sha: string; res: DesiredResult & { files: RepoFile[] } } | null = null;
    let why = '';
    let missing: string | null = null;
    for (let i = 0; sha && i <= limit; i++) {
      let res: Awaited<ReturnType<typeof loadCommit>>;
      try {
        res = await loadCommit(dir, sha, opts.path, cache);
      } catch (e) {
        // Older history can be absent (a shallow clone in CI): stop looking, say so.
        if (i === 0) {
          if ((e as { code?: string }).code === 'NotFoundError') {
            throw new GitSourceError(
              `base commit ${short(sha)} is not in ${dir} (a shallow clone? fetch at least one more commit of ` +
                `history, ` +
                `e.g. fetch-depth: 2)`,
            );
          }
          throw e;
        }
        missing = sha;
        break;
      }
      if (res.desired) {
        found = { sha, res };
        break;
      }
      if (i === 0) {
        const first = res.diagnostics.find((d) => d.severity === 'error');
        if (first) why = ` (${first.rule}${first.file ? ` ${first.file}` : ''}: ${first.message})`;
      }
      try {
        sha = await firstParent(dir, sha, cache);
      } catch {
        missing = sha;
        break;
      }
    }
    if (missing && !found) {
      notes.push(
        note(
          'warning',
          `base ${short(range.base)} would be refused${why} and the history before it is not in this repository (a ` +
            `shallow clone?): every unit is shown as added`,
        ),
      );
    } else if (found) {
      if (found.sha !== range.base) {
        notes.push(
          note(
            'warning',
            `base ${short(range.base)} would be refused${why}; compared with ${short(found.sha)}, the last commit ` +
              `before it that would deploy`,
          ),
        );
      }
      baseDesired = found.res.desired;
      baseFiles = found.res.files;
      baseSha = found.sha;
    } else {
      notes.push(
        note(
          'warning',
          `base ${short(range.base)} would be refused${why} and no earlier commit within ${limit} deploys: every ` +
            `unit is shown as added`,
        ),
      );
    }
  }

  const result = planChanges(baseDesired, headRes.desired, baseFiles, headRes.files);
  result.base = baseSha;
  result.head = range.head;
  result.diagnostics = [...notes, ...headRes.diagnostics];
  return result;
}

function note(severity: Diagnostic['severity'], message: string): Diagnostic {
  return { file: '', line: 0, column: 0, rule: 'PLAN01', severity, message };
}

function short(sha: string): string {
  return sha.slice(0, 12);
}

export { GitSourceError };
