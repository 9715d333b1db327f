// The agent restarted on the same machine, against a real private systemd and the in-memory store:
// what it knows of its units comes from its unit directory and its record, not from the store.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/log.js';
import { bodyKey, scheduleKey } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { SystemdManager } from '../../src/systemd/manager.js';
import { sha256 } from '../../src/util/hash.js';
import {
  eventually,
  isActive,
  showProperty,
  startSystemd,
  stopSystemd,
  type PrivateSystemd,
} from '../support/systemd.js';

async function startAgent(t: TestContext, inst: PrivateSystemd, store: MemoryStore): Promise<Agent> {
  const mgr = await SystemdManager.connect({ address: inst.busAddress }, { log: () => {} });
  const stateDir = join(inst.dir, 'gitfleet-m-restart');
  const agent = new Agent({
    store,
    machineId: 'm-restart',
    metadata: {},
    address: '127.0.0.1',
    systemd: mgr,
    unitDir: join(stateDir, 'units'),
    stateDir,
    leaseTtlSeconds: 30,
    log: silentLogger,
    driftBackoff: { minMs: 100, maxMs: 400 },
  });
  t.after(async () => {
    await agent.stop();
    mgr.close();
  });
  await agent.start();
  return agent;
}

test('a launched oneshot that ran to completion is not run again when the agent restarts', async (t) => {
  const inst = await startSystemd();
  t.after(() => stopSystemd(inst));
  const store = new MemoryStore();
  t.after(() => store.close());
  const out = join(inst.dir, 'job.runs');
  const content = `[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo ran >> ${out}'\n`;
  const hash = sha256(content);
  await store.put(bodyKey(hash), content);
  await store.put(scheduleKey('m-restart', 'job.service'), JSON.stringify({ hash, state: 'launched' }));
  const runs = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).length : 0);

  const first = await startAgent(t, inst, store);
  await eventually(
    'job.service ran once',
    async () => runs() === 1 && (await isActive(inst, 'job.service')) === 'inactive',
  );
  await first.idle();
  const ranAt = await showProperty(inst, 'job.service', 'ExecMainStartTimestampMonotonic');
  await first.stop(); // units are left as they are

  // The restarted agent has no body in memory: the unit's file on disk says it runs to completion.
  const second = await startAgent(t, inst, store);
  await second.idle();
  await new Promise((r) => setTimeout(r, 1_000)); // several drift backoffs (100 .. 400 ms)
  await second.idle();
  assert.equal(runs(), 1, 'not started again as drift');
  assert.equal(await showProperty(inst, 'job.service', 'ExecMainStartTimestampMonotonic'), ranAt);
  assert.equal(await isActive(inst, 'job.service'), 'inactive');
});
