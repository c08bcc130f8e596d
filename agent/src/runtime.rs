//! The agent runtime of one process: the stream consumer with the turn pipeline behind it, plus
//! what keeps its caches honest. `concierge serve` runs it next to the API, `concierge worker`
//! alone; any number of processes can share one Postgres and one Redis.

use std::sync::Arc;
use std::time::Duration;

use entity::Db;
use fred::prelude::{Client, Pool};
use tokio_util::sync::CancellationToken;

use crate::bus::{Hub, Publisher, TenantEvent};
use crate::consumer::{Consumer, ConsumerConfig};
use crate::llm::LlmProvider;
use crate::memory::{MemoryConfig, SessionMemory};
use crate::retrieval::Retriever;
use crate::tenant::{TenantAgentConfig, TenantAgentRegistry};
use crate::turn::{TurnConfig, Turns};

/// Everything the runtime is configured with.
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// The stream consumer.
    pub consumer: ConsumerConfig,
    /// The turn pipeline.
    pub turn: TurnConfig,
    /// Session memory.
    pub memory: MemoryConfig,
    /// Tenant agents.
    pub tenants: TenantAgentConfig,
    /// How long shutdown waits for messages in progress.
    pub drain_timeout: Duration,
}

/// The parts the runtime works with; the process that owns them shuts them down.
pub struct RuntimeParts {
    /// Postgres, as the application role.
    pub db: Db,
    /// Redis command pool.
    pub redis: Pool,
    /// A Redis client for the blocking stream reads, used by nothing else.
    pub reader: Client,
    /// The key prefix.
    pub prefix: String,
    /// Publishes events to users.
    pub publisher: Publisher,
    /// The process's pub/sub hub (tenant change events invalidate cached agents).
    pub hub: Hub,
    /// The configured LLM provider.
    pub llm: Arc<dyn LlmProvider>,
    /// Knowledge search.
    pub retriever: Arc<dyn Retriever>,
}

/// A consumer name unique to this process in the group.
#[must_use]
pub fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Runs the runtime until `shutdown` is cancelled; then drains (see [`Consumer::run`]).
pub async fn run(parts: RuntimeParts, config: RuntimeConfig, shutdown: CancellationToken) {
    let agents = Arc::new(TenantAgentRegistry::new(
        parts.db.clone(),
        config.tenants.clone(),
    ));
    let memory = Arc::new(SessionMemory::new(config.memory.clone()));
    let turns = Arc::new(Turns::new(
        parts.db.clone(),
        agents.clone(),
        memory.clone(),
        parts.retriever,
        parts.llm.clone(),
        parts.publisher,
        config.turn.clone(),
    ));
    let name = consumer_name();
    tracing::info!(consumer = %name, llm.provider = %parts.llm.name(), concurrency = config.consumer.concurrency, "agent runtime started");
    let consumer = Consumer::new(
        turns,
        parts.db,
        parts.redis,
        parts.reader,
        &parts.prefix,
        &name,
        config.consumer,
    );

    // A tenant's roster, settings or knowledge changed (here or in another process).
    let mut tenant_events = parts.hub.tenant_events();
    let invalidation = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    event = tenant_events.recv() => match event {
                        Ok(TenantEvent::Changed { tenant_id }) => {
                            agents.invalidate(tenant_id);
                            memory.forget_tenant(tenant_id);
                        }
                        // Missed some: drop everything rather than serve a stale roster.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => agents.invalidate_all(),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        })
    };
    consumer.run(shutdown, config.drain_timeout).await;
    let _ = invalidation.await;
    tracing::info!("agent runtime stopped");
}
