/**
 * What a desired unit is made of, from one unit file (pure): its body (canonical unit file and
 * drop-ins, src/unit/body.ts) with its hash, and for a timer, path or socket the unit it activates.
 */
import { encodeUnitFiles } from '../unit/body.js';
import { parseUnitName } from '../unit/names.js';
import { lastValue } from '../unit/parse.js';
import { serializeUnit } from '../unit/serialize.js';
import type { ParsedUnit } from '../unit/types.js';
import { sha256 } from '../util/hash.js';
import type { AnalyzedDropIn } from './dropins.js';
import type { DesiredUnit } from './types.js';

export type UnitBody = Pick<DesiredUnit, 'content' | 'hash' | 'dropIns'>;

/**
 * A unit's body and hash: its canonical unit file, with its drop-ins (canonical, under their file
 * names) when it has any, and the repo paths of those drop-ins.
 */
export function bodyOf(main: string, dropIns: readonly AnalyzedDropIn[]): UnitBody {
  const texts = dropIns.flatMap((d) => (d.unit ? [{ name: d.name, text: serializeUnit(d.unit) }] : []));
  const content = encodeUnitFiles({ unit: main, dropIns: texts });
  return { content, hash: sha256(content), ...(dropIns.length ? { dropIns: dropIns.map((d) => d.path) } : {}) };
}

const TRIGGER_SECTIONS: Record<string, string> = { timer: 'Timer', path: 'Path', socket: 'Socket' };
const TRUE = /^(1|yes|y|true|t|on)$/i;

/** The unit a timer/path/socket activates (see DesiredUnit.triggers); null for other units. */
export function triggerOf(unit: ParsedUnit, name: string): { unit: string; template: boolean } | null {
  const parsed = parseUnitName(name);
  if (!parsed || parsed.template) return null;
  const section = TRIGGER_SECTIONS[parsed.type];
  if (!section) return null;
  const explicit = lastValue(unit, section, 'Unit');
  if (explicit) return { unit: explicit, template: false };
  const base = parsed.instance !== null ? `${parsed.prefix}@${parsed.instance}` : parsed.prefix;
  if (parsed.type === 'socket' && TRUE.test(lastValue(unit, 'Socket', 'Accept') ?? '')) {
    return { unit: `${parsed.prefix}@.service`, template: true };
  }
  return { unit: `${base}.service`, template: false };
}
