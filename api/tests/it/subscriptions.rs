//! Live events: a subscription receives what is published for its user, never what is published
//! for another user or tenant, also across server processes; conversation events filter by
//! session; subscriptions end when the token expires.

use agent::bus::{NotificationPayload, UserEvent};
use chrono::Utc;
use entity::{MessageId, MessageStatus, NotificationId, Priority, SessionId, UserId};
use serde_json::json;

use crate::app::{TEST_SECRET, TestApp, WsClient, user_ids, wait_for_subscribers};
use crate::support::spawn_server;

fn note(message: &str) -> UserEvent {
    UserEvent::Notification(NotificationPayload {
        id: NotificationId::new(),
        from: None,
        message: message.to_owned(),
        priority: Priority::Urgent,
        read: false,
        source_message_id: None,
        created_at: Utc::now(),
    })
}

const NOTIFICATIONS: &str = "subscription { notifications { message priority read } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_receives_its_own_notifications_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let luca = app.login("luca@sole.example").await;
    let (luca_id, _) = user_ids(&app, "luca@sole.example").await;
    let (sofia_id, _) = user_ids(&app, "sofia@sole.example").await;
    let (ana_id, _) = user_ids(&app, "ana@harborview.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &luca).await;
    ws.subscribe("n", NOTIFICATIONS, json!({})).await;
    wait_for_subscribers(&app, luca_id, 1).await;
    // Published in this order over one connection, so Redis delivers them in this order: if
    // either of the first two reached Luca, it would arrive before his own.
    app.state
        .publisher
        .to_user(UserId(sofia_id), &note("for Sofia"))
        .await
        .unwrap();
    app.state
        .publisher
        .to_user(UserId(ana_id), &note("for Ana, other tenant"))
        .await
        .unwrap();
    app.state
        .publisher
        .to_user(UserId(luca_id), &note("for Luca"))
        .await
        .unwrap();
    let got = ws.recv_json().await;
    assert_eq!(got["type"], "next");
    assert_eq!(got["id"], "n");
    assert_eq!(
        got["payload"]["data"]["notifications"],
        json!({ "message": "for Luca", "priority": "URGENT", "read": false })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_by_one_process_reaches_a_subscriber_on_another() {
    let app = TestApp::spawn().await;
    let other = spawn_server(
        &app.db,
        &[
            ("REDIS_KEY_PREFIX", &app.prefix),
            ("JWT_SECRET", TEST_SECRET),
        ],
    )
    .await;
    let luca = app.login("luca@sole.example").await;
    let (luca_id, _) = user_ids(&app, "luca@sole.example").await;
    let other_ws = format!("{}/graphql", other.url.replacen("http", "ws", 1));
    let mut ws = WsClient::init(&other_ws, &luca).await;
    ws.subscribe("n", NOTIFICATIONS, json!({})).await;
    wait_for_subscribers(&app, luca_id, 1).await;
    app.state
        .publisher
        .to_user(UserId(luca_id), &note("across processes"))
        .await
        .unwrap();
    let got = ws.recv_json().await;
    assert_eq!(
        got["payload"]["data"]["notifications"]["message"],
        "across processes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_events_are_filtered_by_session_and_only_for_own_sessions() {
    let app = TestApp::spawn().await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    let send = "mutation($c: String!) { sendMessage(input: { content: $c }) { session { id } message { id } } }";
    let a = app.gql(Some(&maria), send, json!({ "c": "first" })).await;
    let b = app.gql(Some(&maria), send, json!({ "c": "second" })).await;
    let session_a = a["data"]["sendMessage"]["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session_b: SessionId = b["data"]["sendMessage"]["session"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let message_a: MessageId = a["data"]["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    let q = "subscription($s: ID) { conversationEvents(sessionId: $s) { __typename \
             ... on MessageStatusChanged { sessionId messageId status } } }";
    ws.subscribe("a", q, json!({ "s": session_a })).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    let changed = |session, message| UserEvent::MessageStatusChanged {
        session_id: session,
        message_id: message,
        status: MessageStatus::Processing,
    };
    app.state
        .publisher
        .to_user(UserId(maria_id), &changed(session_b, MessageId::new()))
        .await
        .unwrap();
    app.state
        .publisher
        .to_user(
            UserId(maria_id),
            &changed(session_a.parse().unwrap(), message_a),
        )
        .await
        .unwrap();
    let got = ws.recv_json().await;
    let event = &got["payload"]["data"]["conversationEvents"];
    assert_eq!(event["__typename"], "MessageStatusChanged", "{got}");
    assert_eq!(
        event["sessionId"],
        session_a.as_str(),
        "the event of the other session was filtered out"
    );
    assert_eq!(event["status"], "PROCESSING");

    // Another user's session: NOT_FOUND, as an execution result (`next` with the error, then
    // `complete`, as the graphql-ws reference server does for a subscription that cannot start).
    let luca = app.login("luca@sole.example").await;
    let mut lucas = WsClient::init(&app.ws_url(), &luca).await;
    lucas.subscribe("x", q, json!({ "s": session_a })).await;
    let got = lucas.recv_json().await;
    assert_eq!(got["type"], "next", "{got}");
    assert_eq!(
        got["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(got["payload"]["data"], serde_json::Value::Null);
    assert_eq!(
        lucas.recv_json().await,
        json!({ "type": "complete", "id": "x" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_end_when_the_token_expires() {
    let app = TestApp::spawn().await;
    let (luca_id, tenant) = user_ids(&app, "luca@sole.example").await;
    let (token, _) = app
        .state
        .jwt
        .issue(
            UserId(luca_id),
            entity::TenantId(tenant),
            entity::Role::Staff,
            std::time::Duration::from_secs(2),
        )
        .unwrap();
    let mut ws = WsClient::init(&app.ws_url(), &token).await;
    ws.subscribe("n", NOTIFICATIONS, json!({})).await;
    wait_for_subscribers(&app, luca_id, 1).await;
    assert_eq!(
        ws.close_code().await,
        4403,
        "the connection closes with 4403 when the token expires"
    );
    // The server released the subscription.
    wait_for_subscribers(&app, luca_id, 0).await;
}
