//! The model's output, `{"reply": "...", "actions": [...]}`, read two ways:
//!
//! - While it streams, [`ReplyExtractor`] scans the partial JSON and decodes the `reply` string
//!   as it arrives (escapes, `\u` surrogate pairs and all, split anywhere), so the user sees the
//!   reply being written. It only ever emits text that is inside the `reply` string of the
//!   top-level object, so a model that answers in prose or puts other keys first never leaks
//!   JSON syntax to the user. The schemas ask for `reply` first, so the text starts at once.
//! - When the output is complete, [`parse_output`] parses it: surrounding markdown fences or
//!   prose are tolerated, then the envelope is checked (an object, `reply` a string, `actions`
//!   a list of objects each naming its `type`). Each action's parameters are checked later by
//!   the action registry, which records a rejection with its reason; a malformed envelope is
//!   what triggers the repair call.
//!
//! [`readable_text`] picks what to show when nothing parses.

use serde_json::Value;

use super::ProposedAction;

/// Where the extractor is in the output.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Before the top-level object.
    Seek,
    /// In the top-level object, before a key (or its end).
    BeforeKey,
    /// Reading a key.
    Key { raw: String, escape: bool },
    /// After a key, before `:`.
    AfterKey { reply: bool },
    /// After `:`, before the value.
    BeforeValue { reply: bool },
    /// Inside the `reply` string.
    Reply,
    /// Skipping another key's value.
    Skip {
        depth: u32,
        in_string: bool,
        escape: bool,
        started: bool,
    },
    /// The reply string is complete, the object ended, or there is no reply to find.
    Done,
}

/// Decodes the `reply` string of a JSON object that arrives in pieces.
#[derive(Clone, Debug)]
pub struct ReplyExtractor {
    state: State,
    /// An escape sequence being read inside the reply (`\`, `\u12`, ...).
    pending: String,
    /// A high surrogate waiting for its low half.
    high_surrogate: Option<u16>,
    /// The decoded reply so far.
    reply: String,
}

