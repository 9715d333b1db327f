/**
 * The lint corpus (test/unit/lint/corpus/): broken and tricky-but-valid unit files, one behaviour each,
 * named after it. A top-level file is a case on its own; a directory is one case of several files
 * (a socket and its service, a timer and its service) linted and verified together.
 *
 * Each file starts with comment lines systemd ignores:
 *     # expect: VAL01 VAL03     rules gitfleet must report (warning or error); `none`: no warning or error
 *     # state: launched          desired state passed to the linter (INS01)
 * A 0-byte file cannot carry a header: it expects MSK01.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus');

export interface CorpusFile {
  /** Unit file name. */
  name: string;
  /** Absolute path. */
  path: string;
  /** Path relative to the corpus, for messages. */
  id: string;
  content: Buffer;
  /** Expected rules; empty: none expected (the file must get no warning or error). */
  expect: string[];
  state?: 'inactive' | 'loaded' | 'launched';
}

export interface CorpusCase {
  id: string;
  files: CorpusFile[];
}

function readHeader(content: Buffer): { expect: string[]; state?: CorpusFile['state'] } {
  if (content.length === 0) return { expect: ['MSK01'] };
  const text = content.toString('latin1');
  const expect = /^# expect:(.*)$/m.exec(text);
  if (!expect) throw new Error('missing "# expect:" line');
  const rules = expect[1]!
    .trim()
    .split(/\s+/)
    .filter((r) => r !== 'none' && r !== '');
  const state = /^# state: *(\S+)/m.exec(text)?.[1] as CorpusFile['state'] | undefined;
  return { expect: rules, state };
}

function readFile(path: string, id: string): CorpusFile {
  const content = readFileSync(path);
  try {
    return { name: basename(path), path, id, content, ...readHeader(content) };
  } catch (e) {
    throw new Error(`corpus file ${id}: ${(e as Error).message}`);
  }
}

/** The cases of a corpus directory (default: the hand-made corpus). */
export function loadCorpus(dir = CORPUS_DIR): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      const files = readdirSync(path)
        .sort()
        .map((f) => readFile(join(path, f), `${entry}/${f}`));
      cases.push({ id: entry, files });
    } else {
      cases.push({ id: entry, files: [readFile(path, entry)] });
    }
  }
  return cases;
}
