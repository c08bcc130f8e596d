// Entry point of the GraphiQL page (`graphiql.html`, served by `concierge serve` at
// `/graphiql`): GraphiQL bundled from npm, so the page loads nothing from another host, with
// Concierge's fetcher (fetcher.ts: the headers editor's Authorization goes into the WebSocket's
// `connection_init` too) and a first-visit query that explains how to authenticate (intro.ts).
// Built by its own Vite config (vite.graphiql.config.ts), so the web app's bundle is unchanged.
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { fetchAppConfig } from '../app/config';
import { createConciergeFetcher, sameOriginUrls } from './fetcher';
import './graphiql.css';
import { DEFAULT_HEADERS, defaultQuery } from './intro';

const fetcher = createConciergeFetcher(sameOriginUrls(window.location));

function Note() {
  return (
    <p className="concierge-graphiql__note" role="note" data-testid="auth-note">
      <strong>Concierge GraphiQL.</strong> Run <code>login</code>, then put{' '}
      <code>{'{"Authorization": "Bearer <token>"}'}</code> in the Headers tab: queries and mutations send it
      as an HTTP header, subscriptions in the WebSocket&apos;s <code>connection_init</code>.{' '}
      <a href="/">Open the web app</a>
    </p>
  );
}

const root = document.getElementById('graphiql');
if (root !== null) {
  const config = await fetchAppConfig();
  createRoot(root).render(
    <StrictMode>
      <div className="concierge-graphiql">
        <Note />
        <GraphiQL
          fetcher={fetcher}
          defaultQuery={defaultQuery(config)}
          defaultHeaders={DEFAULT_HEADERS}
          defaultEditorToolsVisibility="headers"
          isHeadersEditorEnabled
        >
          <GraphiQL.Logo>
            <span className="concierge-graphiql__logo">Concierge</span>
          </GraphiQL.Logo>
        </GraphiQL>
      </div>
    </StrictMode>,
  );
}
