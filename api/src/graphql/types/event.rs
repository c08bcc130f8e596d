//! `Event`: an entry of the tenant's event log.

use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{event, user};

use super::account::User;
use super::id;

/// Something that happened in the tenant.
#[derive(SimpleObject, Clone, Debug)]
pub struct Event {
    /// The event's id.
    pub id: ID,
    /// action.notify_user, agent.log_event, action.rejected, knowledge.added, ...
    pub kind: String,
    /// Who caused it.
    pub actor: Option<User>,
    /// Details.
    pub payload: Json<serde_json::Value>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl Event {
    /// From a stored event and its actor.
    pub fn new(e: &event::Model, actor: Option<&user::Model>) -> Self {
        Self {
            id: id(e.id),
            kind: e.kind.clone(),
            actor: actor.map(User::from),
            payload: Json(e.payload.clone()),
            created_at: e.created_at,
        }
    }
}
