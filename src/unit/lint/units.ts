/**
 * Whole-unit rules: services (SVC01-06, EXE03), triggers (TRG01-03), dependencies (DEP01-02),
 * [Install] (INS01-02), mounts and swaps (MNT01, NAM02) and scopes (NAM03). These mirror systemd
 * 252's *_verify() checks (service_verify, timer_verify, socket_verify, path_verify, mount_verify,
 * swap_verify) where systemd has one; each was checked against `systemd-analyze verify`.
 */
import { escape, parseUnitName, templateOf, unitNameError } from '../names.js';
import { effectiveOptions, effectiveValues, getSection, lastOption } from '../parse.js';
import type { ParsedUnit, UnitOption, UnitType } from '../types.js';
import type { LintContext } from './index.js';
import { expandNameSpecifiers, isWellKnownUnit } from './names.js';
import type { Reporter } from './report.js';
import { isKnownSpecifier, isDeprecatedSpecifier } from '../specifiers.js';
import { isBoolean, RESTART_VALUES, SERVICE_TYPES, splitWords } from './values.js';

const known = (c: string) => isKnownSpecifier(c) || isDeprecatedSpecifier(c);

/** parse_boolean() true, or undefined when the value is missing or not a boolean. */
function boolValue(o: UnitOption | undefined): boolean | undefined {
  if (!o || !isBoolean(o.value)) return undefined;
  return ['1', 'yes', 'y', 'true', 't', 'on'].includes(o.value.toLowerCase());
}

