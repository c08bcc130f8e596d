//! Row-level security: the application role may read and write only the rows of the tenant its
//! transaction is scoped to (`concierge_current_tenant()`), on every table; with no tenant set it
//! sees nothing. The table owner (the migration role) is not subject to the policies, which is
//! why the application never connects as the owner.
//!
//! The three cross-tenant reads the application needs are `SECURITY DEFINER` functions owned by
//! the migration role, each returning only what its one caller needs:
//! `concierge_find_login(email)` (login), `concierge_tenant_by_slug(slug)` (the CLI), and
//! `concierge_unfinished_messages(min_age, limit)` (the agent's sweep).

use sea_orm_migration::prelude::*;

use crate::exec;

/// See the module documentation.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tenant-owned tables and the column that names their tenant.
const TABLES: [(&str, &str); 7] = [
    ("tenants", "id"),
    ("users", "tenant_id"),
    ("sessions", "tenant_id"),
    ("messages", "tenant_id"),
    ("notifications", "tenant_id"),
    ("tenant_knowledge", "tenant_id"),
    ("events", "tenant_id"),
];

const FUNCTIONS: [&str; 3] = [
    r"CREATE FUNCTION concierge_find_login(p_email text)
        RETURNS TABLE (user_id uuid, tenant_id uuid, password_hash text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT u.id, u.tenant_id, u.password_hash FROM public.users u
              WHERE u.email = lower(p_email) $$",
    r"CREATE FUNCTION concierge_tenant_by_slug(p_slug text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT t.id FROM public.tenants t WHERE t.slug = p_slug $$",
    r"CREATE FUNCTION concierge_unfinished_messages(p_min_age_secs double precision, p_limit bigint)
        RETURNS TABLE (tenant_id uuid, session_id uuid, message_id uuid, user_id uuid, status text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT m.tenant_id, m.session_id, m.id, m.user_id, m.status FROM public.messages m
              WHERE m.status IN ('QUEUED', 'PROCESSING')
                AND m.created_at < now() - make_interval(secs => p_min_age_secs)
              ORDER BY m.created_at LIMIT p_limit $$",
];

const FUNCTION_SIGNATURES: [&str; 3] = [
    "concierge_find_login(text)",
    "concierge_tenant_by_slug(text)",
    "concierge_unfinished_messages(double precision, bigint)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "GRANT USAGE ON SCHEMA public TO concierge_app").await?;
        exec(
            manager,
            "GRANT EXECUTE ON FUNCTION concierge_current_tenant() TO concierge_app",
        )
        .await?;
        for (table, column) in TABLES {
            exec(
                manager,
                &format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO concierge_app;
                     ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                     CREATE POLICY tenant_isolation ON {table}
                         USING ({column} = concierge_current_tenant())
                         WITH CHECK ({column} = concierge_current_tenant());"
                ),
            )
            .await?;
        }
        for (function, signature) in FUNCTIONS.iter().zip(FUNCTION_SIGNATURES) {
            exec(manager, function).await?;
            exec(
                manager,
                &format!(
                    "REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;
                     GRANT EXECUTE ON FUNCTION {signature} TO concierge_app;"
                ),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for signature in FUNCTION_SIGNATURES {
            exec(manager, &format!("DROP FUNCTION IF EXISTS {signature}")).await?;
        }
        for (table, _) in TABLES {
            exec(
                manager,
                &format!(
                    "DROP POLICY IF EXISTS tenant_isolation ON {table};
                     ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
                     REVOKE ALL ON {table} FROM concierge_app;"
                ),
            )
            .await?;
        }
        exec(manager, "REVOKE ALL ON SCHEMA public FROM concierge_app").await
    }
}
