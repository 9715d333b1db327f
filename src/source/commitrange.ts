/**
 * Which commits a new head brings: every commit reachable from the head and not from the applied
 * commit (`git rev-list HEAD ^APPLIED`), so the commits of a merged branch count as much as the
 * first-parent line. Exact, not date-ordered guesswork: the applied commit's ancestors are walked
 * in full once, and kept (Ancestry) so that the next range costs only its new commits.
 */
import type { GitCache } from './git.js';
import { readParents } from './commitobj.js';

const notFound = (e: unknown) => (e as { code?: string }).code === 'NotFoundError';

/** Every ancestor set computed lately (the applied commit's, the last head's), by commit. */
export class Ancestry {
  private readonly sets = new Map<string, Set<string>>();

  constructor(private readonly keep = 2) {}

  get(commit: string): Set<string> | undefined {
    return this.sets.get(commit);
  }

  remember(commit: string, set: Set<string>): void {
    this.sets.delete(commit);
    this.sets.set(commit, set);
    while (this.sets.size > this.keep) this.sets.delete(this.sets.keys().next().value!);
  }
}

/** `commit` and all its ancestors. Absent history (a shallow clone) ends the walk there. */
async function ancestorsOf(gitdir: string, commit: string, cache: GitCache): Promise<Set<string>> {
  const seen = new Set<string>([commit]);
  const todo = [commit];
  while (todo.length) {
    const oid = todo.pop()!;
    let parents: string[];
    try {
      parents = await readParents(gitdir, oid, cache);
    } catch (e) {
      if (notFound(e)) continue;
      throw e;
    }
    for (const p of parents)
      if (!seen.has(p)) {
        seen.add(p);
        todo.push(p);
      }
  }
  return seen;
}

export interface CommitRange {
  /** Reachable from head, not from base: head first, then breadth-first. */
  commits: string[];
  /** Commits of the range that are not in the repository (their parents are unknown too). */
  missing: string[];
}

/**
 * The commits `head` brings over `base`. With `ancestry`, the base's ancestors are taken from (and
 * the head's stored into) it.
 */
export async function commitsBetween(
  gitdir: string,
  base: string,
  head: string,
  cache: GitCache,
  ancestry: Ancestry = new Ancestry(),
): Promise<CommitRange> {
  let known = ancestry.get(base);
  if (!known) {
    known = await ancestorsOf(gitdir, base, cache);
    ancestry.remember(base, known);
  }
  const commits: string[] = [];
  const missing: string[] = [];
  const seen = new Set<string>([head]);
  const queue = [head];
  for (let i = 0; i < queue.length; i++) {
    const oid = queue[i]!;
    if (known.has(oid)) continue;
    commits.push(oid);
    let parents: string[];
    try {
      parents = await readParents(gitdir, oid, cache);
    } catch (e) {
      if (!notFound(e)) throw e;
      missing.push(oid);
      continue;
    }
    for (const p of parents)
      if (!seen.has(p)) {
        seen.add(p);
        queue.push(p);
      }
  }
  if (missing.length === 0) {
    const headSet = new Set(known);
    for (const c of commits) headSet.add(c);
    ancestry.remember(head, headSet);
  }
  return { commits, missing };
}
