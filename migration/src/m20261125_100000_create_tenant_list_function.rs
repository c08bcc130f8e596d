//! `concierge_list_tenants()`: the id and slug of every tenant, for the one operator task that
//! spans all tenants, `concierge reembed` without `--tenant` (re-embedding every tenant's knowledge
//! after the embedder changes). Like the other cross-tenant reads it is a `SECURITY DEFINER`
//! function owned by the migration role that returns only what its caller needs; the work on each
//! tenant then runs in that tenant's own row-level-security scope.

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
            r"CREATE FUNCTION concierge_list_tenants()
                RETURNS TABLE (id uuid, slug text)
                LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
                AS $$ SELECT t.id, t.slug FROM public.tenants t ORDER BY t.slug $$;
              REVOKE ALL ON FUNCTION concierge_list_tenants() FROM PUBLIC;
              GRANT EXECUTE ON FUNCTION concierge_list_tenants() TO concierge_app;",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "DROP FUNCTION IF EXISTS concierge_list_tenants()").await
    }
}
