//! `users`: the people of a tenant (staff, managers, residents). The email is unique across all
//! tenants, so that login can find the tenant from the email alone.

use sea_orm::entity::prelude::*;

use crate::enums::Role;
use crate::ids::{TenantId, UserId};

/// A person who can log in and talk to their tenant's agent.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// The user's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: UserId,
    /// The tenant the user belongs to.
    pub tenant_id: TenantId,
    /// Login email, stored lower-case; unique across tenants.
    #[sea_orm(unique)]
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// What the user may do.
    pub role: Role,
    /// Full name ("Luca Bianchi").
    pub name: String,
    /// The job ("Head chef"), if any.
    pub title: Option<String>,
    /// When the user was created.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
