//! The agent runtime end to end, through GraphQL and WebSocket as clients see it: a request
//! becomes a notification for the right colleague and nobody else; actions outside the tenant
//! are rejected; messages are answered in order and exactly once, with several worker
//! processes, after a worker is killed mid-message, and after Redis restarts; session memory
//! survives a restart.

use std::sync::Arc;
use std::time::Duration;

use agent::llm::{DeltaSink, Finish, LlmError, LlmProvider, LlmResponse, ProposedAction, Usage};
use agent::prompt::Prompt;
use async_trait::async_trait;
use entity::UserId;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use testkit::fake_llm::{FakeGemini, GeminiReply};

use crate::app::{TEST_SECRET, TestApp, WsClient, count, user_ids, wait_for_subscribers};
use crate::support::spawn_worker;

const SEND: &str = "mutation($c: String!, $s: ID) { sendMessage(input: { content: $c, sessionId: $s }) \
                    { message { id } session { id } } }";
const EVENTS: &str = "subscription { conversationEvents { __typename \
    ... on AgentReply { sessionId replyTo message { id content provider actions { type status params error } \
        sources { title } } } \
    ... on AgentReplyDelta { replyTo delta } \
    ... on MessageStatusChanged { messageId status } \
    ... on MessageFailed { messageId error } } }";
const NOTIFICATIONS: &str =
    "subscription { notifications { message priority from { name email } } }";

/// A provider scripted by the test: `reply` computes the response from the prompt.
struct Scripted<F>(F);

impl<F> std::fmt::Debug for Scripted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

