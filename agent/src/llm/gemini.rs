//! The Gemini provider: Google's Gemini API (v1beta) over reqwest, wire format in [`wire`].
//!
//! - **Endpoints.** `POST {base}/models/{model}:streamGenerateContent?alt=sse` to answer (SSE,
//!   one complete `GenerateContentResponse` per event, no `[DONE]`), `:generateContent` for the
//!   repair call, the check, and when streaming is off. URLs are built with `format!`, never
//!   `Url::join` (a model id like `gemini-2.5-flash:generateContent` parses as a URL scheme).
//!   The key goes in the `x-goog-api-key` header (a key in the query string ends up in logs).
//! - **Output shape: `responseMimeType: application/json` with `responseSchema`.** Of the three
//!   ways to constrain the output we use the OpenAPI-subset `responseSchema`, converted from
//!   [`Prompt::output_schema`](crate::prompt::Prompt::output_schema) into typed structs
//!   ([`wire::Schema`]) that cannot hold a keyword Gemini rejects. It is accepted by every
//!   Gemini model, including older ones and proxies that predate `responseJsonSchema`; it has
//!   `anyOf` (one variant per action type) and `propertyOrdering` (so `reply` is written first
//!   and streams at once); and what it lacks (`additionalProperties`, length limits, patterns)
//!   is checked by the action registry anyway. Function declarations were not chosen: the reply
//!   text and the actions would arrive as different part kinds, the reply could not stream
//!   from a schema-ordered object, and a function call needs its thought signature echoed.
//! - **Outcomes.** `promptFeedback.blockReason` and the finish reasons `SAFETY`, `RECITATION`,
//!   `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `LANGUAGE`, `OTHER` and the image ones are
//!   a block (a polite reply, [`Finish::Blocked`](super::Finish::Blocked)); `MAX_TOKENS` cuts the
//!   reply ([`Finish::MaxTokens`](super::Finish::MaxTokens)); everything else ends normally and
//!   the parse decides (an empty `STOP` is repaired like any unusable output). Thought parts are
//!   skipped. Usage: prompt tokens, and output tokens = answer + thinking tokens (both billed as
//!   output), the last reported counts of a stream.
//! - **Errors.** 400 with `ErrorInfo.reason = API_KEY_INVALID`, 401 and 403: a refused key; 404:
//!   an unknown or retired model; other 400s: a refused request; 429: per-day quotas
//!   (`QuotaFailure` ids containing `PerDay`, or a billing message without retry information)
//!   are exhausted at once, others wait `RetryInfo.retryDelay`; 408 and 5xx are transient.
//!   Bodies may be an object, a one-element array, or not JSON at all (a proxy's `Bad Gateway`).
//!   A stream can carry an error as an SSE event or as bare JSON, and can end without a finish
//!   reason (cut): both are failures of the attempt.

pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::Value;

use self::wire::{
    Content, ErrorDetail, ErrorEnvelope, FinishReason, GenerateContentRequest,
    GenerateContentResponse, GenerationConfig, Schema, Status, ThinkingConfig, UsageMetadata,
};
use super::config::{CallSettings, GeminiConfig};
use super::generation::{self, CallOutput, CallRequest, Flow, ModelApi, Speaker, Stop, TextStream};
use super::sse::{SseDecoder, SseItem};
use super::transport::{self, Failure};
use super::{DeltaSink, LlmError, LlmProvider, LlmResponse, Usage};
use crate::prompt::Prompt;

/// What the logs and error messages call this provider.
const PROVIDER: &str = "Gemini";

/// The Gemini provider.
#[derive(Debug)]
pub struct GeminiProvider {
    config: GeminiConfig,
    call: CallSettings,
    http: reqwest::Client,
    /// The key as a header, marked sensitive so it never appears in debug output.
    headers: HeaderMap,
}

