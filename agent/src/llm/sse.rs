//! A Server-Sent Events decoder for streamed LLM responses, written to the WHATWG `EventSource`
//! parsing rules, because real streams exercise every corner of them:
//!
//! - lines end with CRLF, LF or a lone CR (Gemini's native stream uses CRLF); a CR at the end of
//!   one read may be followed by the LF of the next, which must not count as an empty line;
//! - an event ends at an empty line; several `data:` lines are joined with `\n`; lines starting
//!   with `:` are comments (keep-alives); `event:` names the event; `id:` and `retry:` are
//!   ignored (we never reconnect);
//! - reads split events, lines and even UTF-8 characters anywhere: bytes are buffered until a
//!   line is complete, and only complete lines are decoded.
//!
//! One extension: a line that starts with `{` or `[` outside an event is a bare JSON body (a
//! provider that reports a failure mid-stream without SSE framing, as Gemini and Ollama can). It is
//! collected until its brackets balance, across lines, and returned as [`SseItem::Raw`].
//!
//! The decoder only frames; what a payload means (an OpenAI `[DONE]`, an error object) is for the
//! provider to decide.

/// One item of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event: its `event:` name (`message` by default) and its data.
    Event {
        /// The event type.
        event: String,
        /// The data lines, joined with `\n`.
        data: String,
    },
    /// A bare JSON body found outside SSE framing.
    Raw(String),
}

/// Bracket balance of a bare JSON body being collected.
#[derive(Debug, Default)]
struct RawJson {
    text: String,
    depth: i64,
    in_string: bool,
    escape: bool,
}

impl RawJson {
    /// Adds a line; true when the body is complete.
    fn push_line(&mut self, line: &str) -> bool {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(line);
        for c in line.chars() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if c == '\\' {
                    self.escape = true;
                } else if c == '"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                '"' => self.in_string = true,
                '{' | '[' => self.depth += 1,
                '}' | ']' => self.depth -= 1,
                _ => {}
            }
        }
        self.depth <= 0
    }
}

