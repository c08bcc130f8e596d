//! `gemini`: the Gemini API's `models/{model}:batchEmbedContents` (wire format:
//! `../shared/reference/llm-wire.md` §2). Knowledge is embedded with task type
//! `RETRIEVAL_DOCUMENT`, questions with `RETRIEVAL_QUERY`, both at `outputDimensionality`
//! [`EMBEDDING_DIM`]. Reduced-dimension Gemini vectors are not normalised by the API, so every
//! vector is L2-normalised here. At most [`GEMINI_BATCH_LIMIT`] texts go in one request (the API
//! refuses more); failures are retried per [`RetryPolicy`] and mapped to [`EmbedError`].
//!
//! The key travels in the `x-goog-api-key` header, never in the URL.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::retry::{
    Attempt, RetryPolicy, parse_proto_duration, transient_status, transport_failure,
};
use super::{EMBEDDING_DIM, EmbedError, Embedder, Embedding};

/// The public endpoint.
pub const GEMINI_DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";
/// The current stable text embedding model (keep it configurable: names retire).
pub const GEMINI_DEFAULT_EMBEDDING_MODEL: &str = "gemini-embedding-001";
/// Requests per `batchEmbedContents` call that the API accepts.
pub const GEMINI_BATCH_LIMIT: usize = 100;
/// Time limit of one request: a batch of 100 chunks takes a few seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the Gemini embedder needs.
#[derive(Clone, Debug)]
pub struct GeminiEmbedderConfig {
    /// API root, e.g. [`GEMINI_DEFAULT_BASE_URL`] (a fake server in tests).
    pub base_url: String,
    /// The API key.
    pub api_key: SecretString,
    /// Model id, with or without the `models/` prefix.
    pub model: String,
}

/// The Gemini embedder.
#[derive(Clone, Debug)]
pub struct GeminiEmbedder {
    http: reqwest::Client,
    url: String,
    model_path: String,
    name: String,
    api_key: SecretString,
    retry: RetryPolicy,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum TaskType {
    RetrievalDocument,
    RetrievalQuery,
}

#[derive(Serialize)]
struct BatchEmbedRequest<'a> {
    requests: Vec<EmbedContentRequest<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedContentRequest<'a> {
    model: &'a str,
    content: Content<'a>,
    task_type: TaskType,
    output_dimensionality: usize,
}

#[derive(Serialize)]
struct Content<'a> {
    parts: [Part<'a>; 1],
}

#[derive(Serialize)]
struct Part<'a> {
    text: &'a str,
}

#[derive(Deserialize)]
struct BatchEmbedResponse {
    #[serde(default)]
    embeddings: Vec<ContentEmbedding>,
}

#[derive(Deserialize)]
struct ContentEmbedding {
    #[serde(default)]
    values: Vec<f32>,
}

/// `{"error": {...}}`, sometimes wrapped in a one-element array.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorEnvelope {
    One(ErrorBody),
    Many(Vec<ErrorBody>),
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Status,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(default)]
    retry_delay: Option<String>,
    #[serde(default)]
    violations: Vec<Violation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Violation {
    #[serde(default)]
    quota_id: Option<String>,
}

impl GeminiEmbedder {
    /// An embedder for `config`, sharing `http`'s connection pool.
    #[must_use]
    pub fn new(http: reqwest::Client, config: GeminiEmbedderConfig) -> Self {
        let model = config.model.trim().trim_start_matches("models/").to_owned();
        Self {
            http,
            // format!, not Url::join: "gemini-...:batchEmbedContents" would parse as a scheme.
            url: format!(
                "{}/models/{model}:batchEmbedContents",
                config.base_url.trim_end_matches('/')
            ),
            model_path: format!("models/{model}"),
            name: format!("gemini/{model}@{EMBEDDING_DIM}"),
            api_key: config.api_key,
            retry: RetryPolicy::default(),
        }
    }

    /// The same embedder with another retry policy (tests use short delays).
    #[must_use]
    pub const fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn embed(&self, texts: &[String], task: TaskType) -> Result<Vec<Embedding>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(GEMINI_BATCH_LIMIT) {
            let body = BatchEmbedRequest {
                requests: batch
                    .iter()
                    .map(|text| EmbedContentRequest {
                        model: &self.model_path,
                        content: Content {
                            parts: [Part { text }],
                        },
                        task_type: task,
                        output_dimensionality: EMBEDDING_DIM,
                    })
                    .collect(),
            };
            let response: BatchEmbedResponse = self.retry.run(|| self.attempt(&body)).await?;
            if response.embeddings.len() != batch.len() {
                return Err(EmbedError::Invalid(format!(
                    "gemini returned {} embeddings for {} texts",
                    response.embeddings.len(),
                    batch.len()
                )));
            }
            for e in response.embeddings {
                out.push(Embedding::normalised(e.values)?);
            }
        }
        Ok(out)
    }

    async fn attempt(&self, body: &BatchEmbedRequest<'_>) -> Attempt<BatchEmbedResponse> {
        let sent = self
            .http
            .post(&self.url)
            .header("x-goog-api-key", self.api_key.expose_secret())
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return transport_failure("gemini", &e),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_failure("gemini", &e),
        };
        if status.is_success() {
            return match serde_json::from_slice(&bytes) {
                Ok(parsed) => Attempt::Done(parsed),
                Err(e) => Attempt::Fail(EmbedError::Invalid(format!(
                    "gemini answered unparseable JSON: {e}"
                ))),
            };
        }
        classify_error(status.as_u16(), &bytes)
    }
}