impl GeminiProvider {
    /// A provider for `config`.
    ///
    /// # Errors
    /// [`LlmError::Refused`] when the HTTP client cannot be built or the key is not a valid
    /// header value.
    pub fn new(config: GeminiConfig, call: CallSettings) -> Result<Self, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
                LlmError::Refused("GEMINI_API_KEY holds characters a header cannot carry".into())
            })?;
            value.set_sensitive(true);
            headers.insert("x-goog-api-key", value);
        }
        Ok(Self {
            http: transport::client(call.connect_timeout)?,
            config,
            call,
            headers,
        })
    }

    fn flow(&self) -> Flow {
        Flow {
            stream: self.call.stream,
            policy: self.call.retry,
            budget: self.call.timeout,
        }
    }

    /// The request body for `request`.
    #[must_use]
    pub(crate) fn request_body(&self, request: &CallRequest) -> GenerateContentRequest {
        GenerateContentRequest {
            system_instruction: Content::text(None, &request.system),
            contents: request
                .turns
                .iter()
                .map(|t| {
                    let role = match t.speaker {
                        Speaker::User => "user",
                        Speaker::Model => "model",
                    };
                    Content::text(Some(role), &t.text)
                })
                .collect(),
            generation_config: GenerationConfig {
                temperature: self.call.temperature,
                max_output_tokens: self.call.max_output_tokens,
                response_mime_type: "application/json".into(),
                response_schema: Schema::from_json_schema(&request.schema),
                thinking_config: self
                    .config
                    .thinking_budget
                    .map(|thinking_budget| ThinkingConfig { thinking_budget }),
            },
        }
    }

    fn url(&self, stream: bool) -> String {
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        format!(
            "{}/models/{}:{method}",
            self.config.base_url, self.config.model
        )
    }

    /// Classifies an error status and body.
    fn classify(&self, http_status: u16, status: &Status, raw: &str) -> Failure {
        let message = status
            .message
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| {
                let s = transport::snippet(raw);
                if s.is_empty() {
                    format!("HTTP {http_status}")
                } else {
                    s
                }
            });
        let message = transport::snippet(&message);
        let name = status.status.as_deref().unwrap_or("");
        let has_reason = |wanted: &str| {
            status
                .details
                .iter()
                .any(|d| matches!(d, ErrorDetail::ErrorInfo { reason: Some(r) } if r == wanted))
        };
        match http_status {
            400 if has_reason("API_KEY_INVALID") => Failure::Refused(format!(
                "the Gemini API key is invalid (check GEMINI_API_KEY): {message}"
            )),
            401 | 403 => Failure::Refused(format!(
                "Gemini denied access (check GEMINI_API_KEY): {message}"
            )),
            404 => Failure::Refused(format!(
                "Gemini does not know the model {:?} (check GEMINI_MODEL): {message}",
                self.config.model
            )),
            429 => {
                let violations: Vec<&str> = status
                    .details
                    .iter()
                    .filter_map(|d| match d {
                        ErrorDetail::QuotaFailure { violations } => Some(violations),
                        _ => None,
                    })
                    .flatten()
                    .filter_map(|v| v.quota_id.as_deref())
                    .collect();
                let retry_after = status.details.iter().find_map(|d| match d {
                    ErrorDetail::RetryInfo {
                        retry_delay: Some(delay),
                    } => parse_delay(delay),
                    _ => None,
                });
                let per_day = violations
                    .iter()
                    .any(|id| id.to_ascii_lowercase().contains("perday"));
                let billing = violations.is_empty()
                    && retry_after.is_none()
                    && message.to_ascii_lowercase().contains("billing");
                if per_day || billing {
                    Failure::QuotaExhausted(format!("Gemini quota exhausted: {message}"))
                } else {
                    Failure::RateLimited {
                        detail: format!("Gemini rate limit: {message}"),
                        retry_after,
                    }
                }
            }
            408 | 499 | 500..=599 => {
                Failure::transient(format!("Gemini answered {http_status} {name}: {message}"))
            }
            _ => Failure::Refused(format!(
                "Gemini refused the request ({http_status} {name}): {message}"
            )),
        }
    }

    /// Reads an error body: an envelope, a one-element array of envelopes, or anything else.
    fn classify_body(&self, http_status: u16, raw: &str) -> Failure {
        let status = error_status(raw).unwrap_or_default();
        self.classify(http_status, &status, raw)
    }
}

/// The `Status` of an error body, if it is one (object or one-element array).
fn error_status(raw: &str) -> Option<Status> {
    let value: Value = serde_json::from_str(raw.trim()).ok()?;
    let value = match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    value.get("error")?;
    serde_json::from_value::<ErrorEnvelope>(value)
        .ok()
        .map(|e| e.error)
}

