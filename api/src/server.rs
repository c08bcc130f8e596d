//! The HTTP server: the router and the run loop with graceful shutdown on SIGTERM or SIGINT.
//!
//! Routes: `/graphql` (POST, GET, and the WebSocket upgrade), `/graphiql` (404 unless
//! `GRAPHIQL` is on), `/healthz`, `/readyz`, `/metrics` (Prometheus), `/app-config.json` (what the web app needs to know
//! about this server), and the built web app from `WEB_DIR` at `/` (unknown paths fall back to
//! its `index.html`, so the app's own routes work on reload). Cross-origin requests are allowed
//! only from `CORS_ORIGINS` (and, in development, from any `localhost` origin).
//!
//! Shutdown (SIGTERM, SIGINT, or [`AppState::shutdown`] cancelled): the listener stops
//! accepting, requests in progress finish, every WebSocket is closed with 1001, the agent
//! runtime stops reading the stream and finishes the messages in progress within
//! `SHUTDOWN_DRAIN_TIMEOUT`; then [`Server::run`] returns (and the process exits 0).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};

use crate::config::{Config, Environment};
use crate::error::ApiError;
use crate::graphql::http::GraphqlState;
use crate::graphql::{self, limits};
use crate::health;
use crate::metrics;
use crate::seed;
use crate::state::AppState;

/// What shutdown may take beyond `SHUTDOWN_DRAIN_TIMEOUT`: the stream read in progress (at most
/// a second), closing WebSockets, quitting Redis.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
        let cors = cors(&state.config);
        let graphql_state = GraphqlState {
            schema: graphql::build(state.clone()),
            app: state.clone(),
        };
        let graphiql = if state.config.graphiql {
            get(graphql::http::graphiql)
        } else {
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    "GraphiQL is off (GRAPHIQL=on enables it)",
                )
            })
        };
        let api = Router::new()
            .route("/graphql", get(graphql_get).post(graphql::http::post))
            .route("/graphiql", graphiql)
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
            .layer(cors)
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
        axum::serve(self.listener.tap_io(no_delay), app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .map_err(|e| ApiError::Internal(format!("server error: {e}")))?;
        state.tasks.close();
        let bound = state.config.runtime.drain_timeout + SHUTDOWN_GRACE;
        if tokio::time::timeout(bound, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "background work still running after the drain time; stopping anyway (unfinished messages are picked up by another process or after a restart)"
            );
        }
        fred::interfaces::ClientLike::quit(&state.redis).await.ok();
        Ok(())
    }
}

/// Sends small responses (a GraphQL reply, a WebSocket frame) at once instead of holding them
/// back under Nagle's algorithm until the client acknowledges the previous segment (up to 40 ms
/// with a delayed ACK).
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
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
        let served = axum::serve(listener.tap_io(no_delay), app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// Cross-origin access: the configured origins, plus any `localhost` origin in development.
/// Requests carry their token in a header, never in a cookie, so the browser's CORS check is
/// what keeps other sites' pages from reading the API's answers.
fn cors(config: &Config) -> CorsLayer {
    let listed: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let development = config.environment == Environment::Development;
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            listed.contains(origin) || (development && is_localhost(origin))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, on any port.
fn is_localhost(origin: &HeaderValue) -> bool {
    let Some(host) = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    }) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_origins_are_recognised_and_lookalikes_are_not() {
        for ok in [
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "https://localhost",
            "http://[::1]:3000",
        ] {
            assert!(is_localhost(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example",
            "https://evil.example",
            "http://127.0.0.1.evil.example:80",
            "null",
            "localhost:5173",
        ] {
            assert!(!is_localhost(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
