//! The closed sets of values stored in text columns. Each is stored as its upper-case name (the
//! same spelling as the GraphQL enum), and the migrations back every one with a CHECK constraint.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What kind of business a tenant is; shapes the agent's introduction of itself.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TenantKind {
    /// A restaurant, café or bar.
    #[sea_orm(string_value = "RESTAURANT")]
    Restaurant,
    /// A rental property: apartments, a building, a campus.
    #[sea_orm(string_value = "PROPERTY")]
    Property,
    /// Any other business.
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// What a user may do. The job (\"Head chef\") is the separate `title`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Runs the tenant: manages knowledge, reads the event log.
    #[sea_orm(string_value = "MANAGER")]
    Manager,
    /// Works for the tenant.
    #[sea_orm(string_value = "STAFF")]
    Staff,
    /// Lives at or belongs to the tenant (a resident, a member).
    #[sea_orm(string_value = "MEMBER")]
    Member,
}

/// Who wrote a message.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageRole {
    /// A person.
    #[sea_orm(string_value = "USER")]
    User,
    /// The tenant's agent.
    #[sea_orm(string_value = "ASSISTANT")]
    Assistant,
}

/// Where a message is in its life. User messages go QUEUED -> PROCESSING -> ANSWERED or FAILED;
/// assistant messages are COMPLETE when stored.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageStatus {
    /// Stored and waiting for the agent.
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    /// The agent is working on it.
    #[sea_orm(string_value = "PROCESSING")]
    Processing,
    /// The agent's reply is stored.
    #[sea_orm(string_value = "ANSWERED")]
    Answered,
    /// The agent gave up on it; `error` says why.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// An assistant message.
    #[sea_orm(string_value = "COMPLETE")]
    Complete,
}

impl MessageStatus {
    /// Whether a user message with this status has its one outcome (a reply or a failure).
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Answered | Self::Failed | Self::Complete)
    }
}

/// How urgent a notification is.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    /// Whenever convenient.
    #[sea_orm(string_value = "LOW")]
    Low,
    /// The default.
    #[default]
    #[sea_orm(string_value = "NORMAL")]
    Normal,
    /// Soon.
    #[sea_orm(string_value = "HIGH")]
    High,
    /// Now.
    #[sea_orm(string_value = "URGENT")]
    Urgent,
}
