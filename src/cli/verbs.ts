/**
 * fleetctl's verbs as git edits of a unit repository's work tree (`--repo DIR`, default `.`):
 *   start / stop / load / unload UNIT...  set the units' desired state in fleet.yaml
 *     (launched / loaded / loaded / inactive, as fleet meant them);
 *   submit FILE...                        copy unit files in (as inactive units, fleet's "submitted");
 *   destroy UNIT...                       remove a unit's file and its fleet.yaml entry.
 * One commit per command, with a message saying what (`-m` to give one), pushed with `--push`.
 * Nothing is written unless the result still deploys: the edited commit is checked the way the
 * controller will check it, and a change that adds errors is refused with them.
 * git itself (the CLI) makes the commit: the user's identity, hooks and signing apply.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { basename, join, posix, resolve } from 'node:path';
import type { Diagnostic } from '../diag.js';
import { desiredFromSnapshot } from '../desired/build.js';
import { FleetYamlEditError, removeInstance, removeUnitEntry, setUnitState } from '../desired/edit.js';
import { FLEET_YAML, parseFleetYaml } from '../desired/fleetyaml.js';
import { instanceName } from '../desired/fleetyaml-units.js';
import type { RepoSnapshot } from '../desired/repo.js';
import type { DesiredStateName, FleetSpec } from '../desired/types.js';
import { normalizeSubPath } from '../source/files.js';
import { readCommitSnapshot } from '../source/commitfiles.js';
import { isTemplate, isValidUnitName, templateOf, unitNameError, withDefaultSuffix } from '../unit/names.js';
import { writeOut } from './common.js';
import { CliError, UsageError } from './errors.js';

interface VerbFlags {
  repo: string;
  path?: string;
  message?: string;
  push?: boolean;
}

type Verb = 'start' | 'stop' | 'load' | 'unload' | 'submit' | 'destroy';
const STATE_OF: Partial<Record<Verb, DesiredStateName>> = {
  start: 'launched',
  stop: 'loaded',
  load: 'loaded',
  unload: 'inactive',
};

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }, (err, stdout, stderr) => {
      if (!err) return res(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return rej(new CliError('this command needs the git CLI (git is not on PATH)'));
      rej(new CliError(`git ${args[0]}: ${(stderr || err.message).trim().split('\n').slice(-3).join('; ')}`));
    });
  });
}

/** The repository as the edit sees it: HEAD's snapshot, and where fleet.yaml and the units are. */
interface Repo {
  top: string;
  head: string;
  base: string;
  fyPath: string;
  fyText: string | null;
  spec: FleetSpec;
  snap: RepoSnapshot;
}

