//! One turn of a conversation: how the agent answers one user message. [`Turns`] is the
//! consumer's [`SessionHandler`]: for a session it claims the oldest unfinished user message and
//! runs the steps of ARCHITECTURE.md:
//!
//! 1. **claim**: in one statement, the oldest QUEUED/PROCESSING user message of the session
//!    becomes PROCESSING and its attempt count (in its `metadata`) goes up; the sender sees
//!    `MessageStatusChanged(PROCESSING)`.
//! 2. **budget, agent and memory**: the tenant's daily token budget ([`crate::budget`]) first
//!    (a tenant over budget gets no LLM call: the message ends FAILED saying when the budget
//!    renews), then the tenant's cached [`TenantAgent`] and the session's history.
//! 3. **retrieve**: the top-k knowledge chunks for the message; they become the reply's sources.
//! 4. **llm**: the provider answers the assembled prompt; streamed text is published as
//!    `AgentReplyDelta`s, in order, before the final reply.
//! 5. **commit**, in ONE tenant transaction: the proposed actions are validated and executed by
//!    the action registry (rejections recorded), the assistant message is stored with its
//!    actions, sources and token usage, the user message becomes ANSWERED, the session's
//!    `last_message_at` and the tenant's daily usage are updated. The unique index on
//!    `reply_to_id` makes this happen once per message, even if two workers race.
//! 6. **publish**, after the commit: each notification to its recipient, `AgentReply` and
//!    `MessageStatusChanged(ANSWERED)` to the sender; then the turn is added to the memory.
//!
//! Failures: a transient one (database or Redis down, LLM unavailable or rate limited) puts the
//! message back to QUEUED and asks the consumer to retry after a backoff; after
//! [`TurnConfig::max_attempts`] attempts the message ends FAILED with the last reason (the dead
//! letter). A permanent one (the LLM refuses the request or its quota is gone, the sender no
//! longer exists) ends FAILED at once. A FAILED message gets `MessageFailed` and
//! `MessageStatusChanged(FAILED)`. Nothing here panics or blocks the session for longer than the
//! backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use entity::waits::{self, Service, timed};
use entity::{
    Db, DbError, MessageId, MessageRole, MessageStatus, SessionId, TenantScoped, TenantTxn, UserId,
    message, user,
};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, Statement};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::budget::{self, BudgetCheck};
use crate::bus::{MessagePayload, NotificationPayload, Publisher, UserEvent, UserSummary};
use crate::consumer::{Retry, SessionHandler};
use crate::llm::{DeltaSink, LlmError, LlmProvider, LlmResponse};
use crate::memory::{SessionKey, SessionMemory};
use crate::prompt::Turn;
use crate::reply::{ActionStatus, ReplyMetadata, Source, TokenUsage};
use crate::retrieval::Retriever;
use crate::stream::StreamEntry;
use crate::telemetry::{self, Outcome, Step};
use crate::tenant::{TenantAgent, TenantAgentError, TenantAgentRegistry};
use crate::trace::TraceContext;

/// Settings of the turn pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnConfig {
    /// Knowledge chunks retrieved per message (`RETRIEVAL_TOP_K`).
    pub retrieval_k: usize,
    /// Attempts before a message that keeps failing transiently ends FAILED
    /// (`AGENT_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt up to [`TurnConfig::max_backoff`].
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// LLM tokens a tenant may use per UTC day, 0 for no limit (`TENANT_DAILY_TOKEN_BUDGET`).
    pub daily_token_budget: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            retrieval_k: 5,
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            daily_token_budget: 0,
        }
    }
}

/// What can end a turn without a reply.
#[derive(Debug)]
enum TurnError {
    /// Try again later (after `after`, when the cause said so). `reason` is for the log;
    /// `shown` is what the user reads if the attempts run out.
    Transient {
        reason: String,
        shown: String,
        after: Option<Duration>,
    },
    /// Give up now; the text is for the user.
    Permanent(String),
}

impl From<DbError> for TurnError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(d) => Self::Transient {
                reason: format!("database unavailable: {d}"),
                shown: "The assistant's database was unavailable.".into(),
                after: None,
            },
            other => {
                // The detail is for the operator; the user gets no internals.
                tracing::error!(error = %other, "a turn failed on a database error");
                Self::Permanent("The assistant could not store its answer (internal error).".into())
            }
        }
    }
}

impl From<sea_orm::DbErr> for TurnError {
    fn from(e: sea_orm::DbErr) -> Self {
        DbError::from(e).into()
    }
}

