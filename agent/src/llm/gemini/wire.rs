//! The Gemini API's JSON (v1beta `generateContent`), as typed structs: camelCase on the wire,
//! every response field optional or defaulted (Google omits zero counts, empty lists, blocked
//! content), enums with a catch-all for values added later. Field names follow the API's
//! protobuf definitions and the official SDK (see `shared/reference/llm-wire.md`, §1).
//!
//! [`Schema`] is the OpenAPI-subset schema of `responseSchema`; [`Schema::from_json_schema`]
//! converts a standard JSON Schema to it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::schema::property_order;

/// `POST models/{model}:generateContent` (and `:streamGenerateContent`) request body.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// The system instruction (text parts only).
    pub system_instruction: Content,
    /// The conversation, oldest first.
    pub contents: Vec<Content>,
    /// Sampling and output settings.
    pub generation_config: GenerationConfig,
}

/// A turn: a role and its parts.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// `user` or `model`; absent in the system instruction (and sometimes in responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts; absent in a response cut by the token limit while thinking.
    #[serde(default)]
    pub parts: Vec<Part>,
}

impl Content {
    /// A turn of one text part.
    #[must_use]
    pub fn text(role: Option<&str>, text: &str) -> Self {
        Self {
            role: role.map(str::to_owned),
            parts: vec![Part {
                text: Some(text.to_owned()),
                ..Part::default()
            }],
        }
    }
}

/// One part of a turn: we send and read text; other kinds are tolerated in responses.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// True on parts that carry the model's reasoning (not part of the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// A function call (we declare no functions; read only to be tolerated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
    /// Opaque signature of a thought (Gemini 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Output token limit (thinking tokens count against it).
    pub max_output_tokens: u32,
    /// `application/json`.
    pub response_mime_type: String,
    /// The output schema (OpenAPI subset).
    pub response_schema: Schema,
    /// Thinking settings, only when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

/// `thinkingConfig`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Tokens the model may think with (0 off, -1 automatic).
    pub thinking_budget: i32,
}

/// The type of a [`Schema`], uppercase on the wire.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// A string.
    String,
    /// A number.
    Number,
    /// An integer.
    Integer,
    /// A boolean.
    Boolean,
    /// A list.
    Array,
    /// An object.
    Object,
}

/// `responseSchema`: the OpenAPI 3.0 subset Gemini accepts. Only fields of the API's `Schema`
/// message exist here, so nothing Gemini would reject with "Unknown name" can be sent.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The type (absent for a pure `anyOf`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SchemaType>,
    /// What the value is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether null is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    /// Allowed string values.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    /// `enum` for enumerations, `date-time` for timestamps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Schema of list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Schema>>,
    /// Shortest list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// Longest list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// Object properties, in order.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_properties"
    )]
    pub properties: Option<Vec<(String, Schema)>>,
    /// Required properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<Vec<String>>,
    /// The order in which the model writes the properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_ordering: Option<Vec<String>>,
    /// Smallest number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Alternatives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any_of: Option<Vec<Schema>>,
}

#[expect(
    clippy::ref_option,
    reason = "the signature serde's serialize_with requires"
)]
fn serialize_properties<S: serde::Serializer>(
    properties: &Option<Vec<(String, Schema)>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let properties = properties.as_deref().unwrap_or_default();
    let mut map = serializer.serialize_map(Some(properties.len()))?;
    for (name, schema) in properties {
        map.serialize_entry(name, schema)?;
    }
    map.end()
}

