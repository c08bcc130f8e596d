// The app's root: who is signed in (sessionStorage, see auth/session.ts), one API client per
// signed-in token, and the screen for the current route. A token the API refuses, or one whose
// `expiresAt` passes, signs the user out and brings them back to sign-in with a notice.
import { useCallback, useEffect, useMemo, useState } from 'react';

import { createApi, sameOriginUrls, type Api, type ApiOptions } from '../api/client';
import { EXPIRED_MESSAGE } from '../api/errors';
import {
  clearSession,
  loadSession,
  MAX_TIMER_MS,
  msUntilExpiry,
  saveSession,
  type AuthSession,
} from '../auth/session';
import { fetchAppConfig, PRODUCTION_CONFIG, type AppConfig } from './config';
import { LoginScreen } from './LoginScreen';
import { navigate, parseRoute, usePathname } from './route';
import { Shell } from './Shell';

/** Makes an API client; tests pass their own. */
export type ApiFactory = (options: Pick<ApiOptions, 'token' | 'onUnauthenticated'>) => Api;

/** The real client, same origin as the page. */
export const defaultApiFactory: ApiFactory = (options) =>
  createApi({ ...sameOriginUrls(window.location), ...options });

interface Props {
  apiFactory?: ApiFactory;
  loadConfig?: () => Promise<AppConfig>;
}

/** The whole app. */
export function App({ apiFactory = defaultApiFactory, loadConfig = fetchAppConfig }: Props) {
  const [session, setSession] = useState<AuthSession | null>(() => loadSession());
  const [notice, setNotice] = useState<string | null>(null);
  const [config, setConfig] = useState<AppConfig>(PRODUCTION_CONFIG);
  const route = parseRoute(usePathname());

  useEffect(() => {
    let live = true;
    void loadConfig().then((c) => {
      if (live) setConfig(c);
    });
    return () => {
      live = false;
    };
  }, [loadConfig]);

  const signOut = useCallback((why: string | null) => {
    clearSession();
    setSession(null);
    setNotice(why);
    navigate({ name: 'login' }, { replace: true });
  }, []);

  const api = useMemo(
    () =>
      apiFactory({
        token: session?.token ?? null,
        onUnauthenticated: () => signOut(EXPIRED_MESSAGE),
      }),
    [apiFactory, session?.token, signOut],
  );
  useEffect(() => () => api.dispose(), [api]);

  // Sign out when the token expires, even if the user does nothing.
  useEffect(() => {
    if (session === null) return;
    const timer = setTimeout(
      () => signOut(EXPIRED_MESSAGE),
      Math.min(Math.max(0, msUntilExpiry(session)), MAX_TIMER_MS),
    );
    return () => clearTimeout(timer);
  }, [session, signOut]);

  // Keep the URL honest: /login only when signed out, nothing else then.
  useEffect(() => {
    if (session === null && route.name !== 'login') navigate({ name: 'login' }, { replace: true });
    if (session !== null && route.name === 'login') navigate({ name: 'sessions' }, { replace: true });
  }, [session, route.name]);

  const onSignedIn = useCallback((next: AuthSession) => {
    saveSession(next);
    setNotice(null);
    setSession(next);
    navigate({ name: 'sessions' }, { replace: true });
  }, []);

  return (
    <div className="phone">
      {session === null ? (
        <LoginScreen api={api} config={config} notice={notice} onSignedIn={onSignedIn} />
      ) : (
        <Shell key={session.token} api={api} session={session} route={route} onSignOut={() => signOut(null)} />
      )}
    </div>
  );
}
