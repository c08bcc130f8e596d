//! The OpenAI Chat Completions JSON, as typed structs: snake_case on the wire, every response
//! field optional or defaulted, unknown fields ignored (Ollama, vLLM and llama.cpp add their
//! own). Names follow the OpenAI OpenAPI spec and the servers' sources (see
//! `shared/reference/llm-wire.md`, §3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::schema::Ordered;

/// `POST /chat/completions` request body.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    /// The model.
    pub model: &'a str,
    /// The conversation, the system message first.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature (omitted when the model only accepts its default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Output limit, older name (Ollama, llama.cpp, vLLM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output limit, newer name (OpenAI, required by its reasoning models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// The output format.
    pub response_format: ResponseFormat<'a>,
    /// Stream the answer as `chat.completion.chunk` events.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Ask for a usage chunk at the end of a stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// A message of the conversation.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// `response_format`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat<'a> {
    /// Structured output with a JSON Schema (the nested `json_schema.schema` form, the only
    /// one llama.cpp reads).
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat<'a>,
    },
    /// Any JSON object.
    JsonObject,
}

/// `response_format.json_schema`.
#[derive(Debug, Serialize)]
pub struct JsonSchemaFormat<'a> {
    /// A name (a-z, A-Z, 0-9, `_`, `-`).
    pub name: &'static str,
    /// Enforce the schema while decoding (OpenAI; others ignore it).
    pub strict: bool,
    /// The schema, properties in order.
    pub schema: Ordered<'a>,
}

/// `stream_options`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct StreamOptions {
    /// Send a last chunk with the usage.
    pub include_usage: bool,
}

/// A whole (non-streamed) completion.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChatCompletion {
    /// The choices (we ask for one).
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
}

/// One choice of a completion.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Choice {
    /// The index.
    #[serde(default)]
    pub index: u32,
    /// The message.
    #[serde(default)]
    pub message: Option<ResponseMessage>,
    /// Why it stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// The assistant's message.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ResponseMessage {
    /// The text (null when there are only tool calls); some servers send a list of parts.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// The refusal text, when a strict-schema request was refused.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// Message content: a string, or a list of text parts.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Parts (`{type: text, text}`); other kinds are ignored.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text of the content.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Parts(parts) => parts.iter().filter_map(|p| p.text.as_deref()).collect(),
        }
    }
}

/// One content part.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ContentPart {
    /// Its text, for text parts.
    #[serde(default)]
    pub text: Option<String>,
}

/// `finish_reason`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end.
    Stop,
    /// Token limit.
    Length,
    /// Tool calls.
    ToolCalls,
    /// Content filter.
    ContentFilter,
    /// Deprecated function call.
    FunctionCall,
    /// Anything else a server invents.
    #[serde(other)]
    Other,
}

/// `usage`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ChatUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Output tokens (reasoning included).
    #[serde(default)]
    pub completion_tokens: u32,
    /// Both.
    #[serde(default)]
    pub total_tokens: u32,
}

/// A `chat.completion.chunk` of a stream.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChatChunk {
    /// The choices' deltas (empty on the final usage chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage (null except on the final chunk; llama.cpp may send it on any).
    #[serde(default)]
    pub usage: Option<ChatUsage>,
}

/// One choice of a chunk.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChunkChoice {
    /// The index.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Option<Delta>,
    /// Set on the last chunk of the choice.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// What a chunk adds.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Delta {
    /// More text.
    #[serde(default)]
    pub content: Option<String>,
    /// More refusal text.
    #[serde(default)]
    pub refusal: Option<String>,
    /// Tool-call fragments (not requested; tolerated).
    #[serde(default)]
    pub tool_calls: Option<Value>,
}

/// An error body. OpenAI, Ollama, llama.cpp and current vLLM nest it under `error`; older vLLM
/// sends it flat (`{"object": "error", "message", "type", "code"}`); some servers send
/// `{"error": "text"}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// The nested error.
    #[serde(default)]
    pub error: Option<ErrorField>,
    /// Flat form: the message.
    #[serde(default)]
    pub message: Option<String>,
    /// Flat form: the type.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Flat form: the code.
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// Flat form: the parameter.
    #[serde(default)]
    pub param: Option<String>,
}

/// The `error` field: an object, or just a message.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ErrorField {
    /// `{message, type, param, code}`.
    Object(ErrorObject),
    /// A bare message.
    Message(String),
}

/// `{message, type, param, code}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ErrorObject {
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
    /// The kind (`invalid_request_error`, `insufficient_quota`, `server_error`, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
    /// A string code (OpenAI) or the HTTP status (vLLM, llama.cpp).
    #[serde(default)]
    pub code: Option<ErrorCode>,
}

/// An error code: a string or a number.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ErrorCode {
    /// `rate_limit_exceeded`, `insufficient_quota`, `unsupported_parameter`, ...
    Text(String),
    /// An HTTP status.
    Number(i64),
}

/// An error in one shape, whatever shape it came in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiError {
    /// The message.
    pub message: String,
    /// The type.
    pub kind: String,
    /// The parameter.
    pub param: String,
    /// A string code.
    pub code: String,
    /// A numeric code (an HTTP status).
    pub status: Option<u16>,
}

