/**
 * The page's files: src/ui/static/ (plain HTML, CSS and one script; no build step). tsc does not
 * copy them, so the compiled server (dist/src/ui/) finds them in the package's src/ui/static/,
 * which package.json's "files" ships; run from source they sit beside this file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

export function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'static'), resolve(here, '../../../src/ui/static')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`the web UI's files are missing (looked in ${candidates.join(' and ')})`);
  return found;
}

let files: Map<string, { type: string; body: Buffer }> | null = null;

/** One of the page's files by name, or null for any other name (nothing else is served). */
export function staticFile(name: string): { type: string; body: Buffer } | null {
  if (!files) {
    const dir = staticDir();
    files = new Map(Object.entries(TYPES).map(([n, type]) => [n, { type, body: readFileSync(join(dir, n)) }]));
  }
  return files.get(name) ?? null;
}
