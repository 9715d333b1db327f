/**
 * The controller against a real etcd, real git repositories and a real smart-HTTP git server.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readDesiredEntries, readRoot, readStatus } from '../../src/store/readers.js';
import { CommitRefusedError, Controller, type PassOutcome } from '../../src/controller/controller.js';
import { retryKind } from '../../src/errors.js';
import { loadCommit } from '../../src/source/git.js';
import { silentLogger } from '../../src/log.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { MemoryStore } from '../../src/store/memory.js';
import {
  BODIES_PREFIX,
  DESIRED_ROOT,
  SHARDS_PREFIX,
  bodyKey,
  shardKey,
  type DesiredRoot,
} from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { git, gitAsync, tempDir, TestRepo } from '../support/git.js';
import { startGitServer, type GitServer } from '../support/gitserver.js';

const unit = (desc: string) => `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;

let etcd: EtcdCluster;
let tmp: { dir: string; cleanup: () => void };
let n = 0;
const stores: Store[] = [];
/** A fresh namespace per test: one etcd serves the whole file. */
function newStore(prefix = `/t${++n}/`): Store {
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix, callTimeoutMs: 1000 });
  stores.push(s);
  return s;
}

before(async () => {
  etcd = await startEtcd();
  tmp = tempDir('gitfleet-controller-');
});
after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await etcd?.stop();
  tmp?.cleanup();
});

/** A work tree plus a bare "server" repo it pushes to; the controller follows the bare one. */
function repoPair(name: string): { work: TestRepo; bare: string; push: () => void } {
  const work = TestRepo.init(tmp.dir, `${name}-work`);
  work.commit('initial', {
    'fleet.yaml': 'units:\n  a.service: launched\n',
    'a.service': unit('a'),
    'b.service': unit('b'),
  });
  const bare = work.cloneBare(tmp.dir, `${name}.git`);
  work.git('remote', 'add', 'origin', bare);
  return { work, bare, push: () => work.git('push', '-q', 'origin', 'HEAD:main') };
}

function controllerFor(
  store: Store,
  repo: string,
  extra: Partial<ConstructorParameters<typeof Controller>[0]> = {},
): Controller {
  return new Controller({
    store,
    repo,
    branch: 'main',
    stateDir: join(tmp.dir, 'state'),
    load: loadCommit,
    log: silentLogger,
    ...extra,
  });
}

function nextOutcome(c: Controller, pred: (o: PassOutcome) => boolean, timeoutMs = 10_000): Promise<PassOutcome> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(
          new Error(`no matching controller outcome within ${timeoutMs} ms (last: ${JSON.stringify(c.lastOutcome)})`),
        ),
      timeoutMs,
    );
    const on = (o: PassOutcome) => {
      if (pred(o)) {
        clearTimeout(t);
        c.off('outcome', on);
        resolve(o);
      }
    };
    c.on('outcome', on);
  });
}

async function unitNames(store: Store): Promise<string[]> {
  const { root } = await readRoot(store);
  return root ? (await readDesiredEntries(store, root)).map((u) => u.name) : [];
}

