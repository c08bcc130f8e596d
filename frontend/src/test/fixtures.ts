// Realistic data for component tests, shaped like the API's answers.
import type { AuthSession } from '../auth/session';
import type { MessageFieldsFragment, NotificationFieldsFragment, UserFieldsFragment } from '../gql/graphql';

export const MARIA: UserFieldsFragment = {
  id: 'u-maria',
  name: 'Maria Rossi',
  email: 'maria@sole.example',
  role: 'MANAGER',
  title: 'Owner and manager',
};

export const LUCA: UserFieldsFragment = {
  id: 'u-luca',
  name: 'Luca Bianchi',
  email: 'luca@sole.example',
  role: 'STAFF',
  title: 'Head chef',
};

/** A signed-in session that expires in an hour. */
export function sessionOf(user: UserFieldsFragment, tenantName = 'Trattoria Sole'): AuthSession {
  return {
    token: `token-${user.id}`,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    user,
    tenant: { id: 't-sole', name: tenantName, kind: 'RESTAURANT' },
  };
}

export function userMessage(id: string, content: string, overrides: Partial<MessageFieldsFragment> = {}): MessageFieldsFragment {
  return {
    id,
    sessionId: 's-1',
    role: 'USER',
    content,
    status: 'QUEUED',
    replyToId: null,
    provider: null,
    error: null,
    createdAt: '2026-11-24T10:00:00Z',
    actions: [],
    sources: [],
    ...overrides,
  };
}

export function agentReply(id: string, replyTo: string, content: string, overrides: Partial<MessageFieldsFragment> = {}): MessageFieldsFragment {
  return {
    id,
    sessionId: 's-1',
    role: 'ASSISTANT',
    content,
    status: 'COMPLETE',
    replyToId: replyTo,
    provider: 'offline',
    error: null,
    createdAt: '2026-11-24T10:00:02Z',
    actions: [],
    sources: [],
    ...overrides,
  };
}

export function notification(id: string, message: string, overrides: Partial<NotificationFieldsFragment> = {}): NotificationFieldsFragment {
  return {
    id,
    message,
    priority: 'HIGH',
    read: false,
    sourceMessageId: null,
    createdAt: '2026-11-24T10:00:03Z',
    from: { id: MARIA.id, name: MARIA.name, title: MARIA.title },
    ...overrides,
  };
}
