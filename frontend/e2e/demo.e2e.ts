// The demo, as people would try it: Maria (Trattoria Sole) asks the agent to tell Luca that table
// 5 has a nut allergy; she sees the reply with the executed action; Luca's unread badge goes up
// without a reload, the notification reads right, and marking it read clears the badge. Tom, of
// another tenant (Harbor View), sees nothing of it, not even through Maria's conversation URL. A
// question shows an answer with its source. Every step leaves a screenshot in artifacts/e2e/.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { launchBrowser, phoneContext, screenshot } from './browser';

const baseUrl = inject('baseUrl');

/** The agent answers through Redis, the LLM provider and Postgres: allow it a while. */
const AGENT_MS = 45_000;
/** A notification travels from the agent's commit through Redis pub/sub to the WebSocket. */
const LIVE_MS = 20_000;

/** Waits until the page's live connection is up (the banner is gone), so no event is missed. */
async function live(page: Page): Promise<void> {
  await page.getByTestId('connection-banner').waitFor({ state: 'detached' });
}

async function signInWithDemoButton(page: Page, name: string): Promise<void> {
  await page.goto('/');
  await page.getByRole('button', { name: new RegExp(`^Sign in as ${name}`) }).click();
  await page.getByTestId('user-name').filter({ hasText: name }).waitFor();
  await live(page);
}

async function signInWithForm(page: Page, email: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('concierge-demo');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByTestId('user-name').waitFor();
  await live(page);
}

async function ask(page: Page, text: string): Promise<void> {
  await page.getByRole('button', { name: 'New', exact: true }).click();
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await page.getByTestId('user-message').filter({ hasText: text }).waitFor();
}

async function text(page: Page, testId: string): Promise<string> {
  return (await page.getByTestId(testId).first().textContent()) ?? '';
}

