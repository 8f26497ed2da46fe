//! A fast reading of Segment messages in the shape senders use, for
//! [`MessageRef::parse_with`](crate::event::MessageRef::parse_with): one pass over the text,
//! strings without escapes borrowed from it, the values no reader looks at checked and skipped
//! without being built.
//!
//! It answers only when it is sure to read the message exactly as `serde_json` does (the same
//! message, accepted): on anything it is not sure of (a number with an exponent or too many
//! digits, a `\u` escape of a surrogate, deep nesting, a duplicate field, an id sent as a
//! number, anything malformed) it gives up, and `serde_json` reads the message instead and
//! has the last word, errors included.

use std::borrow::Cow;

use serde_json::Value;

use crate::event::{Attributes, EventFields, Keys, MessageKind, MessageRef, identify_traits};

/// Nesting this scanner follows (the message itself is level 1); `serde_json` refuses more
/// than 128.
const MAX_DEPTH: u32 = 100;

/// Numbers longer than this are left to `serde_json` (one too large for an `f64` is refused).
const MAX_NUMBER: usize = 100;

/// Reads a message keeping of `properties` and `context` only the keys `fields` names, or
/// `None` when `serde_json` must read it. What it returns is not checked (`MessageRef::check`).
pub(crate) fn message<'a>(json: &'a str, fields: &EventFields) -> Option<MessageRef<'a>> {
    let mut s = Scanner {
        text: json,
        bytes: json.as_bytes(),
        pos: 0,
    };
    s.ws();
    if !s.eat(b'{') {
        return None;
    }
    let mut kind = None;
    let (mut message_id, mut user_id, mut anonymous_id, mut group_id, mut previous_id) =
        (None, None, None, None, None);
    let (mut event, mut name) = (None, None);
    let (mut timestamp, mut original_timestamp, mut sent_at) = (None, None, None);
    let (mut properties, mut traits, mut context) = (None, None, None);
    // Where `context.traits` is, read once the message is known to be an `identify` call.
    let mut context_traits = None;
    s.ws();
    if !s.eat(b'}') {
        loop {
            s.ws();
            let key = s.string()?;
            s.ws();
            if !s.eat(b':') {
                return None;
            }
            s.ws();
            match &*key {
                "type" => once(&mut kind, s.kind()?)?,
                "messageId" => once(&mut message_id, s.id()?)?,
                "userId" => once(&mut user_id, s.id()?)?,
                "anonymousId" => once(&mut anonymous_id, s.id()?)?,
                "groupId" => once(&mut group_id, s.id()?)?,
                "previousId" => once(&mut previous_id, s.id()?)?,
                "event" => once(&mut event, s.optional_string()?)?,
                "name" => once(&mut name, s.optional_string()?)?,
                "timestamp" => once(&mut timestamp, s.optional_string()?)?,
                "originalTimestamp" => once(&mut original_timestamp, s.optional_string()?)?,
                "sentAt" => once(&mut sent_at, s.optional_string()?)?,
                "properties" => once(&mut properties, s.filtered(&fields.properties, None)?)?,
                "context" => once(
                    &mut context,
                    s.filtered(&fields.context, Some(&mut context_traits))?,
                )?,
                "traits" => once(&mut traits, s.object()?)?,
                _ => s.skip(2)?,
            }
            s.ws();
            if s.eat(b',') {
                continue;
            }
            if s.eat(b'}') {
                break;
            }
            return None;
        }
    }
    s.ws();
    if s.pos != s.bytes.len() {
        return None;
    }
    let kind = kind?;
    let mut traits = traits.unwrap_or_default();
    // Checked as `serde_json` checks it while skipped, so it reads back.
    if kind == MessageKind::Identify
        && let Some((start, end)) = context_traits
        && let Value::Object(more) = serde_json::from_str(&json[start..end]).ok()?
    {
        identify_traits(kind, &mut traits, Some(&more));
    }
    Some(MessageRef {
        kind,
        message_id: message_id.flatten(),
        user_id: user_id.flatten(),
        anonymous_id: anonymous_id.flatten(),
        event: event.flatten(),
        name: name.flatten(),
        group_id: group_id.flatten(),
        previous_id: previous_id.flatten(),
        timestamp: timestamp.flatten(),
        original_timestamp: original_timestamp.flatten(),
        sent_at: sent_at.flatten(),
        properties: properties.unwrap_or_default(),
        traits,
        context: context.unwrap_or_default(),
    })
}

