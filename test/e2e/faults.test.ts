/**
 * Control-plane faults never move, stop or restart a unit (fleet #1289), and the one fault that
 * must move units (a machine cut off past its TTL) moves them without running any twice once it
 * is back. One pass of each fault of test/support/faults.ts on the real 3-machine cluster, judged
 * through each machine's own systemd (see there); after each, a fresh commit deploys.
 * bench/chaos.ts runs the same faults N times and prints restarts, duplicates and recovery times.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FAULTS, FaultRig } from '../support/faults.js';
import { tempDir } from '../support/git.js';

const tmp = tempDir('gitfleet-faults-');
let rig: FaultRig;

before(async () => {
  rig = await FaultRig.start(tmp.dir);
});

after(async () => {
  await rig?.stop();
  tmp.cleanup();
});

describe('control-plane faults never move, stop or restart a unit', () => {
  for (const fault of FAULTS) {
    test(fault.title, async () => {
      // A fault cut short by a failed check must not become the next test's fault.
      const r = await fault.run(rig).finally(() => rig.c.repair());
      assert.deepEqual(r.duplicates, [], 'a unit ran on two machines');
      assert.deepEqual(r.restarts, [], `units restarted, stopped or started\n${rig.c.logs(30)}`);
      assert.deepEqual(r.problems, [], rig.c.logs(30));
    });
  }
});