describe('controller', () => {
  test('a push to a local bare repository is applied without polling', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('push');
    const c = controllerFor(store, bare);
    await c.start();
    try {
      await c.idle();
      assert.deepEqual(await unitNames(store), ['a.service', 'b.service']);
      const applied = nextOutcome(c, (o) => o.kind === 'applied');
      work.commit('add c', { 'c.service': unit('c') });
      push();
      const o = await applied;
      assert.equal((o as { commit: string }).commit, work.head());
      assert.deepEqual(await unitNames(store), ['a.service', 'b.service', 'c.service']);
      const status = await readStatus(store);
      assert.equal(status.applied?.commit, work.head());
      assert.equal(status.refused, null);
    } finally {
      await c.stop();
    }
  });

  test('applying the same commit again writes nothing', async () => {
    const store = newStore();
    const { bare } = repoPair('idem');
    const c = controllerFor(store, bare);
    const first = await c.pass();
    assert.equal(first.kind, 'applied');
    const before = { ...store.stats() };
    const c2 = controllerFor(store, bare); // a fresh controller: no memory of what it handled
    const again = await c2.pass();
    assert.equal(again.kind, 'unchanged');
    const after_ = store.stats();
    assert.equal(after_.puts - before.puts, 0);
    assert.equal(after_.deletes - before.deletes, 0);
    assert.equal(after_.txns - before.txns, 0);
  });

  test('units removed from git are pruned, and their bodies garbage-collected', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('prune');
    const c = controllerFor(store, bare);
    await c.pass();
    const { root: r1 } = await readRoot(store);
    const bHash = (await readDesiredEntries(store, r1!)).find((u) => u.name === 'b.service')!.hash;
    work.remove('b.service');
    push();
    assert.equal((await c.pass()).kind, 'applied');
    assert.deepEqual(await unitNames(store), ['a.service']);
    // The previous root's body stays for readers that still hold it ...
    assert.ok(await store.get(bodyKey(bHash)));
    work.commit('touch a', { 'a.service': unit('a2') });
    push();
    await c.pass();
    // ... and goes once neither the new root nor the one it replaced references it.
    assert.equal(await store.get(bodyKey(bHash)), null);
    // Shards: only those of the current root and the one it replaced remain.
    const { root } = await readRoot(store);
    const shards = await store.range(SHARDS_PREFIX, { keysOnly: true });
    const current = new Set(Object.values(root!.shards).map((h) => shardKey(h)));
    assert.ok(shards.kvs.length <= current.size * 2, `${shards.kvs.length} shards stored for ${current.size} in use`);
    for (const k of current)
      assert.ok(
        shards.kvs.some((kv) => kv.key === k),
        `shard ${k} of the root is stored`,
      );
  });

  test('a commit with lint errors is refused: the last good commit stays, status says why', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('refuse');
    const c = controllerFor(store, bare);
    const good = await c.pass();
    assert.equal(good.kind, 'applied');
    const { root: before_ } = await readRoot(store);
    work.commit('break it', { 'a.service': '[Service]\nExecStart=/bin/true\nRestart=sometimes\n' });
    push();
    const o = await c.pass();
    assert.equal(o.kind, 'refused');
    const { root: after_ } = await readRoot(store);
    assert.deepEqual(after_, before_);
    const status = await readStatus(store);
    assert.equal(status.applied?.commit, good.commit);
    assert.equal(status.refused?.commit, work.head());
    assert.ok(
      status.refused!.diagnostics.some((d) => d.file === 'a.service' && d.line === 3 && d.severity === 'error'),
      JSON.stringify(status.refused),
    );
    // Refusing the same commit again writes nothing.
    const s0 = { ...store.stats() };
    const c2 = controllerFor(store, bare);
    assert.equal((await c2.pass()).kind, 'refused');
    assert.equal(store.stats().txns - s0.txns, 0);
    // The branch reset back to the applied commit: the refusal no longer describes it.
    work.git('reset', '-q', '--hard', 'HEAD~1');
    work.git('push', '-q', '--force', 'origin', 'HEAD:main');
    assert.equal((await c.pass()).kind, 'unchanged');
    assert.equal((await readStatus(store)).refused, null);
    // A fixed commit applies (and would clear a refusal too).
    work.commit('fix it', { 'a.service': unit('fixed') });
    push();
    assert.equal((await c.pass()).kind, 'applied');
    assert.equal((await readStatus(store)).refused, null);
  });

  test('a refused head stalls the loop until the next push, which applies', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('stall');
    work.commit('break it', { 'a.service': '[Service]\nExecStart=/bin/true\nRestart=sometimes\n' });
    push();
    const c = controllerFor(store, bare);
    const refused = nextOutcome(c, (o) => o.kind === 'refused');
    await c.start();
    try {
      await refused;
      await c.idle();
      assert.ok(c.lastError instanceof CommitRefusedError, `got ${c.lastError?.name}`);
      assert.equal(retryKind(c.lastError), 'stalled', 'a refusal waits for new input, no timer retries it');
      assert.match(c.lastError.message, /refused [0-9a-f]{12}: 1 error in the commit/);
      const applied = nextOutcome(c, (o) => o.kind === 'applied' && o.commit === work.head());
      work.commit('fix it', { 'a.service': unit('fixed') });
      push();
      await applied;
      await c.idle();
      assert.equal(c.lastError, null);
    } finally {
      await c.stop();
    }
  });

  test('a fatal store error stops the controller: reported once to onFatal, never retried', async () => {
    const store = new MemoryStore();
    await store.close();
    const { bare } = repoPair('fatal');
    const fatal: Error[] = [];
    const c = controllerFor(store, bare, { onFatal: (e) => fatal.push(e) });
    await c.start();
    try {
      await c.idle();
      c.triggerFetch('another trigger');
      await c.idle();
      assert.deepEqual(
        fatal.map((e) => [e.name, retryKind(e)]),
        [['StoreClosedError', 'fatal']],
      );
      assert.match(fatal[0]!.message, /get desired\/root: the store is closed/);
      assert.equal(c.failures, 1, 'the pass ran once');
    } finally {
      await c.stop();
    }
  });

  test('a commit that would remove every unit is refused unless allowEmpty', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('empty');
    const c = controllerFor(store, bare);
    await c.pass();
    work.git('rm', '-q', 'a.service', 'b.service');
    work.commit('remove everything', { 'fleet.yaml': 'units: {}\n' });
    push();
    const o = await c.pass();
    assert.equal(o.kind, 'refused');
    assert.deepEqual(await unitNames(store), ['a.service', 'b.service']);
    work.commit('allow it', { 'fleet.yaml': 'allowEmpty: true\n' });
    push();
    assert.equal((await c.pass()).kind, 'applied');
    assert.deepEqual(await unitNames(store), []);
  });

  test('a force-push is refused unless the controller allows it', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('force');
    const c = controllerFor(store, bare);
    work.commit('second', { 'c.service': unit('c') });
    push();
    assert.equal((await c.pass()).kind, 'applied');
    const applied = work.head();
    work.git('reset', '-q', '--hard', 'HEAD~1');
    work.commit('rewritten', { 'd.service': unit('d') });
    work.git('push', '-q', '--force', 'origin', 'HEAD:main');
    const o = await c.pass();
    assert.equal(o.kind, 'refused');
    assert.match((o as { reason: string }).reason, /not a descendant/);
    assert.equal((await readRoot(store)).root!.commit, applied);
    const forced = controllerFor(store, bare, { allowForcePush: true });
    assert.equal((await forced.pass()).kind, 'applied');
    assert.equal((await readRoot(store)).root!.commit, work.head());
  });

  test('a 10,000-unit commit is seen atomically by a concurrent watcher', async () => {
    const prefix = `/t${++n}/`;
    const store = newStore(prefix);
    const observer = newStore(prefix); // a separate client, as an engine would be
    const work = TestRepo.init(tmp.dir, 'big-work');
    work.commit('small', { 'a.service': unit('a'), 'b.service': unit('b'), 'c.service': unit('c') });
    const c = controllerFor(store, work.dir);
    assert.equal((await c.pass()).kind, 'applied');
    const big: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) big[`u${i}.service`] = unit(`unit ${i}`);
    mkdirSync(work.dir, { recursive: true });
    for (const [f, t] of Object.entries(big)) writeFileSync(join(work.dir, f), t);
    work.git('add', '-A');
    work.git('commit', '-q', '-m', 'big');

    const seen: { count: number; complete: boolean }[] = [];
    const checks: Promise<void>[] = [];
    const w = await observer.watch(DESIRED_ROOT, undefined, {
      onEvents: (evs) => {
        for (const e of evs) {
          if (e.type !== 'put') continue;
          const root = JSON.parse(e.kv.value) as DesiredRoot;
          checks.push(
            (async () => {
              const units = await readDesiredEntries(observer, root);
              const bodies = await Promise.all(units.slice(0, 50).map((u) => observer.get(bodyKey(u.hash))));
              seen.push({ count: units.length, complete: units.length === root.count && bodies.every(Boolean) });
            })(),
          );
        }
      },
    });
    const t0 = Date.now();
    const o = await c.pass();
    const ms = Date.now() - t0;
    assert.equal(o.kind, 'applied');
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all(checks);
    await w.close();
    assert.deepEqual(seen, [{ count: 10_003, complete: true }], `observer saw ${JSON.stringify(seen)}`);
    const bodies = await observer.range(BODIES_PREFIX, { keysOnly: true });
    assert.equal(bodies.kvs.length, 10_003);
    console.log(`# 10,000-unit commit applied in ${ms} ms`);
  });

  test('two controllers on one branch do no harm', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair('two');
    work.commit('more', { 'c.service': unit('c') });
    push();
    const [a, b] = [controllerFor(store, bare), controllerFor(store, bare)];
    const outcomes = await Promise.all([a.pass(), b.pass()]);
    // One applies; the other either finds it applied or applies the same content (its guarded flip
    // lost and it re-read): never an error, never a different commit.
    for (const o of outcomes) assert.ok(o.kind === 'applied' || o.kind === 'unchanged', JSON.stringify(o));
    assert.ok(outcomes.some((o) => o.kind === 'applied'));
    assert.equal((await readRoot(store)).root!.commit, work.head());
    assert.deepEqual(await unitNames(store), ['a.service', 'b.service', 'c.service']);
  });

  test('etcd stopped under the controller: it retries and applies the newest commit when etcd is back', async () => {
    const local = await startEtcd();
    const store = new EtcdStore({ endpoints: local.endpoints, prefix: '/gitfleet/', callTimeoutMs: 500 });
    const { work, bare, push } = repoPair('outage');
    const c = controllerFor(store, bare);
    await c.start();
    try {
      await c.idle();
      assert.deepEqual(await unitNames(store), ['a.service', 'b.service']);
      await local.kill(0);
      work.commit('during outage 1', { 'c.service': unit('c') });
      push();
      work.commit('during outage 2', { 'd.service': unit('d') });
      push();
      const deadline = Date.now() + 10_000;
      while (c.failures === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(c.failures > 0, 'the controller noticed the outage');
      const applied = nextOutcome(c, (o) => o.kind === 'applied' && o.commit === work.head(), 20_000);
      await local.restart(0);
      await applied;
      assert.deepEqual(await unitNames(store), ['a.service', 'b.service', 'c.service', 'd.service']);
    } finally {
      await c.stop();
      await store.close();
      await local.stop();
    }
  });
});

