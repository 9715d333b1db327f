/**
 * Helpers the whole-unit rules share: a unit's effective booleans and enums as systemd reads them,
 * and where to report a missing setting.
 */
import { templateOf } from '../names.js';
import { getSection } from '../parse.js';
import { isDeprecatedSpecifier, isKnownSpecifier } from '../specifiers.js';
import type { ParsedUnit, UnitOption } from '../types.js';
import { isBoolean } from './grammar.js';
import type { LintContext } from './index.js';

export const known = (c: string) => isKnownSpecifier(c) || isDeprecatedSpecifier(c);

/** parse_boolean() true, or undefined when the value is missing or not a boolean. */
export function boolValue(o: UnitOption | undefined): boolean | undefined {
  if (!o || !isBoolean(o.value)) return undefined;
  return ['1', 'yes', 'y', 'true', 't', 'on'].includes(o.value.toLowerCase());
}

/** The last valid assignment of an enum key (systemd ignores invalid ones and keeps the previous value). */
export function lastValid(
  unit: ParsedUnit,
  section: string,
  key: string,
  valid: readonly string[],
): { value: string; option: UnitOption } | undefined {
  const s = getSection(unit, section);
  if (!s) return undefined;
  for (let i = s.options.length - 1; i >= 0; i--) {
    const o = s.options[i]!;
    if (o.key === key && valid.includes(o.value)) return { value: o.value, option: o };
  }
  return undefined;
}

/** Is `unit` in the repo: itself, or (for an instance) its template. */
export function inRepo(ctx: LintContext, unit: string): boolean {
  if (!ctx.repoUnits) return true;
  if (ctx.repoUnits.has(unit)) return true;
  const t = templateOf(unit);
  return t !== null && ctx.repoUnits.has(t);
}
