//! The OpenAI-compatible provider: `POST {base}/chat/completions` as served by OpenAI, Ollama,
//! vLLM and llama.cpp's server, wire format in [`wire`].
//!
//! - **Output shape.** `response_format: {type: json_schema, json_schema: {name, strict: true,
//!   schema}}`, the nested form every server reads (llama.cpp ignores the flat one). OpenAI's
//!   strict mode accepts a subset of JSON Schema, so the output schema is rewritten by
//!   [`strict_schema`]: every object gets `additionalProperties: false` and lists all its
//!   properties as required, optional ones becoming nullable (a null parameter means "not
//!   given" when the output is parsed), and keywords outside the subset are dropped (the action
//!   registry checks them after parsing). The rewritten schema is still standard JSON Schema,
//!   which local servers turn into a grammar. Properties are sent in order, `reply` first, so
//!   the reply streams before the actions. With `OPENAI_JSON_MODE=json_object` (servers without
//!   schema support) the request asks for `{type: json_object}` and the schema is written into
//!   the system message instead.
//! - **Adapting to the server.** Servers differ in what they accept, and say so with a 400. The
//!   provider adapts once per setting and remembers it for later requests: a rejected token
//!   parameter switches between `max_tokens` and `max_completion_tokens`; a rejected
//!   `temperature` (reasoning models accept only their default) is left out; a rejected
//!   `response_format`/`json_schema` falls back to `json_object`; rejected `stream_options` are
//!   left out. Each switch happens at most once, so a 400 never loops.
//! - **Streaming.** `stream: true` with `stream_options.include_usage`: content deltas, a chunk
//!   with `finish_reason`, an optional usage chunk with no choices, then `data: [DONE]`. An error
//!   may arrive as an SSE event (`data: {"error": ...}`) or as bare JSON (Ollama); a stream that
//!   ends with neither `[DONE]` nor a finish reason was cut.
//! - **Outcomes.** A `refusal` or `finish_reason: content_filter` is a block
//!   ([`Finish::Blocked`](super::Finish::Blocked)); `length` cuts the reply
//!   ([`Finish::MaxTokens`](super::Finish::MaxTokens)); anything else ends normally and the
//!   parse decides.
//! - **Errors.** 401: invalid key; 403: denied; 404: unknown model or wrong base URL; 429 with
//!   `insufficient_quota`: quota exhausted at once, other 429s wait `retry-after-ms` or
//!   `retry-after`; 408, 409 and 5xx are transient (unless `x-should-retry: false`); other 4xx
//!   are refused requests. Error bodies come in OpenAI's, vLLM's (nested or flat, numeric
//!   `code`), llama.cpp's and Ollama's shapes, or as plain text.

pub mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use self::wire::{
    ApiError, ChatChunk, ChatCompletion, ChatMessage, ChatRequest, ChatUsage, FinishReason,
    JsonSchemaFormat, ResponseFormat, StreamOptions,
};
use super::config::{CallSettings, JsonMode, OpenAiConfig, TokenParam};
use super::generation::{self, CallOutput, CallRequest, Flow, ModelApi, Speaker, Stop, TextStream};
use super::schema::{Ordered, property_order};
use super::sse::{SseDecoder, SseItem};
use super::transport::{self, Failure};
use super::{DeltaSink, LlmError, LlmProvider, LlmResponse, Usage};
use crate::prompt::Prompt;

