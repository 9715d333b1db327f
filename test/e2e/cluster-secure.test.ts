/**
 * The end-to-end suite of cluster.test.ts, run again with trust turned on: etcd serves clients
 * over TLS and requires client certificates, auth is on (users made by `gitfleet auth setup` and
 * `gitfleet auth add-machine`), every component runs as its own etcd user, and the controller
 * takes only SSH-signed commits (--allowed-signers). Then, on the same cluster: an unsigned push
 * is refused and no machine's systemd changes, and the credentials on the machines cannot do
 * more than their component needs.
 *
 * Run under `flock /tmp/gitfleet-cluster.lock` like every test of the 3-machine cluster.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EtcdPermissionDeniedError } from 'etcd3';
import { authUserName } from '../../src/store/auth.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { DESIRED_ROOT, ENGINE_LEADER, scheduleKey, unitStateKey } from '../../src/store/keys.js';

process.env.GITFLEET_E2E_SECURE = '1';
const { suite } = await import('./cluster.test.js');

/** A store on the live cluster as `user`, with the cluster's client certificate. */
function storeAs(user: string | null): EtcdStore {
  const c = suite.cluster();
  const f = (n: string) => readFileSync(join(c.opts.dir, 'certs', n));
  return new EtcdStore({
    endpoints: c.etcd.endpoints,
    prefix: '/gitfleet/',
    ca: f('ca.crt'),
    cert: f('client.crt'),
    key: f('client.key'),
    ...(user ? { user, password: readFileSync(join(c.credentialsDir, `${user}.password`), 'utf8').trim() } : {}),
    callTimeoutMs: 3000,
    log: () => {},
  });
}

describe('the same cluster with TLS, etcd auth and signed commits', () => {
  test('an unsigned push is refused: no machine changes, and status names the commit and why', async () => {
    const c = suite.cluster();
    const before = suite.identities(await c.observe(suite.ALL));
    const bad = await c.source.push(
      'unsigned: a new unit and a changed one',
      {
        'sneaky.service': suite.service('not signed', 'v1'),
        'free.service': suite.service('unconstrained', 'v9'),
      },
      { unsigned: true },
    );
    let status: {
      refused: { commit: string; reason: string; diagnostics: { rule: string; message: string }[] } | null;
    } = { refused: null };
    await c.waitFor(
      'status reports the refusal',
      async () => {
        const r = await c.cli('status', '--format', 'json');
        status = JSON.parse(r.stdout);
        return status.refused?.commit === bad;
      },
      20_000,
    );
    assert.match(status.refused!.reason, /not signed by a trusted key \(unsigned\)/);
    const d = status.refused!.diagnostics.find((x) => x.message.startsWith(`commit ${bad.slice(0, 12)}`));
    assert.equal(d?.rule, 'SIG01', JSON.stringify(status.refused));
    const obs = await c.observe([...suite.ALL, 'sneaky.service']);
    for (const [, units] of obs) assert.equal(units.get('sneaky.service')?.load, 'not-found');
    assert.deepEqual(suite.identities(obs), before, 'same MainPIDs, invocations and NRestarts everywhere');
    for (const [, units] of obs) {
      const f = units.get('free.service');
      if (suite.running(f)) assert.ok(!suite.runsVersion(f, 'v9'), 'free.service does not run the unsigned content');
    }
  });

  test("live: a machine's credentials cannot write desired state, another's schedule or the leader key", async () => {
    const c = suite.cluster();
    const [a, b] = c.machines;
    const agent = storeAs(authUserName('/gitfleet/', { kind: 'machine', id: a!.id }));
    const controller = storeAs(authUserName('/gitfleet/', { kind: 'controller' }));
    const anonymous = storeAs(null);
    try {
      const refused = async (p: Promise<unknown>, what: string) =>
        assert.rejects(p, (e: Error) => {
          assert.ok(e.cause instanceof EtcdPermissionDeniedError, `${what}: ${e.message}`);
          return true;
        });
      await refused(agent.put(DESIRED_ROOT, '{}'), 'agent writes desired state');
      await refused(agent.put(scheduleKey(b!.id, 'evil.service'), '{}'), "agent writes another machine's schedule");
      await refused(agent.put(unitStateKey(b!.id, 'free.service'), '{}'), "agent writes another machine's report");
      await refused(agent.put(ENGINE_LEADER, 'evil'), 'agent writes the leader key');
      await refused(controller.put(scheduleKey(a!.id, 'evil.service'), '{}'), 'controller writes the schedule');
      // With a client certificate and no password, etcd takes the certificate's CN as the user: not one.
      await refused(anonymous.get(DESIRED_ROOT), 'a client with no etcd user reads desired state');
    } finally {
      await Promise.all([agent.close(), controller.close(), anonymous.close()]);
    }
  });
});
