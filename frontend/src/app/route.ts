// Client-side routes. The server answers every unknown path with index.html, so these URLs can be
// reloaded and shared: /login, /chat, /chat/new, /chat/<session id>, /inbox.
import { useSyncExternalStore } from 'react';

/** Where the user is. */
export type Route =
  | { name: 'login' }
  | { name: 'sessions' }
  | { name: 'conversation'; sessionId: string | null }
  | { name: 'inbox' };

const NAVIGATE_EVENT = 'concierge:navigate';

/** The route of a path; unknown paths go to the session list. */
export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((p) => p !== '');
  const [first, second] = parts;
  if (first === 'login') return { name: 'login' };
  if (first === 'inbox') return { name: 'inbox' };
  if (first === 'chat' && second === 'new') return { name: 'conversation', sessionId: null };
  if (first === 'chat' && second !== undefined) {
    return { name: 'conversation', sessionId: decodeURIComponent(second) };
  }
  return { name: 'sessions' };
}

/** The path of a route. */
export function routePath(route: Route): string {
  switch (route.name) {
    case 'login':
      return '/login';
    case 'sessions':
      return '/chat';
    case 'inbox':
      return '/inbox';
    case 'conversation':
      return route.sessionId === null ? '/chat/new' : `/chat/${encodeURIComponent(route.sessionId)}`;
  }
}

/** Goes to `route` (replacing the history entry when `replace`). */
export function navigate(route: Route, options: { replace?: boolean } = {}): void {
  const path = routePath(route);
  if (path !== window.location.pathname) {
    if (options.replace === true) window.history.replaceState(null, '', path);
    else window.history.pushState(null, '', path);
  }
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

/** The current path, re-rendering on navigation. */
export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}
