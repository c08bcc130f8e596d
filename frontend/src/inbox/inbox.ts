// The inbox as a pure reducer: pages of notifications (newest first), live arrivals from the
// `notifications` subscription, the unread count, and marking read. The shell owns one inbox for
// the signed-in user, so the unread badge updates on every screen.
import type { NotificationFieldsFragment } from '../gql/graphql';

/** One notification as the inbox shows it. */
export type InboxItem = NotificationFieldsFragment;

/** The inbox state. */
export interface InboxState {
  items: InboxItem[];
  /** Where the next page starts (null when everything is loaded or nothing yet). */
  cursor: string | null;
  hasMore: boolean;
  unread: number;
  loaded: boolean;
}

/** What can happen to the inbox. */
export type InboxAction =
  | { type: 'firstPage'; items: InboxItem[]; cursor: string | null; hasMore: boolean; unread: number }
  | { type: 'nextPage'; items: InboxItem[]; cursor: string | null; hasMore: boolean }
  | { type: 'arrived'; item: InboxItem }
  | { type: 'markedRead'; id: string }
  | { type: 'markReadFailed'; id: string }
  | { type: 'allRead' };

/** Nothing loaded yet. */
export const EMPTY_INBOX: InboxState = { items: [], cursor: null, hasMore: false, unread: 0, loaded: false };

function newestFirst(a: InboxItem, b: InboxItem): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? 1 : -1;
}

/** `incoming` and `existing` without duplicates (incoming wins), newest first. */
function merge(existing: InboxItem[], incoming: InboxItem[]): InboxItem[] {
  const byId = new Map<string, InboxItem>();
  for (const item of existing) byId.set(item.id, item);
  for (const item of incoming) byId.set(item.id, item);
  return [...byId.values()].sort(newestFirst);
}

/** Applies one action. */
export function inboxReducer(state: InboxState, action: InboxAction): InboxState {
  switch (action.type) {
    case 'firstPage': {
      // A refetch (after a reconnect) must not forget the older pages already scrolled through.
      const keepOlder = state.loaded && state.items.length > action.items.length;
      return {
        items: keepOlder ? merge(state.items, action.items) : [...action.items].sort(newestFirst),
        cursor: keepOlder ? state.cursor : action.cursor,
        hasMore: keepOlder ? state.hasMore : action.hasMore,
        unread: action.unread,
        loaded: true,
      };
    }
    case 'nextPage':
      return {
        ...state,
        items: merge(state.items, action.items),
        cursor: action.cursor,
        hasMore: action.hasMore,
      };
    case 'arrived': {
      if (state.items.some((i) => i.id === action.item.id)) return state;
      return {
        ...state,
        items: merge(state.items, [action.item]),
        unread: state.unread + (action.item.read ? 0 : 1),
      };
    }
    case 'markedRead': {
      const item = state.items.find((i) => i.id === action.id);
      if (item === undefined || item.read) return state;
      return {
        ...state,
        items: state.items.map((i) => (i.id === action.id ? { ...i, read: true } : i)),
        unread: Math.max(0, state.unread - 1),
      };
    }
    case 'markReadFailed': {
      const item = state.items.find((i) => i.id === action.id);
      if (!item?.read) return state;
      return {
        ...state,
        items: state.items.map((i) => (i.id === action.id ? { ...i, read: false } : i)),
        unread: state.unread + 1,
      };
    }
    case 'allRead':
      return { ...state, items: state.items.map((i) => (i.read ? i : { ...i, read: true })), unread: 0 };
  }
}
