/**
 * Rollout notifications: a JSON POST to a URL (a chat hook, a CI job) when a commit's rollout
 * starts and when it ends, signed like the webhooks gitfleet accepts: `X-Gitfleet-Signature:
 * sha256=<HMAC-SHA256 of the body>` with the secret from a file. Sent in the background with a
 * deadline: a hook that is slow or down never holds up a pass; a failure is logged.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from '../log.js';
import type { RolloutRecord } from '../store/keys.js';
import { rolloutJson } from '../store/rollouts.js';

export interface NotifyOptions {
  url: string;
  /** HMAC secret; without one the body is sent unsigned. */
  secret?: string;
  log: Logger;
  timeoutMs?: number;
}

export type RolloutEvent = 'started' | 'ended';

export class RolloutNotifier {
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly o: NotifyOptions) {}

  send(event: RolloutEvent, record: RolloutRecord): void {
    const body = JSON.stringify({ event, rollout: rolloutJson(record) });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'gitfleet' };
    if (this.o.secret)
      headers['x-gitfleet-signature'] = `sha256=${createHmac('sha256', this.o.secret).update(body).digest('hex')}`;
    const p = fetch(this.o.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 5_000),
    })
      .then(async (res) => {
        await res.body?.cancel().catch(() => {});
        if (!res.ok) this.o.log.warn('rollout notification refused', { url: this.o.url, status: res.status, event });
      })
      .catch((e: Error) => this.o.log.warn('rollout notification failed', { url: this.o.url, event, error: e }))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Wait for notifications in flight (stop, tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}

/** Log (and notify) a rollout's start and end, comparing the record before and after a pass. */
export function announceRollout(
  log: Logger,
  notifier: RolloutNotifier | null,
  before: RolloutRecord | null,
  now: RolloutRecord,
  superseded: RolloutRecord | null,
): void {
  const ended = (s: string) => s !== 'progressing' && s !== 'paused';
  if (superseded) {
    log.info('rollout superseded', { commit: superseded.commit, by: now.commit });
    notifier?.send('ended', superseded);
  }
  if (before?.commit !== now.commit) {
    log.info('rollout started', { commit: now.commit, groups: now.groups.length });
    notifier?.send('started', now);
  }
  if (ended(now.state) && (before?.commit !== now.commit || !ended(before.state))) {
    const fields = { commit: now.commit, state: now.state, ...(now.reason ? { reason: now.reason } : {}) };
    if (now.state === 'succeeded') log.info('rollout ended', fields);
    else log.warn('rollout ended', fields);
    notifier?.send('ended', now);
  }
}
