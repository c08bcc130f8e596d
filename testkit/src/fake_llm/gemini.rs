//! A fake Gemini API (v1beta): `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent` (SSE with CRLF line endings and no `[DONE]` with `?alt=sse`, a JSON
//! array without it), as `shared/reference/llm-wire.md` §1 and its §5 checklist describe.
//!
//! Like the real API it checks the key (`x-goog-api-key` or `?key=`: none gives 403
//! `PERMISSION_DENIED`, a wrong one 400 with `ErrorInfo.reason = API_KEY_INVALID`), answers 404
//! for a retired model, and rejects request bodies the real API rejects: unknown fields (at the
//! top, in `generationConfig`, and in `responseSchema`, where `additionalProperties`, `$schema`
//! or `const` are unknown names), type arrays, `properties` on a non-object, an array without
//! `items`, an object without properties, `responseSchema` together with `responseJsonSchema`,
//! and (for `gemini-3*` models) a replayed function call without its thought signature. Schema
//! types are accepted in either case, as the API does.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Control, FakeServer, FakeUsage, RecordedRequest, paced_body, split_text};

/// The key the fake Gemini accepts (configure it as `GEMINI_API_KEY`).
pub const FAKE_GEMINI_KEY: &str = "fake-gemini-key";

/// A fake Gemini server.
pub type FakeGemini = FakeServer<GeminiReply>;

/// What the fake Gemini answers to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum GeminiReply {
    /// A finished answer (`finishReason: STOP`) whose text is `text`, streamed in pieces.
    Text {
        /// The model's output (usually a JSON object as text).
        text: String,
        /// The token counts reported.
        usage: FakeUsage,
    },
    /// An answer cut by the token limit after `text` (`finishReason: MAX_TOKENS`).
    MaxTokens {
        /// The text written before the cut.
        text: String,
    },
    /// A thinking model that spent its budget thinking: `MAX_TOKENS`, a content without
    /// parts, `thoughtsTokenCount` set.
    ThinkingExhausted,
    /// A blocked prompt: HTTP 200, `promptFeedback.blockReason`, no candidates.
    PromptBlocked {
        /// `SAFETY`, `OTHER`, `BLOCKLIST`, `PROHIBITED_CONTENT`, ...
        reason: String,
    },
    /// A candidate blocked during generation after `after` was streamed: `finishReason` set to
    /// `reason`, no content in the last chunk.
    CandidateBlocked {
        /// `SAFETY`, `RECITATION`, `SPII`, ...
        reason: String,
        /// Text streamed before the block (empty: blocked at once).
        after: String,
    },
    /// `finishReason: STOP` with no parts at all.
    EmptyStop,
    /// A function call with a thought signature (Gemini 3 style).
    FunctionCall {
        /// The function's name.
        name: String,
        /// Its arguments.
        args: Value,
    },
    /// 429 with Help, QuotaFailure and RetryInfo details.
    RateLimited {
        /// A per-day quota id instead of a per-minute one.
        per_day: bool,
        /// `RetryInfo.retryDelay` (`"1.5s"`).
        retry_delay: String,
    },
    /// An HTTP error with the API's envelope.
    Error {
        /// HTTP status.
        status: u16,
        /// `status` name (`UNAVAILABLE`).
        name: String,
        /// The message.
        message: String,
        /// Wrapped in a one-element array, as the non-SSE stream does.
        in_array: bool,
    },
    /// 502 with a non-JSON body, as from a proxy.
    BadGateway,
    /// A stream that sends `after`, then an error: an SSE event `data: {"error": ...}`, or with
    /// `bare` a JSON body without SSE framing. Without streaming: the HTTP error.
    StreamError {
        /// Text streamed before the error.
        after: String,
        /// The error's HTTP code.
        status: u16,
        /// Bare JSON instead of an SSE event.
        bare: bool,
    },
    /// A stream that sends `after` without a finish reason, then breaks the connection.
    StreamCut {
        /// Text streamed before the cut.
        after: String,
    },
}

impl GeminiReply {
    /// A finished answer whose text is `output` serialised (the model's JSON).
    #[must_use]
    pub fn output(output: &Value) -> Self {
        Self::text(&output.to_string())
    }

