/**
 * Per-assignment rules: sections and keys (SCT01, KEY01-04), values (VAL01-08) and Exec command
 * lines (EXE01). One pass over the parsed unit.
 */
import { isTemplate, parseUnitName, unitNameError } from '../names.js';
import { findSpecifiers, isDeprecatedSpecifier, isKnownSpecifier } from '../specifiers.js';
import type { ParsedUnit, UnitOption, UnitType } from '../types.js';
import { allowedSections, deprecation, isScalarType, keyHint, keyType, REMOVED_KEYS, sectionHint } from './keys.js';
import { expandNameSpecifiers } from './names.js';
import type { Reporter } from './report.js';
import { splitWords } from './grammar.js';
import { judgeValue, validatorFor } from './validate.js';

const isKnownOrDeprecated = (c: string) => isKnownSpecifier(c) || isDeprecatedSpecifier(c);

/** Types whose parser expands specifiers (so an unknown one fails the load or the setting). */
const EXPANDING_TYPES = new Set([
  'STRING',
  'PATH',
  'PATH [...]',
  'PATH [ARGUMENT [...]]',
  'ENVIRON',
  'FILE',
  'UNIT',
  'UNIT [...]',
  'CONDITION',
  'URL',
  'TIMER',
  'SOCKET [...]',
  'SLICE',
  'SERVICE',
  'SOCKETS',
  'OTHER',
]);

export function checkOptions(unit: ParsedUnit, name: string | null, type: UnitType | null, r: Reporter): void {
  const allowed = allowedSections(type);
  for (const section of unit.sections) {
    if (section.name.startsWith('X-')) continue; // ignored by systemd; [X-Fleet] is xfleet's
    if (!allowed.includes(section.name)) {
      if (section.name.toLowerCase() === 'x-fleet') continue; // FLT01 reports the case
      if (type) {
        r.at(
          section.line,
          1,
          'SCT01',
          'warning',
          `section [${section.name}] is not read in a .${type} unit: systemd ignores it and everything in it` +
            sectionHint(section.name, allowed, type),
        );
      }
      continue;
    }
    const scalarSeen = new Map<string, UnitOption[]>();
    for (const o of section.options) {
      if (o.key.startsWith('X-')) continue;
      const kt = keyType(section.name, o.key);
      if (kt === undefined) {
        const removed = REMOVED_KEYS[o.key];
        if (removed) {
          r.option(
            o,
            'KEY02',
            'warning',
            `${o.key}= is no longer supported by systemd and is ignored: ${removed}`,
            'key',
          );
        } else {
          r.option(
            o,
            'KEY01',
            'warning',
            `unknown key ${o.key}= in [${section.name}]: systemd ignores it${keyHint(section.name, o.key, allowed)}`,
            'key',
          );
        }
        continue;
      }
      const dep = deprecation(section.name, o.key);
      if (dep) r.option(o, 'KEY03', 'warning', dep, 'key');
      if (isScalarType(kt) && o.value !== '') {
        const list = scalarSeen.get(o.key) ?? [];
        list.push(o);
        scalarSeen.set(o.key, list);
      }
      checkValue(o, kt, name, type, r);
    }
    for (const [key, list] of scalarSeen) {
      if (list.length < 2) continue;
      const last = list[list.length - 1]!;
      r.option(
        last,
        'KEY04',
        'warning',
        `${key}= is set ${list.length} times in [${section.name}] (lines ${list.map((o) => o.line).join(', ')}); ` +
          `only the last one counts`,
        'key',
      );
    }
  }
}

function checkValue(o: UnitOption, kt: string, name: string | null, type: UnitType | null, r: Reporter): void {
  const validator = validatorFor(o.section, o.key, kt);

  // Specifiers: unknown ones fail the setting (an Exec line: the whole unit) in parsers that
  // expand; parsers that do not expand see a literal '%' that their own value check judges.
  const expands = validator ? validator.expands === true : EXPANDING_TYPES.has(kt) || o.section === 'Install';
  if (o.value.includes('%') && expands) {
    for (const s of findSpecifiers(o.value)) {
      if (isKnownSpecifier(s.spec)) continue;
      if (isDeprecatedSpecifier(s.spec)) {
        r.option(
          o,
          'VAL06',
          'warning',
          `%${s.spec} in ${o.key}= is a deprecated specifier; systemd expands it for compatibility only`,
        );
      } else {
        r.option(
          o,
          'VAL05',
          kt === 'OTHER' ? 'warning' : 'error',
          `unknown specifier %${s.spec} in ${o.key}= (systemd refuses it; write %% for a literal '%')`,
        );
      }
    }
  }

  if (validator) {
    const v = judgeValue(validator, o.key, o.value);
    if (v) r.option(o, v.rule, v.severity, v.message);
  }

  switch (kt) {
    case 'URL':
      checkDocumentation(o, r);
      break;
    case 'UNIT [...]':
      checkUnitList(o, name, r, { what: 'dependency' });
      break;
    case 'SOCKETS':
      checkUnitList(o, name, r, { what: 'socket', suffix: 'socket', noTemplate: true });
      break;
    case 'UNIT':
      checkUnitList(o, name, r, {
        what: 'unit to activate',
        single: true,
        noTemplate: true,
        templateOnlyWarns: true,
        notType: type,
      });
      break;
    case 'SLICE':
      checkUnitList(o, name, r, { what: 'slice', single: true, suffix: 'slice', noTemplate: true });
      break;
    case 'SERVICE':
      checkUnitList(o, name, r, { what: 'service', single: true, suffix: 'service', noTemplate: true });
      break;
    case 'PATH [ARGUMENT [...]]':
      checkExec(o, name, r);
      break;
  }
}