/// What the logs and error messages call this provider.
const PROVIDER: &str = "the OpenAI-compatible server";
/// The name of the output schema in `response_format`.
const SCHEMA_NAME: &str = "concierge_reply";
/// Keywords OpenAI's strict structured outputs accept; others are dropped from the schema.
const STRICT_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "anyOf",
    "items",
    "description",
    "title",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "$defs",
    "$ref",
];
/// A `retry-after` beyond this is not a rate-limit delay but garbage, and is ignored.
const MAX_HEADER_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Rewrites a JSON Schema for OpenAI's strict mode (see the module documentation).
#[must_use]
pub fn strict_schema(schema: &Value) -> Value {
    let Value::Object(node) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in node {
        let key = if key == "oneOf" {
            "anyOf"
        } else {
            key.as_str()
        };
        if !STRICT_KEYWORDS.contains(&key) || matches!(key, "properties" | "required") {
            continue;
        }
        let value = match (key, value) {
            ("anyOf", Value::Array(alternatives)) => {
                Value::Array(alternatives.iter().map(strict_schema).collect())
            }
            ("items", items) => strict_schema(items),
            ("$defs", Value::Object(defs)) => Value::Object(
                defs.iter()
                    .map(|(k, v)| (k.clone(), strict_schema(v)))
                    .collect(),
            ),
            (_, other) => other.clone(),
        };
        out.insert(key.to_owned(), value);
    }
    let is_object = node.get("type").and_then(Value::as_str) == Some("object")
        || node.contains_key("properties");
    if is_object {
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = node.get("properties").and_then(Value::as_object);
        let order = property_order(node);
        let mut strict_properties = Map::new();
        for key in &order {
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                let converted = strict_schema(property);
                let converted = if required.contains(&key.as_str()) {
                    converted
                } else {
                    nullable(converted)
                };
                strict_properties.insert(key.clone(), converted);
            }
        }
        out.insert("properties".into(), Value::Object(strict_properties));
        out.insert("required".into(), json!(order));
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// A schema that also allows null.
fn nullable(schema: Value) -> Value {
    let null_schema = json!({ "type": "null" });
    let allows_null = match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        _ => false,
    } || schema
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(|alts| alts.contains(&null_schema));
    if allows_null {
        return schema;
    }
    if let Value::Object(mut node) = schema {
        if let Some(Value::Array(alternatives)) = node.get_mut("anyOf") {
            alternatives.push(null_schema);
            return Value::Object(node);
        }
        return json!({ "anyOf": [Value::Object(node), null_schema] });
    }
    schema
}

/// What the provider learned from the server's 400s (see the module documentation).
#[derive(Debug, Default)]
struct Adaptations {
    /// The token parameter was switched from the configured one.
    token_param_switched: AtomicBool,
    /// `temperature` is left out.
    omit_temperature: AtomicBool,
    /// `json_object` is used instead of `json_schema`.
    json_object: AtomicBool,
    /// `stream_options` are left out.
    omit_stream_options: AtomicBool,
}

/// The OpenAI-compatible provider.
#[derive(Debug)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    call: CallSettings,
    http: reqwest::Client,
    /// The bearer token, marked sensitive so it never appears in debug output.
    headers: HeaderMap,
    adapted: Adaptations,
}