/// Incremental SSE decoder: feed it bytes as they arrive, collect the items it returns.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, incomplete line.
    buf: Vec<u8>,
    /// Data of the current event (each line followed by `\n`).
    data: String,
    /// Whether the current event has a `data` field (an empty `data:` line counts).
    has_data: bool,
    /// The current event's type.
    event: String,
    /// A bare JSON body being collected.
    raw: Option<RawJson>,
    /// Whether the byte-order mark at the very start was checked.
    started: bool,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes the next bytes of the stream; returns the items they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseItem> {
        const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        if !self.started {
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                // Maybe the start of a byte-order mark: wait for the rest.
                return out;
            }
            self.started = true;
            if self.buf.starts_with(&BOM) {
                self.buf.drain(..BOM.len());
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                let end = i;
                let next = if b == b'\r' {
                    match self.buf.get(i + 1) {
                        Some(b'\n') => i + 2,
                        Some(_) => i + 1,
                        // A CR at the end of what we have: its LF may be in the next read.
                        None => break,
                    }
                } else {
                    i + 1
                };
                let line = String::from_utf8_lossy(&self.buf[start..end]).into_owned();
                self.line(&line, &mut out);
                start = next;
                i = next;
            } else {
                i += 1;
            }
        }
        self.buf.drain(..start);
        out
    }

    /// Ends the stream: a last line without terminator is processed, and a pending event or
    /// bare JSON body is returned (servers do not always end with an empty line).
    pub fn finish(&mut self) -> Vec<SseItem> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let text = String::from_utf8_lossy(&rest).into_owned();
            for line in text.split(['\r', '\n']) {
                self.line(line, &mut out);
            }
        }
        self.dispatch(&mut out);
        if let Some(raw) = self.raw.take() {
            out.push(SseItem::Raw(raw.text));
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseItem>) {
        if let Some(raw) = self.raw.as_mut() {
            if raw.push_line(line) {
                let raw = std::mem::take(raw);
                self.raw = None;
                out.push(SseItem::Raw(raw.text));
            }
            return;
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        if !self.has_data && (line.starts_with('{') || line.starts_with('[')) {
            let mut raw = RawJson::default();
            if raw.push_line(line) {
                out.push(SseItem::Raw(raw.text));
            } else {
                self.raw = Some(raw);
            }
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            // `id` and `retry` only matter for reconnecting, which an LLM call never does;
            // unknown fields are ignored by the specification.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        if self.has_data {
            let mut data = std::mem::take(&mut self.data);
            if data.ends_with('\n') {
                data.pop();
            }
            let event = if self.event.is_empty() {
                "message".to_owned()
            } else {
                std::mem::take(&mut self.event)
            };
            out.push(SseItem::Event { event, data });
        }
        self.has_data = false;
        self.data.clear();
        self.event.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(items: &[SseItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                SseItem::Event { data, .. } => data.clone(),
                SseItem::Raw(raw) => format!("RAW:{raw}"),
            })
            .collect()
    }

    fn decode_whole(input: &str) -> Vec<SseItem> {
        let mut d = SseDecoder::new();
        let mut items = d.feed(input.as_bytes());
        items.extend(d.finish());
        items
    }

    /// Feeds the input split at every possible byte position (two reads) and at every byte
    /// (one read per byte): the result never depends on how reads split the stream.
    fn assert_split_invariant(input: &str) -> Vec<SseItem> {
        let whole = decode_whole(input);
        let bytes = input.as_bytes();
        for cut in 0..=bytes.len() {
            let mut d = SseDecoder::new();
            let mut items = d.feed(&bytes[..cut]);
            items.extend(d.feed(&bytes[cut..]));
            items.extend(d.finish());
            assert_eq!(items, whole, "split at byte {cut}");
        }
        let mut d = SseDecoder::new();
        let mut items = Vec::new();
        for b in bytes {
            items.extend(d.feed(std::slice::from_ref(b)));
        }
        items.extend(d.finish());
        assert_eq!(items, whole, "byte by byte");
        whole
    }

    #[test]
    fn lf_and_crlf_and_cr_frame_the_same_events() {
        let lf = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n";
        let crlf = lf.replace('\n', "\r\n");
        let cr = lf.replace('\n', "\r");
        for input in [lf.to_owned(), crlf, cr] {
            let items = assert_split_invariant(&input);
            assert_eq!(data(&items), vec!["{\"a\":1}", "{\"b\":2}"], "{input:?}");
        }
    }

    #[test]
    fn multi_line_data_is_joined_and_comments_are_skipped() {
        let input = ": keep-alive\r\ndata: first\r\ndata:second\r\n: another comment\r\n\r\n";
        let items = assert_split_invariant(input);
        assert_eq!(data(&items), vec!["first\nsecond"]);
    }

    #[test]
    fn event_names_and_other_fields() {
        let input = "event: error\ndata: {\"x\":1}\nid: 7\nretry: 100\n\ndata: plain\n\n";
        let items = assert_split_invariant(input);
        assert_eq!(
            items,
            vec![
                SseItem::Event {
                    event: "error".into(),
                    data: "{\"x\":1}".into()
                },
                SseItem::Event {
                    event: "message".into(),
                    data: "plain".into()
                },
            ]
        );
    }

    #[test]
    fn split_utf8_characters_survive() {
        let input = "data: {\"text\":\"caffè ☕ 🍝\"}\n\n";
        let items = assert_split_invariant(input);
        assert_eq!(data(&items), vec!["{\"text\":\"caffè ☕ 🍝\"}"]);
    }

    #[test]
    fn a_last_event_without_blank_line_is_still_delivered() {
        let items = assert_split_invariant("data: [DONE]");
        assert_eq!(data(&items), vec!["[DONE]"]);
    }

    #[test]
    fn empty_data_events_and_stray_blank_lines() {
        let items = assert_split_invariant("\n\n\ndata:\n\ndata: x\n\n");
        assert_eq!(data(&items), vec!["", "x"]);
    }

    #[test]
    fn bare_json_error_bodies_are_returned_raw() {
        let input = "data: {\"ok\":1}\n\n{\"error\":{\"message\":\"model runner crashed {oops}\",\n  \"code\":500}}\n";
        let items = assert_split_invariant(input);
        assert_eq!(
            data(&items),
            vec![
                "{\"ok\":1}".to_owned(),
                "RAW:{\"error\":{\"message\":\"model runner crashed {oops}\",\n  \"code\":500}}"
                    .to_owned()
            ]
        );
        let items = assert_split_invariant("[{\"error\": {\"code\": 503}}]\r\n");
        assert_eq!(data(&items), vec!["RAW:[{\"error\": {\"code\": 503}}]"]);
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let items = decode_whole("\u{feff}data: x\n\n");
        assert_eq!(data(&items), vec!["x"]);
    }
}
