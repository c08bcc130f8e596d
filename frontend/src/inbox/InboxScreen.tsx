// The Inbox tab: notifications newest first, each with its sender, time and priority; unread ones
// stand out and can be marked read one by one or all at once. More load as the list scrolls to
// its end (and with a button, for keyboards and screen readers).
import { useEffect, useRef } from 'react';

import { Avatar } from '../ui/Avatar';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatAgo, formatFull } from '../ui/time';
import type { InboxItem } from './inbox';
import { useInboxContext } from './useInbox';

function Item({ item, onMarkRead }: { item: InboxItem; onMarkRead: (id: string) => void }) {
  const sender = item.from?.name ?? 'Concierge';
  const priority = item.priority.toLowerCase();
  return (
    <li className={item.read ? 'notification' : 'notification unread'} data-testid="notification">
      <Avatar name={sender} />
      <div className="notification-body">
        <div className="notification-head">
          <span className="notification-sender">{sender}</span>
          {item.from?.title && <span className="muted small"> · {item.from.title}</span>}
        </div>
        <p className="notification-text">{item.message}</p>
        <div className="notification-meta small">
          <time dateTime={item.createdAt} title={formatFull(item.createdAt)}>
            {formatAgo(item.createdAt)}
          </time>
          <span className={`priority priority-${priority}`}>{priority}</span>
          {!item.read && <span className="visually-hidden">Unread.</span>}
        </div>
      </div>
      {!item.read && (
        <button
          type="button"
          className="mark-read"
          onClick={() => onMarkRead(item.id)}
          aria-label={`Mark the notification from ${sender} as read`}
          title="Mark as read"
        >
          <span className="unread-dot" aria-hidden="true" />
        </button>
      )}
    </li>
  );
}

/** The inbox screen. */
export function InboxScreen() {
  const inbox = useInboxContext();
  const { state, error, loadingMore, loadMore, markRead, markAllRead, refresh, dismissError } = inbox;
  const sentinelRef = useRef<HTMLDivElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    headingRef.current?.focus({ preventScroll: true });
  }, []);

  // Infinite scroll: load the next page when the end of the list comes into view.
  useEffect(() => {
    const sentinel = sentinelRef.current;
    if (sentinel === null || !state.hasMore || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    });
    observer.observe(sentinel);
    return () => observer.disconnect();
  }, [state.hasMore, loadMore]);

  return (
    <section className="inbox" aria-labelledby="inbox-title">
      <div className="screen-header">
        <h1 id="inbox-title" className="screen-title" ref={headingRef} tabIndex={-1}>
          Inbox
          {state.unread > 0 && <span className="count" data-testid="inbox-unread-count"> {state.unread} unread</span>}
        </h1>
        <button type="button" className="ghost small" onClick={markAllRead} disabled={state.unread === 0}>
          Mark all read
        </button>
      </div>
      <div className="scroll">
        {error && (
          <ErrorNotice
            error={error}
            onRetry={() => {
              dismissError();
              refresh();
            }}
          />
        )}
        {!state.loaded && !error && <p className="muted center">Loading…</p>}
        {state.loaded && state.items.length === 0 && (
          <div className="empty">
            <p>No notifications yet.</p>
            <p className="muted">When a colleague asks Concierge to tell you something, it appears here at once.</p>
          </div>
        )}
        <ul className="notification-list" aria-label="Notifications">
          {state.items.map((item) => (
            <Item key={item.id} item={item} onMarkRead={markRead} />
          ))}
        </ul>
        {state.hasMore && (
          <div ref={sentinelRef} className="load-more">
            <button type="button" className="ghost small" onClick={loadMore} disabled={loadingMore}>
              {loadingMore ? 'Loading…' : 'Show older notifications'}
            </button>
          </div>
        )}
      </div>
    </section>
  );
}
