/**
 * What a commit changes, as data (pure): the difference between two desired states, plus unified
 * diffs of the unit files behind each change. The JSON shape is docs/cli.md's plan shape, with
 * the additions documented in docs/plan.md.
 */
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import type { Diagnostic } from '../diag.js';
import type { DesiredState, DesiredStateName, DesiredUnit, RepoFile } from '../desired/types.js';
import { decodeUnitFiles } from '../unit/body.js';

export type ChangeKind = 'added' | 'removed' | 'changed' | 'state';

/** One unit whose desired state differs between base and head. */
export interface PreviewChange {
  unit: string;
  /**
   * added: new unit; removed: gone from git, so destroyed everywhere; changed: content hash differs
   * (the state may differ too: see `state`); state: same content, different desired state.
   */
  change: ChangeKind;
  state: { from: DesiredStateName | null; to: DesiredStateName | null };
  hash: { from: string | null; to: string | null };
  /** Repo path of the file the unit comes from (the template's for instances), in base and head. */
  source: { from: string | null; to: string | null };
  /**
   * For `changed`: the repo paths of its files whose canonical content changed (the unit file, its
   * drop-ins: one added, removed or edited), in head's terms; each is in `files` with its diff.
   */
  files?: string[];
}

/** A unit file whose text differs between base and head, with its diff. */
export interface PreviewFile {
  /** Path in head. */
  file: string;
  /** Path in base, when it differs from `file` (the file moved). */
  oldFile?: string;
  /**
   * The units this file defines or, for a drop-in, that it applies to (base and head), sorted; empty
   * for a template without instances.
   */
  units: string[];
  /**
   * false: the text changed but no unit's canonical content did (comments, blank lines, layout,
   * continuation lines, or a template with no instances): applying it changes nothing.
   */
  effect: boolean;
  /** Unified diff (3 lines of context) of the file's text; of the canonical text when raw files were not given. */
  diff: string;
}

export interface PreviewSummary {
  added: number;
  removed: number;
  changed: number;
  state: number;
  /** Units present in both with the same content and state. */
  unchanged: number;
  /** Files in `files` with effect: false. */
  noEffect: number;
}

export interface PreviewResult {
  /** Base commit, or null (no base: a root commit, or unrelated histories). */
  base: string | null;
  head: string | null;
  /** Sorted by unit name. Empty when the head is refused. */
  changes: PreviewChange[];
  /** Sorted by path: files behind `changed` units (effect: true) and files that changed with no effect. */
  files: PreviewFile[];
  summary: PreviewSummary;
  /** Findings about head (lint), and notes about how the base was chosen. */
  diagnostics: Diagnostic[];
  /** True when head has errors: the controller would refuse it and nothing would change. */
  refused: boolean;
}

/**
 * The plan from `base` to `head`. A null base means "nothing deployed" (everything is added); a
 * null head means the head was refused (no changes; `refused: true`). With the raw unit files of
 * both sides, diffs show the files as committed and text-only edits are reported as no effect;
 * without them, diffs are of the canonical text.
 */
