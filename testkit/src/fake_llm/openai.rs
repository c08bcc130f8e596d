//! A fake OpenAI-compatible server: `POST /v1/chat/completions`, plain or streamed (a role
//! chunk, content deltas, a finish chunk, a usage chunk when `stream_options.include_usage`,
//! then `data: [DONE]`), as `shared/reference/llm-wire.md` §3 and its §5 checklist describe.
//!
//! Like OpenAI it checks the bearer key (401 `invalid_api_key`; [`FakeServer::set_required_key`]
//! with `None` makes it a keyless local server), answers 404 `model_not_found` for a retired
//! model, and rejects a `json_schema` response format without the nested `json_schema.schema`
//! or, with `strict: true`, with an object that is not closed (`additionalProperties: false`)
//! or does not list every property as required. [`OpenAiQuirks`] make it behave like servers
//! that reject `max_tokens` (OpenAI reasoning models), `max_completion_tokens` (older local
//! servers), `json_schema` (servers without structured output), a non-default `temperature`,
//! or `stream_options`. Error bodies come in each server's shape ([`ErrorStyle`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Control, FakeServer, FakeUsage, RecordedRequest, paced_body, split_text};

/// The key the fake OpenAI accepts by default (configure it as `OPENAI_API_KEY`).
pub const FAKE_OPENAI_KEY: &str = "fake-openai-key";

/// A fake OpenAI-compatible server.
pub type FakeOpenAi = FakeServer<OpenAiReply>;

/// Request parameters the fake rejects with a 400, like some real servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenAiQuirks {
    /// `max_tokens` is unsupported (OpenAI's reasoning models).
    pub reject_max_tokens: bool,
    /// `max_completion_tokens` is unknown (older local servers).
    pub reject_max_completion_tokens: bool,
    /// `response_format.type = json_schema` is unsupported.
    pub reject_json_schema: bool,
    /// Only the default `temperature` is supported.
    pub reject_temperature: bool,
    /// `stream_options` is unknown.
    pub reject_stream_options: bool,
}

/// The shape of an error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error": {message, type, param, code: "string" | null}}`.
    OpenAi,
    /// vLLM today: `{"error": {message, type, param, code: <HTTP status>}}`.
    VllmNested,
    /// Older vLLM: `{"object": "error", message, type, param, code: <HTTP status>}`.
    VllmFlat,
    /// llama.cpp: `{"error": {code: <HTTP status>, message, type}}`.
    LlamaCpp,
    /// Ollama: `{"error": {message, type: "api_error", param: null, code: null}}`.
    Ollama,
}

/// What the fake OpenAI answers to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum OpenAiReply {
    /// A finished answer (`finish_reason: stop`) whose content is `content`.
    Text {
        /// The model's output (usually a JSON object as text).
        content: String,
        /// The token counts reported.
        usage: FakeUsage,
    },
    /// An answer cut by the token limit (`finish_reason: length`).
    Length {
        /// The text written before the cut.
        content: String,
    },
    /// An answer stopped by the content filter after `after`.
    ContentFilter {
        /// Text written before the filter.
        after: String,
    },
    /// A refusal (`message.refusal`), as for a strict-schema request the model will not answer.
    Refusal {
        /// The refusal text.
        text: String,
    },
    /// A tool call; streamed, its arguments arrive in fragments.
    ToolCall {
        /// The function's name.
        name: String,
        /// The arguments (a JSON string).
        arguments: String,
    },
    /// 429 `rate_limit_exceeded` with `retry-after-ms`, `retry-after` and `x-ratelimit-*`.
    RateLimited {
        /// The delay in milliseconds.
        retry_after_ms: u64,
    },
    /// 429 `insufficient_quota`.
    InsufficientQuota,
    /// An HTTP error in a server's shape.
    Error {
        /// HTTP status.
        status: u16,
        /// The body's shape.
        style: ErrorStyle,
        /// The message.
        message: String,
    },
    /// 502 with a non-JSON body, as from a proxy.
    BadGateway,
    /// A stream that sends `after`, then an error: `data: {"error": ...}`, or with `bare` a
    /// JSON body without SSE framing (Ollama). Without streaming: a 500.
    StreamError {
        /// Text streamed before the error.
        after: String,
        /// Bare JSON instead of an SSE event.
        bare: bool,
    },
    /// A stream that sends `after`, then breaks the connection (no finish, no `[DONE]`).
    StreamCut {
        /// Text streamed before the cut.
        after: String,
    },
}

impl OpenAiReply {
    /// A finished answer whose content is `output` serialised.
    #[must_use]
    pub fn output(output: &Value) -> Self {
        Self::text(&output.to_string())
    }

    /// A finished answer with this content and default usage.
    #[must_use]
    pub fn text(content: &str) -> Self {
        Self::Text {
            content: content.to_owned(),
            usage: FakeUsage::default(),
        }
    }