impl From<TenantAgentError> for TurnError {
    fn from(e: TenantAgentError) -> Self {
        match e {
            TenantAgentError::Db(db) => db.into(),
            TenantAgentError::UnknownSender(_) | TenantAgentError::TenantNotFound(_) => {
                Self::Permanent("The sender of this message no longer has an account here.".into())
            }
        }
    }
}

impl From<LlmError> for TurnError {
    fn from(e: LlmError) -> Self {
        match &e {
            LlmError::RateLimited { retry_after } => Self::Transient {
                reason: e.to_string(),
                shown: e.user_reason(),
                after: Some(*retry_after),
            },
            LlmError::Unavailable(_) => Self::Transient {
                reason: e.to_string(),
                shown: e.user_reason(),
                after: None,
            },
            LlmError::QuotaExhausted(_) | LlmError::Refused(_) => Self::Permanent(e.user_reason()),
        }
    }
}

/// A claimed user message.
#[derive(Clone, Debug)]
struct Claimed {
    id: MessageId,
    content: String,
    attempts: u32,
    last_error: Option<String>,
    /// The newest assistant message of the session when it was claimed.
    last_reply: Option<MessageId>,
    /// W3C trace context of the request that sent it (`metadata.traceparent`).
    traceparent: Option<String>,
}

/// Publishes streamed reply text in order, through a queue drained by one task.
struct DeltaPublisher {
    tx: mpsc::UnboundedSender<String>,
}

impl DeltaSink for DeltaPublisher {
    fn push(&self, text: &str) {
        if !text.is_empty() {
            let _ = self.tx.send(text.to_owned());
        }
    }
}

