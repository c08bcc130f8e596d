import { describe, expect, test } from 'vitest';

import { notification } from '../test/fixtures';
import { EMPTY_INBOX, inboxReducer, type InboxAction, type InboxState } from './inbox';

function apply(state: InboxState, ...actions: InboxAction[]): InboxState {
  return actions.reduce(inboxReducer, state);
}

const at = (minute: number) => `2026-11-24T10:${String(minute).padStart(2, '0')}:00Z`;

describe('inbox', () => {
  test('a live notification goes on top and raises the unread count once', () => {
    const first = notification('n-1', 'old', { createdAt: at(1), read: true });
    let state = apply(EMPTY_INBOX, { type: 'firstPage', items: [first], cursor: 'c1', hasMore: false, unread: 0 });
    const live = notification('n-2', 'Table 5 has a nut allergy', { createdAt: at(2) });
    state = apply(state, { type: 'arrived', item: live }, { type: 'arrived', item: live });
    expect(state.items.map((i) => i.id)).toEqual(['n-2', 'n-1']);
    expect(state.unread).toBe(1);
  });

  test('marking one read lowers the count; a failure restores it', () => {
    let state = apply(EMPTY_INBOX, {
      type: 'firstPage',
      items: [notification('n-1', 'a', { createdAt: at(1) }), notification('n-2', 'b', { createdAt: at(2) })],
      cursor: null,
      hasMore: false,
      unread: 2,
    });
    state = apply(state, { type: 'markedRead', id: 'n-1' }, { type: 'markedRead', id: 'n-1' });
    expect(state.unread).toBe(1);
    expect(state.items.find((i) => i.id === 'n-1')?.read).toBe(true);
    state = apply(state, { type: 'markReadFailed', id: 'n-1' });
    expect(state.unread).toBe(2);
    state = apply(state, { type: 'allRead' });
    expect(state.unread).toBe(0);
    expect(state.items.every((i) => i.read)).toBe(true);
  });

  test('pages append older items, and a refetch of the first page keeps them', () => {
    const n3 = notification('n-3', 'c', { createdAt: at(3) });
    const page1 = [n3, notification('n-2', 'b', { createdAt: at(2) })];
    const page2 = [notification('n-1', 'a', { createdAt: at(1) })];
    let state = apply(
      EMPTY_INBOX,
      { type: 'firstPage', items: page1, cursor: 'c2', hasMore: true, unread: 3 },
      { type: 'nextPage', items: page2, cursor: null, hasMore: false },
    );
    expect(state.items.map((i) => i.id)).toEqual(['n-3', 'n-2', 'n-1']);
    expect(state.hasMore).toBe(false);

    // After a reconnect: one notification arrived meanwhile.
    const refetched = [notification('n-4', 'd', { createdAt: at(4) }), n3];
    state = apply(state, { type: 'firstPage', items: refetched, cursor: 'x', hasMore: true, unread: 4 });
    expect(state.items.map((i) => i.id)).toEqual(['n-4', 'n-3', 'n-2', 'n-1']);
    expect(state.unread).toBe(4);
    expect(state.hasMore).toBe(false);
  });
});
