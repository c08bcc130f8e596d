//! `Session`, `Message` (with its `ActionRecord`s and `KnowledgeSource`s), `SendMessagePayload`
//! and the `ConversationEvent` union of the subscription.

use agent::bus::MessagePayload;
use agent::reply::ReplyMetadata;
use async_graphql::{Enum, ID, Json, SimpleObject, Union};
use chrono::{DateTime, Utc};
use entity::message;

use super::id;
use crate::service::conversation::SessionView;

/// Who wrote a message.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageRole {
    /// A person.
    User,
    /// The agent.
    Assistant,
}

/// Where a message is in its life.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageStatus {
    /// Stored, waiting for the agent.
    Queued,
    /// The agent is working on it.
    Processing,
    /// The agent's reply is stored.
    Answered,
    /// The agent gave up; `error` says why.
    Failed,
    /// An assistant message.
    Complete,
}

impl From<entity::MessageStatus> for MessageStatus {
    fn from(s: entity::MessageStatus) -> Self {
        match s {
            entity::MessageStatus::Queued => Self::Queued,
            entity::MessageStatus::Processing => Self::Processing,
            entity::MessageStatus::Answered => Self::Answered,
            entity::MessageStatus::Failed => Self::Failed,
            entity::MessageStatus::Complete => Self::Complete,
        }
    }
}

/// What happened to an action the agent's output asked for.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionStatus {
    /// Validated and done.
    Executed,
    /// Refused by validation; `error` says why.
    Rejected,
    /// Validated but could not be done.
    Failed,
}

/// An action the agent's output asked for.
#[derive(SimpleObject, Clone, Debug)]
pub struct ActionRecord {
    /// The action's id.
    pub id: ID,
    /// notify_user, notify_role, log_event, ... (or whatever unknown type the model named).
    #[graphql(name = "type")]
    pub kind: String,
    /// What happened.
    pub status: ActionStatus,
    /// The parameters.
    pub params: Json<serde_json::Value>,
    /// Why it was rejected or failed.
    pub error: Option<String>,
}

/// A knowledge chunk the agent was given for a reply.
#[derive(SimpleObject, Clone, Debug)]
pub struct KnowledgeSource {
    /// The chunk.
    pub knowledge_id: ID,
    /// Its heading.
    pub title: Option<String>,
    /// Its category.
    pub category: String,
    /// How relevant it was (cosine similarity).
    pub score: f64,
}

