//! The Gemini and OpenAI-compatible embedders against a local fake of those APIs
//! (`testkit::fake_embed`): the wire format they send, batching at the providers' limits,
//! normalisation, ordering, retries on transient failures, and no retry on refusals.

use std::time::Duration;

use agent::embedding::retry::RetryPolicy;
use agent::embedding::{
    EmbedError, Embedder, Embedding, GeminiEmbedder, GeminiEmbedderConfig, OpenAiEmbedder,
    OpenAiEmbedderConfig,
};
use secrecy::SecretString;
use testkit::fake_embed::{FAKE_API_KEY, FakeEmbedServer, fake_vector};

/// Retries in milliseconds, so the tests do not wait.
const FAST: RetryPolicy = RetryPolicy {
    attempts: 3,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(20),
};

fn gemini(server: &FakeEmbedServer, key: &str) -> GeminiEmbedder {
    GeminiEmbedder::new(
        reqwest::Client::new(),
        GeminiEmbedderConfig {
            base_url: server.gemini_base_url(),
            api_key: SecretString::from(key),
            model: "gemini-embedding-001".into(),
        },
    )
    .with_retry(FAST)
}

fn openai(server: &FakeEmbedServer, key: Option<&str>) -> OpenAiEmbedder {
    OpenAiEmbedder::new(
        reqwest::Client::new(),
        OpenAiEmbedderConfig {
            base_url: server.openai_base_url(),
            api_key: key.map(SecretString::from),
            model: "text-embedding-3-small".into(),
            dimensions: Some(1536),
        },
    )
    .unwrap()
    .with_retry(FAST)
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("chunk number {i} about topic {}", i % 7))
        .collect()
}

fn expected(text: &str, dims: usize) -> Embedding {
    Embedding::normalised(fake_vector(text, dims)).unwrap()
}

#[tokio::test]
async fn gemini_batches_by_100_with_task_types_and_normalises() {
    let server = FakeEmbedServer::start().await;
    let e = gemini(&server, FAKE_API_KEY);
    let docs = texts(150);
    let vectors = e.embed_documents(&docs).await.unwrap();
    assert_eq!(vectors.len(), 150);
    for (t, v) in docs.iter().zip(&vectors) {
        assert_eq!(v, &expected(t, 1536), "{t}: normalised, in input order");
    }
    let query = e.embed_query("when is the pool open").await.unwrap();
    assert_eq!(query, expected("when is the pool open", 1536));

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "100 + 50 documents, then the query");
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.body["requests"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 50, 1]);
    for (r, task) in requests.iter().zip([
        "RETRIEVAL_DOCUMENT",
        "RETRIEVAL_DOCUMENT",
        "RETRIEVAL_QUERY",
    ]) {
        assert_eq!(
            r.path,
            "/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        for item in r.body["requests"].as_array().unwrap() {
            assert_eq!(item["taskType"], task);
            assert_eq!(item["outputDimensionality"], 1536);
            assert_eq!(item["model"], "models/gemini-embedding-001");
        }
    }
    assert_eq!(e.model(), "gemini/gemini-embedding-001@1536");
}

#[tokio::test]
async fn gemini_retries_overload_and_rate_limits_but_not_refusals() {
    let server = FakeEmbedServer::start().await;
    let e = gemini(&server, FAKE_API_KEY);
    server.fail_next(
        503,
        &[],
        r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
    );
    server.fail_next(
        429,
        &[],
        r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"EmbedContentRequestsPerMinutePerProject"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.005s"}]}}"#,
    );
    let v = e.embed_query("hello").await.unwrap();
    assert_eq!(v, expected("hello", 1536));
    assert_eq!(server.requests().len(), 3, "two failures, then success");

    server.fail_next(
        429,
        &[],
        r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"EmbedContentRequestsPerDayPerProject"}]}]}}"#,
    );
    let err = e.embed_query("hello").await.unwrap_err();
    assert!(matches!(err, EmbedError::Refused(_)), "{err}");
    assert_eq!(server.requests().len(), 4, "a per-day quota is not retried");

    let err = gemini(&server, "wrong-key")
        .embed_query("hello")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EmbedError::Refused(m) if m.contains("API key not valid")),
        "{err}"
    );
    assert_eq!(server.requests().len(), 5, "a bad key is not retried");

    for _ in 0..3 {
        server.fail_next(500, &[], "internal");
    }
    let err = e.embed_query("hello").await.unwrap_err();
    assert!(
        matches!(err, EmbedError::Unavailable(_)) && err.retryable(),
        "{err}"
    );
    assert_eq!(server.requests().len(), 8, "three attempts in all");
}

#[tokio::test]
async fn openai_batches_sorts_by_index_and_sends_dimensions() {
    let server = FakeEmbedServer::start().await;
    let e = openai(&server, Some(FAKE_API_KEY));
    let docs = texts(300);
    let vectors = e.embed_documents(&docs).await.unwrap();
    assert_eq!(vectors.len(), 300);
    for (t, v) in docs.iter().zip(&vectors) {
        assert_eq!(
            v,
            &expected(t, 1536),
            "{t}: matched by index, not by array order"
        );
    }
    let requests = server.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.body["input"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [256, 44]);
    assert!(requests.iter().all(|r| r.body["dimensions"] == 1536
        && r.body["model"] == "text-embedding-3-small"
        && r.body["encoding_format"] == "float"));
}

#[tokio::test]
async fn openai_honours_retry_after_and_refuses_exhausted_quota_and_bad_keys() {
    let server = FakeEmbedServer::start().await;
    let e = openai(&server, Some(FAKE_API_KEY));
    server.fail_next(
        429,
        &[("retry-after-ms", "5")],
        r#"{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!(
        e.embed_query("hi there").await.unwrap(),
        expected("hi there", 1536)
    );
    assert_eq!(server.requests().len(), 2);

    server.fail_next(
        429,
        &[],
        r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    );
    assert!(matches!(
        e.embed_query("hi").await,
        Err(EmbedError::Refused(_))
    ));
    assert_eq!(server.requests().len(), 3);

    let err = openai(&server, None).embed_query("hi").await.unwrap_err();
    assert!(
        matches!(&err, EmbedError::Refused(m) if m.contains("401")),
        "{err}"
    );
}

#[tokio::test]
async fn smaller_models_are_zero_padded() {
    let server = FakeEmbedServer::start().await;
    let e = OpenAiEmbedder::new(
        reqwest::Client::new(),
        OpenAiEmbedderConfig {
            base_url: server.openai_base_url(),
            api_key: Some(SecretString::from(FAKE_API_KEY)),
            model: "nomic-embed-text".into(),
            dimensions: Some(768),
        },
    )
    .unwrap();
    let v = e.embed_query("pool hours").await.unwrap();
    assert!(v.as_slice()[768..].iter().all(|x| *x == 0.0));
    assert_eq!(v, expected("pool hours", 768));
    assert_eq!(e.model(), "openai/nomic-embed-text@768");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let e = OpenAiEmbedder::new(
        reqwest::Client::new(),
        OpenAiEmbedderConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            model: "m".into(),
            dimensions: None,
        },
    )
    .unwrap()
    .with_retry(FAST);
    let err = e.embed_query("hi").await.unwrap_err();
    assert!(matches!(err, EmbedError::Unavailable(_)), "{err}");
}
