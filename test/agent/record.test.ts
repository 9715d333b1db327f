// The agent's record on disk (stateDir/agent-state.json), in a temp dir.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { AgentRecord } from '../../src/agent/record.js';
import { createLogger, silentLogger } from '../../src/log.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitfleet-record-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const onDisk = (dir: string) => JSON.parse(readFileSync(join(dir, 'agent-state.json'), 'utf8'));

test('first start: the state dir is made, a token is made and saved at once', async (t) => {
  const dir = join(tempDir(t), 'state', 'agent');
  const r = new AgentRecord(dir, silentLogger);
  await r.load();
  assert.match(r.token, /^[0-9a-f]{24}$/);
  assert.deepEqual(onDisk(dir), { token: r.token, applied: {} });
  assert.deepEqual(readdirSync(dir), ['agent-state.json'], 'no temp file left');

  // Another state dir is another lineage: another token.
  const other = new AgentRecord(join(dir, '..', 'other'), silentLogger);
  await other.load();
  assert.notEqual(other.token, r.token);
});

test('what was applied survives a restart; forget drops a unit; save writes only after a change', async (t) => {
  const dir = tempDir(t);
  const r = new AgentRecord(dir, silentLogger);
  await r.load();
  r.setApplied('a.service', 'launched');
  r.setApplied('b.service', 'loaded');
  await r.save();

  const again = new AgentRecord(dir, silentLogger);
  await again.load();
  assert.equal(again.token, r.token);
  assert.equal(again.applied('a.service'), 'launched');
  assert.equal(again.applied('b.service'), 'loaded');
  assert.equal(again.applied('c.service'), undefined);

  again.forget('a.service');
  again.setApplied('b.service', 'launched');
  await again.save();
  assert.deepEqual(onDisk(dir).applied, { 'b.service': 'launched' });

  // Nothing changed: nothing written (the file removed meanwhile stays removed).
  rmSync(join(dir, 'agent-state.json'));
  again.setApplied('b.service', 'launched');
  again.forget('never.service');
  await again.save();
  assert.equal(existsSync(join(dir, 'agent-state.json')), false);
});

test('an unreadable record is logged and replaced by a fresh one; bad entries are dropped', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'agent-state.json');
  const lines: string[] = [];
  const log = createLogger('test', { level: 'warn', sink: (l) => lines.push(l) });

  writeFileSync(file, '{"token": "abc", "applied": {');
  const r = new AgentRecord(dir, log);
  await r.load();
  assert.match(r.token, /^[0-9a-f]{24}$/);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /agent state file unreadable; starting afresh/);
  assert.deepEqual(onDisk(dir), { token: r.token, applied: {} });

  writeFileSync(
    file,
    JSON.stringify({ token: 'tok', applied: { 'a.service': 'launched', 'b.service': 'running', c: 3 } }),
  );
  const kept = new AgentRecord(dir, log);
  await kept.load();
  assert.equal(kept.token, 'tok');
  assert.equal(kept.applied('a.service'), 'launched');
  assert.equal(kept.applied('b.service'), undefined);

  writeFileSync(file, JSON.stringify(['not', 'a', 'record']));
  const arr = new AgentRecord(dir, log);
  await arr.load();
  assert.match(arr.token, /^[0-9a-f]{24}$/);
});