fn schema_type(name: &str) -> Option<SchemaType> {
    Some(match name {
        "string" => SchemaType::String,
        "number" => SchemaType::Number,
        "integer" => SchemaType::Integer,
        "boolean" => SchemaType::Boolean,
        "array" => SchemaType::Array,
        "object" => SchemaType::Object,
        _ => return None,
    })
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

impl Schema {
    /// Converts a JSON Schema: lowercase types become uppercase, `["string", "null"]` and a
    /// `{"type": "null"}` alternative become `nullable`, `const` becomes a one-value `enum`,
    /// properties get a `propertyOrdering` (required first, then by name), an array without `items` gets string items (Gemini requires them),
    /// an object without properties becomes a string holding JSON (Gemini rejects an empty
    /// `OBJECT`), and keywords the subset lacks (`additionalProperties`, `$schema`, `pattern`,
    /// length limits, defaults) are dropped: the action registry checks them after parsing.
    #[must_use]
    pub fn from_json_schema(value: &Value) -> Self {
        let Some(node) = value.as_object() else {
            return Self::default();
        };
        let mut schema = Self {
            description: node
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..Self::default()
        };
        let mut nullable = false;
        let mut types: Vec<SchemaType> = Vec::new();
        match node.get("type") {
            Some(Value::String(t)) if t == "null" => nullable = true,
            Some(Value::String(t)) => types.extend(schema_type(t)),
            Some(Value::Array(list)) => {
                for t in list.iter().filter_map(Value::as_str) {
                    if t == "null" {
                        nullable = true;
                    } else {
                        types.extend(schema_type(t));
                    }
                }
            }
            _ => {}
        }
        if node.get("nullable").and_then(Value::as_bool) == Some(true) {
            nullable = true;
        }
        let enum_source = node
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| node.get("const").map(|c| vec![c.clone()]));
        if let Some(values) = enum_source {
            if values.iter().any(Value::is_null) {
                nullable = true;
            }
            let strings: Vec<String> = values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            // Gemini enums are strings only; an enum of numbers is left to the validator.
            if !strings.is_empty()
                && strings.len() == values.iter().filter(|v| !v.is_null()).count()
            {
                schema.enum_values = Some(strings);
                schema.format = Some("enum".into());
                if types.is_empty() {
                    types.push(SchemaType::String);
                }
            }
        }
        if let Some(alternatives) = node
            .get("anyOf")
            .or_else(|| node.get("oneOf"))
            .and_then(Value::as_array)
        {
            let mut converted: Vec<Self> = Vec::new();
            for alt in alternatives {
                if is_null_schema(alt) {
                    nullable = true;
                } else {
                    converted.push(Self::from_json_schema(alt));
                }
            }
            if converted.len() == 1 && types.is_empty() {
                let mut only = converted.remove(0);
                if schema.description.is_some() {
                    only.description.clone_from(&schema.description);
                }
                schema = only;
            } else if !converted.is_empty() {
                schema.any_of = Some(converted);
            }
        }
        if types.is_empty() && schema.kind.is_none() && schema.any_of.is_none() {
            if node.contains_key("properties") {
                types.push(SchemaType::Object);
            } else if node.contains_key("items") {
                types.push(SchemaType::Array);
            }
        }
        let own_kind = types.len() == 1;
        match types.len() {
            0 => {}
            1 => schema.kind = types.first().copied(),
            // Several types: one alternative per type.
            _ => {
                let mut alternatives = Vec::new();
                for t in types {
                    let mut alt = Self::from_json_schema(&Value::Object(
                        node.iter()
                            .filter(|(k, _)| !matches!(k.as_str(), "type" | "description"))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ));
                    alt.kind = Some(t);
                    alt.nullable = None;
                    alternatives.push(alt);
                }
                schema.any_of = Some(alternatives);
            }
        }
        if nullable {
            schema.nullable = Some(true);
        }
        if !own_kind {
            return schema;
        }
        match schema.kind {
            Some(SchemaType::Object) => {
                let order = property_order(node);
                if let Some(props) = node.get("properties").and_then(Value::as_object) {
                    let converted: Vec<(String, Self)> = order
                        .iter()
                        .filter_map(|k| {
                            props.get(k).map(|v| (k.clone(), Self::from_json_schema(v)))
                        })
                        .collect();
                    if !converted.is_empty() {
                        schema.properties = Some(converted);
                        if order.len() > 1 {
                            schema.property_ordering = Some(order);
                        }
                    }
                }
                if schema.properties.is_none() {
                    // Gemini rejects an OBJECT without properties; a free-form object is asked
                    // for as JSON text, which the action registry accepts in place of an object.
                    schema.kind = Some(SchemaType::String);
                    schema.property_ordering = None;
                    let what = "A JSON object, written as a string.";
                    schema.description = Some(match schema.description.take() {
                        Some(d) => format!("{d} ({what})"),
                        None => what.into(),
                    });
                    return schema;
                }
                if let Some(required) = node.get("required").and_then(Value::as_array) {
                    let required: Vec<String> = required
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|k| {
                            schema
                                .properties
                                .as_ref()
                                .is_some_and(|p| p.iter().any(|(name, _)| name == k))
                        })
                        .map(str::to_owned)
                        .collect();
                    if !required.is_empty() {
                        schema.required = Some(required);
                    }
                }
            }
            Some(SchemaType::Array) => {
                let items = node
                    .get("items")
                    .map_or_else(Self::default, Self::from_json_schema);
                let items = if items == Self::default() {
                    Self {
                        kind: Some(SchemaType::String),
                        ..Self::default()
                    }
                } else {
                    items
                };
                schema.items = Some(Box::new(items));
                schema.min_items = node.get("minItems").and_then(Value::as_u64);
                schema.max_items = node.get("maxItems").and_then(Value::as_u64);
            }
            Some(SchemaType::Number | SchemaType::Integer) => {
                schema.minimum = node.get("minimum").and_then(Value::as_f64);
                schema.maximum = node.get("maximum").and_then(Value::as_f64);
            }
            Some(SchemaType::String) => {
                if schema.format.is_none() {
                    schema.format = node
                        .get("format")
                        .and_then(Value::as_str)
                        .filter(|f| *f == "date-time")
                        .map(str::to_owned);
                }
            }
            Some(SchemaType::Boolean) | None => {}
        }
        schema
    }
}

