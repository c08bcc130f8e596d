import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, test, vi } from 'vitest';

import { ApiError } from '../api/errors';
import { FakeApi } from '../test/fakeApi';
import { MARIA, sessionOf } from '../test/fixtures';
import { parseAppConfig, PRODUCTION_CONFIG } from './config';
import { LoginScreen } from './LoginScreen';

const DEV = parseAppConfig({
  environment: 'development',
  demoAccounts: [
    { email: 'maria@sole.example', name: 'Maria Rossi', title: 'Owner and manager', tenant: 'Trattoria Sole' },
    { email: 'tom@harborview.example', name: 'Tom Weber', title: 'Resident, unit 4B', tenant: 'Harbor View Apartments' },
  ],
  demoPassword: 'concierge-demo',
});

describe('LoginScreen', () => {
  test('in development a demo account is one click away', async () => {
    const session = sessionOf(MARIA);
    const api = new FakeApi().on('Login', () => ({ login: session }));
    const onSignedIn = vi.fn();
    render(<LoginScreen api={api} config={DEV} notice={null} onSignedIn={onSignedIn} />);
    expect(screen.getByRole('heading', { name: 'Harbor View Apartments' })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: /^Sign in as Maria Rossi, Owner and manager at Trattoria Sole/ }));
    expect(api.callsOf('Login')).toEqual([{ email: 'maria@sole.example', password: 'concierge-demo' }]);
    expect(onSignedIn).toHaveBeenCalledWith(session);
  });

  test('in production there are no demo accounts', () => {
    render(<LoginScreen api={new FakeApi()} config={PRODUCTION_CONFIG} notice={null} onSignedIn={vi.fn()} />);
    expect(screen.queryByRole('heading', { name: 'Demo accounts' })).toBeNull();
    expect(parseAppConfig({ environment: 'production', demoAccounts: [{ email: 'x', name: 'y' }] }).demoAccounts).toEqual([]);
  });

  test("the form signs in, and shows the API's message when it refuses", async () => {
    const api = new FakeApi().on('Login', () => {
      throw new ApiError('UNAUTHENTICATED', 'Wrong email or password');
    });
    const onSignedIn = vi.fn();
    render(<LoginScreen api={api} config={PRODUCTION_CONFIG} notice="Your session has expired. Please sign in again." onSignedIn={onSignedIn} />);
    expect(screen.getByRole('status')).toHaveTextContent('Your session has expired');
    await userEvent.type(screen.getByLabelText('Email'), 'maria@sole.example');
    await userEvent.type(screen.getByLabelText('Password'), 'nope');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong email or password');
    expect(onSignedIn).not.toHaveBeenCalled();
  });
});