impl ApiError {
    /// Reads an error body; `None` when the text is not an error object.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let body: ErrorBody = serde_json::from_str(raw.trim()).ok()?;
        let (message, kind, param, code) = match body.error {
            Some(ErrorField::Object(o)) => (o.message, o.kind, o.param, o.code),
            Some(ErrorField::Message(m)) => (Some(m), None, None, None),
            None => (Some(body.message?), body.kind, body.param, body.code),
        };
        let (code, status) = match code {
            Some(ErrorCode::Text(t)) => (t, None),
            Some(ErrorCode::Number(n)) => (String::new(), u16::try_from(n).ok()),
            None => (String::new(), None),
        };
        Some(Self {
            message: message.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            param: param.unwrap_or_default(),
            code,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The reference's non-stream response (§3.3), with its tool call and usage details.
    #[test]
    fn reads_a_completion() {
        let c: ChatCompletion = serde_json::from_value(json!({
          "id": "chatcmpl-7QyqpwdfhqwajicIEznoc6Q47XAyW", "object": "chat.completion", "created": 1_767_225_600,
          "model": "gpt-4.1-mini-2025-04-14",
          "choices": [ { "index": 0, "message": { "role": "assistant", "content": null, "refusal": null,
              "tool_calls": [ { "id": "call_Qx81", "type": "function",
                  "function": { "name": "get_stock", "arguments": "{\"sku\":\"A-17\"}" } } ] },
            "logprobs": null, "finish_reason": "tool_calls" } ],
          "usage": { "prompt_tokens": 58, "completion_tokens": 17, "total_tokens": 75,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 } },
          "system_fingerprint": "fp_abc123", "service_tier": "default"
        }))
        .unwrap();
        assert_eq!(c.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.choices[0].message.as_ref().unwrap().content, None);
        assert_eq!(c.usage.unwrap().completion_tokens, 17);

        let parts: ChatCompletion = serde_json::from_value(json!({ "choices": [ { "message": {
            "content": [ { "type": "text", "text": "{\"reply\":" }, { "type": "text", "text": "\"hi\"}" } ] },
            "finish_reason": "eos" } ] }))
        .unwrap();
        assert_eq!(
            parts.choices[0]
                .message
                .as_ref()
                .unwrap()
                .content
                .as_ref()
                .unwrap()
                .text(),
            "{\"reply\":\"hi\"}"
        );
        assert_eq!(parts.choices[0].finish_reason, Some(FinishReason::Other));
    }

    /// The reference's stream chunks (§3.4): role chunk, content, finish, usage-only chunk.
    #[test]
    fn reads_stream_chunks() {
        let role: ChatChunk = serde_json::from_str(r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#).unwrap();
        assert_eq!(
            role.choices[0].delta.as_ref().unwrap().content.as_deref(),
            Some("")
        );
        let finish: ChatChunk = serde_json::from_str(r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#).unwrap();
        assert_eq!(finish.choices[0].finish_reason, Some(FinishReason::Stop));
        let usage: ChatChunk = serde_json::from_str(r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4.1-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}"#).unwrap();
        assert_eq!(usage.usage.unwrap().prompt_tokens, 12);
        let tool: ChatChunk = serde_json::from_str(r#"{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"sku\":\"A-1"}}]},"finish_reason":null}]}"#).unwrap();
        assert!(tool.choices[0].delta.as_ref().unwrap().tool_calls.is_some());
    }

    /// Every error shape of the reference (§3.5, §3.7).
    #[test]
    fn reads_every_error_shape() {
        let openai = ApiError::parse(r#"{ "error": { "message": "Rate limit reached for gpt-4.1-mini. Please try again in 171ms.", "type": "tokens", "param": null, "code": "rate_limit_exceeded" } }"#).unwrap();
        assert_eq!(openai.code, "rate_limit_exceeded");
        assert_eq!(openai.kind, "tokens");
        let unsupported = ApiError::parse(r#"{ "error": { "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter" } }"#).unwrap();
        assert_eq!(unsupported.param, "max_tokens");
        let vllm = ApiError::parse(r#"{"error":{"message":"model not found","type":"NotFoundError","param":null,"code":404}}"#).unwrap();
        assert_eq!(vllm.status, Some(404));
        let vllm_flat = ApiError::parse(r#"{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}"#).unwrap();
        assert_eq!(
            (vllm_flat.message.as_str(), vllm_flat.status),
            ("bad", Some(400))
        );
        let llama = ApiError::parse(
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
        )
        .unwrap();
        assert_eq!(
            (llama.kind.as_str(), llama.status),
            ("unavailable_error", Some(503))
        );
        let ollama = ApiError::parse(r#"{"error":{"message":"model runner has unexpectedly stopped","type":"api_error","param":null,"code":null}}"#).unwrap();
        assert_eq!(ollama.kind, "api_error");
        let bare = ApiError::parse(r#"{"error":"model 'llama9' not found"}"#).unwrap();
        assert_eq!(bare.message, "model 'llama9' not found");
        assert_eq!(ApiError::parse("Bad Gateway"), None);
        assert_eq!(ApiError::parse(r#"{"choices": []}"#), None);
    }
}
