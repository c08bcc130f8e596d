//! Rate limits and the daily token budget: the token-bucket script in Redis (refill, both
//! buckets or neither, expiry), the limiter while Redis is down (it keeps limiting, in memory,
//! instead of refusing everything), and a tenant over its daily budget (its next message ends
//! FAILED without an LLM call; `sendMessage` refuses with RATE_LIMITED until the next UTC day;
//! other tenants are unaffected).

use std::time::Duration;

use api::error::ApiError;
use api::rate_limit::{Bucket, RateLimitConfig, RateLimiter};
use entity::{TenantId, UserId};
use fred::prelude::{ClientLike, KeysInterface, LuaInterface, Pool};
use serde_json::json;
use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini, GeminiReply};
use testkit::redis_server::RedisServer;

use crate::app::{TestApp, WsClient, code, count, user_ids, wait_for_subscribers};

/// Moves a bucket's clock back by `by`, as if that much time had passed.
async fn age_bucket(redis: &Pool, key: &str, by: Duration) {
    let moved: i64 = redis
        .eval(
            "local ts = tonumber(redis.call('HGET', KEYS[1], 'ts')) \
             redis.call('HSET', KEYS[1], 'ts', tostring(ts - tonumber(ARGV[1]))) return 1",
            vec![key.to_owned()],
            vec![by.as_millis().to_string()],
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);
}

#[tokio::test]
async fn the_bucket_script_takes_from_both_buckets_or_neither_and_refills_with_time() {
    let redis = agent::redis::pool(&testkit::redis_url(), 1).unwrap();
    redis.wait_for_connect().await.unwrap();
    let limiter = RateLimiter::new(
        redis.clone(),
        &testkit::redis_prefix(),
        RateLimitConfig {
            user: Bucket {
                per_minute: 60,
                burst: 2,
            },
            tenant: Bucket {
                per_minute: 60,
                burst: 3,
            },
        },
    );
    let (tenant, ann, bob) = (TenantId::new(), UserId::new(), UserId::new());
    limiter.check_message(tenant, ann).await.unwrap();
    limiter.check_message(tenant, ann).await.unwrap();
    match limiter.check_message(tenant, ann).await {
        Err(ApiError::RateLimited {
            reason,
            retry_after,
        }) => {
            assert!(reason.starts_with("you are"), "{reason}");
            assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
        }
        other => panic!("expected the user's limit, got {other:?}"),
    }
    // Ann's refusal took nothing from the tenant: Bob gets its last token, then the tenant's
    // limit refuses him.
    limiter.check_message(tenant, bob).await.unwrap();
    match limiter.check_message(tenant, bob).await {
        Err(ApiError::RateLimited { reason, .. }) => {
            assert!(reason.starts_with("your organisation"), "{reason}");
        }
        other => panic!("expected the tenant's limit, got {other:?}"),
    }
    // Ten seconds later (the buckets' clocks moved back) both are full again, up to the burst.
    for key in [limiter.user_key(ann), limiter.tenant_key(tenant)] {
        age_bucket(&redis, &key, Duration::from_secs(10)).await;
        let ttl: i64 = redis.pttl(&key).await.unwrap();
        assert!(ttl > 0, "{key} expires once it would be full again");
    }
    limiter.check_message(tenant, ann).await.unwrap();
    limiter.check_message(tenant, ann).await.unwrap();
    assert!(limiter.check_message(tenant, ann).await.is_err());
    redis.quit().await.unwrap();
}

