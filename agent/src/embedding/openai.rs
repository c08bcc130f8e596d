//! `openai`: any OpenAI-compatible `POST {base}/embeddings` (OpenAI, Ollama, vLLM, llama.cpp;
//! wire format: `../shared/reference/llm-wire.md` §3.6). Asks for `dimensions` (1536 by
//! default; models with fewer are zero-padded, and servers or models that do not support the
//! parameter can be configured without it), sorts the answer by `index`, and L2-normalises every
//! vector. At most [`OPENAI_BATCH_LIMIT`] inputs go in one request; failures are retried per
//! [`RetryPolicy`], honouring `retry-after-ms` / `retry-after`; `insufficient_quota` is not
//! retried.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::retry::{Attempt, RetryPolicy, transient_status, transport_failure};
use super::{EMBEDDING_DIM, EmbedError, Embedder, Embedding};

/// OpenAI's endpoint.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// OpenAI's 1536-dimension embedding model.
pub const OPENAI_DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";
/// Inputs per request: OpenAI accepts 2048, but also caps the tokens of a request at 300,000;
/// 256 chunks of at most 1,500 characters stay far below that.
pub const OPENAI_BATCH_LIMIT: usize = 256;
/// Time limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the OpenAI-compatible embedder needs.
#[derive(Clone, Debug)]
pub struct OpenAiEmbedderConfig {
    /// API root including the version, e.g. [`OPENAI_DEFAULT_BASE_URL`] or
    /// `http://localhost:11434/v1` (Ollama).
    pub base_url: String,
    /// Bearer key; local servers usually need none.
    pub api_key: Option<SecretString>,
    /// Model name.
    pub model: String,
    /// The `dimensions` to ask for; `None` sends none (models before `text-embedding-3`).
    pub dimensions: Option<usize>,
}

/// The OpenAI-compatible embedder.
#[derive(Clone, Debug)]
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    url: String,
    /// The model as the server knows it (`text-embedding-3-small`).
    server_model: String,
    dimensions: Option<usize>,
    /// The name stored with the vectors (`openai/text-embedding-3-small@1536`).
    name: String,
    api_key: Option<SecretString>,
    retry: RetryPolicy,
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingData>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    index: usize,
    embedding: Vec<f32>,
}

/// OpenAI, Ollama, vLLM and llama.cpp nest the error; old vLLM releases do not.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorEnvelope {
    Nested { error: ErrorBody },
    Flat(ErrorBody),
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// A string (OpenAI), an integer (vLLM, llama.cpp) or null.
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl OpenAiEmbedder {
    /// An embedder for `config`, sharing `http`'s connection pool.
    ///
    /// # Errors
    /// [`EmbedError::Setup`] when `dimensions` is larger than the column.
    pub fn new(http: reqwest::Client, config: OpenAiEmbedderConfig) -> Result<Self, EmbedError> {
        if config
            .dimensions
            .is_some_and(|d| d == 0 || d > EMBEDDING_DIM)
        {
            return Err(EmbedError::Setup(format!(
                "embedding dimensions must be between 1 and {EMBEDDING_DIM}"
            )));
        }
        let model = config.model.trim().to_owned();
        let name = match config.dimensions {
            Some(d) => format!("openai/{model}@{d}"),
            None => format!("openai/{model}"),
        };
        Ok(Self {
            http,
            url: format!("{}/embeddings", config.base_url.trim_end_matches('/')),
            server_model: model,
            dimensions: config.dimensions,
            name,
            api_key: config.api_key,
            retry: RetryPolicy::default(),
        })
    }

    /// The same embedder with another retry policy (tests use short delays).
    #[must_use]
    pub const fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(OPENAI_BATCH_LIMIT) {
            let body = EmbeddingRequest {
                model: &self.server_model,
                input: batch,
                encoding_format: "float",
                dimensions: self.dimensions,
            };
            let mut response: EmbeddingResponse = self.retry.run(|| self.attempt(&body)).await?;
            response.data.sort_by_key(|d| d.index);
            let indices_ok = response.data.len() == batch.len()
                && response.data.iter().enumerate().all(|(i, d)| d.index == i);
            if !indices_ok {
                return Err(EmbedError::Invalid(format!(
                    "{} returned {} embeddings for {} inputs",
                    self.url,
                    response.data.len(),
                    batch.len()
                )));
            }
            for d in response.data {
                out.push(Embedding::normalised(d.embedding)?);
            }
        }
        Ok(out)
    }

    async fn attempt(&self, body: &EmbeddingRequest<'_>) -> Attempt<EmbeddingResponse> {
        let mut request = self
            .http
            .post(&self.url)
            .timeout(REQUEST_TIMEOUT)
            .json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport_failure("openai", &e),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_failure("openai", &e),
        };
        if status.is_success() {
            return match serde_json::from_slice(&bytes) {
                Ok(parsed) => Attempt::Done(parsed),
                Err(e) => Attempt::Fail(EmbedError::Invalid(format!(
                    "openai answered unparseable JSON: {e}"
                ))),
            };
        }
        classify_error(status.as_u16(), &headers, &bytes)
    }
}

