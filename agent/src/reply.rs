//! What an assistant message records besides its text, stored in `messages.metadata`: the
//! actions its output asked for (executed, rejected or failed), the knowledge it was given, and
//! the token usage. The API reads it back to render `Message.actions` and `Message.sources`.

use entity::KnowledgeId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The outcome of one proposed action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionStatus {
    /// Validated and done.
    Executed,
    /// Refused by validation (unknown type, bad parameters, a target outside the tenant).
    Rejected,
    /// Validated but could not be done.
    Failed,
}

/// One action as recorded on the assistant message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Its id.
    pub id: Uuid,
    /// The type the model named (`notify_user`, or whatever unknown type it invented).
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened.
    pub status: ActionStatus,
    /// The parameters as proposed (for executed actions, as normalised by validation).
    pub params: serde_json::Value,
    /// Why it was rejected or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One knowledge chunk given to the LLM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The chunk.
    pub knowledge_id: KnowledgeId,
    /// Its heading.
    pub title: Option<String>,
    /// Its category.
    pub category: String,
    /// Its relevance score.
    pub score: f32,
}

/// Token usage of the reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens.
    pub output_tokens: u32,
}

/// The `metadata` of an assistant message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyMetadata {
    /// The actions the output asked for, in order.
    #[serde(default)]
    pub actions: Vec<ActionRecord>,
    /// The knowledge the LLM was given, best first.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Token usage.
    #[serde(default)]
    pub usage: TokenUsage,
}

impl ReplyMetadata {
    /// Reads the metadata of a stored message; a message without (or with malformed) metadata
    /// has no actions and no sources.
    #[must_use]
    pub fn from_json(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }
}
