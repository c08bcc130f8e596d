// The state of one open conversation, as a pure reducer: the messages the server returned, the
// user's messages still being sent, the agent's reply while it streams in, and the outcome of each
// event from `conversationEvents`. Kept free of React and I/O so every transition is unit-tested.
import type {
  ConversationEventsSubscription,
  MessageFieldsFragment,
  MessageStatus,
} from '../gql/graphql';

/** One event of the `conversationEvents` subscription. */
export type ConversationEvent = ConversationEventsSubscription['conversationEvents'];

/** A message as the conversation shows it. */
export interface ChatMessage extends MessageFieldsFragment {
  /** Set while a message the user wrote has not been accepted by the server yet. */
  outgoing?: {
    clientMessageId: string;
    /** `sending` until `sendMessage` answers; `unsent` when it failed (with `sendError`). */
    state: 'sending' | 'unsent';
    sendError?: string;
  };
}

/** Everything the conversation screen renders. */
export interface ConversationState {
  sessionId: string | null;
  messages: ChatMessage[];
  /** Streamed reply text so far, by the id of the user message it answers. */
  streaming: Record<string, string>;
  /** Cursor for older messages, when there are any. */
  earlierCursor: string | null;
  loaded: boolean;
  /**
   * Events that arrived before the message they are about: the agent can answer before
   * `sendMessage` has returned the stored message's id (or, for a new conversation, its session).
   * They are applied once the message is known.
   */
  early: ConversationEvent[];
}

/** At most this many early events are kept: more would mean they are not about this screen. */
const MAX_EARLY_EVENTS = 200;

/** What can happen to a conversation. */
export type ConversationAction =
  | {
      type: 'loaded';
      messages: MessageFieldsFragment[];
      earlierCursor: string | null;
    }
  | { type: 'earlierLoaded'; messages: MessageFieldsFragment[]; earlierCursor: string | null }
  | { type: 'sending'; clientMessageId: string; content: string; createdAt: string }
  | { type: 'sent'; clientMessageId: string; message: MessageFieldsFragment }
  | { type: 'sendFailed'; clientMessageId: string; error: string }
  | { type: 'event'; event: ConversationEvent };

/** A conversation before anything is loaded (`sessionId` null for a new one). */
export function initialConversation(sessionId: string | null): ConversationState {
  return {
    sessionId,
    messages: [],
    streaming: {},
    earlierCursor: null,
    loaded: sessionId === null,
    early: [],
  };
}

/** The local id of a message that is still being sent. */
export function outgoingId(clientMessageId: string): string {
  return `outgoing:${clientMessageId}`;
}

/** `record` without `key`. */
function without(record: Record<string, string>, key: string): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => k !== key));
}

function upsert(messages: ChatMessage[], message: MessageFieldsFragment): ChatMessage[] {
  const index = messages.findIndex((m) => m.id === message.id);
  if (index === -1) return [...messages, message];
  const copy = messages.slice();
  copy[index] = message;
  return copy;
}

function withStatus(
  messages: ChatMessage[],
  id: string,
  status: MessageStatus,
  error: string | null = null,
): ChatMessage[] {
  return messages.map((m) =>
    m.id === id ? { ...m, status, error: status === 'FAILED' ? error ?? m.error : m.error } : m,
  );
}

/** A user message that is still waiting for the agent. */
export function isPending(message: ChatMessage): boolean {
  return message.role === 'USER' && (message.status === 'QUEUED' || message.status === 'PROCESSING');
}

/** The id of the user message an event is about. */
function subjectOf(event: ConversationEvent): string {
  return event.__typename === 'AgentReply' || event.__typename === 'AgentReplyDelta'
    ? event.replyTo
    : event.messageId;
}

function sending(state: ConversationState): boolean {
  return state.messages.some((m) => m.outgoing?.state === 'sending');
}

function applyEvent(state: ConversationState, event: ConversationEvent): ConversationState {
  const mine = state.sessionId === null ? sending(state) : event.sessionId === state.sessionId;
  if (!mine) return state;
  const known = state.messages.some((m) => m.id === subjectOf(event));
  if (state.sessionId === null || (!known && sending(state))) {
    return { ...state, early: [...state.early, event].slice(-MAX_EARLY_EVENTS) };
  }
  switch (event.__typename) {
    case 'MessageStatusChanged': {
      // Never move a message back: a late PROCESSING must not undo an ANSWERED.
      const current = state.messages.find((m) => m.id === event.messageId);
      if (current !== undefined && !isPending(current) && current.role === 'USER') return state;
      return { ...state, messages: withStatus(state.messages, event.messageId, event.status) };
    }
    case 'AgentReplyDelta': {
      const answered = state.messages.some(
        (m) => m.role === 'ASSISTANT' && m.replyToId === event.replyTo,
      );
      if (answered) return state;
      const streaming = {
        ...state.streaming,
        [event.replyTo]: (state.streaming[event.replyTo] ?? '') + event.delta,
      };
      const messages = state.messages.map((m) =>
        m.id === event.replyTo && m.status === 'QUEUED' ? { ...m, status: 'PROCESSING' as const } : m,
      );
      return { ...state, streaming, messages };
    }
    case 'AgentReply': {
      const streaming = without(state.streaming, event.replyTo);
      const messages = withStatus(
        upsert(state.messages, event.message),
        event.replyTo,
        'ANSWERED',
      );
      return { ...state, streaming, messages };
    }
    case 'MessageFailed': {
      const streaming = without(state.streaming, event.messageId);
      return {
        ...state,
        streaming,
        messages: withStatus(state.messages, event.messageId, 'FAILED', event.error),
      };
    }
  }
}

