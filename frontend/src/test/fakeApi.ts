// A stand-in for the API client in component tests: answers operations by name from handlers the
// test sets, and lets the test push subscription events. (The real client and server are exercised
// by the browser tests in e2e/.)
import type { Api, ConnectionState, SubscriptionSink } from '../api/client';
import { ApiError } from '../api/errors';
import type { TypedDocumentString } from '../gql/graphql';

type Handler = (variables: never) => unknown;

function operationName(document: { toString: () => string }): string {
  const match = /\b(?:query|mutation|subscription)\s+(\w+)/.exec(document.toString());
  return match?.[1] ?? 'anonymous';
}

/** An [`Api`] driven by the test. */
export class FakeApi implements Api {
  readonly calls: { name: string; variables: unknown }[] = [];
  private readonly handlers = new Map<string, Handler>();
  private readonly sinks = new Map<string, Set<SubscriptionSink<unknown>>>();
  private state: ConnectionState = 'online';
  private readonly connectionListeners = new Set<(state: ConnectionState) => void>();
  private readonly reconnectListeners = new Set<() => void>();

  /** Answers operation `name` with `handler(variables)` (a thrown ApiError becomes a rejection). */
  on(name: string, handler: (variables: Record<string, unknown>) => unknown): this {
    this.handlers.set(name, handler);
    return this;
  }

  request<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>, variables: TVariables): Promise<TResult> {
    const name = operationName(document);
    this.calls.push({ name, variables });
    const handler = this.handlers.get(name);
    if (handler === undefined) return Promise.reject(new ApiError('INTERNAL', `no handler for ${name}`));
    return Promise.resolve().then(() => handler(variables as never) as TResult);
  }

  subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    _variables: TVariables,
    sink: SubscriptionSink<TResult>,
  ): () => void {
    const name = operationName(document);
    const set = this.sinks.get(name) ?? new Set();
    set.add(sink as SubscriptionSink<unknown>);
    this.sinks.set(name, set);
    return () => set.delete(sink as SubscriptionSink<unknown>);
  }

  /** Delivers `data` to every open subscription `name`. */
  emit(name: string, data: unknown): void {
    for (const sink of this.sinks.get(name) ?? []) sink.next(data);
  }

  /** How many subscriptions `name` are open. */
  subscribers(name: string): number {
    return this.sinks.get(name)?.size ?? 0;
  }

  /** The calls of operation `name`. */
  callsOf(name: string): unknown[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.variables);
  }

  connectionState(): ConnectionState {
    return this.state;
  }

  /** Changes the connection state; `online` after `offline` counts as a reconnect. */
  setConnection(state: ConnectionState): void {
    const reconnect = state === 'online' && this.state !== 'online';
    this.state = state;
    for (const listener of this.connectionListeners) listener(state);
    if (reconnect) for (const listener of this.reconnectListeners) listener();
  }

  onConnectionChange(listener: (state: ConnectionState) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  dispose(): void {
    this.sinks.clear();
  }
}