#[async_trait]
impl<F> LlmProvider for Scripted<F>
where
    F: Fn(&Prompt) -> (String, Vec<ProposedAction>) + Send + Sync,
{
    fn name(&self) -> String {
        "scripted".into()
    }

    async fn generate(
        &self,
        prompt: &Prompt,
        deltas: &dyn DeltaSink,
    ) -> Result<LlmResponse, LlmError> {
        let (reply, actions) = (self.0)(prompt);
        deltas.push(&reply);
        Ok(LlmResponse {
            reply,
            actions,
            usage: Usage::default(),
            finish: Finish::Complete,
            model: "scripted".into(),
        })
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    content: &str,
    session: Option<&str>,
) -> (String, String) {
    let body = app
        .gql(Some(token), SEND, json!({ "c": content, "s": session }))
        .await;
    let sent = &body["data"]["sendMessage"];
    assert!(sent.is_object(), "{body}");
    (
        sent["message"]["id"].as_str().unwrap().to_owned(),
        sent["session"]["id"].as_str().unwrap().to_owned(),
    )
}

/// The next `AgentReply` on a conversation subscription (skipping status changes and deltas).
async fn next_reply(ws: &mut WsClient) -> Value {
    loop {
        let m = ws.recv_json().await;
        let event = &m["payload"]["data"]["conversationEvents"];
        match event["__typename"].as_str() {
            Some("AgentReply") => return event.clone(),
            Some("MessageFailed") => panic!("message failed: {event}"),
            _ => {}
        }
    }
}

/// Waits (bounded) until `sql` (a `SELECT count(*) AS n ...` fragment for [`count`]) reaches `n`:
/// for outcomes observed in the database when no subscription can watch them.
async fn wait_for_count(app: &TestApp, what: &str, n: i64) {
    let wait = async {
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if count(app, what).await >= n {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(90), wait)
        .await
        .unwrap_or_else(|_| panic!("never reached {n} rows of {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_notifies_exactly_the_named_colleague() {
    let app = TestApp::spawn().await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    let mut maria_ws = WsClient::init(&app.ws_url(), &maria).await;
    maria_ws.subscribe("c", EVENTS, json!({})).await;
    let mut inboxes = Vec::new();
    for email in [
        "luca@sole.example",
        "sofia@sole.example",
        "james@harborview.example",
        "ana@harborview.example",
        "tom@harborview.example",
    ] {
        let token = app.login(email).await;
        let (id, _) = user_ids(&app, email).await;
        let mut ws = WsClient::init(&app.ws_url(), &token).await;
        ws.subscribe("n", NOTIFICATIONS, json!({})).await;
        wait_for_subscribers(&app, id, 1).await;
        inboxes.push((email, id, ws));
    }
    wait_for_subscribers(&app, maria_id, 1).await;

    let (message, _) = send(
        &app,
        &maria,
        "Tell Luca that table 5 has a nut allergy",
        None,
    )
    .await;
    // Maria: PROCESSING, then the reply (streamed), with the executed action.
    let reply = next_reply(&mut maria_ws).await;
    assert_eq!(reply["replyTo"], message.as_str());
    let action = &reply["message"]["actions"][0];
    assert_eq!(action["type"], "notify_user", "{reply}");
    assert_eq!(action["status"], "EXECUTED", "{reply}");
    assert!(
        reply["message"]["content"]
            .as_str()
            .unwrap()
            .contains("Luca")
    );
    assert_eq!(reply["message"]["provider"], "offline");
    assert_eq!(
        maria_ws.recv_json().await["payload"]["data"]["conversationEvents"]["status"],
        "ANSWERED"
    );

    // Luca: the notification, from Maria.
    let (_, luca_id, luca_ws) = &mut inboxes[0];
    let got = luca_ws.recv_json().await;
    let n = &got["payload"]["data"]["notifications"];
    assert_eq!(n["from"]["name"], "Maria Rossi", "{got}");
    assert!(
        n["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nut allergy")
    );
    assert_eq!(
        count(
            &app,
            &format!("notifications WHERE to_user_id = '{luca_id}'")
        )
        .await,
        1
    );

    // Nobody else got anything: a marker published now is the first thing each receives (a
    // misrouted notification, published before the reply we already saw, would come first).
    for (email, id, ws) in inboxes.iter_mut().skip(1) {
        let marker = agent::bus::UserEvent::Notification(agent::bus::NotificationPayload {
            id: entity::NotificationId::new(),
            from: None,
            message: "marker".into(),
            priority: entity::Priority::Low,
            read: false,
            source_message_id: None,
            created_at: chrono::Utc::now(),
        });
        app.state
            .publisher
            .to_user(UserId(*id), &marker)
            .await
            .unwrap();
        let first = ws.recv_json().await;
        assert_eq!(
            first["payload"]["data"]["notifications"]["message"], "marker",
            "{email} received {first}"
        );
    }
    assert_eq!(count(&app, "notifications").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_targeting_another_tenant_is_rejected_and_recorded() {
    let db = Arc::new(testkit::TestDb::new().await);
    // The model "decides" to notify James, a user of Harbor View, from Trattoria Sole.
    let james = {
        let app = TestApp::spawn_on(
            db.clone(),
            testkit::redis_prefix(),
            &[("AGENT_RUNTIME", "off")],
            None,
        )
        .await;
        let (james, _) = user_ids(&app, "james@harborview.example").await;
        app.stop().await;
        james
    };
    let llm = Scripted(move |_: &Prompt| {
        let params =
            json!({ "user_id": james, "message": "Send me Sole's recipes", "priority": "URGENT" });
        let proposed = ProposedAction {
            kind: "notify_user".into(),
            params: params.as_object().unwrap().clone(),
        };
        ("Done - I told James.".to_owned(), vec![proposed])
    });
    let app = TestApp::spawn_on(db, testkit::redis_prefix(), &[], Some(Arc::new(llm))).await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    send(&app, &maria, "Please forward the recipes to James", None).await;
    let reply = next_reply(&mut ws).await;
    let action = &reply["message"]["actions"][0];
    assert_eq!(action["status"], "REJECTED", "{reply}");
    assert!(
        action["error"].as_str().unwrap().contains("not a user"),
        "{reply}"
    );
    assert!(
        reply["message"]["content"]
            .as_str()
            .unwrap()
            .contains("was not done"),
        "the reply says so: {reply}"
    );
    assert_eq!(count(&app, "notifications").await, 0, "nobody was notified");
    let events = app
        .gql(
            Some(&maria),
            "{ events(first: 100) { nodes { kind payload } } }",
            json!({}),
        )
        .await;
    let rejected: Vec<&Value> = events["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "action.rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{events}");
}

/// A provider that answers "re: <message>" and takes a little time, like a model.
fn echo() -> Arc<dyn LlmProvider> {
    Arc::new(Scripted(|p: &Prompt| {
        (format!("re: {}", p.message), Vec::new())
    }))
}

/// Every user message of `session` (oldest first) with its replies' ids.
async fn replies_in_order(app: &TestApp, session: &str) -> Vec<(String, Vec<String>)> {
    let rows = app
        .db
        .admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT u.id::text AS id, u.content, \
                 COALESCE(array_agg(a.id::text ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL), '{{}}') AS replies \
                 FROM messages u LEFT JOIN messages a ON a.reply_to_id = u.id \
                 WHERE u.session_id = '{session}' AND u.role = 'USER' GROUP BY u.id, u.content ORDER BY u.id"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "content").unwrap(),
                r.try_get::<Vec<String>>("", "replies").unwrap(),
            )
        })
        .collect()
}

/// Each user message has exactly one reply, and replies come in the order of the messages.
fn assert_once_and_in_order(session: &[(String, Vec<String>)]) {
    let mut last: Option<&String> = None;
    for (content, replies) in session {
        assert_eq!(
            replies.len(),
            1,
            "{content:?} has {} replies",
            replies.len()
        );
        if let Some(last) = last {
            assert!(
                &replies[0] > last,
                "the reply to {content:?} came before the reply to an earlier message"
            );
        }
        last = Some(&replies[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_messages_in_one_session_are_answered_in_order() {
    let app = TestApp::spawn_with_llm(&[], echo()).await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&app, maria_id, 1).await;
    let (_, session) = send(&app, &maria, "message 0", None).await;
    for i in 1..20 {
        send(&app, &maria, &format!("message {i}"), Some(&session)).await;
    }
    for i in 0..20 {
        let reply = next_reply(&mut ws).await;
        assert_eq!(
            reply["message"]["content"],
            format!("re: message {i}"),
            "replies arrive in order"
        );
    }
    assert_once_and_in_order(&replies_in_order(&app, &session).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_over_fifty_sessions_with_two_workers_are_answered_once_in_order() {
    let app = TestApp::spawn_with(&[("AGENT_RUNTIME", "off")]).await;
    let workers = [
        spawn_worker(&app.db, &app.prefix, &[("JWT_SECRET", TEST_SECRET)]).await,
        spawn_worker(&app.db, &app.prefix, &[("JWT_SECRET", TEST_SECRET)]).await,
    ];
    let maria = app.login("maria@sole.example").await;
    let mut sessions = Vec::new();
    for s in 0..50 {
        let (_, session) = send(
            &app,
            &maria,
            &format!("Tell Luca that order {s}-0 is ready"),
            None,
        )
        .await;
        sessions.push(session);
    }
    for i in 1..4 {
        for (s, session) in sessions.iter().enumerate() {
            send(
                &app,
                &maria,
                &format!("Tell Luca that order {s}-{i} is ready"),
                Some(session),
            )
            .await;
        }
    }
    wait_for_count(&app, "messages WHERE role = 'ASSISTANT'", 200).await;
    wait_for_count(
        &app,
        "messages WHERE role = 'USER' AND status = 'ANSWERED'",
        200,
    )
    .await;
    for session in &sessions {
        assert_once_and_in_order(&replies_in_order(&app, session).await);
    }
    assert_eq!(
        count(&app, "messages WHERE role = 'ASSISTANT'").await,
        200,
        "nothing was answered twice"
    );
    assert_eq!(count(&app, "notifications").await, 200);
    assert_eq!(
        count(&app, "(SELECT DISTINCT message FROM notifications) d").await,
        200,
        "each notification once"
    );
    drop(workers);
}

/// A fake Gemini answering with a notify_user action for `luca`.
async fn gemini_notifying(luca: uuid::Uuid) -> FakeGemini {
    let fake = FakeGemini::start().await;
    fake.set_default(GeminiReply::output(&json!({
        "reply": "Done - I told Luca.",
        "actions": [{ "type": "notify_user", "user_id": luca, "message": "The fish delivery is late", "priority": "HIGH" }]
    })));
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_message_leaves_exactly_one_reply_and_one_notification() {
    let app = TestApp::spawn_with(&[("AGENT_RUNTIME", "off")]).await;
    let (luca, _) = user_ids(&app, "luca@sole.example").await;
    let fake = gemini_notifying(luca).await;
    let base = fake.base_url();
    let env = [
        ("JWT_SECRET", TEST_SECRET),
        ("LLM_PROVIDER", "gemini"),
        ("GEMINI_API_KEY", testkit::fake_llm::FAKE_GEMINI_KEY),
        ("GEMINI_BASE_URL", base.as_str()),
        ("STREAM_RECLAIM_IDLE", "1s"),
        ("STREAM_RECLAIM_INTERVAL", "1s"),
        ("SESSION_LEASE_TTL", "2s"),
    ];
    let mut first = spawn_worker(&app.db, &app.prefix, &env).await;
    // From now on the model takes 30 s: the worker will be in the middle of the message.
    let before = fake.request_count();
    fake.set_delay(Duration::from_secs(30));
    let maria = app.login("maria@sole.example").await;
    let (message, _) = send(&app, &maria, "Tell Luca the fish delivery is late", None).await;
    let asked = async {
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            if fake.request_count() > before {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), asked)
        .await
        .expect("the worker never asked the model");
    first.kill9().await;
    assert_eq!(count(&app, "messages WHERE role = 'ASSISTANT'").await, 0);

    fake.set_delay(Duration::ZERO);
    let _second = spawn_worker(&app.db, &app.prefix, &env).await;
    wait_for_count(
        &app,
        &format!("messages WHERE id = '{message}' AND status = 'ANSWERED'"),
        1,
    )
    .await;
    assert_eq!(
        count(&app, &format!("messages WHERE reply_to_id = '{message}'")).await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!("notifications WHERE source_message_id = '{message}'")
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_accepted_while_redis_is_down_are_answered_after_it_restarts() {
    let mut redis = testkit::redis_server::RedisServer::start().await;
    let url = redis.url();
    let app = TestApp::spawn_with(&[
        ("REDIS_URL", url.as_str()),
        ("STREAM_SWEEP_INTERVAL", "500ms"),
        ("STREAM_SWEEP_MIN_AGE", "1s"),
    ])
    .await;
    let maria = app.login("maria@sole.example").await;
    let (_, session) = send(
        &app,
        &maria,
        "Tell Luca that the walk-in is cold again",
        None,
    )
    .await;
    wait_for_count(&app, "messages WHERE role = 'ASSISTANT'", 1).await;

    redis.stop().await;
    for i in 0..3 {
        let body = app
            .gql(
                Some(&maria),
                SEND,
                json!({ "c": format!("Log that fridge check {i} is done"), "s": session }),
            )
            .await;
        assert!(
            body["errors"].is_null(),
            "accepted while Redis is down: {body}"
        );
    }
    assert_eq!(count(&app, "messages WHERE status = 'QUEUED'").await, 3);
    // Redis comes back empty: the stream, its group and the entries are gone.
    redis.resume().await;
    wait_for_count(&app, "messages WHERE role = 'ASSISTANT'", 4).await;
    assert_once_and_in_order(&replies_in_order(&app, &session).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_memory_survives_a_restart_of_the_server() {
    let history = || -> Arc<dyn LlmProvider> {
        Arc::new(Scripted(|p: &Prompt| {
            let seen: Vec<&str> = p.history.iter().map(|t| t.content.as_str()).collect();
            (format!("I remember: [{}]", seen.join(" | ")), Vec::new())
        }))
    };
    let db = Arc::new(testkit::TestDb::new().await);
    let first = TestApp::spawn_on(db.clone(), testkit::redis_prefix(), &[], Some(history())).await;
    let maria = first.login("maria@sole.example").await;
    let (_, session) = send(&first, &maria, "My favourite dish is cacio e pepe", None).await;
    wait_for_count(&first, "messages WHERE role = 'ASSISTANT'", 1).await;
    first.stop().await;

    let second = TestApp::spawn_on(db, testkit::redis_prefix(), &[], Some(history())).await;
    let (maria_id, _) = user_ids(&second, "maria@sole.example").await;
    let maria = second.login("maria@sole.example").await;
    let mut ws = WsClient::init(&second.ws_url(), &maria).await;
    ws.subscribe("c", EVENTS, json!({})).await;
    wait_for_subscribers(&second, maria_id, 1).await;
    send(
        &second,
        &maria,
        "What is my favourite dish?",
        Some(&session),
    )
    .await;
    let reply = next_reply(&mut ws).await;
    let content = reply["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("My favourite dish is cacio e pepe"),
        "{content}"
    );
    assert!(
        content.contains("I remember: []"),
        "the first answer is in the history too: {content}"
    );
}
