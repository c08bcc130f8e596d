//! Prometheus metrics: the process's recorder, `GET /metrics`, and the edge's own metrics.
//!
//! Every crate records through the `metrics` facade (`agent::telemetry` for the runtime, this
//! module and [`crate::graphql::operation`] for the edge). [`Metrics::install`] installs the
//! Prometheus recorder once per process, with histogram buckets and every help text, and
//! [`serve`] renders it in the Prometheus text format. The stream's gauges (length, pending
//! entries, consumer lag, consumers) are read from Redis when `/metrics` is scraped, so they
//! are right even in a process that runs no consumer. Every replica reports the same stream
//! gauges: aggregate them with `max`, not `sum`.
//!
//! Labels are bounded: a route of the router (never a raw path), a method, a status, an
//! operation type, an error code. `/metrics` needs no token unless `METRICS_TOKEN` is set;
//! without one, do not expose it beyond the network Prometheus scrapes from.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use agent::stream::{self, StreamKeys};
use agent::telemetry::{LATENCY_BUCKETS, QUEUE_BUCKETS, QUEUE_WAIT_SECONDS};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;

use crate::auth::bearer_token;
use crate::state::AppState;

/// Counter: HTTP requests (labels `method`, `route`, `status`).
pub const HTTP_REQUESTS: &str = "concierge_http_requests_total";
/// Histogram: seconds to answer an HTTP request (labels `method`, `route`).
pub const HTTP_SECONDS: &str = "concierge_http_request_duration_seconds";
/// Counter: GraphQL operations (labels `transport`, `type`, `outcome`).
pub const GRAPHQL_OPERATIONS: &str = "concierge_graphql_operations_total";
/// Histogram: seconds per GraphQL query or mutation (labels `transport`, `type`).
pub const GRAPHQL_SECONDS: &str = "concierge_graphql_operation_duration_seconds";
/// Counter: GraphQL errors sent to clients (label `code`).
pub const GRAPHQL_ERRORS: &str = "concierge_graphql_errors_total";
/// Gauge: open GraphQL WebSocket connections.
pub const WS_CONNECTIONS: &str = "concierge_websocket_connections";
/// Gauge: running GraphQL subscriptions.
pub const SUBSCRIPTIONS: &str = "concierge_graphql_subscriptions";
/// Gauge: entries in the message stream.
pub const STREAM_LENGTH: &str = "concierge_stream_length";
/// Gauge: entries delivered to a consumer and not yet acked.
pub const STREAM_PENDING: &str = "concierge_stream_pending_entries";
/// Gauge: entries not yet delivered to any consumer.
pub const STREAM_LAG: &str = "concierge_stream_consumer_lag";
/// Gauge: consumers of the group.
pub const STREAM_CONSUMERS: &str = "concierge_stream_consumers";
/// Gauge: 1 when Redis answered the last scrape's stream queries, else 0.
pub const REDIS_UP: &str = "concierge_redis_up";
/// Gauge: always 1, labelled with the version.
pub const BUILD_INFO: &str = "concierge_build_info";

/// How long a scrape waits for Redis before reporting it down.
const SCRAPE_REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often histogram samples are folded into their buckets (the exporter's upkeep), so
/// memory stays bounded even when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The Prometheus content type of the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the Prometheus recorder as the process's `metrics` recorder, once; later calls
    /// (a second server in the same test process) share it.
    #[must_use]
    pub fn install() -> Self {
        let handle = HANDLE.get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(QUEUE_WAIT_SECONDS.into()), QUEUE_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                // Only an empty bucket list fails, and ours are constants: fall back to summaries.
                Err(e) => {
                    tracing::warn!(error = %e, "histogram buckets refused; reporting summaries");
                    PrometheusBuilder::new().build_recorder()
                }
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start the metrics upkeep thread");
            }
            handle
        });
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Self {
            handle: handle.clone(),
        }
    }

    /// Every metric of the process in the Prometheus text format.
    #[must_use]
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Registers the help texts of the edge's metrics and the agent runtime's.
fn describe() {
    agent::telemetry::describe();
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, route (the router's pattern; 'web' for the web app and unknown paths) and status."
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "Time to answer an HTTP request (a WebSocket: its handshake)."
    );
    describe_counter!(
        GRAPHQL_OPERATIONS,
        "GraphQL operations by transport (http, websocket), type (query, mutation, subscription, unknown) and outcome (ok, error)."
    );
    describe_histogram!(
        GRAPHQL_SECONDS,
        Unit::Seconds,
        "Time to execute a GraphQL query or mutation."
    );
    describe_counter!(
        GRAPHQL_ERRORS,
        "GraphQL errors sent to clients by extensions.code."
    );
    describe_gauge!(WS_CONNECTIONS, "Open GraphQL WebSocket connections.");
    describe_gauge!(
        SUBSCRIPTIONS,
        "Running GraphQL subscriptions (over WebSocket)."
    );
    describe_gauge!(
        STREAM_LENGTH,
        "Entries in the message stream (read from Redis at scrape time)."
    );
    describe_gauge!(
        STREAM_PENDING,
        "Stream entries delivered to an agent consumer and not yet acked (read at scrape time)."
    );
    describe_gauge!(
        STREAM_LAG,
        "Stream entries not yet delivered to any agent consumer (read at scrape time; NaN when Redis cannot tell)."
    );
    describe_gauge!(
        STREAM_CONSUMERS,
        "Consumers in the agents' consumer group, dead ones included until removed."
    );
    describe_gauge!(
        REDIS_UP,
        "1 when Redis answered this scrape's stream queries, else 0."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label.");
}

/// `GET /metrics`: every metric in the Prometheus text format, after reading the stream's
/// state from Redis. With `METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|t| same_secret(t, expected.expose_secret())) {
            return (
                StatusCode::UNAUTHORIZED,
                "a valid METRICS_TOKEN is required\n",
            )
                .into_response();
        }
    }
    let keys = StreamKeys::new(&state.config.redis_prefix);
    match stream::stats(&state.redis, &keys, SCRAPE_REDIS_TIMEOUT).await {
        Ok(stats) => {
            metrics::gauge!(REDIS_UP).set(1.0);
            metrics::gauge!(STREAM_LENGTH).set(as_f64(stats.length));
            metrics::gauge!(STREAM_PENDING).set(as_f64(stats.pending));
            metrics::gauge!(STREAM_LAG).set(stats.lag.map_or(f64::NAN, as_f64));
            metrics::gauge!(STREAM_CONSUMERS).set(as_f64(stats.consumers));
        }
        Err(e) => {
            tracing::debug!(error = %e, "stream gauges not updated");
            metrics::gauge!(REDIS_UP).set(0.0);
        }
    }
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

/// Compares a presented token with the configured one without stopping at the first
/// difference.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[expect(
    clippy::cast_precision_loss,
    reason = "gauges are f64; counts beyond 2^53 entries do not occur"
)]
fn as_f64(n: u64) -> f64 {
    n as f64
}

/// Middleware: counts every HTTP request and observes its latency, labelled with the route
/// pattern it matched (`web` for the web app's files and unknown paths).
pub async fn track(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "web".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_SECONDS, "method" => method, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// The method as a label: the standard ones, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Adds one to a gauge while it lives (an open WebSocket, a running subscription).
#[derive(Debug)]
pub struct GaugeGuard(&'static str);

impl GaugeGuard {
    /// Increments `gauge` now and decrements it on drop.
    #[must_use]
    pub fn new(gauge: &'static str) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