    /// An error in OpenAI's shape.
    #[must_use]
    pub fn error(status: u16, message: &str) -> Self {
        Self::Error {
            status,
            style: ErrorStyle::OpenAi,
            message: message.to_owned(),
        }
    }
}

impl FakeServer<OpenAiReply> {
    /// Starts a fake OpenAI-compatible server on a free local port; it requires
    /// [`FAKE_OPENAI_KEY`] and answers `{"reply": "ok", "actions": []}` until told otherwise.
    pub async fn start() -> Self {
        let control = Arc::new(Control::new(
            OpenAiReply::output(&json!({ "reply": "ok", "actions": [] })),
            Some(FAKE_OPENAI_KEY.to_owned()),
        ));
        let router = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(Arc::clone(&control));
        Self::spawn(router, "/v1", control).await
    }

    /// Sets the parameters the server rejects.
    pub fn set_quirks(&self, quirks: OpenAiQuirks) {
        self.control.lock().quirks = quirks;
    }
}

fn error_json(
    status: u16,
    style: ErrorStyle,
    message: &str,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Value {
    match style {
        ErrorStyle::OpenAi => {
            json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
        }
        ErrorStyle::VllmNested => {
            json!({ "error": { "message": message, "type": "BadRequestError", "param": param, "code": status } })
        }
        ErrorStyle::VllmFlat => json!({ "object": "error", "message": message,
            "type": "BadRequestError", "param": param, "code": status }),
        ErrorStyle::LlamaCpp => {
            let kind = match status {
                401 => "authentication_error",
                404 => "not_found_error",
                503 => "unavailable_error",
                s if s >= 500 => "server_error",
                _ => "invalid_request_error",
            };
            json!({ "error": { "code": status, "message": message, "type": kind } })
        }
        ErrorStyle::Ollama => {
            json!({ "error": { "message": message, "type": "api_error", "param": null, "code": null } })
        }
    }
}

fn error_response(status: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    error_response(
        400,
        &error_json(
            400,
            ErrorStyle::OpenAi,
            message,
            "invalid_request_error",
            code,
            param,
        ),
    )
}

async fn handle(
    State(control): State<Arc<Control<OpenAiReply>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RecordedRequest::new("/v1/chat/completions", None, &headers, &body);
    let turn = control.take(request.clone());
    if !turn.delay.is_zero() {
        tokio::time::sleep(turn.delay).await;
    }
    if let Some(required) = control.required_key() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(required.as_str()) {
            let shown: String = given.unwrap_or("").chars().take(4).collect();
            return error_response(
                401,
                &error_json(
                    401,
                    ErrorStyle::OpenAi,
                    &format!(
                        "Incorrect API key provided: {shown}***. You can find your API key at https://platform.openai.com/account/api-keys."
                    ),
                    "invalid_request_error",
                    Some("invalid_api_key"),
                    None,
                ),
            );
        }
    }
    let body = &request.body;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return invalid("you must provide a model parameter", Some("model"), None);
    }
    if control.retired(model) {
        return error_response(
            404,
            &error_json(
                404,
                ErrorStyle::OpenAi,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                Some("model_not_found"),
                None,
            ),
        );
    }
    let quirks = control.quirks();
    if quirks.reject_max_tokens && body.get("max_tokens").is_some() {
        return invalid(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            Some("max_tokens"),
            Some("unsupported_parameter"),
        );
    }
    if quirks.reject_max_completion_tokens && body.get("max_completion_tokens").is_some() {
        return invalid(
            "Unrecognized request argument supplied: max_completion_tokens",
            None,
            None,
        );
    }
    if quirks.reject_temperature
        && body
            .get("temperature")
            .and_then(Value::as_f64)
            .is_some_and(|t| (t - 1.0).abs() > f64::EPSILON)
    {
        return invalid(
            "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.",
            Some("temperature"),
            Some("unsupported_value"),
        );
    }
    if quirks.reject_stream_options && body.get("stream_options").is_some() {
        return invalid(
            "Unrecognized request argument supplied: stream_options",
            None,
            None,
        );
    }
    let format = body.get("response_format");
    let format_type = format.and_then(|f| f.get("type")).and_then(Value::as_str);
    if format_type == Some("json_schema") {
        if quirks.reject_json_schema {
            return invalid(
                "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                Some("response_format"),
                None,
            );
        }
        let spec = format.and_then(|f| f.get("json_schema"));
        let Some(schema) = spec.and_then(|s| s.get("schema")) else {
            return invalid(
                "Missing required parameter: 'response_format.json_schema'.",
                Some("response_format.json_schema"),
                Some("missing_required_parameter"),
            );
        };
        if spec
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .is_none()
        {
            return invalid(
                "Missing required parameter: 'response_format.json_schema.name'.",
                Some("response_format.json_schema.name"),
                Some("missing_required_parameter"),
            );
        }
        let strict = spec.and_then(|s| s.get("strict")).and_then(Value::as_bool) == Some(true);
        if strict && let Err(message) = check_strict(schema, "()") {
            return invalid(
                &format!("Invalid schema for response_format 'concierge_reply': {message}"),
                Some("response_format"),
                Some("invalid_json_schema"),
            );
        }
    }
    if body
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return invalid(
            "'messages' must contain at least one message.",
            Some("messages"),
            None,
        );
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    answer(turn.reply, model, stream, include_usage, turn.chunks)
}

