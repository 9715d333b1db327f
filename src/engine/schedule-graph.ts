/**
 * The schedule planner's graphs (src/engine/schedule.ts): which units must share a machine
 * (MachineOf, a trigger and the unit it activates, cycles folded into one group) and which
 * replace each other around a cycle; Tarjan's strongly connected components for both.
 */
import { triggerTarget } from '../fleet/constraints.js';
import type { DesiredEntry } from '../store/keys.js';
import { byName, type Unit, type Via } from './schedule-model.js';

/**
 * Units that replace each other, directly or around a cycle (a replaces b replaces c replaces a),
 * only conflict: none of them evicts another, so no plan (and no sequence of plans) loops.
 */
export function findReplaceCycles(units: ReadonlyMap<string, Unit>): void {
  const replacers = [...units.values()].filter((u) => u.replaces.length > 0);
  if (replacers.length < 2) return;
  const all = [...units.values()];
  const targets = new Map<Unit, Unit[]>();
  for (const r of replacers) {
    const out: Unit[] = [];
    for (const g of r.replaces) {
      if (g.error) continue;
      const exact = units.get(g.pattern);
      if (exact && !/[*?[\\]/.test(g.pattern)) {
        if (exact !== r && exact.replaces.length > 0) out.push(exact);
        continue;
      }
      for (const u of all) if (u !== r && u.replaces.length > 0 && g.match(u.name)) out.push(u);
    }
    targets.set(r, out);
  }
  let id = 0;
  for (const comp of stronglyConnected(replacers, (r) => targets.get(r) ?? [])) {
    if (comp.length < 2) continue;
    for (const u of comp) u.replaceCycle = id;
    id++;
  }
}

/**
 * Resolve MachineOf and trigger edges to leaders, fold cycles into their first member, and return
 * the processing order: leaders before followers, otherwise by name.
 */
export function resolveLeaders(units: ReadonlyMap<string, Unit>, entries: ReadonlyMap<string, DesiredEntry>): Unit[] {
  const raw = new Map<Unit, { u: Unit; via: Via }[]>();
  for (const u of units.values()) {
    const edges: { u: Unit; via: Via }[] = [];
    for (const target of [...new Set(u.entry.constraints.machineOf)].sort()) {
      if (target === u.name) continue;
      const l = units.get(target);
      if (l) {
        edges.push({ u: l, via: 'MachineOf' });
        continue;
      }
      const e = entries.get(target);
      u.blocked ??= !e
        ? `MachineOf ${target}, which does not exist`
        : e.constraints.global
          ? `MachineOf ${target}, which is a Global unit (not placed by the engine)`
          : `MachineOf ${target}, which is not scheduled (its desired state is inactive)`;
    }
    // A timer/socket/path unit follows the unit it activates, when that unit is placed at all.
    const t = triggerTarget(u.entry);
    const tu = t ? units.get(t) : undefined;
    if (tu && tu !== u && !edges.some((x) => x.u === tu)) edges.push({ u: tu, via: 'triggers' });
    raw.set(u, edges);
  }

  // With edges follower -> leader, leaders' components come first.
  const comps = stronglyConnected([...units.values()], (u) => raw.get(u)!.map((x) => x.u));

  const order: Unit[] = [];
  for (const comp of comps) {
    comp.sort(byName);
    const anchor = comp[0]!;
    const members = new Set(comp);
    for (const u of comp) {
      u.leaders = raw.get(u)!.filter((x) => !members.has(x.u));
      if (u !== anchor) u.leaders.push({ u: anchor, via: raw.get(u)!.find((x) => x.u === anchor)?.via ?? 'group' });
      for (const l of u.leaders) l.u.followers.push(u);
      order.push(u);
    }
  }
  return order;
}

/** Followers (transitively) of `u` that still need a machine and could go with it. */
export function pendingFollowers(u: Unit): Unit[] {
  if (u.followers.length === 0) return [];
  const out: Unit[] = [];
  const seen = new Set<Unit>([u]);
  const walk = (x: Unit) => {
    for (const f of x.followers) {
      if (seen.has(f)) continue;
      seen.add(f);
      if (f.machine || f.blocked) continue;
      out.push(f);
      walk(f);
    }
  };
  walk(u);
  return out;
}

/**
 * Tarjan's strongly connected components, iterative (10,000-deep chains must not overflow the
 * stack). Components come out leaves-first: for an edge a -> b, b's component precedes a's.
 */
export function stronglyConnected<T>(nodes: readonly T[], edges: (n: T) => readonly T[]): T[][] {
  const index = new Map<T, number>();
  const low = new Map<T, number>();
  const onStack = new Set<T>();
  const stack: T[] = [];
  const comps: T[][] = [];
  let next = 0;
  const visit = (n: T) => {
    index.set(n, next);
    low.set(n, next++);
    stack.push(n);
    onStack.add(n);
  };
  for (const root of nodes) {
    if (index.has(root)) continue;
    visit(root);
    const work: { n: T; out: readonly T[]; i: number }[] = [{ n: root, out: edges(root), i: 0 }];
    while (work.length) {
      const top = work[work.length - 1]!;
      if (top.i < top.out.length) {
        const w = top.out[top.i++]!;
        if (!index.has(w)) {
          visit(w);
          work.push({ n: w, out: edges(w), i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.n, Math.min(low.get(top.n)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.n;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.n)!));
      }
      if (low.get(top.n) === index.get(top.n)) {
        const comp: T[] = [];
        let w: T;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.n);
        comps.push(comp);
      }
    }
  }
  return comps;
}
