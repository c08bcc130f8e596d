// The signed-in app: a header that always names the tenant and the user (name and title), a
// banner while the live connection is down, the current screen, a tab bar (Chat, Inbox with the
// unread badge), and a toast when a notification arrives on another screen.
//
// The shell owns what must outlive a screen: the inbox (so the badge is live everywhere), the
// tenant's people, and the one `conversationEvents` subscription whose events it fans out to the
// open conversation through the event hub.
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';

import type { Api, ConnectionState } from '../api/client';
import { ColleaguesQuery, ConversationEventsSubscription } from '../api/operations';
import type { AuthSession } from '../auth/session';
import { ChatScreen } from '../chat/ChatScreen';
import type { UserFieldsFragment } from '../gql/graphql';
import type { InboxItem } from '../inbox/inbox';
import { InboxScreen } from '../inbox/InboxScreen';
import { InboxContext, useInbox } from '../inbox/useInbox';
import { Avatar } from '../ui/Avatar';
import { createConversationEventHub, SignedInContext, type SignedIn } from './context';
import { navigate, type Route } from './route';

interface Props {
  api: Api;
  session: AuthSession;
  route: Route;
  onSignOut: () => void;
}

function subscribeOnline(onChange: () => void): () => void {
  window.addEventListener('online', onChange);
  window.addEventListener('offline', onChange);
  return () => {
    window.removeEventListener('online', onChange);
    window.removeEventListener('offline', onChange);
  };
}

/** The live connection state, taking the browser's own offline flag into account. */
function useConnection(api: Api): ConnectionState {
  const browserOnline = useSyncExternalStore(subscribeOnline, () => navigator.onLine);
  const state = useSyncExternalStore(
    useCallback((onChange: () => void) => api.onConnectionChange(onChange), [api]),
    () => api.connectionState(),
  );
  return browserOnline ? state : 'offline';
}

/** How long a "new notification" toast stays up: long enough to read one sentence. */
const TOAST_MS = 6000;

/** The signed-in app. */
export function Shell({ api, session, route, onSignOut }: Props) {
  const [toast, setToast] = useState<InboxItem | null>(null);
  const routeRef = useRef(route);
  useEffect(() => {
    routeRef.current = route;
  }, [route]);

  const onArrival = useCallback((item: InboxItem) => {
    if (routeRef.current.name !== 'inbox') setToast(item);
  }, []);
  const inbox = useInbox(api, onArrival);
  const connection = useConnection(api);

  useEffect(() => {
    if (toast === null) return;
    const timer = setTimeout(() => setToast(null), TOAST_MS);
    return () => clearTimeout(timer);
  }, [toast]);

  const [people, setPeople] = useState<ReadonlyMap<string, UserFieldsFragment>>(new Map());
  useEffect(() => {
    let live = true;
    const load = () => {
      api.request(ColleaguesQuery, {}).then(
        (data) => {
          if (live) setPeople(new Map(data.colleagues.map((u) => [u.id, u])));
        },
        () => undefined, // Names of action targets fall back to "a colleague"; not worth an alert.
      );
    };
    load();
    const stop = api.onReconnect(load);
    return () => {
      live = false;
      stop();
    };
  }, [api]);

  const events = useMemo(() => createConversationEventHub(), []);
  useEffect(() => {
    const stopReconnect = api.onReconnect(events.resync);
    const stop = api.subscribe(ConversationEventsSubscription, {}, {
      next: (data) => events.publish(data.conversationEvents),
      error: () => events.resync(),
    });
    return () => {
      stopReconnect();
      stop();
    };
  }, [api, events]);

  // A phone may have suspended the tab and its socket: catch up when it is shown again.
  const { refresh: refreshInbox } = inbox;
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      refreshInbox();
      events.resync();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [refreshInbox, events]);

  const signedIn: SignedIn = useMemo(() => ({ api, session, people, events }), [api, session, people, events]);
  const unread = inbox.state.unread;
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Concierge` : 'Concierge';
    return () => {
      document.title = 'Concierge';
    };
  }, [unread]);
  const onChat = route.name === 'sessions' || route.name === 'conversation';
  const { user, tenant } = session;

  return (
    <SignedInContext.Provider value={signedIn}>
      <InboxContext.Provider value={inbox}>
        <div className="shell">
          <header className="app-header">
            <div className="identity">
              <Avatar name={user.name} />
              <div className="identity-text">
                <span className="tenant-name" data-testid="tenant-name">
                  {tenant.name}
                </span>
                <span className="user-name" data-testid="user-name">
                  {user.name}
                </span>
                {user.title && (
                  <span className="user-title" data-testid="user-title">
                    {user.title}
                  </span>
                )}
              </div>
            </div>
            <button type="button" className="ghost small" onClick={onSignOut}>
              Sign out
            </button>
          </header>

          {connection !== 'online' && (
            <div className={`connection connection-${connection}`} role="status" data-testid="connection-banner">
              {connection === 'offline'
                ? 'You are offline. Reconnecting…'
                : 'Connecting to live updates…'}
            </div>
          )}

          <div className="screen">
            {onChat ? <ChatScreen route={route} /> : <InboxScreen />}
          </div>

          {toast !== null && (
            <div className="toast" role="status" aria-live="polite">
              <button
                type="button"
                className="toast-body"
                onClick={() => {
                  setToast(null);
                  navigate({ name: 'inbox' });
                }}
              >
                <strong>{toast.from?.name ?? 'Concierge'}</strong>
                <span>{toast.message}</span>
              </button>
              <button
                type="button"
                className="toast-close"
                aria-label="Dismiss notification"
                onClick={() => setToast(null)}
              >
                ×
              </button>
            </div>
          )}

          <nav className="tab-bar" aria-label="Main">
            <a
              href="/chat"
              className={onChat ? 'tab active' : 'tab'}
              aria-current={onChat ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: 'sessions' });
              }}
            >
              <svg viewBox="0 0 24 24" aria-hidden="true" className="tab-icon">
                <path d="M4 5h16v10H8l-4 4z" fill="none" stroke="currentColor" strokeWidth="2" strokeLinejoin="round" />
              </svg>
              Chat
            </a>
            <a
              href="/inbox"
              className={route.name === 'inbox' ? 'tab active' : 'tab'}
              aria-current={route.name === 'inbox' ? 'page' : undefined}
              aria-label={unread > 0 ? `Inbox, ${unread} unread` : 'Inbox'}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: 'inbox' });
              }}
            >
              <span className="tab-icon-wrap">
                <svg viewBox="0 0 24 24" aria-hidden="true" className="tab-icon">
                  <path d="M6 10a6 6 0 0 1 12 0v4l2 3H4l2-3z M10 20a2 2 0 0 0 4 0" fill="none" stroke="currentColor" strokeWidth="2" strokeLinejoin="round" />
                </svg>
                {unread > 0 && (
                  <span className="badge" data-testid="unread-badge" aria-hidden="true">
                    {unread > 99 ? '99+' : unread}
                  </span>
                )}
              </span>
              Inbox
            </a>
          </nav>
        </div>
      </InboxContext.Provider>
    </SignedInContext.Provider>
  );
}
