// GraphiQL at /graphiql, as a developer would use it: the page loads with nothing from another
// host; Sofia (Trattoria Sole) runs `login`, puts the token in the headers editor, sends a message
// and sees it QUEUED; she starts the notifications subscription, whose WebSocket carries her
// token in connection_init; Luca (through the API) asks the agent to tell Sofia something, and
// the notification appears in GraphiQL's result pane. Without the header, the subscription says
// where the token goes. Every step leaves a screenshot in artifacts/e2e/.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, test } from 'vitest';
import type { Browser, BrowserContext, Locator, Page, WebSocket } from 'playwright-core';

import { desktopContext, launchBrowser, screenshot } from './browser';
import { userChannelSubscribers } from './server';

const baseUrl = inject('baseUrl');
const redisPrefix = inject('redisPrefix');

/** The agent answers through Redis, the LLM provider and Postgres: allow it a while. */
const AGENT_MS = 45_000;
/** How long a subscription may take to reach the server (a WebSocket and a Redis SUBSCRIBE). */
const SUBSCRIBE_MS = 20_000;

interface GraphQLResult {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A request to the API itself, as another client (Luca's phone) would send it. */
async function api(query: string, token?: string): Promise<GraphQLResult> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query }) });
  expect(response.status).toBe(200);
  return (await response.json()) as GraphQLResult;
}

/** Replaces the text of the CodeMirror editor in `region` as a paste would. */
async function setEditor(page: Page, region: Locator, text: string): Promise<void> {
  await region.locator('.graphiql-editor:not(.hidden) .CodeMirror').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(text);
}

/**
 * Replaces the query editor's text with `operation`, named `name`, and waits until GraphiQL has
 * parsed it (the tab takes the operation's name): until then the ▶ button still acts on the
 * previous document (with several operations it opens a menu instead of running).
 */
async function setQuery(page: Page, name: string, operation: string): Promise<void> {
  await setEditor(page, page.getByRole('region', { name: 'Query Editor' }), operation);
  await page.locator('.graphiql-tab[aria-selected="true"]').filter({ hasText: name }).waitFor();
}

function headersEditor(page: Page): Locator {
  return page.getByRole('region', { name: 'Headers' });
}

/** The text of GraphiQL's result pane (from its CodeMirror editor, which shows it). */
function resultText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const editor = document.querySelector<Element & { CodeMirror?: { getValue: () => string } }>('.graphiql-response .CodeMirror');
    return editor?.CodeMirror?.getValue() ?? '';
  });
}

/** Waits until the result pane holds text containing `needle`, and returns it parsed. */
async function waitForResult(page: Page, needle: string, timeout?: number): Promise<GraphQLResult> {
  await page.waitForFunction(
    (wanted) => {
      const editor = document.querySelector<Element & { CodeMirror?: { getValue: () => string } }>('.graphiql-response .CodeMirror');
      return editor?.CodeMirror?.getValue().includes(wanted) ?? false;
    },
    needle,
    { timeout },
  );
  return JSON.parse(await resultText(page)) as GraphQLResult;
}

/** Runs the operation in the query editor (GraphiQL's ▶ button). */
async function execute(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
}

