// The GraphiQL fetcher's decisions: which header becomes the WebSocket's connection_init payload,
// which operations go over the WebSocket, and what the result pane says when the server refuses
// the socket. The whole path (a real server, Chromium, GraphiQL) is in e2e/graphiql.e2e.ts.
/// <reference types="node" />
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, test } from 'vitest';

import { PRODUCTION_CONFIG, type AppConfig } from '../app/config';
import { authorizationHeader, connectionParams, describeSocketError, isSubscription, sameOriginUrls } from './fetcher';
import { defaultQuery } from './intro';

describe('the connection_init payload', () => {
  test("carries the headers editor's Authorization in the server's documented shape", () => {
    expect(connectionParams({ Authorization: 'Bearer abc.def', 'X-Other': '1' })).toEqual({ Authorization: 'Bearer abc.def' });
  });

  test('finds the header whatever its case, and trims it', () => {
    expect(connectionParams({ authorization: '  Bearer abc  ' })).toEqual({ Authorization: 'Bearer abc' });
    expect(authorizationHeader({ AUTHORIZATION: 'Bearer x' })).toBe('Bearer x');
  });

  test('is empty without a usable Authorization header', () => {
    expect(connectionParams(undefined)).toEqual({});
    expect(connectionParams({})).toEqual({});
    expect(connectionParams({ Authorization: '' })).toEqual({});
    expect(connectionParams({ Authorization: 42 })).toEqual({});
  });
});

describe('which operations go over the WebSocket', () => {
  const doc = parse('mutation Login { login(email: "a", password: "b") { token } } subscription Notifications { notifications { message } }');

  test('the named subscription does; the named mutation does not', () => {
    expect(isSubscription(doc, 'Notifications')).toBe(true);
    expect(isSubscription(doc, 'Login')).toBe(false);
  });

  test("a document's only operation counts without a name", () => {
    expect(isSubscription(parse('subscription { notifications { message } }'), undefined)).toBe(true);
    expect(isSubscription(parse('{ me { name } }'), null)).toBe(false);
  });

  test('an unknown name or an unparsed document does not', () => {
    expect(isSubscription(doc, 'Missing')).toBe(false);
    expect(isSubscription(undefined, 'Notifications')).toBe(false);
  });
});

describe('what the result pane says when the socket fails', () => {
  test('a refused socket without a token says where to put one', () => {
    const pane = describeSocketError({ code: 4403, reason: 'Forbidden' }, null) as { message: string; extensions: unknown };
    expect(pane.message).toContain('Authorization header to Bearer <token> in the Headers tab');
    expect(pane.message).toContain('connection_init');
    expect(pane.extensions).toEqual({ code: 'UNAUTHENTICATED', closeCode: 4403 });
  });

  test('a refused token is called invalid or expired, with the server reason', () => {
    const pane = describeSocketError({ code: 4403, reason: 'Token expired' }, 'Bearer old') as { message: string };
    expect(pane.message).toMatch(/invalid or expired/);
    expect(pane.message).toContain('Token expired');
  });

  test('other close codes are reported with their reason; GraphQL errors pass through', () => {
    const pane = describeSocketError({ code: 4500, reason: 'Could not check the token; retry later' }, 'Bearer t') as { message: string };
    expect(pane.message).toBe('The WebSocket closed with 4500 (Could not check the token; retry later).');
    const errors = [{ message: 'Unknown field', extensions: { code: 'BAD_USER_INPUT' } }];
    expect(describeSocketError(errors, 'Bearer t')).toBe(errors);
  });
});

test('the WebSocket goes to /graphql on the page origin, wss on https', () => {
  expect(sameOriginUrls({ protocol: 'http:', host: '127.0.0.1:8080' })).toEqual({ httpUrl: '/graphql', wsUrl: 'ws://127.0.0.1:8080/graphql' });
  expect(sameOriginUrls({ protocol: 'https:', host: 'concierge.example' }).wsUrl).toBe('wss://concierge.example/graphql');
});

describe('the first-visit query', () => {
  // The schema the server serves (written from the server code; a Rust test keeps it current).
  const schema = buildSchema(readFileSync(path.resolve(import.meta.dirname, '../../../schema.graphql'), 'utf8'));
  const errors = (query: string) => validate(schema, parse(query)).map((e) => e.message);

  test('is valid against the schema, explains the header, and offers the demo login only in development', () => {
    const production = defaultQuery(PRODUCTION_CONFIG);
    expect(errors(production)).toEqual([]);
    expect(production).toContain('{"Authorization": "Bearer <token>"}');
    expect(production).toContain('connection_init');
    expect(production).not.toContain('concierge-demo');

    const development: AppConfig = {
      environment: 'development',
      demoAccounts: [{ email: 'maria@sole.example', name: 'Maria Rossi', title: null, tenant: 'Trattoria Sole' }],
      demoPassword: 'concierge-demo',
    };
    const query = defaultQuery(development);
    expect(errors(query)).toEqual([]);
    expect(query).toContain('login(email: "maria@sole.example", password: "concierge-demo")');
  });
});