/// Fills a field's slot; a field given twice is left to `serde_json` (which refuses it).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let found = self.bytes[self.pos..].starts_with(word);
        self.pos += word.len() * usize::from(found);
        found.then_some(())
    }

    /// A string: borrowed when it has no escapes, else decoded by `serde_json`.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let escaped = self.skip_string()?;
        let raw = &self.text[start..self.pos];
        if escaped {
            serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&raw[1..raw.len() - 1]))
        }
    }

    /// A string or `null`.
    fn optional_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// An id as `event::id` reads a string or `null`: a blank string is no id. Numbers are
    /// left to `serde_json`.
    fn id(&mut self) -> Option<Option<Cow<'a, str>>> {
        Some(self.optional_string()?.filter(|id| !id.trim().is_empty()))
    }

    fn kind(&mut self) -> Option<MessageKind> {
        Some(match &*self.string()? {
            "identify" => MessageKind::Identify,
            "track" => MessageKind::Track,
            "page" => MessageKind::Page,
            "screen" => MessageKind::Screen,
            "group" => MessageKind::Group,
            "alias" => MessageKind::Alias,
            _ => return None,
        })
    }

    /// An object (`traits`), or `null` for an empty one.
    fn object(&mut self) -> Option<Attributes> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| Attributes::new()),
            b'{' => match self.value(2)? {
                Value::Object(map) => Some(map),
                _ => None,
            },
            _ => None,
        }
    }

    /// An object with only the keys `keys` keeps (the last of a key given twice), or `null`
    /// for an empty one. With `traits`, where its `traits` entry is (the last one), kept or
    /// not.
    fn filtered(
        &mut self,
        keys: &Keys,
        mut traits: Option<&mut Option<(usize, usize)>>,
    ) -> Option<Attributes> {
        let mut kept = Attributes::new();
        match self.peek()? {
            b'n' => return self.literal(b"null").map(|()| kept),
            b'{' => self.pos += 1,
            _ => return None,
        }
        self.ws();
        if self.eat(b'}') {
            return Some(kept);
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if !self.eat(b':') {
                return None;
            }
            self.ws();
            let start = self.pos;
            let is_traits = key == "traits";
            if keys.keeps(&key) {
                let value = match self.peek()? {
                    b'"' => Value::String(self.string()?.into_owned()),
                    _ => self.value(3)?,
                };
                kept.insert(key.into_owned(), value);
            } else {
                self.skip(3)?;
            }
            if is_traits && let Some(slot) = traits.as_deref_mut() {
                *slot = Some((start, self.pos));
            }
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Some(kept);
            }
            return None;
        }
    }

    /// A value at nesting `depth`, built by `serde_json` from its text once it is checked.
    fn value(&mut self, depth: u32) -> Option<Value> {
        let start = self.pos;
        self.skip(depth)?;
        serde_json::from_str(&self.text[start..self.pos]).ok()
    }

    /// Skips a value at nesting `depth`, checked as `serde_json` checks it.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string().map(|_| ()),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.ws();
                if self.eat(b'}') {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_string()?;
                    self.ws();
                    if !self.eat(b':') {
                        return None;
                    }
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    return self.eat(b'}').then_some(());
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.ws();
                if self.eat(b']') {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    return self.eat(b']').then_some(());
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// Skips a string; whether it has escapes. Gives up on control characters (refused),
    /// unknown escapes (refused) and `\u` escapes of surrogates (which must pair).
    fn skip_string(&mut self) -> Option<bool> {
        if !self.eat(b'"') {
            return None;
        }
        let mut escaped = false;
        loop {
            let rest = &self.bytes[self.pos..];
            let i = string_end(rest)?;
            self.pos += i + 1;
            if rest[i] == b'"' {
                return Some(escaped);
            }
            escaped = true;
            match self.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                b'u' => {
                    let hex = self.bytes.get(self.pos + 1..self.pos + 5)?;
                    let mut code = 0u32;
                    for &h in hex {
                        code = code * 16 + char::from(h).to_digit(16)?;
                    }
                    if (0xD800..0xE000).contains(&code) {
                        return None;
                    }
                    self.pos += 5;
                }
                _ => return None,
            }
        }
    }

    /// Skips a number without an exponent and of at most [`MAX_NUMBER`] characters.
    fn skip_number(&mut self) -> Option<()> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        match self.peek() {
            Some(b'0'..=b'9' | b'e' | b'E' | b'.') => None,
            _ => (self.pos - start <= MAX_NUMBER).then_some(()),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

/// Where the first `"` or `\` of `bytes` is, unless a control character (refused in a
/// string) comes before it.
fn string_end(bytes: &[u8]) -> Option<usize> {
    // Eight bytes at a time: a byte is flagged when it is a quote, a backslash or below 0x20.
    // Borrows only run from a flagged byte to the bytes above it, so the first flagged byte is
    // the first such byte.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let flagged = |word: u64| {
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | word.wrapping_sub(ONES * 0x20) & !word)
            & HIGH
    };
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let found = flagged(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        if found != 0 {
            at += (found.trailing_zeros() / 8) as usize;
            return (bytes[at] >= 0x20).then_some(at);
        }
        at += 8;
    }
    for (i, &b) in bytes[at..].iter().enumerate() {
        match b {
            b'"' | b'\\' => return Some(at + i),
            0..0x20 => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> EventFields {
        let only = |keys: &[&str]| Keys::Only(keys.iter().map(|k| k.to_string()).collect());
        EventFields {
            properties: only(&["path", "asset_id"]),
            context: only(&["campaign"]),
        }
    }

    /// The messages senders send are read here, not left to `serde_json`.
    #[test]
    fn common_messages_are_scanned() {
        let lines = [
            r#"{"type":"page","messageId":"m-1","anonymousId":"0b6f6a52-6c1f-4f5e-9d3a-2b0c8f1e7a11","userId":"lead-000042","name":"Pricing","properties":{"path":"/pricing","url":"https://example.com/pricing","title":"Pricing | Example","referrer":""},"context":{"library":{"name":"analytics.js","version":"2.11.1"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)","ip":"10.1.2.3","campaign":{"source":"google","medium":"cpc","name":"brand"}},"timestamp":"2026-10-01T09:30:00.123Z","sentAt":"2026-10-01T09:30:00.200Z"}"#,
            r#"{"type":"track","event":"Whitepaper Downloaded","userId":"lead-1","properties":{"asset_id":"wp-1","asset_title":"A \"quoted\" title\n","size":1.25,"n":-0,"tags":[1,true,false,null,{}]},"timestamp":"2026-10-01T09:30:00Z"}"#,
            r#"{"type":"identify","userId":"lead-1","traits":{"email":"A@B.io","employees":40},"timestamp":"2026-10-01T09:30:00Z"}"#,
            " { \"type\" : \"alias\" , \"previousId\" : \"a\" , \"userId\" : \"b\" } ",
        ];
        for line in lines {
            let scanned = message(line, &fields()).unwrap_or_else(|| panic!("{line}"));
            let full = crate::event::Message::parse_with(line, &fields()).unwrap();
            assert_eq!(scanned.into_owned().user_id, full.user_id);
        }
    }

    /// The eight-bytes-at-a-time search agrees with a byte-by-byte one, wherever the end is.
    #[test]
    fn string_ends_are_found() {
        let plain = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .filter(|&i| bytes[i] >= 0x20)
        };
        let fillers: [&[u8]; 4] = [b"a", "\u{e9}".as_bytes(), b"\x7f", "\u{1f600}".as_bytes()];
        for len in 0..40 {
            for end in [b'"', b'\\', b'\n', 0, 0x1f, 0x20, b'!', b'#', 0x80, 0xff] {
                for filler in fillers {
                    let mut bytes: Vec<u8> = filler.iter().copied().cycle().take(len).collect();
                    bytes.push(end);
                    bytes.extend_from_slice(b"x\"");
                    assert_eq!(string_end(&bytes), plain(&bytes), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn doubtful_messages_are_left_to_serde_json() {
        for line in [
            r#"{"type":"page","userId":"u","properties":{"x":1e3}}"#,
            r#"{"type":"page","userId":"u","properties":{"x":"\ud83d\ude00"}}"#,
            r#"{"type":"page","userId":"u","properties":{"x":01}}"#,
            r#"{"type":"page","userId":"u","properties":{"x":1.}}"#,
            r#"{"type":"page","userId":"u","properties":{"x":"\x"}}"#,
            "{\"type\":\"page\",\"userId\":\"u\",\"properties\":{\"x\":\"a\u{1}b\"}}",
            r#"{"type":"page","userId":7}"#,
            r#"{"type":"page","userId":"u","userId":"v"}"#,
            r#"{"type":"page","userId":"u",}"#,
            r#"{"type":"page","userId":"u"} x"#,
            r#"{"type":"launch","userId":"u"}"#,
            r#"{"userId":"u"}"#,
        ] {
            assert!(message(line, &fields()).is_none(), "{line}");
        }
        let deep = format!(
            r#"{{"type":"page","userId":"u","properties":{{"x":{}{}}}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        assert!(message(&deep, &fields()).is_none());
    }
}
