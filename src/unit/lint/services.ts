/**
 * Service rules (SVC01-06, EXE03), mirroring systemd 252's service_verify(), and SVC04, which
 * catches commands that detach from the process systemd tracks.
 */
import { effectiveOptions, effectiveValues, getSection, lastOption } from '../parse.js';
import type { ParsedUnit } from '../types.js';
import { splitWords } from './grammar.js';
import type { Reporter } from './report.js';
import { boolValue, lastValid } from './unit-util.js';
import { RESTART_VALUES, SERVICE_TYPES } from './values.js';

export function checkService(unit: ParsedUnit, r: Reporter): void {
  const starts = effectiveOptions(unit, 'Service', 'ExecStart');
  const hasStop = effectiveValues(unit, 'Service', 'ExecStop').length > 0;
  const typeOpt = lastValid(unit, 'Service', 'Type', SERVICE_TYPES);
  // Without Type=, systemd picks oneshot for a service without ExecStart= (service_add_extras).
  const stype = typeOpt?.value ?? (starts.length > 0 ? 'simple' : 'oneshot');
  const success = lastOption(unit, 'Unit', 'SuccessAction');
  const hasSuccessAction = success !== undefined && success.value !== '' && success.value !== 'none';
  const remain = boolValue(lastOption(unit, 'Service', 'RemainAfterExit')) === true;
  const section = getSection(unit, 'Service');
  const at = typeOpt?.option;

  if (starts.length === 0) {
    if (!hasStop && !hasSuccessAction) {
      r.section(
        section,
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
      else r.section(section, 'SVC01', 'error', msg);
    } else if (!remain && !hasSuccessAction) {
      r.section(
        section,
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
