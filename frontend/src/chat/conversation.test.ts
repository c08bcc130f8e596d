import { describe, expect, test } from 'vitest';

import { agentReply, userMessage } from '../test/fixtures';
import {
  awaitingReply,
  conversationReducer,
  initialConversation,
  outgoingId,
  type ConversationAction,
  type ConversationState,
} from './conversation';

function apply(state: ConversationState, ...actions: ConversationAction[]): ConversationState {
  return actions.reduce(conversationReducer, state);
}

const loaded = (messages = [userMessage('m-0', 'Hello', { status: 'ANSWERED' })]): ConversationState =>
  apply(initialConversation('s-1'), { type: 'loaded', messages, earlierCursor: null });

describe('conversation', () => {
  test('a sent message shows at once, then becomes the stored message', () => {
    let state = apply(loaded(), { type: 'sending', clientMessageId: 'c-1', content: 'Tell Luca', createdAt: 'now' });
    expect(state.messages.at(-1)).toMatchObject({ id: outgoingId('c-1'), content: 'Tell Luca', outgoing: { state: 'sending' } });
    expect(awaitingReply(state)?.id).toBe(outgoingId('c-1'));

    state = apply(state, { type: 'sent', clientMessageId: 'c-1', message: userMessage('m-1', 'Tell Luca') });
    expect(state.messages.map((m) => m.id)).toEqual(['m-0', 'm-1']);
    expect(state.messages.at(-1)?.outgoing).toBeUndefined();
    expect(awaitingReply(state)?.id).toBe('m-1');
  });

  test('a reply that arrived before the answer of an older query stays, and so does its status', () => {
    // The new conversation's first send: the query for the session reads before the agent's
    // commit, the reply reaches the WebSocket first, then the query's answer comes.
    let state = apply(
      initialConversation(null),
      { type: 'sending', clientMessageId: 'c-1', content: 'When do we open?', createdAt: 'now' },
      { type: 'sent', clientMessageId: 'c-1', message: userMessage('m-1', 'When do we open?') },
      {
        type: 'event',
        event: { __typename: 'AgentReply', sessionId: 's-1', replyTo: 'm-1', message: agentReply('a-1', 'm-1', 'At 12:00.') },
      },
    );
    state = apply(state, { type: 'loaded', messages: [userMessage('m-1', 'When do we open?')], earlierCursor: null });
    expect(state.messages.map((m) => [m.id, m.status])).toEqual([
      ['m-1', 'ANSWERED'],
      ['a-1', 'COMPLETE'],
    ]);
    expect(awaitingReply(state)).toBeUndefined();
  });

  test('a failed send keeps the text and says why', () => {
    const state = apply(
      loaded(),
      { type: 'sending', clientMessageId: 'c-1', content: 'Hi', createdAt: 'now' },
      { type: 'sendFailed', clientMessageId: 'c-1', error: 'Too many requests' },
    );
    expect(state.messages.at(-1)).toMatchObject({ content: 'Hi', outgoing: { state: 'unsent', sendError: 'Too many requests' } });
    expect(awaitingReply(state)).toBeUndefined();
  });

  test('streamed text accumulates in order and the final reply replaces it', () => {
    let state = apply(loaded([userMessage('m-1', 'Q')]), {
      type: 'event',
      event: { __typename: 'MessageStatusChanged', sessionId: 's-1', messageId: 'm-1', status: 'PROCESSING' },
    });
    expect(state.messages[0]?.status).toBe('PROCESSING');
    state = apply(
      state,
      { type: 'event', event: { __typename: 'AgentReplyDelta', sessionId: 's-1', replyTo: 'm-1', delta: 'We open ' } },
      { type: 'event', event: { __typename: 'AgentReplyDelta', sessionId: 's-1', replyTo: 'm-1', delta: 'at 12:00.' } },
    );
    expect(state.streaming['m-1']).toBe('We open at 12:00.');

    state = apply(state, {
      type: 'event',
      event: { __typename: 'AgentReply', sessionId: 's-1', replyTo: 'm-1', message: agentReply('a-1', 'm-1', 'We open at 12:00.') },
    });
    expect(state.streaming).toEqual({});
    expect(state.messages.map((m) => [m.id, m.status])).toEqual([
      ['m-1', 'ANSWERED'],
      ['a-1', 'COMPLETE'],
    ]);
    expect(awaitingReply(state)).toBeUndefined();
  });

  test('a failure marks the message with its reason', () => {
    const state = apply(loaded([userMessage('m-1', 'Q', { status: 'PROCESSING' })]), {
      type: 'event',
      event: { __typename: 'MessageFailed', sessionId: 's-1', messageId: 'm-1', error: 'The model is unavailable' },
    });
    expect(state.messages[0]).toMatchObject({ status: 'FAILED', error: 'The model is unavailable' });
    expect(awaitingReply(state)).toBeUndefined();
  });

  test('events of other sessions are ignored', () => {
    const before = loaded([userMessage('m-1', 'Q')]);
    const after = apply(before, {
      type: 'event',
      event: { __typename: 'MessageStatusChanged', sessionId: 's-2', messageId: 'm-1', status: 'FAILED' },
    });
    expect(after).toBe(before);
  });

  test('a late status change does not undo an answer', () => {
    const state = apply(loaded([userMessage('m-1', 'Q', { status: 'ANSWERED' })]), {
      type: 'event',
      event: { __typename: 'MessageStatusChanged', sessionId: 's-1', messageId: 'm-1', status: 'PROCESSING' },
    });
    expect(state.messages[0]?.status).toBe('ANSWERED');
  });

  test('a reply that arrives before sendMessage returns is applied once the message is known', () => {
    let state = apply(loaded([]), { type: 'sending', clientMessageId: 'c-1', content: 'Q', createdAt: 'now' });
    state = apply(state, {
      type: 'event',
      event: { __typename: 'AgentReply', sessionId: 's-1', replyTo: 'm-9', message: agentReply('a-9', 'm-9', 'A') },
    });
    expect(state.messages.some((m) => m.id === 'a-9')).toBe(false);

    state = apply(state, { type: 'sent', clientMessageId: 'c-1', message: userMessage('m-9', 'Q') });
    expect(state.messages.map((m) => [m.id, m.status])).toEqual([
      ['m-9', 'ANSWERED'],
      ['a-9', 'COMPLETE'],
    ]);
    expect(state.early).toEqual([]);
    expect(awaitingReply(state)).toBeUndefined();
  });

  test('a new conversation takes its session from the first send and keeps its early events', () => {
    let state = apply(initialConversation(null), { type: 'sending', clientMessageId: 'c-1', content: 'Q', createdAt: 'now' });
    state = apply(
      state,
      { type: 'event', event: { __typename: 'MessageStatusChanged', sessionId: 's-new', messageId: 'm-1', status: 'PROCESSING' } },
      { type: 'event', event: { __typename: 'AgentReplyDelta', sessionId: 's-new', replyTo: 'm-1', delta: 'Hel' } },
      { type: 'event', event: { __typename: 'AgentReplyDelta', sessionId: 's-other', replyTo: 'x', delta: 'nope' } },
    );
    state = apply(state, {
      type: 'sent',
      clientMessageId: 'c-1',
      message: userMessage('m-1', 'Q', { sessionId: 's-new' }),
    });
    expect(state.sessionId).toBe('s-new');
    expect(state.messages[0]).toMatchObject({ id: 'm-1', status: 'PROCESSING' });
    expect(state.streaming).toEqual({ 'm-1': 'Hel' });
  });

  test('a refetch keeps messages still being sent and older pages prepend', () => {
    let state = apply(loaded([userMessage('m-5', 'five')]), { type: 'sending', clientMessageId: 'c-1', content: 'six', createdAt: 'now' });
    state = apply(state, { type: 'loaded', messages: [userMessage('m-5', 'five')], earlierCursor: 'cur' });
    expect(state.messages.map((m) => m.id)).toEqual(['m-5', outgoingId('c-1')]);
    expect(state.earlierCursor).toBe('cur');

    state = apply(state, { type: 'earlierLoaded', messages: [userMessage('m-4', 'four'), userMessage('m-5', 'five')], earlierCursor: null });
    expect(state.messages.map((m) => m.id)).toEqual(['m-4', 'm-5', outgoingId('c-1')]);
    expect(state.earlierCursor).toBeNull();
  });
});
