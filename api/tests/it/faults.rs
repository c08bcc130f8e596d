//! The fault suite: the server killed with SIGKILL, Redis restarted and Postgres restarted, each
//! under a steady load of messages, then every accepted message has exactly one outcome and
//! nothing is notified twice; and an LLM that rate limits, fails, hangs or talks nonsense ends
//! each message with a readable outcome while the session keeps working.
//!
//! Each fault gets its own server where it happens (a process of its own for the kill, a
//! private Redis, a private Postgres), so the shared services stay up for every other test.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::TestDb;
use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini, GeminiReply};
use testkit::pg_server::PgServer;
use testkit::redis_server::RedisServer;
use tokio::sync::watch;

use crate::app::{TEST_SECRET, TestApp, WsClient, user_ids, wait_for_subscribers};
use crate::load::{Load, Sender, assert_exactly_once, wait_for_outcomes};
use crate::support::spawn_server;

/// Limits high enough for the load (the limiter still runs, in Redis or, while Redis is down,
/// in memory).
const HIGH_LIMITS: [(&str, &str); 4] = [
    ("RATE_LIMIT_USER_PER_MINUTE", "60000"),
    ("RATE_LIMIT_USER_BURST", "1000"),
    ("RATE_LIMIT_TENANT_PER_MINUTE", "60000"),
    ("RATE_LIMIT_TENANT_BURST", "1000"),
];
/// The stream's takeover and sweep, fast enough for a test.
const FAST_RECOVERY: [(&str, &str); 5] = [
    ("STREAM_RECLAIM_IDLE", "1s"),
    ("STREAM_RECLAIM_INTERVAL", "500ms"),
    ("STREAM_SWEEP_INTERVAL", "500ms"),
    ("STREAM_SWEEP_MIN_AGE", "1s"),
    ("SESSION_LEASE_TTL", "2s"),
];

