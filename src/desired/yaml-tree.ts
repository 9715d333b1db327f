/**
 * fleet.yaml's YAML plumbing (pure): js-yaml's event stream carries source offsets but the
 * constructed value does not, so a small tree of offsets is rebuilt from the events and walked next
 * to the value; plus the shared wording of what a value is.
 */
import * as yaml from 'js-yaml';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string '${v.length > 40 ? v.slice(0, 40) + '…' : v}'`;
  return `the ${typeof v} ${String(v)}`;
}

export function yamlError(
  e: unknown,
  err: (line: number, column: number, rule: string, message: string) => void,
  text: string,
): void {
  if (e instanceof yaml.YAMLException) {
    const line = e.mark ? e.mark.line + 1 : 0;
    const column = e.mark ? e.mark.column + 1 : 0;
    if (/duplicated mapping key/.test(e.reason) && e.mark) {
      // Name the key: the mark points at it.
      const key = /^\s*["']?([^"':\n]*)/.exec(text.slice(e.mark.position))?.[1]?.trim();
      err(
        line,
        column,
        'YML01',
        key ? `duplicate key '${key}': each key may appear once in a mapping` : `invalid YAML: ${e.reason}`,
      );
      return;
    }
    err(line, column, 'YML01', `invalid YAML: ${e.reason}`);
  } else {
    err(0, 0, 'YML01', `invalid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---- positions: js-yaml's event stream carries source offsets; the constructed value does not.
// We rebuild a small tree of offsets from the events and walk it next to the value.

export interface LineCol {
  line: number;
  column: number;
}
export type PNode = PMap | PSeq | PScalar;
export interface PMap {
  kind: 'map';
  offset: number;
  entries: Map<string, { keyOffset: number; value: PNode }>;
}
export interface PSeq {
  kind: 'seq';
  offset: number;
  items: PNode[];
}
export interface PScalar {
  kind: 'scalar';
  offset: number;
}

export function offsetOf(n: PNode | undefined): number {
  return n ? n.offset : 0;
}

export function buildPositionTree(events: yaml.Event[], source: string): PNode | undefined {
  let root: PNode | undefined;
  // Open collections; a map remembers the key it has read and is waiting to pair with a value.
  const stack: Array<{ node: PMap | PSeq; key: { text: string; offset: number } | null }> = [];
  const place = (n: PNode, keyText: string): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      root ??= n;
      return;
    }
    if (top.node.kind === 'seq') top.node.items.push(n);
    else if (top.key === null) {
      // This node is a key. Collections as keys get no text; js-yaml rejects them anyway.
      top.key = { text: keyText, offset: n.offset };
    } else {
      // The first occurrence wins; js-yaml has already refused duplicates.
      if (!top.node.entries.has(top.key.text))
        top.node.entries.set(top.key.text, { keyOffset: top.key.offset, value: n });
      top.key = null;
    }
  };
  for (const ev of events) {
    if (ev.type === yaml.EVENT_ID.MAPPING) {
      const n: PMap = { kind: 'map', offset: ev.start, entries: new Map() };
      place(n, '');
      stack.push({ node: n, key: null });
    } else if (ev.type === yaml.EVENT_ID.SEQUENCE) {
      const n: PSeq = { kind: 'seq', offset: ev.start, items: [] };
      place(n, '');
      stack.push({ node: n, key: null });
    } else if (ev.type === yaml.EVENT_ID.SCALAR) {
      // Quoted scalars' value offsets point inside the quotes; report the quote itself.
      const quoted = ev.style === yaml.SCALAR_STYLE.SINGLE_QUOTED || ev.style === yaml.SCALAR_STYLE.DOUBLE_QUOTED;
      const offset = Math.max(0, quoted ? ev.valueStart - 1 : ev.valueStart);
      const top = stack[stack.length - 1];
      const isKey = top !== undefined && top.node.kind === 'map' && top.key === null;
      place({ kind: 'scalar', offset }, isKey ? yaml.getScalarValue(source, ev) : '');
    } else if (ev.type === yaml.EVENT_ID.POP) {
      const closed = stack.pop();
      // A collection that was a key has been placed as the key; its parent now awaits the value.
      void closed;
    }
  }
  return root;
}

/** The mapping under `key` of a mapping node, if that is what the key holds. */
export function childMap(node: PMap | undefined, key: string): PMap | undefined {
  const v = node?.entries.get(key)?.value;
  return v && v.kind === 'map' ? v : undefined;
}

export class Positions {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  of(offset: number): LineCol {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
}
