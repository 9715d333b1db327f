import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FatalError, StalledError, TransientError, WaitingError } from '../../src/errors.js';
import { Backoff } from '../../src/util/backoff.js';
import { ReconcileLoop } from '../../src/util/loop.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a transient failure is retried with backoff until the pass succeeds', async () => {
  let calls = 0;
  const loop = new ReconcileLoop(
    't',
    async () => {
      if (++calls < 3) throw new TransientError('etcd unreachable');
    },
    { backoff: { minMs: 5, maxMs: 20 } },
  );
  loop.start();
  for (let i = 0; i < 200 && loop.passes === 0; i++) await tick(5);
  await loop.stop();
  assert.equal(calls, 3);
  assert.equal(loop.passes, 1);
});

test('a stalled failure waits for new input: no retry on a timer, the next trigger runs it', async () => {
  let calls = 0;
  const loop = new ReconcileLoop(
    's',
    async () => {
      calls++;
      if (calls === 1) throw new StalledError('refused commit');
    },
    { backoff: { minMs: 1, maxMs: 1 } },
  );
  loop.start();
  await tick(50);
  assert.equal(calls, 1, 'not retried by a timer');
  loop.trigger('new push');
  await loop.idle();
  assert.equal(calls, 2);
  await loop.stop();
});

test('a waiting failure is retried after the time it asks for', async () => {
  let calls = 0;
  const loop = new ReconcileLoop(
    'w',
    async () => {
      if (++calls === 1) throw new WaitingError('held', 30);
    },
    { backoff: { minMs: 10_000, maxMs: 10_000 } },
  );
  loop.start();
  for (let i = 0; i < 200 && loop.passes === 0; i++) await tick(5);
  await loop.stop();
  assert.equal(calls, 2, 'retried after retryAfterMs, not after the 10 s backoff');
});

test('a fatal failure stops the loop and is reported once', async () => {
  const fatal: Error[] = [];
  let calls = 0;
  const loop = new ReconcileLoop(
    'f',
    async () => {
      calls++;
      throw new FatalError('auth refused');
    },
    { backoff: { minMs: 1, maxMs: 1 }, onFatal: (e) => fatal.push(e) },
  );
  loop.start();
  await tick(30);
  loop.trigger('more');
  await tick(10);
  assert.equal(calls, 1);
  assert.deepEqual(
    fatal.map((e) => e.message),
    ['auth refused'],
  );
  assert.equal(loop.fatal?.message, 'auth refused');
});

test('backoff doubles up to its ceiling and starts over after reset', () => {
  const b = new Backoff({ minMs: 100, maxMs: 350 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [100, 200, 350, 350]);
  b.reset();
  assert.equal(b.next(), 100);
});

test('backoff with jitter: each delay within its spread below the unjittered one, and not all equal', () => {
  const b = new Backoff({ minMs: 1000, maxMs: 4000, jitter: 0.5 });
  const first = [b.next(), b.next(), b.next(), b.next()];
  for (const [d, full] of first.map((d, i) => [d, [1000, 2000, 4000, 4000][i]!] as const)) {
    assert.ok(d <= full && d >= full * 0.5, `${d} within [${full * 0.5}, ${full}]`);
  }
  const many = Array.from({ length: 50 }, () => new Backoff({ minMs: 1000, maxMs: 4000, jitter: 0.5 }).next());
  assert.ok(new Set(many).size > 1, 'fifty agents failing together do not all wait the same time');
});