/** Waits until the server has subscribed to `user`'s events (see server.ts). */
async function waitForServerSubscription(user: string): Promise<void> {
  const deadline = Date.now() + SUBSCRIBE_MS;
  while ((await userChannelSubscribers(redisPrefix, user)) < 1) {
    if (Date.now() > deadline) throw new Error(`the server never subscribed to the events of user ${user}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Frames {
  url: string;
  sent: Record<string, unknown>[];
  received: Record<string, unknown>[];
}

/**
 * Records the text frames of every WebSocket `page` opens from now on, parsed. The listeners are
 * attached when the socket is announced, before any frame of it is reported.
 */
function recordSockets(page: Page): Frames[] {
  const sockets: Frames[] = [];
  const parse = (payload: string | Buffer) => JSON.parse(payload.toString()) as Record<string, unknown>;
  page.on('websocket', (socket: WebSocket) => {
    const frames: Frames = { url: socket.url(), sent: [], received: [] };
    socket.on('framesent', ({ payload }) => frames.sent.push(parse(payload)));
    socket.on('framereceived', ({ payload }) => frames.received.push(parse(payload)));
    sockets.push(frames);
  });
  return sockets;
}

describe('GraphiQL at /graphiql: self-hosted, and its subscriptions authenticate', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const foreign: string[] = [];
  const pageErrors: string[] = [];
  let token = '';
  let sofiaId = '';

  beforeAll(async () => {
    browser = await launchBrowser();
    context = await desktopContext(browser, baseUrl);
    page = await context.newPage();
    // Every request of the page, WebSockets included, must go to the server under test.
    const origin = new URL(baseUrl);
    const check = (url: string) => {
      const u = new URL(url);
      if (u.protocol === 'data:' || u.protocol === 'blob:') return;
      if (u.host !== origin.host) foreign.push(url);
    };
    context.on('request', (request) => check(request.url()));
    page.on('websocket', (socket) => check(socket.url()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  // The steps build on each other: after a failed one, the rest are skipped, not timed out.
  let failed = false;
  beforeEach((ctx) => {
    if (failed) ctx.skip();
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    failed = true;
    const step = ctx.task.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 40);
    await screenshot(page, `failed-graphiql-${step}`).catch(() => undefined);
  });

  afterAll(async () => {
    await context.close();
    await browser.close();
  });

  test('the page loads GraphiQL and the schema from this server alone', async () => {
    const response = await page.goto('/graphiql');
    expect(response?.status()).toBe(200);
    await page.getByTestId('auth-note').waitFor();
    expect(await page.getByTestId('auth-note').textContent()).toContain('{"Authorization": "Bearer <token>"}');
    // The first-visit query explains the header too, and GraphiQL has introspected the schema:
    // the documentation explorer lists the root types.
    await page.waitForFunction(() => document.querySelector('.graphiql-query-editor .CodeMirror-code')?.textContent.includes('connection_init') ?? false);
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await page.getByRole('link', { name: 'Subscription' }).waitFor();
    await screenshot(page, 'graphiql-opened');
    await page.getByRole('button', { name: 'Hide Documentation Explorer' }).click();
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test('login, then the token in the headers editor', async () => {
    await setQuery(page, 'SofiaLogin', 'mutation SofiaLogin { login(email: "sofia@sole.example", password: "concierge-demo") { token user { id name } } }');
    await execute(page);
    const result = await waitForResult(page, '"token"');
    const login = result.data?.login as { token: string; user: { id: string; name: string } };
    expect(login.user.name).toBe('Sofia Verdi');
    token = login.token;
    sofiaId = login.user.id;

    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    await setEditor(page, headersEditor(page), `{"Authorization": "Bearer ${token}"}`);
    await screenshot(page, 'graphiql-logged-in');
  });

  test('sendMessage with the header: the message is QUEUED', async () => {
    await setQuery(page, 'AskAboutSunday', 'mutation AskAboutSunday { sendMessage(input: {content: "What time do we open on Sunday?"}) { message { status content } session { id } } }');
    await execute(page);
    const result = await waitForResult(page, '"status"');
    expect(result.errors).toBeUndefined();
    const sent = result.data?.sendMessage as { message: { status: string; content: string } };
    expect(sent.message.status).toBe('QUEUED');
    expect(sent.message.content).toBe('What time do we open on Sunday?');
    await screenshot(page, 'graphiql-message-queued');
  });

  test('the notifications subscription authenticates in connection_init and shows what Luca sends', async () => {
    await setQuery(page, 'MyNotifications', 'subscription MyNotifications { notifications { message priority from { name } } }');
    const sockets = recordSockets(page);
    await execute(page);
    await page.getByRole('button', { name: 'Stop query (Ctrl-Enter)' }).waitFor();

    // The server has Sofia's subscription once it listens to her events; only then is an event
    // sent after it certain to reach the page.
    await waitForServerSubscription(sofiaId);
    expect(sockets).toHaveLength(1);
    const [frames] = sockets;
    if (frames === undefined) throw new Error('GraphiQL opened no WebSocket');
    expect(new URL(frames.url).pathname).toBe('/graphql');
    expect(frames.sent[0]).toEqual({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } });
    expect(frames.received[0]).toEqual({ type: 'connection_ack' });
    expect(frames.sent[1]).toMatchObject({ type: 'subscribe' });
    await screenshot(page, 'graphiql-subscribed');

    // Luca, on his own client, asks the agent to tell Sofia something.
    const lucaLogin = await api('mutation { login(email: "luca@sole.example", password: "concierge-demo") { token } }');
    const lucaToken = (lucaLogin.data?.login as { token: string }).token;
    const sent = await api('mutation { sendMessage(input: {content: "Tell Sofia that the fish delivery comes at 4 pm today"}) { message { status } } }', lucaToken);
    expect(sent.errors).toBeUndefined();

    const result = await waitForResult(page, 'fish delivery', AGENT_MS);
    const notification = result.data?.notifications as { message: string; priority: string; from: { name: string } | null };
    expect(notification.from?.name).toBe('Luca Bianchi');
    expect(notification.message).toMatch(/fish delivery/i);
    expect(notification.message).toMatch(/4 pm/i);
    // Still subscribed: the result pane keeps showing what arrives.
    expect(await page.getByRole('button', { name: 'Stop query (Ctrl-Enter)' }).count()).toBe(1);
    await screenshot(page, 'graphiql-notification-live');

    await page.getByRole('button', { name: 'Stop query (Ctrl-Enter)' }).click();
    await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).waitFor();
  });

  test('without the header, the subscription says where the token goes', async () => {
    await setEditor(page, headersEditor(page), '{}');
    await setQuery(page, 'WithoutToken', 'subscription WithoutToken { notifications { message } }');
    await execute(page);
    const result = await waitForResult(page, 'UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toContain('Authorization header to Bearer <token> in the Headers tab');
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED', closeCode: 4403 });
    await screenshot(page, 'graphiql-subscription-without-token');
  });

  test('no request left for another host, and the page raised no errors', () => {
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
