// The signed-in user: the token from `login`, when it expires, who the user is and which tenant
// they belong to. Kept in sessionStorage, which is per browser tab: a reload keeps you signed in,
// and two windows can be two different people (Maria in one, Luca in the other).
import type { LoginMutation } from '../gql/graphql';

/** What `login` returned, as the app keeps it. */
export type AuthSession = LoginMutation['login'];

const STORAGE_KEY = 'concierge.session';

/** setTimeout cannot wait longer than 2^31-1 ms (about 24.8 days); expiry timers are clamped. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Milliseconds until the token expires (negative once it has). NaN dates count as expired. */
export function msUntilExpiry(session: AuthSession, now: number = Date.now()): number {
  const expires = Date.parse(session.expiresAt);
  return Number.isNaN(expires) ? -1 : expires - now;
}

function isAuthSession(value: unknown): value is AuthSession {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const user = v.user as Record<string, unknown> | null | undefined;
  const tenant = v.tenant as Record<string, unknown> | null | undefined;
  return (
    typeof v.token === 'string' &&
    typeof v.expiresAt === 'string' &&
    typeof user?.id === 'string' &&
    typeof user.name === 'string' &&
    typeof tenant?.id === 'string' &&
    typeof tenant.name === 'string'
  );
}

/** The stored session, or null when there is none, it is malformed, or its token has expired. */
export function loadSession(storage: Storage = window.sessionStorage): AuthSession | null {
  try {
    const raw = storage.getItem(STORAGE_KEY);
    if (raw === null) return null;
    const parsed: unknown = JSON.parse(raw);
    if (!isAuthSession(parsed) || msUntilExpiry(parsed) <= 0) {
      storage.removeItem(STORAGE_KEY);
      return null;
    }
    return parsed;
  } catch {
    return null;
  }
}

/** Remembers the session for this tab. Storage failures (private mode quotas) are ignored. */
export function saveSession(session: AuthSession, storage: Storage = window.sessionStorage): void {
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(session));
  } catch {
    // Without storage the session still lives in memory until the tab is reloaded.
  }
}

/** Forgets the session of this tab. */
export function clearSession(storage: Storage = window.sessionStorage): void {
  try {
    storage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored, nothing to forget.
  }
}
