/**
 * A real browser for UI tests: Debian's chromium (/usr/bin/chromium) driven by playwright-core,
 * headless. Close it with browser.close(); playwright-core also ends the browser it launched when
 * this process exits.
 */
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.GITFLEET_CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-extensions',
      '--disable-sync',
      '--no-first-run',
      '--mute-audio',
    ],
  });
}
