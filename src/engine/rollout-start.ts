/**
 * The record a rollout starts with (pure; src/engine/rollout.ts moves it on): one group per
 * template or unit whose content the commit changes on some machine, each machine with what it
 * was told before, and the units the commit removes. A group held where an earlier rollout
 * stopped (reverted or failed) stays held until a commit changes its content.
 */
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../desired/policy.js';
import type { RolloutGroup, RolloutRecord } from '../store/keys.js';
import type { RolloutInput, RolloutSubject } from './rollout.js';

export const placementKey = (machine: string, unit: string): string => `${machine}/${unit}`;
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function startRecord(
  input: RolloutInput,
  byGroup: ReadonlyMap<string, RolloutSubject[]>,
  prev: RolloutRecord | null,
): RolloutRecord {
  const groups: RolloutGroup[] = [];
  const held = new Map((prev?.groups ?? []).map((g) => [g.unit, g]));
  for (const [name, subjects] of [...byGroup].sort((a, b) => cmp(a[0], b[0]))) {
    const to = subjects[0]!.hash;
    const policy = subjects[0]!.policy;
    const old = held.get(name);
    if (old && old.to === to && (old.state === 'reverted' || old.state === 'failed')) {
      // Held where its rollout stopped until a commit changes its content.
      groups.push(structuredClone(old));
      continue;
    }
    const machines = new Map<string, string | null>();
    let changed = false;
    for (const u of subjects) {
      for (const m of input.placement.get(u.name) ?? []) {
        const was = input.told.get(placementKey(m, u.name)) ?? null;
        if (!machines.has(m) || machines.get(m) === null) machines.set(m, was);
        if (was !== u.hash) changed = true;
      }
    }
    if (!changed) continue;
    const from = mostCommon([...machines.values()].filter((h): h is string => h !== null && h !== to));
    groups.push({
      unit: name,
      change: from === null ? 'added' : 'changed',
      state: 'progressing',
      to,
      from,
      policy,
      machines: [...machines]
        .sort((a, b) => cmp(a[0], b[0]))
        .map(([machine, was]) => ({
          machine,
          // Already running the new content (a superseded rollout got it there): only its health is left.
          state: from === null || was === to ? 'updating' : 'pending',
          // A machine new to the group waits with the content the others had.
          from: was === to ? null : (was ?? from),
          since: input.now,
          reason: null,
        })),
      reason: null,
    });
  }
  // Units the commit removes: gone at once, tracked until their agents stop reporting them.
  const desired = new Set(input.units.map((u) => u.name));
  const removed = new Map<string, Set<string>>();
  for (const key of input.told.keys()) {
    const i = key.indexOf('/');
    const machine = key.slice(0, i);
    const unit = key.slice(i + 1);
    if (desired.has(unit)) continue;
    let set = removed.get(unit);
    if (!set) removed.set(unit, (set = new Set()));
    set.add(machine);
  }
  for (const [unit, ms] of [...removed].sort((a, b) => cmp(a[0], b[0]))) {
    groups.push({
      unit,
      change: 'removed',
      state: 'progressing',
      to: null,
      from: null,
      policy: subjectsPolicy(prev, unit),
      machines: [...ms].sort().map((machine) => ({
        machine,
        state: 'updating' as const,
        from: input.told.get(placementKey(machine, unit)) ?? null,
        since: input.now,
        reason: null,
      })),
      reason: null,
    });
  }
  groups.sort((a, b) => cmp(a.unit, b.unit));
  return {
    commit: input.commit,
    previous: prev?.commit ?? null,
    state: 'progressing',
    started: input.now,
    ended: null,
    reason: null,
    groups,
  };
}

function subjectsPolicy(prev: RolloutRecord | null, unit: string): RolloutPolicy {
  return prev?.groups.find((x) => x.unit === unit)?.policy ?? DEFAULT_ROLLOUT;
}

function mostCommon(values: readonly string[]): string | null {
  const n = new Map<string, number>();
  for (const v of values) n.set(v, (n.get(v) ?? 0) + 1);
  let best: string | null = null;
  for (const [v, c] of n) if (best === null || c > n.get(best)! || (c === n.get(best)! && v < best)) best = v;
  return best;
}
