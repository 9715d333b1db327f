/**
 * Whole-unit rules: triggers (TRG01-03), [Install] (INS01-02) and scopes (NAM03) here; services
 * (services.ts), dependencies (dependencies.ts), mounts and swaps (mounts.ts) beside it. These mirror systemd
 * 252's *_verify() checks (service_verify, timer_verify, socket_verify, path_verify, mount_verify,
 * swap_verify) where systemd has one; each was checked against `systemd-analyze verify`.
 */
import { parseUnitName, unitNameError } from '../names.js';
import { effectiveOptions, effectiveValues, getSection, lastOption } from '../parse.js';
import type { ParsedUnit, UnitOption, UnitType } from '../types.js';
import { checkDependencies } from './dependencies.js';
import type { LintContext } from './index.js';
import { checkMount, checkMountName, checkSwapName } from './mounts.js';
import { expandNameSpecifiers } from './names.js';
import type { Reporter } from './report.js';
import { checkService } from './services.js';
import { boolValue, inRepo, known } from './unit-util.js';

export function checkUnit(unit: ParsedUnit, name: string, type: UnitType | null, ctx: LintContext, r: Reporter): void {
  switch (type) {
    case 'service':
      checkService(unit, r);
      break;
    case 'timer':
      checkTimer(unit, name, ctx, r);
      break;
    case 'socket':
      checkSocket(unit, name, ctx, r);
      break;
    case 'path':
      checkPath(unit, name, ctx, r);
      break;
    case 'mount':
    case 'automount':
      checkMountName(unit, name, type, r);
      checkMount(unit, type, r);
      break;
    case 'swap':
      checkSwapName(unit, name, r);
      break;
    case 'scope':
      r.at(
        0,
        0,
        'NAM03',
        'error',
        'scope units cannot be defined by unit files: systemd only creates them at runtime (systemd-run --scope); ' +
          'use a .service',
      );
      break;
  }
  checkDependencies(unit, name, ctx, r);
  checkInstall(unit, name, type, ctx, r);
}

// ---------------------------------------------------------------------------------------------

const TIMER_KEYS = ['OnActiveSec', 'OnBootSec', 'OnStartupSec', 'OnUnitActiveSec', 'OnUnitInactiveSec', 'OnCalendar'];
const SOCKET_KEYS = [
  'ListenStream',
  'ListenDatagram',
  'ListenSequentialPacket',
  'ListenFIFO',
  'ListenNetlink',
  'ListenSpecial',
  'ListenMessageQueue',
  'ListenUSBFunction',
];
const PATH_KEYS = ['PathExists', 'PathExistsGlob', 'PathChanged', 'PathModified', 'DirectoryNotEmpty'];

function hasAny(unit: ParsedUnit, section: string, keys: readonly string[]): boolean {
  return keys.some((k) => effectiveValues(unit, section, k).length > 0);
}

/** The unit a timer or path activates: Unit= or the unit of the same name with .service. */
function triggered(unit: ParsedUnit, name: string, section: string): { unit: string; option?: UnitOption } | null {
  const o = lastOption(unit, section, 'Unit');
  if (o && o.value !== '') {
    const x = expandNameSpecifiers(o.value, name, known);
    if (x.unknown || !x.certain || unitNameError(x.text)) return null;
    return { unit: x.text, option: o };
  }
  const p = parseUnitName(name);
  if (!p) return null;
  return { unit: name.slice(0, name.length - p.type.length) + 'service' };
}

function reportMissingTrigger(
  unit: ParsedUnit,
  name: string,
  target: { unit: string; option?: UnitOption },
  section: string,
  ctx: LintContext,
  r: Reporter,
): void {
  if (!ctx.repoUnits || inRepo(ctx, target.unit)) return;
  const how = target.option ? `${target.option.key}=` : 'by its name';
  const message =
    `${name} activates ${target.unit} (${how}), which is not in the repo: it must exist on every machine the unit ` +
    `runs on`;
  if (target.option) r.option(target.option, 'TRG02', 'warning', message);
  else r.section(getSection(unit, section), 'TRG02', 'warning', message);
}

function checkTimer(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  const onClock = boolValue(lastOption(unit, 'Timer', 'OnClockChange')) === true;
  const onTz = boolValue(lastOption(unit, 'Timer', 'OnTimezoneChange')) === true;
  if (!hasAny(unit, 'Timer', TIMER_KEYS) && !onClock && !onTz) {
    r.section(
      getSection(unit, 'Timer'),
      'TRG01',
      'error',
      `timer has no ${TIMER_KEYS.map((k) => k + '=').join(', ')} (or OnClockChange=/OnTimezoneChange=): systemd ` +
        `refuses to load it`,
    );
  }
  const t = triggered(unit, name, 'Timer');
  if (t) reportMissingTrigger(unit, name, t, 'Timer', ctx, r);
}

function checkPath(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  if (!hasAny(unit, 'Path', PATH_KEYS)) {
    r.section(
      getSection(unit, 'Path'),
      'TRG01',
      'error',
      `path unit has no ${PATH_KEYS.map((k) => k + '=').join(', ')}: systemd refuses to load it`,
    );
  }
  const t = triggered(unit, name, 'Path');
  if (t) reportMissingTrigger(unit, name, t, 'Path', ctx, r);
}

