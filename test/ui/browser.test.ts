/**
 * The web UI in a real browser (Debian's chromium through playwright-core), served by `gitfleet up`
 * running the example units (a copy of units.example) on a private systemd: the page shows what
 * runs, follows commits without a reload, shows a refused commit's diagnostics and a failed unit
 * in words, a unit's file, and fits a phone's width. Screenshots of the main views go to
 * $GITFLEET_UI_SCREENSHOTS (docs/ui/ is made this way), else to a temp dir.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.js';
import { tempDir, TestRepo } from '../support/git.js';
import { eventually, isActive, type PrivateSystemd } from '../support/systemd.js';
import { spawnUp, type UpProcess } from '../support/up.js';

const tmp = tempDir('gitfleet-ui-browser-');
const shots = resolve(process.env.GITFLEET_UI_SCREENSHOTS ?? join(tmp.dir, 'shots'));
let up: UpProcess | null = null;
let browser: Browser | null = null;

after(async () => {
  await browser?.close();
  await up?.stop();
  tmp.cleanup();
});

/** The text of a unit's cell (by column label) in the units table, '' while the row is absent. */
function cell(page: Page, unit: string, label: string): Promise<string> {
  return page.evaluate(
    ([u, l]) => {
      const row = document.querySelector(`#s-units tr[data-unit="${u}"]`);
      return row?.querySelector(`td[data-label="${l}"]`)?.textContent ?? '';
    },
    [unit, label] as const,
  );
}

/** What a reader sees of an element: its rendered text (CSS text-transform and hidden parts applied). */
function seen(page: Page, selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point here
  return page.innerText(selector);
}

async function until(
  page: Page,
  what: string,
  check: () => Promise<boolean>,
  ms = 20_000,
  log = () => '',
): Promise<void> {
  await eventually(what, check, ms).catch(async (e) => {
    throw new Error(`${(e as Error).message}\n--- page:\n${await seen(page, 'main')}\n--- up:\n${log()}`);
  });
}

