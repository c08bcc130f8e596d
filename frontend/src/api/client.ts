// The app's GraphQL client: typed requests over HTTP (`POST /graphql`) and subscriptions over one
// WebSocket (`graphql-transport-ws`, the graphql-ws client), both carrying the user's token.
//
// Documents are the typed strings codegen makes from api/operations.ts, so `request` and
// `subscribe` know the shape of their variables and results. The WebSocket reconnects forever with
// backoff (api/backoff.ts) unless the server refused the token (close code 4403); each reconnect
// is announced through `onReconnect` so that screens refetch what they may have missed while the
// socket was down. When graphql-ws gives up on a connection (a close code it treats as fatal, like
// 4500), each subscription starts over after a pause. A refused token, over HTTP or WebSocket,
// calls `onUnauthenticated` once.
import { createClient, type Client } from 'graphql-ws';

import type { TypedDocumentString } from '../gql/graphql';
import { waitBeforeRetry } from './backoff';
import { ApiError, EXPIRED_MESSAGE, NETWORK_MESSAGE, fromGraphQLError } from './errors';

/** The WebSocket close code the server uses for a missing, bad or expired token. */
export const CLOSE_UNAUTHENTICATED = 4403;

/** The live connection as the user should see it. */
export type ConnectionState = 'connecting' | 'online' | 'offline';

/** Receives what a subscription delivers. */
export interface SubscriptionSink<T> {
  next: (data: T) => void;
  error: (error: ApiError) => void;
}

/** What screens use to talk to the API. Tests provide their own. */
export interface Api {
  /**
   * Runs a query or mutation. Rejects with an [`ApiError`]: the first GraphQL error's code and
   * message, or NETWORK when the server cannot be reached.
   */
  request<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult>;
  /** Starts a subscription; returns the function that stops it. */
  subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    sink: SubscriptionSink<TResult>,
  ): () => void;
  /** The current state of the live connection. */
  connectionState(): ConnectionState;
  /** Calls `listener` whenever the live connection changes state; returns the unsubscribe. */
  onConnectionChange(listener: (state: ConnectionState) => void): () => void;
  /** Calls `listener` after every reconnect (not the first connect); returns the unsubscribe. */
  onReconnect(listener: () => void): () => void;
  /** Closes the WebSocket and forgets all listeners. */
  dispose(): void;
}

/** How to reach the API and what to do when it refuses the token. */
export interface ApiOptions {
  /** `/graphql` over HTTP, absolute or relative to the page. */
  httpUrl: string;
  /** `ws://` or `wss://` URL of `/graphql`. */
  wsUrl: string;
  /** The JWT from `login`, or null before login (then only `login` works). */
  token: string | null;
  /** Called (once) when the API refuses the token: it expired or was revoked. */
  onUnauthenticated?: () => void;
}

/** The same-origin API URLs of the page the app runs on. */
export function sameOriginUrls(location: Location): { httpUrl: string; wsUrl: string } {
  const wsProtocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return { httpUrl: '/graphql', wsUrl: `${wsProtocol}//${location.host}/graphql` };
}

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    'code' in value &&
    typeof value.code === 'number'
  );
}

interface GraphQLResponse {
  data?: unknown;
  errors?: unknown[];
}

function isGraphQLResponse(value: unknown): value is GraphQLResponse {
  return typeof value === 'object' && value !== null && ('data' in value || 'errors' in value);
}

function httpStatusError(status: number): ApiError {
  if (status === 401 || status === 403) return new ApiError('UNAUTHENTICATED', EXPIRED_MESSAGE);
  if (status === 429) return new ApiError('RATE_LIMITED', 'Too many requests. Wait a moment and try again.');
  if (status === 502 || status === 503 || status === 504) {
    return new ApiError('UNAVAILABLE', 'Concierge is not available right now. Try again in a moment.');
  }
  return new ApiError('INTERNAL', `The server answered with an error (${status}). Try again in a moment.`);
}

