//! W3C trace context from request to agent: a `traceparent` header becomes the parent of the
//! request's span, travels in the stream entry and the message, and the agent's span for that
//! message continues the same trace with the request's span as its parent; the log lines of
//! both sides carry the trace id.

use std::time::Duration;

use fred::interfaces::StreamsInterface;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::app::TestApp;
use crate::support::concierge;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";
const SEND: &str =
    "mutation($c: String!) { sendMessage(input: { content: $c }) { message { id } } }";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_SPAN}-01")
}

/// POSTs `sendMessage` with a `traceparent` header; returns the message id.
async fn send_traced(url: &str, token: &str, traceparent: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .header("traceparent", traceparent)
        .json(&json!({ "query": SEND, "variables": { "c": "When do we open on Sunday?" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("sendMessage failed: {body}"))
        .to_owned()
}

#[tokio::test]
async fn the_stream_entry_and_the_message_carry_the_requests_span() {
    let app = TestApp::spawn_with(&[("AGENT_RUNTIME", "off")]).await;
    let maria = app.login("maria@sole.example").await;
    let message = send_traced(&app.url, &maria, &traceparent()).await;

    let entries: Vec<(String, std::collections::HashMap<String, String>)> = app
        .state
        .redis
        .next()
        .xrange(format!("{}:messages", app.prefix), "-", "+", None)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let entry: Value = serde_json::from_str(&entries[0].1["e"]).unwrap();
    assert_eq!(entry["message_id"], message.as_str());
    let carried = entry["traceparent"].as_str().unwrap();
    let parts: Vec<&str> = carried.split('-').collect();
    assert_eq!(parts[1], TRACE_ID, "same trace: {carried}");
    assert_ne!(parts[2], PARENT_SPAN, "the request's own span: {carried}");
    assert_eq!(parts[3], "01", "the caller's flags");

    let stored = crate::app::count(
        &app,
        &format!("messages WHERE id = '{message}' AND metadata->>'traceparent' = '{carried}'"),
    )
    .await;
    assert_eq!(stored, 1, "the message remembers the trace context");

    // Without a header (or with a malformed one) a new trace starts.
    send_traced(&app.url, &maria, "00-not-a-trace-01").await;
    let entries: Vec<(String, std::collections::HashMap<String, String>)> = app
        .state
        .redis
        .next()
        .xrange(format!("{}:messages", app.prefix), "-", "+", None)
        .await
        .unwrap();
    let entry: Value = serde_json::from_str(&entries[1].1["e"]).unwrap();
    let fresh = entry["traceparent"].as_str().unwrap();
    assert!(
        agent::trace::TraceContext::parse(fresh).is_some(),
        "{fresh}"
    );
    assert!(!fresh.contains(TRACE_ID));
}

/// The JSON log line of `concierge serve` whose message is `message` and whose current span
/// has `trace.id` = [`TRACE_ID`].
fn traced(line: &Value, message: &str) -> bool {
    line["message"] == message && line["span"]["trace.id"] == TRACE_ID
}

#[tokio::test]
async fn one_trace_covers_request_queue_and_agent_in_the_logs() {
    let db = testkit::TestDb::new().await;
    let seeded = concierge(&db, &["seed", "--demo"], &[]).await;
    assert!(seeded.status.success());
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"));
    command
        .arg("serve")
        .env("DATABASE_URL", db.app_url())
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_KEY_PREFIX", testkit::redis_prefix())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("WEB_DIR", "/nonexistent")
        .env("LLM_PROVIDER", "offline")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn,fred=warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Concierge is listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("concierge serve exited before listening");
    })
    .await
    .expect("concierge serve did not start");

    let token = {
        let out = concierge(&db, &["token", "--email", "maria@sole.example"], &[]).await;
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    send_traced(&url, &token, &traceparent()).await;

    // Read the log until the agent says the message is done within the same trace.
    let (request, agent) = tokio::time::timeout(Duration::from_secs(60), async {
        let mut request: Option<Value> = None;
        while let Some(line) = stderr.next_line().await.unwrap() {
            let Ok(line) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if traced(&line, "graphql operation") {
                request = Some(line);
            } else if traced(&line, "message done") {
                return (request, line);
            }
        }
        panic!("the log ended before the agent's line");
    })
    .await
    .expect("no agent log line with the request's trace id");

    // The API's line: the operation's span is a child of the caller's span.
    let request = request.expect("the request's log line carries the trace id");
    assert_eq!(request["span"]["name"], "graphql");
    assert_eq!(request["span"]["span.parent_id"], PARENT_SPAN);
    assert_eq!(request["span"]["graphql.operation.type"], "mutation");
    // The agent's line: the message's span is a child of the request's span.
    assert_eq!(agent["span"]["name"], "message");
    assert_eq!(agent["span"]["span.parent_id"], request["span"]["span.id"]);
    assert!(agent["span"]["tenant.id"].is_string(), "{agent}");
    assert!(agent["span"]["message.id"].is_string(), "{agent}");
}

/// With the `otlp` feature: the spans of both sides reach an OTLP/HTTP collector, in one trace,
/// and the agent's message span names the request's span as its parent.
#[cfg(feature = "otlp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_in_one_trace() {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use fred::interfaces::StreamsInterface;

    // A collector that keeps every body POSTed to /v1/traces.
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post({
            let bodies = bodies.clone();
            move |body: Bytes| async move {
                bodies.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let db = testkit::TestDb::new().await;
    assert!(
        concierge(&db, &["seed", "--demo"], &[])
            .await
            .status
            .success()
    );
    let prefix = testkit::redis_prefix();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"))
        .arg("serve")
        .env("DATABASE_URL", db.app_url())
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_KEY_PREFIX", &prefix)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("WEB_DIR", "/nonexistent")
        .env("LLM_PROVIDER", "offline")
        .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn,fred=warn")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Concierge is listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("concierge serve exited before listening");
    })
    .await
    .expect("concierge serve did not start");
    let token = {
        let out = concierge(&db, &["token", "--email", "maria@sole.example"], &[]).await;
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    send_traced(&url, &token, &traceparent()).await;

    // The request's span id, as OpenTelemetry made it, travels in the stream entry.
    let redis = agent::redis::pool(&testkit::redis_url(), 1).unwrap();
    let _connection = fred::interfaces::ClientLike::init(&redis).await.unwrap();
    let entries: Vec<(String, std::collections::HashMap<String, String>)> = redis
        .xrange(format!("{prefix}:messages"), "-", "+", None)
        .await
        .unwrap();
    let entry: Value = serde_json::from_str(&entries[0].1["e"]).unwrap();
    let request_span = entry["traceparent"]
        .as_str()
        .unwrap()
        .split('-')
        .nth(2)
        .unwrap()
        .to_owned();

    let bytes = |hex: &str| -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let occurrences = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    };
    // Wait (bounded) until the exported spans hold the request's span id twice: as the id of
    // the `graphql` span and as the parent of the agent's `message` span.
    let exported = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let all: Vec<u8> = bodies
                .lock()
                .unwrap()
                .iter()
                .flat_map(|b| b.to_vec())
                .collect();
            if occurrences(&all, &bytes(&request_span)) >= 2 && occurrences(&all, b"message") >= 1 {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the collector never received both sides of the trace");
    assert!(
        occurrences(&exported, &bytes(TRACE_ID)) >= 2,
        "both spans in the caller's trace"
    );
    assert!(
        occurrences(&exported, &bytes(PARENT_SPAN)) >= 1,
        "the caller's span is a parent"
    );
}
