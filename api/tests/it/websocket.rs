//! The WebSocket protocols as a conforming client sees them: close codes, ping/pong, queries
//! over the socket, request errors, the subscription cap, and the legacy graphql-ws protocol.

use agent::bus::{NotificationPayload, UserEvent};
use entity::{NotificationId, Priority, UserId};
use serde_json::json;

use crate::app::{Received, TestApp, WsClient, user_ids, wait_for_subscribers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_close_with_4403_and_a_silent_client_with_4408() {
    let app = TestApp::spawn().await;
    for payload in [
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({}),
        json!(null),
    ] {
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws").await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        assert_eq!(ws.close_code().await, 4403, "{payload}");
    }
    // WS_INIT_TIMEOUT is 1 s on test servers.
    let mut silent = WsClient::connect(&app.ws_url(), "graphql-transport-ws").await;
    assert_eq!(silent.close_code().await, 4408);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_with_their_codes() {
    let app = TestApp::spawn().await;
    let token = app.login("maria@sole.example").await;

    let mut early = WsClient::connect(&app.ws_url(), "graphql-transport-ws").await;
    early.subscribe("1", "{ me { id } }", json!({})).await;
    assert_eq!(
        early.close_code().await,
        4401,
        "subscribe before connection_ack"
    );

    let mut twice = WsClient::init(&app.ws_url(), &token).await;
    twice
        .send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    assert_eq!(twice.close_code().await, 4429, "a second connection_init");

    let mut duplicate = WsClient::init(&app.ws_url(), &token).await;
    duplicate
        .subscribe("same", "subscription { notifications { id } }", json!({}))
        .await;
    duplicate
        .subscribe("same", "subscription { notifications { id } }", json!({}))
        .await;
    assert_eq!(
        duplicate.close_code().await,
        4409,
        "a duplicate subscription id"
    );

    let mut garbage = WsClient::init(&app.ws_url(), &token).await;
    garbage.send(json!({ "type": "no_such_type" })).await;
    assert_eq!(garbage.close_code().await, 4400, "an invalid message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_ping_and_request_errors_over_the_socket() {
    let app = TestApp::spawn().await;
    let token = app.login("maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &token).await;

    ws.send(json!({ "type": "ping", "payload": { "t": 1 } }))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({ "type": "pong", "payload": { "t": 1 } })
    );

    ws.subscribe("q", "{ me { email } }", json!({})).await;
    let next = ws.recv_json().await;
    assert_eq!(next["type"], "next");
    assert_eq!(next["payload"]["data"]["me"]["email"], "maria@sole.example");
    assert_eq!(
        ws.recv_json().await,
        json!({ "type": "complete", "id": "q" })
    );

    ws.subscribe("bad", "{ me { noSuchField } }", json!({}))
        .await;
    let error = ws.recv_json().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "bad");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // A client `complete` stops a subscription; the id can then be reused.
    ws.subscribe("s", "subscription { notifications { id } }", json!({}))
        .await;
    ws.send(json!({ "type": "complete", "id": "s" })).await;
    ws.subscribe("s", "{ me { email } }", json!({})).await;
    assert_eq!(ws.recv_json().await["type"], "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_runs_at_most_the_cap_of_subscriptions() {
    let app = TestApp::spawn().await;
    let token = app.login("maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &token).await;
    for i in 0..api::graphql::ws::MAX_SUBSCRIPTIONS {
        ws.subscribe(
            &format!("s{i}"),
            "subscription { notifications { id } }",
            json!({}),
        )
        .await;
    }
    ws.subscribe(
        "one-too-many",
        "subscription { notifications { id } }",
        json!({}),
    )
    .await;
    let error = ws.recv_json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "one-too-many");
    assert!(
        error["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too many")
    );
    // The connection stays usable.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.recv_json().await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_graphql_ws_protocol_works() {
    let app = TestApp::spawn().await;
    let token = app.login("luca@sole.example").await;
    let (luca_id, _) = user_ids(&app, "luca@sole.example").await;

    let mut bad = WsClient::connect(&app.ws_url(), "graphql-ws").await;
    bad.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }))
        .await;
    match bad.recv().await {
        Received::Json(m) => assert_eq!(m["type"], "connection_error"),
        other => panic!("expected connection_error, got {other:?}"),
    }
    assert_eq!(bad.close_code().await, 4403);

    let mut ws = WsClient::connect(&app.ws_url(), "graphql-ws").await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(ws.recv_json().await["type"], "connection_ack");
    ws.send(json!({ "type": "start", "id": "1", "payload": { "query": "subscription { notifications { message } }" } })).await;
    wait_for_subscribers(&app, luca_id, 1).await;
    let event = UserEvent::Notification(NotificationPayload {
        id: NotificationId::new(),
        from: None,
        message: "legacy hello".into(),
        priority: Priority::Normal,
        read: false,
        source_message_id: None,
        created_at: chrono::Utc::now(),
    });
    app.state
        .publisher
        .to_user(UserId(luca_id), &event)
        .await
        .unwrap();
    let data = ws.recv_json().await;
    assert_eq!(data["type"], "data");
    assert_eq!(
        data["payload"]["data"]["notifications"]["message"],
        "legacy hello"
    );
    ws.send(json!({ "type": "stop", "id": "1" })).await;
    assert_eq!(
        ws.recv_json().await,
        json!({ "type": "complete", "id": "1" })
    );
    ws.send(json!({ "type": "connection_terminate" })).await;
    assert_eq!(ws.close_code().await, 1000);
}
