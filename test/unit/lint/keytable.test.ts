/**
 * The committed key table is what this machine's systemd dumps (same major version, same keys and
 * types): the linter's view of valid keys cannot drift from the systemd the tests compare against.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { KEY_TABLE, KEYTABLE_SYSTEMD_VERSION } from '../../../src/unit/keytable.generated.js';
import { parseDump } from '../../../scripts/gen-keytable.js';

test('the generated key table matches `systemd --dump-configuration-items` of this machine', () => {
  const version = execFileSync('/lib/systemd/systemd', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  const major = (v: string) => /(\d+)/.exec(v)?.[1];
  assert.equal(
    major(version),
    major(KEYTABLE_SYSTEMD_VERSION),
    `the key table was generated from systemd ${KEYTABLE_SYSTEMD_VERSION}, this machine runs ${version}: run npx ` +
      `tsx scripts/gen-keytable.ts`,
  );
  const dump = parseDump(execFileSync('/lib/systemd/systemd', ['--dump-configuration-items'], { encoding: 'utf8' }));
  const live = Object.fromEntries([...dump].map(([s, keys]) => [s, Object.fromEntries(keys)]));
  assert.deepEqual(live, KEY_TABLE);
  assert.equal(Object.keys(KEY_TABLE.Service!).length > 200, true);
});
