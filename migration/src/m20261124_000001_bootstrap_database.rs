//! Bootstrap: the pgvector extension, the application's group role, and the function that reads
//! the tenant a transaction is scoped to.

use sea_orm_migration::prelude::*;

use crate::exec;

/// See the module documentation.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "CREATE EXTENSION IF NOT EXISTS vector").await?;
        // The role is global to the cluster; another database of the same cluster may have made it.
        exec(
            manager,
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'concierge_app') THEN
                 CREATE ROLE concierge_app NOLOGIN NOBYPASSRLS;
               END IF;
             END $$",
        )
        .await?;
        // The tenant of the current transaction, or NULL when none is set (which every policy
        // treats as "no rows"). Set by `entity::Db::begin_in_tenant` with set_config(.., true).
        exec(
            manager,
            "CREATE OR REPLACE FUNCTION concierge_current_tenant() RETURNS uuid
               LANGUAGE sql STABLE PARALLEL SAFE
               AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The extension and the role may be shared with other databases of the cluster: they stay.
        exec(
            manager,
            "DROP FUNCTION IF EXISTS concierge_current_tenant()",
        )
        .await
    }
}
