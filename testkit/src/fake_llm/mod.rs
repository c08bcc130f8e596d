//! Fake LLM servers for tests and benchmarks: local axum apps on port 0 that speak the Gemini
//! API ([`FakeGemini`]) and the OpenAI Chat Completions API ([`FakeOpenAi`]) as documented in
//! `shared/reference/llm-wire.md`, built from that document and not from the client's code.
//!
//! Every fake is a [`FakeServer`] with the same small API:
//!
//! - [`FakeServer::base_url`]: what to configure as `GEMINI_BASE_URL` / `OPENAI_BASE_URL`;
//! - what it answers: [`FakeServer::push`] queues scripted replies (one per request, in order);
//!   when the queue is empty, [`FakeServer::respond_with`]'s function (if set) or the default
//!   reply ([`FakeServer::set_default`]; initially a valid `{"reply": "ok", "actions": []}`)
//!   answers. The reply types ([`GeminiReply`], [`OpenAiReply`]) hold every outcome and failure
//!   the clients must handle, each a variant;
//! - how: [`FakeServer::set_delay`] before every response; [`FakeServer::set_stream_chunks`]
//!   pieces per streamed answer (each SSE event is also split across two TCP writes, in the
//!   middle, even inside a UTF-8 character);
//! - what it got: [`FakeServer::requests`] (path, query, headers, JSON body, with
//!   [`RecordedRequest::system_text`] and [`RecordedRequest::last_user_text`] for either wire
//!   format) and [`FakeServer::request_count`]; [`FakeServer::set_recording`] turns recording
//!   off for benchmarks (the count is kept).
//!
//! A benchmark harness sets a default reply and a delay, turns recording off, and points many
//! concurrent clients at it. The server stops when the value is dropped.

pub mod gemini;
pub mod openai;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::serve::ListenerExt as _;
use serde_json::Value;

pub use gemini::{FAKE_GEMINI_KEY, FakeGemini, GeminiReply};
pub use openai::{ErrorStyle, FAKE_OPENAI_KEY, FakeOpenAi, OpenAiQuirks, OpenAiReply};

/// Pieces a streamed answer is cut into by default: enough to exercise ordering.
pub const DEFAULT_STREAM_CHUNKS: usize = 4;

/// One request a fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The path (`/v1beta/models/gemini-2.5-flash:generateContent`).
    pub path: String,
    /// The query string, if any (`alt=sse`).
    pub query: Option<String>,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The body as sent (key order preserved).
    pub body_text: String,
}

impl RecordedRequest {
    /// The value of a header (name in any case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The system instruction, in either wire format (Gemini `systemInstruction`, OpenAI's
    /// `system` message).
    #[must_use]
    pub fn system_text(&self) -> Option<&str> {
        self.body
            .pointer("/systemInstruction/parts/0/text")
            .and_then(Value::as_str)
            .or_else(|| {
                self.messages()
                    .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
                    .and_then(|m| m.get("content"))
                    .and_then(Value::as_str)
            })
    }

    /// The text of the last user turn, in either wire format.
    #[must_use]
    pub fn last_user_text(&self) -> Option<&str> {
        let gemini = self
            .body
            .get("contents")
            .and_then(Value::as_array)
            .and_then(|turns| {
                turns
                    .iter()
                    .rev()
                    .find(|t| t.get("role").and_then(Value::as_str) != Some("model"))
            })
            .and_then(|t| t.pointer("/parts/0/text"))
            .and_then(Value::as_str);
        gemini.or_else(|| {
            self.messages()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                .last()
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
        })
    }

    fn messages(&self) -> impl Iterator<Item = &Value> {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }

    fn new(path: &str, query: Option<String>, headers: &HeaderMap, body: &[u8]) -> Self {
        Self {
            path: path.to_owned(),
            query,
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            body_text: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

/// Token counts a scripted answer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeUsage {
    /// Prompt tokens.
    pub prompt: u32,
    /// Answer tokens.
    pub output: u32,
    /// Thinking tokens (Gemini's `thoughtsTokenCount`; OpenAI counts them in the output).
    pub thoughts: u32,
}

impl Default for FakeUsage {
    fn default() -> Self {
        Self {
            prompt: 120,
            output: 30,
            thoughts: 0,
        }
    }
}

/// A function that computes a reply from the request.
pub type Responder<R> = Arc<dyn Fn(&RecordedRequest) -> R + Send + Sync>;

/// What a fake answers and how.
struct Script<R> {
    queue: VecDeque<R>,
    default: R,
    responder: Option<Responder<R>>,
    delay: Duration,
    chunks: usize,
    record: bool,
    requests: Vec<RecordedRequest>,
    retired: HashSet<String>,
    required_key: Option<String>,
    quirks: OpenAiQuirks,
}

/// The shared state of a fake server.
pub struct Control<R> {
    script: Mutex<Script<R>>,
    count: AtomicUsize,
}

/// How one request is to be answered.
struct Turn<R> {
    reply: R,
    delay: Duration,
    chunks: usize,
}

impl<R: Clone> Control<R> {
    fn new(default: R, required_key: Option<String>) -> Self {
        Self {
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                default,
                responder: None,
                delay: Duration::ZERO,
                chunks: DEFAULT_STREAM_CHUNKS,
                record: true,
                requests: Vec::new(),
                retired: HashSet::new(),
                required_key,
                quirks: OpenAiQuirks::default(),
            }),
            count: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Script<R>> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request and picks its reply.
    fn take(&self, request: RecordedRequest) -> Turn<R> {
        self.count.fetch_add(1, Ordering::SeqCst);
        let (queued, responder, default, delay, chunks) = {
            let mut s = self.lock();
            if s.record {
                s.requests.push(request.clone());
            }
            (
                s.queue.pop_front(),
                s.responder.clone(),
                s.default.clone(),
                s.delay,
                s.chunks,
            )
        };
        let reply = queued
            .or_else(|| responder.map(|f| f(&request)))
            .unwrap_or(default);
        Turn {
            reply,
            delay,
            chunks,
        }
    }

    fn retired(&self, model: &str) -> bool {
        self.lock().retired.contains(model)
    }

    fn required_key(&self) -> Option<String> {
        self.lock().required_key.clone()
    }

    fn quirks(&self) -> OpenAiQuirks {
        self.lock().quirks
    }
}

/// A running fake server answering replies of type `R`.
pub struct FakeServer<R> {
    addr: SocketAddr,
    base_path: &'static str,
    control: Arc<Control<R>>,
    task: tokio::task::JoinHandle<()>,
}

impl<R> std::fmt::Debug for FakeServer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<R> Drop for FakeServer<R> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<R: Clone + Send + 'static> FakeServer<R> {
    /// Binds port 0 on 127.0.0.1 and serves `router`.
    ///
    /// # Panics
    /// When no local port can be bound.
    #[expect(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    async fn spawn(
        router: axum::Router,
        base_path: &'static str,
        control: Arc<Control<R>>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding a local port for the fake LLM server");
        let addr = listener.local_addr().expect("the fake server's address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(|tcp| drop(tcp.set_nodelay(true))), router).await;
        });
        Self {
            addr,
            base_path,
            control,
            task,
        }
    }

    /// The base URL to configure (`http://127.0.0.1:PORT/v1beta` or `.../v1`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.base_path)
    }

    /// The address the server listens on.
    #[must_use]
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply for the next request (replies are used in the order they were pushed).
    pub fn push(&self, reply: R) {
        self.control.lock().queue.push_back(reply);
    }

    /// The reply when the queue is empty and no responder is set.
    pub fn set_default(&self, reply: R) {
        self.control.lock().default = reply;
    }

    /// Computes the reply from the request when the queue is empty.
    pub fn respond_with(&self, f: impl Fn(&RecordedRequest) -> R + Send + Sync + 'static) {
        self.control.lock().responder = Some(Arc::new(f));
    }

    /// Waits this long before every response.
    pub fn set_delay(&self, delay: Duration) {
        self.control.lock().delay = delay;
    }

    /// Cuts streamed answers into this many pieces (at least 1).
    pub fn set_stream_chunks(&self, chunks: usize) {
        self.control.lock().chunks = chunks.max(1);
    }

    /// Answers requests for `model` with 404, as for a retired model.
    pub fn retire_model(&self, model: &str) {
        self.control.lock().retired.insert(model.to_owned());
    }

    /// Requires this API key (`None`: accept any request, like a local server).
    pub fn set_required_key(&self, key: Option<&str>) {
        self.control.lock().required_key = key.map(str::to_owned);
    }

    /// Records requests (on by default); the count is kept either way.
    pub fn set_recording(&self, on: bool) {
        self.control.lock().record = on;
    }

    /// The requests received so far (while recording).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.control.lock().requests.clone()
    }

    /// How many requests were received.
    #[must_use]
    pub fn request_count(&self) -> usize {
        self.control.count.load(Ordering::SeqCst)
    }
}

/// Splits `text` into `n` pieces of about equal length, on character boundaries (fewer when
/// the text is shorter).
fn split_text(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(n.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// A streamed body: each event is written in two halves (split in the middle byte, even
/// inside a UTF-8 character), yielding between writes so they leave as separate TCP writes;
/// with `cut`, the connection is broken after the last piece instead of ending cleanly.
fn paced_body(events: Vec<Vec<u8>>, cut: bool) -> Body {
    let mut pieces: VecDeque<Bytes> = VecDeque::new();
    for event in events {
        let mid = event.len() / 2;
        let (a, b) = event.split_at(mid);
        for half in [a, b] {
            if !half.is_empty() {
                pieces.push_back(Bytes::copy_from_slice(half));
            }
        }
    }
    let stream = futures::stream::unfold((pieces, cut), |(mut pieces, cut)| async move {
        tokio::task::yield_now().await;
        match pieces.pop_front() {
            Some(piece) => Some((Ok(piece), (pieces, cut))),
            None if cut => Some((
                Err(std::io::Error::other("the fake server cut the stream")),
                (pieces, false),
            )),
            None => None,
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn recorded_requests_expose_the_prompt_in_both_formats() {
        let headers = HeaderMap::new();
        let gemini = json!({
            "systemInstruction": { "parts": [ { "text": "rules" } ] },
            "contents": [
                { "role": "user", "parts": [ { "text": "first" } ] },
                { "role": "model", "parts": [ { "text": "answer" } ] },
                { "role": "user", "parts": [ { "text": "second" } ] } ] });
        let r = RecordedRequest::new("/", None, &headers, gemini.to_string().as_bytes());
        assert_eq!(
            (r.system_text(), r.last_user_text()),
            (Some("rules"), Some("second"))
        );
        let openai = json!({ "messages": [
            { "role": "system", "content": "rules" },
            { "role": "user", "content": "first" },
            { "role": "assistant", "content": "answer" },
            { "role": "user", "content": "second" } ] });
        let r = RecordedRequest::new("/", None, &headers, openai.to_string().as_bytes());
        assert_eq!(
            (r.system_text(), r.last_user_text()),
            (Some("rules"), Some("second"))
        );
    }

    #[test]
    fn text_splits_on_char_boundaries() {
        assert_eq!(split_text("abcdefgh", 4), vec!["ab", "cd", "ef", "gh"]);
        assert_eq!(split_text("☕🍝", 4), vec!["☕", "🍝"]);
        assert_eq!(split_text("", 3), vec![""]);
    }
}
