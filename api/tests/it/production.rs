//! Production mode (`CONCIERGE_ENV=production`): GraphiQL, introspection and field suggestions
//! are off unless enabled, cross-origin access is limited to `CORS_ORIGINS`, and the log of a
//! production server (started, serving, shut down) holds none of its secrets.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::TestDb;
use testkit::fake_llm::FakeGemini;

use crate::app::{TestApp, code};
use crate::support::LoggedProcess;

const PRODUCTION: [(&str, &str); 2] = [
    ("CONCIERGE_ENV", "production"),
    ("CORS_ORIGINS", "https://app.example.com"),
];

/// The `Access-Control-Allow-Origin` a preflight from `origin` gets, if any.
async fn allowed_origin(app: &TestApp, origin: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_hides_the_schema_and_allows_only_configured_origins() {
    let app = TestApp::spawn_with(&PRODUCTION).await;
    let token = app.login("maria@sole.example").await;

    let (status, _) = app.get("/graphiql").await;
    assert_eq!(status, 404, "no GraphiQL");
    // Introspection answers nothing (async-graphql answers null rather than an error).
    let body = app
        .gql(Some(&token), "{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"],
        json!({ "__schema": null }),
        "no introspection: {body}"
    );
    let body = app
        .gql(
            Some(&token),
            "{ __type(name: \"User\") { name fields { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "__type": null }),
        "no introspection: {body}"
    );
    let body = app
        .gql(Some(&token), "{ notification { id } }", json!({}))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("Did you mean"),
        "no suggestions: {message}"
    );
    // The API itself works, and the web app gets no demo accounts.
    let body = app.gql(Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(body["data"]["me"]["email"], "maria@sole.example");
    let (_, config) = app.get("/app-config.json").await;
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config, json!({ "environment": "production" }));

    assert_eq!(
        allowed_origin(&app, "https://app.example.com")
            .await
            .as_deref(),
        Some("https://app.example.com")
    );
    for other in ["https://evil.example", "http://localhost:5173", "null"] {
        assert_eq!(allowed_origin(&app, other).await, None, "{other}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_serves_graphiql_and_introspection_only_when_enabled() {
    let mut vars = PRODUCTION.to_vec();
    vars.extend([("GRAPHIQL", "on"), ("GRAPHQL_INTROSPECTION", "on")]);
    let app = TestApp::spawn_with(&vars).await;
    let (status, page) = app.get("/graphiql").await;
    assert_eq!(status, 200);
    assert!(page.to_lowercase().contains("graphiql"));
    let body = app
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_suggests_fields_and_allows_localhost_origins() {
    let app = TestApp::spawn().await;
    let token = app.login("maria@sole.example").await;
    let body = app
        .gql(Some(&token), "{ notification { id } }", json!({}))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Did you mean"), "{message}");
    assert_eq!(
        allowed_origin(&app, "http://localhost:5173")
            .await
            .as_deref(),
        Some("http://localhost:5173")
    );
    assert_eq!(allowed_origin(&app, "https://evil.example").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_of_a_production_server_holds_no_secret() {
    use sea_orm::ConnectionTrait;
    let db = TestDb::new().await;
    api::seed::seed_demo(&db.db, &agent::embedding::HashEmbedder)
        .await
        .unwrap();
    let unique = |what: &str| format!("{what}-{:016x}{:016x}", rand_u64(), rand_u64());
    // A login role of its own, so the database password is unique to this test.
    let role = format!("ct_{:08x}", rand_u64() & 0xffff_ffff);
    let db_password = unique("dbpass");
    db.admin
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{db_password}' IN ROLE concierge_app"
        ))
        .await
        .unwrap();
    let database_url = db.app_url().replace(
        "concierge_app:concierge_app@",
        &format!("{role}:{db_password}@"),
    );
    let (jwt_secret, gemini_key, openai_key) = (
        unique("jwtsecret"),
        unique("geminikey"),
        unique("openaikey"),
    );
    let fake = FakeGemini::start().await;
    fake.set_required_key(Some(&gemini_key));
    let (base, redis_url, prefix) = (
        fake.base_url(),
        testkit::redis_url(),
        testkit::redis_prefix(),
    );
    let mut server = LoggedProcess::start(
        "serve",
        &[
            ("CONCIERGE_ENV", "production"),
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &redis_url),
            ("REDIS_KEY_PREFIX", &prefix),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("JWT_SECRET", &jwt_secret),
            ("LLM_PROVIDER", "gemini"),
            ("GEMINI_API_KEY", &gemini_key),
            ("GEMINI_BASE_URL", &base),
            ("OPENAI_API_KEY", &openai_key),
            ("WEB_DIR", "/nonexistent"),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let url = server.url.clone().unwrap();
    let http = reqwest::Client::new();
    let gql = |token: Option<String>, query: &str, variables: Value| {
        let mut request = http
            .post(format!("{url}/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // Work that logs: a login, a message answered by the model (with its key), a bad token,
    // a failed login.
    let login = gql(
        None,
        "mutation($p: String!) { login(email: \"maria@sole.example\", password: $p) { token } }",
        json!({ "p": api::seed::DEMO_PASSWORD }),
    )
    .await;
    let token = login["data"]["login"]["token"].as_str().unwrap().to_owned();
    let sent = gql(
        Some(token.clone()),
        "mutation { sendMessage(input: { content: \"Tell Luca the oven is hot\" }) { message { id } } }",
        json!({}),
    )
    .await;
    assert!(sent["errors"].is_null(), "{sent}");
    let answered = async {
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if count_in(&db, "messages WHERE role = 'ASSISTANT'").await == 1 {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), answered)
        .await
        .expect("the message was never answered");
    gql(Some(format!("{token}x")), "{ me { id } }", json!({})).await;
    gql(
        None,
        "mutation { login(email: \"maria@sole.example\", password: \"wrong-password\") { token } }",
        json!({}),
    )
    .await;

    let pid = server.child.id().unwrap().to_string();
    tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let log = server.full_log().await;
    assert!(
        log.contains("agent runtime started"),
        "the log is captured: {log}"
    );
    for (what, secret) in [
        ("the JWT secret", jwt_secret.as_str()),
        ("the Gemini key", gemini_key.as_str()),
        ("the OpenAI key", openai_key.as_str()),
        ("the database password", db_password.as_str()),
        ("a user's token", token.as_str()),
        ("a user's password", api::seed::DEMO_PASSWORD),
    ] {
        assert!(!log.contains(secret), "{what} is in the log");
    }
    db.admin
        .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
        .await
        .ok();
}

/// 64 random bits (the random tail of a UUIDv7).
fn rand_u64() -> u64 {
    uuid::Uuid::now_v7().as_u64_pair().1
}

async fn count_in(db: &TestDb, what: &str) -> i64 {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    db.admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {what}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap()
}
