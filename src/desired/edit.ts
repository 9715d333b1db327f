/**
 * Minimal text edits of fleet.yaml for fleetctl's verbs (src/cli/verbs.ts): set a unit's state,
 * remove a unit's entry, remove one instance from a template's list. The file is people's: its
 * comments, order, quoting and layout stay as they are, and only the bytes that must change do
 * (never a re-dump). Positions come from js-yaml's event stream. Pure; the caller re-parses the
 * result and checks that it says what was meant before writing anything.
 */
import * as yaml from 'js-yaml';
import type { DesiredStateName } from './types.js';
import { instanceName } from './fleetyaml-units.js';

/** An edit this module does not make safely (the message says what to do by hand). */
export class FleetYamlEditError extends Error {
  override name = 'FleetYamlEditError';
}

interface Node {
  kind: 'map' | 'seq' | 'scalar';
  flow: boolean;
  start: number;
  /** End of the node's text: after its last scalar, or after the closing bracket of a flow collection. */
  end: number;
  /** Scalars: the decoded value ('' for an empty null). */
  value?: string;
  entries: { key: string; keyStart: number; keyEnd: number; value: Node }[];
  items: Node[];
}

function parse(text: string): Node | null {
  const events = yaml.parseEvents(text, { maxDepth: 16 });
  let root: Node | null = null;
  const stack: { node: Node; key: { key: string; start: number; end: number } | null }[] = [];
  const place = (n: Node): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      root ??= n;
      return;
    }
    if (top.node.kind === 'seq') top.node.items.push(n);
    else if (top.key === null) top.key = { key: n.value ?? '', start: n.start, end: n.end };
    else {
      top.node.entries.push({ key: top.key.key, keyStart: top.key.start, keyEnd: top.key.end, value: n });
      top.key = null;
    }
  };
  for (const ev of events) {
    if (ev.type === yaml.EVENT_ID.MAPPING || ev.type === yaml.EVENT_ID.SEQUENCE) {
      const n: Node = {
        kind: ev.type === yaml.EVENT_ID.MAPPING ? 'map' : 'seq',
        flow: ev.style === yaml.COLLECTION_STYLE.FLOW,
        start: ev.start,
        end: ev.start,
        entries: [],
        items: [],
      };
      place(n);
      stack.push({ node: n, key: null });
    } else if (ev.type === yaml.EVENT_ID.SCALAR) {
      const quoted = ev.style === yaml.SCALAR_STYLE.SINGLE_QUOTED || ev.style === yaml.SCALAR_STYLE.DOUBLE_QUOTED;
      const start = quoted ? ev.valueStart - 1 : ev.valueStart;
      const end = quoted ? ev.valueEnd + 1 : ev.valueEnd;
      place({
        kind: 'scalar',
        flow: false,
        start,
        end,
        value: yaml.getScalarValue(text, ev),
        entries: [],
        items: [],
      });
      for (const s of stack) s.node.end = Math.max(s.node.end, end);
    } else if (ev.type === yaml.EVENT_ID.POP) {
      const closed = stack.pop();
      if (closed?.node.flow) {
        const close = text.indexOf(closed.node.kind === 'map' ? '}' : ']', closed.node.end);
        closed.node.end = close < 0 ? text.length : close + 1;
        for (const s of stack) s.node.end = Math.max(s.node.end, closed.node.end);
      }
    } else if (ev.type === yaml.EVENT_ID.ALIAS) {
      throw new FleetYamlEditError('fleet.yaml uses an alias; edit it by hand');
    }
  }
  return root;
}

const lineStart = (t: string, off: number): number => t.lastIndexOf('\n', off - 1) + 1;
const lineEnd = (t: string, off: number): number => {
  const i = t.indexOf('\n', off);
  return i < 0 ? t.length : i;
};
const column = (t: string, off: number): number => off - lineStart(t, off);
const splice = (t: string, from: number, to: number, s: string): string => t.slice(0, from) + s + t.slice(to);

/** A unit name as a YAML key: plain when it reads back as itself, else single-quoted. */
export function yamlKey(name: string): string {
  return /^[A-Za-z0-9_.][A-Za-z0-9_.@\\-]*$/.test(name) ? name : `'${name.replace(/'/g, "''")}'`;
}

function unitsOf(text: string): { root: Node | null; units: Node | null; unitsKey?: Node['entries'][number] } {
  const root = parse(text);
  if (root && root.kind !== 'map') throw new FleetYamlEditError('fleet.yaml is not a mapping; fix it first');
  const unitsKey = root?.entries.find((e) => e.key === 'units');
  const units = unitsKey && unitsKey.value.kind === 'map' ? unitsKey.value : null;
  if (unitsKey && !units && unitsKey.value.value !== '')
    throw new FleetYamlEditError('units in fleet.yaml is not a mapping; fix it first');
  return { root, units, unitsKey };
}

