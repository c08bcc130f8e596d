//! `events`: the tenant's audit log: what the agent did, what it refused, what changed.

use sea_orm::entity::prelude::*;

use sea_orm::ActiveValue::Set;

use crate::db::{DbError, TenantTxn};
use crate::ids::{EventId, TenantId, UserId};

/// One entry of the event log.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// The event's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: EventId,
    /// The tenant it happened in.
    pub tenant_id: TenantId,
    /// Who caused it, if a user did.
    pub actor_user_id: Option<UserId>,
    /// What happened: `action.notify_user`, `agent.log_event`, `action.rejected`, ...
    pub kind: String,
    /// Details.
    pub payload: Json,
    /// When it happened.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// Appends an entry to the event log of `txn`'s tenant, inside `txn`.
///
/// # Errors
/// When the insert fails.
pub async fn record(
    txn: &TenantTxn,
    actor: Option<UserId>,
    kind: &str,
    payload: Json,
) -> Result<Model, DbError> {
    let model = ActiveModel {
        id: Set(EventId::new()),
        tenant_id: Set(txn.tenant()),
        actor_user_id: Set(actor),
        kind: Set(kind.to_owned()),
        payload: Set(payload),
        created_at: Set(chrono::Utc::now()),
    };
    Ok(model.insert(txn).await?)
}