impl OpenAiProvider {
    /// A provider for `config`.
    ///
    /// # Errors
    /// [`LlmError::Refused`] when the HTTP client cannot be built or the key is not a valid
    /// header value.
    pub fn new(config: OpenAiConfig, call: CallSettings) -> Result<Self, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                .map_err(|_| {
                    LlmError::Refused(
                        "OPENAI_API_KEY holds characters a header cannot carry".into(),
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(Self {
            http: transport::client(call.connect_timeout)?,
            config,
            call,
            headers,
            adapted: Adaptations::default(),
        })
    }

    fn flow(&self) -> Flow {
        Flow {
            stream: self.call.stream,
            policy: self.call.retry,
            budget: self.call.timeout,
        }
    }

    fn token_param(&self) -> TokenParam {
        let switched = self.adapted.token_param_switched.load(Ordering::Relaxed);
        match (self.config.token_param, switched) {
            (TokenParam::MaxTokens, false) | (TokenParam::MaxCompletionTokens, true) => {
                TokenParam::MaxTokens
            }
            _ => TokenParam::MaxCompletionTokens,
        }
    }

    fn json_mode(&self) -> JsonMode {
        if self.adapted.json_object.load(Ordering::Relaxed) {
            JsonMode::JsonObject
        } else {
            self.config.json_mode
        }
    }

    fn messages(&self, request: &CallRequest, mode: JsonMode) -> Vec<ChatMessage> {
        let mut system = request.system.clone();
        if mode == JsonMode::JsonObject {
            let schema = serde_json::to_string(&Ordered(&request.schema)).unwrap_or_default();
            system.push_str("\nThe JSON object must match this JSON Schema:\n");
            system.push_str(&schema);
            system.push('\n');
        }
        let mut messages = vec![ChatMessage {
            role: "system",
            content: system,
        }];
        messages.extend(request.turns.iter().map(|t| ChatMessage {
            role: match t.speaker {
                Speaker::User => "user",
                Speaker::Model => "assistant",
            },
            content: t.text.clone(),
        }));
        messages
    }

    /// Lets the provider adapt to a 400; true when something changed and the request should be
    /// sent again.
    fn adapt(&self, error: &ApiError) -> bool {
        let message = error.message.to_ascii_lowercase();
        let mentions = |name: &str| error.param == name || message.contains(name);
        let unsupported = error.code.starts_with("unsupported")
            || [
                "unsupported",
                "not supported",
                "unrecognized",
                "unknown",
                "extra",
                "not permitted",
                "only the default",
                "does not support",
            ]
            .iter()
            .any(|w| message.contains(w));
        let current = match self.token_param() {
            TokenParam::MaxTokens => "max_tokens",
            TokenParam::MaxCompletionTokens => "max_completion_tokens",
        };
        let flag = if unsupported && mentions(current) {
            Some((
                &self.adapted.token_param_switched,
                "the token limit parameter name",
            ))
        } else if unsupported && mentions("temperature") {
            Some((&self.adapted.omit_temperature, "temperature"))
        } else if self.json_mode() == JsonMode::JsonSchema
            && (mentions("response_format") || mentions("json_schema"))
        {
            Some((&self.adapted.json_object, "json_schema (using json_object)"))
        } else if mentions("stream_options") {
            Some((&self.adapted.omit_stream_options, "stream_options"))
        } else {
            None
        };
        let Some((flag, what)) = flag else {
            return false;
        };
        if flag.swap(true, Ordering::Relaxed) {
            return false;
        }
        tracing::warn!(
            llm.provider = %self.label(),
            adapted = what,
            error = %error.message,
            "the server rejected a request parameter; adapting for this and later requests"
        );
        true
    }

    /// Classifies an error response.
    fn classify(&self, status: u16, headers: &HeaderMap, error: &ApiError, raw: &str) -> Failure {
        let message = if error.message.trim().is_empty() {
            let s = transport::snippet(raw);
            if s.is_empty() {
                format!("HTTP {status}")
            } else {
                s
            }
        } else {
            transport::snippet(&error.message)
        };
        let quota = error.code == "insufficient_quota"
            || error.kind == "insufficient_quota"
            || message.contains("exceeded your current quota");
        let should_retry = headers
            .get("x-should-retry")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        match status {
            401 => Failure::Refused(format!(
                "{PROVIDER} rejected the API key (check OPENAI_API_KEY): {message}"
            )),
            403 => Failure::Refused(format!("{PROVIDER} denied access: {message}")),
            404 => Failure::Refused(format!(
                "{PROVIDER} does not know the model {:?} or the endpoint (check OPENAI_MODEL and \
                 OPENAI_BASE_URL): {message}",
                self.config.model
            )),
            429 if quota => Failure::QuotaExhausted(format!("OpenAI quota exhausted: {message}")),
            429 => Failure::RateLimited {
                detail: format!("rate limited: {message}"),
                retry_after: retry_after(headers),
            },
            408 | 409 | 500..=599 => Failure::Transient {
                detail: format!("{PROVIDER} answered {status}: {message}"),
                retry: should_retry != Some("false"),
                retry_after: retry_after(headers),
            },
            _ => Failure::Refused(format!(
                "{PROVIDER} refused the request ({status}): {message}"
            )),
        }
    }

    /// Classifies an error that arrived inside a stream (no HTTP status of its own).
    fn classify_stream_error(&self, error: &ApiError, raw: &str) -> Failure {
        let status = error.status.unwrap_or_else(|| {
            let limited = [&error.code, &error.kind]
                .iter()
                .any(|s| s.contains("rate_limit") || s.contains("insufficient_quota"));
            if limited { 429 } else { 500 }
        });
        self.classify(status, &HeaderMap::new(), error, raw)
    }
}

/// The delay of `retry-after-ms` (milliseconds) or `retry-after` (seconds). Whether it is
/// waited out or reported to the caller is the retry policy's decision.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let delay = header("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| header("retry-after").map(Duration::from_secs_f64))?;
    (delay <= MAX_HEADER_RETRY_AFTER).then_some(delay)
}

/// Collects an answer from one completion or a stream of chunks.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    refusal: String,
    finish: Option<FinishReason>,
    usage: Option<ChatUsage>,
    done: bool,
}

