//! Concierge's data layer: the SeaORM entities of every table, the typed ids that keep tenants,
//! users, sessions and messages apart in the type system, and [`db::Db`], the one way into the
//! database for tenant-owned data.
//!
//! Every table except `tenants` carries a `tenant_id`, and Postgres row-level security (set up by
//! the `migration` crate) only shows a connection the rows of the tenant named by the
//! transaction-local setting `app.tenant_id`. [`db::Db::begin_in_tenant`] is the helper that sets
//! it; every tenant-scoped read and write goes through a [`db::TenantTxn`]. The handful of paths
//! that must work before a tenant is known (login by email, the CLI's tenant lookup by slug, the
//! sweep of unqueued messages) are explicit `SECURITY DEFINER` functions in the database, called
//! through [`db::Db`]'s named methods, never ad-hoc queries.
//!
//! The entities are plain data: GraphQL types live in `api`, and services in `agent` and `api`.

pub mod db;
pub mod enums;
pub mod event;
pub mod ids;
pub mod knowledge;
pub mod message;
pub mod notification;
pub mod scope;
pub mod session;
pub mod tenant;
pub mod usage;
pub mod user;
pub mod waits;

pub use db::{Db, DbError, TenantRef, TenantTxn};
pub use enums::{MessageRole, MessageStatus, Priority, Role, TenantKind};
pub use ids::{EventId, KnowledgeId, MessageId, NotificationId, SessionId, TenantId, UserId};
pub use scope::TenantScoped;
