/**
 * The signature gate (`--allowed-signers`, `--trusted-keys`): a new head is accepted only when
 * every commit it brings (reachable from it, not from the applied commit; merges included) is
 * signed by a trusted key. With nothing applied yet, or an applied commit the repository no longer
 * has, the head commit alone is checked: its signer vouches for the tree it deploys
 * (docs/security.md).
 *
 * The trust files are read again at every check (they are small) and whenever they change on
 * disk, so a key added or removed takes effect without a restart. A file that turns malformed
 * refuses every new commit until it is fixed (fail closed); the applied commit stays.
 */
import { type FSWatcher, watch as fsWatch, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Diagnostic } from '../diag.js';
import { sha256 } from '../util/hash.js';
import { mapLimit } from '../util/pool.js';
import { readRawCommit, type RawCommit } from './commitobj.js';
import { commitsBetween } from './commitrange.js';
import type { GitCache } from './readsession.js';
import { OpenPgpKeyring, PGP_ARMOR } from './openpgp.js';
import { SSH_ARMOR, parseAllowedSigners, requireSshKeygen, verifySsh } from './sshsig.js';
import { SIG_RULE, SIG_WORDS, TrustFileError, refuse, type Refusal, type SigProblem, type Verdict } from './verdict.js';

export { TrustFileError } from './verdict.js';

export interface TrustFiles {
  /** git's allowed-signers format: SSH keys and whom they may sign as. */
  allowedSigners?: string;
  /** OpenPGP public keys (armored or binary, as `gpg --export` writes them). */
  trustedKeys?: string;
}

/** Why a head is refused: the same shape as a lint refusal. */
export interface SignatureRefusal {
  reason: string;
  diagnostics: Diagnostic[];
}

/** Refusals reported per range; past this many the verdict is clear and the rest is not checked. */
const MAX_FAILURES = 20;
/**
 * Commits whose verdicts are kept (per trust generation, for a while: a key's validity is judged
 * at the time of the check); a push usually brings a few.
 */
const MAX_CACHED = 10_000;
const VERDICT_TTL_MS = 10 * 60_000;

interface Loaded {
  generation: string;
  /** Snapshot of the allowed-signers file that ssh-keygen reads (never the live file). */
  sshFile: string | null;
  pgp: OpenPgpKeyring | null;
  error: TrustFileError | null;
}

function readTrustFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TrustFileError(file, 0, `${flag}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

const short = (oid: string) => oid.slice(0, 12);
const MISSING = 'the commit is not in the repository (a shallow clone?): fetch its history to check it';

/** Temporary directories of open policies: removed at exit even when close() was never reached. */
const openDirs = new Set<string>();
let exitHook = false;
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  openDirs.add(dir);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const d of openDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

export class TrustPolicy {
  private loaded: Loaded | null = null;
  private readonly dir = tempDir('gitfleet-trust-');
  private readonly verdicts = new Map<string, { v: Verdict; at: number }>();
  private readonly watchers: FSWatcher[] = [];

  private constructor(private readonly files: TrustFiles) {}

  /** Read and check the files; throws TrustFileError (naming file and line) when one is unusable. */
  static async load(files: TrustFiles): Promise<TrustPolicy> {
    if (!files.allowedSigners && !files.trustedKeys) throw new Error('TrustPolicy needs at least one trust file');
    const p = new TrustPolicy({
      ...(files.allowedSigners ? { allowedSigners: resolve(files.allowedSigners) } : {}),
      ...(files.trustedKeys ? { trustedKeys: resolve(files.trustedKeys) } : {}),
    });
    await p.refresh();
    const err = p.loaded?.error;
    if (err) {
      p.close();
      throw err;
    }
    if (files.allowedSigners) await requireSshKeygen();
    return p;
  }

  /** The trust files, for "is it inside the repository?" checks and messages. */
  get paths(): string[] {
    return [this.files.allowedSigners, this.files.trustedKeys].filter((f): f is string => f !== undefined);
  }

  /**
   * Re-read the files; reload when their content changed. Returns the generation (a hash of the
   * contents): a verdict holds only for the generation it was made in.
   */
  async refresh(): Promise<string> {
    const texts: string[] = [];
    let error: TrustFileError | null = null;
    try {
      if (this.files.allowedSigners) texts.push(readTrustFile('--allowed-signers', this.files.allowedSigners));
      if (this.files.trustedKeys) texts.push(readTrustFile('--trusted-keys', this.files.trustedKeys));
    } catch (e) {
      if (!(e instanceof TrustFileError)) throw e;
      error = e;
    }
    const generation = error ? `error ${error.message}` : sha256(texts.join('\0'));
    if (this.loaded?.generation === generation) return generation;
    this.loaded?.pgp?.close();
    this.verdicts.clear();
    this.loaded = error ? { generation, sshFile: null, pgp: null, error } : await this.parse(generation, texts);
    return generation;
  }

  private async parse(generation: string, texts: string[]): Promise<Loaded> {
    const out: Loaded = { generation, sshFile: null, pgp: null, error: null };
    let i = 0;
    try {
      if (this.files.allowedSigners) {
        const text = texts[i++]!;
        parseAllowedSigners(text, this.files.allowedSigners);
        out.sshFile = join(this.dir, `allowed-signers-${generation.slice(0, 16)}`);
        writeFileSync(out.sshFile, text, { mode: 0o600 });
      }
      if (this.files.trustedKeys) out.pgp = await OpenPgpKeyring.load(this.files.trustedKeys, texts[i++]!, this.dir);
    } catch (e) {
      if (!(e instanceof TrustFileError)) throw e;
      out.pgp?.close();
      return { generation, sshFile: null, pgp: null, error: e };
    }
    return out;
  }

  /**
   * Call `onChange` when a trust file changes on disk. The directories are watched (inotify on
   * Linux), not the files: an editor or `mv` replaces a file, and a watch on the old one would see
   * nothing after that. Should a watch fail, the controller's periodic pass still re-reads the files.
   */
  watch(onChange: () => void): () => Promise<void> {
    const stop = async () => {
      for (const w of this.watchers.splice(0)) w.close();
    };
    if (this.watchers.length > 0) return stop;
    const byDir = new Map<string, Set<string>>();
    for (const f of this.paths) {
      const names = byDir.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      byDir.set(dirname(f), names);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = fsWatch(dir, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name.toString())) onChange();
        });
        w.on('error', () => {});
        this.watchers.push(w);
      } catch {
        // the directory went away: the periodic re-read covers it
      }
    }
    return stop;
  }

  private async verifyOne(gitdir: string, oid: string, cache: GitCache, loaded: Loaded): Promise<Verdict> {
    const cached = this.verdicts.get(oid);
    if (cached && Date.now() - cached.at < VERDICT_TTL_MS) return cached.v;
    let commit: RawCommit;
    try {
      commit = await readRawCommit(gitdir, oid, cache);
    } catch (e) {
      if ((e as { code?: string }).code !== 'NotFoundError') throw e;
      return refuse('unverifiable', '', MISSING);
    }
    const v = await this.verdictOf(commit, loaded);
    if (this.verdicts.size >= MAX_CACHED) this.verdicts.clear();
    this.verdicts.set(oid, { v, at: Date.now() });
    return v;
  }

  private async verdictOf(commit: RawCommit, loaded: Loaded): Promise<Verdict> {
    const sig = commit.signature;
    if (!sig) return refuse('unsigned', '', 'the commit carries no signature');
    const sigFile = join(this.dir, `${commit.oid}.sig`);
    writeFileSync(sigFile, sig);
    try {
      if (sig.startsWith(SSH_ARMOR)) {
        if (!loaded.sshFile)
          return refuse('unknown-key', 'an SSH key', 'signed with SSH, but no --allowed-signers is given');
        return await verifySsh(commit, loaded.sshFile, this.files.allowedSigners!, sigFile);
      }
      if (sig.startsWith(PGP_ARMOR)) {
        if (!loaded.pgp)
          return refuse('unknown-key', 'an OpenPGP key', 'signed with OpenPGP, but no --trusted-keys is given');
        return await loaded.pgp.verify(commit, sigFile, this.files.trustedKeys!);
      }
      const kind =
        sig
          .split('\n', 1)[0]!
          .replace(/^-+BEGIN |-+$/g, '')
          .trim() || 'an unknown kind of';
      return refuse('unverifiable', '', `${kind} signature: only SSH and OpenPGP signatures are checked`);
    } finally {
      rmSync(sigFile, { force: true });
    }
  }

  /**
   * Check what `head` brings over `applied` (null: nothing applied). Null when every commit is
   * signed by a trusted key; otherwise the refusal, one diagnostic per refused commit.
   */
  async check(
    gitdir: string,
    applied: string | null,
    head: string,
    cache: GitCache = {},
  ): Promise<SignatureRefusal | null> {
    if (applied === head) return null;
    await this.refresh();
    const loaded = this.loaded!;
    let commits = [head];
    let missing: string[] = [];
    if (applied && (await this.describe(gitdir, applied, cache))) {
      ({ commits, missing } = await commitsBetween(gitdir, applied, head, cache));
      if (commits.length === 0) return null;
    }
    if (loaded.error) {
      return {
        reason: `the trust file cannot be used, so no commit is accepted: ${loaded.error.message}`,
        diagnostics: [diagnostic(head, null, 'unverifiable', `${loaded.error.message}`)],
      };
    }
    const failures: { oid: string; v: Refusal }[] = missing.map((oid) => ({
      oid,
      v: refuse('unverifiable', '', MISSING),
    }));
    const toCheck = commits.filter((c) => !missing.includes(c));
    await mapLimit(toCheck, 4, async (oid) => {
      if (failures.length >= MAX_FAILURES) return;
      const v = await this.verifyOne(gitdir, oid, cache, loaded);
      if (!v.ok) failures.push({ oid, v });
    });
    if (failures.length === 0) return null;
    const order = new Map(commits.map((c, i) => [c, i]));
    failures.sort((a, b) => order.get(a.oid)! - order.get(b.oid)!);
    const diagnostics = await Promise.all(
      failures.map(async ({ oid, v }) => diagnostic(oid, await this.describe(gitdir, oid, cache), v.problem, v.detail)),
    );
    const why = [...new Set(failures.map((f) => SIG_WORDS[f.v.problem]))].join(', ');
    const reason =
      failures.length === 1
        ? `commit ${short(failures[0]!.oid)} is not signed by a trusted key (${why})`
        : `${failures.length}${failures.length >= MAX_FAILURES ? '+' : ''} of the ${commits.length} new commits are ` +
          `not signed by a trusted key (${why})`;
    return { reason, diagnostics };
  }

  /** The commit, or null when the repository does not have it. */
  private async describe(gitdir: string, oid: string, cache: GitCache): Promise<RawCommit | null> {
    try {
      return await readRawCommit(gitdir, oid, cache);
    } catch {
      return null;
    }
  }

  close(): void {
    for (const w of this.watchers.splice(0)) w.close();
    this.loaded?.pgp?.close();
    rmSync(this.dir, { recursive: true, force: true });
    openDirs.delete(this.dir);
  }
}

/** One refused commit as a diagnostic: names the commit, its committer, the key found and why. */
function diagnostic(oid: string, commit: RawCommit | null, problem: SigProblem, detail: string): Diagnostic {
  const who = commit ? ` "${commit.subject.slice(0, 60)}" (committer ${commit.committer})` : '';
  return {
    file: '',
    line: 0,
    column: 0,
    rule: SIG_RULE[problem],
    severity: 'error',
    message: `commit ${short(oid)}${who}: ${SIG_WORDS[problem]}: ${detail}`,
  };
}
