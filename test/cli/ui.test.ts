/**
 * `gitfleet ui`, `up --ui` and `--metrics` on the command line: bad addresses are usage errors
 * (exit 2) naming the flag, `gitfleet ui` serves a real etcd's cluster until SIGTERM, and the
 * page's files are in the package.
 */
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { runAsync, gitfleetArgv, PROJECT_ROOT } from '../support/cluster.js';
import { tempDir } from '../support/git.js';
import { eventually } from '../support/systemd.js';

let etcd: EtcdCluster;
const tmp = tempDir('gitfleet-cli-ui-');
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
  tmp.cleanup();
});

const cli = (...args: string[]) => runAsync(process.execPath, gitfleetArgv(args), { env: { NO_COLOR: '1' } });

test('bad addresses and missing tokens are usage errors that name the flag', { timeout: 60_000 }, async () => {
  const cases: [string[], number, RegExp][] = [
    [['ui', '--listen', 'nonsense'], 2, /--listen: "nonsense" is not HOST:PORT/],
    [['ui', '--listen', '0.0.0.0:7070'], 2, /reachable from other machines; give --token-file/],
    [['ui', '--token-file', `${tmp.dir}/none`], 1, /--token-file: cannot read .*none: ENOENT/],
    [['engine', '--metrics', 'nonsense'], 2, /--metrics: "nonsense" is not HOST:PORT/],
    [['agent', '--metrics', '1.2.3.4:99999', '--machine-id', 'm1'], 2, /--metrics: port 99999 is out of range/],
    [['up', '--ui', 'nonsense'], 2, /--ui: "nonsense" is not HOST:PORT .*, or off/],
    [['up', '--ui', '0.0.0.0:7070'], 2, /--ui 0\.0\.0\.0:7070: reachable from other machines; give --token-file/],
  ];
  for (const [args, code, re] of cases) {
    const r = await cli(...args, ...(args[0] === 'up' ? [] : ['--etcd', etcd.endpoints.join(',')]));
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('gitfleet ui serves the cluster and its metrics until SIGTERM', { timeout: 60_000 }, async () => {
  const child = spawn(
    process.execPath,
    gitfleetArgv(['ui', '--listen', '127.0.0.1:0', '--etcd', etcd.endpoints.join(','), '--prefix', '/cli-ui']),
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GITFLEET_LOG: 'warn' } },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await eventually('the URL is printed', () => /gitfleet ui: http:\/\/127\.0\.0\.1:\d+\//.test(out), 30_000);
    const url = /gitfleet ui: (http:\/\/\S+)/.exec(out)![1]!;
    const state = (await (await fetch(`${url}api/state`)).json()) as { summary: { cluster: { applied: unknown } } };
    assert.equal(state.summary.cluster.applied, null);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="app.js" defer><\/script>/);
    assert.match(await (await fetch(`${url}metrics`)).text(), /^gitfleet_ui_event_streams 0$/m);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
});

test("the page's files ship in the package", { timeout: 60_000 }, async () => {
  const r = await runAsync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PROJECT_ROOT });
  assert.equal(r.code, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as { files: { path: string }[] }[];
  const paths = pack!.files.map((f) => f.path);
  for (const f of ['src/ui/static/index.html', 'src/ui/static/app.js', 'src/ui/static/app.css'])
    assert.ok(paths.includes(f), `${f} is not in the package`);
});
