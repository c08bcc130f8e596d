// What GraphiQL shows on a first visit: a query editor that explains, in comments, how to
// authenticate (run `login`, put the token in the Headers tab, which subscriptions send in the
// WebSocket's `connection_init` too), followed by the operations to try in that order; and a
// headers editor that already holds the header's shape. In development the login uses the first
// demo account (from `/app-config.json`); otherwise it holds placeholders.
import type { AppConfig } from '../app/config';

/** The headers editor's initial text: the one header every operation but `login` needs. */
export const DEFAULT_HEADERS = `{
  "Authorization": "Bearer <the token from login>"
}
`;

/** The query editor's initial text for a server with configuration `config`. */
export function defaultQuery(config: AppConfig): string {
  const demo = config.demoAccounts[0];
  const [email, password] =
    demo !== undefined && config.demoPassword !== null
      ? [demo.email, config.demoPassword]
      : ['you@example.com', 'your password'];
  const demoNote =
    demo !== undefined && config.demoPassword !== null
      ? [
          '#',
          `# Demo accounts (development only): ${config.demoAccounts.map((a) => a.email).join(', ')};`,
          `# password ${config.demoPassword}.`,
        ]
      : [];
  return [
    '# Concierge GraphiQL. Every operation except `login` needs your token:',
    '#',
    '#   1. Run Login below (the ▶ button, or Ctrl-Enter with the cursor in it) and',
    '#      copy "token" from the result.',
    '#   2. In the Headers tab below, replace <the token from login> with it:',
    '#        {"Authorization": "Bearer <token>"}',
    '#      Queries and mutations send it as an HTTP header; subscriptions send it',
    "#      in the WebSocket's connection_init payload, so they authenticate too.",
    '#   3. Run SendMessage: the message is QUEUED and the agent answers it.',
    '#      Run Notifications and keep it open: notifications addressed to you',
    '#      appear in the result pane as they are sent (▶ again stops it).',
    ...demoNote,
    '',
    'mutation Login {',
    `  login(email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)}) {`,
    '    token',
    '    expiresAt',
    '    user { id name title role }',
    '    tenant { name }',
    '  }',
    '}',
    '',
    'mutation SendMessage {',
    '  sendMessage(input: { content: "What can you do for me?" }) {',
    '    message { id status content }',
    '    session { id }',
    '  }',
    '}',
    '',
    'subscription Notifications {',
    '  notifications { message priority createdAt from { name } }',
    '}',
    '',
    'query Me {',
    '  me { name title role }',
    '  unreadNotificationCount',
    '}',
    '',
  ].join('\n');
}
