/**
 * Unit bodies (body/<sha256>) the agent needs: only for hashes it has no file for, fetched once
 * and kept, with their facts, while a desired unit names them. A body that is absent, or does not
 * hash to its key, counts as missing: the unit it belongs to is left exactly as it is.
 */
import { bodyKey } from '../store/keys.js';
import { decodeUnitBody, MalformedRecordError } from '../store/records.js';
import type { KeyValue, Store } from '../store/store.js';
import { runsToCompletion, unitContent, type UnitContent } from './content.js';
import type { DesiredUnit } from './desired-watch.js';
import type { DesiredAgentUnit } from './tasks.js';
import type { UnitDir } from './unit-dir.js';

export class BodyCache {
  private readonly bodies = new Map<string, UnitContent>();

  constructor(private readonly store: Store) {}

  get(hash: string): UnitContent | undefined {
    return this.bodies.get(hash);
  }

  /**
   * The desired units this agent has content for (a body here, or the right file on disk), as the
   * planner takes them, after fetching the bodies of desired units whose file has another hash or
   * none. Units without content are `skipped`: left exactly as they are, neither desired nor
   * actual; `missing` are the hashes that could not be had.
   */
  async resolve(
    entries: ReadonlyMap<string, DesiredUnit>,
    unitDir: UnitDir,
  ): Promise<{ desired: Map<string, DesiredAgentUnit>; skipped: string[]; missing: string[] }> {
    const missing = await this.fetch(entries, unitDir);
    const desired = new Map<string, DesiredAgentUnit>();
    const skipped: string[] = [];
    for (const [unit, e] of entries) {
      const facts = this.bodies.get(e.hash) ?? (unitDir.hashOf(unit) === e.hash ? unitDir.get(unit) : undefined);
      if (facts) desired.set(unit, { hash: e.hash, state: e.state, runsToCompletion: runsToCompletion(unit, facts) });
      else skipped.push(unit);
    }
    return { desired, skipped, missing };
  }

  /** Fetch the bodies of units whose file has another hash (or none); forget bodies nothing names. */
  private async fetch(desired: ReadonlyMap<string, DesiredUnit>, unitDir: UnitDir): Promise<string[]> {
    const need = new Set<string>();
    for (const [unit, e] of desired) if (unitDir.hashOf(unit) !== e.hash && !this.bodies.has(e.hash)) need.add(e.hash);
    // One read for all of them (a machine given a hundred units at once needs a hundred bodies:
    // one get each took 0.27-0.4 s of its start on a loaded machine, the gets queueing).
    const hashes = [...need];
    const kvs = hashes.length ? await this.store.getMany(hashes.map(bodyKey)) : [];
    const missing: string[] = [];
    hashes.forEach((hash, i) => {
      const body = this.decode(kvs[i] ?? null, hash);
      if (body) this.bodies.set(hash, body);
      else missing.push(hash);
    });
    const used = new Set([...desired.values()].map((e) => e.hash));
    for (const h of this.bodies.keys()) if (!used.has(h)) this.bodies.delete(h);
    return missing;
  }

  private decode(kv: KeyValue | null, hash: string): UnitContent | null {
    if (!kv) return null;
    try {
      return unitContent(decodeUnitBody(kv, hash), hash);
    } catch (e) {
      if (e instanceof MalformedRecordError) return null;
      throw e;
    }
  }
}
