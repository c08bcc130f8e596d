//! Authentication: login, and every way a forged or stale token must fail.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::app::{TEST_SECRET, TestApp, code, user_ids};

const ME: &str = "{ me { id email } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_a_token_that_identifies_the_user_and_tenant() {
    let app = TestApp::spawn().await;
    let body = app
        .gql(
            None,
            "mutation { login(email: \"Luca@Sole.example\", password: \"concierge-demo\") \
             { token expiresAt user { name role title email } tenant { name kind } } }",
            json!({}),
        )
        .await;
    let login = &body["data"]["login"];
    assert_eq!(login["user"]["name"], "Luca Bianchi");
    assert_eq!(login["user"]["role"], "STAFF");
    assert_eq!(login["tenant"]["name"], "Trattoria Sole");
    assert_eq!(login["tenant"]["kind"], "RESTAURANT");
    let token = login["token"].as_str().unwrap();
    let me = app.gql(Some(token), ME, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "luca@sole.example");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = TestApp::spawn().await;
    let q = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let wrong_password = app
        .gql(
            None,
            q,
            json!({ "e": "maria@sole.example", "p": "nope-nope" }),
        )
        .await;
    let unknown_email = app
        .gql(
            None,
            q,
            json!({ "e": "nobody@sole.example", "p": "nope-nope" }),
        )
        .await;
    assert_eq!(
        wrong_password["errors"][0]["message"],
        unknown_email["errors"][0]["message"]
    );
    assert_eq!(code(&wrong_password), code(&unknown_email));
    assert_eq!(wrong_password["data"], Value::Null);
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn claims_for(app: &TestApp, email: &str) -> Value {
    let (user, tenant) = user_ids(app, email).await;
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": user, "tid": tenant, "role": "MANAGER", "iat": now, "nbf": now, "exp": now + 600,
            "iss": "concierge", "aud": "concierge-api" })
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let body = app.gql(Some(token), ME, json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{what}: {body}");
    assert_eq!(body["data"], Value::Null, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let good = claims_for(&app, "maria@sole.example").await;
    // The control: these claims, properly signed, are accepted.
    let ok = app
        .gql(Some(&sign(&good, TEST_SECRET)), ME, json!({}))
        .await;
    assert_eq!(ok["data"]["me"]["email"], "maria@sole.example", "{ok}");

    let header_none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    assert_refused(&app, &format!("{header_none}.{payload}."), "alg none").await;

    assert_refused(
        &app,
        &sign(&good, "another-secret-another-secret-another"),
        "signed with another key",
    )
    .await;

    let mut expired = good.clone();
    let now = chrono::Utc::now().timestamp();
    expired["exp"] = json!(now - 120);
    expired["iat"] = json!(now - 720);
    expired["nbf"] = json!(now - 720);
    assert_refused(&app, &sign(&expired, TEST_SECRET), "expired").await;

    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("another-api");
    assert_refused(&app, &sign(&wrong_aud, TEST_SECRET), "wrong aud").await;

    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone-else");
    assert_refused(&app, &sign(&wrong_iss, TEST_SECRET), "wrong iss").await;

    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_refused(&app, &sign(&no_aud, TEST_SECRET), "no aud").await;

    let mut not_yet = good.clone();
    not_yet["nbf"] = json!(now + 600);
    assert_refused(
        &app,
        &sign(&not_yet, TEST_SECRET),
        "not valid before a future time",
    )
    .await;

    // tid changed to the other tenant in a valid token: the signature no longer matches.
    let valid = sign(&good, TEST_SECRET);
    let parts: Vec<&str> = valid.split('.').collect();
    let (_, other_tenant) = user_ids(&app, "james@harborview.example").await;
    let mut tampered = good.clone();
    tampered["tid"] = json!(other_tenant);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered.to_string()),
        parts[2]
    );
    assert_refused(&app, &forged, "tid changed").await;

    // A validly signed token whose user is in another tenant than its tid claims.
    let mut wrong_tenant = good.clone();
    wrong_tenant["tid"] = json!(other_tenant);
    assert_refused(
        &app,
        &sign(&wrong_tenant, TEST_SECRET),
        "user not in the tenant of tid",
    )
    .await;

    assert_refused(&app, "not-a-jwt", "garbage").await;
}

