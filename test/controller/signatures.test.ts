/**
 * The controller with a signature gate, against a real etcd, real repositories and real keys
 * (ssh-keygen, gpg): a head whose range holds a commit not signed by a trusted key is refused
 * exactly like a lint failure (the applied commit stays, the status says why), and a change to
 * the trust file takes effect in a running controller.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readRoot, readStatus } from '../../src/store/readers.js';
import { Controller, type PassOutcome } from '../../src/controller/controller.js';
import { loadCommit } from '../../src/source/git.js';
import { silentLogger } from '../../src/log.js';
import { TrustPolicy } from '../../src/source/signatures.js';
import { EtcdStore } from '../../src/store/etcd.js';
import type { Store } from '../../src/store/store.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { tempDir, TestRepo } from '../support/git.js';
import { GpgHome, commitAs, makeSshKey, type Signer, type SshKey } from '../support/signing.js';

const unit = (desc: string) => `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;

let etcd: EtcdCluster;
const tmp = tempDir('gitfleet-ctl-sig-');
const stores: Store[] = [];
const policies: TrustPolicy[] = [];
let alice: SshKey;
let mallory: SshKey;
let gpg: GpgHome;
let n = 0;

before(async () => {
  etcd = await startEtcd();
  alice = makeSshKey(tmp.dir, 'alice');
  mallory = makeSshKey(tmp.dir, 'mallory');
  gpg = new GpgHome(tmp.dir);
});
after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  for (const p of policies) p.close();
  gpg?.close();
  await etcd?.stop();
  tmp.cleanup();
});

function newStore(): Store {
  const s = new EtcdStore({ endpoints: etcd.endpoints, prefix: `/sig${++n}/`, callTimeoutMs: 2000 });
  stores.push(s);
  return s;
}

/** A work tree whose first commit is signed by `signer`, and a bare repository the controller follows. */
function repoPair(signer: Signer): { work: TestRepo; bare: string; push: (force?: boolean) => void } {
  const work = TestRepo.init(tmp.dir, `work${++n}`);
  commitAs(work, signer, 'initial', { 'fleet.yaml': 'units:\n  a.service: launched\n', 'a.service': unit('a') });
  const bare = work.cloneBare(tmp.dir, `bare${n}.git`);
  work.git('remote', 'add', 'origin', bare);
  return {
    work,
    bare,
    push: (force = false) => work.git('push', '-q', ...(force ? ['--force'] : []), 'origin', 'HEAD:main'),
  };
}

async function gate(files: { allowedSigners?: string; trustedKeys?: string }): Promise<TrustPolicy> {
  const p = await TrustPolicy.load(files);
  policies.push(p);
  return p;
}

function controllerFor(store: Store, bare: string, signatures: TrustPolicy, allowForcePush = false): Controller {
  return new Controller({
    store,
    repo: bare,
    branch: 'main',
    stateDir: join(tmp.dir, 'state'),
    load: loadCommit,
    signatures,
    allowForcePush,
    log: silentLogger,
  });
}

function allowedFile(text: string): string {
  const f = join(tmp.dir, `allowed${++n}`);
  writeFileSync(f, text);
  return f;
}

