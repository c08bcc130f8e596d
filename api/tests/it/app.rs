//! `TestApp`: the real server in-process on a free port, against a fresh database (seeded with
//! the demo data) and its own Redis key prefix, with typed helpers to talk to it over HTTP and
//! WebSocket as clients do.

use std::collections::HashMap;
use std::time::Duration;

use api::config::Config;
use api::server::Server;
use api::state::AppState;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use testkit::TestDb;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// The JWT secret of test servers.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The server's state (its database pool, publisher, ...).
    pub state: AppState,
    /// The database (dropped with the last app using it).
    pub db: std::sync::Arc<TestDb>,
    /// The Redis key prefix of this app.
    pub prefix: String,
    http: reqwest::Client,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// The configuration of a test server on `db` with `prefix`.
pub fn test_config(db: &TestDb, prefix: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", db.app_url()),
        ("DATABASE_ADMIN_URL", db.admin_url()),
        ("DATABASE_MAX_CONNECTIONS", "20".to_owned()),
        ("REDIS_URL", testkit::redis_url()),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("JWT_SECRET", TEST_SECRET.to_owned()),
        ("WS_INIT_TIMEOUT", "1s".to_owned()),
        ("WEB_DIR", "/nonexistent".to_owned()),
        // Tests send bursts no person would; the tests of the limits set their own.
        ("RATE_LIMIT_USER_PER_MINUTE", "60000".to_owned()),
        ("RATE_LIMIT_USER_BURST", "1000".to_owned()),
        ("RATE_LIMIT_TENANT_PER_MINUTE", "60000".to_owned()),
        ("RATE_LIMIT_TENANT_BURST", "1000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(&|name| vars.get(name).cloned()).expect("test configuration")
}

impl TestApp {
    /// A server with the demo data.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A server with the demo data and extra configuration.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let db = std::sync::Arc::new(TestDb::new().await);
        Self::spawn_on(db, testkit::redis_prefix(), extra, None).await
    }

    /// A server answering with `llm` (a scripted provider) instead of the configured one.
    pub async fn spawn_with_llm(
        extra: &[(&str, &str)],
        llm: std::sync::Arc<dyn agent::llm::LlmProvider>,
    ) -> Self {
        let db = std::sync::Arc::new(TestDb::new().await);
        Self::spawn_on(db, testkit::redis_prefix(), extra, Some(llm)).await
    }

    /// A server on an existing database (seeded unless it already is) and Redis prefix.
    pub async fn spawn_on(
        db: std::sync::Arc<TestDb>,
        prefix: String,
        extra: &[(&str, &str)],
        llm: Option<std::sync::Arc<dyn agent::llm::LlmProvider>>,
    ) -> Self {
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            api::telemetry::init(api::config::LogFormat::Human);
        }
        api::seed::seed_demo(&db.db, &agent::embedding::HashEmbedder)
            .await
            .expect("seeding the demo");
        let mut state = AppState::new(test_config(&db, &prefix, extra))
            .await
            .expect("app state");
        if let Some(llm) = llm {
            state.llm = llm;
        }
        let server = Server::bind(state.clone()).await.expect("binding");
        let url = format!("http://{}", server.local_addr().expect("address"));
        tokio::spawn(server.run());
        Self {
            url,
            state,
            db,
            prefix,
            http: reqwest::Client::new(),
        }
    }

    /// Stops the server: no new work, in-flight work drained (as on SIGTERM).
    pub async fn stop(&self) {
        self.state.shutdown.cancel();
        self.state.tasks.close();
        self.state.tasks.wait().await;
    }

    /// POSTs a GraphQL request; returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.post_json(token, &json!({ "query": query, "variables": variables }))
            .await
            .1
    }

    /// POSTs any JSON body to `/graphql`; returns the status and the JSON body.
    pub async fn post_json(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/graphql", self.url)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// POSTs raw bytes to `/graphql`; returns the status and the body text.
    pub async fn post_raw(&self, body: Vec<u8>) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}/graphql", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /graphql");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    /// GETs a path; returns the status and the body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    /// Logs a demo user in; returns the token.
    pub async fn login(&self, email: &str) -> String {
        let body = self
            .gql(
                None,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({ "e": email, "p": api::seed::DEMO_PASSWORD }),
            )
            .await;
        body["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {body}"))
            .to_owned()
    }

    /// The WebSocket URL of `/graphql`.
    pub fn ws_url(&self) -> String {
        format!("{}/graphql", self.url.replacen("http", "ws", 1))
    }
}

/// The `extensions.code` of the first error of a response.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no error>")
}