describe('controller over smart HTTP', () => {
  let server: GitServer;
  /** Set by a test to hold a request of the server's (see GitServerOptions.hold). */
  let hold: ((request: string) => Promise<void> | undefined) | null = null;
  before(async () => {
    server = await startGitServer(join(tmp.dir, 'srv'), { hold: (r) => hold?.(r) });
  });
  after(async () => {
    await server?.stop();
  });

  /** A work tree with one commit, pushing to `<name>.git` served over smart HTTP. */
  function servedRepo(name: string): { work: TestRepo; url: string } {
    const srv = join(tmp.dir, 'srv');
    mkdirSync(srv, { recursive: true });
    const work = TestRepo.init(tmp.dir, `${name}-work`);
    work.commit('initial', { 'a.service': unit('a') });
    work.cloneBare(srv, `${name}.git`);
    git(join(srv, `${name}.git`), ['config', 'http.receivepack', 'true']);
    const url = `${server.url}/${name}.git`;
    work.git('remote', 'add', 'origin', url);
    return { work, url };
  }

  test('polls a remote: a push is applied within the poll interval, without any webhook', async () => {
    const { work, url } = servedRepo('polled');
    const store = newStore();
    const c = controllerFor(store, url, { pollSeconds: 1 });
    await c.start();
    try {
      await c.idle();
      assert.deepEqual(await unitNames(store), ['a.service']);
      work.commit('add b', { 'b.service': unit('b') });
      await gitAsync(work.dir, ['push', '-q', 'origin', 'HEAD:main']);
      // The poll (every second), not a webhook or a ref watch, finds the push.
      await nextOutcome(c, (o) => o.kind === 'applied' && o.commit === work.head(), 30_000);
      assert.deepEqual(await unitNames(store), ['a.service', 'b.service']);
    } finally {
      await c.stop();
    }
  });

  test(
    'fetches a remote at start, and a signed webhook triggers a fetch at once (a bad signature does ' + 'nothing)',
    async () => {
      const { work, url } = servedRepo('units');
      const store = newStore();
      const secret = 'hook-secret';
      const c = controllerFor(store, url, { pollSeconds: 0, listen: '127.0.0.1:0', webhookSecret: secret });
      await c.start();
      try {
        await c.idle();
        assert.deepEqual(await unitNames(store), ['a.service']);
        work.commit('add b', { 'b.service': unit('b') });
        // Async: the git server answers from this process's event loop.
        await gitAsync(work.dir, ['push', '-q', 'origin', 'HEAD:main']);
        const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main' }));
        const sign = (s: string) => `sha256=${createHmac('sha256', s).update(body).digest('hex')}`;
        const bad = await fetch(c.webhookUrl!, {
          method: 'POST',
          body: new Uint8Array(body),
          headers: { 'x-github-event': 'push', 'x-hub-signature-256': sign('wrong') },
        });
        assert.equal(bad.status, 401);
        await new Promise((r) => setTimeout(r, 300));
        await c.idle();
        assert.deepEqual(await unitNames(store), ['a.service'], 'a bad signature fetched nothing');
        const applied = nextOutcome(c, (o) => o.kind === 'applied' && o.commit === work.head());
        const good = await fetch(c.webhookUrl!, {
          method: 'POST',
          body: new Uint8Array(body),
          headers: { 'x-github-event': 'push', 'x-hub-signature-256': sign(secret) },
        });
        assert.equal(good.status, 202);
        await applied;
        assert.deepEqual(await unitNames(store), ['a.service', 'b.service']);
      } finally {
        await c.stop();
      }
    },
  );

  test('a webhook that arrives while a fetch is in flight gets a fetch of its own (its push is applied)', async () => {
    const { work, url } = servedRepo('raced');
    const store = newStore();
    const secret = 'race-secret';
    const c = controllerFor(store, url, { pollSeconds: 0, listen: '127.0.0.1:0', webhookSecret: secret });
    const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main' }));
    const hook = () =>
      fetch(c.webhookUrl!, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: {
          'x-github-event': 'push',
          'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
        },
      });
    await c.start();
    try {
      await c.idle();
      // A push and its webhook: the controller's fetch has read the refs (this commit) and is held
      // while it asks for the objects.
      work.commit('add b', { 'b.service': unit('b') });
      const first = work.head();
      await gitAsync(work.dir, ['push', '-q', 'origin', 'HEAD:main']);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let fetching!: () => void;
      const inFlight = new Promise<void>((r) => (fetching = r));
      hold = (r) => {
        if (r !== 'POST /raced.git/git-upload-pack') return undefined;
        hold = null;
        fetching();
        return gate;
      };
      assert.equal((await hook()).status, 202);
      await inFlight;
      // Meanwhile another push lands and its webhook arrives; then the held fetch finishes.
      work.commit('add c', { 'c.service': unit('c') });
      await gitAsync(work.dir, ['push', '-q', 'origin', 'HEAD:main']);
      const applied = nextOutcome(c, (o) => o.kind === 'applied' && o.commit === work.head(), 10_000);
      assert.equal((await hook()).status, 202);
      release();
      // No poll: only a fetch after the second webhook brings its commit.
      await applied;
      assert.notEqual(work.head(), first);
      assert.deepEqual(await unitNames(store), ['a.service', 'b.service', 'c.service']);
    } finally {
      hold = null;
      await c.stop();
    }
  });
});
