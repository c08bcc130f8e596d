//! [`AppState`]: what every request handler and background task of the server shares. Cloning is
//! cheap (handles and `Arc`s). Built once by [`AppState::new`]; the server's shutdown sequence
//! cancels [`AppState::shutdown`] and waits for [`AppState::tasks`].

use std::sync::Arc;

use agent::embedding::{EmbedError, Embedder};
use entity::Db;
use entity::db::PoolOptions;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::error::ApiError;

/// Connections in the Redis command pool: commands are pipelined, so a few suffice.
const REDIS_POOL_SIZE: usize = 4;

/// The server's shared state.
#[derive(Clone)]
pub struct AppState {
    /// Postgres as the application role (row-level security applies). The pool closes when
    /// the last clone is dropped.
    pub db: Db,
    /// Redis command pool (XADD, PUBLISH, token buckets); reconnects on its own. Quit by the
    /// shutdown sequence.
    pub redis: fred::prelude::Pool,
    /// The configuration, loaded once at start.
    pub config: Arc<Config>,
    /// JWT signing and verification keys.
    pub jwt: Arc<JwtKeys>,
    /// The configured embedder (knowledge ingest and retrieval).
    pub embedder: Arc<dyn Embedder>,
    /// Cancelled when the process should stop; long-lived tasks and connections watch it.
    pub shutdown: CancellationToken,
    /// Background tasks the shutdown sequence waits for.
    pub tasks: TaskTracker,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Connects to Postgres and Redis and builds the shared state.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when Postgres cannot be reached; [`ApiError::Invalid`] for a
    /// malformed Redis URL or an embedder that cannot be set up (local model files missing).
    pub async fn new(config: Config) -> Result<Self, ApiError> {
        let db = Db::connect(
            config.database_url.expose_secret(),
            &PoolOptions {
                max_connections: config.database_max_connections,
                ..PoolOptions::default()
            },
        )
        .await?;
        let redis = agent::redis::pool(config.redis_url.expose_secret(), REDIS_POOL_SIZE)
            .map_err(|e| ApiError::Invalid(format!("REDIS_URL: {e}")))?;
        let embedder = agent::embedding::build(&config.embedder)
            .await
            .map_err(|e| match e {
                EmbedError::Unavailable(d) => ApiError::Unavailable(d),
                other => {
                    ApiError::Invalid(format!("EMBEDDER={}: {other}", config.embedder.provider()))
                }
            })?;
        tracing::debug!(embedder.model = embedder.model(), "embedder ready");
        Ok(Self {
            db,
            redis,
            jwt: Arc::new(JwtKeys::new(&config.jwt)),
            config: Arc::new(config),
            embedder,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }
}
