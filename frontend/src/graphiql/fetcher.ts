// GraphiQL's fetcher for Concierge: queries and mutations over HTTP (`POST /graphql`) with the
// headers of GraphiQL's headers editor, subscriptions over a WebSocket (`graphql-transport-ws`)
// whose `connection_init` payload carries the `Authorization` header from that same editor.
//
// The server reads the token only from `connection_init` on a WebSocket (browsers cannot set
// headers on one) and closes the socket with 4403 without a valid one. So each subscription opens
// its own graphql-ws client whose `connectionParams` is a function returning the Authorization
// header the subscription was started with; graphql-ws evaluates it at every (re)connect, and
// the client is disposed when the subscription ends. A subscription therefore always runs as the
// user whose header was in the editor when it was started, like an HTTP request does, and a new
// token in the editor takes effect at the next run. A refused token is reported in the result
// pane with what to do, not as an opaque close event.
import type { Fetcher, FetcherOpts, FetcherParams, Observable } from '@graphiql/toolkit';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { Kind, OperationTypeNode, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { createClient, type ExecutionResult } from 'graphql-ws';

/** The WebSocket close code the server uses for a missing, bad or expired token. */
export const CLOSE_UNAUTHENTICATED = 4403;

/** How the page reaches the API. */
export interface FetcherUrls {
  /** `/graphql` over HTTP, absolute or relative to the page. */
  httpUrl: string;
  /** `ws://` or `wss://` URL of `/graphql`. */
  wsUrl: string;
}

/** The same-origin API URLs of the page GraphiQL runs on. */
export function sameOriginUrls(location: Pick<Location, 'protocol' | 'host'>): FetcherUrls {
  const wsProtocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return { httpUrl: '/graphql', wsUrl: `${wsProtocol}//${location.host}/graphql` };
}

/**
 * The `Authorization` header among GraphiQL's headers (the JSON object of its headers editor),
 * whatever its case; `null` when there is none or it is not a non-empty string.
 */
export function authorizationHeader(headers: FetcherOpts['headers']): string | null {
  if (headers === undefined) return null;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'authorization' && typeof value === 'string' && value.trim() !== '') {
      return value.trim();
    }
  }
  return null;
}

/** The `connection_init` payload for GraphiQL's headers: the server's documented shape. */
export function connectionParams(headers: FetcherOpts['headers']): Record<string, string> {
  const authorization = authorizationHeader(headers);
  return authorization === null ? {} : { Authorization: authorization };
}

/**
 * Whether the operation GraphiQL runs is a subscription: the one named `operationName`, or the
 * document's only operation when no name is given.
 */
export function isSubscription(documentAST: DocumentNode | undefined, operationName: string | null | undefined): boolean {
  if (documentAST === undefined) return false;
  const operations = documentAST.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const selected =
    operationName === null || operationName === undefined || operationName === ''
      ? operations.length === 1
        ? operations[0]
        : undefined
      : operations.find((op) => op.name?.value === operationName);
  return selected?.operation === OperationTypeNode.SUBSCRIPTION;
}

function closeEvent(value: unknown): { code: number; reason: string } | null {
  if (typeof value !== 'object' || value === null || !('code' in value) || typeof value.code !== 'number') return null;
  const reason = 'reason' in value && typeof value.reason === 'string' ? value.reason : '';
  return { code: value.code, reason };
}

/** A GraphQL-shaped error for the result pane (GraphiQL prints it as `{"errors": [...]}`). */
export interface PaneError {
  message: string;
  extensions: { code: string; closeCode?: number };
}

/**
 * What the result pane shows when a subscription's WebSocket fails: for a refused token (4403)
 * what to put in the headers editor; otherwise the close code and reason. GraphQL errors from
 * the server (an array) are shown as they came.
 */
