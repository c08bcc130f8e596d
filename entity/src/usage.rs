//! `tenant_usage`: LLM tokens per tenant and day.

use sea_orm::entity::prelude::*;

use crate::ids::TenantId;

/// A tenant's LLM usage on one day (UTC).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_usage")]
pub struct Model {
    /// The tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    /// The day (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// Assistant messages answered by an LLM.
    pub messages: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
}

impl ActiveModelBehavior for ActiveModel {}