/// OpenAI's strict-mode rules: every object closed, every property required.
fn check_strict(schema: &Value, context: &str) -> Result<(), String> {
    let Some(node) = schema.as_object() else {
        return Ok(());
    };
    let is_object = node.get("type").and_then(Value::as_str) == Some("object")
        || node.contains_key("properties");
    if is_object {
        if node.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(format!(
                "In context={context}, 'additionalProperties' is required to be supplied and to be false."
            ));
        }
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            if let Some(missing) = props.keys().find(|k| !required.contains(&k.as_str())) {
                return Err(format!(
                    "In context={context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'."
                ));
            }
            for (name, prop) in props {
                check_strict(prop, &format!("{context}.properties.{name}"))?;
            }
        }
    }
    if let Some(items) = node.get("items") {
        check_strict(items, &format!("{context}.items"))?;
    }
    if let Some(alternatives) = node.get("anyOf").and_then(Value::as_array) {
        for (i, alt) in alternatives.iter().enumerate() {
            check_strict(alt, &format!("{context}.anyOf.{i}"))?;
        }
    }
    Ok(())
}

fn usage_json(usage: FakeUsage) -> Value {
    let output = usage.output + usage.thoughts;
    json!({
        "prompt_tokens": usage.prompt,
        "completion_tokens": output,
        "total_tokens": usage.prompt + output,
        "completion_tokens_details": { "reasoning_tokens": usage.thoughts },
    })
}

