/**
 * Real git repositories in temp dirs, built with the git CLI (the independent tool, not the
 * library under test). Dates and identities are fixed so commit ids are reproducible.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const BASE_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
};

let tick = 0;

/** Run git in `dir`; returns stdout trimmed. Throws with git's stderr on failure. */
export function git(dir: string, args: string[], input?: string | Buffer): string {
  // Each commit gets a later timestamp, so history order is unambiguous and ids are reproducible per run order.
  const date = `${1_700_000_000 + tick++} +0000`;
  try {
    return execFileSync('git', args, {
      cwd: dir,
      env: { ...BASE_ENV, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
    }).trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`git ${args.join(' ')} in ${dir} failed: ${err.stderr || err.message}`);
  }
}

/**
 * git without blocking the event loop: needed when the other end is a server in this same process
 * (test/support/gitserver.ts), which execFileSync would starve.
 */
export function gitAsync(dir: string, args: string[]): Promise<string> {
  const date = `${1_700_000_000 + tick++} +0000`;
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd: dir, env: { ...BASE_ENV, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date }, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`git ${args.join(' ')} in ${dir} failed: ${stderr || err.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

/** A temp dir removed by the returned cleanup (call it from an after hook). */
export function tempDir(prefix = 'gitfleet-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type FileSpec = string | Buffer | { symlink: string } | null;

/** A non-bare work tree with helpers for the history shapes the tests need. */
export class TestRepo {
  constructor(readonly dir: string) {}

  /** `git init` in a fresh dir under `parent` (branch main). */
  static init(parent: string, name = 'repo'): TestRepo {
    const dir = join(parent, name);
    mkdirSync(dir, { recursive: true });
    git(dir, ['init', '-q', '-b', 'main']);
    return new TestRepo(dir);
  }

  git(...args: string[]): string {
    return git(this.dir, args);
  }

  /** git without blocking the event loop: for talking to test/support/gitserver.ts (push, fetch, clone). */
  gitAsync(...args: string[]): Promise<string> {
    return gitAsync(this.dir, args);
  }

  /** Write files (string/Buffer content), symlinks ({symlink: target}) or delete (null), relative to the work tree. */
  write(files: Record<string, FileSpec>): this {
    for (const [path, spec] of Object.entries(files)) {
      const abs = join(this.dir, path);
      if (spec === null) {
        rmSync(abs, { recursive: true, force: true });
        continue;
      }
      mkdirSync(dirname(abs), { recursive: true });
      rmSync(abs, { force: true });
      if (typeof spec === 'object' && !Buffer.isBuffer(spec)) symlinkSync(spec.symlink, abs);
      else writeFileSync(abs, spec);
    }
    return this;
  }

  /** Write `files`, stage everything, commit; returns the new commit id. */
  commit(message: string, files: Record<string, FileSpec> = {}): string {
    this.write(files);
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.head();
  }

  /** `git mv` then commit. */
  rename(from: string, to: string, message = `rename ${from} -> ${to}`): string {
    mkdirSync(dirname(join(this.dir, to)), { recursive: true });
    this.git('mv', from, to);
    this.git('commit', '-q', '-m', message);
    return this.head();
  }

  remove(path: string, message = `remove ${path}`): string {
    this.git('rm', '-q', '-r', path);
    this.git('commit', '-q', '-m', message);
    return this.head();
  }

  branch(name: string, from = 'HEAD'): this {
    this.git('branch', name, from);
    return this;
  }

  checkout(name: string): this {
    this.git('checkout', '-q', name);
    return this;
  }

  /** A real merge commit (no fast-forward) of `branch` into the current branch. */
  merge(branch: string, message = `merge ${branch}`): string {
    this.git('merge', '-q', '--no-ff', '-m', message, branch);
    return this.head();
  }

  tag(name: string, rev = 'HEAD', annotated = false): this {
    if (annotated) this.git('tag', '-a', '-m', name, name, rev);
    else this.git('tag', name, rev);
    return this;
  }

  head(): string {
    return this.git('rev-parse', 'HEAD');
  }

  /** Record a submodule gitlink at `path` pointing to `sha` (the object need not exist here). */
  addGitlink(path: string, sha: string, message = `submodule ${path}`): string {
    this.git('update-index', '--add', '--cacheinfo', `160000,${sha},${path}`);
    this.git('commit', '-q', '-m', message);
    return this.head();
  }

  /** Pack all objects and refs, as a long-lived server repo would be. */
  gc(): this {
    this.git('gc', '-q');
    return this;
  }

  /** A bare clone of this repo in `parent/name`; returns its path. */
  cloneBare(parent: string, name = 'bare.git'): string {
    const dest = join(parent, name);
    mkdirSync(parent, { recursive: true });
    git(parent, ['clone', '-q', '--bare', this.dir, dest]);
    return dest;
  }
}
