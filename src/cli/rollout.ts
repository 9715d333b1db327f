/**
 * `gitfleet rollout status [COMMIT] [--wait]`, `rollout pause`, `rollout resume`: what a commit's
 * rollout did on which machine, from its record in the store. `--wait` follows the record through
 * watches until the rollout ends (for CI: exit 0 succeeded; 1 failed, reverted, superseded or
 * timed out).
 */
import { ROLLOUT_CONTROL, ROLLOUT_ENDED, ROLLOUT_LATEST, ROLLOUTS_PREFIX, type RolloutRecord } from '../store/keys.js';
import { progressLine, readRollout, rolloutJson, toldHash } from '../store/rollouts.js';
import type { Store } from '../store/store.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { CliError, UsageError } from './errors.js';

interface StatusFlags extends StoreFlags {
  format?: 'text' | 'json';
  wait?: boolean;
  timeout?: string;
}

const short = (h: string | null) => (h ? h.slice(0, 7) : '-');

export function renderRolloutText(r: RolloutRecord, now = Date.now()): string {
  const ago = (t: number) => `${Math.max(0, Math.round((now - t) / 1000))}s ago`;
  const lines = [
    `rollout of ${short(r.commit)}: ${r.state}` +
      (r.ended === null ? `, started ${ago(r.started)}` : `, ended ${ago(r.ended)}`) +
      (r.previous ? ` (after ${short(r.previous)})` : ''),
  ];
  if (r.reason) lines.push(`  ${r.reason}`);
  if (r.groups.length === 0) lines.push('  no unit changed');
  for (const g of r.groups) {
    lines.push(`  ${progressLine(g)}`);
    for (const m of g.machines) {
      const reason = m.reason ? `  ${m.reason}` : '';
      lines.push(`    ${m.machine.padEnd(14)} ${m.state.padEnd(9)} ${short(toldHash(g, m))}${reason}`);
    }
  }
  return lines.join('\n') + '\n';
}

export async function run(commit: string | undefined, flags: StatusFlags): Promise<number> {
  const timeoutS = flags.timeout === undefined ? 600 : Number(flags.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout must be a number of seconds > 0`);
  return withStore(
    flags,
    async (store) => {
      if (!flags.wait) {
        const r = await findRecord(store, commit);
        if (!r)
          throw new CliError(commit ? `no rollout record for commit ${commit}` : 'no rollout has been recorded yet');
        writeOut(flags.format === 'json' ? JSON.stringify(rolloutJson(r), null, 2) + '\n' : renderRolloutText(r));
        return r.state === 'failed' || r.state === 'reverted' ? 1 : 0;
      }
      return waitFor(store, commit, timeoutS * 1000, flags.format ?? 'text');
    },
    { up: true },
  );
}

/** The record of `commit` (a full sha or a unique prefix of a recent one), or the latest. */
async function findRecord(store: Store, commit: string | undefined): Promise<RolloutRecord | null> {
  if (!commit) return readRollout(store);
  if (/^[0-9a-f]{40}$/.test(commit)) return readRollout(store, commit);
  const heads = await store.range(ROLLOUTS_PREFIX, { keysOnly: true });
  const commits = new Set(heads.kvs.map((kv) => kv.key.slice(ROLLOUTS_PREFIX.length).split('/')[0]!));
  const hits = [...commits].filter((c) => c.startsWith(commit));
  if (hits.length > 1) throw new UsageError(`commit ${commit} is ambiguous: ${hits.map(short).join(', ')}`);
  return hits.length ? readRollout(store, hits[0]) : null;
}

async function waitFor(store: Store, commit: string | undefined, timeoutMs: number, format: string): Promise<number> {
  let last = '';
  let resolveChange: (() => void) | null = null;
  const handler = { onEvents: () => resolveChange?.(), onError: () => resolveChange?.() };
  const watches = await Promise.all([
    store.watch(ROLLOUTS_PREFIX, undefined, handler),
    store.watch(ROLLOUT_LATEST, undefined, handler),
  ]);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const changed = new Promise<void>((r) => {
        resolveChange = r;
      });
      const r = await findRecord(store, commit);
      if (r) {
        const text = format === 'json' ? '' : r.groups.map((g) => `${short(r.commit)} ${progressLine(g)}`).join('\n');
        if (text && text !== last) writeOut(text + '\n');
        last = text;
        if (ROLLOUT_ENDED.has(r.state)) {
          if (format === 'json') writeOut(JSON.stringify(rolloutJson(r), null, 2) + '\n');
          else writeOut(`rollout of ${short(r.commit)} ${r.state}${r.reason ? `: ${r.reason}` : ''}\n`);
          return r.state === 'succeeded' ? 0 : 1;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        process.stderr.write(
          `gitfleet: rollout${commit ? ` of ${commit}` : ''} did not end within ${timeoutMs / 1000}s\n`,
        );
        return 1;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([changed, new Promise<void>((res) => (timer = setTimeout(res, Math.min(left, 5_000))))]);
      clearTimeout(timer);
    }
  } finally {
    await Promise.all(watches.map((w) => w.close()));
  }
}

/** `rollout pause` / `rollout resume`: recorded in the store, obeyed by the leading engine. */
export async function setPaused(paused: boolean, flags: StoreFlags): Promise<number> {
  return withStore(
    flags,
    async (store) => {
      await store.put(ROLLOUT_CONTROL, JSON.stringify({ paused, at: new Date().toISOString() }));
      writeOut(
        paused ? 'rollouts paused: no new batch starts until `gitfleet rollout resume`\n' : 'rollouts resumed\n',
      );
      return 0;
    },
    { up: true },
  );
}
