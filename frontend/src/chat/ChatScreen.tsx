// The Chat tab: the list of the user's conversations (most recent first, more on demand) and the
// open conversation. The list is kept while a conversation is open, so the conversation's title is
// known, and a new conversation keeps its screen (no reload) when its first message creates it.
import { useCallback, useEffect, useRef, useState } from 'react';

import { toApiError, type ApiError } from '../api/errors';
import { SessionsQuery } from '../api/operations';
import { useSignedIn } from '../app/context';
import { navigate, type Route } from '../app/route';
import type { SessionFieldsFragment } from '../gql/graphql';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatClock, formatFull } from '../ui/time';
import { Conversation } from './Conversation';

/** Conversations per page of the list. */
const PAGE_SIZE = 20;

function byRecent(a: SessionFieldsFragment, b: SessionFieldsFragment): number {
  return a.lastMessageAt < b.lastMessageAt ? 1 : a.lastMessageAt > b.lastMessageAt ? -1 : 0;
}

function mergeSessions(existing: SessionFieldsFragment[], incoming: SessionFieldsFragment[]): SessionFieldsFragment[] {
  const byId = new Map(existing.map((s) => [s.id, s]));
  for (const s of incoming) byId.set(s.id, s);
  return [...byId.values()].sort(byRecent);
}

/** The Chat tab for `route` (the session list or one conversation). */
export function ChatScreen({ route }: { route: Route }) {
  const { api, events } = useSignedIn();
  const [sessions, setSessions] = useState<SessionFieldsFragment[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  // The session a new conversation created: its screen stays mounted under the new URL.
  const [adopted, setAdopted] = useState<string | null>(null);
  const [newCount, setNewCount] = useState(0);
  const headingRef = useRef<HTMLHeadingElement>(null);

  const load = useCallback(() => {
    api.request(SessionsQuery, { first: PAGE_SIZE }).then(
      (data) => {
        setSessions((old) => mergeSessions(old, data.sessions.nodes));
        setCursor((old) => old ?? data.sessions.pageInfo.endCursor);
        setHasMore((old) => old || data.sessions.pageInfo.hasNextPage);
        setLoaded(true);
        setError(null);
      },
      (e: unknown) => setError(toApiError(e)),
    );
  }, [api]);

  useEffect(() => {
    load();
    return events.onResync(load);
  }, [events, load]);

  // A reply moves its conversation to the top of the list.
  useEffect(
    () =>
      events.listen((event) => {
        if (event.__typename !== 'AgentReply') return;
        setSessions((old) =>
          old
            .map((s) =>
              s.id === event.sessionId
                ? { ...s, lastMessageAt: event.message.createdAt, messageCount: s.messageCount + 1 }
                : s,
            )
            .sort(byRecent),
        );
      }),
    [events],
  );

  const loadMore = () => {
    if (cursor === null) return;
    api.request(SessionsQuery, { first: PAGE_SIZE, after: cursor }).then(
      (data) => {
        setSessions((old) => mergeSessions(old, data.sessions.nodes));
        setCursor(data.sessions.pageInfo.endCursor);
        setHasMore(data.sessions.pageInfo.hasNextPage);
      },
      (e: unknown) => setError(toApiError(e)),
    );
  };

  const onSession = useCallback((session: SessionFieldsFragment, created: boolean) => {
    setSessions((old) => mergeSessions(old, [session]));
    if (created) {
      setAdopted(session.id);
      navigate({ name: 'conversation', sessionId: session.id }, { replace: true });
    }
  }, []);

  const isList = route.name !== 'conversation';
  useEffect(() => {
    if (isList) headingRef.current?.focus({ preventScroll: true });
  }, [isList]);

  if (route.name === 'conversation') {
    const id = route.sessionId;
    const key = id === null ? `new-${newCount}` : id === adopted ? `new-${newCount}` : id;
    return (
      <Conversation
        key={key}
        sessionId={id}
        title={sessions.find((s) => s.id === id)?.title ?? null}
        onSession={onSession}
        onBack={() => navigate({ name: 'sessions' })}
      />
    );
  }

  const startNew = () => {
    setAdopted(null);
    setNewCount((n) => n + 1);
    navigate({ name: 'conversation', sessionId: null });
  };

  return (
    <section className="sessions" aria-labelledby="sessions-title">
      <div className="screen-header">
        <h1 id="sessions-title" className="screen-title" ref={headingRef} tabIndex={-1}>
          Conversations
        </h1>
        <button type="button" className="primary small" onClick={startNew}>
          New
        </button>
      </div>
      <div className="scroll">
        {error && <ErrorNotice error={error} onRetry={load} />}
        {!loaded && !error && <p className="muted center">Loading…</p>}
        {loaded && sessions.length === 0 && (
          <div className="empty">
            <p>No conversations yet.</p>
            <p className="muted">Ask Concierge about opening hours, shifts or rules, or have it tell a colleague something.</p>
            <button type="button" className="primary" onClick={startNew}>
              Start a conversation
            </button>
          </div>
        )}
        <ul className="session-list">
          {sessions.map((session) => (
            <li key={session.id}>
              <a
                href={`/chat/${encodeURIComponent(session.id)}`}
                className="session"
                onClick={(e) => {
                  e.preventDefault();
                  navigate({ name: 'conversation', sessionId: session.id });
                }}
              >
                <span className="session-title">{session.title}</span>
                <span className="session-meta muted small">
                  <time dateTime={session.lastMessageAt} title={formatFull(session.lastMessageAt)}>
                    {formatClock(session.lastMessageAt)}
                  </time>
                  {' · '}
                  {session.messageCount} {session.messageCount === 1 ? 'message' : 'messages'}
                </span>
              </a>
            </li>
          ))}
        </ul>
        {hasMore && (
          <button type="button" className="ghost small load-more" onClick={loadMore}>
            Show more conversations
          </button>
        )}
      </div>
    </section>
  );
}
