//! The HTTP server: the router and the run loop with graceful shutdown on SIGTERM or SIGINT.
//!
//! Routes: `/graphql` (POST, GET, and the WebSocket upgrade), `/graphiql`, `/healthz`,
//! `/readyz`, `/metrics` (Prometheus), `/app-config.json` (what the web app needs to know about this server), and the
//! built web app from `WEB_DIR` at `/` (unknown paths fall back to its `index.html`, so the
//! app's own routes work on reload).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::Environment;
use crate::error::ApiError;
use crate::graphql::http::GraphqlState;
use crate::graphql::{self, limits};
use crate::health;
use crate::metrics;
use crate::seed;
use crate::state::AppState;

/// A server bound to its address, ready to run.
#[derive(Debug)]
pub struct Server {
    state: AppState,
    listener: TcpListener,
}

impl Server {
    /// Binds `state.config.bind_addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the address cannot be bound.
    pub async fn bind(state: AppState) -> Result<Self, ApiError> {
        let listener = TcpListener::bind(state.config.bind_addr)
            .await
            .map_err(|e| {
                ApiError::Unavailable(format!("cannot listen on {}: {e}", state.config.bind_addr))
            })?;
        Ok(Self { state, listener })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// When the socket has no local address (it always has once bound).
    pub fn local_addr(&self) -> Result<SocketAddr, ApiError> {
        self.listener
            .local_addr()
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The router with every route of the server.
    pub fn router(state: AppState) -> Router {
        let web_dir = state.config.web_dir.clone();
        let graphql_state = GraphqlState {
            schema: graphql::build(state.clone()),
            app: state.clone(),
        };
        let api = Router::new()
            .route("/graphql", get(graphql_get).post(graphql::http::post))
            .route("/graphiql", get(graphql::http::graphiql))
            .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
            .with_state(graphql_state);
        let app = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/app-config.json", get(app_config))
            .route("/metrics", get(metrics::serve))
            .with_state(state)
            .merge(api);
        let index = web_dir.join("index.html");
        app.fallback_service(ServeDir::new(web_dir).fallback(ServeFile::new(index)))
            .layer(middleware::from_fn(metrics::track))
    }

    /// Serves until [`AppState::shutdown`] is cancelled (by a signal or by the caller), then
    /// waits for background tasks.
    ///
    /// # Errors
    /// When the server fails to accept connections.
    pub async fn run(self) -> Result<(), ApiError> {
        let state = self.state.clone();
        let shutdown = state.shutdown.clone();
        let app = Self::router(state.clone());
        let signal_token = shutdown.clone();
        state.tasks.spawn(async move {
            tokio::select! {
                () = wait_for_signal() => signal_token.cancel(),
                () = signal_token.cancelled() => {}
            }
        });
        if state.config.run_agent {
            let parts = state.runtime_parts()?;
            let (config, token) = (state.config.runtime.clone(), shutdown.clone());
            state.tasks.spawn(agent::runtime::run(parts, config, token));
        }
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .map_err(|e| ApiError::Internal(format!("server error: {e}")))?;
        state.tasks.close();
        state.tasks.wait().await;
        fred::interfaces::ClientLike::quit(&state.redis).await.ok();
        Ok(())
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until [`AppState::shutdown`] is
/// cancelled: how a `concierge worker`, which has no API, is scraped and probed.
///
/// # Errors
/// [`ApiError::Unavailable`] when the address cannot be bound.
pub async fn serve_operations(state: &AppState, addr: SocketAddr) -> Result<SocketAddr, ApiError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        ApiError::Unavailable(format!("cannot listen on {addr} (METRICS_ADDR): {e}"))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let app = Router::new()
        .route("/metrics", get(metrics::serve))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(middleware::from_fn(metrics::track))
        .with_state(state.clone());
    let shutdown = state.shutdown.clone();
    state.tasks.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// `GET /graphql`: a WebSocket upgrade, or a query in the URL.
async fn graphql_get(State(state): State<GraphqlState>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let (mut parts, _body) = request.into_parts();
    if is_upgrade {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => graphql::ws::upgrade(State(state), ws).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    let headers = parts.headers.clone();
    let query = axum::extract::RawQuery(parts.uri.query().map(str::to_owned));
    graphql::http::get(State(state), headers, query).await
}

/// `GET /app-config.json`: what the web app needs to know: the environment and, in development,
/// the demo accounts it offers one click away.
async fn app_config(State(state): State<AppState>) -> Response {
    let body = match state.config.environment {
        Environment::Development => json!({
            "environment": "development",
            "demoAccounts": seed::demo_accounts(),
            "demoPassword": seed::DEMO_PASSWORD,
        }),
        Environment::Production => json!({ "environment": "production" }),
    };
    axum::Json(body).into_response()
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
