//! W3C trace context (<https://www.w3.org/TR/trace-context/>): how one trace covers a request,
//! its stream entry and the agent's work on the message.
//!
//! The API takes the `traceparent` header of a request (or starts a trace), gives the
//! request's span a [`TraceContext`] of its own ([`TraceContext::start`]), and puts that
//! context in the [`crate::stream::StreamEntry`] (and on the message, so a message answered
//! from another entry of its session, retried or re-enqueued by the sweep still finds it). The
//! agent continues it: the message's span is a child of the request's span, with the same trace
//! id. Spans record `trace.id`, `span.id` and `span.parent_id`, so every log line written inside
//! them (on both sides of the queue) carries the trace id.
//!
//! The ids are made here, from the random number generator, and carried explicitly: they do
//! not depend on which subscriber is installed or on the log filter. Only `traceparent` is
//! carried; `tracestate` (vendor data) is not.
//!
//! With the `otlp` feature, spans are OpenTelemetry spans too (when the process installed the
//! OpenTelemetry layer, see `api::telemetry`): [`TraceContext::start`] makes the caller's
//! context the OpenTelemetry parent of the span and adopts the ids OpenTelemetry gave it, so
//! the exported spans and the logged ids are the same and the spans link up across the queue.

use tracing::Span;

/// The only version of `traceparent` this code writes.
const VERSION: &str = "00";
/// The `sampled` bit of the trace flags.
const SAMPLED: u8 = 0x01;

/// One span's position in a trace: the trace id, the span id, and whether the trace is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` header value: `00-<32 hex trace id>-<16 hex span id>-<2 hex
    /// flags>`. Per the specification, a later version may append fields (they are ignored),
    /// version `ff`, uppercase hex and all-zero ids are invalid. Returns `None` for anything
    /// invalid (the caller then starts a new trace).
    #[must_use]
    pub fn parse(traceparent: &str) -> Option<Self> {
        let value = traceparent.trim();
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let span_id = parts.next()?;
        let flags = parts.next()?;
        let more = parts.next();
        if !is_lower_hex(version, 2) || version == "ff" {
            return None;
        }
        // Version 00 has exactly four fields; later versions may add fields after a dash.
        if version == VERSION && more.is_some() {
            return None;
        }
        if !is_lower_hex(trace_id, 32) || !is_lower_hex(span_id, 16) || !is_lower_hex(flags, 2) {
            return None;
        }
        let context = Self {
            trace_id: u128::from_str_radix(trace_id, 16).ok()?,
            span_id: u64::from_str_radix(span_id, 16).ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        };
        (context.trace_id != 0 && context.span_id != 0).then_some(context)
    }

    /// A new trace (sampled), with this as its first span.
    #[must_use]
    pub fn root() -> Self {
        Self {
            trace_id: nonzero_u128(),
            span_id: nonzero_u64(),
            flags: SAMPLED,
        }
    }

    /// A new span of the same trace, with the same flags.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            span_id: nonzero_u64(),
            ..*self
        }
    }

    /// The context of a new span: a child of `parent`, or the root of a new trace.
    #[must_use]
    pub fn child_of(parent: Option<Self>) -> Self {
        parent.map_or_else(Self::root, |p| p.child())
    }

    /// The `traceparent` header value of this span (for the next hop).
    #[must_use]
    pub fn traceparent(&self) -> String {
        format!(
            "{VERSION}-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }

    /// The trace id, 32 lowercase hex digits.
    #[must_use]
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id, 16 lowercase hex digits.
    #[must_use]
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// Whether the caller asked for this trace to be recorded.
    #[must_use]
    pub const fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Gives `span` its place in a trace: a child of `parent` (the caller's context) or the
    /// root of a new trace. Records `trace.id`, `span.id` and `span.parent_id` on the span
    /// (declare them as `tracing::field::Empty`) and returns the span's context, to hand to
    /// the next hop.
    #[must_use]
    pub fn start(span: &Span, parent: Option<Self>) -> Self {
        #[cfg(feature = "otlp")]
        let context = otel::start(span, parent).unwrap_or_else(|| Self::child_of(parent));
        #[cfg(not(feature = "otlp"))]
        let context = Self::child_of(parent);
        span.record("trace.id", context.trace_id());
        span.record("span.id", context.span_id());
        if let Some(parent) = parent {
            span.record("span.parent_id", parent.span_id());
        }
        context
    }
}

impl std::fmt::Display for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// The OpenTelemetry side of [`TraceContext::start`].
#[cfg(feature = "otlp")]
mod otel {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::TraceContext;

    /// Sets `parent` as the span's remote OpenTelemetry parent and returns the span's own
    /// context; `None` when no OpenTelemetry layer is installed (or the span is disabled).
    pub(super) fn start(span: &Span, parent: Option<TraceContext>) -> Option<TraceContext> {
        if let Some(parent) = parent {
            let remote = SpanContext::new(
                TraceId::from_bytes(parent.trace_id.to_be_bytes()),
                SpanId::from_bytes(parent.span_id.to_be_bytes()),
                TraceFlags::new(parent.flags),
                true,
                TraceState::default(),
            );
            let context = opentelemetry::Context::new().with_remote_span_context(remote);
            // Fails only without the layer, and then the span context below is invalid too.
            let _set = span.set_parent(context);
        }
        let context = span.context();
        let own = context.span().span_context().clone();
        own.is_valid().then(|| TraceContext {
            trace_id: u128::from_be_bytes(own.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(own.span_id().to_bytes()),
            flags: own.trace_flags().to_u8(),
        })
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn nonzero_u128() -> u128 {
    loop {
        let id = rand::random::<u128>();
        if id != 0 {
            return id;
        }
    }
}

fn nonzero_u64() -> u64 {
    loop {
        let id = rand::random::<u64>();
        if id != 0 {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_writes_the_specifications_example() {
        let ctx = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id(), "00f067aa0ba902b7");
        assert!(ctx.sampled());
        assert_eq!(ctx.traceparent(), EXAMPLE);
        assert_eq!(ctx.to_string(), EXAMPLE);
    }

    #[test]
    fn refuses_invalid_values() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn later_versions_may_append_fields() {
        let ctx =
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what")
                .unwrap();
        assert!(!ctx.sampled());
        // What we write is version 00, with the fields we understand.
        assert_eq!(
            ctx.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_with_a_new_span() {
        let parent = TraceContext::parse(EXAMPLE).unwrap();
        let child = TraceContext::child_of(Some(parent));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        assert_eq!(child.sampled(), parent.sampled());
        assert_eq!(TraceContext::parse(&child.traceparent()), Some(child));
    }

    #[test]
    fn roots_start_new_sampled_traces() {
        let (a, b) = (TraceContext::child_of(None), TraceContext::root());
        assert_ne!(a.trace_id(), b.trace_id());
        assert!(a.sampled());
        assert_eq!(TraceContext::parse(&a.traceparent()), Some(a));
    }
}
