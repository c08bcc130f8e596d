//! `tenant_usage`: LLM token usage summed per tenant and day, updated in the same transaction
//! that stores each assistant message. It backs the per-tenant usage figures and the daily
//! token budget. Row-level security like every tenant table.

use sea_orm_migration::prelude::*;

use crate::exec;

/// See the module documentation.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(
            manager,
            "CREATE TABLE tenant_usage (
                 tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                 day            date NOT NULL,
                 messages       bigint NOT NULL DEFAULT 0 CHECK (messages >= 0),
                 prompt_tokens  bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
                 output_tokens  bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
                 PRIMARY KEY (tenant_id, day)
             );
             GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_usage TO concierge_app;
             ALTER TABLE tenant_usage ENABLE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON tenant_usage
                 USING (tenant_id = concierge_current_tenant())
                 WITH CHECK (tenant_id = concierge_current_tenant());",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "DROP TABLE IF EXISTS tenant_usage").await
    }
}