/** documentation_url_is_valid(): http(s)://, file:/, info:, man: */
function checkDocumentation(o: UnitOption, r: Reporter): void {
  for (const word of o.value.split(/\s+/)) {
    if (word === '' || word.includes('%')) continue;
    if (
      /^https?:\/\/[\x21-\x7e]+$/.test(word) ||
      /^file:\/[\x21-\x7e]*$/.test(word) ||
      /^(info|man):[\x21-\x7e]+$/.test(word)
    )
      continue;
    r.option(
      o,
      'VAL07',
      'warning',
      `Documentation= entry ${JSON.stringify(word)} is not a URL systemd accepts (http://, https://, file:, info:, ` +
        `man:); systemd ignores it`,
    );
  }
}

interface UnitListOpts {
  what: string;
  single?: boolean;
  suffix?: string;
  noTemplate?: boolean;
  /** systemd loads the unit with a template here and only fails when it activates: warn. */
  templateOnlyWarns?: boolean;
  /** The unit may not name a unit of its own type (a timer cannot trigger a timer). */
  notType?: UnitType | null;
}

/** VAL08: unit names in dependency lists (split at whitespace, no quoting), Unit=, Slice=, ... */
function checkUnitList(o: UnitOption, name: string | null, r: Reporter, opts: UnitListOpts): void {
  if (o.value === '') return;
  const words = opts.single ? [o.value] : o.value.split(/[ \t\n\r]+/).filter((w) => w !== '');
  for (const word of words) {
    const x = expandNameSpecifiers(word, name, isKnownOrDeprecated);
    if (x.unknown) continue; // VAL05 reports it
    const sev = x.certain ? 'error' : 'warning';
    const shown =
      x.text === word ? JSON.stringify(word) : `${JSON.stringify(word)} (expands to ${JSON.stringify(x.text)})`;
    const err = unitNameError(x.text);
    if (err) {
      const hint = /[,;]/.test(word) ? ' (separate names with spaces)' : '';
      r.option(o, 'VAL08', sev, `${o.key}= names ${shown}, which is not a valid ${opts.what} name: ${err}${hint}`);
      continue;
    }
    const p = parseUnitName(x.text);
    if (opts.suffix && p && p.type !== opts.suffix) {
      r.option(o, 'VAL08', sev, `${o.key}= must name a .${opts.suffix} unit, not ${shown}`);
    } else if (opts.noTemplate && isTemplate(x.text)) {
      r.option(
        o,
        'VAL08',
        opts.templateOnlyWarns ? 'warning' : sev,
        `${o.key}= names a template (${shown}), which cannot be started; name an instance such as ` +
          `${x.text.replace('@.', '@NAME.')}`,
      );
    } else if (opts.notType && p && p.type === opts.notType) {
      r.option(
        o,
        'VAL08',
        sev,
        `${o.key}= names ${shown}: a .${opts.notType} unit cannot activate another .${opts.notType} unit`,
      );
    }
  }
}

/**
 * EXE01: each command of an Exec line (commands separated by a lone ';'): the prefixes `-@:+!`
 * (each at most once, '+' and '!' exclusive, '!!' allowed), then an absolute path or a plain
 * program name that systemd finds in its search path (config_parse_exec).
 */
function checkExec(o: UnitOption, name: string | null, r: Reporter): void {
  if (o.value === '') return;
  const words = splitWords(o.value);
  if (!words) {
    r.option(o, 'EXE01', 'error', `${o.key}= has an unbalanced quote; systemd refuses the command`);
    return;
  }
  let atCommandStart = true;
  let skipArgv0 = false;
  for (const { word, bare } of words) {
    if (bare && word === ';') {
      atCommandStart = true;
      continue;
    }
    if (skipArgv0) {
      skipArgv0 = false;
      continue;
    }
    if (!atCommandStart) continue;
    atCommandStart = false;
    let f = word;
    let ignore = false,
      argv0 = false,
      noEnv = false,
      priv = false,
      noSetuid = false,
      ambient = false;
    for (;;) {
      const c = f[0];
      if (c === '-' && !ignore) ignore = true;
      else if (c === '@' && !argv0) argv0 = true;
      else if (c === ':' && !noEnv) noEnv = true;
      else if (c === '+' && !priv && !noSetuid && !ambient) priv = true;
      else if (c === '!' && !priv && !noSetuid && !ambient) noSetuid = true;
      else if (c === '!' && !priv && !ambient) {
        noSetuid = false;
        ambient = true;
      } else break;
      f = f.slice(1);
    }
    if (argv0) skipArgv0 = true;
    const x = expandNameSpecifiers(f, name, isKnownOrDeprecated);
    if (x.unknown || !x.certain) continue;
    const path = x.text;
    let problem: string | null = null;
    if (path === '') problem = 'the command is empty';
    else if (path.endsWith('/')) problem = `${JSON.stringify(path)} names a directory`;
    else if (path.startsWith('/')) problem = null;
    else if (path.includes('/'))
      problem =
        `${JSON.stringify(path)} is a relative path: use an absolute path, or a plain program name that ` +
        `systemd looks up in its search path`;
    else if (path === '.' || path === '..' || Buffer.byteLength(path) > 255)
      problem = `${JSON.stringify(path)} is not a valid program name`;
    if (/^[-@:+!]/.test(f) && problem)
      problem += ` (prefixes: each of - @ : + ! at most once, '+' and '!' not together)`;
    if (problem) r.option(o, 'EXE01', 'error', `${o.key}=: ${problem}; systemd refuses the command`);
  }
}
