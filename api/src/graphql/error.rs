//! How an [`ApiError`] becomes a GraphQL error: its message, and `extensions.code` (plus
//! `extensions.retryAfter` in whole seconds, rounded up, when rate limited). The error is logged
//! here, once.
//!
//! Resolvers return [`Result`], whose error type [`GqlError`] is deliberately not `Display`:
//! async-graphql converts any `Display` error into a GraphQL error without a code, so this type
//! makes the conversion below, which adds the code, the only possible one.

use async_graphql::ErrorExtensions;

use crate::error::ApiError;

/// An [`ApiError`] on its way to the client.
#[derive(Debug)]
pub struct GqlError(ApiError);

impl From<ApiError> for GqlError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(GqlError(err): GqlError) -> Self {
        err.log();
        let code = err.code();
        let retry_after = match &err {
            ApiError::RateLimited { retry_after, .. } => Some(
                u64::try_from(retry_after.as_millis().div_ceil(1000))
                    .unwrap_or(u64::MAX)
                    .max(1),
            ),
            _ => None,
        };
        Self::new(err.to_string()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(secs) = retry_after {
                ext.set("retryAfter", secs);
            }
        })
    }
}

/// Result type of resolvers.
pub type Result<T> = std::result::Result<T, GqlError>;
