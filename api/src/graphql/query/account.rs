//! `me`, `tenant`, `colleagues`.

use async_graphql::{Context, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::account::{Tenant, User};
use crate::service::account;

/// Queries about the caller and their tenant.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let state = ctx.state();
        let user = account::me(&state.db, &state.users, ctx.auth()?).await?;
        Ok(User::from(&user))
    }

    /// The caller's tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let tenant = account::tenant(&ctx.state().db, ctx.auth()?).await?;
        Ok(Tenant::from(&tenant))
    }

    /// The users of the caller's tenant, by name.
    async fn colleagues(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let users = account::colleagues(&ctx.state().db, ctx.auth()?).await?;
        Ok(users.iter().map(User::from).collect())
    }
}
