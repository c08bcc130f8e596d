//! `sessions`: one conversation of a user with their tenant's agent.

use sea_orm::entity::prelude::*;

use crate::ids::{SessionId, TenantId, UserId};

/// A conversation; its messages are in `messages`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// The session's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: SessionId,
    /// The tenant of the user.
    pub tenant_id: TenantId,
    /// The user who talks in this session.
    pub user_id: UserId,
    /// Title, taken from the first message.
    pub title: String,
    /// When the session was started.
    pub created_at: DateTimeUtc,
    /// When the last message of the session was stored.
    pub last_message_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