impl Answer {
    fn finish(self, streamed: bool) -> Result<CallOutput, Failure> {
        if streamed && !self.done && self.finish.is_none() {
            return Err(Failure::transient(format!(
                "the stream from {PROVIDER} ended before the answer was complete"
            )));
        }
        let usage = self.usage.map_or_else(Usage::default, |u| Usage {
            prompt_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        });
        let stop = if !self.refusal.trim().is_empty() {
            Stop::Blocked(format!("refusal: {}", self.refusal))
        } else {
            match self.finish {
                Some(FinishReason::ContentFilter) => Stop::Blocked("content filter".into()),
                Some(FinishReason::Length) => Stop::MaxTokens,
                _ => Stop::Done,
            }
        };
        Ok(CallOutput {
            text: self.text,
            stop,
            usage,
        })
    }
}

impl OpenAiProvider {
    /// Handles one SSE item of a stream.
    fn stream_item(
        &self,
        item: SseItem,
        answer: &mut Answer,
        stream: &mut TextStream<'_>,
    ) -> Result<(), Failure> {
        if answer.done {
            return Ok(());
        }
        let data = match item {
            SseItem::Event { data, .. } | SseItem::Raw(data) => data,
        };
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            answer.done = true;
            return Ok(());
        }
        if let Some(error) = ApiError::parse(data) {
            return Err(self.classify_stream_error(&error, data));
        }
        let chunk: ChatChunk = serde_json::from_str(data).map_err(|e| {
            Failure::transient(format!("{PROVIDER} sent an unreadable stream event: {e}"))
        })?;
        if let Some(usage) = chunk.usage {
            answer.usage = Some(usage);
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    stream.output(&text);
                    answer.text.push_str(&text);
                }
                if let Some(refusal) = delta.refusal {
                    answer.refusal.push_str(&refusal);
                }
            }
            if let Some(reason) = choice.finish_reason {
                answer.finish = Some(reason);
            }
        }
        Ok(())
    }

    async fn read_stream(
        &self,
        response: reqwest::Response,
        stream: &mut TextStream<'_>,
    ) -> Result<CallOutput, Failure> {
        let mut answer = Answer::default();
        let mut bytes = response.bytes_stream();
        let mut decoder = SseDecoder::new();
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| Failure::from_reqwest(&e, PROVIDER))?;
            for item in decoder.feed(&chunk) {
                self.stream_item(item, &mut answer, stream)?;
            }
        }
        for item in decoder.finish() {
            self.stream_item(item, &mut answer, stream)?;
        }
        answer.finish(true)
    }

    async fn read_whole(&self, response: reqwest::Response) -> Result<CallOutput, Failure> {
        let body = response
            .text()
            .await
            .map_err(|e| Failure::from_reqwest(&e, PROVIDER))?;
        if let Some(error) = ApiError::parse(&body) {
            return Err(self.classify_stream_error(&error, &body));
        }
        let completion: ChatCompletion = serde_json::from_str(&body).map_err(|e| {
            Failure::transient(format!("{PROVIDER} sent an unreadable response: {e}"))
        })?;
        let mut answer = Answer {
            usage: completion.usage,
            ..Answer::default()
        };
        if let Some(choice) = completion.choices.into_iter().find(|c| c.index == 0) {
            if let Some(message) = choice.message {
                answer.text = message.content.map(|c| c.text()).unwrap_or_default();
                answer.refusal = message.refusal.unwrap_or_default();
            }
            answer.finish = choice.finish_reason;
        }
        answer.finish(false)
    }
}