/// A `GenerateContentResponse` (one whole response, or one streamed chunk).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// Absent or empty when the prompt was blocked.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked, if it was.
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts (running totals on streamed chunks).
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    #[serde(default)]
    pub model_version: Option<String>,
    /// The response id.
    #[serde(default)]
    pub response_id: Option<String>,
}

/// One candidate answer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The answer; missing when blocked, without parts when cut while thinking.
    #[serde(default)]
    pub content: Option<Content>,
    /// Why generation stopped (on the last chunk only).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Detail of the finish reason.
    #[serde(default)]
    pub finish_message: Option<String>,
    /// Candidate index (absent means 0).
    #[serde(default)]
    pub index: Option<u32>,
}

/// `Candidate.FinishReason`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinishReason {
    /// Unspecified.
    FinishReasonUnspecified,
    /// Natural end.
    Stop,
    /// Output token limit.
    MaxTokens,
    /// Safety filter.
    Safety,
    /// Recitation of training data.
    Recitation,
    /// Unsupported language.
    Language,
    /// Other reason.
    Other,
    /// Blocklisted terms.
    Blocklist,
    /// Prohibited content.
    ProhibitedContent,
    /// Sensitive personal information.
    Spii,
    /// A malformed function call.
    MalformedFunctionCall,
    /// Image safety filter.
    ImageSafety,
    /// Prohibited image content.
    ImageProhibitedContent,
    /// Other image problem.
    ImageOther,
    /// No image generated.
    NoImage,
    /// Image recitation.
    ImageRecitation,
    /// A tool call where none was expected.
    UnexpectedToolCall,
    /// Too many tool calls.
    TooManyToolCalls,
    /// A value added after this was written.
    #[serde(other)]
    Unknown,
}