test('the web UI of `gitfleet up` shows the example, follows commits live, and shows refusals', {
  timeout: 240_000,
}, async () => {
  mkdirSync(shots, { recursive: true });
  const repo = TestRepo.init(tmp.dir, 'units');
  cpSync('units.example', repo.dir, { recursive: true });
  repo.commit('example units');
  const u = (up = spawnUp(repo.dir, join(tmp.dir, 'state'), ['--ui', '127.0.0.1:0']));
  await eventually('up prints the UI address', () => /web UI at http:\/\/127\.0\.0\.1:\d+\//.test(u.stderr()), 60_000);
  const url = /web UI at (http:\/\/\S+)/.exec(u.stderr())![1]!;

  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const log = () => u.stderr();

  // The example's units, as systemd runs them.
  const running = ['hello.service', 'web@1.service', 'web@2.service', 'web@3.service', 'echo.socket', 'cleanup.timer'];
  await until(
    page,
    'every launched example unit shows active',
    async () => (await Promise.all(running.map((u) => cell(page, u, 'Active')))).every((t) => t === 'active'),
    60_000,
    log,
  );
  assert.equal(await cell(page, 'hello.service', 'Sub'), 'running');
  assert.equal(await cell(page, 'cleanup.service', 'Desired'), 'loaded');
  assert.equal(await cell(page, 'web-legacy.service', 'Machine'), 'none (inactive)');
  assert.match(await seen(page, '#s-machines'), /8 units, 6 active/);
  // The first commit's rollout: every unit added, tracked per machine.
  await until(page, 'the rollout of the first commit shows', async () =>
    /commit [0-9a-f]{12}: (progressing|succeeded)/.test(await seen(page, '#s-rollouts .body')),
  );
  assert.match(await seen(page, '#s-rollouts tr[data-unit="hello.service"]'), /added.*healthy|added.*updating/s);
  // The oracle: systemd itself agrees with the page.
  const [name] = readdirSync(u.instanceBase);
  const inst = { runtimeDir: join(u.instanceBase, name!, 'rt') } as PrivateSystemd;
  assert.equal(await isActive(inst, 'hello.service'), 'active');

  // A commit made now shows up without a reload.
  await page.evaluate(() => ((window as unknown as { noReload: number }).noReload = 1));
  const fy = readFileSync(join(repo.dir, 'fleet.yaml'), 'utf8');
  repo.commit('stop hello', {
    'fleet.yaml': fy.replace('hello.service: launched', 'hello.service: loaded'),
    'broken.service': '[Unit]\nDescription=always fails\n\n[Service]\nExecStart=/bin/false\n',
  });
  await until(
    page,
    'hello turns loaded and inactive',
    async () =>
      (await cell(page, 'hello.service', 'Desired')) === 'loaded' &&
      (await cell(page, 'hello.service', 'Active')) === 'inactive',
    30_000,
    log,
  );
  assert.equal(await isActive(inst, 'hello.service'), 'inactive');
  // A failed unit reads as failed without colour: the word, and the agent's restarts.
  await until(
    page,
    'broken.service shows failed',
    async () => (await cell(page, 'broken.service', 'Active')) === 'failed',
  );
  // systemd let it fail: gitfleet leaves it failed, and the commit's rollout says so, live.
  await until(page, "the commit's rollout shows the failure", async () => {
    const text = await seen(page, '#s-rollouts .body');
    return /: failed/.test(text) && /broken\.service/.test(text);
  });
  // The reason is systemd's: how it ended, then its last journal lines, and where.
  assert.match(
    await seen(page, '#s-rollouts tr[data-unit="broken.service"]'),
    /1 failed \(exit-code 1; journal: .*status=1\/FAILURE.* on [0-9a-f]{32}\)/,
  );
  assert.equal(await page.evaluate(() => (window as unknown as { noReload?: number }).noReload), 1, 'no reload');

  // A refused commit: its diagnostics, and the applied commit stays.
  const applied = repo.head();
  const refused = repo.commit('break web', { 'web@.service': '[Service]\nExecStart=/bin/true\nRestart=sometimes\n' });
  await until(page, 'the refusal shows', async () => (await page.locator('.refused').count()) === 1, 30_000, log);
  const box = await seen(page, '.refused');
  assert.match(box, new RegExp(`REFUSED commit ${refused.slice(0, 12)}`, 'i'));
  assert.match(box, /web@\.service:3:9 error VAL03: Restart="sometimes" is not valid/);
  assert.match(await seen(page, '#s-commit'), new RegExp(`Applied\\s+${applied.slice(0, 12)}`));
  assert.equal(await page.evaluate(() => (window as unknown as { noReload?: number }).noReload), 1, 'no reload');
  await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });

  // One unit: its status, its file and its journal (the private systemd's own journald).
  await page.click('#s-units tr[data-unit="web@1.service"] a[href^="#/units/"]');
  await page.waitForSelector('pre.unit-file');
  assert.match(await seen(page, 'pre.unit-file'), /\[Service\]/);
  assert.match(await seen(page, '#u-status'), /active\s+running/);
  assert.match(await seen(page, '#u-status'), /result\s+success/);
  await until(page, "web@1.service's journal shows its start", async () =>
    /\d{4}-\d\d-\d\dT[\d:.]+Z systemd\[\d+\]: Started .*web@1\.service/.test(await seen(page, '#u-journal')),
  );
  await page.screenshot({ path: join(shots, 'unit.png'), fullPage: true });
  await page.goto(`${url}#/units/nope.service`);
  await page.waitForSelector('#u-facts .box');
  assert.match(await seen(page, '#u-facts'), /No unit nope\.service/);
  assert.match(await seen(page, '#u-file'), /unit nope\.service is not in the applied commit/);

  // One machine.
  await page.goto(`${url}#/`);
  await page.click('#s-machines a[href^="#/machines/"]');
  await page.waitForSelector('#m-units table');
  assert.match(await seen(page, '#m-units'), /web@2\.service/);
  await page.screenshot({ path: join(shots, 'machine.png'), fullPage: true });

  // A phone: nothing wider than the screen.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${url}#/`);
  await page.waitForSelector('#s-units tr[data-unit="hello.service"]');
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
  const wide = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth)
      .map((el) => `${el.tagName}.${el.className}: ${el.textContent?.slice(0, 40)}`)
      .slice(0, 5),
  );
  assert.ok(widths.page <= widths.screen, `page ${widths.page} px wide on a ${widths.screen} px screen: ${wide}`);
  await page.screenshot({ path: join(shots, 'phone.png'), fullPage: false });
  await page.evaluate(() => document.getElementById('s-units')!.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(shots, 'phone-units.png'), fullPage: false });
  assert.deepEqual(errors, []);

  u.child.kill('SIGINT');
  assert.equal(await u.exited, 0);
});
