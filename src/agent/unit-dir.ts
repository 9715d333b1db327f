/**
 * The directory gitfleet owns on this machine. Every unit file the agent runs lives here (systemd
 * sees it through a runtime link), and every read, write and removal of a unit file goes through
 * this class, which keeps the hash and facts of each file in memory: the planner's "what is on
 * disk". A file that is not named like a unit (an atomic write's temp file, a stray) is never
 * read, written or removed, so nothing outside gitfleet's own units is ever touched.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

  constructor(readonly dir: string) {}

  /** Create the directory if needed and read every unit file in it: its hash and facts. */
  async scan(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.files.clear();
    for (const name of await readdir(this.dir)) {
      if (!isUnitFileName(name)) continue; // temp files of atomic writes, strays
      try {
        this.files.set(name, facts(unitContent(await readFile(this.path(name), 'utf8'))));
      } catch {
        // vanished or unreadable: not ours to plan with
      }
    }
  }

  /** Units with a file here, in no particular order. */
  names(): string[] {
    return [...this.files.keys()];
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** The facts of the file on disk (as last written or read), or undefined. */
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

  /** Write a unit's file atomically; returns its path. */
  async write(name: string, content: UnitContent): Promise<string> {
    checkName(name);
    await mkdir(this.dir, { recursive: true });
    const path = this.path(name);
    await writeFileAtomic(path, content.text, { mode: 0o644 });
    this.files.set(name, facts(content));
    return path;
  }

  /** Remove a unit's file; one that is already gone is fine. */
  async remove(name: string): Promise<void> {
    checkName(name);
    await removeFile(this.path(name));
    this.files.delete(name);
  }
}

function checkName(name: string): void {
  if (!isUnitFileName(name)) throw new Error(`refusing to touch unit file "${name}": not a plain unit name`);
}

const facts = (c: UnitContent): UnitFacts => ({ hash: c.hash, install: c.install, oneshot: c.oneshot });