/// A message of a session.
#[derive(SimpleObject, Clone, Debug)]
pub struct Message {
    /// The message's id.
    pub id: ID,
    /// Its session.
    pub session_id: ID,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text.
    pub content: String,
    /// Where it is in its life.
    pub status: MessageStatus,
    /// Assistant message: the user message it answers.
    pub reply_to_id: Option<ID>,
    /// Assistant message: the actions its output asked for.
    pub actions: Vec<ActionRecord>,
    /// Assistant message: the knowledge it was given.
    pub sources: Vec<KnowledgeSource>,
    /// Assistant message: which LLM provider and model answered.
    pub provider: Option<String>,
    /// User message with status FAILED: why.
    pub error: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl Message {
    fn build(m: &MessagePayload, role: MessageRole) -> Self {
        let meta = ReplyMetadata::from_json(&m.metadata);
        Self {
            id: id(m.id),
            session_id: id(m.session_id),
            role,
            content: m.content.clone(),
            status: m.status.into(),
            reply_to_id: m.reply_to_id.map(id),
            actions: meta
                .actions
                .into_iter()
                .map(|a| ActionRecord {
                    id: id(a.id),
                    kind: a.kind,
                    status: match a.status {
                        agent::reply::ActionStatus::Executed => ActionStatus::Executed,
                        agent::reply::ActionStatus::Rejected => ActionStatus::Rejected,
                        agent::reply::ActionStatus::Failed => ActionStatus::Failed,
                    },
                    params: Json(a.params),
                    error: a.error,
                })
                .collect(),
            sources: meta
                .sources
                .into_iter()
                .map(|s| KnowledgeSource {
                    knowledge_id: id(s.knowledge_id),
                    title: s.title,
                    category: s.category,
                    score: f64::from(s.score),
                })
                .collect(),
            provider: m.provider.clone(),
            error: m.error.clone(),
            created_at: m.created_at,
        }
    }
}

fn role(r: entity::MessageRole) -> MessageRole {
    match r {
        entity::MessageRole::User => MessageRole::User,
        entity::MessageRole::Assistant => MessageRole::Assistant,
    }
}

impl From<&message::Model> for Message {
    fn from(m: &message::Model) -> Self {
        Self::build(&MessagePayload::from(m), role(m.role))
    }
}

impl From<&MessagePayload> for Message {
    fn from(m: &MessagePayload) -> Self {
        Self::build(m, role(m.role))
    }
}

/// A conversation of a user with the agent.
#[derive(SimpleObject, Clone, Debug)]
pub struct Session {
    /// The session's id.
    pub id: ID,
    /// Title, from the first message.
    pub title: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its last message was stored.
    pub last_message_at: DateTime<Utc>,
    /// How many messages it holds.
    pub message_count: i32,
}

impl From<&SessionView> for Session {
    fn from(v: &SessionView) -> Self {
        Self {
            id: id(v.session.id),
            title: v.session.title.clone(),
            created_at: v.session.created_at,
            last_message_at: v.session.last_message_at,
            message_count: i32::try_from(v.message_count).unwrap_or(i32::MAX),
        }
    }
}

/// What `sendMessage` returns.
#[derive(SimpleObject, Clone, Debug)]
pub struct SendMessagePayload {
    /// The stored user message (QUEUED).
    pub message: Message,
    /// Its session (new when no `sessionId` was given).
    pub session: Session,
}

/// The agent answered a message.
#[derive(SimpleObject, Clone, Debug)]
pub struct AgentReply {
    /// The session.
    pub session_id: ID,
    /// The user message answered.
    pub reply_to: ID,
    /// The assistant message.
    pub message: Message,
}

/// A piece of a reply streaming in; the final `AgentReply` holds the whole text.
#[derive(SimpleObject, Clone, Debug)]
pub struct AgentReplyDelta {
    /// The session.
    pub session_id: ID,
    /// The user message being answered.
    pub reply_to: ID,
    /// The next piece of text, in order.
    pub delta: String,
}

/// The agent gave up on a message.
#[derive(SimpleObject, Clone, Debug)]
pub struct MessageFailed {
    /// The session.
    pub session_id: ID,
    /// The user message.
    pub message_id: ID,
    /// Why, readable by the user.
    pub error: String,
}

/// A user message changed status.
#[derive(SimpleObject, Clone, Debug)]
pub struct MessageStatusChanged {
    /// The session.
    pub session_id: ID,
    /// The user message.
    pub message_id: ID,
    /// Its new status.
    pub status: MessageStatus,
}

/// Something happened in one of my sessions.
#[derive(Union, Clone, Debug)]
pub enum ConversationEvent {
    /// The agent answered.
    AgentReply(AgentReply),
    /// Streamed reply text.
    AgentReplyDelta(AgentReplyDelta),
    /// The agent gave up.
    MessageFailed(MessageFailed),
    /// A status change.
    MessageStatusChanged(MessageStatusChanged),
}

impl ConversationEvent {
    /// The GraphQL form of a bus event (none for notifications).
    pub fn from_bus(event: &agent::bus::UserEvent) -> Option<Self> {
        use agent::bus::UserEvent as E;
        Some(match event {
            E::Notification(_) => return None,
            E::AgentReply {
                session_id,
                reply_to,
                message,
            } => Self::AgentReply(AgentReply {
                session_id: id(session_id),
                reply_to: id(reply_to),
                message: Message::from(message),
            }),
            E::AgentReplyDelta {
                session_id,
                reply_to,
                delta,
            } => Self::AgentReplyDelta(AgentReplyDelta {
                session_id: id(session_id),
                reply_to: id(reply_to),
                delta: delta.clone(),
            }),
            E::MessageFailed {
                session_id,
                message_id,
                error,
            } => Self::MessageFailed(MessageFailed {
                session_id: id(session_id),
                message_id: id(message_id),
                error: error.clone(),
            }),
            E::MessageStatusChanged {
                session_id,
                message_id,
                status,
            } => Self::MessageStatusChanged(MessageStatusChanged {
                session_id: id(session_id),
                message_id: id(message_id),
                status: (*status).into(),
            }),
        })
    }
}
