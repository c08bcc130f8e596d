// The server's app configuration (`GET /app-config.json`): whether it runs in development and,
// if so, the demo accounts that the login screen offers one click away. Anything unexpected
// (missing endpoint, malformed JSON) counts as production: no demo accounts.

/** One demo account the login screen can offer. */
export interface DemoAccount {
  email: string;
  name: string;
  title: string | null;
  tenant: string;
}

/** What the app needs to know about the server it runs against. */
export interface AppConfig {
  environment: 'development' | 'production';
  demoAccounts: DemoAccount[];
  demoPassword: string | null;
}

/** The configuration used when the server says nothing (or nothing usable). */
export const PRODUCTION_CONFIG: AppConfig = {
  environment: 'production',
  demoAccounts: [],
  demoPassword: null,
};

function demoAccount(value: unknown): DemoAccount | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.email !== 'string' || typeof v.name !== 'string') return null;
  return {
    email: v.email,
    name: v.name,
    title: typeof v.title === 'string' ? v.title : null,
    tenant: typeof v.tenant === 'string' ? v.tenant : '',
  };
}

/** Validates the JSON of `/app-config.json`. */
export function parseAppConfig(value: unknown): AppConfig {
  if (typeof value !== 'object' || value === null) return PRODUCTION_CONFIG;
  const v = value as Record<string, unknown>;
  if (v.environment !== 'development') return PRODUCTION_CONFIG;
  const accounts = Array.isArray(v.demoAccounts)
    ? v.demoAccounts.map(demoAccount).filter((a): a is DemoAccount => a !== null)
    : [];
  const password = typeof v.demoPassword === 'string' ? v.demoPassword : null;
  return {
    environment: 'development',
    demoAccounts: password === null ? [] : accounts,
    demoPassword: password,
  };
}

/** Fetches the server's app configuration; never rejects (falls back to production). */
export async function fetchAppConfig(url = '/app-config.json'): Promise<AppConfig> {
  try {
    const response = await fetch(url, { headers: { accept: 'application/json' } });
    if (!response.ok) return PRODUCTION_CONFIG;
    return parseAppConfig(await response.json());
  } catch {
    return PRODUCTION_CONFIG;
  }
}
