//! `login`.

use async_graphql::{Context, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::account::{AuthPayload, Tenant, User};
use crate::service::account;

/// Authentication.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Logs in with email and password. An unknown email and a wrong password give the same
    /// error ("invalid email or password"). The only field that needs no token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<AuthPayload> {
        let state = ctx.state();
        let done = account::login(&state.db, &state.jwt, &email, &password).await?;
        Ok(AuthPayload {
            token: done.token,
            expires_at: done.expires_at,
            user: User::from(&done.user),
            tenant: Tenant::from(&done.tenant),
        })
    }
}