    /// A finished answer with this text and default usage.
    #[must_use]
    pub fn text(text: &str) -> Self {
        Self::Text {
            text: text.to_owned(),
            usage: FakeUsage::default(),
        }
    }

    /// 503 `UNAVAILABLE` (model overloaded).
    #[must_use]
    pub fn unavailable() -> Self {
        Self::error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        )
    }

    /// 500 `INTERNAL`.
    #[must_use]
    pub fn internal() -> Self {
        Self::error(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        )
    }

    /// Any error with the API's envelope.
    #[must_use]
    pub fn error(status: u16, name: &str, message: &str) -> Self {
        Self::Error {
            status,
            name: name.to_owned(),
            message: message.to_owned(),
            in_array: false,
        }
    }
}

impl FakeServer<GeminiReply> {
    /// Starts a fake Gemini on a free local port; it requires [`FAKE_GEMINI_KEY`] and answers
    /// `{"reply": "ok", "actions": []}` until told otherwise.
    pub async fn start() -> Self {
        let control = Arc::new(Control::new(
            GeminiReply::output(&json!({ "reply": "ok", "actions": [] })),
            Some(FAKE_GEMINI_KEY.to_owned()),
        ));
        let router = Router::new()
            .route("/v1beta/models/{spec}", post(handle))
            .with_state(Arc::clone(&control));
        Self::spawn(router, "/v1beta", control).await
    }
}

fn error_body(status: u16, name: &str, message: &str) -> Value {
    json!({ "error": { "code": status, "message": message, "status": name } })
}

fn error_response(status: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn handle(
    State(control): State<Arc<Control<GeminiReply>>>,
    Path(spec): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RecordedRequest::new(
        &format!("/v1beta/models/{spec}"),
        query.clone(),
        &headers,
        &body,
    );
    let turn = control.take(request.clone());
    if !turn.delay.is_zero() {
        tokio::time::sleep(turn.delay).await;
    }
    let given_key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query_param(query.as_deref(), "key"));
    if let Some(required) = control.required_key() {
        match given_key {
            None => {
                return error_response(
                    403,
                    &error_body(
                        403,
                        "PERMISSION_DENIED",
                        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                    ),
                );
            }
            Some(key) if key != required => {
                return error_response(
                    400,
                    &json!({ "error": { "code": 400, "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT", "details": [
                          { "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com", "metadata": { "service": "generativelanguage.googleapis.com" } },
                          { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                            "message": "API key not valid. Please pass a valid API key." } ] } }),
                );
            }
            Some(_) => {}
        }
    }
    let Some((model, method)) = spec.split_once(':') else {
        return error_response(404, &error_body(404, "NOT_FOUND", "Not found."));
    };
    if control.retired(model) {
        return error_response(
            404,
            &error_body(
                404,
                "NOT_FOUND",
                &format!(
                    "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
                ),
            ),
        );
    }
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return error_response(404, &error_body(404, "NOT_FOUND", "Unknown method.")),
    };
    if let Err(message) = validate(&request.body, model) {
        return error_response(400, &error_body(400, "INVALID_ARGUMENT", &message));
    }
    let sse = query_param(query.as_deref(), "alt") == Some("sse");
    answer(turn.reply, model, stream, sse, turn.chunks)
}

const TOP_LEVEL: &[&str] = &[
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "generation_config",
    "cachedContent",
];
const GENERATION_CONFIG: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseLogprobs",
    "logprobs",
    "responseModalities",
    "thinkingConfig",
    "mediaResolution",
    "speechConfig",
    "imageConfig",
];
const SCHEMA_FIELDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minimum",
    "maximum",
    "anyOf",
    "propertyOrdering",
    "default",
    "minLength",
    "maxLength",
    "pattern",
    "minProperties",
    "maxProperties",
    "example",
];

fn unknown(name: &str, at: &str) -> String {
    format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field.")
}

