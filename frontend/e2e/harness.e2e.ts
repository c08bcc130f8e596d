// The harness itself: the server the tests start is up and ready, the browser launches, and the
// built app is what the server answers at `/` (and, for client-side routes, at any other path).
import { statSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { Browser } from 'playwright-core';

import { launchBrowser, phoneContext, screenshot } from './browser';

const baseUrl = inject('baseUrl');

describe('harness', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser.close();
  });

  test('the server is live and ready (Postgres and Redis reachable)', async () => {
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);
  });

  test('the browser reaches the server, and screenshots are saved', async () => {
    const context = await phoneContext(browser, baseUrl);
    const page = await context.newPage();
    const response = await page.goto('/healthz');
    expect(response?.status()).toBe(200);
    const file = await screenshot(page, 'browser-reaches-server');
    expect(statSync(file).size).toBeGreaterThan(0);
    await context.close();
  });

  test('the browser opens the app the server serves at / and on client routes', async () => {
    const context = await phoneContext(browser, baseUrl);
    const page = await context.newPage();
    const response = await page.goto('/');
    await screenshot(page, 'app-at-root');
    expect(response?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Concierge', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();

    const deep = await page.goto('/inbox');
    expect(deep?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Concierge', level: 1 }).waitFor();
    await context.close();
  });
});
