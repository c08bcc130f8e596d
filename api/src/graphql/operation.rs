//! One GraphQL operation as operators see it: its span, its log line and its metrics, the same
//! for both transports.
//!
//! [`Operation::start`] opens the `graphql` span (operation type and name, transport, the
//! caller's tenant and user when authenticated, and the trace context of [`agent::trace`]: a
//! child of the caller's `traceparent`, or a new trace). The transport runs the operation
//! inside that span and hands the operation's [`TraceContext`] to the resolvers as request
//! data (`sendMessage` puts it in the stream entry, so the agent continues the trace).
//! [`Operation::observe`] counts each response's errors by `extensions.code`; dropping the
//! operation records its outcome and duration and writes one log line. A subscription is an
//! operation for as long as it runs ([`Operation::attach`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use agent::telemetry::millis;
use agent::trace::TraceContext;
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError};
use futures::Stream;
use tracing::Span;

use super::context::Caller;
use crate::metrics::{
    GRAPHQL_ERRORS, GRAPHQL_OPERATIONS, GRAPHQL_SECONDS, GaugeGuard, SUBSCRIPTIONS,
};

/// Longest operation name written to logs and spans (the client chooses it).
const MAX_NAME_CHARS: usize = 100;

/// The codes an error may carry (ARCHITECTURE.md, invariant 5); anything else is counted as
/// `OTHER` so that the label stays bounded.
const CODES: [&str; 7] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
];

/// How the operation reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `POST` or `GET /graphql`.
    Http,
    /// A WebSocket on `/graphql`.
    WebSocket,
}

impl Transport {
    const fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::WebSocket => "websocket",
        }
    }
}

/// An operation in progress; see the module documentation.
#[derive(Debug)]
pub struct Operation {
    span: Span,
    trace: TraceContext,
    transport: Transport,
    kind: &'static str,
    started: Instant,
    /// The first error code seen, if any.
    error: Option<&'static str>,
    /// Held while a subscription runs.
    _running: Option<GaugeGuard>,
}

impl Operation {
    /// Opens the operation's span for `request` (parsing its document when not yet parsed; an
    /// unparsable one is of type `unknown`), a child of `parent` in the trace.
    #[must_use]
    pub fn start(
        transport: Transport,
        request: &mut Request,
        caller: Caller,
        parent: Option<TraceContext>,
    ) -> Self {
        let (kind, name) = describe(request);
        let span = tracing::info_span!(
            "graphql",
            otel.name = %format_args!("{kind} {}", name.as_deref().unwrap_or("anonymous")),
            graphql.transport = transport.name(),
            graphql.operation.type = kind,
            graphql.operation.name = name.as_deref(),
            tenant.id = tracing::field::Empty,
            user.id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            error.code = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            trace.id = tracing::field::Empty,
            span.id = tracing::field::Empty,
            span.parent_id = tracing::field::Empty,
        );
        if let Some(auth) = caller.0 {
            span.record("tenant.id", tracing::field::display(auth.tenant_id));
            span.record("user.id", tracing::field::display(auth.user_id));
        }
        let trace = TraceContext::start(&span, parent);
        let running = (kind == "subscription" && transport == Transport::WebSocket)
            .then(|| GaugeGuard::new(SUBSCRIPTIONS));
        Self {
            span,
            trace,
            transport,
            kind,
            started: Instant::now(),
            error: None,
            _running: running,
        }
    }

    /// The operation's span: run the operation inside it.
    #[must_use]
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The operation's place in its trace (the parent of what it causes downstream).
    #[must_use]
    pub fn trace(&self) -> TraceContext {
        self.trace
    }

    /// Counts a response's errors by code; the first one becomes the operation's outcome.
    pub fn observe(&mut self, response: &Response) {
        if let Some(first) = count_errors(&response.errors) {
            self.error.get_or_insert(first);
        }
    }

