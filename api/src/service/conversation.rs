//! Conversations: a user's sessions, the messages of a session, and `sendMessage`, which stores
//! the user message (QUEUED) and then appends it to the agent's stream.
//!
//! A session belongs to one user: another user, even of the same tenant, gets NOT_FOUND for it.
//! Idempotency: a `clientMessageId` is unique per user, so the same key returns the message it
//! first created and enqueues nothing new, also when two requests race.
//!
//! Before a new message is stored it must pass the rate limits ([`crate::rate_limit`]: the
//! sender's and the tenant's token buckets) and the tenant's daily token budget
//! ([`agent::budget`], read in the transaction that stores the message); either refuses it with
//! RATE_LIMITED and the time until a retry can succeed. A retry with a known `clientMessageId`
//! is answered before both: it costs nothing.

use std::collections::HashMap;
use std::time::Duration;

use agent::budget::BudgetCheck;
use agent::stream::{self, StreamEntry, StreamKeys};
use agent::trace::TraceContext;
use chrono::{DateTime, Utc};
use entity::{
    MessageId, MessageRole, MessageStatus, SessionId, TenantScoped, TenantTxn, message, session,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::{Page, page_of};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest message, in characters after trimming.
pub const MAX_MESSAGE_CHARS: usize = 8000;
/// Longest idempotency key.
pub const MAX_CLIENT_MESSAGE_ID_CHARS: usize = 200;
/// Session titles are the first line of the first message, cut to this many characters.
pub const TITLE_CHARS: usize = 60;
/// How long `sendMessage` waits for Redis before leaving the message to the sweep.
pub const ENQUEUE_TIMEOUT: Duration = Duration::from_millis(750);

/// A session with its message count.
#[derive(Clone, Debug)]
pub struct SessionView {
    /// The session.
    pub session: session::Model,
    /// How many messages it holds.
    pub message_count: i64,
}

/// Keyset position in the sessions list (most recent first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionKey {
    /// `last_message_at` of the last session seen.
    pub last_message_at: DateTime<Utc>,
    /// Its id.
    pub id: SessionId,
}

async fn message_counts(
    txn: &TenantTxn,
    sessions: &[SessionId],
) -> Result<HashMap<SessionId, i64>, ApiError> {
    if sessions.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<sea_orm::Value> = sessions.iter().map(|s| s.uuid().into()).collect();
    let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
    let mut values = vec![txn.tenant().uuid().into()];
    values.extend(ids);
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT session_id, count(*) AS n FROM messages WHERE tenant_id = $1 \
                 AND session_id IN ({}) GROUP BY session_id",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((SessionId(r.try_get("", "session_id")?), r.try_get("", "n")?)))
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(ApiError::from)
}

/// The caller's sessions, most recent first.
///
/// # Errors
/// Database failures.
pub async fn sessions(
    state: &AppState,
    auth: AuthContext,
    first: u64,
    after: Option<SessionKey>,
) -> Result<Page<SessionView>, ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let mut query = session::Entity::find_in_tenant(auth.tenant_id)
        .filter(session::Column::UserId.eq(auth.user_id));
    if let Some(key) = after {
        query = query.filter(
            Condition::any()
                .add(session::Column::LastMessageAt.lt(key.last_message_at))
                .add(
                    Condition::all()
                        .add(session::Column::LastMessageAt.eq(key.last_message_at))
                        .add(session::Column::Id.lt(key.id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(session::Column::LastMessageAt)
        .order_by_desc(session::Column::Id)
        .limit(first + 1)
        .all(&txn)
        .await?;
    let page = page_of(rows, first, after.is_some());
    let ids: Vec<SessionId> = page.items.iter().map(|s| s.id).collect();
    let counts = message_counts(&txn, &ids).await?;
    txn.commit().await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|s| SessionView {
                message_count: counts.get(&s.id).copied().unwrap_or(0),
                session: s,
            })
            .collect(),
        has_next: page.has_next,
        has_previous: page.has_previous,
    })
}

/// The caller's session `id`, or NOT_FOUND (also for another user's or tenant's session).
async fn own_session(
    txn: &TenantTxn,
    auth: AuthContext,
    id: SessionId,
) -> Result<session::Model, ApiError> {
    session::Entity::find_by_id_in_tenant(auth.tenant_id, id)
        .filter(session::Column::UserId.eq(auth.user_id))
        .one(txn)
        .await?
        .ok_or(ApiError::NotFound("session"))
}

/// Checks that `id` is one of the caller's sessions.
///
/// # Errors
/// [`ApiError::NotFound`] otherwise.
pub async fn check_own_session(
    state: &AppState,
    auth: AuthContext,
    id: SessionId,
) -> Result<(), ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    own_session(&txn, auth, id).await?;
    txn.commit().await?;
    Ok(())
}

