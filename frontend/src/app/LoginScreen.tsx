// Sign-in: email and password, and in development the demo accounts one click away (grouped by
// tenant, from /app-config.json). Says why you are here when your session expired.
import { useEffect, useRef, useState, type SubmitEvent } from 'react';

import type { Api } from '../api/client';
import { ApiError, toApiError } from '../api/errors';
import { LoginMutation } from '../api/operations';
import type { AuthSession } from '../auth/session';
import { Avatar } from '../ui/Avatar';
import { ErrorNotice } from '../ui/ErrorNotice';
import type { AppConfig, DemoAccount } from './config';

interface Props {
  /** A client without a token: only `login` is sent through it. */
  api: Api;
  config: AppConfig;
  /** Why the user was sent back here (an expired session), if they were. */
  notice: string | null;
  onSignedIn: (session: AuthSession) => void;
}

function groupByTenant(accounts: DemoAccount[]): [string, DemoAccount[]][] {
  const groups = new Map<string, DemoAccount[]>();
  for (const account of accounts) {
    const list = groups.get(account.tenant) ?? [];
    list.push(account);
    groups.set(account.tenant, list);
  }
  return [...groups.entries()];
}

/** The sign-in screen. */
export function LoginScreen({ api, config, notice, onSignedIn }: Props) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    headingRef.current?.focus();
  }, []);

  const signIn = async (loginEmail: string, loginPassword: string) => {
    setBusy(loginEmail);
    setError(null);
    try {
      const data = await api.request(LoginMutation, { email: loginEmail, password: loginPassword });
      onSignedIn(data.login);
    } catch (e) {
      setError(toApiError(e));
      setBusy(null);
    }
  };

  const onSubmit = (event: SubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (email.trim() === '' || password === '') {
      setError(new ApiError('BAD_USER_INPUT', 'Enter your email and password.'));
      return;
    }
    void signIn(email.trim(), password);
  };

  const demoPassword = config.demoPassword;
  const groups = demoPassword === null ? [] : groupByTenant(config.demoAccounts);

  return (
    <main className="login">
      <div className="login-brand">
        <span className="logo" aria-hidden="true">
          <svg viewBox="0 0 32 32" width="40" height="40">
            <rect width="32" height="32" rx="9" fill="currentColor" />
            <path d="M9 20h14l-1-2a6 6 0 0 0-12 0z" fill="#fff" />
            <rect x="8" y="21" width="16" height="2" rx="1" fill="#fff" />
            <circle cx="16" cy="11" r="1.5" fill="#fff" />
          </svg>
        </span>
        <h1 ref={headingRef} tabIndex={-1}>
          Concierge
        </h1>
        <p className="muted">Your team&rsquo;s assistant: ask, and it tells the right people.</p>
      </div>

      {notice !== null && (
        <div className="notice notice-info" role="status">
          {notice}
        </div>
      )}

      <form className="card login-form" onSubmit={onSubmit} noValidate aria-label="Sign in">
        <label htmlFor="login-email">Email</label>
        <input
          id="login-email"
          type="email"
          autoComplete="username"
          inputMode="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
        />
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        {error && <ErrorNotice error={error} />}
        <button type="submit" className="primary" disabled={busy !== null}>
          {busy !== null && busy === email.trim() ? 'Signing in…' : 'Sign in'}
        </button>
      </form>

      {demoPassword !== null && groups.length > 0 && (
        <section className="demo" aria-labelledby="demo-heading">
          <h2 id="demo-heading">Demo accounts</h2>
          <p className="muted small">Development mode: sign in as anyone with one click.</p>
          {groups.map(([tenant, accounts]) => (
            <div key={tenant} className="demo-tenant">
              <h3>{tenant}</h3>
              <ul>
                {accounts.map((account) => (
                  <li key={account.email}>
                    <button
                      type="button"
                      className="demo-account"
                      disabled={busy !== null}
                      aria-label={`Sign in as ${account.name}${account.title ? `, ${account.title}` : ''} at ${tenant}`}
                      onClick={() => void signIn(account.email, demoPassword)}
                    >
                      <Avatar name={account.name} size="sm" />
                      <span className="demo-account-text">
                        <span className="demo-account-name">{account.name}</span>
                        {account.title && <span className="muted small">{account.title}</span>}
                      </span>
                      <span className="chevron" aria-hidden="true">
                        {busy === account.email ? '…' : '›'}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </section>
      )}
    </main>
  );
}
