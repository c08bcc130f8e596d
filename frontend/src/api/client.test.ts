import { afterEach, describe, expect, test, vi } from 'vitest';

import { ColleaguesQuery } from './operations';
import { createApi } from './client';
import { ApiError } from './errors';

function respond(status: number, body: unknown) {
  return vi.fn(() =>
    Promise.resolve(
      new Response(typeof body === 'string' ? body : JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json' },
      }),
    ),
  );
}

function api(onUnauthenticated = vi.fn()) {
  return { onUnauthenticated, api: createApi({ httpUrl: '/graphql', wsUrl: 'ws://localhost/graphql', token: 'jwt', onUnauthenticated }) };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('HTTP requests', () => {
  test('post the typed document with the bearer token and return the data', async () => {
    const fetch = respond(200, { data: { colleagues: [] } });
    vi.stubGlobal('fetch', fetch);
    const { api: client } = api();
    await expect(client.request(ColleaguesQuery, {})).resolves.toEqual({ colleagues: [] });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/graphql');
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer jwt');
    expect(JSON.parse(init.body as string)).toMatchObject({ query: expect.stringContaining('colleagues') as unknown, variables: {} });
  });

  test("a GraphQL error becomes an ApiError with the server's code and message", async () => {
    vi.stubGlobal('fetch', respond(200, { data: null, errors: [{ message: 'Slow down', extensions: { code: 'RATE_LIMITED' } }] }));
    const error: unknown = await api().api.request(ColleaguesQuery, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', message: 'Slow down' });
  });

  test('UNAUTHENTICATED signs the user out once, however many requests fail', async () => {
    vi.stubGlobal('fetch', respond(200, { errors: [{ message: 'token expired', extensions: { code: 'UNAUTHENTICATED' } }] }));
    const { api: client, onUnauthenticated } = api();
    await client.request(ColleaguesQuery, {}).catch(() => undefined);
    await client.request(ColleaguesQuery, {}).catch(() => undefined);
    expect(onUnauthenticated).toHaveBeenCalledTimes(1);
  });

  test('an unreachable server is NETWORK, a proxy error page is UNAVAILABLE', async () => {
    vi.stubGlobal('fetch', vi.fn(() => Promise.reject(new TypeError('Failed to fetch'))));
    await expect(api().api.request(ColleaguesQuery, {})).rejects.toMatchObject({ code: 'NETWORK' });
    vi.stubGlobal('fetch', respond(502, '<html>Bad gateway</html>'));
    await expect(api().api.request(ColleaguesQuery, {})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('subscriptions', () => {
  test('start over after graphql-ws gives up on a connection, but not after a refused token', async () => {
    vi.useFakeTimers();
    const sinks: { error: (e: unknown) => void }[] = [];
    const fakeClient = {
      subscribe: vi.fn((_payload: unknown, sink: { error: (e: unknown) => void }) => {
        sinks.push(sink);
        return () => undefined;
      }),
      on: vi.fn(),
      dispose: vi.fn(),
      terminate: vi.fn(),
    };
    vi.doMock('graphql-ws', () => ({ createClient: () => fakeClient }));
    vi.resetModules();
    const { createApi: create } = await import('./client');
    const onUnauthenticated = vi.fn();
    const client = create({ httpUrl: '/graphql', wsUrl: 'ws://x/graphql', token: 'jwt', onUnauthenticated });
    const errors: string[] = [];
    client.subscribe(ColleaguesQuery, {}, { next: () => undefined, error: (e) => errors.push(e.code) });
    expect(fakeClient.subscribe).toHaveBeenCalledTimes(1);

    sinks[0]?.error({ code: 4500, reason: 'Internal server error' });
    expect(errors).toEqual(['NETWORK']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fakeClient.subscribe).toHaveBeenCalledTimes(2);

    sinks[1]?.error({ code: 4403, reason: 'Forbidden' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fakeClient.subscribe).toHaveBeenCalledTimes(2);
    expect(errors).toEqual(['NETWORK', 'UNAUTHENTICATED']);
    expect(onUnauthenticated).toHaveBeenCalledTimes(1);
    vi.doUnmock('graphql-ws');
    vi.useRealTimers();
  });
});
