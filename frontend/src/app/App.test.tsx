import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, test, vi } from 'vitest';

import { ApiError } from '../api/errors';
import { saveSession } from '../auth/session';
import { FakeApi } from '../test/fakeApi';
import { agentReply, LUCA, MARIA, notification, sessionOf, userMessage } from '../test/fixtures';
import { App } from './App';
import { PRODUCTION_CONFIG } from './config';

const noConfig = () => Promise.resolve(PRODUCTION_CONFIG);

/** A fake API for a signed-in user with an empty inbox and no conversations. */
function signedInApi(): FakeApi {
  return new FakeApi()
    .on('Colleagues', () => ({ colleagues: [MARIA, LUCA] }))
    .on('Sessions', () => ({ sessions: { nodes: [], pageInfo: { hasNextPage: false, endCursor: null } } }))
    .on('Inbox', () => ({
      notifications: { nodes: [], pageInfo: { hasNextPage: false, endCursor: null }, totalCount: 0 },
      unreadNotificationCount: 0,
    }));
}

function start(api: FakeApi, path = '/chat') {
  window.history.replaceState(null, '', path);
  render(<App apiFactory={() => api} loadConfig={noConfig} />);
}

describe('the signed-in app', () => {
  test('always shows the tenant, the user and their title', async () => {
    saveSession(sessionOf(LUCA));
    start(signedInApi());
    expect(await screen.findByTestId('tenant-name')).toHaveTextContent('Trattoria Sole');
    expect(screen.getByTestId('user-name')).toHaveTextContent('Luca Bianchi');
    expect(screen.getByTestId('user-title')).toHaveTextContent('Head chef');
    expect(await screen.findByText('No conversations yet.')).toBeInTheDocument();
  });

  test('the unread badge rises live, and marking read clears it', async () => {
    saveSession(sessionOf(LUCA));
    const api = signedInApi().on('MarkNotificationRead', ({ id }) => ({ markNotificationRead: { id, read: true } }));
    start(api);
    await screen.findByText('No conversations yet.');
    expect(screen.queryByTestId('unread-badge')).toBeNull();

    act(() => api.emit('Notifications', { notifications: notification('n-1', 'Table 5 has a nut allergy') }));
    expect(screen.getByTestId('unread-badge')).toHaveTextContent('1');
    expect(screen.getByRole('link', { name: 'Inbox, 1 unread' })).toBeInTheDocument();
    expect(document.title).toBe('(1) Concierge');
    // A toast says who it is from while the user is elsewhere.
    expect(screen.getByText('Table 5 has a nut allergy')).toBeInTheDocument();

    await userEvent.click(screen.getByRole('link', { name: 'Inbox, 1 unread' }));
    const item = screen.getByTestId('notification');
    expect(item).toHaveTextContent('Maria Rossi');
    expect(item).toHaveTextContent('high');
    await userEvent.click(within(item).getByRole('button', { name: 'Mark the notification from Maria Rossi as read' }));
    expect(screen.queryByTestId('unread-badge')).toBeNull();
    expect(api.callsOf('MarkNotificationRead')).toEqual([{ id: 'n-1' }]);
  });

  test('mark all read clears every unread notification', async () => {
    saveSession(sessionOf(LUCA));
    const api = signedInApi()
      .on('Inbox', () => ({
        notifications: {
          nodes: [notification('n-2', 'b', { createdAt: '2026-11-24T10:02:00Z' }), notification('n-1', 'a')],
          pageInfo: { hasNextPage: false, endCursor: null },
          totalCount: 2,
        },
        unreadNotificationCount: 2,
      }))
      .on('MarkAllNotificationsRead', () => ({ markAllNotificationsRead: 2 }));
    start(api, '/inbox');
    expect(await screen.findByTestId('unread-badge')).toHaveTextContent('2');
    await userEvent.click(screen.getByRole('button', { name: 'Mark all read' }));
    expect(screen.queryByTestId('unread-badge')).toBeNull();
    expect(screen.queryAllByRole('button', { name: /^Mark the notification/ })).toHaveLength(0);
  });

  test('older notifications load at the end of the list', async () => {
    saveSession(sessionOf(LUCA));
    const api = signedInApi().on('Inbox', ({ after }) =>
      after === undefined
        ? {
            notifications: { nodes: [notification('n-2', 'newer', { createdAt: '2026-11-24T10:02:00Z' })], pageInfo: { hasNextPage: true, endCursor: 'c-1' }, totalCount: 2 },
            unreadNotificationCount: 2,
          }
        : {
            notifications: { nodes: [notification('n-1', 'older')], pageInfo: { hasNextPage: false, endCursor: null }, totalCount: 2 },
            unreadNotificationCount: 2,
          },
    );
    start(api, '/inbox');
    await userEvent.click(await screen.findByRole('button', { name: 'Show older notifications' }));
    expect(await screen.findByText('older')).toBeInTheDocument();
    expect(screen.getAllByTestId('notification').map((n) => n.querySelector('.notification-text')?.textContent)).toEqual(['newer', 'older']);
    expect(api.callsOf('Inbox')).toContainEqual({ first: 20, after: 'c-1' });
    expect(screen.queryByRole('button', { name: 'Show older notifications' })).toBeNull();
  });

  test('a refused token goes back to sign-in with a clear notice', async () => {
    saveSession(sessionOf(LUCA));
    let refused: (() => void) | undefined;
    window.history.replaceState(null, '', '/inbox');
    render(
      <App
        apiFactory={(options) => {
          refused = options.onUnauthenticated;
          return signedInApi();
        }}
        loadConfig={noConfig}
      />,
    );
    await screen.findByTestId('user-name');
    // The client calls this when the API answers UNAUTHENTICATED or closes the socket with 4403.
    act(() => refused?.());
    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Your session has expired. Please sign in again.');
    expect(window.location.pathname).toBe('/login');
    expect(window.sessionStorage.length).toBe(0);
  });

  test('the session ends when the token expires, even if the user does nothing', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    saveSession({ ...sessionOf(LUCA), expiresAt: new Date(Date.now() + 60_000).toISOString() });
    start(signedInApi());
    expect(screen.getByTestId('user-name')).toHaveTextContent('Luca Bianchi');
    act(() => {
      vi.advanceTimersByTime(60_001);
    });
    expect(screen.getByRole('button', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Your session has expired');
    vi.useRealTimers();
  });

  test('after a reconnect the inbox is fetched again', async () => {
    saveSession(sessionOf(LUCA));
    const api = signedInApi();
    start(api);
    await screen.findByText('No conversations yet.');
    const before = api.callsOf('Inbox').length;
    act(() => api.setConnection('offline'));
    expect(screen.getByRole('status')).toHaveTextContent('You are offline');
    act(() => api.setConnection('online'));
    expect(api.callsOf('Inbox').length).toBe(before + 1);
    expect(screen.queryByText(/You are offline/)).toBeNull();
  });
});

describe('a conversation', () => {
  test('shows the typing indicator, then the reply with its actions, sources and provider', async () => {
    saveSession(sessionOf(MARIA));
    const sent = userMessage('m-1', 'Tell Luca that table 5 has a nut allergy');
    const api = signedInApi().on('SendMessage', () => ({
      sendMessage: {
        message: sent,
        session: { id: 's-1', title: 'Tell Luca that table 5…', createdAt: sent.createdAt, lastMessageAt: sent.createdAt, messageCount: 1 },
      },
    }));
    start(api, '/chat/new');
    const box = await screen.findByRole('textbox', { name: 'Message' });
    expect(box).toHaveFocus();
    await userEvent.type(box, 'Tell Luca that table 5 has a nut allergy{Enter}');
    expect(api.callsOf('SendMessage')).toEqual([
      { input: { content: 'Tell Luca that table 5 has a nut allergy', clientMessageId: expect.any(String) as unknown } },
    ]);
    expect(await screen.findByTestId('typing-indicator')).toBeInTheDocument();
    expect(window.location.pathname).toBe('/chat/s-1');

    act(() =>
      api.emit('ConversationEvents', {
        conversationEvents: {
          __typename: 'AgentReply',
          sessionId: 's-1',
          replyTo: 'm-1',
          message: agentReply('a-1', 'm-1', 'Done: I told Luca about the nut allergy at table 5.', {
            actions: [
              { id: 'x', type: 'notify_user', status: 'EXECUTED', params: { user_id: LUCA.id, message: 'Table 5 has a nut allergy', priority: 'HIGH' }, error: null },
              { id: 'y', type: 'notify_user', status: 'REJECTED', params: { user_id: 'u-other', message: 'hi' }, error: 'That person is not on your team' },
            ],
            sources: [{ knowledgeId: 'k-1', title: 'Allergen rules', category: 'rules', score: 0.8 }],
          }),
        },
      }),
    );
    expect(screen.queryByTestId('typing-indicator')).toBeNull();
    const reply = screen.getByTestId('agent-message');
    expect(reply).toHaveTextContent('Done: I told Luca');
    const chips = within(reply).getAllByTestId('action-chip');
    expect(chips[0]).toHaveTextContent('Notified Luca Bianchi');
    expect(chips[0]).toHaveTextContent('Done');
    expect(chips[1]).toHaveTextContent('Rejected');
    expect(chips[1]).toHaveTextContent('That person is not on your team');
    expect(within(reply).getByRole('list', { name: 'Sources' })).toHaveTextContent('Allergen rules');
    expect(reply).toHaveTextContent('answered by offline');
  });

  test('streams the reply as it arrives', async () => {
    saveSession(sessionOf(MARIA));
    const api = signedInApi().on('Conversation', () => ({
      conversation: { nodes: [userMessage('m-1', 'When do we open on Sunday?', { status: 'PROCESSING' })], pageInfo: { hasPreviousPage: false, startCursor: null } },
    }));
    start(api, '/chat/s-1');
    await screen.findByTestId('typing-indicator');
    act(() => {
      api.emit('ConversationEvents', { conversationEvents: { __typename: 'AgentReplyDelta', sessionId: 's-1', replyTo: 'm-1', delta: 'Sunday: ' } });
      api.emit('ConversationEvents', { conversationEvents: { __typename: 'AgentReplyDelta', sessionId: 's-1', replyTo: 'm-1', delta: '12:00-16:00' } });
    });
    expect(screen.getByTestId('streaming-reply')).toHaveTextContent('Sunday: 12:00-16:00');
    expect(screen.queryByTestId('typing-indicator')).toBeNull();
  });

  test("another tenant's conversation reads as not found", async () => {
    saveSession(sessionOf(MARIA));
    const api = signedInApi().on('Conversation', () => {
      throw new ApiError('NOT_FOUND', 'Session not found');
    });
    start(api, '/chat/s-elsewhere');
    expect(await screen.findByText('This conversation does not exist, or is not yours.')).toBeInTheDocument();
  });
});
