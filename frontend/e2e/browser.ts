// Debian's Chromium driven by playwright-core (Playwright's own browser download cannot run
// here), phone-sized browser contexts, and numbered screenshots in artifacts/e2e/ for a person to
// look through after the run.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

import { ARTIFACTS } from './server';

/** The browser binary: Debian's package (scripts/chromium.sh installs it), or CHROMIUM. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a headless Chromium in a container, without any traffic of its own. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts Chromium. Fails with a hint when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/chromium.sh`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** A fresh browser profile (its own storage: one person) with a phone-sized window. */
export async function phoneContext(browser: Browser, baseURL: string, width = 390): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL, viewport: { width, height: 844 }, deviceScaleFactor: 1, locale: 'en-GB' });
  // Each step waits for what it expects to see; this bounds a wait for something that never comes.
  context.setDefaultTimeout(20_000);
  return context;
}

/** A fresh browser profile with a laptop-sized window, for GraphiQL's editors side by side. */
export async function desktopContext(browser: Browser, baseURL: string): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, locale: 'en-GB' });
  context.setDefaultTimeout(20_000);
  return context;
}

/**
 * Saves a screenshot of `page` as artifacts/e2e/NN-name.png (numbered in the order taken, across
 * test files, which run one after another) and returns its path.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const taken = readdirSync(ARTIFACTS).filter((f) => f.endsWith('.png')).length;
  const file = path.join(ARTIFACTS, `${String(taken + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
