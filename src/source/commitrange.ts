/**
 * Which commits a new head brings: every commit reachable from the head and not from the applied
 * commit (`git rev-list HEAD ^APPLIED`), so the commits of a merged branch count as much as the
 * first-parent line.
 *
 * Walked as git walks it: from both ends at once, newest commit first, the applied commit's side
 * marking what it reaches as old; the walk ends when nothing new is left in the queue, so it
 * costs about the commits since the two sides met, not the whole history. It never misses a new
 * commit: one is reached from the head through new commits only, and the walk goes on while any
 * is queued. With commit dates that run backwards along history (a skewed clock) it may count an
 * old commit as new: that errs on the side of checking (and refusing) more, never less.
 */
import type { GitCache } from './readsession.js';
import { readParents } from './commitobj.js';

const notFound = (e: unknown) => (e as { code?: string }).code === 'NotFoundError';

interface Seen {
  /** Reachable from the base (the applied commit). */
  old: boolean;
  queued: boolean;
  emitted: boolean;
  /** null: the object is not in the repository. */
  commit: { parents: string[]; time: number } | null;
}

interface Entry {
  oid: string;
  time: number;
  old: boolean;
}

/** Newest first; at equal times the base's side first (a commit and its parent often share a second). */
const before = (a: Entry, b: Entry) => a.time > b.time || (a.time === b.time && a.old && !b.old);

class Queue {
  private readonly heap: Entry[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!before(h[i]!, h[up]!)) break;
      [h[i], h[up]] = [h[up]!, h[i]!];
      i = up;
    }
  }

  pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

export interface CommitRange {
  /** Reachable from head, not from base: newest first. */
  commits: string[];
  /** Commits of the range that are not in the repository (a shallow clone): their history is unknown. */
  missing: string[];
}

/** The commits `head` brings over `base`. */
export async function commitsBetween(
  gitdir: string,
  base: string,
  head: string,
  cache: GitCache,
): Promise<CommitRange> {
  const seen = new Map<string, Seen>();
  const queue = new Queue();
  /** Commits queued and not (yet) known to be old: the walk goes on while there are any. */
  let newQueued = 0;

  const load = async (oid: string): Promise<Seen['commit']> => {
    try {
      return await readParents(gitdir, oid, cache);
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  };
  const enqueue = async (oid: string, old: boolean): Promise<void> => {
    let s = seen.get(oid);
    if (!s) {
      s = { old, queued: false, emitted: false, commit: await load(oid) };
      seen.set(oid, s);
    } else if (old && !s.old) {
      // Reached from the base after all: old. If it was counted new, it is not, nor its ancestors.
      s.old = true;
      if (s.queued) newQueued--;
      s.queued = false;
      s.emitted = false;
    } else return;
    s.queued = true;
    if (!old) newQueued++;
    queue.push({ oid, time: s.commit ? s.commit.time : Number.POSITIVE_INFINITY, old });
  };

  await enqueue(base, true);
  await enqueue(head, false);
  const order: string[] = [];
  while (newQueued > 0 && queue.size > 0) {
    const e = queue.pop()!;
    const s = seen.get(e.oid)!;
    if (!s.queued || s.old !== e.old) continue; // superseded by a later mark
    s.queued = false;
    if (!s.old) {
      newQueued--;
      s.emitted = true;
      order.push(e.oid);
    }
    for (const p of s.commit?.parents ?? []) await enqueue(p, s.old);
  }
  const commits = order.filter((oid) => seen.get(oid)!.emitted);
  return { commits, missing: commits.filter((oid) => seen.get(oid)!.commit === null) };
}