fn completion(model: &str, message: &Value, finish: &str, usage: FakeUsage) -> Response {
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": model,
        "choices": [ { "index": 0, "message": message, "logprobs": null, "finish_reason": finish } ],
        "usage": usage_json(usage),
        "system_fingerprint": "fp_fake",
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Builds the SSE frames of a stream.
struct Frames {
    model: String,
    include_usage: bool,
    frames: Vec<Vec<u8>>,
}

impl Frames {
    fn new(model: &str, include_usage: bool) -> Self {
        let mut f = Self {
            model: model.to_owned(),
            include_usage,
            frames: Vec::new(),
        };
        f.choice(&json!({ "role": "assistant", "content": "" }), None);
        f
    }

    fn event(&mut self, data: &Value) {
        self.frames.push(format!("data: {data}\n\n").into_bytes());
    }

    fn choice(&mut self, delta: &Value, finish: Option<&str>) {
        let mut chunk = json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_767_225_600,
            "model": self.model,
            "choices": [ { "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish } ],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        self.event(&chunk);
    }

    fn content(&mut self, text: &str, pieces: usize) {
        if text.is_empty() {
            return;
        }
        for piece in split_text(text, pieces) {
            self.choice(&json!({ "content": piece }), None);
        }
    }

    fn finish(mut self, reason: &str, usage: FakeUsage) -> Vec<Vec<u8>> {
        self.choice(&json!({}), Some(reason));
        if self.include_usage {
            let chunk = json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_767_225_600,
                "model": self.model,
                "choices": [],
                "usage": usage_json(usage),
            });
            self.event(&chunk);
        }
        self.frames.push(b"data: [DONE]\n\n".to_vec());
        self.frames
    }
}

fn sse(frames: Vec<Vec<u8>>, cut: bool) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(paced_body(frames, cut))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn answer(
    reply: OpenAiReply,
    model: &str,
    stream: bool,
    include_usage: bool,
    pieces: usize,
) -> Response {
    let frames = || Frames::new(model, include_usage);
    match reply {
        OpenAiReply::Text { content, usage } => {
            if stream {
                let mut f = frames();
                f.content(&content, pieces);
                sse(f.finish("stop", usage), false)
            } else {
                completion(
                    model,
                    &json!({ "role": "assistant", "content": content, "refusal": null }),
                    "stop",
                    usage,
                )
            }
        }
        OpenAiReply::Length { content } => {
            if stream {
                let mut f = frames();
                f.content(&content, pieces);
                sse(f.finish("length", FakeUsage::default()), false)
            } else {
                completion(
                    model,
                    &json!({ "role": "assistant", "content": content }),
                    "length",
                    FakeUsage::default(),
                )
            }
        }
        OpenAiReply::ContentFilter { after } => {
            if stream {
                let mut f = frames();
                f.content(&after, pieces);
                sse(f.finish("content_filter", FakeUsage::default()), false)
            } else {
                completion(
                    model,
                    &json!({ "role": "assistant", "content": after }),
                    "content_filter",
                    FakeUsage::default(),
                )
            }
        }
        OpenAiReply::Refusal { text } => {
            if stream {
                let mut f = frames();
                for piece in split_text(&text, pieces) {
                    f.choice(&json!({ "refusal": piece }), None);
                }
                sse(f.finish("stop", FakeUsage::default()), false)
            } else {
                completion(
                    model,
                    &json!({ "role": "assistant", "content": null, "refusal": text }),
                    "stop",
                    FakeUsage::default(),
                )
            }
        }
        OpenAiReply::ToolCall { name, arguments } => {
            if stream {
                let mut f = frames();
                f.choice(
                    &json!({ "tool_calls": [ { "index": 0, "id": "call_fake", "type": "function",
                        "function": { "name": name, "arguments": "" } } ] }),
                    None,
                );
                for piece in split_text(&arguments, pieces) {
                    f.choice(
                        &json!({ "tool_calls": [ { "index": 0, "function": { "arguments": piece } } ] }),
                        None,
                    );
                }
                sse(f.finish("tool_calls", FakeUsage::default()), false)
            } else {
                completion(
                    model,
                    &json!({ "role": "assistant", "content": null, "tool_calls": [ { "id": "call_fake",
                        "type": "function", "function": { "name": name, "arguments": arguments } } ] }),
                    "tool_calls",
                    FakeUsage::default(),
                )
            }
        }
        OpenAiReply::RateLimited { retry_after_ms } => {
            let body = error_json(
                429,
                ErrorStyle::OpenAi,
                &format!(
                    "Rate limit reached for {model} in organization org-fake on tokens per min (TPM): Limit 200000, Used 199120, Requested 1450. Please try again in {retry_after_ms}ms."
                ),
                "tokens",
                Some("rate_limit_exceeded"),
                None,
            );
            let seconds = retry_after_ms.div_ceil(1000).to_string();
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::CONTENT_TYPE.as_str(), "application/json".to_owned()),
                    ("retry-after-ms", retry_after_ms.to_string()),
                    ("retry-after", seconds),
                    ("x-ratelimit-limit-tokens", "200000".to_owned()),
                    ("x-ratelimit-remaining-tokens", "880".to_owned()),
                    ("x-ratelimit-reset-tokens", format!("{retry_after_ms}ms")),
                ],
                body.to_string(),
            )
                .into_response()
        }
        OpenAiReply::InsufficientQuota => error_response(
            429,
            &error_json(
                429,
                ErrorStyle::OpenAi,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
                None,
            ),
        ),
        OpenAiReply::Error {
            status,
            style,
            message,
        } => {
            let kind = if status >= 500 {
                "server_error"
            } else {
                "invalid_request_error"
            };
            error_response(
                status,
                &error_json(status, style, &message, kind, None, None),
            )
        }
        OpenAiReply::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        OpenAiReply::StreamError { after, bare } => {
            let error = error_json(
                500,
                ErrorStyle::OpenAi,
                "The server had an error while processing your request.",
                "server_error",
                None,
                None,
            );
            if !stream {
                return error_response(500, &error);
            }
            let mut f = frames();
            f.content(&after, pieces);
            let mut frames = f.frames;
            if bare {
                frames.push(format!("{error}\n").into_bytes());
            } else {
                frames.push(format!("data: {error}\n\n").into_bytes());
            }
            sse(frames, false)
        }
        OpenAiReply::StreamCut { after } => {
            if stream {
                let mut f = frames();
                f.content(&after, pieces);
                sse(f.frames, true)
            } else {
                let text =
                    json!({ "choices": [ { "message": { "content": after } } ] }).to_string();
                let half = text.as_bytes()[..text.len() / 2].to_vec();
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(paced_body(vec![half], true))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rules_match_openai() {
        let ok = json!({ "type": "object", "properties": { "a": { "type": "string" } },
            "required": ["a"], "additionalProperties": false });
        check_strict(&ok, "()").unwrap();
        let open = json!({ "type": "object", "properties": { "a": { "type": "string" } }, "required": ["a"] });
        assert!(
            check_strict(&open, "()")
                .unwrap_err()
                .contains("additionalProperties")
        );
        let optional = json!({ "type": "object", "properties": { "a": {}, "b": {} },
            "required": ["a"], "additionalProperties": false });
        assert!(
            check_strict(&optional, "()")
                .unwrap_err()
                .contains("Missing 'b'")
        );
        let nested = json!({ "type": "array", "items": { "anyOf": [ open ] } });
        assert!(check_strict(&nested, "()").is_err());
    }
}
