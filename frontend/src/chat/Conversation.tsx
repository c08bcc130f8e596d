// One conversation with the agent: loads its messages (older ones on demand), applies the live
// events of the shell's `conversationEvents` subscription (status, streamed text, the reply, a
// failure), refetches after a reconnect, and sends new messages with an idempotency key so that a
// retry is stored once. A new conversation (no session yet) gets its session from the first send.
import { useCallback, useEffect, useLayoutEffect, useReducer, useRef, useState } from 'react';

import { toApiError, type ApiError } from '../api/errors';
import { ConversationQuery, SendMessageMutation } from '../api/operations';
import { useSignedIn } from '../app/context';
import type { SessionFieldsFragment, TenantKind } from '../gql/graphql';
import { ErrorNotice } from '../ui/ErrorNotice';
import { newClientMessageId } from './clientMessageId';
import { Composer } from './Composer';
import {
  awaitingReply,
  conversationReducer,
  initialConversation,
  type ChatMessage,
} from './conversation';
import { MessageBubble } from './MessageBubble';

/** Messages per page: a long conversation loads its last 50 first. */
const PAGE_SIZE = 50;

/** Starting points for a new conversation, by kind of business, shown while it is empty. */
const SUGGESTIONS: Record<TenantKind, string[]> = {
  RESTAURANT: ['What are the opening hours?', 'Who is working today?', 'What are the allergen rules?'],
  PROPERTY: ['What are the office hours?', 'How do I report a repair?', 'What are the quiet hours?'],
  OTHER: ['What can you help me with?', 'Who is on the team?', 'What are the opening hours?'],
};

interface Props {
  /** The session to show, or null to start a new one. */
  sessionId: string | null;
  title: string | null;
  /** Called when the first message of a new conversation created its session. */
  onSession: (session: SessionFieldsFragment, created: boolean) => void;
  onBack: () => void;
}

/** The conversation screen. */
export function Conversation({ sessionId, title, onSession, onBack }: Props) {
  const { api, events, session } = useSignedIn();
  const [state, dispatch] = useReducer(conversationReducer, sessionId, initialConversation);
  const [error, setError] = useState<ApiError | null>(null);
  const [loadingEarlier, setLoadingEarlier] = useState(false);
  const listRef = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const currentSession = state.sessionId;

  const load = useCallback(() => {
    if (currentSession === null) return;
    api.request(ConversationQuery, { sessionId: currentSession, last: PAGE_SIZE }).then(
      (data) => {
        dispatch({
          type: 'loaded',
          messages: data.conversation.nodes,
          earlierCursor: data.conversation.pageInfo.hasPreviousPage ? data.conversation.pageInfo.startCursor : null,
        });
        setError(null);
      },
      (e: unknown) => setError(toApiError(e)),
    );
  }, [api, currentSession]);

  useEffect(() => {
    load();
  }, [load]);

  useEffect(() => {
    const stopEvents = events.listen((event) => dispatch({ type: 'event', event }));
    const stopResync = events.onResync(load);
    return () => {
      stopEvents();
      stopResync();
    };
  }, [events, load]);

  const loadEarlier = () => {
    if (currentSession === null || state.earlierCursor === null) return;
    setLoadingEarlier(true);
    stickToBottom.current = false;
    api
      .request(ConversationQuery, { sessionId: currentSession, last: PAGE_SIZE, before: state.earlierCursor })
      .then(
        (data) =>
          dispatch({
            type: 'earlierLoaded',
            messages: data.conversation.nodes,
            earlierCursor: data.conversation.pageInfo.hasPreviousPage ? data.conversation.pageInfo.startCursor : null,
          }),
        (e: unknown) => setError(toApiError(e)),
      )
      .finally(() => setLoadingEarlier(false));
  };

  const send = (content: string, clientMessageId: string = newClientMessageId()) => {
    stickToBottom.current = true;
    dispatch({ type: 'sending', clientMessageId, content, createdAt: new Date().toISOString() });
    const input = currentSession === null ? { content, clientMessageId } : { content, clientMessageId, sessionId: currentSession };
    api.request(SendMessageMutation, { input }).then(
      (data) => {
        dispatch({ type: 'sent', clientMessageId, message: data.sendMessage.message });
        onSession(data.sendMessage.session, currentSession === null);
      },
      (e: unknown) => dispatch({ type: 'sendFailed', clientMessageId, error: toApiError(e).message }),
    );
  };

  const retry = (message: ChatMessage) => {
    if (message.outgoing) send(message.content, message.outgoing.clientMessageId);
  };

  // Follow the conversation as it grows, unless the user scrolled up to read.
  const onScroll = () => {
    const list = listRef.current;
    if (list === null) return;
    stickToBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  };
  const pending = awaitingReply(state);
  const streamingText = pending === undefined ? undefined : state.streaming[pending.id];
  useLayoutEffect(() => {
    const list = listRef.current;
    if (list !== null && stickToBottom.current) list.scrollTop = list.scrollHeight;
  }, [state.messages, streamingText, pending]);

  const notFound = error?.code === 'NOT_FOUND';
  const heading = currentSession === null ? 'New conversation' : (title ?? 'Conversation');

  return (
    <section className="conversation" aria-labelledby="conversation-title">
      <div className="screen-header">
        <button type="button" className="back" onClick={onBack} aria-label="Back to conversations">
          <span aria-hidden="true">‹</span>
        </button>
        <h1 id="conversation-title" className="screen-title">
          {heading}
        </h1>
      </div>

      <div className="messages" ref={listRef} onScroll={onScroll}>
        {state.earlierCursor !== null && (
          <button type="button" className="ghost small load-earlier" onClick={loadEarlier} disabled={loadingEarlier}>
            {loadingEarlier ? 'Loading…' : 'Show earlier messages'}
          </button>
        )}
        {error && !notFound && <ErrorNotice error={error} onRetry={load} />}
        {notFound && (
          <div className="empty">
            <p>This conversation does not exist, or is not yours.</p>
            <button type="button" className="primary" onClick={onBack}>
              Back to conversations
            </button>
          </div>
        )}
        {!notFound && state.loaded && state.messages.length === 0 && (
          <div className="empty">
            <p className="muted">Ask a question about your workplace, or ask Concierge to tell a colleague something.</p>
            <ul className="suggestions" aria-label="Suggestions">
              {SUGGESTIONS[session.tenant.kind].map((s) => (
                <li key={s}>
                  <button type="button" className="suggestion" onClick={() => send(s)}>
                    {s}
                  </button>
                </li>
              ))}
            </ul>
          </div>
        )}
        {!state.loaded && !error && <p className="muted center">Loading…</p>}
        <ol className="message-list" role="log" aria-label="Messages" aria-live="polite">
          {state.messages.map((message) => (
            <MessageBubble key={message.id} message={message} onRetry={retry} />
          ))}
          {pending !== undefined && streamingText !== undefined && (
            <li className="message message-agent streaming" aria-busy="true" data-testid="streaming-reply">
              <div className="bubble">
                {streamingText}
                <span className="cursor" aria-hidden="true" />
              </div>
            </li>
          )}
          {pending !== undefined && streamingText === undefined && (
            <li className="message message-agent" data-testid="typing-indicator">
              <div className="bubble typing" role="status" aria-label="Concierge is typing">
                <span />
                <span />
                <span />
              </div>
            </li>
          )}
        </ol>
      </div>

      {!notFound && <Composer onSend={(content) => send(content)} autoFocus />}
    </section>
  );
}
