/** `up --ui`: off, with --once, and on an address that is taken (up goes on without the UI). */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { startUpUi, upMetrics } from '../../src/cli/up-ui.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { SystemdHost } from '../../src/systemd/connect.js';

test('--ui off and --once serve no UI and wire no metrics', () => {
  assert.equal(upMetrics({ ui: 'off' }, 'm1', silentLogger), null);
  assert.equal(upMetrics({ ui: '127.0.0.1:7070', once: true }, 'm1', silentLogger), null);
  assert.ok(upMetrics({ ui: '127.0.0.1:0' }, 'm1', silentLogger));
});

test('an address already in use is said, and up carries on without the UI', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  const store = new MemoryStore({ prefix: '/gitfleet/' });
  const said: string[] = [];
  try {
    const m = upMetrics({ ui: `127.0.0.1:${port}` }, 'm1', silentLogger)!;
    const host = { kind: 'private', manager: null } as unknown as SystemdHost; // never asked: no unit page is opened
    const journal = async () => ({ lines: [], cursor: null }); // never read either
    const ui = await startUpUi(m, store, host, 'm1', journal, (l) => said.push(l), silentLogger);
    assert.equal(ui, null);
    assert.match(said.join('\n'), new RegExp(`web UI not started: --ui: 127\\.0\\.0\\.1:${port} is already in use`));
  } finally {
    taken.close();
    await store.close();
  }
});
