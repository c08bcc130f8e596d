// What every screen of a signed-in user shares, through React context: the API client, the signed-in
// session, the tenant's people (to name the targets of actions), and the hub that fans out the
// conversation events of the one `conversationEvents` subscription.
import { createContext, useContext } from 'react';

import type { Api } from '../api/client';
import type { AuthSession } from '../auth/session';
import type { ConversationEvent } from '../chat/conversation';
import type { UserFieldsFragment } from '../gql/graphql';

/** Listeners for conversation events; the shell feeds it from one subscription. */
export interface ConversationEventHub {
  publish: (event: ConversationEvent) => void;
  /** Calls `listener` with every event; returns the unsubscribe. */
  listen: (listener: (event: ConversationEvent) => void) => () => void;
  /** Calls `listener` after the live connection came back (events may have been missed). */
  onResync: (listener: () => void) => () => void;
  /** Tells the `onResync` listeners to refetch. */
  resync: () => void;
}

/** A hub with no listeners yet. */
export function createConversationEventHub(): ConversationEventHub {
  const listeners = new Set<(event: ConversationEvent) => void>();
  const resyncListeners = new Set<() => void>();
  return {
    publish: (event) => {
      for (const listener of listeners) listener(event);
    },
    listen: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onResync: (listener) => {
      resyncListeners.add(listener);
      return () => resyncListeners.delete(listener);
    },
    resync: () => {
      for (const listener of resyncListeners) listener();
    },
  };
}

/** Everything a signed-in screen may use. */
export interface SignedIn {
  api: Api;
  session: AuthSession;
  /** The tenant's users by id (empty until loaded). */
  people: ReadonlyMap<string, UserFieldsFragment>;
  events: ConversationEventHub;
}

/** Provided by the shell. */
export const SignedInContext = createContext<SignedIn | null>(null);

/** The signed-in context. Throws when used outside the shell (a programming error). */
export function useSignedIn(): SignedIn {
  const value = useContext(SignedInContext);
  if (value === null) throw new Error('useSignedIn must be used inside <Shell>');
  return value;
}