/// The turn pipeline: the agent's [`SessionHandler`].
pub struct Turns {
    db: Db,
    agents: Arc<TenantAgentRegistry>,
    memory: Arc<SessionMemory>,
    retriever: Arc<dyn Retriever>,
    llm: Arc<dyn LlmProvider>,
    publisher: Publisher,
    config: TurnConfig,
    /// The last reply this process added to each session's memory: when the database knows a
    /// newer one (answered by another process), the memory of that session is stale.
    remembered: Mutex<HashMap<SessionId, MessageId>>,
}

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turns")
            .field("llm", &self.llm.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Sessions remembered in [`Turns::remembered`] before the map is reset (it only saves warm-ups).
const MAX_REMEMBERED: usize = 100_000;

impl Turns {
    /// The pipeline over these parts.
    #[must_use]
    pub fn new(
        db: Db,
        agents: Arc<TenantAgentRegistry>,
        memory: Arc<SessionMemory>,
        retriever: Arc<dyn Retriever>,
        llm: Arc<dyn LlmProvider>,
        publisher: Publisher,
        config: TurnConfig,
    ) -> Self {
        Self {
            db,
            agents,
            memory,
            retriever,
            llm,
            publisher,
            config,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant agents (to invalidate when a tenant changes).
    #[must_use]
    pub fn agents(&self) -> &Arc<TenantAgentRegistry> {
        &self.agents
    }

    /// Publishes `event` to `user`; false when it could not be published.
    async fn publish(&self, user: UserId, event: &UserEvent) -> bool {
        match self.publisher.to_user(user, event).await {
            Ok(()) => true,
            Err(e) => {
                // Live delivery is best effort: the outcome is committed and the API serves it.
                tracing::warn!(user.id = %user, error = %e, "could not publish an event");
                false
            }
        }
    }

    async fn status(&self, entry: &StreamEntry, message: MessageId, status: MessageStatus) {
        let event = UserEvent::MessageStatusChanged {
            session_id: entry.session_id,
            message_id: message,
            status,
        };
        self.publish(entry.user_id, &event).await;
    }

    /// Step 1: claims the session's oldest unfinished user message.
    async fn claim(&self, entry: &StreamEntry) -> Result<Option<Claimed>, TurnError> {
        let txn = self.db.begin_in_tenant(entry.tenant_id).await?;
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE messages SET status = 'PROCESSING', metadata = jsonb_set(metadata, '{attempts}', \
                     to_jsonb(COALESCE((metadata->>'attempts')::int, 0) + 1)) \
                 WHERE id = (SELECT id FROM messages WHERE tenant_id = $1 AND session_id = $2 AND role = 'USER' \
                             AND status IN ('QUEUED', 'PROCESSING') ORDER BY id LIMIT 1 FOR UPDATE) \
                 RETURNING id, content, (metadata->>'attempts')::int AS attempts, metadata->>'last_error' AS last_error, \
                     metadata->>'traceparent' AS traceparent, \
                     (SELECT id FROM messages WHERE tenant_id = $1 AND session_id = $2 AND role = 'ASSISTANT' \
                      ORDER BY id DESC LIMIT 1) AS last_reply",
                [entry.tenant_id.uuid().into(), entry.session_id.uuid().into()],
            ))
            .await?;
        txn.commit().await?;
        let Some(row) = row else { return Ok(None) };
        let attempts: i32 = row.try_get("", "attempts")?;
        Ok(Some(Claimed {
            id: MessageId(row.try_get("", "id")?),
            content: row.try_get("", "content")?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_error: row.try_get("", "last_error")?,
            last_reply: row
                .try_get::<Option<uuid::Uuid>>("", "last_reply")?
                .map(MessageId),
            traceparent: row.try_get("", "traceparent")?,
        }))
    }

    /// Steps 2-6 for a claimed message.
    async fn answer(&self, entry: &StreamEntry, claimed: &Claimed) -> Result<(), TurnError> {
        let key = SessionKey {
            tenant: entry.tenant_id,
            user: entry.user_id,
            session: entry.session_id,
        };
        self.forget_if_stale(key, claimed.last_reply);
        self.check_budget(entry).await?;
        let (agent, history) = telemetry::step(Step::Context, async {
            let agent = self
                .agents
                .get_for_sender(entry.tenant_id, entry.user_id)
                .await?;
            let history = self.memory.history(&self.db, key).await?;
            Ok::<_, TurnError>((agent, history))
        })
        .await?;
        let knowledge = telemetry::step(
            Step::Retrieve,
            self.retriever.retrieve(
                &self.db,
                entry.tenant_id,
                &claimed.content,
                self.config.retrieval_k,
                None,
            ),
        )
        .await
        .map_err(|e| TurnError::Transient {
            reason: format!("retrieval failed: {e}"),
            shown: "The assistant could not search its knowledge.".into(),
            after: None,
        })?;
        let sources: Vec<Source> = knowledge
            .iter()
            .map(|k| Source {
                knowledge_id: k.id,
                title: k.title.clone(),
                category: k.category.clone(),
                score: k.score,
            })
            .collect();
        let prompt = agent.prompt(entry.user_id, claimed.content.clone(), knowledge, history)?;

        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let deltas = {
            let publisher = self.publisher.clone();
            let (session, reply_to, user) = (entry.session_id, claimed.id, entry.user_id);
            tokio::spawn(async move {
                while let Some(delta) = rx.recv().await {
                    let event = UserEvent::AgentReplyDelta {
                        session_id: session,
                        reply_to,
                        delta,
                    };
                    if let Err(e) = publisher.to_user(user, &event).await {
                        tracing::warn!(error = %e, "could not publish a reply delta");
                    }
                }
            })
        };
        let sink = DeltaPublisher { tx };
        let provider = self.llm.name();
        let started = Instant::now();
        let generated = telemetry::step(
            Step::Llm,
            timed(Service::Llm, self.llm.generate(&prompt, &sink)),
        )
        .await;
        telemetry::llm_call(
            &provider,
            entry.tenant_id,
            started.elapsed(),
            &generated,
            |r: &LlmResponse| (r.usage, r.finish),
        );
        let mut response = match generated {
            Ok(response) => response,
            Err(e) => {
                drop(sink);
                let _ = timed(Service::Redis, deltas).await;
                return Err(e.into());
            }
        };

        let committed = telemetry::step(
            Step::Commit,
            self.commit(entry, claimed, &agent, &mut response, &sources, &sink),
        )
        .await;
        // Every delta (also a note appended at commit) is published before the final reply.
        drop(sink);
        let _ = timed(Service::Redis, deltas).await;
        let Some((reply, notifications, sender)) = committed? else {
            // Another worker answered it first: its reply is the outcome.
            return Ok(());
        };
        telemetry::message_outcome(entry.tenant_id, Outcome::Answered, false);
        tracing::Span::current().record("outcome", Outcome::Answered.name());
        telemetry::step(Step::Publish, async {
            for n in &notifications {
                let payload = NotificationPayload {
                    id: n.id,
                    from: sender.clone(),
                    message: n.message.clone(),
                    priority: n.priority,
                    read: n.read,
                    source_message_id: n.source_message_id,
                    created_at: n.created_at,
                };
                if self
                    .publish(n.to_user_id, &UserEvent::Notification(payload))
                    .await
                {
                    telemetry::notification_published(entry.tenant_id);
                }
            }
            let event = UserEvent::AgentReply {
                session_id: entry.session_id,
                reply_to: claimed.id,
                message: MessagePayload::from(&reply),
            };
            self.publish(entry.user_id, &event).await;
            self.status(entry, claimed.id, MessageStatus::Answered)
                .await;
        })
        .await;
        self.memory.record(
            key,
            Turn {
                role: MessageRole::User,
                content: claimed.content.clone(),
            },
            Turn {
                role: MessageRole::Assistant,
                content: reply.content.clone(),
            },
        );
        self.remember(entry.session_id, reply.id);
        Ok(())
    }

    /// Refuses the turn (for good) when the tenant's daily token budget is used up.
    async fn check_budget(&self, entry: &StreamEntry) -> Result<(), TurnError> {
        if self.config.daily_token_budget == 0 {
            return Ok(());
        }
        let txn = self.db.begin_in_tenant(entry.tenant_id).await?;
        let state = budget::check(&txn, self.config.daily_token_budget).await?;
        txn.commit().await?;
        match state {
            BudgetCheck::Within => Ok(()),
            BudgetCheck::Exhausted { resets_in, .. } => {
                Err(TurnError::Permanent(budget::exhausted_reason(resets_in)))
            }
        }
    }

    /// Step 5: one transaction. Returns `None` when another worker committed a reply first.
    async fn commit(
        &self,
        entry: &StreamEntry,
        claimed: &Claimed,
        agent: &TenantAgent,
        response: &mut LlmResponse,
        sources: &[Source],
        sink: &DeltaPublisher,
    ) -> Result<
        Option<(
            message::Model,
            Vec<entity::notification::Model>,
            Option<UserSummary>,
        )>,
        TurnError,
    > {
        let txn = self.db.begin_in_tenant(entry.tenant_id).await?;
        let context = agent.action_context(entry.user_id, claimed.id);
        let applied = telemetry::step(
            Step::Actions,
            agent.actions().apply(&txn, &response.actions, &context),
        )
        .await?;
        // A reply that says "done" about an action that was not done would mislead: say so.
        let not_done: Vec<String> = applied
            .records
            .iter()
            .filter(|r| r.status != ActionStatus::Executed)
            .map(|r| {
                format!(
                    "{} was not done: {}",
                    r.kind,
                    r.error.as_deref().unwrap_or("refused")
                )
            })
            .collect();
        if !not_done.is_empty() {
            let note = format!("\n\n(Note: {}.)", not_done.join("; "));
            sink.push(&note);
            response.reply.push_str(&note);
        }
        let now = Utc::now();
        let metadata = ReplyMetadata {
            actions: applied.records,
            sources: sources.to_vec(),
            usage: TokenUsage {
                prompt_tokens: response.usage.prompt_tokens,
                output_tokens: response.usage.output_tokens,
            },
        };
        let reply = message::Model {
            id: MessageId::new(),
            tenant_id: entry.tenant_id,
            user_id: entry.user_id,
            session_id: entry.session_id,
            role: MessageRole::Assistant,
            content: response.reply.replace('\0', ""),
            status: MessageStatus::Complete,
            client_message_id: None,
            reply_to_id: Some(claimed.id),
            provider: Some(response.model.clone()),
            error: None,
            metadata: serde_json::to_value(&metadata).unwrap_or_default(),
            created_at: now,
        };
        match message::Entity::insert(reply.clone().into_active_model())
            .exec(&txn)
            .await
        {
            Ok(_) => {}
            Err(e) => {
                let e = DbError::from(e);
                if matches!(&e, DbError::Conflict(what) if what.contains("messages_one_reply")) {
                    return Ok(None);
                }
                return Err(e.into());
            }
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE messages SET status = 'ANSWERED', error = NULL WHERE tenant_id = $1 AND id = $2",
            [entry.tenant_id.uuid().into(), claimed.id.uuid().into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE sessions SET last_message_at = $3 WHERE tenant_id = $1 AND id = $2",
            [
                entry.tenant_id.uuid().into(),
                entry.session_id.uuid().into(),
                now.into(),
            ],
        ))
        .await?;
        record_usage(&txn, response).await?;
        let sender = user::Entity::find_by_id_in_tenant(entry.tenant_id, entry.user_id)
            .one(&txn)
            .await?
            .map(|u| UserSummary::from(&u));
        txn.commit().await?;
        telemetry::actions(entry.tenant_id, &metadata.actions);
        Ok(Some((reply, applied.notifications, sender)))
    }

    /// Ends a message FAILED with `reason` (unless it already has an outcome); `dead_letter`
    /// when it used up its attempts.
    async fn fail(
        &self,
        entry: &StreamEntry,
        message: MessageId,
        reason: &str,
        dead_letter: bool,
    ) -> Result<(), TurnError> {
        let txn = self.db.begin_in_tenant(entry.tenant_id).await?;
        let changed = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE messages SET status = 'FAILED', error = $3 WHERE tenant_id = $1 AND id = $2 \
                 AND status IN ('QUEUED', 'PROCESSING')",
                [entry.tenant_id.uuid().into(), message.uuid().into(), reason.into()],
            ))
            .await?
            .rows_affected();
        txn.commit().await?;
        if changed == 1 {
            telemetry::message_outcome(entry.tenant_id, Outcome::Failed, dead_letter);
            tracing::Span::current().record("outcome", Outcome::Failed.name());
            tracing::warn!(message.id = %message, reason, dead_letter, "message failed");
            let event = UserEvent::MessageFailed {
                session_id: entry.session_id,
                message_id: message,
                error: reason.to_owned(),
            };
            self.publish(entry.user_id, &event).await;
            self.status(entry, message, MessageStatus::Failed).await;
        }
        Ok(())
    }

    /// Puts a message back to QUEUED after a transient failure, remembering why (in words for
    /// the user, shown if the attempts run out).
    async fn requeue(
        &self,
        entry: &StreamEntry,
        message: MessageId,
        reason: &str,
    ) -> Result<(), TurnError> {
        let txn = self.db.begin_in_tenant(entry.tenant_id).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE messages SET status = 'QUEUED', metadata = jsonb_set(metadata, '{last_error}', to_jsonb($3::text)) \
             WHERE tenant_id = $1 AND id = $2 AND status = 'PROCESSING'",
            [entry.tenant_id.uuid().into(), message.uuid().into(), reason.into()],
        ))
        .await?;
        txn.commit().await?;
        self.status(entry, message, MessageStatus::Queued).await;
        Ok(())
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(2_u32.saturating_pow(attempts.saturating_sub(1)));
        let capped = exp.min(self.config.max_backoff);
        // Up to a quarter of jitter, so that retries of many sessions do not stampede.
        let jitter = capped.mul_f64(rand::random::<f64>() * 0.25);
        capped + jitter
    }

    fn forget_if_stale(&self, key: SessionKey, last_reply: Option<MessageId>) {
        let remembered = self
            .remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key.session)
            .copied();
        if remembered != last_reply {
            self.memory.forget(key);
        }
    }

    fn remember(&self, session: SessionId, reply: MessageId) {
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(session, reply);
    }
}

