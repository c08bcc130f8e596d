//! Graceful shutdown, run as processes: SIGTERM while a message is in flight lets it finish,
//! closes WebSockets with 1001, stops reading the stream, and the process exits 0; for
//! `concierge serve` and for `concierge worker`.

use std::process::ExitStatus;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::TestDb;
use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini, GeminiReply};

use crate::app::{TEST_SECRET, TestApp, WsClient, count};
use crate::support::{LoggedProcess, spawn_server};

const SEND: &str =
    "mutation($c: String!) { sendMessage(input: { content: $c }) { message { id } } }";

/// A fake model that takes two seconds to answer, so a message is in flight for that long.
async fn slow_model() -> FakeGemini {
    let fake = FakeGemini::start().await;
    fake.set_default(GeminiReply::output(
        &json!({ "reply": "Finished despite the shutdown.", "actions": [] }),
    ));
    fake.set_delay(Duration::from_secs(2));
    fake
}

/// Sends SIGTERM to `child`.
async fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("the process is running");
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) for the process to exit.
async fn exit_of(child: &mut tokio::process::Child) -> ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the process did not exit within 30 s of SIGTERM")
        .unwrap()
}

/// Waits (bounded) until the fake model has received more than `before` requests.
async fn model_asked(fake: &FakeGemini, before: usize) {
    let wait = async {
        let mut poll = tokio::time::interval(Duration::from_millis(10));
        while fake.request_count() <= before {
            poll.tick().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the model was never asked");
}

async fn post(url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn status_of(db: &TestDb, id: &str) -> (String, i64) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let row = db
        .admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT status, (SELECT count(*) FROM messages r WHERE r.reply_to_id = m.id) AS replies \
                 FROM messages m WHERE id = '{id}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "status").unwrap(),
        row.try_get("", "replies").unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_serve_finishes_the_message_in_flight_closes_websockets_and_exits_0() {
    let db = TestDb::new().await;
    api::seed::seed_demo(&db.db, &agent::embedding::HashEmbedder)
        .await
        .unwrap();
    let fake = slow_model().await;
    let base = fake.base_url();
    let mut server = spawn_server(
        &db,
        &[
            ("JWT_SECRET", TEST_SECRET),
            ("LLM_PROVIDER", "gemini"),
            ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
            ("GEMINI_BASE_URL", base.as_str()),
            ("WEB_DIR", "/nonexistent"),
        ],
    )
    .await;
    let login = post(
        &server.url,
        None,
        "mutation { login(email: \"maria@sole.example\", password: \"concierge-demo\") { token } }",
        json!({}),
    )
    .await;
    let token = login["data"]["login"]["token"].as_str().unwrap().to_owned();
    let ws_url = format!("{}/graphql", server.url.replacen("http", "ws", 1));
    let mut ws = WsClient::init(&ws_url, &token).await;
    ws.subscribe("n", "subscription { notifications { id } }", json!({}))
        .await;

    let before = fake.request_count();
    let sent = post(
        &server.url,
        Some(&token),
        SEND,
        json!({ "c": "When do we open?" }),
    )
    .await;
    let id = sent["data"]["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sent}"))
        .to_owned();
    model_asked(&fake, before).await;
    sigterm(&server.child).await;

    assert_eq!(ws.close_code().await, 1001, "WebSockets get a close frame");
    let status = exit_of(&mut server.child).await;
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        status_of(&db, &id).await,
        ("ANSWERED".to_owned(), 1),
        "the message in flight was finished before the exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_a_worker_finishes_the_message_in_flight_reads_no_more_and_exits_0() {
    let app = TestApp::spawn_with(&[("AGENT_RUNTIME", "off")]).await;
    let fake = slow_model().await;
    let (base, database_url, redis_url) = (fake.base_url(), app.db.app_url(), testkit::redis_url());
    let mut worker = LoggedProcess::start(
        "worker",
        &[
            ("DATABASE_URL", database_url.as_str()),
            ("REDIS_URL", redis_url.as_str()),
            ("REDIS_KEY_PREFIX", app.prefix.as_str()),
            ("JWT_SECRET", TEST_SECRET),
            ("LLM_PROVIDER", "gemini"),
            ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
            ("GEMINI_BASE_URL", base.as_str()),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    let maria = app.login("maria@sole.example").await;
    let before = fake.request_count();
    let sent = app
        .gql(Some(&maria), SEND, json!({ "c": "When do we open?" }))
        .await;
    let first = sent["data"]["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    model_asked(&fake, before).await;
    sigterm(&worker.child).await;
    worker.wait_for_log("SIGTERM received").await;
    // Sent after the worker took the signal: it must leave it to another process.
    let sent = app
        .gql(Some(&maria), SEND, json!({ "c": "And on Monday?" }))
        .await;
    let second = sent["data"]["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let status = exit_of(&mut worker.child).await;
    assert!(status.success(), "exit status {status:?}: {}", worker.log());
    assert_eq!(status_of(&app.db, &first).await, ("ANSWERED".to_owned(), 1));
    assert_eq!(status_of(&app.db, &second).await, ("QUEUED".to_owned(), 0));
    assert_eq!(count(&app, "messages WHERE role = 'ASSISTANT'").await, 1);
}