/** Creates the client for one login (or for logging in, with `token: null`). */
export function createApi(options: ApiOptions): Api {
  const { httpUrl, wsUrl, token } = options;
  let unauthenticatedReported = false;
  const reportUnauthenticated = () => {
    if (unauthenticatedReported) return;
    unauthenticatedReported = true;
    options.onUnauthenticated?.();
  };

  let state: ConnectionState = 'connecting';
  let everConnected = false;
  const connectionListeners = new Set<(state: ConnectionState) => void>();
  const reconnectListeners = new Set<() => void>();
  const setState = (next: ConnectionState) => {
    if (state === next) return;
    state = next;
    for (const listener of connectionListeners) listener(next);
  };

  // The WebSocket is opened by the first subscription. `dispose` closes it; a later subscription
  // opens a new one (React's development StrictMode disposes and re-runs effects once).
  let ws: Client | null = null;
  const socket = (): Client => {
    if (ws !== null) return ws;
    const client: Client = createClient({
      url: wsUrl,
      connectionParams: () => (token === null ? {} : { Authorization: `Bearer ${token}` }),
      retryAttempts: Number.POSITIVE_INFINITY,
      retryWait: waitBeforeRetry,
      shouldRetry: (event) => !(isCloseEvent(event) && event.code === CLOSE_UNAUTHENTICATED),
      on: {
        connecting: () => {
          if (ws === client && state !== 'offline') setState('connecting');
        },
        connected: () => {
          if (ws !== client) return;
          setState('online');
          if (everConnected) for (const listener of reconnectListeners) listener();
          everConnected = true;
        },
        closed: (event) => {
          if (ws !== client) return;
          if (isCloseEvent(event) && event.code === CLOSE_UNAUTHENTICATED) reportUnauthenticated();
          setState('offline');
        },
      },
    });
    ws = client;
    return client;
  };

  return {
    async request(document, variables) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
      };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let response: Response;
      try {
        response = await fetch(httpUrl, {
          method: 'POST',
          headers,
          body: JSON.stringify({ query: document.toString(), variables }),
        });
      } catch {
        throw new ApiError('NETWORK', NETWORK_MESSAGE);
      }
      let body: unknown;
      try {
        body = await response.json();
      } catch {
        throw httpStatusError(response.status);
      }
      if (!isGraphQLResponse(body)) throw httpStatusError(response.status);
      const first = body.errors?.[0];
      if (first !== undefined) {
        const error = fromGraphQLError(first);
        if (error.code === 'UNAUTHENTICATED' && token !== null) reportUnauthenticated();
        throw error;
      }
      if (body.data === undefined || body.data === null) throw httpStatusError(response.status);
      return body.data as never;
    },

    subscribe(document, variables, sink) {
      const payload = { query: document.toString(), variables: variables as Record<string, unknown> };
      let stopped = false;
      let attempts = 0;
      let stop: () => void = () => undefined;
      const start = () => {
        stop = socket().subscribe(payload, {
          next: (result) => {
            attempts = 0;
            const first = result.errors?.[0];
            if (first !== undefined) {
              sink.error(fromGraphQLError(first));
            } else if (result.data !== undefined && result.data !== null) {
              sink.next(result.data as never);
            }
          },
          error: (error: unknown) => {
            if (Array.isArray(error)) {
              // The server refused this subscription: retrying would be refused again.
              const apiError = fromGraphQLError(error[0]);
              if (apiError.code === 'UNAUTHENTICATED') reportUnauthenticated();
              sink.error(apiError);
            } else if (isCloseEvent(error) && error.code === CLOSE_UNAUTHENTICATED) {
              reportUnauthenticated();
              sink.error(new ApiError('UNAUTHENTICATED', EXPIRED_MESSAGE));
            } else {
              // graphql-ws gave up on the connection (a close code it deems fatal, such as 4500):
              // say so, and start over after a pause; the new connection counts as a reconnect.
              sink.error(new ApiError('NETWORK', NETWORK_MESSAGE));
              void waitBeforeRetry(attempts++).then(() => {
                if (!stopped) start();
              });
            }
          },
          complete: () => undefined,
        });
      };
      start();
      return () => {
        stopped = true;
        stop();
      };
    },

    connectionState: () => state,

    onConnectionChange(listener) {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },

    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },

    dispose() {
      const client = ws;
      ws = null;
      everConnected = false;
      connectionListeners.clear();
      reconnectListeners.clear();
      state = 'connecting';
      void client?.dispose();
    },
  };
}