export function describeSocketError(error: unknown, authorization: string | null): unknown {
  if (Array.isArray(error)) return error;
  const event = closeEvent(error);
  if (event === null) {
    return error instanceof Error
      ? { message: error.message, extensions: { code: 'NETWORK' } }
      : { message: 'The WebSocket to /graphql failed.', extensions: { code: 'NETWORK' } };
  }
  if (event.code === CLOSE_UNAUTHENTICATED) {
    const message =
      authorization === null
        ? "Subscriptions need a token: run the login mutation, then set the Authorization header to Bearer <token> in the Headers tab. Subscriptions send it in the WebSocket's connection_init."
        : `The server refused the token in the Headers tab (${event.reason || 'Forbidden'}): it is invalid or expired. Run the login mutation again and set the Authorization header to Bearer <the new token>.`;
    const pane: PaneError = { message, extensions: { code: 'UNAUTHENTICATED', closeCode: event.code } };
    return pane;
  }
  const pane: PaneError = {
    message: `The WebSocket closed with ${event.code}${event.reason === '' ? '' : ` (${event.reason})`}.`,
    extensions: { code: 'NETWORK', closeCode: event.code },
  };
  return pane;
}

/** Runs one subscription on a WebSocket of its own, authenticated with `headers`. */
function subscribe(wsUrl: string, params: FetcherParams, headers: FetcherOpts['headers']): Observable<ExecutionResult> {
  return {
    subscribe(...args: unknown[]) {
      const sink = observer(args);
      const authorization = authorizationHeader(headers);
      const client = createClient({
        url: wsUrl,
        // Evaluated at every (re)connect; the headers are the ones this subscription started with.
        connectionParams: () => connectionParams(headers),
        // Like graphql-ws's default (retry lost connections, a few times with backoff), except
        // that a refused token stays refused: that is reported at once.
        shouldRetry: (event) => {
          const close = closeEvent(event);
          return close !== null && close.code !== CLOSE_UNAUTHENTICATED;
        },
      });
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        void client.dispose();
      };
      const release = client.subscribe(
        {
          query: params.query,
          operationName: params.operationName ?? null,
          variables: (params.variables ?? null) as Record<string, unknown> | null,
        },
        {
          // JSON from the wire (errors formatted, not GraphQLError instances): GraphiQL prints it.
          next: (result) => sink.next(result as ExecutionResult),
          error: (error) => {
            end();
            sink.error(describeSocketError(error, authorization));
          },
          complete: () => {
            end();
            sink.complete();
          },
        },
      );
      return {
        unsubscribe: () => {
          release();
          end();
        },
      };
    },
  };
}

interface Observer {
  next: (value: ExecutionResult) => void;
  error: (error: unknown) => void;
  complete: () => void;
}

/** The observer of `Observable.subscribe`, called with an object or with up to three callbacks. */
function observer(args: unknown[]): Observer {
  const [first, second, third] = args;
  if (typeof first === 'object' && first !== null) {
    const o = first as Partial<Observer>;
    return {
      next: (v) => o.next?.(v),
      error: (e) => o.error?.(e),
      complete: () => o.complete?.(),
    };
  }
  const call = (f: unknown, ...values: unknown[]) => {
    if (typeof f === 'function') (f as (...v: unknown[]) => void)(...values);
  };
  return {
    next: (v) => call(first, v),
    error: (e) => call(second, e),
    complete: () => call(third),
  };
}

/**
 * The fetcher for `<GraphiQL fetcher={...}>`: subscriptions over the WebSocket with the headers
 * editor's Authorization in `connection_init`, everything else over HTTP with the editor's
 * headers.
 */
export function createConciergeFetcher(urls: FetcherUrls): Fetcher {
  const http = createGraphiQLFetcher({ url: urls.httpUrl });
  return (params, opts) => {
    if (isSubscription(opts?.documentAST, params.operationName)) {
      return subscribe(urls.wsUrl, params, opts?.headers);
    }
    return http(params, opts);
  };
}
