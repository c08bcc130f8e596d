//! `tenants`: one row per business. Its row-level security shows a connection only the tenant
//! it is scoped to.

use sea_orm::entity::prelude::*;

use crate::enums::TenantKind;
use crate::ids::TenantId;

/// A business with its own agent, users and knowledge.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    /// The tenant's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TenantId,
    /// Short unique name used by the CLI (`sole`, `harborview`).
    #[sea_orm(unique)]
    pub slug: String,
    /// Display name ("Trattoria Sole").
    pub name: String,
    /// What kind of business it is.
    pub kind: TenantKind,
    /// Per-tenant settings (for example which action types are switched off).
    pub settings: Json,
    /// When the tenant was created.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
