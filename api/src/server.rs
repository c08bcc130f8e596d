//! The HTTP server: the router and the run loop with graceful shutdown on SIGTERM or SIGINT.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::health;
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
        Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .with_state(state)
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

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
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