async function openRepo(flags: VerbFlags): Promise<Repo> {
  const dir = resolve(flags.repo);
  if (!fs.existsSync(dir)) throw new CliError(`--repo ${flags.repo} does not exist`);
  const top = (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
  if (!top) throw new CliError(`--repo ${flags.repo} is not a git work tree (the verbs edit and commit files)`);
  const head = (await git(top, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']).catch(() => '')).trim();
  if (!head) throw new CliError(`${top} has no commit yet: commit fleet.yaml or a unit file first`);
  let base: string;
  try {
    base = normalizeSubPath(flags.path ?? '');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const fyPath = base ? `${base}/${FLEET_YAML}` : FLEET_YAML;
  const snap = await readCommitSnapshot(top, head, { path: base });
  const fyText = snap.fleetYaml ? Buffer.from(snap.fleetYaml.content).toString('utf8') : null;
  const parsed = fyText === null ? null : parseFleetYaml(fyText, fyPath);
  if (parsed && !parsed.spec) throw new CliError(`${fyPath} has errors; fix them first:\n${lines(parsed.diagnostics)}`);
  const spec = parsed?.spec ?? { path: base, defaults: { state: 'launched' }, allowEmpty: false, units: {} };
  return { top, head, base, fyPath, fyText, spec, snap };
}

function lines(ds: Diagnostic[]): string {
  return ds.map((d) => `  ${d.file}:${d.line}:${d.column}: ${d.severity} ${d.rule} ${d.message}`).join('\n');
}

/** The planned change: fleet.yaml's new text, unit files written or removed (repo paths). */
interface Change {
  fyText: string | null;
  write: Map<string, Buffer>;
  remove: Set<string>;
  /** What the commit message says, one phrase per unit. */
  said: string[];
  /** The desired state each named unit must have afterwards (null: gone); checked before writing. */
  expect: Map<string, DesiredStateName | null>;
}

function fileOf(repo: Repo, name: string): string | undefined {
  return repo.snap.files.find((f) => f.name === name)?.path;
}

/** The state a unit has by fleet.yaml now (an instance: its own entry, its template's, the default). */
function stateOf(spec: FleetSpec, name: string): DesiredStateName {
  const t = templateOf(name);
  return spec.units[name]?.state ?? (t ? spec.units[t]?.state : undefined) ?? spec.defaults.state;
}

function unitArg(arg: string): string {
  const name = withDefaultSuffix(arg);
  if (!isValidUnitName(name)) throw new UsageError(`${arg}: ${unitNameError(name)}`);
  return name;
}

function edit(change: Change, fn: (text: string | null) => string | null): void {
  try {
    change.fyText = fn(change.fyText);
  } catch (e) {
    if (e instanceof FleetYamlEditError) throw new CliError(e.message);
    throw e;
  }
}

/** A path to a unit file on this machine (`./hello.service`), which fleetctl submits on start/load. */
function localUnitFile(arg: string): boolean {
  if (!arg.includes('/') && !isValidUnitName(arg)) return false;
  return fs.statSync(arg, { throwIfNoEntry: false })?.isFile() === true;
}

function planState(repo: Repo, change: Change, args: string[], state: DesiredStateName, verb: string): void {
  for (const arg of args) {
    // As fleetctl does: a local unit file the repository does not have yet is submitted first.
    const local = localUnitFile(arg);
    if (local && !fileOf(repo, basename(arg))) {
      planSubmit(repo, change, [arg], state, verb);
      continue;
    }
    const name = unitArg(local ? basename(arg) : arg);
    const t = templateOf(name);
    if (!fileOf(repo, name) && !(t && fileOf(repo, t)))
      throw new CliError(
        `no unit file ${name}${t ? ` (nor its template ${t})` : ''} under '${repo.spec.path || '.'}' in ` +
          `${repo.top}; add it with: gitfleet submit FILE`,
      );
    const wanted = fileOf(repo, name) || repo.spec.units[name] || wantedInstance(repo.spec, name);
    if (wanted && stateOf(repo.spec, name) === state) {
      writeOut(`${name} is already ${state}\n`);
      continue;
    }
    edit(change, (text) => setUnitState(text, name, state));
    change.said.push(`${verb} ${name}`);
    change.expect.set(name, state);
  }
}

/** Is this instance one of its template's `instances:`? */
function wantedInstance(spec: FleetSpec, name: string): boolean {
  const t = templateOf(name);
  return Boolean(t && spec.units[t]?.instances?.some((i) => instanceName(t, i) === name));
}

/** Copy unit files in; new units get `state` (fleet's submit: inactive; start/load of a local file: theirs). */
function planSubmit(
  repo: Repo,
  change: Change,
  files: string[],
  state: DesiredStateName = 'inactive',
  verb = 'submit',
): void {
  for (const file of files) {
    let content: Buffer;
    try {
      content = fs.readFileSync(file);
    } catch (e) {
      throw new CliError(`submit: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const name = basename(file);
    if (!isValidUnitName(name)) throw new UsageError(`submit ${file}: ${unitNameError(name)}`);
    const existing = fileOf(repo, name);
    const path = existing ?? (repo.spec.path ? posix.join(repo.spec.path, name) : name);
    const old = repo.snap.files.find((f) => f.path === path);
    if (old && Buffer.from(old.content).equals(content)) {
      writeOut(`${name} is already in the repository with this content\n`);
      continue;
    }
    change.write.set(path, content);
    if (existing) change.said.push(`update ${name}`);
    else {
      // fleet's submitted units are inactive: known, placed nowhere, until started or loaded.
      if (!isTemplate(name)) {
        if (stateOf(repo.spec, name) !== state) edit(change, (text) => setUnitState(text, name, state));
        change.expect.set(name, state);
      }
      change.said.push(verb === 'submit' ? `submit ${name}` : `submit and ${verb} ${name}`);
    }
  }
}

function planDestroy(repo: Repo, change: Change, args: string[]): void {
  for (const arg of args) {
    const name = unitArg(arg);
    const path = fileOf(repo, name);
    const t = templateOf(name);
    const known = path || repo.spec.units[name] || wantedInstance(repo.spec, name);
    if (!known) throw new CliError(`${name} is not in ${repo.top} (no unit file, no fleet.yaml entry)`);
    if (path) change.remove.add(path);
    edit(change, (text) => text && removeUnitEntry(text, name));
    if (isTemplate(name)) {
      // Its instances' own entries would name a template that is gone.
      for (const inst of Object.keys(repo.spec.units).filter((u) => templateOf(u) === name))
        edit(change, (text) => text && removeUnitEntry(text, inst));
    } else if (t && !path) edit(change, (text) => text && removeInstance(text, t, name));
    change.said.push(`destroy ${name}`);
    change.expect.set(name, null);
  }
}

const key = (d: Diagnostic) => `${d.rule}\0${d.file}\0${d.message}`;

/**
 * Check the changed commit as the controller will: the errors it would have that HEAD does not
 * (the change is refused with them), and that each unit ends up as the verb meant (else the edit of
 * fleet.yaml did not say what it should, and nothing is written).
 */
function check(repo: Repo, change: Change): Diagnostic[] {
  const before = desiredFromSnapshot(repo.snap, repo.head).diagnostics.filter((d) => d.severity === 'error');
  const files = repo.snap.files
    .filter((f) => !change.remove.has(f.path) && !change.write.has(f.path))
    .concat([...change.write].map(([path, content]) => ({ path, name: posix.basename(path), content })));
  const result = desiredFromSnapshot(
    {
      ...repo.snap,
      // The snapshot's own parse is of the old fleet.yaml: the edited one is parsed afresh.
      fleetYamlResult: null,
      fleetYaml:
        change.fyText === null ? null : { path: repo.fyPath, name: FLEET_YAML, content: Buffer.from(change.fyText) },
      files,
    },
    repo.head,
  );
  const had = new Set(before.map(key));
  const added = result.diagnostics.filter((d) => d.severity === 'error' && !had.has(key(d)));
  if (added.length || !result.desired) return added;
  for (const [name, want] of change.expect) {
    if (isTemplate(name)) continue;
    const got = result.desired.units.find((u) => u.name === name)?.state ?? null;
    if (got !== want)
      throw new CliError(
        `editing ${repo.fyPath} did not make ${name} ${want ?? 'gone'} (it would be ${got ?? 'gone'}); nothing was ` +
          `written: edit ${repo.fyPath} by hand`,
      );
  }
  return [];
}

async function commit(repo: Repo, change: Change, flags: VerbFlags): Promise<void> {
  const paths = [...change.write.keys(), ...change.remove];
  if (change.fyText !== repo.fyText) paths.push(repo.fyPath);
  const dirty = (await git(repo.top, ['status', '--porcelain', '--', ...paths])).trim();
  if (dirty) throw new CliError(`uncommitted changes in what this would commit; commit or stash them first:\n${dirty}`);
  for (const [path, content] of change.write) {
    fs.mkdirSync(join(repo.top, posix.dirname(path)), { recursive: true });
    fs.writeFileSync(join(repo.top, path), content);
  }
  if (change.fyText !== repo.fyText && change.fyText !== null)
    fs.writeFileSync(join(repo.top, repo.fyPath), change.fyText);
  if (change.remove.size) await git(repo.top, ['rm', '-q', '--', ...change.remove]);
  const added = paths.filter((p) => !change.remove.has(p));
  if (added.length) await git(repo.top, ['add', '--', ...added]);
  const message = flags.message ?? change.said.join(', ');
  await git(repo.top, ['commit', '-q', '-m', message, '--', ...paths]);
  const sha = (await git(repo.top, ['rev-parse', '--short=12', 'HEAD'])).trim();
  writeOut(`committed ${sha}: ${message}\n`);
  if (flags.push) {
    await git(repo.top, ['push', '-q']);
    writeOut('pushed\n');
  }
}

export function verb(name: string): (args: string[], flags: VerbFlags) => Promise<number> {
  return async (args, flags) => {
    const repo = await openRepo(flags);
    const change: Change = { fyText: repo.fyText, write: new Map(), remove: new Set(), said: [], expect: new Map() };
    const state = STATE_OF[name as Verb];
    if (state) planState(repo, change, args, state, name);
    else if (name === 'submit') planSubmit(repo, change, args);
    else planDestroy(repo, change, args);
    if (!change.said.length) {
      writeOut('nothing to commit\n');
      return 0;
    }
    const errors = check(repo, change);
    if (errors.length)
      throw new CliError(
        `not committed: the controller would refuse the result (${errors.length} new ` +
          `error${errors.length === 1 ? '' : 's'}):\n${lines(errors)}`,
      );
    await commit(repo, change, flags);
    return 0;
  };
}
