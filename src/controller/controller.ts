/**
 * The controller: follows one branch of one repository and turns each new head commit into the
 * cluster's desired state (apply.ts), or records why it refused it. Triggers: a watch on the
 * local repository's refs, a poll of a remote, a verified webhook, and a slow resync; all of
 * them only ask the loop for a pass, which re-resolves the branch (level-triggered, coalesced:
 * after a burst of pushes the newest commit wins).
 */
import { EventEmitter } from 'node:events';
import type { Diagnostic } from '../diag.js';
import { hasErrors } from '../diag.js';
import type { DesiredState } from '../desired/types.js';
import { StalledError } from '../errors.js';
import type { Logger } from '../log.js';
import { isDescendant } from '../source/git.js';
import {
  fetchRemote,
  headBranch,
  locateRepo,
  resolveBranch,
  type RemoteAuth,
  type RepoLocation,
} from '../source/location.js';
import { watchRefs, type RefWatch } from '../source/refwatch.js';
import type { SignatureRefusal, TrustPolicy } from '../source/signatures.js';
import type { DesiredEntry } from '../store/keys.js';
import { readRoot } from '../store/readers.js';
import type { Store } from '../store/store.js';
import { ReconcileLoop } from '../util/loop.js';
import { applyDesired, clearRefusal, recordRefusal, type ApplyOutcome, type KnownRoot } from './apply.js';
import type { ControllerMetrics } from './metrics.js';
import { startWebhook, type WebhookServer } from './webhook.js';

/** Reads one commit into a desired state (or the diagnostics that refuse it). */
export type CommitLoader = (
  gitdir: string,
  commit: string,
  path: string | undefined,
) => Promise<{ desired: DesiredState | null; diagnostics: Diagnostic[] }>;

export interface ControllerOptions {
  store: Store;
  repo: string;
  branch?: string;
  path?: string;
  /** Where remote repositories are mirrored. */
  stateDir: string;
  load: CommitLoader;
  /** Poll a remote every this many seconds (0: never). Default 30. */
  pollSeconds?: number;
  /** Serve the webhook on HOST:PORT (needs webhookSecret). */
  listen?: string;
  webhookSecret?: string;
  allowForcePush?: boolean;
  /** Refuse a head unless every commit since the applied one is signed by a trusted key. */
  signatures?: TrustPolicy;
  /** How a remote repository is reached (SSH key, known hosts, https credentials). */
  auth?: RemoteAuth;
  /** Safety-net resync for local repositories, ms. Default 60 s. */
  resyncMs?: number;
  /** A fatal error (src/errors.ts: credentials refused, the store closed) stopped the controller. */
  onFatal?: (e: Error) => void;
  log: Logger;
  metrics?: ControllerMetrics;
}

export type PassOutcome =
  | { kind: 'applied'; commit: string; writes: number }
  | { kind: 'unchanged'; commit: string }
  | { kind: 'refused'; commit: string; reason: string; diagnostics: Diagnostic[] }
  | { kind: 'no-branch'; branch: string };

/** The branch head was refused: nothing changes until the next push (a stalled error). */
export class CommitRefusedError extends StalledError {
  override name = 'CommitRefusedError';
}

/** HEAD names no branch: the controller waits for it to (a ref change triggers the next pass). */
export class DetachedHeadError extends StalledError {
  override name = 'DetachedHeadError';
}

export class Controller extends EventEmitter {
  readonly loc: RepoLocation;
  private branch: string | null;
  private readonly loop: ReconcileLoop;
  private refWatch: RefWatch | null = null;
  private poll: NodeJS.Timeout | null = null;
  private webhook: WebhookServer | null = null;
  /**
   * The last commit this controller fully handled (applied or refused), with the trust files'
   * generation it was judged under, to skip re-reading it.
   */
  private handled: string | null = null;
  private unwatchTrust: (() => Promise<void>) | null = null;
  private fetchWanted = true;
  /** Immutable shards this controller wrote or read: not read again on the next commit. */
  private readonly shardCache = new Map<string, DesiredEntry[]>();
  /** The root this controller last wrote: the next apply is guarded on it without reading it. */
  private readonly knownRoot: KnownRoot = { root: null, modRevision: 0 };
  lastOutcome: PassOutcome | null = null;

  constructor(private readonly opts: ControllerOptions) {
    super();
    this.loc = locateRepo(opts.repo, opts.stateDir, opts.auth);
    this.branch = opts.branch ?? null;
    this.loop = new ReconcileLoop('controller', () => this.loopPass(), {
      resyncMs: this.loc.kind === 'local' ? (opts.resyncMs ?? 60_000) : 0,
      backoff: { minMs: 250, maxMs: 10_000 },
      onFatal: opts.onFatal,
      log: opts.log,
    });
  }

  get webhookUrl(): string | null {
    return this.webhook?.url ?? null;
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    if (this.loc.kind === 'local') {
      this.branch ??= headBranch(this.loc);
      if (!this.branch) throw new DetachedHeadError(`${this.loc.display}: HEAD is detached; pass --branch`);
      this.refWatch = watchRefs(
        this.loc,
        () => this.loop.trigger('ref changed'),
        (e) => log.warn('ref watch error', { error: e }),
      );
      await this.refWatch.ready;
    } else {
      const secs = this.opts.pollSeconds ?? 30;
      if (secs > 0) {
        this.poll = setInterval(() => this.triggerFetch('poll'), secs * 1000);
      }
    }
    if (this.opts.listen) {
      if (!this.opts.webhookSecret)
        throw new Error('--listen needs --webhook-secret-file: unsigned webhooks are not accepted');
      this.webhook = await startWebhook({
        listen: this.opts.listen,
        secret: this.opts.webhookSecret,
        branch: () => this.branch,
        log,
        onPush: () => this.triggerFetch('webhook'),
      });
      log.info('webhook listening', { url: this.webhook.url });
    }
    this.unwatchTrust = this.opts.signatures?.watch(() => this.loop.trigger('trust file changed')) ?? null;
    log.info('following', {
      repo: this.loc.display,
      branch: this.branch ?? '(remote default)',
      path: this.opts.path ?? '(fleet.yaml at root)',
    });
    this.loop.start();
  }