/// A new user of the Sole tenant, logged in, whose token has answered `me` once; with their
/// tenant and token.
async fn temporary_user(app: &TestApp) -> (entity::TenantId, String) {
    let tenant = app
        .state
        .db
        .find_tenant_by_slug("sole")
        .await
        .unwrap()
        .unwrap();
    api::service::directory::create_user(
        &app.state.db,
        tenant,
        api::service::directory::NewUser {
            email: "temp@sole.example".into(),
            name: "Temp".into(),
            role: entity::Role::Staff,
            title: None,
            password: "temporary-password".into(),
        },
    )
    .await
    .unwrap();
    let q = "mutation { login(email: \"temp@sole.example\", password: \"temporary-password\") { token } }";
    let token = app.gql(None, q, json!({})).await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await["data"]["me"]["email"],
        "temp@sole.example"
    );
    (tenant, token)
}

async fn delete_temporary_user(app: &TestApp) {
    use sea_orm::ConnectionTrait;
    app.db
        .admin
        .execute_unprepared("DELETE FROM users WHERE email = 'temp@sole.example'")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_of_a_user_deleted_behind_concierges_back_is_refused_with_the_cache_off() {
    let app = TestApp::spawn_with(&[("AUTH_CACHE_TTL", "0")]).await;
    let (_, token) = temporary_user(&app).await;
    delete_temporary_user(&app).await;
    assert_refused(&app, &token, "deleted user").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_of_a_deleted_user_is_refused_once_the_tenant_change_is_announced() {
    let app = TestApp::spawn().await;
    let (tenant, token) = temporary_user(&app).await;
    delete_temporary_user(&app).await;
    // Within AUTH_CACHE_TTL and unannounced, the user looked up a moment ago is still trusted.
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await["data"]["me"]["email"],
        "temp@sole.example"
    );
    // Any process announcing the change (as `concierge user create` does) ends that at once.
    app.state.publisher.tenant_changed(tenant).await.unwrap();
    let refused = async {
        while code(&app.gql(Some(&token), ME, json!({})).await) != "UNAUTHENTICATED" {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the announcement reaches the server and its cache forgets the tenant's users");
    assert_refused(&app, &token, "deleted user").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_but_login_requires_a_token() {
    let app = TestApp::spawn().await;
    let queries = [
        "{ me { id } }",
        "{ tenant { id } }",
        "{ colleagues { id } }",
        "{ sessions { nodes { id } } }",
        "{ conversation(sessionId: \"01a20f94-a6a2-7213-be52-1bc7a2d8fac5\") { nodes { id } } }",
        "{ notifications { totalCount } }",
        "{ unreadNotificationCount }",
        "{ knowledge { nodes { id } } }",
        "{ searchKnowledge(query: \"hours\") { score } }",
        "{ events { nodes { id } } }",
        "mutation { sendMessage(input: { content: \"hi\" }) { message { id } } }",
        "mutation { markNotificationRead(id: \"01a20f94-a6a2-7213-be52-1bc7a2d8fac5\") { id } }",
        "mutation { markAllNotificationsRead }",
        "mutation { addKnowledge(input: { content: \"x\", category: \"faq\" }) { id } }",
        "mutation { deleteKnowledge(id: \"01a20f94-a6a2-7213-be52-1bc7a2d8fac5\") }",
    ];
    for q in queries {
        for token in [None, Some("garbage")] {
            let body = app.gql(token, q, json!({})).await;
            assert_eq!(code(&body), "UNAUTHENTICATED", "{q} with {token:?}: {body}");
        }
    }
    assert_eq!(
        count_of(&app, "messages").await,
        0,
        "nothing was written without a token"
    );
}

async fn count_of(app: &TestApp, table: &str) -> i64 {
    crate::app::count(app, table).await
}