/// Adds the reply's tokens to the tenant's usage of the day.
async fn record_usage(txn: &TenantTxn, response: &LlmResponse) -> Result<(), DbError> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO tenant_usage (tenant_id, day, messages, prompt_tokens, output_tokens) \
         VALUES ($1, (now() AT TIME ZONE 'UTC')::date, 1, $2, $3) \
         ON CONFLICT (tenant_id, day) DO UPDATE SET messages = tenant_usage.messages + 1, \
         prompt_tokens = tenant_usage.prompt_tokens + EXCLUDED.prompt_tokens, \
         output_tokens = tenant_usage.output_tokens + EXCLUDED.output_tokens",
        [
            txn.tenant().uuid().into(),
            i64::from(response.usage.prompt_tokens).into(),
            i64::from(response.usage.output_tokens).into(),
        ],
    ))
    .await?;
    Ok(())
}

impl Turns {
    /// The `message` span of a claimed message, a child of the span of the request that sent
    /// it (see [`crate::trace`]): from the stream entry when it is this message's, else from
    /// the message's metadata (another entry of the session, a reclaim or the sweep brought it).
    fn message_span(entry: &StreamEntry, claimed: &Claimed) -> tracing::Span {
        let span = tracing::info_span!(
            "message",
            tenant.id = %entry.tenant_id,
            session.id = %entry.session_id,
            message.id = %claimed.id,
            attempt = claimed.attempts,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            trace.id = tracing::field::Empty,
            span.id = tracing::field::Empty,
            span.parent_id = tracing::field::Empty,
        );
        let from_entry = (entry.message_id == claimed.id)
            .then_some(entry.traceparent.as_deref())
            .flatten();
        let parent = from_entry
            .or(claimed.traceparent.as_deref())
            .and_then(TraceContext::parse);
        let _context = TraceContext::start(&span, parent);
        span
    }

