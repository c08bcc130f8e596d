//! Reading the parameters of a proposed action the way LLMs really send them, before they are
//! turned into a typed [`super::Action`]. Leniency is only about form, never about who may be
//! reached: names of keys in any case and spelling (`user_id`, `userId`, `UserID`), parameters
//! nested under `params`/`arguments` (as an object or as a JSON string), enum values in any case,
//! and numbers (`5.0` or `5`) where text is expected. Every problem is a [`Rejection`] with a
//! reason a person can read.

use entity::Priority;
use serde_json::{Map, Value};

/// Why a proposed action was refused, in words shown on the action record and in the event log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

impl Rejection {
    /// A rejection with this reason.
    #[must_use]
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Keys under which some models nest the parameters instead of listing them beside `type`.
const NESTING_KEYS: &[&str] = &["params", "parameters", "arguments", "args", "input"];

/// Most characters of a notification message (the `notifications.message` CHECK constraint).
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// A key as compared: lower case, without `_`, `-` and spaces (`userId` == `user_id`).
fn normalise_key(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The parameters of one proposed action, with normalised keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    map: Map<String, Value>,
}

impl Params {
    /// Reads the parameters of a proposed action. Parameters nested under `params`, `arguments`
    /// and the like (as an object or as a string holding a JSON object) are lifted beside the
    /// others; a key given both ways keeps its top-level value.
    #[must_use]
    pub fn new(proposed: &Map<String, Value>) -> Self {
        let mut map = Map::new();
        let mut nested = Vec::new();
        for (key, value) in proposed {
            let key = normalise_key(key);
            if NESTING_KEYS.contains(&key.as_str()) {
                match value {
                    Value::Object(inner) => nested.push(inner.clone()),
                    Value::String(text) => {
                        if let Ok(Value::Object(inner)) = serde_json::from_str(text) {
                            nested.push(inner);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            map.insert(key, value.clone());
        }
        for inner in nested {
            for (key, value) in inner {
                map.entry(normalise_key(&key)).or_insert(value);
            }
        }
        Self { map }
    }

    /// The value of the first of `names` that is present and not null.
    #[must_use]
    pub fn get(&self, names: &[&str]) -> Option<&Value> {
        names
            .iter()
            .find_map(|n| self.map.get(&normalise_key(n)).filter(|v| !v.is_null()))
    }

    /// A text parameter, trimmed: a string, or a number or boolean written as text (`5.0` is
    /// `"5"`). `None` when absent, null or blank.
    ///
    /// # Errors
    /// A [`Rejection`] when the value is an array or an object.
    pub fn text(&self, names: &[&str]) -> Result<Option<String>, Rejection> {
        let Some(value) = self.get(names) else {
            return Ok(None);
        };
        let text = match value {
            // Postgres text cannot hold NUL: a model that emits one must not fail the reply.
            Value::String(s) => s.replace('\0', "").trim().to_owned(),
            Value::Number(n) => number_text(n),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) | Value::Null => {
                return Err(Rejection::new(format!("{} must be text", names[0])));
            }
        };
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    /// A required text parameter.
    ///
    /// # Errors
    /// A [`Rejection`] when it is missing, blank or not text.
    pub fn required_text(&self, names: &[&str]) -> Result<String, Rejection> {
        self.text(names)?
            .ok_or_else(|| Rejection::new(format!("missing parameter {}", names[0])))
    }

    /// The notification message: required, 1 to [`MAX_MESSAGE_CHARS`] characters after trimming.
    ///
    /// # Errors
    /// A [`Rejection`] when missing, blank or too long.
    pub fn message(&self) -> Result<String, Rejection> {
        let message = self.required_text(&["message", "text", "content", "body", "msg"])?;
        let len = message.chars().count();
        if len > MAX_MESSAGE_CHARS {
            return Err(Rejection::new(format!(
                "message must be 1-{MAX_MESSAGE_CHARS} characters (it has {len})"
            )));
        }
        Ok(message)
    }

    /// The priority: LOW, NORMAL, HIGH or URGENT in any case; NORMAL when absent.
    ///
    /// # Errors
    /// A [`Rejection`] for any other value.
    pub fn priority(&self) -> Result<Priority, Rejection> {
        let Some(text) = self.text(&["priority", "urgency"])? else {
            return Ok(Priority::Normal);
        };
        parse_priority(&text).ok_or_else(|| {
            Rejection::new(format!(
                "priority must be one of LOW, NORMAL, HIGH, URGENT (got {text:?})"
            ))
        })
    }
}

/// `value` without NUL characters in any string (Postgres `jsonb` and `text` refuse them), for
/// recording what a model proposed.
#[must_use]
pub fn scrub(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('\0', "")),
        Value::Array(items) => Value::Array(items.iter().map(scrub).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.replace('\0', ""), scrub(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A priority by name, in any case (`urgent`, `High`).
#[must_use]
pub fn parse_priority(text: &str) -> Option<Priority> {
    match text.trim().to_ascii_uppercase().as_str() {
        "LOW" => Some(Priority::Low),
        "NORMAL" => Some(Priority::Normal),
        "HIGH" => Some(Priority::High),
        "URGENT" => Some(Priority::Urgent),
        _ => None,
    }
}

/// The upper-case name of a priority, as stored and as shown to the model.
#[must_use]
pub const fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "LOW",
        Priority::Normal => "NORMAL",
        Priority::High => "HIGH",
        Priority::Urgent => "URGENT",
    }
}

/// A JSON number as text: integral values without a fraction (`5.0` -> `5`).
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        // Integral floats within the range where f64 holds every integer exactly.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(v: Value) -> Params {
        match v {
            Value::Object(map) => Params::new(&map),
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn keys_match_in_any_spelling() {
        let p = params(json!({ "userId": "a", "Message": "hi" }));
        assert_eq!(p.text(&["user_id"]).unwrap().as_deref(), Some("a"));
        assert_eq!(p.message().unwrap(), "hi");
    }

    #[test]
    fn nested_params_as_object_or_json_string_are_lifted() {
        let p = params(json!({ "params": { "message": "a" } }));
        assert_eq!(p.message().unwrap(), "a");
        let p = params(json!({ "arguments": "{\"message\": \"b\", \"priority\": \"high\"}" }));
        assert_eq!(p.message().unwrap(), "b");
        assert_eq!(p.priority().unwrap(), Priority::High);
        // A top-level value wins over a nested one.
        let p = params(json!({ "message": "top", "params": { "message": "nested" } }));
        assert_eq!(p.message().unwrap(), "top");
    }

    #[test]
    fn numbers_are_text_where_text_is_expected() {
        let p = params(json!({ "message": 5.0, "details": 2.5, "n": 7 }));
        assert_eq!(p.message().unwrap(), "5");
        assert_eq!(p.text(&["details"]).unwrap().as_deref(), Some("2.5"));
        assert_eq!(p.text(&["n"]).unwrap().as_deref(), Some("7"));
        let p = params(json!({ "message": ["a"] }));
        assert_eq!(p.message().unwrap_err().0, "message must be text");
    }

    #[test]
    fn message_is_trimmed_and_bounded() {
        assert_eq!(
            params(json!({ "message": "  hi  " })).message().unwrap(),
            "hi"
        );
        assert_eq!(
            params(json!({ "message": "   " })).message().unwrap_err().0,
            "missing parameter message"
        );
        assert_eq!(
            params(json!({})).message().unwrap_err().0,
            "missing parameter message"
        );
        let exactly = "é".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(
            params(json!({ "message": exactly })).message().unwrap(),
            exactly
        );
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(
            params(json!({ "message": long }))
                .message()
                .unwrap_err()
                .0
                .contains("1-1000 characters")
        );
    }

    #[test]
    fn nul_characters_are_dropped() {
        let p = params(json!({ "message": "a\u{0}b" }));
        assert_eq!(p.message().unwrap(), "ab");
        assert_eq!(
            scrub(&json!({ "k\u{0}": ["x\u{0}", 1] })),
            json!({ "k": ["x", 1] })
        );
    }

    #[test]
    fn priority_is_case_insensitive_with_a_default() {
        assert_eq!(params(json!({})).priority().unwrap(), Priority::Normal);
        assert_eq!(
            params(json!({ "priority": null })).priority().unwrap(),
            Priority::Normal
        );
        assert_eq!(
            params(json!({ "priority": "urgent" })).priority().unwrap(),
            Priority::Urgent
        );
        assert_eq!(
            params(json!({ "priority": " Low " })).priority().unwrap(),
            Priority::Low
        );
        let err = params(json!({ "priority": "critical" }))
            .priority()
            .unwrap_err();
        assert!(err.0.contains("LOW, NORMAL, HIGH, URGENT"), "{err}");
    }
}
