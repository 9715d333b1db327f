/**
 * Dependency rules: DEP01 (wanted without ordering, except what systemd orders by itself), DEP02
 * (required unit neither in the repo nor well known), DEP03 (Before= a .device).
 */
import { parseUnitName, unitNameError } from '../names.js';
import { effectiveOptions, getSection, lastOption } from '../parse.js';
import type { ParsedUnit, UnitOption } from '../types.js';
import type { LintContext } from './index.js';
import { expandNameSpecifiers, isWellKnownUnit } from './names.js';
import type { Reporter } from './report.js';
import { boolValue, inRepo, known } from './unit-util.js';

const REQUIRING = ['Requires', 'BindsTo', 'BindTo', 'Requisite'];
const WANTING = ['Requires', 'BindsTo', 'BindTo', 'Wants'];

function namesOf(unit: ParsedUnit, name: string, key: string): { unit: string; option: UnitOption }[] {
  const out: { unit: string; option: UnitOption }[] = [];
  for (const o of effectiveOptions(unit, 'Unit', key)) {
    for (const word of o.value.split(/[ \t]+/)) {
      if (word === '') continue;
      const x = expandNameSpecifiers(word, name, known);
      if (x.unknown || !x.certain || unitNameError(x.text)) continue;
      out.push({ unit: x.text, option: o });
    }
  }
  return out;
}

/**
 * Units systemd orders this one after by itself, so a Requires=/Wants= on them needs no After=:
 * the sockets that activate a service (NAME.socket, PREFIX.socket for a template, Sockets=), and
 * every Wants=/Requires= of a target (systemd.target(5): targets add After= to them unless
 * DefaultDependencies=no). `all` is true when every dependency is ordered that way.
 */
function implicitlyOrdered(unit: ParsedUnit, name: string): { units: Set<string>; all: boolean } {
  const p = parseUnitName(name);
  const units = new Set<string>();
  if (p?.type === 'target') {
    const dd = boolValue(lastOption(unit, 'Unit', 'DefaultDependencies'));
    return { units, all: dd !== false };
  }
  if (p?.type !== 'service') return { units, all: false };
  for (const own of ['%n', '%p']) {
    const x = expandNameSpecifiers(own, name, known);
    if (x.text) units.add(x.text.replace(/\.service$/, '') + '.socket');
  }
  for (const o of effectiveOptions(unit, 'Service', 'Sockets')) {
    for (const word of o.value.split(/[ \t]+/)) {
      const x = expandNameSpecifiers(word, name, known);
      if (x.text) units.add(x.text);
    }
  }
  return { units, all: false };
}

export function checkDependencies(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  if (!getSection(unit, 'Unit')) return;
  const cache = new Map<string, { unit: string; option: UnitOption }[]>();
  const dependencyNames = (u: ParsedUnit, n: string, key: string) => {
    let list = cache.get(key);
    if (!list) {
      list = namesOf(u, n, key);
      cache.set(key, list);
    }
    return list;
  };
  const implicit = implicitlyOrdered(unit, name);
  const ordered = new Set([
    ...dependencyNames(unit, name, 'After').map((d) => d.unit),
    ...dependencyNames(unit, name, 'Before').map((d) => d.unit),
    ...implicit.units,
  ]);
  const reported = new Set<string>();
  for (const key of implicit.all ? [] : WANTING) {
    for (const d of dependencyNames(unit, name, key)) {
      if (ordered.has(d.unit) || reported.has(d.unit) || d.unit === name) continue;
      reported.add(d.unit);
      r.option(
        d.option,
        'DEP01',
        'info',
        `${key}=${d.unit} without After=${d.unit} (or Before=): both start at the same time; add After= if this unit ` +
          `needs ${d.unit} up first`,
      );
    }
  }
  for (const d of dependencyNames(unit, name, 'Before')) {
    if (!d.unit.endsWith('.device')) continue;
    r.option(
      d.option,
      'DEP03',
      'warning',
      `Before=${d.unit} is ignored: .device units cannot be delayed, so nothing can be ordered before one ` +
        `(systemd warns and drops it); order after the device instead, or remove it`,
    );
  }
  if (!ctx.repoUnits) return;
  for (const key of REQUIRING) {
    for (const d of dependencyNames(unit, name, key)) {
      if (inRepo(ctx, d.unit) || isWellKnownUnit(d.unit)) continue;
      r.option(
        d.option,
        'DEP02',
        'warning',
        `${key}=${d.unit}: that unit is neither in the repo nor a well-known system unit; if it is missing on a ` +
          `machine, this unit fails to start there`,
      );
    }
  }
}