    /// Everything after the claim: the dead letter, or the answer and what a failure means.
    async fn process_claimed(
        &self,
        entry: &StreamEntry,
        claimed: Claimed,
    ) -> Result<Option<MessageId>, Retry> {
        if claimed.attempts > self.config.max_attempts {
            let last = claimed
                .last_error
                .as_deref()
                .unwrap_or("Please try again later.");
            let reason = format!(
                "The assistant could not answer after {} attempts. {last}",
                self.config.max_attempts
            );
            return match self.fail(entry, claimed.id, &reason, true).await {
                Ok(()) => Ok(Some(claimed.id)),
                Err(e) => Err(Retry {
                    after: self.config.base_backoff,
                    reason: format!("{e:?}"),
                }),
            };
        }
        self.status(entry, claimed.id, MessageStatus::Processing)
            .await;
        let outcome = self.answer(entry, &claimed).await;
        let recovery = match outcome {
            Ok(()) => return Ok(Some(claimed.id)),
            Err(TurnError::Permanent(reason)) => self
                .fail(entry, claimed.id, &reason, false)
                .await
                .map(|()| None),
            Err(TurnError::Transient {
                reason,
                shown,
                after,
            }) => self.requeue(entry, claimed.id, &shown).await.map(|()| {
                telemetry::message_outcome(entry.tenant_id, Outcome::Retried, false);
                tracing::Span::current().record("outcome", Outcome::Retried.name());
                Some(Retry {
                    after: after.unwrap_or_else(|| self.backoff(claimed.attempts)),
                    reason,
                })
            }),
        };
        match recovery {
            Ok(None) => Ok(Some(claimed.id)),
            Ok(Some(retry)) => Err(retry),
            Err(e) => Err(Retry {
                after: self.backoff(claimed.attempts),
                reason: format!("{e:?}"),
            }),
        }
    }
}