    /// Runs `stream` (a subscription's responses) inside the span, observing every response;
    /// the operation ends when the stream is dropped.
    pub fn attach<S>(self, stream: S) -> Observed<S>
    where
        S: Stream<Item = Response> + Unpin,
    {
        Observed {
            inner: stream,
            operation: self,
        }
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        let outcome = if self.error.is_some() { "error" } else { "ok" };
        self.span.record("outcome", outcome);
        if let Some(code) = self.error {
            self.span.record("error.code", code);
        }
        self.span.record("duration_ms", millis(elapsed));
        let transport = self.transport.name();
        metrics::counter!(GRAPHQL_OPERATIONS, "transport" => transport, "type" => self.kind, "outcome" => outcome)
            .increment(1);
        if self.kind != "subscription" {
            metrics::histogram!(GRAPHQL_SECONDS, "transport" => transport, "type" => self.kind)
                .record(elapsed.as_secs_f64());
        }
        self.span.in_scope(|| tracing::info!("graphql operation"));
    }
}

/// A subscription's responses, observed by its [`Operation`].
#[derive(Debug)]
pub struct Observed<S> {
    inner: S,
    operation: Operation,
}

impl<S> Stream for Observed<S>
where
    S: Stream<Item = Response> + Unpin,
{
    type Item = Response;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let this = self.get_mut();
        let polled = {
            let _entered = this.operation.span.enter();
            Pin::new(&mut this.inner).poll_next(cx)
        };
        if let Poll::Ready(Some(response)) = &polled {
            this.operation.observe(response);
        }
        polled
    }
}

/// Counts errors sent to a client by `extensions.code`; returns the first one's code.
pub fn count_errors(errors: &[ServerError]) -> Option<&'static str> {
    let mut first = None;
    for error in errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|v| match v {
                async_graphql::Value::String(s) => CODES.iter().find(|c| **c == s.as_str()),
                _ => None,
            })
            .copied()
            .unwrap_or("OTHER");
        metrics::counter!(GRAPHQL_ERRORS, "code" => code).increment(1);
        first.get_or_insert(code);
    }
    first
}

/// The type and name of the operation a request selects.
fn describe(request: &mut Request) -> (&'static str, Option<String>) {
    let wanted = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return ("unknown", wanted.map(truncate));
    };
    let selected = doc.operations.iter().find(|(name, _)| {
        wanted
            .as_deref()
            .is_none_or(|w| name.is_some_and(|n| n.as_str() == w))
    });
    match selected {
        Some((name, op)) => {
            let kind = match op.node.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            (kind, name.map(|n| truncate(n.to_string())))
        }
        None => ("unknown", wanted.map(truncate)),
    }
}

fn truncate(name: String) -> String {
    if name.chars().count() > MAX_NAME_CHARS {
        name.chars().take(MAX_NAME_CHARS).collect()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_selected_operation() {
        let mut r = Request::new("query A { me { id } } mutation B { markAllNotificationsRead }")
            .operation_name("B");
        assert_eq!(describe(&mut r), ("mutation", Some("B".into())));
        let mut r = Request::new("subscription { notifications { id } }");
        assert_eq!(describe(&mut r), ("subscription", None));
        let mut r = Request::new("{ me { id } ");
        assert_eq!(describe(&mut r), ("unknown", None));
        let mut r = Request::new("query A { me { id } }").operation_name("Missing");
        assert_eq!(describe(&mut r), ("unknown", Some("Missing".into())));
    }

    #[test]
    fn codes_outside_the_contract_are_counted_as_other() {
        let mut known = ServerError::new("no", None);
        known
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "NOT_FOUND");
        let mut odd = ServerError::new("odd", None);
        odd.extensions
            .get_or_insert_with(Default::default)
            .set("code", "SOMETHING_ELSE");
        assert_eq!(
            count_errors(&[known.clone(), odd.clone()]),
            Some("NOT_FOUND")
        );
        assert_eq!(count_errors(&[odd]), Some("OTHER"));
        assert_eq!(count_errors(&[]), None);
    }
}