/// The last `last` messages of one of the caller's sessions before `before`, oldest first.
///
/// # Errors
/// [`ApiError::NotFound`] for a session that is not the caller's; database failures.
pub async fn conversation(
    state: &AppState,
    auth: AuthContext,
    session_id: SessionId,
    last: u64,
    before: Option<MessageId>,
) -> Result<Page<message::Model>, ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    own_session(&txn, auth, session_id).await?;
    let mut query = message::Entity::find_in_tenant(auth.tenant_id)
        .filter(message::Column::SessionId.eq(session_id));
    if let Some(before) = before {
        query = query.filter(message::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(message::Column::Id)
        .limit(last + 1)
        .all(&txn)
        .await?;
    txn.commit().await?;
    // Fetched newest first; the page holds the newest `last`, shown oldest first. Older messages
    // precede it (has_previous); newer ones follow it when a `before` cursor was given.
    let newest_first = page_of(rows, last, false);
    let mut items = newest_first.items;
    items.reverse();
    Ok(Page {
        items,
        has_previous: newest_first.has_next,
        has_next: before.is_some(),
    })
}

/// Input of `sendMessage`.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The text (trimmed here).
    pub content: String,
    /// The session to continue; a new one is started when absent.
    pub session_id: Option<SessionId>,
    /// Idempotency key.
    pub client_message_id: Option<String>,
    /// The trace context of the request's span: the agent continues its trace (it travels in
    /// the stream entry and in the message's metadata).
    pub trace: Option<TraceContext>,
}

/// What `sendMessage` returns.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The stored user message.
    pub message: message::Model,
    /// Its session.
    pub session: SessionView,
}

/// The title of a new session: the first line of its first message, cut short.
#[must_use]
pub fn session_title(content: &str) -> String {
    let line = content
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > TITLE_CHARS {
        let cut: String = line.chars().take(TITLE_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        line.to_owned()
    }
}

/// Validates the input, checks the rate limits and the tenant's daily budget, stores the user
/// message (QUEUED) in a new or existing session of the caller, commits, then appends it to the
/// agent's stream. When Redis does not answer in time the message stays QUEUED and the agent's
/// sweep enqueues it later: an accepted message is never lost.
///
/// # Errors
/// [`ApiError::Invalid`] for empty or too long content or a bad idempotency key;
/// [`ApiError::NotFound`] for a session that is not the caller's; [`ApiError::RateLimited`]
/// when the caller or their tenant sends too fast, or the tenant's daily token budget is used
/// up; database failures.
pub async fn send_message(
    state: &AppState,
    auth: AuthContext,
    input: NewMessage,
) -> Result<Sent, ApiError> {
    let content = input.content.trim().to_owned();
    let chars = content.chars().count();
    if chars == 0 {
        return Err(ApiError::Invalid("content must not be empty".into()));
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(ApiError::Invalid(format!(
            "content is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}"
        )));
    }
    if let Some(key) = &input.client_message_id {
        let n = key.chars().count();
        if n == 0 || n > MAX_CLIENT_MESSAGE_ID_CHARS {
            return Err(ApiError::Invalid(format!(
                "clientMessageId must be 1-{MAX_CLIENT_MESSAGE_ID_CHARS} characters"
            )));
        }
        if let Some(existing) = existing_by_key(state, auth, key).await? {
            return Ok(existing);
        }
    }
    state
        .rate_limiter
        .check_message(auth.tenant_id, auth.user_id)
        .await?;
    let stored = match store(state, auth, &content, &input).await {
        Ok(sent) => sent,
        // Another request with the same key won the race: return what it stored.
        Err(ApiError::Invalid(msg)) if msg.contains("messages_client_message_id") => {
            let key = input.client_message_id.as_deref().unwrap_or_default();
            return existing_by_key(state, auth, key)
                .await?
                .ok_or(ApiError::Internal(msg));
        }
        Err(e) => return Err(e),
    };
    let entry = StreamEntry {
        tenant_id: auth.tenant_id,
        user_id: auth.user_id,
        session_id: stored.session.session.id,
        message_id: stored.message.id,
        traceparent: input.trace.map(|t| t.traceparent()),
    };
    let keys = StreamKeys::new(&state.config.redis_prefix);
    if let Err(e) = stream::enqueue(&state.redis, &keys, &entry, ENQUEUE_TIMEOUT).await {
        tracing::warn!(message.id = %entry.message_id, error = %e, "message stored but not enqueued; the sweep will enqueue it");
    }
    Ok(stored)
}

async fn existing_by_key(
    state: &AppState,
    auth: AuthContext,
    key: &str,
) -> Result<Option<Sent>, ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let existing = message::Entity::find_in_tenant(auth.tenant_id)
        .filter(message::Column::UserId.eq(auth.user_id))
        .filter(message::Column::ClientMessageId.eq(key))
        .one(&txn)
        .await?;
    let Some(message) = existing else {
        return Ok(None);
    };
    let session = own_session(&txn, auth, message.session_id).await?;
    let counts = message_counts(&txn, &[session.id]).await?;
    txn.commit().await?;
    Ok(Some(Sent {
        session: SessionView {
            message_count: counts.get(&session.id).copied().unwrap_or(0),
            session,
        },
        message,
    }))
}