/// Maps an error response to retry-or-fail (llm-wire.md §1.8 and §4.2).
fn classify_error<T>(status: u16, body: &[u8]) -> Attempt<T> {
    let parsed = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope::One(b)) => Some(b.error),
        Ok(ErrorEnvelope::Many(mut v)) => v.pop().map(|b| b.error),
        Err(_) => None,
    };
    let (message, code_name) = parsed.as_ref().map_or_else(
        || {
            (
                String::from_utf8_lossy(body).chars().take(200).collect(),
                None,
            )
        },
        |s| (s.message.clone(), s.status.clone()),
    );
    let text = format!(
        "gemini {status} {}: {message}",
        code_name.as_deref().unwrap_or("")
    );
    if status == 429 {
        let details = parsed.as_ref().map(|s| s.details.as_slice()).unwrap_or(&[]);
        let per_day = details
            .iter()
            .flat_map(|d| &d.violations)
            .any(|v| v.quota_id.as_deref().is_some_and(|q| q.contains("PerDay")));
        if per_day {
            return Attempt::Fail(EmbedError::Refused(format!(
                "daily quota exhausted: {text}"
            )));
        }
        let after = details
            .iter()
            .filter(|d| d.kind.ends_with("RetryInfo"))
            .find_map(|d| d.retry_delay.as_deref().and_then(parse_proto_duration));
        return Attempt::Retry {
            error: EmbedError::Unavailable(text),
            after,
        };
    }
    if transient_status(status) {
        return Attempt::Retry {
            error: EmbedError::Unavailable(text),
            after: None,
        };
    }
    Attempt::Fail(EmbedError::Refused(text))
}

#[async_trait]
impl Embedder for GeminiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedError> {
        self.embed(texts, TaskType::RetrievalDocument).await
    }

    async fn embed_query(&self, text: &str) -> Result<Embedding, EmbedError> {
        self.embed(&[text.to_owned()], TaskType::RetrievalQuery)
            .await?
            .pop()
            .ok_or_else(|| EmbedError::Invalid("gemini returned no embedding".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_the_documented_wire_format() {
        let text = "How do I return a kettle?";
        let body = BatchEmbedRequest {
            requests: vec![EmbedContentRequest {
                model: "models/gemini-embedding-001",
                content: Content {
                    parts: [Part { text }],
                },
                task_type: TaskType::RetrievalQuery,
                output_dimensionality: 1536,
            }],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({ "requests": [{
                "model": "models/gemini-embedding-001",
                "content": { "parts": [{ "text": "How do I return a kettle?" }] },
                "taskType": "RETRIEVAL_QUERY",
                "outputDimensionality": 1536
            }]})
        );
    }

    #[test]
    fn names_and_urls_do_not_double_the_models_prefix() {
        let e = GeminiEmbedder::new(
            reqwest::Client::new(),
            GeminiEmbedderConfig {
                base_url: "http://127.0.0.1:9/v1beta/".into(),
                api_key: SecretString::from("k"),
                model: "models/gemini-embedding-001".into(),
            },
        );
        assert_eq!(e.model(), "gemini/gemini-embedding-001@1536");
        assert_eq!(
            e.url,
            "http://127.0.0.1:9/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
    }

    #[test]
    fn errors_are_classified_as_the_reference_says() {
        // Per-minute 429 with RetryInfo: retry after the delay.
        let per_minute = br#"{ "error": { "code": 429, "message": "You exceeded your current quota, please check your plan and billing details.", "status": "RESOURCE_EXHAUSTED",
          "details": [
            { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [ { "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" } ] },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s" } ] } }"#;
        match classify_error::<()>(429, per_minute) {
            Attempt::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(31))),
            other => panic!("{other:?}"),
        }
        // Per-day quota: fail fast.
        let per_day = br#"{ "error": { "code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
          "details": [ { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [ { "quotaId": "EmbedRequestsPerDayPerProject" } ] } ] } }"#;
        assert!(matches!(
            classify_error::<()>(429, per_day),
            Attempt::Fail(EmbedError::Refused(_))
        ));
        // Invalid key is a 400: refused.
        let bad_key = br#"{ "error": { "code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT" } }"#;
        assert!(matches!(
            classify_error::<()>(400, bad_key),
            Attempt::Fail(EmbedError::Refused(m)) if m.contains("API key not valid")
        ));
        // 503, also wrapped in an array, and a non-JSON 502: retried.
        let overloaded = br#"[{ "error": { "code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE" } }]"#;
        assert!(matches!(
            classify_error::<()>(503, overloaded),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            classify_error::<()>(502, b"Bad Gateway"),
            Attempt::Retry { .. }
        ));
    }
}
