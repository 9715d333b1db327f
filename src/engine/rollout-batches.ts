/**
 * Which machines a commit's rollout would reach in which batch (pure), for `gitfleet plan --etcd`:
 * the rollout planner itself (src/engine/rollout.ts), stepped as if each batch turned healthy at
 * once, so the preview cannot disagree with what the leading engine will do.
 */
import type { RolloutPolicy } from '../desired/policy.js';
import { placementKey, planRollout, type RolloutInput, type RolloutRecord, type UnitHealth } from './rollout.js';

export interface BatchPreview {
  /** The group: a template (its instances roll out together) or a unit. */
  unit: string;
  change: 'added' | 'changed' | 'removed';
  policy: RolloutPolicy;
  /** In order: `canary`, then `batch 1`, `batch 2`, ...; a unit added or removed goes `at once`. */
  batches: { name: string; machines: string[] }[];
  /** Held where an earlier rollout of this content failed (nothing moves until the content changes). */
  held: string | null;
}

/** `record`: the latest rollout in the cluster (its failed or reverted groups stay held). */
export function previewBatches(
  input: Pick<RolloutInput, 'commit' | 'units' | 'placement' | 'told'> & { record?: RolloutRecord | null },
): BatchPreview[] {
  const { record: latest, ...rest } = input;
  const base = { ...rest, now: 0, paused: false };
  const first = planRollout({ ...base, health: new Map(), record: latest ?? null }).record;
  const out: BatchPreview[] = [];
  for (const group of first.groups) {
    const units = input.units.filter((u) => u.group === group.unit);
    let record: RolloutRecord = { ...first, groups: [group] };
    const reached = new Set<string>();
    const batches: BatchPreview['batches'] = [];
    for (;;) {
      const g = record.groups[0]!;
      const next = g.machines.filter((m) => m.state === 'updating' && !reached.has(m.machine)).map((m) => m.machine);
      if (next.length === 0) break;
      for (const m of next) reached.add(m);
      batches.push({ name: batchName(g.change, g.policy, batches.length), machines: next });
      // Every machine reached so far healthy at the new content: the planner starts the next batch.
      const health = new Map<string, UnitHealth>();
      if (g.to !== null)
        for (const u of units)
          for (const m of input.placement.get(u.name) ?? [])
            if (reached.has(m)) health.set(placementKey(m, u.name), { hash: g.to, state: 'healthy' });
      record = planRollout({ ...base, units, health, record }).record;
    }
    const held = group.state === 'reverted' || group.state === 'failed' ? (group.reason ?? group.state) : null;
    out.push({ unit: group.unit, change: group.change, policy: group.policy, batches, held });
  }
  return out;
}

function batchName(change: BatchPreview['change'], policy: RolloutPolicy, index: number): string {
  if (change !== 'changed') return 'at once';
  if (policy.canary > 0) return index === 0 ? 'canary' : `batch ${index}`;
  return `batch ${index + 1}`;
}