/// Checks a request body as the real API does for `model`; the error message when it would be
/// rejected.
fn validate(body: &Value, model: &str) -> Result<(), String> {
    let Some(top) = body.as_object() else {
        return Err("Invalid JSON payload received.".into());
    };
    if let Some(key) = top.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(unknown(key, ""));
    }
    let contents = top
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    for (i, content) in contents.iter().enumerate() {
        let parts = content
            .get("parts")
            .and_then(Value::as_array)
            .filter(|p| !p.is_empty())
            .ok_or(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ))?;
        if parts
            .iter()
            .any(|p| p.get("text").and_then(Value::as_str) == Some(""))
        {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: text must not be empty."
            ));
        }
        // Gemini 3 models require a replayed function call to carry its thought signature.
        let unsigned_call = parts
            .iter()
            .any(|p| p.get("functionCall").is_some() && p.get("thoughtSignature").is_none());
        if model.starts_with("gemini-3") && unsigned_call {
            return Err(format!(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:call` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                i + 1
            ));
        }
    }
    let Some(config) = top.get("generationConfig").and_then(Value::as_object) else {
        return Ok(());
    };
    if let Some(key) = config
        .keys()
        .find(|k| !GENERATION_CONFIG.contains(&k.as_str()))
    {
        return Err(unknown(key, "generation_config"));
    }
    if config.contains_key("responseSchema") && config.contains_key("responseJsonSchema") {
        return Err("responseSchema and responseJsonSchema cannot both be set.".into());
    }
    if let Some(schema) = config.get("responseSchema") {
        validate_schema(schema, "generation_config.response_schema")?;
    }
    Ok(())
}

fn validate_schema(schema: &Value, at: &str) -> Result<(), String> {
    let Some(node) = schema.as_object() else {
        return Err(format!("Invalid value at '{at}': expected an object."));
    };
    if let Some(key) = node.keys().find(|k| !SCHEMA_FIELDS.contains(&k.as_str())) {
        return Err(unknown(key, at));
    }
    let kind = match node.get("type") {
        None => None,
        Some(Value::String(t)) => Some(t.to_ascii_uppercase()),
        Some(other) => {
            return Err(format!(
                "Invalid value at '{at}.type' ({other}): expected one of STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT."
            ));
        }
    };
    if let Some(k) = &kind
        && !["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"].contains(&k.as_str())
    {
        return Err(format!("Invalid value at '{at}.type' (\"{k}\")."));
    }
    if node.contains_key("properties") && kind.as_deref() != Some("OBJECT") {
        return Err(format!("* {at}.properties: only allowed for OBJECT type"));
    }
    if kind.as_deref() == Some("OBJECT") {
        let empty = node
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(serde_json::Map::is_empty);
        if empty {
            return Err(format!(
                "* {at}.properties: should be non-empty for OBJECT type"
            ));
        }
    }
    if kind.as_deref() == Some("ARRAY") && !node.contains_key("items") {
        return Err(format!("* {at}.items: missing field."));
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            validate_schema(prop, &format!("{at}.properties[{name}].value"))?;
        }
    }
    if let Some(items) = node.get("items") {
        validate_schema(items, &format!("{at}.items"))?;
    }
    if let Some(alternatives) = node.get("anyOf") {
        let list = alternatives
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or(format!("* {at}.any_of: must not be empty"))?;
        for (i, alt) in list.iter().enumerate() {
            validate_schema(alt, &format!("{at}.any_of[{i}]"))?;
        }
    }
    Ok(())
}

fn usage_json(usage: FakeUsage, final_chunk: bool) -> Value {
    let mut u = json!({
        "promptTokenCount": usage.prompt,
        "totalTokenCount": usage.prompt + if final_chunk { usage.output + usage.thoughts } else { 0 },
    });
    if final_chunk {
        u["candidatesTokenCount"] = json!(usage.output);
        if usage.thoughts > 0 {
            u["thoughtsTokenCount"] = json!(usage.thoughts);
        }
    }
    u
}

fn chunk(model: &str, text: Option<&str>, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({ "index": 0 });
    if let Some(text) = text {
        candidate["content"] = json!({ "role": "model", "parts": [ { "text": text } ] });
    }
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "fake-response",
    })
}

/// The chunks of a streamed text answer ending with `finish`.
fn text_chunks(
    model: &str,
    text: &str,
    finish: Option<&str>,
    usage: FakeUsage,
    pieces: usize,
) -> Vec<Value> {
    let parts = split_text(text, pieces);
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let end = i == last;
            chunk(
                model,
                Some(piece),
                finish.filter(|_| end),
                usage_json(usage, end),
            )
        })
        .collect()
}

fn json_response(body: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// Streams `events` as SSE (CRLF framing) or, without `alt=sse`, as a JSON array; `tail` is
/// extra raw bytes after the events (an error), `cut` breaks the connection at the end.
fn stream_response(events: &[Value], sse: bool, tail: Option<Vec<u8>>, cut: bool) -> Response {
    let mut frames: Vec<Vec<u8>> = if sse {
        events
            .iter()
            .map(|e| format!("data: {e}\r\n\r\n").into_bytes())
            .collect()
    } else {
        let mut frames: Vec<Vec<u8>> = events
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{}{e}", if i == 0 { "[" } else { ",\r\n" }).into_bytes())
            .collect();
        if !cut && tail.is_none() {
            frames.push(b"]".to_vec());
        }
        frames
    };
    frames.extend(tail);
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/json; charset=UTF-8"
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(paced_body(frames, cut))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn answer(reply: GeminiReply, model: &str, stream: bool, sse: bool, pieces: usize) -> Response {
    match reply {
        GeminiReply::Text { text, usage } => {
            if stream {
                stream_response(
                    &text_chunks(model, &text, Some("STOP"), usage, pieces),
                    sse,
                    None,
                    false,
                )
            } else {
                json_response(&chunk(
                    model,
                    Some(&text),
                    Some("STOP"),
                    usage_json(usage, true),
                ))
            }
        }
        GeminiReply::MaxTokens { text } => {
            let usage = FakeUsage::default();
            if stream {
                stream_response(
                    &text_chunks(model, &text, Some("MAX_TOKENS"), usage, pieces),
                    sse,
                    None,
                    false,
                )
            } else {
                json_response(&chunk(
                    model,
                    Some(&text),
                    Some("MAX_TOKENS"),
                    usage_json(usage, true),
                ))
            }
        }
        GeminiReply::ThinkingExhausted => {
            let body = json!({
                "candidates": [ { "content": { "role": "model" }, "finishReason": "MAX_TOKENS", "index": 0 } ],
                "usageMetadata": { "promptTokenCount": 900, "totalTokenCount": 1156, "thoughtsTokenCount": 256 },
                "modelVersion": model,
            });
            single(&body, stream, sse)
        }
        GeminiReply::PromptBlocked { reason } => {
            let body = json!({
                "promptFeedback": { "blockReason": reason, "safetyRatings": [
                    { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH" },
                    { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" } ] },
                "usageMetadata": { "promptTokenCount": 14, "totalTokenCount": 14 },
                "modelVersion": model,
            });
            single(&body, stream, sse)
        }
        GeminiReply::CandidateBlocked { reason, after } => {
            let blocked = json!({
                "candidates": [ { "finishReason": reason, "index": 0, "safetyRatings": [
                    { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "MEDIUM", "blocked": true } ] } ],
                "usageMetadata": { "promptTokenCount": 20, "totalTokenCount": 20 },
                "modelVersion": model,
            });
            if stream {
                let mut events = if after.is_empty() {
                    Vec::new()
                } else {
                    text_chunks(model, &after, None, FakeUsage::default(), pieces)
                };
                events.push(blocked);
                stream_response(&events, sse, None, false)
            } else if after.is_empty() {
                json_response(&blocked)
            } else {
                let mut body = blocked;
                body["candidates"][0]["content"] =
                    json!({ "role": "model", "parts": [ { "text": after } ] });
                json_response(&body)
            }
        }
        GeminiReply::EmptyStop => {
            let body = json!({
                "candidates": [ { "content": { "role": "model", "parts": [] }, "finishReason": "STOP", "index": 0 } ],
                "usageMetadata": { "promptTokenCount": 20, "totalTokenCount": 20 },
                "modelVersion": model,
            });
            single(&body, stream, sse)
        }
        GeminiReply::FunctionCall { name, args } => {
            let body = json!({
                "candidates": [ { "content": { "role": "model", "parts": [ {
                    "functionCall": { "name": name, "args": args },
                    "thoughtSignature": "ZmFrZS10aG91Z2h0LXNpZ25hdHVyZQ==" } ] },
                  "finishReason": "STOP", "index": 0 } ],
                "usageMetadata": { "promptTokenCount": 61, "candidatesTokenCount": 18, "totalTokenCount": 79 },
                "modelVersion": model,
            });
            single(&body, stream, sse)
        }
        GeminiReply::RateLimited {
            per_day,
            retry_delay,
        } => {
            let quota_id = if per_day {
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
            } else {
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
            };
            error_response(
                429,
                &json!({ "error": { "code": 429,
                  "message": format!("You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: {model}\nPlease retry in {retry_delay}."),
                  "status": "RESOURCE_EXHAUSTED",
                  "details": [
                    { "@type": "type.googleapis.com/google.rpc.Help", "links": [ { "description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits" } ] },
                    { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [ {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": quota_id,
                        "quotaDimensions": { "location": "global", "model": model },
                        "quotaValue": "10" } ] },
                    { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay } ] } }),
            )
        }
        GeminiReply::Error {
            status,
            name,
            message,
            in_array,
        } => {
            let body = error_body(status, &name, &message);
            error_response(status, &if in_array { json!([body]) } else { body })
        }
        GeminiReply::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        GeminiReply::StreamError {
            after,
            status,
            bare,
        } => {
            let name = if status == 429 {
                "RESOURCE_EXHAUSTED"
            } else if status == 503 {
                "UNAVAILABLE"
            } else {
                "INTERNAL"
            };
            let error = error_body(status, name, "The service failed while answering.");
            if !stream {
                return error_response(status, &error);
            }
            let events = if after.is_empty() {
                Vec::new()
            } else {
                text_chunks(model, &after, None, FakeUsage::default(), pieces)
            };
            let tail = if bare {
                format!("{error}\r\n")
            } else {
                format!("data: {error}\r\n\r\n")
            };
            stream_response(&events, sse, Some(tail.into_bytes()), false)
        }
        GeminiReply::StreamCut { after } => {
            let events = text_chunks(model, &after, None, FakeUsage::default(), pieces);
            if stream {
                stream_response(&events, sse, None, true)
            } else {
                let whole = chunk(
                    model,
                    Some(&after),
                    None,
                    usage_json(FakeUsage::default(), false),
                );
                let text = whole.to_string();
                let half = text.as_bytes()[..text.len() / 2].to_vec();
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
                    .body(paced_body(vec![half], true))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

/// One response body, as a whole or as a one-event stream.
fn single(body: &Value, stream: bool, sse: bool) -> Response {
    if stream {
        stream_response(std::slice::from_ref(body), sse, None, false)
    } else {
        json_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_rejects_what_gemini_rejects() {
        let ok = json!({ "contents": [ { "role": "user", "parts": [ { "text": "hi" } ] } ],
            "generationConfig": { "responseMimeType": "application/json",
              "responseSchema": { "type": "object", "properties": { "a": { "type": "STRING" } } } } });
        validate(&ok, "gemini-2.5-flash").unwrap();
        let unsigned = json!({ "contents": [
            { "role": "user", "parts": [ { "text": "hi" } ] },
            { "role": "model", "parts": [ { "functionCall": { "name": "f", "args": {} } } ] } ] });
        validate(&unsigned, "gemini-2.5-flash").unwrap();
        assert!(
            validate(&unsigned, "gemini-3-flash-preview")
                .unwrap_err()
                .contains("thought_signature")
        );
        let with = |schema: Value| {
            json!({ "contents": [ { "parts": [ { "text": "hi" } ] } ],
                "generationConfig": { "responseSchema": schema } })
        };
        for (body, needle) in [
            (
                with(
                    json!({ "type": "OBJECT", "properties": { "a": { "type": "STRING" } }, "additionalProperties": false }),
                ),
                "Unknown name \"additionalProperties\"",
            ),
            (with(json!({ "type": ["STRING", "NULL"] })), "Invalid value"),
            (
                with(json!({ "type": "STRING", "properties": { "a": { "type": "STRING" } } })),
                "only allowed for OBJECT",
            ),
            (with(json!({ "type": "ARRAY" })), "items: missing field"),
            (with(json!({ "type": "OBJECT" })), "non-empty for OBJECT"),
            (json!({ "contents": [] }), "contents is not specified"),
            (
                json!({ "contents": [ { "parts": [ { "text": "x" } ] } ], "generationConfig": { "foo": 1 } }),
                "Unknown name \"foo\"",
            ),
        ] {
            let err = validate(&body, "gemini-2.5-flash").unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