/// The delay a 429 or 503 asked for: `retry-after-ms`, else `retry-after` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Maps an error response to retry-or-fail (llm-wire.md §3.5 and §4.2).
fn classify_error<T>(status: u16, headers: &HeaderMap, body: &[u8]) -> Attempt<T> {
    let parsed = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope::Nested { error } | ErrorEnvelope::Flat(error)) => Some(error),
        Err(_) => None,
    };
    let message = parsed.as_ref().map_or_else(
        || String::from_utf8_lossy(body).chars().take(200).collect(),
        |e| e.message.clone(),
    );
    let text = format!("openai {status}: {message}");
    let no_quota = parsed.as_ref().is_some_and(|e| {
        e.kind.as_deref() == Some("insufficient_quota")
            || e.code.as_ref().and_then(serde_json::Value::as_str) == Some("insufficient_quota")
    });
    if status == 429 && no_quota {
        return Attempt::Fail(EmbedError::Refused(format!("quota exhausted: {text}")));
    }
    if status == 429 || transient_status(status) {
        return Attempt::Retry {
            error: EmbedError::Unavailable(text),
            after: retry_after(headers),
        };
    }
    Attempt::Fail(EmbedError::Refused(text))
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedError> {
        self.embed(texts).await
    }

    async fn embed_query(&self, text: &str) -> Result<Embedding, EmbedError> {
        self.embed(&[text.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| EmbedError::Invalid("no embedding returned".into()))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn requests_match_the_documented_wire_format() {
        let input = vec!["first chunk".to_owned(), "second chunk".to_owned()];
        let body = EmbeddingRequest {
            model: "text-embedding-3-small",
            input: &input,
            encoding_format: "float",
            dimensions: Some(1536),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({ "model": "text-embedding-3-small",
                "input": ["first chunk", "second chunk"], "encoding_format": "float", "dimensions": 1536 })
        );
    }

    #[test]
    fn errors_are_classified_as_the_reference_says() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("171"));
        let rate = br#"{ "error": { "message": "Rate limit reached", "type": "tokens", "param": null, "code": "rate_limit_exceeded" } }"#;
        match classify_error::<()>(429, &headers, rate) {
            Attempt::Retry { after, .. } => assert_eq!(after, Some(Duration::from_millis(171))),
            other => panic!("{other:?}"),
        }
        let quota = br#"{ "error": { "message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota" } }"#;
        assert!(matches!(
            classify_error::<()>(429, &HeaderMap::new(), quota),
            Attempt::Fail(EmbedError::Refused(_))
        ));
        let bad_key = br#"{ "error": { "message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key" } }"#;
        assert!(matches!(
            classify_error::<()>(401, &HeaderMap::new(), bad_key),
            Attempt::Fail(EmbedError::Refused(m)) if m.contains("Incorrect API key")
        ));
        // vLLM's legacy flat shape with an integer code, and llama.cpp's 503 while loading.
        let flat = br#"{ "object": "error", "message": "bad input", "type": "BadRequestError", "param": null, "code": 400 }"#;
        assert!(matches!(
            classify_error::<()>(400, &HeaderMap::new(), flat),
            Attempt::Fail(EmbedError::Refused(m)) if m.contains("bad input")
        ));
        let loading =
            br#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
        assert!(matches!(
            classify_error::<()>(503, &HeaderMap::new(), loading),
            Attempt::Retry { .. }
        ));
    }

    #[test]
    fn the_name_records_model_and_dimensions() {
        let cfg = |dimensions| OpenAiEmbedderConfig {
            base_url: "http://127.0.0.1:9/v1/".into(),
            api_key: None,
            model: "text-embedding-3-small".into(),
            dimensions,
        };
        let e = OpenAiEmbedder::new(reqwest::Client::new(), cfg(Some(1536))).unwrap();
        assert_eq!(e.model(), "openai/text-embedding-3-small@1536");
        assert_eq!(e.url, "http://127.0.0.1:9/v1/embeddings");
        let e = OpenAiEmbedder::new(reqwest::Client::new(), cfg(None)).unwrap();
        assert_eq!(e.model(), "openai/text-embedding-3-small");
        assert!(OpenAiEmbedder::new(reqwest::Client::new(), cfg(Some(3072))).is_err());
    }
}