#[async_trait]
impl SessionHandler for Turns {
    /// Processes the message, and logs its time split (wall time, and the time spent waiting on
    /// Postgres, Redis and the LLM; the rest is orchestration) at DEBUG under the target
    /// `concierge::time_split` (the benchmarks enable it).
    async fn process_oldest(&self, entry: &StreamEntry) -> Result<Option<MessageId>, Retry> {
        let started = Instant::now();
        let (outcome, waits) = waits::measure(self.process_traced(entry)).await;
        if let Ok(Some(id)) = &outcome {
            let wall = started.elapsed();
            let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            tracing::debug!(
                target: "concierge::time_split",
                {
                    message.id = %id,
                    wall_us = us(wall),
                    postgres_us = us(waits.postgres),
                    redis_us = us(waits.redis),
                    llm_us = us(waits.llm),
                    orchestration_us = us(wall.saturating_sub(waits.total())),
                },
                "time split of a message"
            );
        }
        outcome
    }
}

impl Turns {
    /// Claims and processes the session's oldest message in its `message` span, recording the
    /// step and message metrics.
    async fn process_traced(&self, entry: &StreamEntry) -> Result<Option<MessageId>, Retry> {
        let started = Instant::now();
        let claim = self.claim(entry).await;
        telemetry::step_latency(Step::Claim, started.elapsed());
        let claimed = match claim {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return Ok(None),
            Err(TurnError::Transient { reason, after, .. }) => {
                return Err(Retry {
                    after: after.unwrap_or(self.config.base_backoff),
                    reason,
                });
            }
            Err(TurnError::Permanent(reason)) => {
                return Err(Retry {
                    after: self.config.max_backoff,
                    reason,
                });
            }
        };
        // The first attempt's wait is the queue's; a retry's includes its backoff.
        let queue_wait = (claimed.attempts == 1).then(|| claimed.id.age());
        let span = Self::message_span(entry, &claimed);
        let outcome = self
            .process_claimed(entry, claimed)
            .instrument(span.clone())
            .await;
        let elapsed = started.elapsed();
        span.record("duration_ms", telemetry::millis(elapsed));
        telemetry::message_timing(queue_wait, elapsed);
        span.in_scope(|| match &outcome {
            Ok(_) => tracing::info!("message done"),
            Err(retry) => tracing::info!(retry_in = ?retry.after, "message will be retried"),
        });
        outcome
    }
}