export function planChanges(
  base: DesiredState | null,
  head: DesiredState | null,
  baseFiles?: readonly RepoFile[],
  headFiles?: readonly RepoFile[],
): PreviewResult {
  const result: PreviewResult = {
    base: base?.commit ?? null,
    head: head?.commit ?? null,
    changes: [],
    files: [],
    summary: { added: 0, removed: 0, changed: 0, state: 0, unchanged: 0, noEffect: 0 },
    diagnostics: [],
    refused: head === null,
  };
  if (!head) return result;

  const before = new Map((base?.units ?? []).map((u) => [u.name, u]));
  const after = new Map(head.units.map((u) => [u.name, u]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const unit of names) {
    const b = before.get(unit);
    const a = after.get(unit);
    let change: ChangeKind | null;
    if (!b) change = 'added';
    else if (!a) change = 'removed';
    else if (a.hash !== b.hash) change = 'changed';
    else if (a.state !== b.state) change = 'state';
    else change = null;
    if (!change) {
      result.summary.unchanged++;
      continue;
    }
    result.summary[change]++;
    result.changes.push({
      unit,
      change,
      state: { from: b?.state ?? null, to: a?.state ?? null },
      hash: { from: b?.hash ?? null, to: a?.hash ?? null },
      source: { from: b?.source ?? null, to: a?.source ?? null },
    });
  }

  result.files = planFiles(result.changes, before, after, baseFiles, headFiles);
  result.summary.noEffect = result.files.filter((f) => !f.effect).length;
  return result;
}

function planFiles(
  changes: readonly PreviewChange[],
  before: ReadonlyMap<string, DesiredUnit>,
  after: ReadonlyMap<string, DesiredUnit>,
  baseFiles: readonly RepoFile[] | undefined,
  headFiles: readonly RepoFile[] | undefined,
): PreviewFile[] {
  const raw = baseFiles !== undefined && headFiles !== undefined;
  const baseText = new Map((baseFiles ?? []).map((f) => [f.path, f.content]));
  const headText = new Map((headFiles ?? []).map((f) => [f.path, f.content]));
  const bySource = new Map<string, Set<string>>();
  for (const u of [...before.values(), ...after.values()]) {
    for (const path of [u.source, ...(u.dropIns ?? [])]) {
      let s = bySource.get(path);
      if (!s) bySource.set(path, (s = new Set()));
      s.add(u.name);
    }
  }
  const unitsOf = (path: string): string[] => [...(bySource.get(path) ?? [])].sort();
  const oldCanon = canonicalTexts(before.values());
  const newCanon = canonicalTexts(after.values());

  // Files behind content changes, once per (base path, head path): a template's instances share
  // one, a type-wide drop-in's units too. A unit file or drop-in whose canonical text is the same on
  // both sides did not make the change.
  const out = new Map<string, PreviewFile>();
  for (const c of changes) {
    if (c.change !== 'changed') continue;
    const pairs: Array<[string, string]> = [[c.source.from!, c.source.to!]];
    const dropIns = new Set([...(before.get(c.unit)!.dropIns ?? []), ...(after.get(c.unit)!.dropIns ?? [])]);
    for (const d of [...dropIns].sort()) pairs.push([d, d]);
    c.files = [];
    for (const [from, to] of pairs) {
      if (oldCanon.get(from) === newCanon.get(to)) continue;
      c.files.push(to);
      const key = `${from}\0${to}`;
      if (out.has(key)) continue;
      const text = (side: ReadonlyMap<string, Uint8Array>, canon: ReadonlyMap<string, string>, path: string) =>
        raw && side.has(path) ? decode(side.get(path)!) : (canon.get(path) ?? '');
      const diff = unifiedDiff(from, to, text(baseText, oldCanon, from), text(headText, newCanon, to));
      const f: PreviewFile = { file: to, units: [], effect: true, diff };
      if (from !== to) f.oldFile = from;
      out.set(key, f);
    }
  }
  for (const f of out.values())
    f.units = [...new Set([...unitsOf(f.file), ...(f.oldFile ? unitsOf(f.oldFile) : [])])].sort();

  // Files whose text changed without changing any unit.
  if (raw) {
    const covered = new Set([...out.values()].map((f) => f.file));
    for (const [path, content] of headText) {
      if (covered.has(path)) continue;
      const old = baseText.get(path);
      if (!old || bytesEqual(old, content)) continue;
      out.set(`${path}\0${path}`, {
        file: path,
        units: unitsOf(path),
        effect: false,
        diff: unifiedDiff(path, path, decode(old), decode(content)),
      });
    }
  }
  return [...out.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** The canonical text of every unit file and drop-in the units' bodies hold, by repo path. */
function canonicalTexts(units: Iterable<DesiredUnit>): Map<string, string> {
  const out = new Map<string, string>();
  for (const u of units) {
    if (out.has(u.source) && !u.dropIns) continue;
    const files = decodeUnitFiles(u.content);
    out.set(u.source, files.unit);
    for (const path of u.dropIns ?? []) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      const d = files.dropIns.find((x) => x.name === name);
      if (d) out.set(path, d.text);
    }
  }
  return out;
}

/** `--- a/old` / `+++ b/new` unified diff with 3 lines of context. */
export function unifiedDiff(oldPath: string, newPath: string, oldText: string, newText: string): string {
  return createTwoFilesPatch(`a/${oldPath}`, `b/${newPath}`, oldText, newText, undefined, undefined, {
    context: 3,
    headerOptions: FILE_HEADERS_ONLY,
  });
}

const decoder = new TextDecoder('utf-8');
function decode(b: Uint8Array): string {
  return decoder.decode(b);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