/// Logs in over HTTP; returns the token.
async fn login(url: &str, email: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .json(&json!({
            "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            "variables": { "e": email, "p": api::seed::DEMO_PASSWORD }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {body}"))
        .to_owned()
}

/// Four senders in two tenants; each message asks for a notification of a colleague.
async fn senders(url: &str) -> Vec<Sender> {
    let mut senders = Vec::new();
    for (email, template) in [
        ("maria@sole.example", "Tell Luca that order M{n} is ready"),
        ("sofia@sole.example", "Tell Luca that order S{n} is ready"),
        (
            "james@harborview.example",
            "Tell Ana that unit J{n} needs a check",
        ),
        (
            "tom@harborview.example",
            "Tell Ana that unit T{n} needs a check",
        ),
    ] {
        senders.push(Sender {
            token: login(url, email).await,
            template: template.into(),
        });
    }
    senders
}

/// Waits (bounded) until `/readyz` answers `status`.
async fn wait_ready(url: &str, status: u16) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let wait = async {
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await
                && r.status().as_u16() == status
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("/readyz never answered {status}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_loses_nothing_and_notifies_once() {
    let db = TestDb::new().await;
    api::seed::seed_demo(&db.db, &agent::embedding::HashEmbedder)
        .await
        .unwrap();
    let luca = id_of(&db, "luca@sole.example").await;
    let ana = id_of(&db, "ana@harborview.example").await;
    // A model that takes a moment and always asks for one notification, carrying the message.
    let fake = FakeGemini::start().await;
    fake.set_delay(Duration::from_millis(150));
    fake.respond_with(move |request| {
        let text = request.last_user_text().unwrap_or_default().to_owned();
        let to = if request.system_text().unwrap_or_default().contains("Trattoria Sole") {
            luca
        } else {
            ana
        };
        GeminiReply::output(&json!({
            "reply": format!("Done: {text}"),
            "actions": [{ "type": "notify_user", "user_id": to, "message": text, "priority": "NORMAL" }]
        }))
    });
    let prefix = testkit::redis_prefix();
    let base = fake.base_url();
    let mut env: Vec<(&str, &str)> = vec![
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("JWT_SECRET", TEST_SECRET),
        ("LLM_PROVIDER", "gemini"),
        ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
        ("GEMINI_BASE_URL", base.as_str()),
        ("WEB_DIR", "/nonexistent"),
    ];
    env.extend(HIGH_LIMITS);
    env.extend(FAST_RECOVERY);

    let mut first = spawn_server(&db, &env).await;
    let (url, urls) = watch::channel(first.url.clone());
    let load = Load::start(urls, senders(&first.url).await, Duration::from_millis(60));
    load.wait_accepted(0, 8, Duration::from_secs(60)).await;
    // Kill it while the model is answering a message (a request has just arrived).
    let asked = fake.request_count();
    let in_flight = async {
        let mut poll = tokio::time::interval(Duration::from_millis(5));
        while fake.request_count() <= asked {
            poll.tick().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), in_flight)
        .await
        .expect("the server never asked the model");
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let at_kill = load.log().accepted.len();

    // The load goes on against nothing, then against the restarted server.
    let second = spawn_server(&db, &env).await;
    url.send(second.url.clone()).unwrap();
    load.wait_accepted(at_kill, 8, Duration::from_secs(60))
        .await;
    let log = load.stop().await;
    assert!(
        log.refused.iter().all(|r| r.code == "TRANSPORT"),
        "only requests without a server were refused: {:?}",
        log.refused
    );

    wait_for_outcomes(&db.admin, Duration::from_secs(90)).await;
    let outcomes = assert_exactly_once(&db.admin, &log.accepted, true).await;
    assert!(outcomes.failed.is_empty(), "{:?}", outcomes.failed);
    assert!(outcomes.answered >= log.accepted.len());
}

async fn id_of(db: &TestDb, email: &str) -> uuid::Uuid {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    db.admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM users WHERE email = $1",
            [email.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap()
}

const EVENTS: &str = "subscription { conversationEvents { __typename \
    ... on AgentReply { replyTo message { id content actions { type status } } } \
    ... on MessageFailed { messageId error } } }";

/// The outcome of message `id` on a conversation subscription: the reply, or the failure.
async fn outcome_of(ws: &mut WsClient, id: &str) -> Result<Value, String> {
    loop {
        let m = ws.recv_json().await;
        let event = &m["payload"]["data"]["conversationEvents"];
        match event["__typename"].as_str() {
            Some("AgentReply") if event["replyTo"] == id => return Ok(event["message"].clone()),
            Some("MessageFailed") if event["messageId"] == id => {
                return Err(event["error"].as_str().unwrap_or_default().to_owned());
            }
            _ => {}
        }
    }
}

/// Sends `content` in `session` (a new one when `None`); returns (message id, session id).
async fn send(
    app: &TestApp,
    token: &str,
    content: &str,
    session: Option<&str>,
) -> (String, String) {
    let body = app
        .gql(
            Some(token),
            "mutation($c: String!, $s: ID) { sendMessage(input: { content: $c, sessionId: $s }) \
             { message { id } session { id } } }",
            json!({ "c": content, "s": session }),
        )
        .await;
    let sent = &body["data"]["sendMessage"];
    assert!(sent.is_object(), "{body}");
    (
        sent["message"]["id"].as_str().unwrap().to_owned(),
        sent["session"]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_under_load_loses_nothing_and_everything_recovers() {
    let mut redis = RedisServer::start().await;
    let redis_url = redis.url();
    let mut extra = vec![("REDIS_URL", redis_url.as_str())];
    extra.extend(HIGH_LIMITS);
    extra.extend(FAST_RECOVERY);
    let app = TestApp::spawn_with(&extra).await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    // A live subscription from before the outage.
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;

    let (_url, urls) = watch::channel(app.url.clone());
    let load = Load::start(urls, senders(&app.url).await, Duration::from_millis(50));
    load.wait_accepted(0, 6, Duration::from_secs(30)).await;

    redis.stop().await;
    wait_ready(&app.url, 503).await;
    let at = load.log().accepted.len();
    load.wait_accepted(at, 6, Duration::from_secs(60)).await;

    redis.resume().await;
    wait_ready(&app.url, 200).await;
    let at = load.log().accepted.len();
    load.wait_accepted(at, 6, Duration::from_secs(60)).await;
    let log = load.stop().await;
    assert!(
        log.refused.is_empty(),
        "nothing is refused while Redis is down: {:?}",
        log.refused
    );

    wait_for_outcomes(&app.db.admin, Duration::from_secs(90)).await;
    let outcomes = assert_exactly_once(&app.db.admin, &log.accepted, true).await;
    assert!(outcomes.failed.is_empty(), "{:?}", outcomes.failed);

    // The hub subscribed again by itself: the subscription from before the outage gets the
    // reply to a new message.
    wait_for_subscribers(&app, maria_id, 1).await;
    let (id, _) = send(&app, &maria, "Tell Luca that the walk-in is fixed", None).await;
    let reply = outcome_of(&mut ws, &id).await.unwrap();
    assert_eq!(reply["actions"][0]["status"], "EXECUTED", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_unavailable_then_recovers() {
    let mut pg = PgServer::start().await;
    let db = Arc::new(pg.test_db().await);
    let mut extra = HIGH_LIMITS.to_vec();
    extra.extend(FAST_RECOVERY);
    let app = TestApp::spawn_on(db.clone(), testkit::redis_prefix(), &extra, None).await;

    let (_url, urls) = watch::channel(app.url.clone());
    let load = Load::start(urls, senders(&app.url).await, Duration::from_millis(50));
    load.wait_accepted(0, 6, Duration::from_secs(30)).await;

    pg.stop().await;
    wait_ready(&app.url, 503).await;
    let refused = load.log().refused.len();
    load.wait_until(
        "four refusals while Postgres is down",
        Duration::from_secs(60),
        |log| log.refused.len() >= refused + 4,
    )
    .await;

    pg.resume().await;
    wait_ready(&app.url, 200).await;
    let at = load.log().accepted.len();
    load.wait_accepted(at, 6, Duration::from_secs(60)).await;
    let log = load.stop().await;
    assert!(!log.refused.is_empty());
    for refusal in &log.refused {
        assert!(refusal.status.is_some(), "the server answered: {refusal:?}");
        assert_eq!(refusal.code, "UNAVAILABLE", "{refusal:?}");
        assert_eq!(
            refusal.message, "service temporarily unavailable, please retry",
            "no internals: {refusal:?}"
        );
    }

    wait_for_outcomes(&db.admin, Duration::from_secs(90)).await;
    let outcomes = assert_exactly_once(&db.admin, &log.accepted, true).await;
    for reason in &outcomes.failed {
        assert!(
            reason.starts_with("The assistant could not answer after"),
            "a readable reason: {reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_failures_end_readably_and_the_session_keeps_working() {
    let fake = FakeGemini::start().await;
    let base = fake.base_url();
    let app = TestApp::spawn_with(&[
        ("LLM_PROVIDER", "gemini"),
        ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
        ("GEMINI_BASE_URL", base.as_str()),
        ("LLM_MAX_ATTEMPTS", "2"),
        ("LLM_TIMEOUT", "1s"),
        ("AGENT_MAX_ATTEMPTS", "2"),
    ])
    .await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    let ok = |reply: &str| GeminiReply::output(&json!({ "reply": reply, "actions": [] }));

    // 429 with a short retry delay: waited out, then answered.
    fake.push(GeminiReply::RateLimited {
        per_day: false,
        retry_delay: "1s".into(),
    });
    fake.push(ok("answered after the rate limit"));
    let before = fake.request_count();
    let (id, session) = send(&app, &maria, "When do we open on Sunday?", None).await;
    let reply = outcome_of(&mut ws, &id).await.unwrap();
    assert_eq!(reply["content"], "answered after the rate limit");
    assert_eq!(fake.request_count() - before, 2, "one retry");

    // 500 on every attempt: bounded retries, then FAILED with a readable reason.
    let unreadable = ["500", "INTERNAL", "127.0.0.1", "http"];
    fake.set_default(GeminiReply::internal());
    let (id, _) = send(&app, &maria, "Is the fish fresh?", Some(&session)).await;
    let error = outcome_of(&mut ws, &id).await.unwrap_err();
    assert!(
        error.contains("could not answer after 2 attempts")
            && error.contains("language model is unavailable"),
        "{error}"
    );
    assert!(!unreadable.iter().any(|w| error.contains(w)), "{error}");
    // ... and the next message of the session works.
    fake.set_default(ok("back again"));
    let (id, _) = send(&app, &maria, "Are you back?", Some(&session)).await;
    assert_eq!(
        outcome_of(&mut ws, &id).await.unwrap()["content"],
        "back again"
    );

    // A model slower than LLM_TIMEOUT: the same, then it works again.
    fake.set_delay(Duration::from_secs(3));
    let (id, _) = send(&app, &maria, "Still there?", Some(&session)).await;
    let error = outcome_of(&mut ws, &id).await.unwrap_err();
    assert!(error.contains("language model is unavailable"), "{error}");
    fake.set_delay(Duration::ZERO);
    let (id, _) = send(&app, &maria, "And now?", Some(&session)).await;
    assert_eq!(
        outcome_of(&mut ws, &id).await.unwrap()["content"],
        "back again"
    );

    // Output that is not the JSON asked for, twice (the answer and the repair call): the reply
    // is readable text and no action runs.
    fake.push(GeminiReply::text("Sure! {\"reply\": \"we close at 11"));
    fake.push(GeminiReply::text("I am not JSON either"));
    let (id, _) = send(&app, &maria, "When do we close?", Some(&session)).await;
    let reply = outcome_of(&mut ws, &id).await.unwrap();
    assert!(
        !reply["content"].as_str().unwrap().trim().is_empty(),
        "{reply}"
    );
    assert_eq!(reply["actions"], json!([]));

    // A per-day quota: FAILED at once, saying so.
    let before = fake.request_count();
    fake.push(GeminiReply::RateLimited {
        per_day: true,
        retry_delay: "30s".into(),
    });
    let (id, _) = send(&app, &maria, "One more question", Some(&session)).await;
    let error = outcome_of(&mut ws, &id).await.unwrap_err();
    assert!(error.contains("quota for today"), "{error}");
    assert_eq!(fake.request_count() - before, 1, "not retried");

    // The session still works, and every message of it has exactly one outcome.
    let (id, _) = send(&app, &maria, "Thanks!", Some(&session)).await;
    assert_eq!(
        outcome_of(&mut ws, &id).await.unwrap()["content"],
        "back again"
    );
    let outcomes = assert_exactly_once(&app.db.admin, &[], false).await;
    assert_eq!((outcomes.answered, outcomes.failed.len()), (5, 3));
}