const SEND: &str = "mutation($c: String!, $s: ID) { sendMessage(input: { content: $c, sessionId: $s }) \
                    { message { id } session { id } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_limits_still_hold_and_nothing_else_is_refused() {
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    let app = TestApp::spawn_with(&[
        ("REDIS_URL", url.as_str()),
        ("AGENT_RUNTIME", "off"),
        ("RATE_LIMIT_USER_PER_MINUTE", "1"),
        ("RATE_LIMIT_USER_BURST", "3"),
    ])
    .await;
    let maria = app.login("maria@sole.example").await;
    let sofia = app.login("sofia@sole.example").await;
    redis.stop().await;
    let mut codes = Vec::new();
    for i in 0..5 {
        let body = app
            .gql(
                Some(&maria),
                SEND,
                json!({ "c": format!("while Redis is down {i}") }),
            )
            .await;
        codes.push(code(&body).to_owned());
    }
    assert_eq!(
        codes,
        [
            "<no error>",
            "<no error>",
            "<no error>",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ],
        "the burst, then the limit, kept in memory"
    );
    let body = app.gql(Some(&sofia), SEND, json!({ "c": "me too" })).await;
    assert!(body["errors"].is_null(), "others are unaffected: {body}");
    assert_eq!(count(&app, "messages").await, 4, "accepted ones are stored");
    redis.resume().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_daily_budget_gets_no_more_llm_calls_until_tomorrow() {
    // Every answer of the fake reports 120 prompt and 30 output tokens: the budget of 200 lets
    // two answers start, and the second takes the tenant over.
    let fake = FakeGemini::start().await;
    fake.set_default(GeminiReply::output(
        &json!({ "reply": "ok", "actions": [] }),
    ));
    let base = fake.base_url();
    let app = TestApp::spawn_with(&[
        ("LLM_PROVIDER", "gemini"),
        ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
        ("GEMINI_BASE_URL", base.as_str()),
        ("TENANT_DAILY_TOKEN_BUDGET", "200"),
    ])
    .await;
    let maria = app.login("maria@sole.example").await;
    let (maria_id, sole) = user_ids(&app, "maria@sole.example").await;
    let mut ws = WsClient::init(&app.ws_url(), &maria).await;
    ws.subscribe(
        "c",
        "subscription { conversationEvents { __typename \
         ... on AgentReply { replyTo } ... on MessageFailed { messageId error } } }",
        json!({}),
    )
    .await;
    wait_for_subscribers(&app, maria_id, 1).await;
    let send = async |content: &str, session: Option<&str>| {
        let body = app
            .gql(Some(&maria), SEND, json!({ "c": content, "s": session }))
            .await;
        let sent = &body["data"]["sendMessage"];
        assert!(sent.is_object(), "{body}");
        (
            sent["message"]["id"].as_str().unwrap().to_owned(),
            sent["session"]["id"].as_str().unwrap().to_owned(),
        )
    };
    let mut next_outcome = async || loop {
        let m = ws.recv_json().await;
        let e = m["payload"]["data"]["conversationEvents"].clone();
        if e["__typename"] == "AgentReply" || e["__typename"] == "MessageFailed" {
            return e;
        }
    };

    let (first, session) = send("When do we open?", None).await;
    assert_eq!(next_outcome().await["replyTo"], first.as_str());
    // Two more, both accepted while the tenant is within budget; the model is slow, so the
    // second is queued behind the first.
    fake.set_delay(Duration::from_secs(1));
    let before = fake.request_count();
    let (second, _) = send("And on Sunday?", Some(&session)).await;
    let (third, _) = send("And on Monday?", Some(&session)).await;
    assert_eq!(next_outcome().await["replyTo"], second.as_str());
    let failed = next_outcome().await;
    assert_eq!(failed["messageId"], third.as_str(), "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("today's allowance") && error.contains("midnight UTC"),
        "{error}"
    );
    assert_eq!(fake.request_count() - before, 1, "no LLM call over budget");
    assert_eq!(
        count(
            &app,
            &format!("tenant_usage WHERE tenant_id = '{sole}' AND messages = 2 AND prompt_tokens + output_tokens = 300")
        )
        .await,
        1,
        "usage is recorded per message"
    );

    // Now sendMessage refuses until the next UTC day.
    let body = app
        .gql(Some(&maria), SEND, json!({ "c": "Hello?", "s": session }))
        .await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    let to_midnight = agent::budget::until_next_utc_day(chrono::Utc::now()).as_secs();
    assert!(
        retry_after.abs_diff(to_midnight) <= 5,
        "{retry_after} s vs {to_midnight} s to midnight UTC"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("today's allowance"),
        "{body}"
    );

    // Another tenant is unaffected.
    fake.set_delay(Duration::ZERO);
    let tom = app.login("tom@harborview.example").await;
    let body = app
        .gql(Some(&tom), SEND, json!({ "c": "When is the pool open?" }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
}