/// A WebSocket client speaking one of the two protocols.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What the server sent.
#[derive(Debug)]
pub enum Received {
    /// A protocol message.
    Json(Value),
    /// A close frame (code, reason), or the connection ended (code 0).
    Closed(u16, String),
}

impl WsClient {
    /// Connects with `subprotocol` without initialising.
    pub async fn connect(url: &str, subprotocol: &str) -> Self {
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            subprotocol.parse().expect("header"),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connect");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(subprotocol),
            "the server must select the requested subprotocol"
        );
        Self { socket }
    }

    /// Connects with graphql-transport-ws and initialises with `token`; panics unless acked.
    pub async fn init(url: &str, token: &str) -> Self {
        let mut client = Self::connect(url, "graphql-transport-ws").await;
        client.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
        match client.recv().await {
            Received::Json(m) if m["type"] == "connection_ack" => client,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(WsMessage::Text(message.to_string().into()))
            .await
            .expect("ws send");
    }

    /// Sends any frame (binary, oversized text, ...); false when the server already hung up.
    pub async fn send_frame(&mut self, frame: WsMessage) -> bool {
        self.socket.send(frame).await.is_ok()
    }

    /// Starts a subscription (graphql-transport-ws).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next protocol message or close, waiting at most 20 s (a bound, not a synchronisation:
    /// a correct server answers far sooner).
    pub async fn recv(&mut self) -> Received {
        let next = async {
            loop {
                match self.socket.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        return Received::Json(serde_json::from_str(&text).expect("json"));
                    }
                    Some(Ok(WsMessage::Close(frame))) => {
                        let (code, reason) = frame
                            .map_or((0, String::new()), |CloseFrame { code, reason }| {
                                (u16::from(code), reason.to_string())
                            });
                        return Received::Closed(code, reason);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Received::Closed(0, String::new()),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), next)
            .await
            .expect("the server sent nothing for 20 s")
    }

    /// The next message that is not a keep-alive.
    pub async fn recv_json(&mut self) -> Value {
        loop {
            match self.recv().await {
                Received::Json(m) if m["type"] == "ka" => {}
                Received::Json(m) => return m,
                Received::Closed(code, reason) => panic!("connection closed: {code} {reason}"),
            }
        }
    }

    /// The code of the close frame the server sends next (skipping other messages).
    pub async fn close_code(&mut self) -> u16 {
        loop {
            if let Received::Closed(code, _) = self.recv().await {
                return code;
            }
        }
    }
}

/// Ids of a demo user, read with the owner role.
pub async fn user_ids(app: &TestApp, email: &str) -> (uuid::Uuid, uuid::Uuid) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let row = app
        .db
        .admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, tenant_id FROM users WHERE email = $1",
            [email.into()],
        ))
        .await
        .expect("query")
        .expect("user exists");
    (
        row.try_get("", "id").expect("id"),
        row.try_get("", "tenant_id").expect("tenant_id"),
    )
}

/// Inserts a notification (as the owner role, as the agent would) and returns its id.
pub async fn insert_notification(app: &TestApp, to: &str, from: &str, message: &str) -> uuid::Uuid {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let (to_id, tenant) = user_ids(app, to).await;
    let (from_id, _) = user_ids(app, from).await;
    let id = uuid::Uuid::now_v7();
    app.db
        .admin
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO notifications (id, tenant_id, from_user_id, to_user_id, message, priority) \
             VALUES ($1, $2, $3, $4, $5, 'HIGH')",
            [id.into(), tenant.into(), from_id.into(), to_id.into(), message.into()],
        ))
        .await
        .expect("insert notification");
    id
}

/// Counts rows with the owner role.
pub async fn count(app: &TestApp, sql_from_where: &str) -> i64 {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    app.db
        .admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {sql_from_where}"),
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get("", "n")
        .expect("n")
}

/// Waits until exactly `n` subscribers listen on the Redis channel of `user` (the server
/// subscribes when a WebSocket subscription starts and unsubscribes when the last one ends;
/// pub/sub delivers only to established subscribers).
pub async fn wait_for_subscribers(app: &TestApp, user: uuid::Uuid, n: i64) {
    use fred::interfaces::PubsubInterface;
    let channel = format!("{}:user:{user}", app.prefix);
    let wait = async {
        let mut poll = tokio::time::interval(Duration::from_millis(10));
        loop {
            poll.tick().await;
            let counts: Vec<fred::types::Value> = app
                .state
                .redis
                .next()
                .pubsub_numsub(channel.clone())
                .await
                .expect("NUMSUB");
            if counts.get(1).and_then(fred::types::Value::as_i64) == Some(n) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the number of subscribers never became the expected one");
}
