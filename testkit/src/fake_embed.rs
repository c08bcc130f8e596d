//! A local fake of the embedding APIs of Gemini and OpenAI-compatible servers, speaking their
//! documented wire formats (`../shared/reference/llm-wire.md` §2 and §3.6), for tests of the
//! `gemini` and `openai` embedders. Bound on 127.0.0.1 port 0, stopped on drop.
//!
//! - `POST /v1beta/models/{model}:batchEmbedContents` and `...:embedContent`: key in
//!   `x-goog-api-key` or `?key=` ([`FAKE_API_KEY`]; none: 403 `PERMISSION_DENIED`, a wrong one:
//!   400 `API_KEY_INVALID`); more than 100 requests or a `requests[].model` other than the URL's:
//!   400. Vectors have `outputDimensionality` values (3072 without it) and are *not* normalised,
//!   as the real API's reduced-dimension vectors are not.
//! - `POST /v1/embeddings`: `Authorization: Bearer` [`FAKE_API_KEY`] (else 401
//!   `invalid_api_key`); more than 2048 inputs: 400; `dimensions` honoured (1536 without it);
//!   `data` returned in reverse order, so a client that ignores `index` gets it wrong.
//!
//! A vector is [`fake_vector`] of the text: words hashed into buckets, so texts sharing words are
//! similar, deterministic, and tests can compute what to expect. Scripted failures
//! ([`FakeEmbedServer::fail_next`]) are answered, in order, before any normal response; every
//! request is recorded ([`FakeEmbedServer::requests`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};

/// The only key the fake accepts.
pub const FAKE_API_KEY: &str = "fake-embedding-key";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The path, e.g. `/v1/embeddings`.
    pub path: String,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
}

/// A scripted failure: status, headers and body, answered instead of the next request.
#[derive(Clone, Debug)]
pub struct ScriptedFailure {
    /// HTTP status.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Response body, sent as is.
    pub body: String,
}

#[derive(Default)]
struct Shared {
    failures: Mutex<VecDeque<ScriptedFailure>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// The running fake.
pub struct FakeEmbedServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeEmbedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEmbedServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeEmbedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The fake's vector for `text`: lower-cased alphanumeric words hashed (FNV-1a) into `dims`
/// buckets, each bucket +3 or -3 by the hash's sign bit; `[3, 0, ...]` for a text without words.
#[must_use]
pub fn fake_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0.0_f32; dims.max(1)];
    let mut any = false;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = word
            .to_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        let bucket = usize::try_from(h % dims.max(1) as u64).unwrap_or(0);
        v[bucket] += if h >> 63 == 1 { -3.0 } else { 3.0 };
        any = true;
    }
    if !any {
        v[0] = 3.0;
    }
    v
}

impl FakeEmbedServer {
    /// Starts the fake on a free port.
    ///
    /// # Panics
    /// When no local port can be bound.
    #[expect(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1beta/models/{action}", post(gemini))
            .route("/v1/embeddings", post(openai))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake embedding server");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(|tcp| drop(tcp.set_nodelay(true))), app).await;
        });
        Self {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Base URL for the Gemini embedder (`.../v1beta`).
    #[must_use]
    pub fn gemini_base_url(&self) -> String {
        format!("{}/v1beta", self.url)
    }

    /// Base URL for the OpenAI-compatible embedder (`.../v1`).
    #[must_use]
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// Answers the next request with this failure instead (failures queue up in order).
    pub fn fail_next(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        lock(&self.shared.failures).push_back(ScriptedFailure {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_owned(),
        });
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records the request and returns the scripted failure due, if any.
fn record(shared: &Shared, path: String, body: &Bytes) -> Option<Response> {
    lock(&shared.requests).push(RecordedRequest {
        path,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    let failure = lock(&shared.failures).pop_front()?;
    let mut response = (
        StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        failure.body,
    )
        .into_response();
    for (k, v) in failure.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            response.headers_mut().insert(k, v);
        }
    }
    Some(response)
}

fn gemini_error(status: StatusCode, name: &str, message: &str, reason: Option<&str>) -> Response {
    let details: Vec<Value> = reason
        .map(|r| {
            vec![
                json!({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": r,
                         "domain": "googleapis.com" }),
            ]
        })
        .unwrap_or_default();
    (
        status,
        axum::Json(
            json!({ "error": { "code": status.as_u16(), "message": message,
                                      "status": name, "details": details } }),
        ),
    )
        .into_response()
}

async fn gemini(
    State(shared): State<Arc<Shared>>,
    Path(action): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = record(&shared, format!("/v1beta/models/{action}"), &body) {
        return failure;
    }
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query.as_deref().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("key=").map(str::to_owned))
            })
        });
    match key.as_deref() {
        None => {
            return gemini_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity).",
                None,
            );
        }
        Some(k) if k != FAKE_API_KEY => {
            return gemini_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                Some("API_KEY_INVALID"),
            );
        }
        Some(_) => {}
    }
    let Some((model, method)) = action.split_once(':') else {
        return gemini_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method", None);
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
            None,
        );
    };
    let embed = |req: &Value| -> Result<Value, String> {
        let text: String = req["content"]["parts"]
            .as_array()
            .ok_or("content.parts is required")?
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let dims = req["outputDimensionality"]
            .as_u64()
            .and_then(|d| usize::try_from(d).ok())
            .unwrap_or(3072);
        Ok(json!({ "values": fake_vector(&text, dims) }))
    };
    match method {
        "embedContent" => match embed(&body) {
            Ok(e) => axum::Json(json!({ "embedding": e })).into_response(),
            Err(m) => gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &m, None),
        },
        "batchEmbedContents" => {
            let requests = body["requests"].as_array().cloned().unwrap_or_default();
            if requests.len() > 100 {
                return gemini_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n",
                    None,
                );
            }
            let expected = format!("models/{model}");
            let mut embeddings = Vec::new();
            for req in &requests {
                if req["model"].as_str() != Some(expected.as_str()) {
                    return gemini_error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT",
                        "The model in each request must match the model of the batch.",
                        None,
                    );
                }
                match embed(req) {
                    Ok(e) => embeddings.push(e),
                    Err(m) => {
                        return gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &m, None);
                    }
                }
            }
            axum::Json(json!({ "embeddings": embeddings })).into_response()
        }
        _ => gemini_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method", None),
    }
}

fn openai_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
        ),
    )
        .into_response()
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(failure) = record(&shared, "/v1/embeddings".into(), &body) {
        return failure;
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(FAKE_API_KEY) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            "We could not parse the JSON body of your request.",
        );
    };
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if inputs.is_empty() || inputs.len() > 2048 || inputs.iter().any(String::is_empty) {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_input",
            "'input' must hold 1 to 2048 non-empty strings.",
        );
    }
    let dims = body["dimensions"]
        .as_u64()
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(1536);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| json!({ "object": "embedding", "index": i, "embedding": fake_vector(text, dims) }))
        .collect();
    axum::Json(
        json!({ "object": "list", "data": data, "model": body["model"],
                       "usage": { "prompt_tokens": 1, "total_tokens": 1 } }),
    )
    .into_response()
}
