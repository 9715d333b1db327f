import type { Diagnostic } from '../diag.js';

/** One assignment `Key=value` as systemd sees it (continuations joined, comments dropped). */
export interface UnitOption {
  section: string;
  key: string;
  /** Value stripped of surrounding whitespace; continuation backslashes already turned into spaces. */
  value: string;
  /** 1-based line of the physical line where the assignment starts. */
  line: number;
  /** 1-based column of the key's first character. */
  column: number;
  /** 1-based column of the value's first character (for diagnostics about the value). */
  valueColumn: number;
  /** In a unit merged with its drop-ins (src/unit/dropins.ts): the drop-in it comes from; absent for the unit file. */
  file?: string;
}

export interface UnitSection {
  name: string;
  /** Line of the first `[Name]` header (repeated sections are merged into the first). */
  line: number;
  /** In a merged unit: the drop-in whose header `line` is in, when the unit file has no such section. */
  file?: string;
  options: UnitOption[];
}

/** A unit file parsed exactly as systemd's config parser reads it. */
export interface ParsedUnit {
  /** File path used in diagnostics. */
  file: string;
  /** Sections in order of first appearance; a repeated section's options are appended to the first. */
  sections: UnitSection[];
  /** Syntax diagnostics found while parsing (SYN*). Parsing never throws on bad content. */
  diagnostics: Diagnostic[];
  /** True when systemd would refuse to load the file at all (invalid UTF-8, logical line > 1 MiB). */
  fatal: boolean;
}

/** Kinds of units systemd knows, by suffix. */
export const UNIT_TYPES = [
  'service',
  'socket',
  'device',
  'mount',
  'automount',
  'swap',
  'target',
  'path',
  'timer',
  'slice',
  'scope',
] as const;
export type UnitType = (typeof UNIT_TYPES)[number];

/** Parsed [X-Fleet] section, with fleet's semantics (fleet's own semantics). Specifiers already expanded. */
export interface FleetConstraints {
  /** Exact machine id, or an 8-char short id prefix. */
  machineId?: string;
  /** key -> accepted values. Same key ORed, different keys ANDed. */
  machineMetadata: Record<string, string[]>;
  /** Exact unit names this unit must be co-located with. */
  machineOf: string[];
  /** Globs (fleet path.Match semantics) of units this one may not share a machine with, checked both ways. */
  conflicts: string[];
  /** Run on every machine whose metadata matches. */
  global: boolean;
  /** Globs of units this one evicts from its machine. */
  replaces: string[];
}

export const NO_CONSTRAINTS: FleetConstraints = Object.freeze({
  machineMetadata: {},
  machineOf: [],
  conflicts: [],
  global: false,
  replaces: [],
}) as FleetConstraints;
