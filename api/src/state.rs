//! [`AppState`]: what every request handler and background task of the server shares. Cloning is
//! cheap (handles and `Arc`s). Built once by [`AppState::new`]; the server's shutdown sequence
//! cancels [`AppState::shutdown`] and waits for [`AppState::tasks`].

use std::sync::Arc;

use agent::bus::{Hub, Publisher, TenantEvent};
use agent::embedding::{EmbedError, Embedder};
use agent::llm::LlmProvider;
use agent::llm::offline::OfflineProvider;
use agent::retrieval::VectorRetriever;
use entity::Db;
use entity::db::PoolOptions;
use secrecy::ExposeSecret;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{JwtKeys, UserCache};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

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
    /// The users tokens name, recently looked up; forgotten when their tenant changes.
    pub users: Arc<UserCache>,
    /// The configured embedder (knowledge ingest and retrieval).
    pub embedder: Arc<dyn Embedder>,
    /// Tenant-scoped knowledge search (`searchKnowledge` and the agent).
    pub retriever: Arc<VectorRetriever>,
    /// The configured LLM provider.
    pub llm: Arc<dyn LlmProvider>,
    /// Publishes live events (to users) and tenant changes (to every process).
    pub publisher: Publisher,
    /// The rate limits of `sendMessage` (buckets in Redis, in memory while Redis is down).
    pub rate_limiter: RateLimiter,
    /// This process's one pub/sub subscriber and its fan-out to WebSocket subscribers; its loop
    /// stops when [`AppState::shutdown`] is cancelled.
    pub hub: Hub,
    /// Cancelled when the process should stop; long-lived tasks and connections watch it.
    pub shutdown: CancellationToken,
    /// Background tasks the shutdown sequence waits for.
    pub tasks: TaskTracker,
    /// The process's Prometheus recorder (installed once per process; served at `/metrics`).
    pub metrics: Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The parts the agent runtime needs, with a Redis client of its own for blocking reads.
    ///
    /// # Errors
    /// [`ApiError::Invalid`] for a malformed Redis URL.
    pub fn runtime_parts(&self) -> Result<agent::runtime::RuntimeParts, ApiError> {
        let reader = agent::redis::client(self.config.redis_url.expose_secret())
            .map_err(|e| ApiError::Invalid(format!("REDIS_URL: {e}")))?;
        let _connection = fred::interfaces::ClientLike::connect(&reader);
        Ok(agent::runtime::RuntimeParts {
            db: self.db.clone(),
            redis: self.redis.clone(),
            reader,
            prefix: self.config.redis_prefix.clone(),
            publisher: self.publisher.clone(),
            hub: self.hub.clone(),
            llm: self.llm.clone(),
            retriever: self.retriever.clone(),
        })
    }

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
        let embedder = build_embedder(&config).await?;
        let shutdown = CancellationToken::new();
        let hub = Hub::start(
            config.redis_url.expose_secret(),
            &config.redis_prefix,
            shutdown.clone(),
        )
        .map_err(|e| ApiError::Invalid(format!("REDIS_URL: {e}")))?;
        let users = Arc::new(UserCache::new(config.auth_cache_ttl));
        let tasks = TaskTracker::new();
        tasks.spawn(forget_changed_tenants(
            hub.clone(),
            users.clone(),
            shutdown.clone(),
        ));
        Ok(Self {
            db,
            users,
            publisher: Publisher::new(redis.clone(), &config.redis_prefix),
            rate_limiter: RateLimiter::new(redis.clone(), &config.redis_prefix, config.rate_limits),
            redis,
            jwt: Arc::new(JwtKeys::new(&config.jwt)),
            retriever: Arc::new(VectorRetriever::new(embedder.clone())),
            llm: build_llm(&config)?,
            embedder,
            hub,
            config: Arc::new(config),
            shutdown,
            tasks,
            metrics: Metrics::install(),
        })
    }
}

/// Forgets a tenant's cached users when any process announces that the tenant changed, until
/// `shutdown`.
async fn forget_changed_tenants(hub: Hub, users: Arc<UserCache>, shutdown: CancellationToken) {
    let mut events = hub.tenant_events();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            event = events.recv() => match event {
                Ok(TenantEvent::Changed { tenant_id }) => users.forget_tenant(tenant_id),
                // Missed some: forget everyone rather than trust a stale role.
                Err(broadcast::error::RecvError::Lagged(_)) => users.clear(),
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

/// The embedder the configuration asks for (the local model is loaded here).
///
/// # Errors
/// [`ApiError::Unavailable`] when a remote embedder cannot be reached; [`ApiError::Invalid`]
/// when its configuration is unusable (missing model files, ...).
pub async fn build_embedder(config: &Config) -> Result<Arc<dyn Embedder>, ApiError> {
    let embedder = agent::embedding::build(&config.embedder)
        .await
        .map_err(|e| match e {
            EmbedError::Unavailable(d) => ApiError::Unavailable(d),
            other => ApiError::Invalid(format!("EMBEDDER={}: {other}", config.embedder.provider())),
        })?;
    tracing::debug!(embedder.model = embedder.model(), "embedder ready");
    Ok(embedder)
}

/// The LLM provider the configuration asks for (`offline` when no key is configured).
///
/// # Errors
/// [`ApiError::Invalid`] when the provider cannot be built (a malformed base URL).
pub fn build_llm(config: &Config) -> Result<Arc<dyn LlmProvider>, ApiError> {
    let provider = config
        .llm
        .build_provider()
        .map_err(|e| ApiError::Invalid(format!("LLM configuration: {e}")))?;
    Ok(provider.unwrap_or_else(|| Arc::new(OfflineProvider)))
}
