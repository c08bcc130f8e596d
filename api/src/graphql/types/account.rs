//! `User`, `Tenant`, `AuthPayload` and the enums they use.

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{tenant, user};

use super::id;

/// What a user may do; the job is `title`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs the tenant: manages knowledge, reads the event log.
    Manager,
    /// Works for the tenant.
    Staff,
    /// Lives at or belongs to the tenant.
    Member,
}

impl From<entity::Role> for Role {
    fn from(r: entity::Role) -> Self {
        match r {
            entity::Role::Manager => Self::Manager,
            entity::Role::Staff => Self::Staff,
            entity::Role::Member => Self::Member,
        }
    }
}

/// What kind of business a tenant is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantKind {
    /// A restaurant.
    Restaurant,
    /// A rental property.
    Property,
    /// Any other business.
    Other,
}

impl From<entity::TenantKind> for TenantKind {
    fn from(k: entity::TenantKind) -> Self {
        match k {
            entity::TenantKind::Restaurant => Self::Restaurant,
            entity::TenantKind::Property => Self::Property,
            entity::TenantKind::Other => Self::Other,
        }
    }
}

/// A person of a tenant.
#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    /// The user's id.
    pub id: ID,
    /// Full name.
    pub name: String,
    /// Login email.
    pub email: String,
    /// Permissions.
    pub role: Role,
    /// Job title ("Head chef").
    pub title: Option<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<&user::Model> for User {
    fn from(u: &user::Model) -> Self {
        Self::from(&agent::bus::UserSummary::from(u))
    }
}

impl From<&agent::bus::UserSummary> for User {
    fn from(u: &agent::bus::UserSummary) -> Self {
        Self {
            id: id(u.id),
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role.into(),
            title: u.title.clone(),
            created_at: u.created_at,
        }
    }
}

/// A business with its own agent.
#[derive(SimpleObject, Clone, Debug)]
pub struct Tenant {
    /// The tenant's id.
    pub id: ID,
    /// Display name.
    pub name: String,
    /// Kind of business.
    pub kind: TenantKind,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

impl From<&tenant::Model> for Tenant {
    fn from(t: &tenant::Model) -> Self {
        Self {
            id: id(t.id),
            name: t.name.clone(),
            kind: t.kind.into(),
            created_at: t.created_at,
        }
    }
}

/// A successful login.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    /// The JWT: send it as `Authorization: Bearer <token>`, or in the WebSocket
    /// `connection_init` payload as `{"Authorization": "Bearer <token>"}`.
    pub token: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// The user who logged in.
    pub user: User,
    /// Their tenant.
    pub tenant: Tenant,
}
