// The facts the agent reads from a unit file's text (pure).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runsToCompletion, unitContent } from '../../src/agent/content.js';
import { sha256 } from '../../src/util/hash.js';

test('unitContent: the hash is the sha256 of the text, or the one given', () => {
  const text = '[Service]\nExecStart=/bin/true\n';
  assert.equal(unitContent(text).hash, sha256(text));
  assert.equal(unitContent(text, 'f'.repeat(64)).hash, 'f'.repeat(64));
  assert.equal(unitContent(text).text, text);
});

test('unitContent: [Install] is seen only as a section header of its own line', () => {
  assert.equal(unitContent('[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=default.target\n').install, true);
  assert.equal(unitContent('[Service]\nExecStart=/bin/true\n[Install]  \n').install, true);
  assert.equal(unitContent('[Service]\nExecStart=/bin/echo [Install]\n').install, false);
  assert.equal(unitContent('[Service]\nExecStart=/bin/true\n').install, false);
});

test('unitContent: Type=oneshot without RemainAfterExit=yes runs to completion; the last assignment wins', () => {
  const svc = (lines: string) => unitContent(`[Service]\nExecStart=/bin/true\n${lines}`).oneshot;
  assert.equal(svc('Type=oneshot\n'), true);
  assert.equal(svc('Type=oneshot\nRemainAfterExit=yes\n'), false);
  assert.equal(svc('Type=oneshot\nRemainAfterExit=true\n'), false);
  assert.equal(svc('Type=oneshot\nRemainAfterExit=yes\nRemainAfterExit=no\n'), true);
  assert.equal(svc('Type=oneshot\nType=simple\n'), false);
  assert.equal(svc('Type=simple\n'), false);
  assert.equal(svc(''), false);
  // Only [Service] counts: the same key in another section means nothing.
  assert.equal(unitContent('[Unit]\nType=oneshot\n[Service]\nExecStart=/bin/true\n').oneshot, false);
});

test('runsToCompletion: only a service can run to completion', () => {
  const oneshot = unitContent('[Service]\nType=oneshot\nExecStart=/bin/true\n');
  assert.equal(runsToCompletion('job.service', oneshot), true);
  assert.equal(runsToCompletion('job@1.service', oneshot), true);
  assert.equal(runsToCompletion('job.socket', oneshot), false);
  assert.equal(runsToCompletion('job.service', unitContent('[Service]\nExecStart=/bin/sleep 1\n')), false);
});