impl Default for ReplyExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyExtractor {
    /// An extractor at the start of the output.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: State::Seek,
            pending: String::new(),
            high_surrogate: None,
            reply: String::new(),
        }
    }

    /// Everything decoded so far.
    #[must_use]
    pub fn reply(&self) -> &str {
        &self.reply
    }

    /// Scans the next piece of output; returns the reply text it adds (often empty).
    pub fn feed(&mut self, piece: &str) -> String {
        let mut out = String::new();
        for c in piece.chars() {
            self.step(c, &mut out);
        }
        self.reply.push_str(&out);
        out
    }

    fn step(&mut self, c: char, out: &mut String) {
        match &mut self.state {
            State::Seek => {
                if c == '{' {
                    self.state = State::BeforeKey;
                }
            }
            State::BeforeKey => match c {
                '"' => {
                    self.state = State::Key {
                        raw: String::new(),
                        escape: false,
                    };
                }
                '}' => self.state = State::Done,
                c if c.is_whitespace() || c == ',' => {}
                // Not a JSON object after all (prose with a brace): look for the next one.
                _ => self.state = State::Seek,
            },
            State::Key { raw, escape } => {
                if *escape {
                    *escape = false;
                    raw.push(c);
                } else if c == '\\' {
                    *escape = true;
                    raw.push(c);
                } else if c == '"' {
                    let key: Option<String> = serde_json::from_str(&format!("\"{raw}\"")).ok();
                    self.state = State::AfterKey {
                        reply: key.as_deref() == Some("reply"),
                    };
                } else {
                    raw.push(c);
                }
            }
            State::AfterKey { reply } => {
                if c == ':' {
                    self.state = State::BeforeValue { reply: *reply };
                } else if !c.is_whitespace() {
                    self.state = State::Seek;
                }
            }
            State::BeforeValue { .. } if c.is_whitespace() => {}
            State::BeforeValue { reply } => {
                if *reply {
                    // A reply that is not a string (null, a number) has no text to stream;
                    // the final parse decides what it means.
                    self.state = if c == '"' { State::Reply } else { State::Done };
                } else {
                    self.state = State::Skip {
                        depth: 0,
                        in_string: false,
                        escape: false,
                        started: false,
                    };
                    self.step(c, out);
                }
            }
            State::Reply => self.reply_char(c, out),
            State::Skip {
                depth,
                in_string,
                escape,
                started,
            } => {
                let first = !*started;
                *started = true;
                if *in_string {
                    if *escape {
                        *escape = false;
                    } else if c == '\\' {
                        *escape = true;
                    } else if c == '"' {
                        *in_string = false;
                    }
                    return;
                }
                match c {
                    '"' => *in_string = true,
                    '{' | '[' => *depth += 1,
                    '}' | ']' if *depth > 0 => *depth -= 1,
                    ',' if *depth == 0 && !first => self.state = State::BeforeKey,
                    '}' if *depth == 0 => self.state = State::Done,
                    _ => {}
                }
            }
            State::Done => {}
        }
    }

    fn reply_char(&mut self, c: char, out: &mut String) {
        if self.pending.is_empty() {
            match c {
                '\\' => self.pending.push(c),
                '"' => {
                    self.flush_surrogate(out);
                    self.state = State::Done;
                }
                c => {
                    self.flush_surrogate(out);
                    out.push(c);
                }
            }
            return;
        }
        self.pending.push(c);
        if self.pending.len() == 2 {
            let decoded = match c {
                '"' => Some('"'),
                '\\' => Some('\\'),
                '/' => Some('/'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'u' => return,
                // An invalid escape: keep the character, as lenient decoders do.
                other => Some(other),
            };
            self.pending.clear();
            if let Some(d) = decoded {
                self.flush_surrogate(out);
                out.push(d);
            }
            return;
        }
        if self.pending.len() < 6 {
            return;
        }
        let hex = self.pending.get(2..6).unwrap_or_default();
        let unit = u16::from_str_radix(hex, 16).ok();
        self.pending.clear();
        match unit {
            Some(u @ 0xD800..=0xDBFF) => {
                self.flush_surrogate(out);
                self.high_surrogate = Some(u);
            }
            Some(u @ 0xDC00..=0xDFFF) => match self.high_surrogate.take() {
                Some(high) => {
                    let code =
                        0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
                    out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                None => out.push(char::REPLACEMENT_CHARACTER),
            },
            Some(u) => {
                self.flush_surrogate(out);
                out.push(char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            None => {
                self.flush_surrogate(out);
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }

    /// A high surrogate not followed by a low one is replaced.
    fn flush_surrogate(&mut self, out: &mut String) {
        if self.high_surrogate.take().is_some() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// A complete, well-formed output.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedOutput {
    /// The reply text.
    pub reply: String,
    /// The proposed actions, not validated beyond naming a type.
    pub actions: Vec<ProposedAction>,
}

/// Removes a markdown code fence around the text, if any (models add them despite JSON mode).
#[must_use]
pub fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    // Drop the opening line (with its language tag) and the closing fence.
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    let body = body.trim_end();
    body.strip_suffix("```").unwrap_or(body).trim()
}

/// Parses a complete output.
///
/// # Errors
/// A message for the model saying what is wrong (it is shown to it in the repair call).
pub fn parse_output(text: &str) -> Result<ParsedOutput, String> {
    let body = strip_fences(text);
    if body.is_empty() {
        return Err("the answer was empty".into());
    }
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(first) => {
            // Prose around the object ("Here is the JSON: {...}").
            let inner = match (body.find('{'), body.rfind('}')) {
                (Some(a), Some(b)) if a < b => body.get(a..=b),
                _ => None,
            };
            match inner.map(serde_json::from_str::<Value>) {
                Some(Ok(v)) => v,
                _ => return Err(format!("the answer is not valid JSON ({first})")),
            }
        }
    };
    let Value::Object(mut object) = value else {
        return Err("the answer must be one JSON object, not another JSON value".into());
    };
    let reply = match object.remove("reply") {
        Some(Value::String(s)) => s,
        Some(_) => return Err("\"reply\" must be a string".into()),
        None => return Err("the object has no \"reply\" string".into()),
    };
    let items = match object.remove("actions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("\"actions\" must be a list".into()),
    };
    let mut actions = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut params) = item else {
            return Err(format!("actions[{i}] must be an object"));
        };
        let kind = match params.remove("type") {
            Some(Value::String(kind)) if !kind.trim().is_empty() => kind,
            _ => return Err(format!("actions[{i}] must have a \"type\" string")),
        };
        // Strict schemas make optional parameters nullable; null means "not given".
        params.retain(|_, v| !v.is_null());
        actions.push(ProposedAction { kind, params });
    }
    Ok(ParsedOutput { reply, actions })
}

/// What to show the user from an output that could not be used: the reply string when one can
/// be read from it, the text itself when it is prose, nothing when it is only JSON syntax.
#[must_use]
pub fn readable_text(text: &str) -> Option<String> {
    let mut extractor = ReplyExtractor::new();
    extractor.feed(text);
    let reply = extractor.reply().trim();
    if !reply.is_empty() {
        return Some(extractor.reply().to_owned());
    }
    let body = strip_fences(text);
    if body.is_empty() || body.starts_with('{') || body.starts_with('[') {
        return None;
    }
    Some(body.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Feeds `text` split at every char boundary (two pieces) and char by char; the decoded
    /// reply never depends on the split.
    fn extract_all_ways(text: &str) -> String {
        let mut whole = ReplyExtractor::new();
        let all = whole.feed(text);
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        for &(cut, _) in &chars {
            let mut e = ReplyExtractor::new();
            let mut got = e.feed(&text[..cut]);
            got.push_str(&e.feed(&text[cut..]));
            assert_eq!(got, all, "split at {cut}");
        }
        let mut e = ReplyExtractor::new();
        let mut got = String::new();
        for (_, c) in chars {
            got.push_str(&e.feed(&c.to_string()));
        }
        assert_eq!(got, all, "char by char");
        all
    }

    #[test]
    fn decodes_the_reply_with_every_kind_of_escape() {
        let reply = "Line 1\nTab\there \"quoted\" back\\slash / caffè ☕ 🍝 \u{1}";
        let text = serde_json::to_string(&json!({"reply": reply, "actions": []})).unwrap();
        assert_eq!(extract_all_ways(&text), reply);
        // The same with every non-ASCII character escaped as \uXXXX (surrogate pairs too).
        let escaped: String = text
            .chars()
            .map(|c| {
                if c.is_ascii() {
                    c.to_string()
                } else {
                    let mut buf = [0u16; 2];
                    c.encode_utf16(&mut buf)
                        .iter()
                        .map(|u| format!("\\u{u:04x}"))
                        .collect()
                }
            })
            .collect();
        assert_eq!(extract_all_ways(&escaped), reply);
    }

    #[test]
    fn skips_other_keys_before_the_reply() {
        let text = r#"```json
{"actions": [{"type": "log_event", "details": "a \"reply\": trap, {", "n": [1, {"x": "}"}]}],
 "note": null, "reply": "Logged it."}
```"#;
        assert_eq!(extract_all_ways(text), "Logged it.");
    }

    #[test]
    fn nested_reply_keys_and_prose_are_not_streamed() {
        assert_eq!(
            extract_all_ways(r#"{"answer": {"reply": "nested"}, "x": 1}"#),
            ""
        );
        assert_eq!(extract_all_ways("Sure! {I think} the answer is 42."), "");
        assert_eq!(extract_all_ways(r#"Here you go: {"reply": "Hi"}"#), "Hi");
        assert_eq!(extract_all_ways(r#"{"reply": null, "actions": []}"#), "");
        // Only the first reply string counts.
        assert_eq!(
            extract_all_ways(r#"{"reply": "one", "reply": "two"}"#),
            "one"
        );
    }

    #[test]
    fn a_cut_output_gives_the_partial_reply() {
        assert_eq!(
            extract_all_ways(r#"{"reply": "The kitchen opens at 5 \u00"#),
            "The kitchen opens at 5 "
        );
    }

    #[test]
    fn parse_accepts_fences_and_surrounding_prose() {
        let out = parse_output(
            "```json\n{\"reply\": \"Done.\", \"actions\": [{\"type\": \"notify_user\", \"user_id\": \"u1\", \"priority\": null}]}\n```",
        )
        .unwrap();
        assert_eq!(out.reply, "Done.");
        assert_eq!(out.actions.len(), 1);
        assert_eq!(out.actions[0].kind, "notify_user");
        assert_eq!(out.actions[0].params.get("user_id"), Some(&json!("u1")));
        assert!(
            !out.actions[0].params.contains_key("priority"),
            "null means not given"
        );
        let out = parse_output("Here it is: {\"reply\": \"Hi\"} Hope that helps.").unwrap();
        assert_eq!(out.reply, "Hi");
        assert!(out.actions.is_empty(), "missing actions means none");
    }

    #[test]
    fn parse_reports_what_is_wrong() {
        for (text, needle) in [
            ("", "empty"),
            ("The kitchen opens at 5.", "not valid JSON"),
            ("[1, 2]", "one JSON object"),
            ("{\"actions\": []}", "no \"reply\""),
            ("{\"reply\": 5}", "\"reply\" must be a string"),
            ("{\"reply\": \"x\", \"actions\": {}}", "must be a list"),
            (
                "{\"reply\": \"x\", \"actions\": [\"notify\"]}",
                "actions[0]",
            ),
            (
                "{\"reply\": \"x\", \"actions\": [{\"user_id\": \"u\"}]}",
                "\"type\"",
            ),
            ("{\"reply\": \"x\", \"actions\": [", "not valid JSON"),
        ] {
            let err = parse_output(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn readable_text_prefers_the_reply_then_prose() {
        assert_eq!(
            readable_text("{\"reply\": \"Partial answ").as_deref(),
            Some("Partial answ")
        );
        assert_eq!(
            readable_text("```\nThe kitchen opens at 5.\n```").as_deref(),
            Some("The kitchen opens at 5.")
        );
        assert_eq!(readable_text("{\"answer\": \"x\"}"), None);
        assert_eq!(readable_text("  "), None);
    }
}
