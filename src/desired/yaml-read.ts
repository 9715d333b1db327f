/**
 * fleet.yaml text -> a plain value and the positions of its nodes (pure), read as untrusted input:
 * fleet.yaml comes from git. It is read with js-yaml's core schema (no custom tags), size- and
 * depth-capped, anchors and aliases are refused outright (no alias expansion means no "billion
 * laughs"), duplicate keys are errors, and every finding carries line and column. What the value
 * means is fleetyaml.ts's business.
 */
import * as yaml from 'js-yaml';
import { buildPositionTree, Positions, yamlError, type PNode } from './yaml-tree.js';

/** fleet.yaml larger than this is refused before parsing. */
export const MAX_FLEET_YAML_BYTES = 1024 * 1024;
/** Nesting deeper than this is refused (the real format needs 4 levels). */
export const MAX_FLEET_YAML_DEPTH = 16;

export interface YamlDocument {
  /** The document's value; null for an empty document. */
  value: unknown;
  /** Source offsets of the value's nodes, walked next to it. */
  tree: PNode | undefined;
  pos: Positions;
}

/**
 * Read fleet.yaml's one document, or report through `err` (all YML01) why it cannot be read and
 * return null. Never throws on bad content.
 */
export function readYamlDocument(
  content: string | Uint8Array,
  file: string,
  err: (line: number, column: number, rule: string, message: string) => void,
): YamlDocument | null {
  const size = typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.byteLength;
  if (size > MAX_FLEET_YAML_BYTES) {
    err(0, 0, 'YML01', `fleet.yaml is ${size} bytes; the limit is ${MAX_FLEET_YAML_BYTES} (1 MiB)`);
    return null;
  }
  let text: string;
  if (typeof content === 'string') text = content;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(content);
    } catch {
      err(0, 0, 'YML01', 'fleet.yaml is not valid UTF-8');
      return null;
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const pos = new Positions(text);

  let events: yaml.Event[];
  try {
    events = yaml.parseEvents(text, { filename: file, maxDepth: MAX_FLEET_YAML_DEPTH });
  } catch (e) {
    yamlError(e, err, text);
    return null;
  }

  // Refuse anchors and aliases before anything is constructed: nothing in fleet.yaml needs them,
  // and refusing them is the simplest complete defence against alias expansion bombs.
  let documents = 0;
  for (const ev of events) {
    if (ev.type === yaml.EVENT_ID.DOCUMENT) documents++;
    const anchor = 'anchorStart' in ev ? ev.anchorStart : -1;
    if (ev.type === yaml.EVENT_ID.ALIAS || anchor >= 0) {
      const at = pos.of(Math.max(0, anchor - 1));
      err(at.line, at.column, 'YML01', 'anchors (&name) and aliases (*name) are not allowed in fleet.yaml');
      return null;
    }
  }
  if (documents > 1) {
    err(0, 0, 'YML01', `fleet.yaml must hold one YAML document, found ${documents} (remove the '---' separators)`);
    return null;
  }

  let value: unknown;
  try {
    const docs = yaml.constructFromEvents(events, {
      source: text,
      filename: file,
      schema: yaml.CORE_SCHEMA,
      maxAliases: 0,
    });
    value = docs.length === 0 ? null : docs[0];
  } catch (e) {
    yamlError(e, err, text);
    return null;
  }
  return { value, tree: buildPositionTree(events, text), pos };
}
