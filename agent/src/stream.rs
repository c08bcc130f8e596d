//! The Redis stream between the API and the agent runtime.
//!
//! Keys, all under the configurable prefix `P` (`REDIS_KEY_PREFIX`, so tests isolate themselves):
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `P:messages` | stream | one entry per accepted user message, appended by `sendMessage` after its commit |
//! | consumer group `agents` on `P:messages` | | every agent process reads through it |
//!
//! An entry has one field, `e`, holding the JSON of [`StreamEntry`]: the ids that locate the message
//! (tenant, user, session, message), never its content: Postgres is the source of truth, and the
//! worker rebuilds the tenant context from these ids. The stream is trimmed approximately to
//! [`MAX_LEN`] entries; an entry trimmed before it was processed is still found by the sweep of
//! unfinished messages in Postgres, so trimming never loses a message.

use std::time::Duration;

use entity::{MessageId, SessionId, TenantId, UserId};
use fred::prelude::*;
use fred::types::streams::{XCap, XCapKind, XCapTrim};
use serde::{Deserialize, Serialize};

/// Approximate length the stream is trimmed to: far more than can ever be pending.
pub const MAX_LEN: i64 = 1_000_000;
/// The consumer group every agent process reads through.
pub const GROUP: &str = "agents";
/// The entry field that holds the JSON of a [`StreamEntry`].
pub const FIELD: &str = "e";

/// One accepted user message waiting for the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEntry {
    /// The message's tenant (the worker scopes everything to it).
    pub tenant_id: TenantId,
    /// The sender.
    pub user_id: UserId,
    /// The session.
    pub session_id: SessionId,
    /// The user message.
    pub message_id: MessageId,
    /// W3C trace context of the request that accepted the message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// The stream's key names under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamKeys {
    /// `P:messages`.
    pub stream: String,
}

impl StreamKeys {
    /// The keys under `prefix`.
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        Self {
            stream: format!("{prefix}:messages"),
        }
    }
}

/// Appending to the stream failed; the message stays QUEUED in Postgres and the sweep enqueues it
/// once Redis is back.
#[derive(Debug, thiserror::Error)]
#[error("could not enqueue message: {0}")]
pub struct EnqueueError(String);

/// Appends `entry` to the stream, waiting at most `timeout` for Redis. Returns the entry id.
///
/// # Errors
/// [`EnqueueError`] when Redis is unreachable or slower than `timeout`.
pub async fn enqueue(
    redis: &Pool,
    keys: &StreamKeys,
    entry: &StreamEntry,
    timeout: Duration,
) -> Result<String, EnqueueError> {
    let json = serde_json::to_string(entry).map_err(|e| EnqueueError(e.to_string()))?;
    let cap = XCap::try_from((XCapKind::MaxLen, XCapTrim::AlmostExact, MAX_LEN))
        .map_err(|e| EnqueueError(e.to_string()))?;
    let add = redis.xadd::<String, _, _, _, _>(&keys.stream, false, cap, "*", vec![(FIELD, json)]);
    match tokio::time::timeout(timeout, add).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => Err(EnqueueError(e.to_string())),
        Err(_) => Err(EnqueueError(format!(
            "Redis did not answer within {timeout:?}"
        ))),
    }
}

/// The stream's state as operators watch it (read when `/metrics` is scraped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Entries in the stream (XLEN), processed or not, up to the trim length.
    pub length: u64,
    /// Entries delivered to a consumer of the group and not yet acked.
    pub pending: u64,
    /// Entries not yet delivered to any consumer of the group; `None` when Redis cannot tell
    /// (after entries were deleted or trimmed away unread).
    pub lag: Option<u64>,
    /// Consumers known to the group (dead ones stay until removed).
    pub consumers: u64,
}

/// Reading the stream's state failed.
#[derive(Debug, thiserror::Error)]
#[error("could not read the stream's state: {0}")]
pub struct StatsError(String);

/// Reads the stream's length and its consumer group's pending entries and lag (XLEN and XINFO
/// GROUPS; `lag` needs Redis 7). A stream or group that does not exist yet reads as empty.
///
/// # Errors
/// [`StatsError`] when Redis is unreachable or slower than `timeout`.
pub async fn stats(
    redis: &Pool,
    keys: &StreamKeys,
    timeout: Duration,
) -> Result<StreamStats, StatsError> {
    use std::collections::HashMap;
    let read = async {
        let length: u64 = redis.xlen(&keys.stream).await?;
        if length == 0 {
            return Ok(StreamStats::default());
        }
        let groups: Vec<HashMap<String, Value>> = redis.xinfo_groups(&keys.stream).await?;
        let group = groups
            .iter()
            .find(|g| g.get("name").and_then(Value::as_str).as_deref() == Some(GROUP));
        let number = |name: &str| group.and_then(|g| g.get(name)).and_then(Value::as_u64);
        Ok::<_, Error>(StreamStats {
            length,
            pending: number("pending").unwrap_or(0),
            // Without the group nothing was delivered yet: every entry is lag.
            lag: if group.is_some() {
                number("lag")
            } else {
                Some(length)
            },
            consumers: number("consumers").unwrap_or(0),
        })
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(e)) => Err(StatsError(e.to_string())),
        Err(_) => Err(StatsError(format!(
            "Redis did not answer within {timeout:?}"
        ))),
    }
}
