//! `/metrics`: after a scripted conversation (logins, WebSocket subscriptions, a message the
//! agent answers with a notification, GraphQL errors) the expected counters, histograms and
//! gauges have moved by the expected amounts; a message that keeps failing is counted as
//! retried, failed and dead-lettered; `METRICS_TOKEN` protects the endpoint.
//!
//! The recorder is global to the test process (nextest runs each test in its own process), so
//! every comparison is of values before and after, and per-tenant series are those of this
//! test's freshly seeded tenants.

use std::sync::Arc;
use std::time::Duration;

use agent::llm::{DeltaSink, Finish, LlmError, LlmProvider, LlmResponse, ProposedAction, Usage};
use agent::prompt::Prompt;
use async_trait::async_trait;
use serde_json::{Value, json};

use crate::app::{TestApp, WsClient, code, user_ids, wait_for_subscribers};

const SEND: &str =
    "mutation($c: String!) { sendMessage(input: { content: $c }) { message { id } } }";
const EVENTS: &str = "subscription { conversationEvents { __typename \
    ... on AgentReply { replyTo message { actions { type status } } } \
    ... on MessageFailed { messageId error } } }";
const NOTIFICATIONS: &str = "subscription { notifications { message } }";

/// Prompt and output tokens the scripted model reports per answer.
const USAGE: Usage = Usage {
    prompt_tokens: 120,
    output_tokens: 30,
};

/// A model that notifies `to` of whatever it is told, reporting [`USAGE`].
#[derive(Debug)]
struct Notifier {
    to: uuid::Uuid,
}

#[async_trait]
impl LlmProvider for Notifier {
    fn name(&self) -> String {
        "scripted".into()
    }

    async fn generate(
        &self,
        prompt: &Prompt,
        deltas: &dyn DeltaSink,
    ) -> Result<LlmResponse, LlmError> {
        let params = json!({ "user_id": self.to, "message": prompt.message, "priority": "HIGH" });
        let reply = "Done - I told Luca.".to_owned();
        deltas.push(&reply);
        Ok(LlmResponse {
            reply,
            actions: vec![ProposedAction {
                kind: "notify_user".into(),
                params: params.as_object().cloned().unwrap_or_default(),
            }],
            usage: USAGE,
            finish: Finish::Complete,
            model: "scripted".into(),
        })
    }
}

/// A model that is never reachable.
#[derive(Debug)]
struct Down;

#[async_trait]
impl LlmProvider for Down {
    fn name(&self) -> String {
        "down".into()
    }

    async fn generate(&self, _: &Prompt, _: &dyn DeltaSink) -> Result<LlmResponse, LlmError> {
        Err(LlmError::Unavailable("connection refused".into()))
    }
}

/// One scrape of `/metrics`.
struct Scrape(String);

impl Scrape {
    async fn take(app: &TestApp) -> Self {
        let (status, body) = app.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        Self(body)
    }