/** Applies the early events whose message is now known; keeps the rest while sends are open. */
function replayEarly(state: ConversationState): ConversationState {
  if (state.early.length === 0 || state.sessionId === null) return state;
  let next: ConversationState = { ...state, early: [] };
  const waiting: ConversationEvent[] = [];
  for (const event of state.early) {
    if (event.sessionId !== next.sessionId) continue;
    if (next.messages.some((m) => m.id === subjectOf(event))) next = applyEvent(next, event);
    else waiting.push(event);
  }
  return { ...next, early: sending(next) ? [...next.early, ...waiting] : next.early };
}

/** Applies one action. */
export function conversationReducer(
  state: ConversationState,
  action: ConversationAction,
): ConversationState {
  switch (action.type) {
    case 'loaded': {
      // The server's list wins, except where it is older than what live events already showed:
      // the query may have read before a reply that arrived over the WebSocket ahead of its
      // answer. Such newer messages, and messages still on their way to the server, stay at the
      // end, and a message's status never moves back.
      const listed = new Set(action.messages.map((m) => m.id));
      const newest = action.messages.at(-1)?.createdAt ?? '';
      const live = state.messages.filter(
        (m) => m.outgoing === undefined && !listed.has(m.id) && m.createdAt > newest,
      );
      const outgoing = state.messages.filter((m) => m.outgoing !== undefined && !listed.has(m.id));
      const fromServer = action.messages.map((m) => {
        const shown = state.messages.find((s) => s.id === m.id);
        return shown !== undefined && isPending(m) && !isPending(shown)
          ? { ...m, status: shown.status, error: shown.error }
          : m;
      });
      const messages = [...fromServer, ...live, ...outgoing];
      const streaming: Record<string, string> = {};
      for (const [replyTo, text] of Object.entries(state.streaming)) {
        const answered = messages.some((m) => m.role === 'ASSISTANT' && m.replyToId === replyTo);
        if (!answered) streaming[replyTo] = text;
      }
      return replayEarly({
        ...state,
        messages,
        earlierCursor: action.earlierCursor,
        streaming,
        loaded: true,
      });
    }
    case 'earlierLoaded': {
      const known = new Set(state.messages.map((m) => m.id));
      const older = action.messages.filter((m) => !known.has(m.id));
      return { ...state, messages: [...older, ...state.messages], earlierCursor: action.earlierCursor };
    }
    case 'sending': {
      const id = outgoingId(action.clientMessageId);
      const existing = state.messages.find((m) => m.id === id);
      if (existing !== undefined) {
        return {
          ...state,
          messages: state.messages.map((m) =>
            m.id === id ? { ...m, outgoing: { clientMessageId: action.clientMessageId, state: 'sending' } } : m,
          ),
        };
      }
      const message: ChatMessage = {
        id,
        sessionId: state.sessionId ?? '',
        role: 'USER',
        content: action.content,
        status: 'QUEUED',
        replyToId: null,
        provider: null,
        error: null,
        createdAt: action.createdAt,
        actions: [],
        sources: [],
        outgoing: { clientMessageId: action.clientMessageId, state: 'sending' },
      };
      return { ...state, messages: [...state.messages, message] };
    }
    case 'sent': {
      const id = outgoingId(action.clientMessageId);
      const sessionId = state.sessionId ?? action.message.sessionId;
      const already = state.messages.find((m) => m.id === action.message.id);
      const messages = already
        ? state.messages.filter((m) => m.id !== id)
        : state.messages.map((m) => (m.id === id ? { ...action.message } : m));
      return replayEarly({ ...state, sessionId, messages });
    }
    case 'sendFailed': {
      const id = outgoingId(action.clientMessageId);
      return {
        ...state,
        messages: state.messages.map((m) =>
          m.id === id
            ? {
                ...m,
                outgoing: { clientMessageId: action.clientMessageId, state: 'unsent', sendError: action.error },
              }
            : m,
        ),
      };
    }
    case 'event':
      return applyEvent(state, action.event);
  }
}

/** The user message the agent is working on right now (typing indicator or streaming), if any. */
export function awaitingReply(state: ConversationState): ChatMessage | undefined {
  return state.messages.find((m) => isPending(m) && m.outgoing?.state !== 'unsent');
}
