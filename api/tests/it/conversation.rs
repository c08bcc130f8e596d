//! `sendMessage`, `sessions` and `conversation`: validation, sessions created and continued,
//! idempotency, the stream entry, pagination. The agent runtime is off here: these tests look at
//! exactly what the API stores (the agent's answers are tested in `agent`).

use fred::interfaces::StreamsInterface;
use serde_json::{Value, json};

use crate::app::{TestApp, code};

/// The API without the agent runtime.
const API_ONLY: &[(&str, &str)] = &[("AGENT_RUNTIME", "off")];

const SEND: &str = "mutation($c: String!, $s: ID, $k: String) { sendMessage(input: { content: $c, sessionId: $s, \
                    clientMessageId: $k }) { message { id status content role sessionId } session { id title messageCount } } }";

async fn send(
    app: &TestApp,
    token: &str,
    content: &str,
    session: Option<&str>,
    key: Option<&str>,
) -> Value {
    app.gql(
        Some(token),
        SEND,
        json!({ "c": content, "s": session, "k": key }),
    )
    .await
}

async fn stream_len(app: &TestApp) -> u64 {
    app.state
        .redis
        .next()
        .xlen(format!("{}:messages", app.prefix))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_message_stores_it_queued_in_a_new_session_and_enqueues_it() {
    let app = TestApp::spawn_with(API_ONLY).await;
    let maria = app.login("maria@sole.example").await;
    let body = send(
        &app,
        &maria,
        "  When do we open on Sunday?\nAnd who cooks?  ",
        None,
        None,
    )
    .await;
    let sent = &body["data"]["sendMessage"];
    assert_eq!(sent["message"]["status"], "QUEUED", "{body}");
    assert_eq!(sent["message"]["role"], "USER");
    assert_eq!(
        sent["message"]["content"],
        "When do we open on Sunday?\nAnd who cooks?"
    );
    assert_eq!(sent["session"]["title"], "When do we open on Sunday?");
    assert_eq!(sent["session"]["messageCount"], 1);
    assert_eq!(sent["message"]["sessionId"], sent["session"]["id"]);
    assert_eq!(stream_len(&app).await, 1);

    // Continuing the session.
    let session = sent["session"]["id"].as_str().unwrap();
    let again = send(&app, &maria, "Thanks", Some(session), None).await;
    assert_eq!(again["data"]["sendMessage"]["session"]["id"], session);
    assert_eq!(again["data"]["sendMessage"]["session"]["messageCount"], 2);
    assert_eq!(stream_len(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_validated_after_trimming() {
    let app = TestApp::spawn_with(API_ONLY).await;
    let maria = app.login("maria@sole.example").await;
    for bad in [
        "",
        "   \n\t ",
        &"x".repeat(8001),
        &format!("  {}  ", "é".repeat(8001)),
    ] {
        let body = send(&app, &maria, bad, None, None).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{} chars: {body}", bad.len());
    }
    assert_eq!(crate::app::count(&app, "messages").await, 0);
    assert_eq!(stream_len(&app).await, 0);
    // Exactly 8000 characters (multi-byte ones too) after trimming is accepted.
    let body = send(
        &app,
        &maria,
        &format!("  {}  ", "é".repeat(8000)),
        None,
        None,
    )
    .await;
    assert_eq!(
        body["data"]["sendMessage"]["message"]["status"],
        "QUEUED",
        "{}",
        code(&body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_client_message_id_returns_the_same_message_and_enqueues_nothing_new() {
    let app = TestApp::spawn_with(API_ONLY).await;
    let maria = app.login("maria@sole.example").await;
    let first = send(&app, &maria, "Order more flour", None, Some("k-1")).await;
    let second = send(&app, &maria, "Order more flour", None, Some("k-1")).await;
    assert_eq!(
        first["data"]["sendMessage"]["message"]["id"],
        second["data"]["sendMessage"]["message"]["id"]
    );
    assert_eq!(
        first["data"]["sendMessage"]["session"]["id"],
        second["data"]["sendMessage"]["session"]["id"]
    );
    assert_eq!(stream_len(&app).await, 1);
    assert_eq!(crate::app::count(&app, "messages").await, 1);
    // Concurrent retries with one key store one message.
    let futures: Vec<_> = (0..5)
        .map(|_| send(&app, &maria, "Call the plumber", None, Some("k-2")))
        .collect();
    let results = futures::future::join_all(futures).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|r| {
            r["data"]["sendMessage"]["message"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(crate::app::count(&app, "messages").await, 2);
    // The key is per user: Luca may use the same one.
    let luca = app.login("luca@sole.example").await;
    let lucas = send(&app, &luca, "Hi", None, Some("k-1")).await;
    assert_ne!(
        lucas["data"]["sendMessage"]["message"]["id"],
        first["data"]["sendMessage"]["message"]["id"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_conversations_paginate_with_cursors() {
    let app = TestApp::spawn_with(API_ONLY).await;
    let maria = app.login("maria@sole.example").await;
    let mut sessions = Vec::new();
    for i in 0..3 {
        let body = send(&app, &maria, &format!("Session {i}"), None, None).await;
        sessions.push(
            body["data"]["sendMessage"]["session"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Most recent first, two per page.
    let q = "query($a: String) { sessions(first: 2, after: $a) { edges { cursor node { id } } \
             pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let page1 = app.gql(Some(&maria), q, json!({})).await;
    let ids1: Vec<&str> = page1["data"]["sessions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids1, [sessions[2].as_str(), sessions[1].as_str()]);
    assert_eq!(page1["data"]["sessions"]["pageInfo"]["hasNextPage"], true);
    let page2 = app
        .gql(
            Some(&maria),
            q,
            json!({ "a": page1["data"]["sessions"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        page2["data"]["sessions"]["edges"][0]["node"]["id"],
        sessions[0].as_str()
    );
    assert_eq!(page2["data"]["sessions"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        page2["data"]["sessions"]["pageInfo"]["hasPreviousPage"],
        true
    );

    // A conversation of 5 messages, read backwards 2 at a time, each page oldest first.
    let session = &sessions[0];
    for i in 1..5 {
        send(&app, &maria, &format!("message {i}"), Some(session), None).await;
    }
    let q = "query($s: ID!, $b: String) { conversation(sessionId: $s, last: 2, before: $b) { nodes { content } \
             pageInfo { hasPreviousPage hasNextPage startCursor } } }";
    let newest = app.gql(Some(&maria), q, json!({ "s": session })).await;
    let c = &newest["data"]["conversation"];
    assert_eq!(
        c["nodes"],
        json!([{ "content": "message 3" }, { "content": "message 4" }]),
        "{newest}"
    );
    assert_eq!(c["pageInfo"]["hasPreviousPage"], true);
    let older = app
        .gql(
            Some(&maria),
            q,
            json!({ "s": session, "b": c["pageInfo"]["startCursor"] }),
        )
        .await;
    let c = &older["data"]["conversation"];
    assert_eq!(
        c["nodes"],
        json!([{ "content": "message 1" }, { "content": "message 2" }])
    );
    let oldest = app
        .gql(
            Some(&maria),
            q,
            json!({ "s": session, "b": c["pageInfo"]["startCursor"] }),
        )
        .await;
    assert_eq!(
        oldest["data"]["conversation"]["nodes"],
        json!([{ "content": "Session 0" }])
    );
    assert_eq!(
        oldest["data"]["conversation"]["pageInfo"]["hasPreviousPage"],
        false
    );

    // A cursor of another list, or garbage, is refused.
    let bad = app
        .gql(
            Some(&maria),
            q,
            json!({ "s": session, "b": page1["data"]["sessions"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
}
