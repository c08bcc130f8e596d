//! `Notification` and `Priority`.

use agent::bus::NotificationPayload;
use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{notification, user};

use super::account::User;
use super::id;

/// How urgent a notification is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Whenever convenient.
    Low,
    /// The default.
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl From<entity::Priority> for Priority {
    fn from(p: entity::Priority) -> Self {
        match p {
            entity::Priority::Low => Self::Low,
            entity::Priority::Normal => Self::Normal,
            entity::Priority::High => Self::High,
            entity::Priority::Urgent => Self::Urgent,
        }
    }
}

/// A notification in a user's inbox.
#[derive(SimpleObject, Clone, Debug)]
pub struct Notification {
    /// The notification's id.
    pub id: ID,
    /// The user whose conversation caused it.
    pub from: Option<User>,
    /// The text.
    pub message: String,
    /// How urgent it is.
    pub priority: Priority,
    /// Whether I have read it.
    pub read: bool,
    /// The user message that caused it.
    pub source_message_id: Option<ID>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// From a stored notification and its sender.
    pub fn new(n: &notification::Model, from: Option<&user::Model>) -> Self {
        Self {
            id: id(n.id),
            from: from.map(User::from),
            message: n.message.clone(),
            priority: n.priority.into(),
            read: n.read,
            source_message_id: n.source_message_id.map(id),
            created_at: n.created_at,
        }
    }
}

impl From<&NotificationPayload> for Notification {
    fn from(n: &NotificationPayload) -> Self {
        Self {
            id: id(n.id),
            from: n.from.as_ref().map(User::from),
            message: n.message.clone(),
            priority: n.priority.into(),
            read: n.read,
            source_message_id: n.source_message_id.map(id),
            created_at: n.created_at,
        }
    }
}
