//! `messages`: what users say and what the agent answers. A user message carries the status of
//! its processing; the assistant message answering it points back through `reply_to_id`, and a
//! unique index allows only one such answer per user message: that index is what makes the
//! agent's effects happen at most once even when two workers race on a reclaimed entry.

use sea_orm::entity::prelude::*;

use crate::enums::{MessageRole, MessageStatus};
use crate::ids::{MessageId, SessionId, TenantId, UserId};

/// One message of a session.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// The message's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: MessageId,
    /// The tenant of the session.
    pub tenant_id: TenantId,
    /// The user whose session this is (also for assistant messages).
    pub user_id: UserId,
    /// The session the message belongs to.
    pub session_id: SessionId,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text.
    pub content: String,
    /// Processing state (user messages) or COMPLETE (assistant messages).
    pub status: MessageStatus,
    /// The sender's idempotency key; unique per user.
    pub client_message_id: Option<String>,
    /// For an assistant message: the user message it answers.
    pub reply_to_id: Option<MessageId>,
    /// For an assistant message: which LLM provider and model answered.
    pub provider: Option<String>,
    /// For a FAILED user message: why, readable by the user.
    pub error: Option<String>,
    /// For an assistant message: actions, sources and token usage (see `agent`).
    pub metadata: Json,
    /// When the message was stored.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