/// `promptFeedback`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Set when the prompt was blocked (`SAFETY`, `OTHER`, `BLOCKLIST`, `PROHIBITED_CONTENT`,
    /// ...); kept as text, the reason is only logged.
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// `usageMetadata`; zero counts are omitted by the API.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_token_count: Option<u32>,
    /// Answer tokens (thoughts excluded).
    #[serde(default)]
    pub candidates_token_count: Option<u32>,
    /// Thinking tokens.
    #[serde(default)]
    pub thoughts_token_count: Option<u32>,
    /// Tokens of tool-use prompts.
    #[serde(default)]
    pub tool_use_prompt_token_count: Option<u32>,
    /// Cached prompt tokens.
    #[serde(default)]
    pub cached_content_token_count: Option<u32>,
    /// Everything.
    #[serde(default)]
    pub total_token_count: Option<u32>,
}

/// The error envelope: `{"error": Status}` (sometimes inside a one-element array).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ErrorEnvelope {
    /// The status.
    #[serde(default)]
    pub error: Status,
}

/// A `google.rpc.Status`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Status {
    /// The HTTP code.
    #[serde(default)]
    pub code: Option<u16>,
    /// A readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// The status name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, ...).
    #[serde(default)]
    pub status: Option<String>,
    /// Typed details, by `@type`.
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