#[async_trait]
impl ModelApi for OpenAiProvider {
    fn label(&self) -> String {
        format!("openai/{}", self.config.model)
    }

    async fn attempt(
        &self,
        request: &CallRequest,
        stream: Option<&mut TextStream<'_>>,
        timeout: Duration,
    ) -> Result<CallOutput, Failure> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/chat/completions", self.config.base_url);
        let strict = strict_schema(&request.schema);
        loop {
            let mode = self.json_mode();
            let (max_tokens, max_completion_tokens) = match self.token_param() {
                TokenParam::MaxTokens => (Some(self.call.max_output_tokens), None),
                TokenParam::MaxCompletionTokens => (None, Some(self.call.max_output_tokens)),
            };
            let body = ChatRequest {
                model: &self.config.model,
                messages: self.messages(request, mode),
                temperature: self
                    .call
                    .temperature
                    .filter(|_| !self.adapted.omit_temperature.load(Ordering::Relaxed)),
                max_tokens,
                max_completion_tokens,
                response_format: match mode {
                    JsonMode::JsonSchema => ResponseFormat::JsonSchema {
                        json_schema: JsonSchemaFormat {
                            name: SCHEMA_NAME,
                            strict: true,
                            schema: Ordered(&strict),
                        },
                    },
                    JsonMode::JsonObject => ResponseFormat::JsonObject,
                },
                stream: stream.is_some(),
                stream_options: (stream.is_some()
                    && !self.adapted.omit_stream_options.load(Ordering::Relaxed))
                .then_some(StreamOptions {
                    include_usage: true,
                }),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let response = self
                .http
                .post(&url)
                .headers(self.headers.clone())
                .timeout(left)
                .json(&body)
                .send()
                .await
                .map_err(|e| Failure::from_reqwest(&e, PROVIDER))?;
            let status = response.status();
            if status.is_success() {
                return match stream {
                    Some(stream) => self.read_stream(response, stream).await,
                    None => self.read_whole(response).await,
                };
            }
            let headers = response.headers().clone();
            let raw = response.text().await.unwrap_or_default();
            let error = ApiError::parse(&raw).unwrap_or_default();
            if matches!(status.as_u16(), 400 | 422) && self.adapt(&error) {
                continue;
            }
            return Err(self.classify(status.as_u16(), &headers, &error, &raw));
        }
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> String {
        self.label()
    }

    async fn generate(
        &self,
        prompt: &Prompt,
        deltas: &dyn DeltaSink,
    ) -> Result<LlmResponse, LlmError> {
        generation::generate(self, self.flow(), prompt, deltas).await
    }

    async fn check(&self) -> Result<(), LlmError> {
        generation::check(self, self.flow()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(token_param: TokenParam) -> OpenAiProvider {
        OpenAiProvider::new(
            OpenAiConfig {
                token_param,
                ..OpenAiConfig::default()
            },
            CallSettings::default(),
        )
        .unwrap()
    }

    #[test]
    fn strict_schemas_close_objects_and_make_optional_fields_nullable() {
        let schema = json!({
            "type": "object",
            "properties": {
                "reply": { "type": "string" },
                "actions": { "type": "array", "items": { "anyOf": [
                    { "type": "object", "properties": {
                        "type": { "type": "string", "enum": ["notify_user"] },
                        "message": { "type": "string", "minLength": 1, "maxLength": 1000 },
                        "priority": { "type": "string", "enum": ["LOW", "HIGH"], "default": "LOW" },
                        "note": { "type": ["string", "null"] },
                    }, "required": ["type", "message"] },
                    { "type": "object", "properties": { "type": { "const": "log_event" } },
                      "required": ["type"], "additionalProperties": true },
                ] } },
            },
            "required": ["reply", "actions"],
            "$schema": "https://json-schema.org/draft/2020-12/schema",
        });
        let strict = strict_schema(&schema);
        assert_eq!(
            strict,
            json!({
                "type": "object",
                "properties": {
                    "reply": { "type": "string" },
                    "actions": { "type": "array", "items": { "anyOf": [
                        { "type": "object", "properties": {
                            "type": { "type": "string", "enum": ["notify_user"] },
                            "message": { "type": "string" },
                            "note": { "type": ["string", "null"] },
                            "priority": { "anyOf": [ { "type": "string", "enum": ["LOW", "HIGH"] }, { "type": "null" } ] },
                          },
                          "required": ["type", "message", "note", "priority"],
                          "additionalProperties": false },
                        { "type": "object", "properties": { "type": { "const": "log_event" } },
                          "required": ["type"], "additionalProperties": false },
                    ] } },
                },
                "required": ["reply", "actions"],
                "additionalProperties": false,
            })
        );
        let text = serde_json::to_string(&Ordered(&strict)).unwrap();
        assert!(text.find("\"reply\"").unwrap() < text.find("\"actions\"").unwrap());
    }

    #[test]
    fn adapts_once_to_each_rejected_parameter() {
        let p = provider(TokenParam::MaxTokens);
        let max_tokens = ApiError {
            message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".into(),
            kind: "invalid_request_error".into(),
            param: "max_tokens".into(),
            code: "unsupported_parameter".into(),
            status: None,
        };
        assert!(p.adapt(&max_tokens));
        assert_eq!(p.token_param(), TokenParam::MaxCompletionTokens);
        let back = ApiError {
            message: "Unrecognized request argument supplied: max_completion_tokens".into(),
            ..ApiError::default()
        };
        assert!(!p.adapt(&back), "the token parameter switches only once");
        assert_eq!(p.token_param(), TokenParam::MaxCompletionTokens);

        let temperature = ApiError {
            message: "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.".into(),
            param: "temperature".into(),
            code: "unsupported_value".into(),
            ..ApiError::default()
        };
        assert!(p.adapt(&temperature));
        assert!(!p.adapt(&temperature));

        let format = ApiError {
            message: "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.".into(),
            param: "response_format".into(),
            ..ApiError::default()
        };
        assert_eq!(p.json_mode(), JsonMode::JsonSchema);
        assert!(p.adapt(&format));
        assert_eq!(p.json_mode(), JsonMode::JsonObject);
        assert!(!p.adapt(&format));

        let other = ApiError {
            message: "messages must not be empty".into(),
            ..ApiError::default()
        };
        assert!(!p.adapt(&other));
    }

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", HeaderValue::from_static("644"));
        h.insert("retry-after", HeaderValue::from_static("1"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(644)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3600)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn errors_are_classified() {
        let p = provider(TokenParam::MaxTokens);
        let none = HeaderMap::new();
        let quota = ApiError::parse(r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#).unwrap();
        assert!(matches!(
            p.classify(429, &none, &quota, ""),
            Failure::QuotaExhausted(_)
        ));
        let key = ApiError::parse(r#"{"error":{"message":"Incorrect API key provided: kk.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#).unwrap();
        assert!(
            matches!(p.classify(401, &none, &key, ""), Failure::Refused(m) if m.contains("OPENAI_API_KEY"))
        );
        let mut no_retry = HeaderMap::new();
        no_retry.insert("x-should-retry", HeaderValue::from_static("false"));
        assert!(matches!(
            p.classify(500, &no_retry, &ApiError::default(), "oops"),
            Failure::Transient { retry: false, .. }
        ));
        let mid = ApiError::parse(r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#).unwrap();
        assert!(matches!(
            p.classify_stream_error(&mid, ""),
            Failure::RateLimited { .. }
        ));
        let llama = ApiError::parse(
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
        )
        .unwrap();
        assert!(matches!(
            p.classify_stream_error(&llama, ""),
            Failure::Transient { .. }
        ));
    }
}
