//! What every provider does to [`Prompt::output_schema`](crate::prompt::Prompt::output_schema)
//! before converting it to its own dialect:
//!
//! - **Property order.** Models write keys in the order the schema lists them (Gemini 2.5+, and
//!   OpenAI structured outputs), and the reply can only stream before the actions if `reply`
//!   comes first. `serde_json` maps are sorted by key, so the order is rebuilt here:
//!   [`property_order`] puts an object's `required` keys first, in their listed order (the
//!   output schema lists `reply` first, and each action `type` first), then the others by
//!   name. [`Ordered`] serialises a schema with its properties in that order.
//! - **No alternatives.** A tenant with every action type switched off has an empty `anyOf` for
//!   the action items, which no provider accepts; [`normalize`] turns such a list into an array
//!   that must stay empty (`maxItems: 0`).

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Map, Value, json};

/// The order of an object schema's properties: its `required` keys as listed, then the others
/// sorted by name.
#[must_use]
pub fn property_order(node: &Map<String, Value>) -> Vec<String> {
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut order: Vec<String> = Vec::with_capacity(properties.len());
    if let Some(required) = node.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if properties.contains_key(key) && !order.iter().any(|k| k == key) {
                order.push(key.to_owned());
            }
        }
    }
    for key in properties.keys() {
        if !order.iter().any(|k| k == key) {
            order.push(key.clone());
        }
    }
    order
}

/// Replaces every array whose items are an empty `anyOf` by an array that must stay empty, and
/// drops other empty `anyOf` lists (they would forbid everything, and providers reject them).
#[must_use]
pub fn normalize(schema: &Value) -> Value {
    match schema {
        Value::Object(node) => {
            let empty_items = node
                .get("items")
                .and_then(|items| items.get("anyOf"))
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty);
            let mut out = Map::new();
            for (key, value) in node {
                let empty_any_of = key == "anyOf" && value.as_array().is_some_and(Vec::is_empty);
                if empty_any_of {
                    continue;
                }
                out.insert(key.clone(), normalize(value));
            }
            if empty_items {
                out.insert("items".into(), json!({ "type": "string" }));
                out.insert("maxItems".into(), json!(0));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Serialises a JSON Schema with every object's properties in [`property_order`].
#[derive(Clone, Copy, Debug)]
pub struct Ordered<'a>(pub &'a Value);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(node) => {
                let mut map = serializer.serialize_map(Some(node.len()))?;
                for (key, value) in node {
                    match value {
                        Value::Object(properties) if key == "properties" => {
                            let order = property_order(node);
                            map.serialize_entry(
                                key,
                                &OrderedProperties {
                                    properties,
                                    order: &order,
                                },
                            )?;
                        }
                        _ => map.serialize_entry(key, &Ordered(value))?,
                    }
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ordered(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// A `properties` map written in a given order.
struct OrderedProperties<'a> {
    properties: &'a Map<String, Value>,
    order: &'a [String],
}

impl Serialize for OrderedProperties<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.properties.len()))?;
        for key in self.order {
            if let Some(value) = self.properties.get(key) {
                map.serialize_entry(key, &Ordered(value))?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_keys_come_first_in_their_order() {
        let schema = json!({
            "type": "object",
            "properties": {
                "actions": { "type": "array", "items": { "type": "object",
                    "properties": { "a": {}, "type": {}, "message": {} }, "required": ["type", "message"] } },
                "reply": { "type": "string" },
                "extra": { "type": "string" },
            },
            "required": ["reply", "actions"],
        });
        let text = serde_json::to_string(&Ordered(&schema)).unwrap();
        let pos = |needle: &str| text.find(needle).unwrap();
        assert!(pos("\"reply\"") < pos("\"actions\""), "{text}");
        assert!(pos("\"actions\"") < pos("\"extra\""), "{text}");
        assert!(pos("\"type\":{}") < pos("\"message\":{}"), "{text}");
        assert!(pos("\"message\":{}") < pos("\"a\":{}"), "{text}");
        // Reordering changes nothing but the order.
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, schema);
    }

    #[test]
    fn empty_alternatives_become_an_empty_list() {
        let schema = json!({ "type": "object", "properties": {
            "actions": { "type": "array", "items": { "anyOf": [] } } } });
        let n = normalize(&schema);
        assert_eq!(
            n["properties"]["actions"],
            json!({ "type": "array", "items": { "type": "string" }, "maxItems": 0 })
        );
    }
}
