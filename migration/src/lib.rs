//! Concierge's database migrations, applied in order by `concierge migrate`.
//!
//! Append-only: a merged migration is never edited; a change is a new file named
//! `mYYYYMMDD_HHMMSS_<verb>_<noun>.rs`. They run as the database owner (`DATABASE_ADMIN_URL`),
//! which needs CREATEROLE the first time (the bootstrap creates the `concierge_app` group role
//! if it does not exist yet). The application itself connects as a member of `concierge_app`:
//! a role that owns nothing and cannot bypass row-level security.
//!
//! 1. [`m20261124_000001_bootstrap_database`]: the pgvector extension, the application role,
//!    and `concierge_current_tenant()`, the function every RLS policy compares against.
//! 2. [`m20261124_000002_create_tables`]: the seven tables, with composite foreign keys on
//!    `(tenant_id, id)` so no row can point at another tenant's row, and an index for every
//!    access path of the GraphQL contract.
//! 3. [`m20261124_000003_enable_row_level_security`]: grants to the application role, one
//!    policy per table, and the three `SECURITY DEFINER` functions that are the only
//!    cross-tenant reads.
//! 4. [`m20261125_000001_create_tenant_usage`]: LLM token usage per tenant and day.
//! 5. [`m20261125_100000_create_tenant_list_function`]: `concierge_list_tenants()`, for
//!    re-embedding every tenant's knowledge.

pub use sea_orm_migration::prelude::*;

pub mod m20261124_000001_bootstrap_database;
pub mod m20261124_000002_create_tables;
pub mod m20261124_000003_enable_row_level_security;
pub mod m20261125_000001_create_tenant_usage;
pub mod m20261125_100000_create_tenant_list_function;

/// Applies Concierge's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_bootstrap_database::Migration),
            Box::new(m20261124_000002_create_tables::Migration),
            Box::new(m20261124_000003_enable_row_level_security::Migration),
            Box::new(m20261125_000001_create_tenant_usage::Migration),
            Box::new(m20261125_100000_create_tenant_list_function::Migration),
        ]
    }
}

/// Runs a SQL script (one or more `;`-separated statements) over the simple query protocol.
pub(crate) async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}