describe('Maria tells Luca about a nut allergy; Tom of another tenant sees nothing', () => {
  let browser: Browser;
  let contexts: BrowserContext[] = [];
  let maria: Page;
  let luca: Page;
  let tom: Page;
  let mariaSessionPath = '';

  beforeAll(async () => {
    browser = await launchBrowser();
    // Three people, three browser profiles; Maria's phone is the narrowest we support.
    const [m, l, t] = await Promise.all([
      phoneContext(browser, baseUrl, 375),
      phoneContext(browser, baseUrl),
      phoneContext(browser, baseUrl),
    ]);
    contexts = [m, l, t];
    [maria, luca, tom] = await Promise.all([m.newPage(), l.newPage(), t.newPage()]);
  });

  // The steps build on each other: after a failed one, the rest are skipped, not timed out.
  let failed = false;
  beforeEach((context) => {
    if (failed) context.skip();
  });

  // When a step fails, everyone's screen as it was goes to the artifacts too.
  afterEach(async (context) => {
    if (context.task.result?.state !== 'fail') return;
    failed = true;
    const step = context.task.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 40);
    for (const [who, page] of [['maria', maria], ['luca', luca], ['tom', tom]] as const) {
      await screenshot(page, `failed-${step}-${who}`).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser.close();
  });

  test('each signs in and sees their tenant, name and title', async () => {
    await signInWithDemoButton(maria, 'Maria Rossi');
    expect(await text(maria, 'tenant-name')).toBe('Trattoria Sole');
    expect(await text(maria, 'user-title')).toContain('Owner and manager');
    await screenshot(maria, 'maria-signed-in');

    await signInWithDemoButton(luca, 'Luca Bianchi');
    expect(await text(luca, 'tenant-name')).toBe('Trattoria Sole');
    expect(await text(luca, 'user-title')).toContain('Head chef');
    expect(await luca.getByTestId('unread-badge').count()).toBe(0);
    await screenshot(luca, 'luca-signed-in');

    await signInWithForm(tom, 'tom@harborview.example');
    expect(await text(tom, 'tenant-name')).toBe('Harbor View Apartments');
    expect(await text(tom, 'user-name')).toBe('Tom Weber');
    await screenshot(tom, 'tom-signed-in');
  });

  test('Maria asks the agent to tell Luca; the reply shows the executed action', async () => {
    await ask(maria, 'Tell Luca that table 5 has a nut allergy');
    await maria.getByTestId('typing-indicator').or(maria.getByTestId('agent-message')).first().waitFor();
    await screenshot(maria, 'maria-waiting-for-the-agent');

    const chip = maria.getByTestId('action-chip').filter({ hasText: 'Notified Luca Bianchi' });
    await chip.waitFor({ timeout: AGENT_MS });
    const chipText = (await chip.textContent()) ?? '';
    expect(chipText).toMatch(/done/i);
    expect(chipText).toMatch(/nut allergy/i);
    const reply = (await maria.getByTestId('agent-message').last().textContent()) ?? '';
    expect(reply).toMatch(/answered by \S+/);
    expect(await maria.getByTestId('typing-indicator').count()).toBe(0);
    mariaSessionPath = new URL(maria.url()).pathname;
    expect(mariaSessionPath).toMatch(/^\/chat\/[^/]+$/);
    await screenshot(maria, 'maria-sees-the-action');
  });

  test("Luca's unread badge goes up without a reload, and the notification reads right", async () => {
    const badge = luca.getByTestId('unread-badge');
    await badge.filter({ hasText: /^1$/ }).waitFor({ timeout: LIVE_MS });
    await screenshot(luca, 'luca-badge-live');

    await luca.getByRole('link', { name: /^Inbox/ }).click();
    const item = luca.getByTestId('notification').first();
    await item.waitFor();
    const itemText = (await item.textContent()) ?? '';
    expect(itemText).toContain('Maria Rossi');
    expect(itemText).toMatch(/table 5/i);
    expect(itemText).toMatch(/nut allergy/i);
    expect(itemText).toMatch(/low|normal|high|urgent/i);
    await screenshot(luca, 'luca-inbox');
  });

  test('marking it read clears the badge, also after a reload', async () => {
    await luca.getByRole('button', { name: 'Mark the notification from Maria Rossi as read' }).click();
    await luca.getByTestId('unread-badge').waitFor({ state: 'detached' });
    await screenshot(luca, 'luca-marked-read');

    await luca.reload();
    await luca.getByTestId('notification').first().waitFor();
    await live(luca);
    expect(await luca.getByTestId('unread-badge').count()).toBe(0);
    expect(await luca.getByRole('button', { name: /^Mark the notification from/ }).count()).toBe(0);
  });

  test('Tom of Harbor View sees none of it', async () => {
    await tom.getByRole('link', { name: /^Inbox/ }).click();
    await tom.getByText('No notifications yet.').waitFor();
    expect(await tom.getByTestId('unread-badge').count()).toBe(0);
    expect(await tom.getByText(/nut allergy/i).count()).toBe(0);
    await screenshot(tom, 'tom-inbox-empty');

    await tom.getByRole('link', { name: /^Chat/ }).click();
    await tom.getByText('No conversations yet.').waitFor();
    await screenshot(tom, 'tom-no-conversations');

    // Maria's conversation, by its URL: for another tenant it does not exist.
    await tom.goto(mariaSessionPath);
    await tom.getByText('This conversation does not exist, or is not yours.').waitFor();
    expect(await tom.getByText(/nut allergy/i).count()).toBe(0);
    await screenshot(tom, 'tom-cannot-open-marias-conversation');
  });

  test('a question gets an answer with its source', async () => {
    await maria.getByRole('button', { name: 'Back to conversations' }).click();
    await ask(maria, 'What time do we open on Sunday?');
    const reply = maria.getByTestId('agent-message').filter({ has: maria.getByRole('list', { name: 'Sources' }) });
    await reply.first().waitFor({ timeout: AGENT_MS });
    const answer = (await reply.first().textContent()) ?? '';
    // Trattoria Sole's hours (api/demo/sole/hours.md): Sunday is lunch only, 12:00-16:00.
    expect(answer, 'the reply should give the Sunday opening time').toContain('12:00');
    expect(answer, 'the sources should include the opening hours').toContain('Opening hours');
    await screenshot(maria, 'maria-answer-with-source');
  });
});