async fn store(
    state: &AppState,
    auth: AuthContext,
    content: &str,
    input: &NewMessage,
) -> Result<Sent, ApiError> {
    let now = Utc::now();
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let budget = state.config.runtime.turn.daily_token_budget;
    if let BudgetCheck::Exhausted { resets_in, .. } = agent::budget::check(&txn, budget).await? {
        return Err(ApiError::RateLimited {
            reason: "your organisation has used up today's allowance for the assistant \
                     (it renews at midnight UTC)",
            retry_after: resets_in,
        });
    }
    let session = match input.session_id {
        Some(id) => {
            let s = own_session(&txn, auth, id).await?;
            session::Entity::update_many()
                .col_expr(session::Column::LastMessageAt, Expr::value(now))
                .filter(session::Column::Id.eq(s.id))
                .filter(session::Column::TenantId.eq(auth.tenant_id))
                .exec(&txn)
                .await?;
            session::Model {
                last_message_at: now,
                ..s
            }
        }
        None => {
            let s = session::Model {
                id: SessionId::new(),
                tenant_id: auth.tenant_id,
                user_id: auth.user_id,
                title: session_title(content),
                created_at: now,
                last_message_at: now,
            };
            session::Entity::insert(sea_orm::IntoActiveModel::into_active_model(s.clone()))
                .exec(&txn)
                .await?;
            s
        }
    };
    let message = message::Model {
        id: MessageId::new(),
        tenant_id: auth.tenant_id,
        user_id: auth.user_id,
        session_id: session.id,
        role: MessageRole::User,
        content: content.to_owned(),
        status: MessageStatus::Queued,
        client_message_id: input.client_message_id.clone(),
        reply_to_id: None,
        provider: None,
        error: None,
        metadata: match input.trace {
            Some(trace) => serde_json::json!({ "traceparent": trace.traceparent() }),
            None => serde_json::json!({}),
        },
        created_at: now,
    };
    message::Entity::insert(sea_orm::IntoActiveModel::into_active_model(message.clone()))
        .exec(&txn)
        .await?;
    let counts = message_counts(&txn, &[session.id]).await?;
    txn.commit().await?;
    Ok(Sent {
        session: SessionView {
            message_count: counts.get(&session.id).copied().unwrap_or(1),
            session,
        },
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_line_cut_short() {
        assert_eq!(session_title("  Hello there\nsecond line"), "Hello there");
        let long = "a".repeat(100);
        let title = session_title(&long);
        assert_eq!(title.chars().count(), TITLE_CHARS);
        assert!(title.ends_with('…'));
        assert_eq!(session_title("\n\n  x"), "x");
    }
}