describe('the controller with --allowed-signers', () => {
  test('signed -> applied; an unsigned commit on top -> refused, the applied commit and its units stay', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair({ ssh: alice });
    const c = controllerFor(store, bare, await gate({ allowedSigners: allowedFile(alice.allowedLine()) }));
    const first = await c.pass();
    assert.equal(first.kind, 'applied');
    const applied = work.head();
    const rootBefore = (await store.get('desired/root'))!;

    const bad = commitAs(work, null, 'unsigned change', { 'a.service': unit('a, changed'), 'b.service': unit('b') });
    push();
    const out = await c.pass();
    assert.equal(out.kind, 'refused');
    const status = await readStatus(store);
    assert.equal(status.applied?.commit, applied, 'the last good commit stays in force');
    assert.equal(status.refused?.commit, bad);
    assert.match(status.refused!.reason, /is not signed by a trusted key \(unsigned\)/);
    assert.equal(status.refused!.diagnostics.length, 1);
    assert.equal(status.refused!.diagnostics[0]!.rule, 'SIG01');
    assert.match(status.refused!.diagnostics[0]!.message, new RegExp(`^commit ${bad.slice(0, 12)} "unsigned change"`));
    const rootAfter = (await store.get('desired/root'))!;
    assert.equal(rootAfter.modRevision, rootBefore.modRevision, 'desired state not written');
    assert.equal(rootAfter.value, rootBefore.value);

    // A signed commit on top does not launder the unsigned one below it.
    commitAs(work, { ssh: alice }, 'signed on top');
    push();
    assert.equal((await c.pass()).kind, 'refused');
    assert.equal((await readRoot(store)).root?.commit, applied);

    // Dropping the unsigned commit (the branch reset to the applied one) and signing again: applied.
    work.git('reset', '-q', '--hard', applied);
    const good = commitAs(work, { ssh: alice }, 'signed change', { 'a.service': unit('a, changed') });
    push(true);
    const again = await c.pass();
    assert.equal(again.kind, 'applied');
    assert.equal((await readStatus(store)).applied?.commit, good);
    assert.equal((await readStatus(store)).refused, null);
  });

  test('a commit signed by a key not in the list is refused, naming the key', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair({ ssh: alice });
    const c = controllerFor(store, bare, await gate({ allowedSigners: allowedFile(alice.allowedLine()) }));
    assert.equal((await c.pass()).kind, 'applied');
    const bad = commitAs(work, { ssh: mallory }, 'by mallory', { 'b.service': unit('b') });
    push();
    const out = (await c.pass()) as Extract<PassOutcome, { kind: 'refused' }>;
    assert.equal(out.kind, 'refused');
    assert.equal(out.commit, bad);
    assert.equal(out.diagnostics[0]!.rule, 'SIG02');
    assert.match(out.diagnostics[0]!.message, /signed by ED25519 key SHA256:\S+, which .* does not list/);
  });

  test('a force-push of signed history is still refused without --allow-force-push', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair({ ssh: alice });
    const c = controllerFor(store, bare, await gate({ allowedSigners: allowedFile(alice.allowedLine()) }));
    commitAs(work, { ssh: alice }, 'second', { 'b.service': unit('b') });
    push();
    assert.equal((await c.pass()).kind, 'applied');
    const applied = work.head();
    work.git('reset', '-q', '--hard', 'HEAD~1');
    const rewritten = commitAs(work, { ssh: alice }, 'rewritten second', { 'c.service': unit('c') });
    push(true);
    const out = await c.pass();
    assert.equal(out.kind, 'refused');
    assert.match((out as { reason: string }).reason, /not a descendant of the applied commit .*--allow-force-push/);
    assert.equal((await readRoot(store)).root?.commit, applied);
    // Allowed: the rewritten (signed) history applies.
    const forced = controllerFor(store, bare, await gate({ allowedSigners: allowedFile(alice.allowedLine()) }), true);
    assert.equal((await forced.pass()).kind, 'applied');
    assert.equal((await readRoot(store)).root?.commit, rewritten);
  });

  test('a change to the allowed-signers file takes effect in a running controller, without a restart', async () => {
    const store = newStore();
    const { work, bare, push } = repoPair({ ssh: alice });
    const file = allowedFile(alice.allowedLine());
    const c = controllerFor(store, bare, await gate({ allowedSigners: file }));
    await c.start();
    try {
      await c.idle();
      assert.equal((await readRoot(store)).root?.commit, work.head());
      const refused = new Promise<PassOutcome>((res) =>
        c.on('outcome', (o: PassOutcome) => o.kind === 'refused' && res(o)),
      );
      const byMallory = commitAs(work, { ssh: mallory }, 'by mallory', { 'b.service': unit('b') });
      push();
      assert.equal((await refused).kind, 'refused');
      const applied = new Promise<PassOutcome>((res) =>
        c.on('outcome', (o: PassOutcome) => o.kind === 'applied' && res(o)),
      );
      writeFileSync(file, alice.allowedLine() + mallory.allowedLine());
      assert.equal(((await applied) as { commit: string }).commit, byMallory);
      assert.equal((await readStatus(store)).refused, null);
    } finally {
      await c.stop();
    }
  });
});

describe('the controller with --trusted-keys', () => {
  test('signed by a trusted OpenPGP key -> applied; an unsigned commit on top -> refused', async () => {
    const key = gpg.generate('Alice', 'alice-pgp@example.invalid');
    const keys = gpg.exportKeys(join(tmp.dir, 'trusted.asc'), [key]);
    const store = newStore();
    const { work, bare, push } = repoPair({ gpg, key });
    const c = controllerFor(store, bare, await gate({ trustedKeys: keys }));
    assert.equal((await c.pass()).kind, 'applied');
    const applied = work.head();
    const bad = commitAs(work, null, 'unsigned', { 'b.service': unit('b') });
    push();
    const out = (await c.pass()) as Extract<PassOutcome, { kind: 'refused' }>;
    assert.equal(out.kind, 'refused');
    assert.equal(out.commit, bad);
    assert.equal(out.diagnostics[0]!.rule, 'SIG01');
    assert.equal((await readRoot(store)).root?.commit, applied);
  });
});
