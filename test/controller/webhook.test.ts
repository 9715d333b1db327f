import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListen, startWebhook, verifyDelivery } from '../../src/controller/webhook.js';
import { silentLogger } from '../../src/log.js';

const secret = 's3cret';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'abc' }));
const hmac = (b: Buffer, s = secret) => createHmac('sha256', s).update(b).digest('hex');

test('accepts a GitHub push signed with the shared secret', () => {
  const v = verifyDelivery({ 'x-hub-signature-256': `sha256=${hmac(body)}`, 'x-github-event': 'push' }, body, secret);
  assert.deepEqual(v, { ok: true, provider: 'github', push: true, ref: 'refs/heads/main' });
});

test('refuses a GitHub delivery signed with another secret, or with a tampered body', () => {
  const wrong = verifyDelivery(
    { 'x-hub-signature-256': `sha256=${hmac(body, 'other')}`, 'x-github-event': 'push' },
    body,
    secret,
  );
  assert.equal(wrong.ok, false);
  assert.equal(!wrong.ok && wrong.status, 401);
  const tampered = Buffer.from(body.toString().replace('main', 'evil'));
  const t = verifyDelivery(
    { 'x-hub-signature-256': `sha256=${hmac(body)}`, 'x-github-event': 'push' },
    tampered,
    secret,
  );
  assert.equal(t.ok, false);
});

test('accepts Gitea and GitLab pushes by their own schemes', () => {
  const g = verifyDelivery({ 'x-gitea-signature': hmac(body), 'x-gitea-event': 'push' }, body, secret);
  assert.equal(g.ok && g.provider, 'gitea');
  const l = verifyDelivery({ 'x-gitlab-token': secret, 'x-gitlab-event': 'Push Hook' }, body, secret);
  assert.equal(l.ok && l.provider, 'gitlab');
  const bad = verifyDelivery({ 'x-gitlab-token': 'nope', 'x-gitlab-event': 'Push Hook' }, body, secret);
  assert.equal(bad.ok, false);
});

test('refuses an unsigned delivery and marks non-push events', () => {
  assert.equal(verifyDelivery({}, body, secret).ok, false);
  const ping = verifyDelivery(
    { 'x-hub-signature-256': `sha256=${hmac(body)}`, 'x-github-event': 'ping' },
    body,
    secret,
  );
  assert.equal(ping.ok && ping.push, false);
});

test('parses --listen forms and rejects bad ones', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen(':9000'), { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
  assert.throws(() => parseListen('localhost'), /HOST:PORT/);
  assert.throws(() => parseListen('a:99999'), /out of range/);
});

test('the webhook server triggers on a good signature only, and only for the followed branch', async () => {
  let pushes = 0;
  const hook = await startWebhook({
    listen: '127.0.0.1:0',
    secret,
    branch: () => 'main',
    onPush: () => pushes++,
    log: silentLogger,
  });
  try {
    const post = (b: Buffer, headers: Record<string, string>) =>
      fetch(hook.url + 'hook', {
        method: 'POST',
        body: new Uint8Array(b),
        headers: { 'content-type': 'application/json', ...headers },
      });
    const bad = await post(body, { 'x-hub-signature-256': `sha256=${hmac(body, 'wrong')}`, 'x-github-event': 'push' });
    assert.equal(bad.status, 401);
    assert.equal(pushes, 0);
    const good = await post(body, { 'x-hub-signature-256': `sha256=${hmac(body)}`, 'x-github-event': 'push' });
    assert.equal(good.status, 202);
    assert.equal(pushes, 1);
    const other = Buffer.from(JSON.stringify({ ref: 'refs/heads/feature' }));
    const o = await post(other, { 'x-hub-signature-256': `sha256=${hmac(other)}`, 'x-github-event': 'push' });
    assert.equal(o.status, 202);
    assert.match(await o.text(), /ignored/);
    assert.equal(pushes, 1);
  } finally {
    await hook.close();
  }
});
