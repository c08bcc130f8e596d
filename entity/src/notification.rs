//! `notifications`: what the agent sent to a user on behalf of a colleague.

use sea_orm::entity::prelude::*;

use crate::enums::Priority;
use crate::ids::{MessageId, NotificationId, TenantId, UserId};

/// A notification in a user's inbox.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    /// The notification's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: NotificationId,
    /// The tenant of sender and recipient.
    pub tenant_id: TenantId,
    /// The user whose conversation caused it (gone if that user was deleted).
    pub from_user_id: Option<UserId>,
    /// The recipient.
    pub to_user_id: UserId,
    /// The text.
    pub message: String,
    /// How urgent it is.
    pub priority: Priority,
    /// Whether the recipient has read it.
    pub read: bool,
    /// The user message that caused it.
    pub source_message_id: Option<MessageId>,
    /// When it was sent.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
