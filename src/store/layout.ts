/**
 * Pure: how one commit's desired state is laid out in the store (src/store/keys.ts): unit bodies
 * by content hash, units grouped into content-addressed shards, and the root that names them.
 * Deterministic: the same desired state always yields byte-identical shards, so re-applying a
 * commit, or a commit that changes one unit, rewrites only what differs.
 */
import type { DesiredState } from '../desired/types.js';
import type { FleetConstraints } from '../unit/types.js';
import { sha256 } from '../util/hash.js';
import { shardOf, type DesiredEntry, type DesiredRoot, type DesiredShard } from './keys.js';

export interface StoreLayout {
  /** Shard index -> { hash of the JSON text, the JSON text, the units it holds }. */
  shards: Map<string, { hash: string; json: string; units: DesiredEntry[] }>;
  /** Content hash -> canonical unit text. */
  bodies: Map<string, string>;
  global: DesiredEntry[];
  count: number;
}

/** A constraints object with a fixed key order and sorted metadata keys (for stable JSON). */
export function normalizeConstraints(c: FleetConstraints): FleetConstraints {
  const md: Record<string, string[]> = {};
  for (const k of Object.keys(c.machineMetadata).sort()) md[k] = [...c.machineMetadata[k]!];
  const out: FleetConstraints = {
    machineMetadata: md,
    machineOf: [...c.machineOf],
    conflicts: [...c.conflicts],
    global: c.global,
    replaces: [...c.replaces],
  };
  if (c.machineId !== undefined) out.machineId = c.machineId;
  return out;
}

/** A desired unit as the store records it (DesiredEntry), with its constraints normalized. */
export function toEntry(
  u: Pick<DesiredEntry, 'name' | 'hash' | 'state' | 'constraints' | 'triggers' | 'rollout' | 'health'>,
): DesiredEntry {
  const e: DesiredEntry = {
    name: u.name,
    hash: u.hash,
    state: u.state,
    constraints: normalizeConstraints(u.constraints),
  };
  if (u.triggers) e.triggers = u.triggers;
  if (u.rollout) e.rollout = u.rollout;
  if (u.health) e.health = u.health;
  return e;
}

export function layoutDesired(desired: DesiredState): StoreLayout {
  const groups = new Map<string, DesiredEntry[]>();
  const bodies = new Map<string, string>();
  const global: DesiredEntry[] = [];
  const sorted = [...desired.units].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const u of sorted) {
    const entry = toEntry(u);
    bodies.set(u.hash, u.content);
    const idx = shardOf(u.name);
    let g = groups.get(idx);
    if (!g) groups.set(idx, (g = []));
    g.push(entry);
    if (entry.constraints.global) global.push(entry);
  }
  const shards: StoreLayout['shards'] = new Map();
  for (const idx of [...groups.keys()].sort()) {
    const shard: DesiredShard = { units: groups.get(idx)! };
    const json = JSON.stringify(shard);
    shards.set(idx, { hash: sha256(json), json, units: shard.units });
  }
  return { shards, bodies, global, count: sorted.length };
}

export function rootOf(commit: string, at: string, layout: StoreLayout): DesiredRoot {
  const shards: Record<string, string> = {};
  for (const [idx, s] of layout.shards) shards[idx] = s.hash;
  return { commit, at, shards, global: layout.global, count: layout.count };
}

/** True when two roots describe the same desired state (ignoring when they were applied). */
export function sameContent(a: DesiredRoot, b: DesiredRoot): boolean {
  if (a.commit !== b.commit) return false;
  const ka = Object.keys(a.shards),
    kb = Object.keys(b.shards);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => a.shards[k] === b.shards[k]);
}