/// One entry of `Status.details`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "@type")]
pub enum ErrorDetail {
    /// Why, as a machine-readable reason (`API_KEY_INVALID`).
    #[serde(rename = "type.googleapis.com/google.rpc.ErrorInfo")]
    ErrorInfo {
        /// The reason.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Which quota was exceeded.
    #[serde(rename = "type.googleapis.com/google.rpc.QuotaFailure")]
    QuotaFailure {
        /// The exceeded quotas.
        #[serde(default)]
        violations: Vec<QuotaViolation>,
    },
    /// When to retry.
    #[serde(rename = "type.googleapis.com/google.rpc.RetryInfo")]
    #[serde(rename_all = "camelCase")]
    RetryInfo {
        /// A protobuf Duration string (`"31s"`, `"29.72s"`).
        #[serde(default)]
        retry_delay: Option<String>,
    },
    /// Any other detail (Help, LocalizedMessage, BadRequest, ...).
    #[serde(other)]
    Other,
}

/// One exceeded quota.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuotaViolation {
    /// The quota's id (`GenerateRequestsPerDayPerProjectPerModel-FreeTier`).
    #[serde(default)]
    pub quota_id: Option<String>,
    /// The metric.
    #[serde(default)]
    pub quota_metric: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The wire reference's plain success fixture (§1.6).
    #[test]
    fn reads_a_plain_response() {
        let r: GenerateContentResponse = serde_json::from_value(json!({
          "candidates": [ {
            "content": { "role": "model", "parts": [ { "text": "A ripe lime is usually deep green." } ] },
            "finishReason": "STOP",
            "index": 0
          } ],
          "usageMetadata": {
            "promptTokenCount": 27, "candidatesTokenCount": 9, "totalTokenCount": 36,
            "promptTokensDetails": [ { "modality": "TEXT", "tokenCount": 27 } ]
          },
          "modelVersion": "gemini-2.5-flash",
          "responseId": "a1b2c3"
        }))
        .unwrap();
        let c = &r.candidates[0];
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            c.content.as_ref().unwrap().parts[0].text.as_deref(),
            Some("A ripe lime is usually deep green.")
        );
        assert_eq!(r.usage_metadata.unwrap().candidates_token_count, Some(9));
    }

    /// Blocked prompt, blocked candidate, thinking cut by MAX_TOKENS, a function call with a
    /// thought signature, and a finish reason added after this code was written.
    #[test]
    fn reads_the_odd_responses() {
        let blocked: GenerateContentResponse = serde_json::from_value(json!({
          "promptFeedback": { "blockReason": "SAFETY", "safetyRatings": [
              { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH" } ] },
          "usageMetadata": { "promptTokenCount": 14, "totalTokenCount": 14 },
          "modelVersion": "gemini-2.5-flash"
        }))
        .unwrap();
        assert!(blocked.candidates.is_empty());
        assert_eq!(
            blocked.prompt_feedback.unwrap().block_reason.as_deref(),
            Some("SAFETY")
        );

        let safety: GenerateContentResponse = serde_json::from_value(json!({
          "candidates": [ { "finishReason": "SAFETY", "index": 0, "safetyRatings": [
              { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "MEDIUM", "blocked": true } ] } ],
          "usageMetadata": { "promptTokenCount": 20, "totalTokenCount": 20 }
        }))
        .unwrap();
        assert_eq!(safety.candidates[0].content, None);
        assert_eq!(
            safety.candidates[0].finish_reason,
            Some(FinishReason::Safety)
        );

        let thinking: GenerateContentResponse = serde_json::from_value(json!({
          "candidates": [ { "content": { "role": "model" }, "finishReason": "MAX_TOKENS", "index": 0 } ],
          "usageMetadata": { "promptTokenCount": 900, "totalTokenCount": 1156, "thoughtsTokenCount": 256 }
        }))
        .unwrap();
        assert!(
            thinking.candidates[0]
                .content
                .as_ref()
                .unwrap()
                .parts
                .is_empty()
        );
        assert_eq!(
            thinking.usage_metadata.unwrap().thoughts_token_count,
            Some(256)
        );

        let call: GenerateContentResponse = serde_json::from_value(json!({
          "candidates": [ { "content": { "role": "model", "parts": [ {
              "functionCall": { "name": "get_stock", "args": { "sku": "A-17" } },
              "thoughtSignature": "Q2lGMWQ0dDQ..." } ] },
            "finishReason": "STOP", "index": 0 } ]
        }))
        .unwrap();
        let part = &call.candidates[0].content.as_ref().unwrap().parts[0];
        assert!(part.function_call.is_some());
        assert_eq!(part.thought_signature.as_deref(), Some("Q2lGMWQ0dDQ..."));

        let future: GenerateContentResponse = serde_json::from_value(json!({
          "candidates": [ { "finishReason": "SOMETHING_NEW" } ] }))
        .unwrap();
        assert_eq!(
            future.candidates[0].finish_reason,
            Some(FinishReason::Unknown)
        );
    }

    /// The wire reference's 429 body (§1.8) and the invalid-key body.
    #[test]
    fn reads_error_details() {
        let e: ErrorEnvelope = serde_json::from_value(json!({ "error": { "code": 429,
          "message": "You exceeded your current quota, please check your plan and billing details.",
          "status": "RESOURCE_EXHAUSTED",
          "details": [
            { "@type": "type.googleapis.com/google.rpc.Help", "links": [ { "description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits" } ] },
            { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [ {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": { "location": "global", "model": "gemini-2.5-flash" },
                "quotaValue": "10" } ] },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s" } ] } }))
        .unwrap();
        assert_eq!(e.error.code, Some(429));
        assert!(matches!(&e.error.details[0], ErrorDetail::Other));
        assert!(
            matches!(&e.error.details[1], ErrorDetail::QuotaFailure { violations } if violations[0].quota_id.as_deref() == Some("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"))
        );
        assert!(
            matches!(&e.error.details[2], ErrorDetail::RetryInfo { retry_delay } if retry_delay.as_deref() == Some("31s"))
        );

        let e: ErrorEnvelope = serde_json::from_value(json!({ "error": { "code": 400,
          "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
          "details": [
            { "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
              "metadata": { "service": "generativelanguage.googleapis.com" } },
            { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid." } ] } }))
        .unwrap();
        assert!(
            matches!(&e.error.details[0], ErrorDetail::ErrorInfo { reason } if reason.as_deref() == Some("API_KEY_INVALID"))
        );
    }

    #[test]
    fn the_request_is_camel_case_with_uppercase_schema_types() {
        let request = GenerateContentRequest {
            system_instruction: Content::text(None, "Be brief."),
            contents: vec![Content::text(Some("user"), "Hi")],
            generation_config: GenerationConfig {
                temperature: Some(0.2),
                max_output_tokens: 256,
                response_mime_type: "application/json".into(),
                response_schema: Schema::from_json_schema(&json!({
                    "type": "object",
                    "properties": { "reply": { "type": "string" } },
                    "required": ["reply"],
                    "additionalProperties": false,
                })),
                thinking_config: Some(ThinkingConfig { thinking_budget: 0 }),
            },
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "systemInstruction": { "parts": [ { "text": "Be brief." } ] },
                "contents": [ { "role": "user", "parts": [ { "text": "Hi" } ] } ],
                "generationConfig": {
                    "temperature": 0.2,
                    "maxOutputTokens": 256,
                    "responseMimeType": "application/json",
                    "responseSchema": {
                        "type": "OBJECT",
                        "properties": { "reply": { "type": "STRING" } },
                        "required": ["reply"],
                    },
                    "thinkingConfig": { "thinkingBudget": 0 },
                },
            })
        );
    }

    #[test]
    fn json_schema_converts_to_the_openapi_subset() {
        let schema = Schema::from_json_schema(&json!({
            "type": "object",
            "additionalProperties": false,
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "properties": {
                "reply": { "type": "string", "description": "The answer." },
                "actions": { "type": "array", "items": { "anyOf": [
                    { "type": "object", "properties": {
                        "type": { "type": "string", "enum": ["notify_user"] },
                        "priority": { "type": ["string", "null"], "enum": ["LOW", "HIGH", null], "default": "LOW" },
                        "message": { "type": "string", "minLength": 1, "maxLength": 1000 },
                        "count": { "type": "integer", "minimum": 1 },
                    }, "required": ["type", "message"] },
                    { "type": "object", "properties": {
                        "type": { "const": "log_event" },
                        "details": { "anyOf": [ { "type": "string" }, { "type": "null" } ] },
                        "meta": { "type": "object" },
                        "tags": { "type": "array" },
                    }, "required": ["type"] },
                ] } },
            },
            "required": ["reply", "actions"],
        }));
        let wire = serde_json::to_value(&schema).unwrap();
        assert_eq!(
            wire,
            json!({
                "type": "OBJECT",
                "properties": {
                    "reply": { "type": "STRING", "description": "The answer." },
                    "actions": { "type": "ARRAY", "items": { "anyOf": [
                        { "type": "OBJECT", "properties": {
                            "type": { "type": "STRING", "enum": ["notify_user"], "format": "enum" },
                            "message": { "type": "STRING" },
                            "count": { "type": "INTEGER", "minimum": 1.0 },
                            "priority": { "type": "STRING", "enum": ["LOW", "HIGH"], "format": "enum", "nullable": true },
                          },
                          "required": ["type", "message"],
                          "propertyOrdering": ["type", "message", "count", "priority"] },
                        { "type": "OBJECT", "properties": {
                            "type": { "type": "STRING", "enum": ["log_event"], "format": "enum" },
                            "details": { "type": "STRING", "nullable": true },
                            "meta": { "type": "STRING", "description": "A JSON object, written as a string." },
                            "tags": { "type": "ARRAY", "items": { "type": "STRING" } },
                          },
                          "required": ["type"],
                          "propertyOrdering": ["type", "details", "meta", "tags"] },
                    ] } },
                },
                "required": ["reply", "actions"],
                "propertyOrdering": ["reply", "actions"],
            })
        );
        // And `reply` is written first on the wire, so the model writes it first.
        let text = serde_json::to_string(&schema).unwrap();
        assert!(text.find("\"reply\"").unwrap() < text.find("\"actions\"").unwrap());
    }
}
