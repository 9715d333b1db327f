/**
 * The directory gitfleet owns on this machine. Every unit file the agent runs lives here (systemd
 * sees it through a runtime link), and every read, write and removal of a unit file goes through
 * this class, which keeps the hash and facts of each unit in memory: the planner's "what is on
 * disk". A file that is not named like a unit (an atomic write's temp file, a stray) is never
 * read, written or removed, so nothing outside gitfleet's own units is ever touched.
 *
 * A unit's drop-ins live beside its file, in `NAME.d/` here, written and removed with it (a drop-in
 * the new content no longer has is removed). systemd reads drop-ins only from its own unit
 * directories, not from beside a linked unit file, so `NAME.d` is linked into systemd's runtime
 * unit directory (where LinkUnitFiles puts the unit's own link): `systemctl cat NAME` then shows
 * the unit file and `<this dir>/NAME.d/*.conf`. Only a link that points here is ever replaced or
 * removed; anything else of that name is someone else's, and a unit that would need it is refused.
 */
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isDropInFileName, type DropInText } from '../unit/body.js';
import { compareFileNames } from '../unit/dropins.js';
import { removeFile, writeFileAtomic } from '../util/files.js';
import { unitContent, type UnitContent, type UnitFacts } from './content.js';

const UNIT_FILE = /^[A-Za-z0-9:_.\\@-]+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;

/**
 * A name the agent may use as a file name in its unit directory: a plain unit name (no path, at
 * most 255 characters). Scheduled names that are not are never acted on.
 */
export function isUnitFileName(name: string): boolean {
  return UNIT_FILE.test(name) && name.length <= 255;
}

export class UnitDir {
  private readonly files = new Map<string, UnitFacts>();

  /**
   * `dir`: gitfleet's own directory. `runtimeDir`: systemd's runtime unit directory, where drop-in
   * directories are linked; without it, a unit with drop-ins cannot be written.
   */
  constructor(
    readonly dir: string,
    readonly runtimeDir?: string,
  ) {}

  /**
   * Create the directory if needed and read every unit file in it, with its drop-ins: the hash and
   * facts of each. A unit whose drop-ins systemd cannot see (their link is gone) gets no hash, so
   * the planner writes it again. Drop-in directories of units that have no file are removed.
   */
  async scan(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.files.clear();
    const names = await readdir(this.dir);
    for (const name of names) {
      if (!isUnitFileName(name)) continue; // temp files of atomic writes, strays
      try {
        const files = { unit: await readFile(this.path(name), 'utf8'), dropIns: await this.readDropIns(name) };
        const f = facts(unitContent(files));
        if (files.dropIns.length > 0 && !(await this.linked(name))) f.hash = '';
        this.files.set(name, f);
      } catch {
        // vanished or unreadable: not ours to plan with
      }
    }
    for (const entry of names) {
      const unit = entry.endsWith('.d') ? entry.slice(0, -2) : '';
      if (isUnitFileName(unit) && !this.files.has(unit)) await this.removeDropIns(unit);
    }
  }

  /** Units with a file here, in no particular order. */
  names(): string[] {
    return [...this.files.keys()];
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** The facts of the unit on disk (as last written or read), or undefined. */
  get(name: string): UnitFacts | undefined {
    return this.files.get(name);
  }

  hashOf(name: string): string | undefined {
    return this.files.get(name)?.hash;
  }

  /** Absolute path of a unit's file (what systemd links to). */
  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Is the unit's own link in systemd's runtime unit directory (LinkUnitFiles') there, pointing at
   * its file here? Then rewriting the file needs no new link. False when no runtime dir is known.
   */
  async fileLinked(name: string): Promise<boolean> {
    if (!this.runtimeDir) return false;
    try {
      return (await readlink(join(this.runtimeDir, name))) === this.path(name);
    } catch {
      return false; // absent, or not a link
    }
  }

  /**
   * Write a unit's files atomically, one by one: its drop-ins first (removing those it no longer
   * has, and linking or unlinking its drop-in directory), then the unit file. Returns the unit
   * file's path.
   */
  async write(name: string, content: UnitContent): Promise<string> {
    checkName(name);
    const { dropIns } = content.files;
    if (dropIns.length > 0 && !this.runtimeDir)
      throw new Error(`cannot write ${name}: it has drop-ins, and the agent knows no runtime unit directory to link`);
    await mkdir(this.dir, { recursive: true });
    if (dropIns.length > 0) await this.writeDropIns(name, dropIns);
    else await this.removeDropIns(name);
    const path = this.path(name);
    await writeFileAtomic(path, content.files.unit, { mode: 0o644 });
    this.files.set(name, facts(content));
    return path;
  }

  /** Remove a unit's file and its drop-ins; what is already gone is fine. */
  async remove(name: string): Promise<void> {
    checkName(name);
    await this.removeDropIns(name);
    await removeFile(this.path(name));
    this.files.delete(name);
  }

  private dropInDir(name: string): string {
    return join(this.dir, `${name}.d`);
  }

  private linkPath(name: string): string | null {
    return this.runtimeDir ? join(this.runtimeDir, `${name}.d`) : null;
  }

  /** The unit's drop-ins on disk, in systemd's order; none when it has no drop-in directory. */
  private async readDropIns(name: string): Promise<DropInText[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dropInDir(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: DropInText[] = [];
    for (const file of entries.filter(isDropInFileName).sort(compareFileNames))
      out.push({ name: file, text: await readFile(join(this.dropInDir(name), file), 'utf8') });
    return out;
  }

  private async writeDropIns(name: string, dropIns: readonly DropInText[]): Promise<void> {
    const dir = this.dropInDir(name);
    await mkdir(dir, { recursive: true });
    await this.link(name);
    const keep = new Set(dropIns.map((d) => d.name));
    for (const d of dropIns) {
      if (!isDropInFileName(d.name))
        throw new Error(`refusing to write drop-in "${d.name}" of ${name}: not a *.conf name`);
      await writeFileAtomic(join(dir, d.name), d.text, { mode: 0o644 });
    }
    for (const old of await readdir(dir)) if (isDropInFileName(old) && !keep.has(old)) await removeFile(join(dir, old));
  }

  /** Link `NAME.d` into the runtime unit directory, unless it is linked here already. */
  private async link(name: string): Promise<void> {
    const at = this.linkPath(name)!;
    if (await this.linked(name)) return;
    try {
      await lstat(at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(this.runtimeDir!, { recursive: true });
      await symlink(this.dropInDir(name), at);
      return;
    }
    throw new Error(
      `cannot link the drop-ins of ${name}: ${at} exists and is not gitfleet's link to ${this.dropInDir(name)} ` +
        `(a drop-in directory of someone else's); move its files away`,
    );
  }

  /** Is `NAME.d` in the runtime unit directory our link? */
  private async linked(name: string): Promise<boolean> {
    const at = this.linkPath(name);
    if (!at) return false;
    try {
      return (await readlink(at)) === this.dropInDir(name);
    } catch {
      return false; // absent, or not a link
    }
  }

  /** Remove the unit's drop-in directory here, and its link if it is ours. */
  private async removeDropIns(name: string): Promise<void> {
    const at = this.linkPath(name);
    if (at && (await this.linked(name))) await unlink(at);
    await rm(this.dropInDir(name), { recursive: true, force: true });
  }
}

function checkName(name: string): void {
  if (!isUnitFileName(name)) throw new Error(`refusing to touch unit file "${name}": not a plain unit name`);
}

const facts = (c: UnitContent): UnitFacts => ({ hash: c.hash, install: c.install, oneshot: c.oneshot });