/** The last valid assignment of an enum key (systemd ignores invalid ones and keeps the previous value). */
function lastValid(
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

/** The first line of the unit's own section (or 0) for findings about a missing setting. */
function sectionLine(unit: ParsedUnit, section: string): number {
  return getSection(unit, section)?.line ?? 0;
}

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

function checkService(unit: ParsedUnit, r: Reporter): void {
  const starts = effectiveOptions(unit, 'Service', 'ExecStart');
  const hasStop = effectiveValues(unit, 'Service', 'ExecStop').length > 0;
  const typeOpt = lastValid(unit, 'Service', 'Type', SERVICE_TYPES);
  // Without Type=, systemd picks oneshot for a service without ExecStart= (service_add_extras).
  const stype = typeOpt?.value ?? (starts.length > 0 ? 'simple' : 'oneshot');
  const success = lastOption(unit, 'Unit', 'SuccessAction');
  const hasSuccessAction = success !== undefined && success.value !== '' && success.value !== 'none';
  const remain = boolValue(lastOption(unit, 'Service', 'RemainAfterExit')) === true;
  const line = sectionLine(unit, 'Service');
  const at = typeOpt?.option;

  if (starts.length === 0) {
    if (!hasStop && !hasSuccessAction) {
      r.at(
        line,
        line ? 1 : 0,
        'SVC01',
        'error',
        'service has no ExecStart=, ExecStop= or SuccessAction=: systemd refuses to load it; add ' +
          'ExecStart=/path/to/program',
      );
    } else if (stype !== 'oneshot') {
      const o = at ?? undefined;
      const msg =
        `service has no ExecStart=, which only Type=oneshot services may omit (this one is Type=${stype}): ` +
        `systemd refuses to load it`;
      if (o) r.option(o, 'SVC01', 'error', msg);
      else r.at(line, line ? 1 : 0, 'SVC01', 'error', msg);
    } else if (!remain && !hasSuccessAction) {
      r.at(
        line,
        line ? 1 : 0,
        'SVC01',
        'error',
        'Type=oneshot service without ExecStart= needs RemainAfterExit=yes or SuccessAction=: systemd refuses to ' +
          'load it',
      );
    }
  }
  // A line may hold several commands separated by a lone ';': each counts.
  const commands = starts.reduce((n, o) => n + commandCount(o.value), 0);
  if (commands > 1 && stype !== 'oneshot') {
    const second = starts.length > 1 ? starts[1]! : starts[0]!;
    r.option(
      second,
      'EXE03',
      'error',
      `${commands} ExecStart= commands, but only Type=oneshot services may have more than one (this one is ` +
        `Type=${stype}): systemd refuses to load it; use ExecStartPre=/ExecStartPost= or Type=oneshot`,
    );
  }
  if (stype === 'oneshot') {
    const restart = lastValid(unit, 'Service', 'Restart', RESTART_VALUES);
    if (restart && (restart.value === 'always' || restart.value === 'on-success')) {
      r.option(
        restart.option,
        'SVC02',
        'error',
        `Restart=${restart.value} is not allowed for Type=oneshot services: systemd refuses to load it; use ` +
          `Restart=on-failure or another Type=`,
      );
    }
    const exitType = lastValid(unit, 'Service', 'ExitType', ['main', 'cgroup']);
    if (exitType?.value === 'cgroup') {
      r.option(
        exitType.option,
        'SVC02',
        'error',
        'ExitType=cgroup is not allowed for Type=oneshot services: systemd refuses to load it',
      );
    }
    const rmax = lastOption(unit, 'Service', 'RuntimeMaxSec');
    if (rmax && rmax.value !== '' && rmax.value !== 'infinity') {
      r.option(
        rmax,
        'SVC06',
        'warning',
        'RuntimeMaxSec= has no effect with Type=oneshot (systemd ignores it); use TimeoutStartSec= to limit a oneshot',
      );
    }
  }
  const pam = lastOption(unit, 'Service', 'PAMName');
  if (pam && pam.value !== '') {
    const kill = lastValid(unit, 'Service', 'KillMode', ['control-group', 'process', 'mixed', 'none']);
    if (kill && kill.value !== 'control-group' && kill.value !== 'mixed') {
      r.option(
        kill.option,
        'SVC05',
        'error',
        `KillMode=${kill.value} with PAMName=: a PAM session needs KillMode=control-group or mixed; systemd refuses ` +
          `to load the service`,
      );
    }
  }
  if (stype === 'dbus') {
    const bus = lastOption(unit, 'Service', 'BusName');
    if (!bus || bus.value === '') {
      r.option(
        typeOpt!.option,
        'SVC03',
        'error',
        'Type=dbus needs BusName= (the D-Bus name the service takes): systemd refuses to load it',
      );
    }
  }
  if (stype === 'simple' || stype === 'exec' || stype === 'notify' || stype === 'idle') {
    for (const o of starts) {
      const why = daemonizes(o.value);
      if (why) {
        r.option(
          o,
          'SVC04',
          'warning',
          `ExecStart= ${why}: with Type=${stype} systemd tracks the process it starts, which exits at once; ` +
            'the service then stops (and its detached process lives on unsupervised). Run it in the foreground, or ' +
            'use Type=forking',
        );
      }
    }
  }
}

/** How many commands an Exec line holds (`a ; b` is two). */
function commandCount(value: string): number {
  const words = splitWords(value);
  if (!words) return 1;
  let n = 0;
  let pending = false;
  for (const w of words) {
    if (w.bare && w.word === ';') {
      if (pending) n++;
      pending = false;
    } else pending = true;
  }
  return n + (pending ? 1 : 0);
}

/** Why this command line detaches from systemd, or null. */
function daemonizes(command: string): string | null {
  const words = (splitWords(command) ?? command.split(/\s+/).map((w) => ({ word: w, bare: true }))).map((w) => w.word);
  const prog = (words[0] ?? '').replace(/^[-@:+!]+/, '');
  const base = prog.slice(prog.lastIndexOf('/') + 1);
  if (['docker', 'podman', 'nerdctl'].includes(base)) {
    const at = words.findIndex((w, i) => i > 0 && (w === 'run' || w === 'start'));
    if (at > 0) {
      const rest = words.slice(at + 1);
      // Options may follow the image too, but `-d`/`--detach` (or a short cluster like -itd) is
      // what people write to detach, wherever it is.
      const detach = rest.find(
        (w) => w === '-d' || w === '--detach' || w === '--detach=true' || /^-[a-zA-Z]{0,3}d[a-zA-Z]{0,3}$/.test(w),
      );
      if (words[at] === 'run' && detach) return `runs "${base} run" detached (${detach})`;
      if (
        words[at] === 'start' &&
        !rest.some((w) => w === '-a' || w === '--attach' || /^-[a-zA-Z]*a[a-zA-Z]*$/.test(w))
      ) {
        return `runs "${base} start" without -a/--attach, which returns at once`;
      }
    }
  }
  const args = words.slice(1);
  // Flags that keep the program in the foreground win over a --daemon that means "server mode"
  // (`rsync --daemon --no-detach`, `fusioninventory-agent --daemon --no-fork`).
  if (args.some((w) => FOREGROUND_FLAGS.has(w))) return null;
  for (let i = 0; i < args.length; i++) {
    const m = /^(--daemon|--daemonize|-daemon|--background|--fork)(?:=(.*))?$/.exec(args[i]!);
    if (!m) continue;
    // `--daemonize no`, `--daemon=false`: the flag turns forking off.
    const arg = m[2] ?? args[i + 1];
    if (arg !== undefined && /^(no|false|off|0)$/i.test(arg)) continue;
    return `passes ${args[i]}, so the program forks into the background`;
  }
  return null;
}

/** Options daemons take to stay in the foreground (sshd -D, cron -f is not: -f is often a file). */
const FOREGROUND_FLAGS = new Set([
  '--foreground',
  '--no-detach',
  '--nodetach',
  '--no-daemon',
  '--nodaemon',
  '--no-daemonize',
  '--no-fork',
  '--nofork',
  '--no-background',
  '-D',
  '-F',
  '--systemd',
  '--supervised',
]);

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

/** Is `unit` in the repo: itself, or (for an instance) its template. */
function inRepo(ctx: LintContext, unit: string): boolean {
  if (!ctx.repoUnits) return true;
  if (ctx.repoUnits.has(unit)) return true;
  const t = templateOf(unit);
  return t !== null && ctx.repoUnits.has(t);
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
  const line = target.option?.line ?? sectionLine(unit, section);
  const col = target.option?.valueColumn ?? (line ? 1 : 0);
  const how = target.option ? `${target.option.key}=` : 'by its name';
  r.at(
    line,
    col,
    'TRG02',
    'warning',
    `${name} activates ${target.unit} (${how}), which is not in the repo: it must exist on every machine the unit ` +
      `runs on`,
  );
}

function checkTimer(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  const onClock = boolValue(lastOption(unit, 'Timer', 'OnClockChange')) === true;
  const onTz = boolValue(lastOption(unit, 'Timer', 'OnTimezoneChange')) === true;
  if (!hasAny(unit, 'Timer', TIMER_KEYS) && !onClock && !onTz) {
    const line = sectionLine(unit, 'Timer');
    r.at(
      line,
      line ? 1 : 0,
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
    const line = sectionLine(unit, 'Path');
    r.at(
      line,
      line ? 1 : 0,
      'TRG01',
      'error',
      `path unit has no ${PATH_KEYS.map((k) => k + '=').join(', ')}: systemd refuses to load it`,
    );
  }
  const t = triggered(unit, name, 'Path');
  if (t) reportMissingTrigger(unit, name, t, 'Path', ctx, r);
}

function checkSocket(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  const line = sectionLine(unit, 'Socket');
  if (!hasAny(unit, 'Socket', SOCKET_KEYS)) {
    r.at(
      line,
      line ? 1 : 0,
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
    r.at(
      line,
      line ? 1 : 0,
      'TRG02',
      'warning',
      `${name} activates ${target.unit}, which is not in the repo; the repo has ${p.prefix}@.service: did you mean ` +
        `Accept=yes?`,
    );
    return;
  }
  reportMissingTrigger(unit, name, target, 'Socket', ctx, r);
}

/** NAM02: a mount unit's name must be its Where= path, escaped (systemd-escape --path). */
function checkMountName(unit: ParsedUnit, name: string, type: 'mount' | 'automount', r: Reporter): void {
  const section = type === 'mount' ? 'Mount' : 'Automount';
  const where = lastOption(unit, section, 'Where');
  const p = parseUnitName(name);
  if (!where || where.value === '' || where.value.includes('%') || !p) return;
  if (!where.value.startsWith('/')) return; // VAL04 reports it
  let expected: string;
  try {
    expected = `${escape(where.value, { path: true })}.${type}`;
  } catch (e) {
    r.option(where, 'NAM02', 'error', `Where=${where.value} cannot be a mount point: ${(e as Error).message}`);
    return;
  }
  if (expected !== name) {
    r.option(
      where,
      'NAM02',
      'error',
      `Where=${where.value} does not match the unit name: a ${type} unit for this path must be named ${expected}; ` +
        `systemd refuses to load it`,
    );
  }
}

/** mount_point_is_api() of systemd 252: mount points systemd sets up itself. */
const API_MOUNTS = new Set([
  '/proc',
  '/sys',
  '/dev',
  '/dev/shm',
  '/dev/pts',
  '/run',
  '/run/lock',
  '/sys/kernel/security',
  '/sys/fs/pstore',
  '/sys/firmware/efi/efivars',
  '/sys/fs/bpf',
  '/sys/fs/smackfs',
  '/sys/fs/selinux',
  '/sys/fs/cgroup',
]);

function simplifyPath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  return '/' + parts.join('/');
}

/** MNT01: what mount_verify() refuses besides the name: no What=, or an API file system. */
function checkMount(unit: ParsedUnit, type: 'mount' | 'automount', r: Reporter): void {
  const section = type === 'mount' ? 'Mount' : 'Automount';
  if (type === 'mount' && !getSection(unit, 'Mount')?.options.some((o) => o.key === 'What' && o.value !== '')) {
    const line = sectionLine(unit, 'Mount');
    r.at(
      line,
      line ? 1 : 0,
      'MNT01',
      'error',
      'mount unit without What= (the device, file system or path to mount): systemd refuses to load it',
    );
  }
  const where = lastOption(unit, section, 'Where');
  if (!where?.value.startsWith('/') || where.value.includes('%')) return;
  const w = simplifyPath(where.value);
  if (API_MOUNTS.has(w) || w.startsWith('/sys/fs/cgroup/')) {
    r.option(
      where,
      'MNT01',
      'error',
      `Where=${w} is an API file system that systemd mounts itself: systemd refuses a ${type} unit for it`,
    );
  }
}

/** NAM02 for swaps: a swap unit for a device or file must be named after its What= path. */
function checkSwapName(unit: ParsedUnit, name: string, r: Reporter): void {
  const what = lastOption(unit, 'Swap', 'What');
  if (!what?.value.startsWith('/') || what.value.includes('%')) return;
  let expected: string;
  try {
    expected = `${escape(what.value, { path: true })}.swap`;
  } catch {
    return;
  }
  if (expected !== name) {
    r.option(
      what,
      'NAM02',
      'error',
      `What=${what.value} does not match the unit name: a swap unit for this path must be named ${expected}; systemd ` +
        `refuses to load it`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

const REQUIRING = ['Requires', 'BindsTo', 'BindTo', 'Requisite'];
const WANTING = ['Requires', 'BindsTo', 'BindTo', 'Wants'];

function dependencyNames(unit: ParsedUnit, name: string, key: string): { unit: string; option: UnitOption }[] {
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

function checkDependencies(unit: ParsedUnit, name: string, ctx: LintContext, r: Reporter): void {
  if (!getSection(unit, 'Unit')) return;
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
    r.at(
      install.line,
      1,
      'INS01',
      'warning',
      '[Install] names nothing (no WantedBy=, RequiredBy=, Alias= or Also=): remove the empty section, or say which ' +
        'target should pull this unit in',
    );
  }
}