function checkSocket(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  const socketSection = getSection(unit, 'Socket');
  if (!hasAny(unit, 'Socket', SOCKET_KEYS)) {
    r.section(
      socketSection,
      'TRG01',
      'error',
      'socket has no Listen*= setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...): systemd refuses to load it',
    );
  }
  const acceptOpt = lastOption(unit, 'Socket', 'Accept');
  const accept = boolValue(acceptOpt) === true;
  const service = lastOption(unit, 'Socket', 'Service');
  const p = parseUnitName(name);
  if (accept) {
    // Only stream and sequential-packet sockets accept connections (socket_verify()).
    for (const key of SOCKET_KEYS) {
      if (key === 'ListenStream' || key === 'ListenSequentialPacket') continue;
      const o = effectiveOptions(unit, 'Socket', key)[0];
      if (o) {
        r.option(
          o,
          'TRG03',
          'error',
          `${key}= cannot accept connections, but the socket has Accept=yes: systemd refuses to load it; use Accept=no`,
        );
        return;
      }
    }
    const maxConn = lastOption(unit, 'Socket', 'MaxConnections');
    if (maxConn && /^0+$/.test(maxConn.value)) {
      r.option(maxConn, 'TRG03', 'error', 'MaxConnections=0 with Accept=yes: systemd refuses to load the socket');
    }
    if (service && service.value !== '') {
      r.option(
        service,
        'TRG03',
        'error',
        'Service= cannot be used with Accept=yes (each connection starts an instance of the template ' +
          'PREFIX@.service): ' +
          'systemd refuses to load the socket',
      );
      return;
    }
    if (p && ctx.repoUnits) {
      const template = `${p.prefix}@.service`;
      if (!ctx.repoUnits.has(template)) {
        r.option(
          acceptOpt!,
          'TRG03',
          'error',
          `Accept=yes starts one instance of ${template} per connection, and the repo has no ${template}` +
            (ctx.repoUnits.has(`${p.prefix}.service`)
              ? ` (it has ${p.prefix}.service: rename it to ${template}, or use Accept=no)`
              : ''),
        );
      }
    }
    return;
  }
  if (!p || p.template) return;
  let target: { unit: string; option?: UnitOption };
  if (service && service.value !== '') {
    const x = expandNameSpecifiers(service.value, name, known);
    if (x.unknown || !x.certain || unitNameError(x.text)) return;
    target = { unit: x.text, option: service };
  } else {
    target = { unit: name.slice(0, name.length - 'socket'.length) + 'service' };
  }
  if (ctx.repoUnits && !inRepo(ctx, target.unit) && !target.option && ctx.repoUnits.has(`${p.prefix}@.service`)) {
    r.section(
      socketSection,
      'TRG02',
      'warning',
      `${name} activates ${target.unit}, which is not in the repo; the repo has ${p.prefix}@.service: did you mean ` +
        `Accept=yes?`,
    );
    return;
  }
  reportMissingTrigger(unit, name, target, 'Socket', ctx, r);
}

// ---------------------------------------------------------------------------------------------

function checkInstall(unit: ParsedUnit, name: string, type: UnitType | null, ctx: LintContext, r: Reporter): void {
  const install = getSection(unit, 'Install');
  if (!install) return;
  const p = parseUnitName(name);
  for (const o of install.options) {
    if (!['WantedBy', 'RequiredBy', 'Alias', 'Also'].includes(o.key) || o.value === '') continue;
    for (const word of o.value.split(/[ \t]+/)) {
      if (word === '') continue;
      const x = expandNameSpecifiers(word, name, known);
      if (x.unknown) continue;
      const sev = x.certain ? 'error' : 'warning';
      const shown = x.text === word ? word : `${word} (${x.text})`;
      const err = unitNameError(x.text);
      if (err) {
        r.option(o, 'INS02', sev, `${o.key}=${shown} is not a valid unit name (systemctl enable fails): ${err}`);
        continue;
      }
      if (o.key === 'Alias' && p) {
        const a = parseUnitName(x.text)!;
        if (a.type !== p.type) {
          r.option(
            o,
            'INS02',
            sev,
            `Alias=${shown} is a .${a.type} name for a .${p.type} unit (systemctl enable fails: an alias keeps the ` +
              `unit's type)`,
          );
        } else if (
          a.template !== p.template ||
          (a.instance !== null && a.instance !== '') !== (p.instance !== null && p.instance !== '')
        ) {
          r.option(
            o,
            'INS02',
            sev,
            `Alias=${shown} does not match ${name}: a template's alias must be a template, a plain unit's alias a ` +
              `plain name`,
          );
        }
      }
    }
  }
  const names = ['WantedBy', 'RequiredBy', 'Alias', 'Also', 'DefaultInstance'].some(
    (k) => effectiveValues(unit, 'Install', k).length > 0,
  );
  if (!names && ctx.state === 'launched' && type) {
    r.section(
      install,
      'INS01',
      'warning',
      '[Install] names nothing (no WantedBy=, RequiredBy=, Alias= or Also=): remove the empty section, or say which ' +
        'target should pull this unit in',
    );
  }
}
