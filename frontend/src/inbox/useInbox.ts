// The signed-in user's inbox, live: loads the first page and the unread count, adds notifications
// as the `notifications` subscription delivers them, refetches after a reconnect (anything sent
// while the socket was down), pages on demand, and marks read optimistically (undone on error).
import { createContext, useCallback, useContext, useEffect, useReducer, useRef, useState } from 'react';

import type { Api } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import {
  InboxQuery,
  MarkAllNotificationsReadMutation,
  MarkNotificationReadMutation,
  NotificationsSubscription,
} from '../api/operations';
import { EMPTY_INBOX, inboxReducer, type InboxItem, type InboxState } from './inbox';

/** Notifications per page: enough to fill a tall phone screen twice. */
export const PAGE_SIZE = 20;

/** The inbox and what can be done with it. */
export interface Inbox {
  state: InboxState;
  error: ApiError | null;
  loadingMore: boolean;
  loadMore: () => void;
  markRead: (id: string) => void;
  markAllRead: () => void;
  refresh: () => void;
  dismissError: () => void;
}

/** Provided by the shell. */
export const InboxContext = createContext<Inbox | null>(null);

/** The inbox of the signed-in user. Throws outside the shell (a programming error). */
export function useInboxContext(): Inbox {
  const inbox = useContext(InboxContext);
  if (inbox === null) throw new Error('useInboxContext must be used inside <Shell>');
  return inbox;
}

/** Keeps the inbox of the user `api` is signed in as; `onArrival` sees each live notification. */
export function useInbox(api: Api, onArrival?: (item: InboxItem) => void): Inbox {
  const [state, dispatch] = useReducer(inboxReducer, EMPTY_INBOX);
  const [error, setError] = useState<ApiError | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const arrivalRef = useRef(onArrival);
  useEffect(() => {
    arrivalRef.current = onArrival;
  }, [onArrival]);

  const refresh = useCallback(() => {
    api.request(InboxQuery, { first: PAGE_SIZE }).then(
      (data) => {
        dispatch({
          type: 'firstPage',
          items: data.notifications.nodes,
          cursor: data.notifications.pageInfo.endCursor,
          hasMore: data.notifications.pageInfo.hasNextPage,
          unread: data.unreadNotificationCount,
        });
        setError(null);
      },
      (e: unknown) => setError(toApiError(e)),
    );
  }, [api]);

  useEffect(() => {
    refresh();
    const stopReconnect = api.onReconnect(refresh);
    const stopSubscription = api.subscribe(NotificationsSubscription, {}, {
      next: (data) => {
        dispatch({ type: 'arrived', item: data.notifications });
        arrivalRef.current?.(data.notifications);
      },
      error: (e) => setError(e),
    });
    return () => {
      stopReconnect();
      stopSubscription();
    };
  }, [api, refresh]);

  const loadMore = useCallback(() => {
    const { cursor, hasMore } = state;
    if (!hasMore || cursor === null || loadingMore) return;
    setLoadingMore(true);
    api.request(InboxQuery, { first: PAGE_SIZE, after: cursor }).then(
      (data) => {
        dispatch({
          type: 'nextPage',
          items: data.notifications.nodes,
          cursor: data.notifications.pageInfo.endCursor,
          hasMore: data.notifications.pageInfo.hasNextPage,
        });
        setLoadingMore(false);
      },
      (e: unknown) => {
        setError(toApiError(e));
        setLoadingMore(false);
      },
    );
  }, [api, state, loadingMore]);

  const markRead = useCallback(
    (id: string) => {
      dispatch({ type: 'markedRead', id });
      api.request(MarkNotificationReadMutation, { id }).catch((e: unknown) => {
        dispatch({ type: 'markReadFailed', id });
        setError(toApiError(e));
      });
    },
    [api],
  );

  const markAllRead = useCallback(() => {
    dispatch({ type: 'allRead' });
    api.request(MarkAllNotificationsReadMutation, {}).catch((e: unknown) => {
      setError(toApiError(e));
      refresh(); // The server knows which ones are still unread.
    });
  }, [api, refresh]);

  const dismissError = useCallback(() => setError(null), []);

  return { state, error, loadingMore, loadMore, markRead, markAllRead, refresh, dismissError };
}
