/**
 * What one commit's reading and analysis found per file, kept for the next commit: a commit that
 * changes one unit file re-reads and re-lints that one file, not every file of the repository.
 *
 * Every entry is kept with all it was computed from (a file's path and blob id, its desired state,
 * the drop-ins that apply to it: see unitfacts.ts), and used only when all of that is the same
 * again, so an entry found is right for any commit of any repository; what a file's lint asked
 * about the other units' names is kept with it and asked again (unitfacts.ts). A pass keeps what
 * its commit used; when it ends, the rest is dropped: a memo holds about one commit's files.
 */
import type { FleetYamlResult } from './fleetyaml.js';
import type { LintResult } from '../unit/lint/index.js';

/** Values by key, each stamped with the last pass that used it. */
export class Kept<V> {
  private readonly map = new Map<string, { pass: number; value: V }>();
  private pass = 0;

  /** The value kept for `key`, now marked used by the current pass. */
  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    e.pass = this.pass;
    return e.value;
  }

  set(key: string, value: V): void {
    const e = this.map.get(key);
    if (e) {
      e.pass = this.pass;
      e.value = value;
    } else this.map.set(key, { pass: this.pass, value });
  }

  get size(): number {
    return this.map.size;
  }

  /** @internal: the memo starts and ends passes. */
  start(pass: number): void {
    this.pass = pass;
  }

  /** @internal: drop what passes before `pass` used and it did not. */
  sweep(pass: number): void {
    for (const [k, e] of this.map) if (e.pass < pass) this.map.delete(k);
  }
}

/** A file's result with the blob it was computed from: used again only for that blob. */
export interface ByBlob<V> {
  oid: string;
  value: V;
}

export class AnalysisMemo {
  /** Blob contents that passed the reader's checks, by blob id. */
  readonly blobs = new Kept<Uint8Array>();
  /** A tree's entries sorted by role (commitfiles.ts), by tree id. */
  readonly trees = new Kept<unknown>();
  /** fleet.yaml parsed, by path. */
  readonly fleetYaml = new Kept<ByBlob<FleetYamlResult>>();
  /** A drop-in linted, by path. */
  readonly dropIns = new Kept<ByBlob<LintResult>>();
  /** A unit file's facts (unitfacts.ts), by path. */
  readonly units = new Kept<unknown>();
  private passes = 0;
  private readonly all: Array<Kept<unknown>> = [this.blobs, this.trees, this.fleetYaml, this.dropIns, this.units];

  /** Start a commit's pass; end() it once the commit was read in full. */
  begin(): MemoPass {
    const pass = ++this.passes;
    for (const k of this.all) k.start(pass);
    return new MemoPass(this, pass);
  }

  /** @internal */
  finish(pass: number): void {
    for (const k of this.all) k.sweep(pass);
  }
}

/** One commit's use of a memo: the memo's tables, and end(). */
export class MemoPass {
  readonly blobs: AnalysisMemo['blobs'];
  readonly trees: AnalysisMemo['trees'];
  readonly fleetYaml: AnalysisMemo['fleetYaml'];
  readonly dropIns: AnalysisMemo['dropIns'];
  readonly units: AnalysisMemo['units'];

  constructor(
    private readonly memo: AnalysisMemo,
    private readonly pass: number,
  ) {
    this.blobs = memo.blobs;
    this.trees = memo.trees;
    this.fleetYaml = memo.fleetYaml;
    this.dropIns = memo.dropIns;
    this.units = memo.units;
  }

  /** The commit was read in full: the memo keeps only what it used. */
  end(): void {
    this.memo.finish(this.pass);
  }
}

/** `kept`'s value for `key` if it was computed from blob `oid`; else compute it and keep it. */
export function byBlob<V>(kept: Kept<ByBlob<V>>, key: string, oid: string | undefined, compute: () => V): V {
  if (!oid) return compute();
  const hit = kept.get(key);
  if (hit && hit.oid === oid) return hit.value;
  const value = compute();
  kept.set(key, { oid, value });
  return value;
}
