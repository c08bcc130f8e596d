//! Reading the request context in resolvers: the shared [`AppState`] and the caller's
//! [`AuthContext`], through one fallible accessor that yields UNAUTHENTICATED.

use async_graphql::Context;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// The caller, as the transport found them: `None` when no valid token came with the request.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub Option<AuthContext>);

/// Accessors every resolver uses.
pub trait ContextExt {
    /// The shared state.
    fn state(&self) -> &AppState;
    /// The authenticated caller.
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`] without a valid, unexpired token.
    fn auth(&self) -> Result<AuthContext, ApiError>;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        // The schema is only ever built with the state (see `graphql::build`).
        self.data_unchecked::<AppState>()
    }

    fn auth(&self) -> Result<AuthContext, ApiError> {
        let auth = self
            .data_opt::<Caller>()
            .and_then(|c| c.0)
            .ok_or(ApiError::Unauthenticated)?;
        if auth.expired_at(chrono::Utc::now().timestamp()) {
            return Err(ApiError::Unauthenticated);
        }
        Ok(auth)
    }
}