/// Parses a protobuf Duration string (`"31s"`, `"29.723877525s"`).
fn parse_delay(raw: &str) -> Option<Duration> {
    let seconds: f64 = raw.trim().strip_suffix('s')?.parse().ok()?;
    // Anything beyond a day is not a per-minute delay; a negative or NaN one is garbage.
    (seconds.is_finite() && (0.0..=86_400.0).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// Collects an answer from one response or a stream of chunks.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    finish: Option<FinishReason>,
    blocked: Option<String>,
    usage: Option<UsageMetadata>,
}

impl Answer {
    /// Adds a response (or a streamed chunk), passing new text to `stream`.
    fn add(&mut self, response: GenerateContentResponse, stream: &mut Option<&mut TextStream<'_>>) {
        if let Some(reason) = response.prompt_feedback.and_then(|f| f.block_reason) {
            self.blocked = Some(format!("prompt blocked: {reason}"));
        }
        if let Some(usage) = response.usage_metadata {
            // Streams repeat running totals; keep the latest.
            self.usage = Some(usage);
        }
        let Some(candidate) = response
            .candidates
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        else {
            return;
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if part.thought == Some(true) {
                continue;
            }
            if let Some(text) = part.text {
                if let Some(s) = stream.as_deref_mut() {
                    s.output(&text);
                }
                self.text.push_str(&text);
            }
        }
        if let Some(reason) = candidate.finish_reason {
            self.finish = Some(reason);
        }
    }

    fn usage(&self) -> Usage {
        let u = self.usage.unwrap_or_default();
        Usage {
            prompt_tokens: u.prompt_token_count.unwrap_or(0),
            output_tokens: u
                .candidates_token_count
                .unwrap_or(0)
                .saturating_add(u.thoughts_token_count.unwrap_or(0)),
        }
    }

    /// The outcome; `streamed` answers must have ended with a finish reason.
    fn finish(self, streamed: bool) -> Result<CallOutput, Failure> {
        let usage = self.usage();
        let stop = if let Some(reason) = self.blocked {
            Stop::Blocked(reason)
        } else {
            match self.finish {
                Some(FinishReason::MaxTokens) => Stop::MaxTokens,
                Some(
                    r @ (FinishReason::Safety
                    | FinishReason::Recitation
                    | FinishReason::Language
                    | FinishReason::Other
                    | FinishReason::Blocklist
                    | FinishReason::ProhibitedContent
                    | FinishReason::Spii
                    | FinishReason::ImageSafety
                    | FinishReason::ImageProhibitedContent
                    | FinishReason::ImageOther
                    | FinishReason::ImageRecitation),
                ) => Stop::Blocked(format!("answer blocked: {r:?}")),
                None if streamed => {
                    return Err(Failure::transient(
                        "the Gemini stream ended before the answer was complete",
                    ));
                }
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

impl GeminiProvider {
    /// Handles one SSE item of a stream.
    fn stream_item(
        &self,
        item: SseItem,
        answer: &mut Answer,
        stream: &mut Option<&mut TextStream<'_>>,
    ) -> Result<(), Failure> {
        let data = match item {
            SseItem::Event { data, .. } | SseItem::Raw(data) => data,
        };
        if data.trim().is_empty() {
            return Ok(());
        }
        if let Some(status) = error_status(&data) {
            return Err(self.classify(status.code.unwrap_or(500), &status, &data));
        }
        let chunk: GenerateContentResponse = serde_json::from_str(&data).map_err(|e| {
            Failure::transient(format!("Gemini sent an unreadable stream event: {e}"))
        })?;
        answer.add(chunk, stream);
        Ok(())
    }
}

#[async_trait]
impl ModelApi for GeminiProvider {
    fn label(&self) -> String {
        format!("gemini/{}", self.config.model)
    }

    async fn attempt(
        &self,
        request: &CallRequest,
        mut stream: Option<&mut TextStream<'_>>,
        timeout: Duration,
    ) -> Result<CallOutput, Failure> {
        let streamed = stream.is_some();
        let response = self
            .http
            .post(self.url(streamed))
            .headers(self.headers.clone())
            .timeout(timeout)
            .json(&self.request_body(request))
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e, PROVIDER))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(self.classify_body(status.as_u16(), &body));
        }
        let mut answer = Answer::default();
        if !streamed {
            let body = response
                .text()
                .await
                .map_err(|e| Failure::from_reqwest(&e, PROVIDER))?;
            if let Some(status) = error_status(&body) {
                return Err(self.classify(status.code.unwrap_or(500), &status, &body));
            }
            let parsed: GenerateContentResponse = serde_json::from_str(&body).map_err(|e| {
                Failure::transient(format!("Gemini sent an unreadable response: {e}"))
            })?;
            answer.add(parsed, &mut stream);
            return answer.finish(false);
        }
        let mut bytes = response.bytes_stream();
        let mut decoder = SseDecoder::new();
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| Failure::from_reqwest(&e, PROVIDER))?;
            for item in decoder.feed(&chunk) {
                self.stream_item(item, &mut answer, &mut stream)?;
            }
        }
        for item in decoder.finish() {
            self.stream_item(item, &mut answer, &mut stream)?;
        }
        answer.finish(true)
    }
}

#[async_trait]
impl LlmProvider for GeminiProvider {
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
    use serde_json::json;

    use super::*;

    fn provider() -> GeminiProvider {
        GeminiProvider::new(
            GeminiConfig {
                model: "gemini-2.5-flash".into(),
                ..GeminiConfig::default()
            },
            CallSettings::default(),
        )
        .unwrap()
    }

    #[test]
    fn urls_are_built_without_url_join() {
        let p = provider();
        assert_eq!(
            p.url(true),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            p.url(false),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        );
    }

