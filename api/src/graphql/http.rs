//! GraphQL over HTTP: `POST /graphql` (a request or a batch of at most
//! [`MAX_BATCH`](super::limits::MAX_BATCH), JSON, body at most
//! [`MAX_BODY_BYTES`](super::limits::MAX_BODY_BYTES)), `GET /graphql?query=...` (queries only:
//! a mutation over GET is refused with 405, as GraphQL over HTTP requires) and the GraphiQL page.
//! The caller comes from `Authorization: Bearer <jwt>`; without a valid token only `login`
//! works. Every error carries `extensions.code`.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tracing::Instrument;

use super::context::Caller;
use super::operation::{self, Operation, Transport};
use super::{AppSchema, error_response, limits, with_codes};
use crate::auth::{self, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

/// What the GraphQL routes share.
#[derive(Clone)]
pub struct GraphqlState {
    /// The application state.
    pub app: AppState,
    /// The schema.
    pub schema: AppSchema,
}

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A request refused before any operation ran (its error is counted here).
fn refused(status: StatusCode, error: &ApiError) -> Response {
    let response = error_response(error);
    operation::count_errors(&response.errors);
    json(status, &response)
}

/// The caller's W3C trace context (`traceparent` header), when valid.
fn trace_parent(headers: &HeaderMap) -> Option<agent::trace::TraceContext> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(agent::trace::TraceContext::parse)
}

/// The caller of an HTTP request: `Ok(None)` without a token or with an invalid one (resolvers
/// then answer UNAUTHENTICATED), an error when the database cannot check it.
async fn caller(app: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
    else {
        return Ok(Caller(None));
    };
    match auth::authenticate(&app.db, &app.jwt, &app.users, token).await {
        Ok(ctx) => Ok(Caller(Some(ctx))),
        Err(ApiError::Unauthenticated) => Ok(Caller(None)),
        Err(e) => Err(e),
    }
}

/// Parses and checks one request's document before execution.
fn prepare(mut request: Request, caller: Caller) -> Result<Request, ApiError> {
    let doc = request
        .parsed_query()
        .map_err(|e| ApiError::Invalid(e.message))?;
    limits::check_document(doc)?;
    Ok(request.data(caller))
}

/// Runs one operation inside its span (a child of the caller's trace context, which the
/// resolvers receive as request data).
async fn execute(
    state: &GraphqlState,
    mut request: Request,
    caller: Caller,
    parent: Option<agent::trace::TraceContext>,
) -> async_graphql::Response {
    let mut operation = Operation::start(Transport::Http, &mut request, caller, parent);
    let request = request.data(operation.trace());
    let response = async {
        match prepare(request, caller) {
            Ok(request) => with_codes(state.schema.execute(request).await),
            Err(e) => error_response(&e),
        }
    }
    .instrument(operation.span().clone())
    .await;
    operation.observe(&response);
    response
}

/// `POST /graphql`.
pub async fn post(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let e = ApiError::Invalid(format!(
                "request body too large (limit {} bytes)",
                limits::MAX_BODY_BYTES
            ));
            return refused(StatusCode::PAYLOAD_TOO_LARGE, &e);
        }
        Err(rejection) => {
            return refused(
                rejection.status(),
                &ApiError::Invalid(rejection.body_text()),
            );
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                &ApiError::Invalid(format!("invalid GraphQL request: {e}")),
            );
        }
    };
    let caller = match caller(&state.app, &headers).await {
        Ok(caller) => caller,
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let parent = trace_parent(&headers);
    match batch {
        BatchRequest::Single(request) => json(
            StatusCode::OK,
            &execute(&state, request, caller, parent).await,
        ),
        BatchRequest::Batch(requests) => {
            if requests.len() > limits::MAX_BATCH {
                let e = ApiError::Invalid(format!(
                    "too many operations in one batch: {} (limit {})",
                    requests.len(),
                    limits::MAX_BATCH
                ));
                return refused(StatusCode::BAD_REQUEST, &e);
            }
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(execute(&state, request, caller, parent).await);
            }
            json(StatusCode::OK, &BatchResponse::Batch(responses))
        }
    }
}

/// `GET /graphql?query=...&variables=...&operationName=...`: queries only.
pub async fn get(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut request =
        match async_graphql::http::parse_query_string(query.as_deref().unwrap_or_default()) {
            Ok(request) => request,
            Err(e) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    &ApiError::Invalid(format!("invalid GraphQL request: {e}")),
                );
            }
        };
    let operation_name = request.operation_name.clone();
    let is_mutation = match request.parsed_query() {
        Ok(doc) => doc.operations.iter().any(|(name, op)| {
            let selected = operation_name
                .as_deref()
                .is_none_or(|wanted| name.is_some_and(|n| n.as_str() == wanted));
            selected && op.node.ty == OperationType::Mutation
        }),
        Err(_) => false,
    };
    if is_mutation {
        let e = ApiError::Invalid("mutations must be sent with POST".into());
        let mut response = refused(StatusCode::METHOD_NOT_ALLOWED, &e);
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let caller = match caller(&state.app, &headers).await {
        Ok(caller) => caller,
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let parent = trace_parent(&headers);
    json(
        StatusCode::OK,
        &execute(&state, request, caller, parent).await,
    )
}

/// Shown at `/graphiql` when `WEB_DIR` holds no `graphiql.html`: GraphiQL is bundled with the web
/// app, and this server loads nothing from a CDN (machines without internet would get a blank
/// page), so it says how to build it instead.
const GRAPHIQL_NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Concierge GraphiQL</title></head><body style=\"font-family: system-ui, sans-serif; margin: 2rem\">\
<h1>GraphiQL is not built</h1><p>GraphiQL is part of the web app build, and there is no \
<code>graphiql.html</code> in this server's <code>WEB_DIR</code>. Run <code>just web-build</code> \
(or <code>npm run build</code> in <code>frontend/</code>), or point <code>WEB_DIR</code> at a \
built <code>frontend/dist</code>.</p><p>Meanwhile <code>POST /graphql</code> works with any \
GraphQL client.</p></body></html>\n";

/// `GET /graphiql`: the GraphiQL IDE, `graphiql.html` of the built web app (`WEB_DIR`), whose
/// scripts and styles the server serves too. Set the header `Authorization: Bearer <token>` in
/// its headers editor: queries send it over HTTP, subscriptions in the WebSocket
/// `connection_init`. Without a build, a page that says how to make one.
pub async fn graphiql(State(state): State<GraphqlState>) -> Response {
    let bundled = state.app.config.web_dir.join("graphiql.html");
    match tokio::fs::read_to_string(&bundled).await {
        Ok(page) => Html(page).into_response(),
        Err(_) => Html(GRAPHIQL_NOT_BUILT).into_response(),
    }
}