    /// The sum of the samples of `name` whose labels include all of `labels` (0 when none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, label_text) = match series.split_once('{') {
                    Some((m, rest)) => (m, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let wanted = labels
                    .iter()
                    .all(|(k, v)| label_text.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
                (metric == name && wanted).then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }

    /// Whether the scrape holds a help text for `name`.
    fn describes(&self, name: &str) -> bool {
        self.0.contains(&format!("# HELP {name} "))
    }
}

/// Scrapes until `check` holds (bounded): for gauges that follow a connection closing.
async fn wait_for_scrape(app: &TestApp, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let wait = async {
        loop {
            let scrape = Scrape::take(app).await;
            if check(&scrape) {
                return scrape;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("/metrics never showed {what}"))
}

/// The next conversation event of a type in `wanted`, skipping others.
async fn next_event(ws: &mut WsClient, wanted: &[&str]) -> Value {
    loop {
        let m = ws.recv_json().await;
        let event = &m["payload"]["data"]["conversationEvents"];
        if wanted.contains(&event["__typename"].as_str().unwrap_or_default()) {
            return event.clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_conversation_moves_the_counters() {
    let db = Arc::new(testkit::TestDb::new().await);
    let prefix = testkit::redis_prefix();
    let (luca_id, tenant) = {
        let app = TestApp::spawn_on(
            db.clone(),
            prefix.clone(),
            &[("AGENT_RUNTIME", "off")],
            None,
        )
        .await;
        let ids = user_ids(&app, "luca@sole.example").await;
        app.stop().await;
        ids
    };
    let app = TestApp::spawn_on(db, prefix, &[], Some(Arc::new(Notifier { to: luca_id }))).await;
    let tenant = tenant.to_string();
    let t = tenant.as_str();
    let before = Scrape::take(&app).await;

    // Two logins over HTTP, two WebSockets each with a subscription.
    let maria = app.login("maria@sole.example").await;
    let luca = app.login("luca@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    let mut maria_ws = WsClient::init(&app.ws_url(), &maria).await;
    maria_ws.subscribe("c", EVENTS, json!({})).await;
    let mut luca_ws = WsClient::init(&app.ws_url(), &luca).await;
    luca_ws.subscribe("n", NOTIFICATIONS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    wait_for_subscribers(&app, luca_id, 1).await;

    // A message the agent answers with a notification to Luca.
    let sent = app
        .gql(
            Some(&maria),
            SEND,
            json!({ "c": "Tell Luca that table 5 has a nut allergy" }),
        )
        .await;
    assert!(sent["data"]["sendMessage"].is_object(), "{sent}");
    let reply = next_event(&mut maria_ws, &["AgentReply", "MessageFailed"]).await;
    assert_eq!(
        reply["message"]["actions"][0]["status"], "EXECUTED",
        "{reply}"
    );
    let notified = luca_ws.recv_json().await;
    assert!(
        notified["payload"]["data"]["notifications"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nut allergy")),
        "{notified}"
    );

    // GraphQL errors: a staff member asks for a manager's field; nobody asks for `me`.
    let forbidden = app
        .gql(Some(&luca), "{ events { nodes { id } } }", json!({}))
        .await;
    assert_eq!(code(&forbidden), "FORBIDDEN");
    let anonymous = app.gql(None, "{ me { id } }", json!({})).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");

    let after = Scrape::take(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    for described in [
        "concierge_http_requests_total",
        "concierge_graphql_errors_total",
        "concierge_agent_step_duration_seconds",
        "concierge_llm_tokens_total",
        "concierge_stream_consumer_lag",
    ] {
        assert!(after.describes(described), "no help text for {described}");
    }

    // HTTP: logins, the message and the two failing queries are POSTs to /graphql.
    assert!(
        delta(
            "concierge_http_requests_total",
            &[("method", "POST"), ("route", "/graphql"), ("status", "200")]
        ) >= 5.0
    );
    assert!(
        delta(
            "concierge_http_request_duration_seconds_count",
            &[("route", "/graphql")]
        ) >= 5.0
    );
    // GraphQL: operations by type and outcome, errors by code.
    let ops = |kind: &str, outcome: &str| {
        delta(
            "concierge_graphql_operations_total",
            &[("transport", "http"), ("type", kind), ("outcome", outcome)],
        )
    };
    assert_eq!(ops("mutation", "ok"), 3.0, "two logins and sendMessage");
    assert_eq!(ops("query", "error"), 2.0);
    assert_eq!(
        delta("concierge_graphql_errors_total", &[("code", "FORBIDDEN")]),
        1.0
    );
    assert_eq!(
        delta(
            "concierge_graphql_errors_total",
            &[("code", "UNAUTHENTICATED")]
        ),
        1.0
    );
    // Open WebSockets and running subscriptions are gauges.
    assert_eq!(delta("concierge_websocket_connections", &[]), 2.0);
    assert_eq!(delta("concierge_graphql_subscriptions", &[]), 2.0);

    // The agent: one message answered, every step observed once, the LLM call with its
    // tokens, the executed action, the notification published.
    assert_eq!(
        delta(
            "concierge_agent_messages_total",
            &[("tenant", t), ("outcome", "answered")]
        ),
        1.0
    );
    for step in ["context", "retrieve", "llm", "actions", "commit", "publish"] {
        assert_eq!(
            delta(
                "concierge_agent_step_duration_seconds_count",
                &[("step", step)]
            ),
            1.0,
            "step {step}"
        );
    }
    assert!(
        delta(
            "concierge_agent_step_duration_seconds_count",
            &[("step", "claim")]
        ) >= 1.0
    );
    let llm = [("provider", "scripted"), ("tenant", t)];
    assert_eq!(
        delta("concierge_llm_request_duration_seconds_count", &llm),
        1.0
    );
    assert_eq!(
        delta(
            "concierge_llm_tokens_total",
            &[("provider", "scripted"), ("tenant", t), ("kind", "prompt")]
        ),
        f64::from(USAGE.prompt_tokens)
    );
    assert_eq!(
        delta(
            "concierge_llm_tokens_total",
            &[("provider", "scripted"), ("tenant", t), ("kind", "output")]
        ),
        f64::from(USAGE.output_tokens)
    );
    assert_eq!(
        delta(
            "concierge_llm_responses_total",
            &[("tenant", t), ("finish", "complete")]
        ),
        1.0
    );
    assert_eq!(delta("concierge_llm_errors_total", &[("tenant", t)]), 0.0);
    assert_eq!(
        delta(
            "concierge_agent_actions_total",
            &[
                ("tenant", t),
                ("type", "notify_user"),
                ("status", "executed")
            ]
        ),
        1.0
    );
    assert_eq!(
        delta("concierge_notifications_published_total", &[("tenant", t)]),
        1.0
    );
    assert_eq!(delta("concierge_agent_queue_wait_seconds_count", &[]), 1.0);
    // The stream, read from Redis at scrape time: the entry is there, one consumer reads it.
    assert_eq!(delta("concierge_stream_entries_read_total", &[]), 1.0);
    assert_eq!(after.value("concierge_stream_length", &[]), 1.0);
    assert_eq!(after.value("concierge_stream_consumers", &[]), 1.0);
    assert_eq!(after.value("concierge_stream_consumer_lag", &[]), 0.0);
    assert_eq!(after.value("concierge_redis_up", &[]), 1.0);

    // Closing the sockets ends their subscriptions: the gauges come back down.
    drop(maria_ws);
    drop(luca_ws);
    wait_for_scrape(&app, "the WebSockets closed", |s| {
        s.value("concierge_websocket_connections", &[])
            == before.value("concierge_websocket_connections", &[])
            && s.value("concierge_graphql_subscriptions", &[])
                == before.value("concierge_graphql_subscriptions", &[])
    })
    .await;
    // Once acked, nothing is pending.
    wait_for_scrape(&app, "no pending entries", |s| {
        s.value("concierge_stream_pending_entries", &[]) == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_counted_as_a_dead_letter() {
    let app = TestApp::spawn_with_llm(&[("AGENT_MAX_ATTEMPTS", "1")], Arc::new(Down)).await;
    let (maria_id, tenant) = user_ids(&app, "maria@sole.example").await;
    let tenant = tenant.to_string();
    let t = tenant.as_str();
    let before = Scrape::take(&app).await;
    let maria = app.login("maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    app.gql(
        Some(&maria),
        SEND,
        json!({ "c": "When do we open on Sunday?" }),
    )
    .await;
    let failed = next_event(&mut ws, &["MessageFailed", "AgentReply"]).await;
    assert_eq!(failed["__typename"], "MessageFailed", "{failed}");

    let after = Scrape::take(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    // The first attempt failed transiently (retried); the second found the attempts used up.
    let outcome = |o: &str| {
        delta(
            "concierge_agent_messages_total",
            &[("tenant", t), ("outcome", o)],
        )
    };
    assert_eq!(outcome("retried"), 1.0);
    assert_eq!(outcome("failed"), 1.0);
    assert_eq!(outcome("answered"), 0.0);
    assert_eq!(
        delta("concierge_agent_dead_letters_total", &[("tenant", t)]),
        1.0
    );
    assert_eq!(
        delta(
            "concierge_llm_errors_total",
            &[("provider", "down"), ("tenant", t), ("kind", "unavailable")]
        ),
        1.0
    );
}

#[tokio::test]
async fn metrics_token_guards_the_endpoint() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", "scrape-me-please")]).await;
    let (status, _) = app.get("/metrics").await;
    assert_eq!(status, 401);
    let response = reqwest::Client::new()
        .get(format!("{}/metrics", app.url))
        .bearer_auth("scrape-me-please")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4"))
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("concierge_build_info")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_its_own_metrics_on_metrics_addr() {
    use tokio::io::AsyncBufReadExt;
    let db = Arc::new(testkit::TestDb::new().await);
    let prefix = testkit::redis_prefix();
    let app = TestApp::spawn_on(
        db.clone(),
        prefix.clone(),
        &[("AGENT_RUNTIME", "off")],
        None,
    )
    .await;
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"))
        .arg("worker")
        .env("DATABASE_URL", db.app_url())
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_KEY_PREFIX", &prefix)
        .env("LLM_PROVIDER", "offline")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(worker.stdout.take().unwrap()).lines();
    let metrics_url = tokio::time::timeout(Duration::from_secs(60), async {
        let mut url = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(u) = line.strip_prefix("Concierge worker metrics on ") {
                url = Some(u.trim().to_owned());
            }
            if line.starts_with("Concierge worker is running") {
                return url.expect("the worker announces its metrics address first");
            }
        }
        panic!("the worker exited before running");
    })
    .await
    .expect("the worker did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let (maria_id, tenant) = user_ids(&app, "maria@sole.example").await;
    let tenant = tenant.to_string();
    let maria = app.login("maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    app.gql(
        Some(&maria),
        SEND,
        json!({ "c": "When do we open on Sunday?" }),
    )
    .await;
    let reply = next_event(&mut ws, &["AgentReply", "MessageFailed"]).await;
    assert_eq!(reply["__typename"], "AgentReply", "{reply}");

    // The worker answered: its /metrics counts it; the API process's does not.
    let worker_scrape = Scrape(
        reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let answered = [("tenant", tenant.as_str()), ("outcome", "answered")];
    assert_eq!(
        worker_scrape.value("concierge_agent_messages_total", &answered),
        1.0
    );
    assert_eq!(
        worker_scrape.value("concierge_stream_consumers", &[]),
        1.0,
        "the worker reads the stream's gauges too"
    );
    let api_scrape = Scrape::take(&app).await;
    assert_eq!(
        api_scrape.value("concierge_agent_messages_total", &answered),
        0.0
    );
    let health = reqwest::get(metrics_url.replace("/metrics", "/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