  /** For remotes: fetch on the next pass. */
  triggerFetch(reason: string): void {
    this.fetchWanted = true;
    this.loop.trigger(reason);
  }

  /** Resolve after the current and any coalesced passes are done. */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  get failures(): number {
    return this.loop.failures;
  }

  /** Why the last pass failed (a CommitRefusedError while the head is refused); null after a success. */
  get lastError(): Error | null {
    return this.loop.lastError;
  }

  async stop(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    await this.refWatch?.close();
    await this.webhook?.close();
    await this.unwatchTrust?.();
    await this.loop.stop();
  }

  /** The loop's pass: a refused head stalls the loop until the next push (no retry on a timer). */
  private async loopPass(): Promise<void> {
    const out = await this.pass();
    if (out.kind === 'refused') throw new CommitRefusedError(`refused ${out.commit.slice(0, 12)}: ${out.reason}`);
  }

  /** One pass: find the head, and apply or refuse it. Throws (and is retried) when the store fails. */
  async pass(): Promise<PassOutcome> {
    const { store, log } = this.opts;
    let commit: string | null;
    if (this.loc.kind === 'remote') {
      if (this.fetchWanted || !this.branch) {
        // Cleared before the fetch, not after: a webhook that arrives while this fetch is in
        // flight (which may have read the refs before its push landed) asks for another one.
        this.fetchWanted = false;
        let r: { branch: string; commit: string };
        try {
          r = await fetchRemote(this.loc, this.branch);
        } catch (e) {
          this.fetchWanted = true;
          throw e;
        }
        this.branch = r.branch;
        commit = r.commit;
      } else {
        commit = await resolveBranch(this.loc.gitdir, this.branch);
      }
    } else {
      this.branch ??= headBranch(this.loc);
      if (!this.branch) throw new DetachedHeadError(`${this.loc.display}: HEAD is detached; pass --branch`);
      commit = await resolveBranch(this.loc.gitdir, this.branch);
    }
    if (!commit) {
      const out: PassOutcome = { kind: 'no-branch', branch: this.branch ?? '' };
      this.record(out);
      return out;
    }
    const handled = `${commit} ${(await this.opts.signatures?.refresh()) ?? ''}`;
    if (handled === this.handled) {
      // Already handled; but the store may have lost it (etcd restored from an old backup, wiped).
      const { root } = await readRoot(store);
      if (root?.commit === commit || this.lastOutcome?.kind === 'refused') return this.lastOutcome!;
    }

    const started = performance.now();
    // Signatures first: a refused commit's tree is not even read.
    const unsigned = await this.signatureRefusal(commit);
    const { desired, diagnostics } = unsigned
      ? { desired: null, diagnostics: [] }
      : await this.opts.load(this.loc.gitdir, commit, this.opts.path);
    let out: PassOutcome;
    if (unsigned) {
      await recordRefusal(store, commit, unsigned.reason, unsigned.diagnostics);
      out = { kind: 'refused', commit, reason: unsigned.reason, diagnostics: unsigned.diagnostics };
    } else if (!desired || hasErrors(diagnostics)) {
      const errors = diagnostics.filter((d) => d.severity === 'error');
      const reason =
        `${errors.length} error${errors.length === 1 ? '' : 's'} in the commit ` +
        `(${[...new Set(errors.map((d) => d.rule))].join(', ')})`;
      await recordRefusal(store, commit, reason, errors);
      out = { kind: 'refused', commit, reason, diagnostics: errors };
    } else {
      const r: ApplyOutcome = await applyDesired(store, desired, {
        shardCache: this.shardCache,
        known: this.knownRoot,
        mayReplace: this.opts.allowForcePush
          ? async () => true
          : (applied, candidate) => isDescendant(this.loc.gitdir, candidate, applied),
      });
      if (r.result === 'superseded') {
        const reason =
          `not a descendant of the applied commit ${r.applied.slice(0, 12)} (force-push?); to apply it, run ` +
          `the controller, apply or up with --allow-force-push`;
        await recordRefusal(store, commit, reason, []);
        out = { kind: 'refused', commit, reason, diagnostics: [] };
      } else if (r.result === 'applied') {
        out = { kind: 'applied', commit, writes: r.writes };
      } else {
        // Already applied (e.g. the branch was reset back to it): an old refusal is history.
        await clearRefusal(store);
        out = { kind: 'unchanged', commit };
      }
    }
    this.handled = handled;
    if (out.kind === 'applied')
      this.opts.metrics?.applied(commit, this.loc.gitdir, (performance.now() - started) / 1000);
    if (out.kind === 'refused') this.opts.metrics?.refused();
    this.record(out);
    // A refusal is logged by the loop, as the stalled error it is (loopPass).
    if (out.kind !== 'refused') log.info(out.kind, { commit: commit.slice(0, 12) });
    return out;
  }

  /** With trust files: why the commits since the applied one are refused, or null. */
  private async signatureRefusal(commit: string): Promise<SignatureRefusal | null> {
    if (!this.opts.signatures) return null;
    const { root } = await readRoot(this.opts.store);
    return this.opts.signatures.check(this.loc.gitdir, root?.commit ?? null, commit);
  }

  private record(out: PassOutcome): void {
    this.lastOutcome = out;
    this.emit('outcome', out);
  }
}
