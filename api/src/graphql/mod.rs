//! The GraphQL API: the schema (every query, mutation and subscription of the contract, by
//! domain under [`query`], [`mutation`], [`subscription`]), its limits, and its two transports:
//! [`http`] (`POST`/`GET /graphql`, GraphiQL) and [`ws`] (WebSocket, graphql-transport-ws and
//! the legacy graphql-ws protocol). Resolvers read the caller through [`context::ContextExt`],
//! call a [`crate::service`] and map its models to [`types`]. Each operation runs in the span
//! of an [`operation::Operation`], which also counts it and its errors.

pub mod context;
pub mod cursor;
pub mod error;
pub mod http;
pub mod limits;
pub mod mutation;
pub mod operation;
pub mod query;
pub mod subscription;
pub mod types;
pub mod ws;

use async_graphql::{Response, Schema, ServerError};

use crate::state::AppState;

/// The schema type.
pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Builds the schema with its limits and the shared state. Without `GRAPHQL_INTROSPECTION`
/// (the production default) introspection queries are refused and error messages do not
/// suggest field names: both would hand the whole schema to anyone who asks.
pub fn build(state: AppState) -> AppSchema {
    let mut builder = Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription::default(),
    )
    .limit_depth(limits::MAX_DEPTH)
    .limit_complexity(limits::MAX_COMPLEXITY)
    .limit_recursive_depth(64);
    if !state.config.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.data(state).finish()
}

/// The schema's SDL, as checked in at the repository root as `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription::default(),
    )
    .finish()
    .sdl()
}

/// Gives every error without a code one: errors our resolvers raise carry theirs; the rest are
/// the request's fault (syntax, validation, limits, variables), so BAD_USER_INPUT.
pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        ensure_code(error);
    }
    response
}

/// Sets `extensions.code` to BAD_USER_INPUT unless the error has a code.
pub fn ensure_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
    }
}

/// A response holding only `error` (with its code): a request refused before execution.
pub fn error_response(error: &crate::error::ApiError) -> Response {
    error.log();
    let mut server_error = ServerError::new(error.to_string(), None);
    server_error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", error.code());
    Response::from_errors(vec![server_error])
}