    #[test]
    fn delays_are_protobuf_durations() {
        assert_eq!(parse_delay("31s"), Some(Duration::from_secs(31)));
        assert_eq!(
            parse_delay("29.723877525s"),
            Some(Duration::from_secs_f64(29.723_877_525))
        );
        assert_eq!(parse_delay("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_delay("soon"), None);
        assert_eq!(parse_delay("-1s"), None);
    }

    #[test]
    fn errors_are_classified_as_the_reference_says() {
        let p = provider();
        let classify = |status: u16, body: &Value| p.classify_body(status, &body.to_string());
        let invalid_key = json!({ "error": { "code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [ { "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID", "domain": "googleapis.com" } ] } });
        assert!(
            matches!(classify(400, &invalid_key), Failure::Refused(m) if m.contains("API key is invalid"))
        );

        let no_key = json!({ "error": { "code": 403, "message": "Method doesn't allow unregistered callers.", "status": "PERMISSION_DENIED" } });
        assert!(
            matches!(classify(403, &no_key), Failure::Refused(m) if m.contains("GEMINI_API_KEY"))
        );

        let retired = json!({ "error": { "code": 404, "message": "models/gemini-1.5-flash is not found for API version v1beta", "status": "NOT_FOUND" } });
        assert!(
            matches!(classify(404, &retired), Failure::Refused(m) if m.contains("GEMINI_MODEL") && m.contains("is not found"))
        );

        let unknown_field = json!({ "error": { "code": 400, "message": "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': Cannot find field.", "status": "INVALID_ARGUMENT" } });
        assert!(
            matches!(classify(400, &unknown_field), Failure::Refused(m) if m.contains("Unknown name"))
        );

        let quota = |quota_id: &str, delay: &str| {
            json!({ "error": { "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "status": "RESOURCE_EXHAUSTED", "details": [
              { "@type": "type.googleapis.com/google.rpc.Help", "links": [] },
              { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [ { "quotaId": quota_id } ] },
              { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay } ] } })
        };
        assert_eq!(
            classify(429, &quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "1.5s")),
            Failure::RateLimited {
                detail: "Gemini rate limit: You exceeded your current quota, please check your plan and billing details.".into(),
                retry_after: Some(Duration::from_millis(1500)),
            }
        );
        assert!(matches!(
            classify(
                429,
                &quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "47s")
            ),
            Failure::QuotaExhausted(_)
        ));

        let overloaded = json!({ "error": { "code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE" } });
        assert!(matches!(
            classify(503, &overloaded),
            Failure::Transient { retry: true, .. }
        ));
        let internal = json!([{ "error": { "code": 500, "message": "An internal error has occurred.", "status": "INTERNAL" } }]);
        assert!(
            matches!(classify(500, &internal), Failure::Transient { detail, .. } if detail.contains("internal error"))
        );
        assert!(matches!(
            p.classify_body(502, "<html>Bad Gateway</html>"),
            Failure::Transient { detail, .. } if detail.contains("Bad Gateway")
        ));
    }

    #[test]
    fn responses_map_to_stops() {
        let finish = |v: Value, streamed: bool| {
            let mut a = Answer::default();
            a.add(serde_json::from_value(v).unwrap(), &mut None);
            a.finish(streamed)
        };
        let done = finish(
            json!({ "candidates": [ { "content": { "parts": [
                { "text": "thinking...", "thought": true }, { "text": "{\"reply\":\"hi\"}" } ] },
                "finishReason": "STOP" } ],
                "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 6 } }),
            false,
        )
        .unwrap();
        assert_eq!(done.text, "{\"reply\":\"hi\"}", "thoughts are skipped");
        assert_eq!(done.stop, Stop::Done);
        assert_eq!(
            done.usage,
            Usage {
                prompt_tokens: 10,
                output_tokens: 10
            }
        );
        let blocked = finish(
            json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" } }),
            false,
        )
        .unwrap();
        assert!(matches!(blocked.stop, Stop::Blocked(r) if r.contains("PROHIBITED_CONTENT")));
        let recitation = finish(
            json!({ "candidates": [ { "finishReason": "RECITATION" } ] }),
            false,
        )
        .unwrap();
        assert!(matches!(recitation.stop, Stop::Blocked(_)));
        let cut = finish(json!({ "candidates": [ { "content": { "role": "model" }, "finishReason": "MAX_TOKENS" } ] }), false).unwrap();
        assert_eq!(cut.stop, Stop::MaxTokens);
        let unfinished = finish(
            json!({ "candidates": [ { "content": { "parts": [ { "text": "{" } ] } } ] }),
            true,
        );
        assert!(matches!(unfinished, Err(Failure::Transient { .. })));
    }
}