/** Insert a whole line after the line that holds offset `after` (or at the end of the text). */
function insertLineAfter(text: string, after: number, line: string): string {
  const e = lineEnd(text, after);
  return e === text.length ? `${text}\n${line}\n` : splice(text, e + 1, e + 1, `${line}\n`);
}

/** Set `state:` of one entry's value (a scalar, or a map with or without a state key). */
function setEntryState(text: string, entry: Node['entries'][number], state: DesiredStateName): string {
  const v = entry.value;
  if (v.kind === 'scalar') {
    if (v.value !== '' || v.end > v.start) return splice(text, v.start, v.end, state);
    const colon = text.indexOf(':', entry.keyEnd);
    return splice(text, colon + 1, colon + 1, ` ${state}`);
  }
  if (v.kind !== 'map') throw new FleetYamlEditError(`units.${entry.key} in fleet.yaml is a list; fix it first`);
  const s = v.entries.find((e) => e.key === 'state');
  if (s) return splice(text, s.value.start, s.value.end, state);
  const first = v.entries[0];
  if (v.flow)
    return first
      ? splice(text, first.keyStart, first.keyStart, `state: ${state}, `)
      : splice(text, v.start + 1, v.start + 1, `state: ${state}`);
  if (!first) throw new FleetYamlEditError(`units.${entry.key} in fleet.yaml is empty; fix it first`);
  const at = lineStart(text, first.keyStart);
  return splice(text, at, at, `${' '.repeat(column(text, first.keyStart))}state: ${state}\n`);
}

/** fleet.yaml with `units.<name>` set to `state` (added when absent). `text` null: no fleet.yaml yet. */
export function setUnitState(text: string | null, name: string, state: DesiredStateName): string {
  const line = `${yamlKey(name)}: ${state}`;
  if (text === null || text.trim() === '') return `${text ?? ''}units:\n  ${line}\n`;
  const { root, units, unitsKey } = unitsOf(text);
  if (root?.flow) throw new FleetYamlEditError('fleet.yaml is one flow mapping ({...}); edit it by hand');
  const entry = units?.entries.find((e) => e.key === name);
  if (entry) return setEntryState(text, entry, state);
  if (!unitsKey) return `${text.endsWith('\n') ? text : `${text}\n`}units:\n  ${line}\n`;
  if (!units)
    return insertLineAfter(text, unitsKey.keyEnd, `${' '.repeat(column(text, unitsKey.keyStart) + 2)}${line}`);
  if (units.flow) {
    const close = units.end - 1;
    return splice(text, close, close, `${units.entries.length ? ', ' : ''}${line}`);
  }
  const indent = column(text, units.entries[0]!.keyStart);
  return insertLineAfter(text, units.end, `${' '.repeat(indent)}${line}`);
}

/** Remove `[from, to)` of a flow collection's item and one comma next to it. */
function cutFlowItem(text: string, from: number, to: number): string {
  const after = /^\s*,[ \t]*/.exec(text.slice(to));
  if (after) return splice(text, from, to + after[0].length, '');
  const before = /,\s*$/.exec(text.slice(0, from));
  return before ? splice(text, from - before[0].length, to, '') : splice(text, from, to, '');
}

/** fleet.yaml without `units.<name>`; unchanged when there is no such entry. */
export function removeUnitEntry(text: string, name: string): string {
  const { units } = unitsOf(text);
  const entry = units?.entries.find((e) => e.key === name);
  if (!units || !entry) return text;
  if (units.flow) return cutFlowItem(text, entry.keyStart, entry.value.end);
  const from = lineStart(text, entry.keyStart);
  const end = lineEnd(text, Math.max(entry.value.end, entry.keyEnd));
  return splice(text, from, Math.min(text.length, end + 1), '');
}

/**
 * fleet.yaml with `instance` taken out of `template`'s `instances:` list. A count (`instances: 3`)
 * cannot lose one member: that is an error saying what to do instead.
 */
export function removeInstance(text: string, template: string, instance: string): string {
  const { units } = unitsOf(text);
  const entry = units?.entries.find((e) => e.key === template);
  const inst = entry?.value.entries.find((e) => e.key === 'instances');
  if (!inst) return text;
  const list = inst.value;
  if (list.kind === 'scalar')
    throw new FleetYamlEditError(
      `${instance} is one of ${template}'s "instances: ${list.value}" in fleet.yaml: a count cannot lose one ` +
        `instance; list the instances you want (instances: [a, b]) or lower the count`,
    );
  const i = list.items.findIndex((x) => x.kind === 'scalar' && instanceName(template, x.value!) === instance);
  if (i < 0) return text;
  const item = list.items[i]!;
  if (list.flow) return cutFlowItem(text, item.start, item.end);
  if (list.items.length === 1) {
    const colon = text.indexOf(':', inst.keyEnd);
    return splice(text, colon + 1, lineEnd(text, item.end), ' []');
  }
  const from = lineStart(text, item.start);
  return splice(text, from, Math.min(text.length, lineEnd(text, item.end) + 1), '');
}
