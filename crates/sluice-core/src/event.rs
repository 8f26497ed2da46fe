//! Events: what a lead did, in the Segment message format analytics SDKs already send.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::time::{Timestamp, TimestampError};

/// Attributes of a lead or an account: open-ended traits, as `identify`/`group` calls or CSV
/// columns carry them.
pub type Attributes = Map<String, Value>;

/// The kind of a Segment message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Who the lead is (traits).
    Identify,
    /// Something the lead did.
    Track,
    /// A web page view.
    Page,
    /// A mobile screen view.
    Screen,
    /// The lead's company (account) and its traits.
    Group,
    /// Joins an earlier identity to a later one.
    Alias,
}

impl MessageKind {
    /// The Segment spelling: `track`, `page`...
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Identify => "identify",
            MessageKind::Track => "track",
            MessageKind::Page => "page",
            MessageKind::Screen => "screen",
            MessageKind::Group => "group",
            MessageKind::Alias => "alias",
        }
    }
}

/// An action a lead took, as the scoring engine sees it. For `track` calls `name` is the event
/// name; page and screen views are named `page` and `screen`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `track`, `page` or `screen`.
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// The event name (`Demo Requested`), or `page` / `screen`.
    pub name: String,
    /// When the lead did it (the message's own `timestamp`).
    pub timestamp: Timestamp,
    /// The event's properties (`path`, `asset_id`...).
    pub properties: Attributes,
    /// The message context (`campaign`, `page`, `userAgent`...).
    pub context: Attributes,
}

/// A Segment message as sent by analytics SDKs (`/v1/track`, a line of an events file...).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// `identify`, `track`, `page`, `screen`, `group` or `alias`.
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// Unique id the sender gives each message, used to drop retried duplicates.
    #[serde(default, deserialize_with = "id")]
    pub message_id: Option<String>,
    /// The known lead id.
    #[serde(default, deserialize_with = "id")]
    pub user_id: Option<String>,
    /// The pre-identification id (cookie / device).
    #[serde(default, deserialize_with = "id")]
    pub anonymous_id: Option<String>,
    /// `track` event name.
    #[serde(default)]
    pub event: Option<String>,
    /// `page` / `screen` name.
    #[serde(default)]
    pub name: Option<String>,
    /// `group` account id.
    #[serde(default, deserialize_with = "id")]
    pub group_id: Option<String>,
    /// `alias`: the earlier id.
    #[serde(default, deserialize_with = "id")]
    pub previous_id: Option<String>,
    /// When it happened, according to the sender.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Client time when the message was created (analytics.js sets it).
    #[serde(default)]
    pub original_timestamp: Option<String>,
    /// Client time when the message was sent.
    #[serde(default)]
    pub sent_at: Option<String>,
    /// `track`/`page` properties.
    #[serde(default, deserialize_with = "object")]
    pub properties: Attributes,
    /// `identify`/`group` traits.
    #[serde(default, deserialize_with = "object")]
    pub traits: Attributes,
    /// Context (campaign, page, library...).
    #[serde(default, deserialize_with = "object")]
    pub context: Attributes,
}

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    /// Not valid JSON for a Segment message.
    #[error("invalid message: {0}")]
    Json(String),
    /// Neither `userId` nor `anonymousId`.
    #[error("missing `userId` or `anonymousId`")]
    NoIdentity,
    /// A `track` call without an `event` name.
    #[error("a `track` call needs an `event` name")]
    NoEventName,
    /// A `group` call without `groupId`.
    #[error("a `group` call needs a `groupId`")]
    NoGroupId,
    /// An `alias` call without `previousId` and `userId`.
    #[error("an `alias` call needs `previousId` and `userId`")]
    NoPreviousId,
    /// A time that is not RFC 3339.
    #[error("`{field}`: {source}")]
    Time {
        /// Which field.
        field: &'static str,
        /// Why.
        source: TimestampError,
    },
    /// No time at all.
    #[error("missing `timestamp`")]
    NoTimestamp,
}

impl Message {
    /// Parses one JSON message and checks what every message of its kind needs.
    pub fn parse(json: &str) -> Result<Message, MessageError> {
        let message: Message =
            serde_json::from_str(json).map_err(|e| MessageError::Json(e.to_string()))?;
        message.check()?;
        Ok(message)
    }

    /// Checks the fields the Segment spec requires for this kind of message.
    pub fn check(&self) -> Result<(), MessageError> {
        match self.kind {
            MessageKind::Alias if self.previous_id.is_none() || self.user_id.is_none() => {
                return Err(MessageError::NoPreviousId);
            }
            MessageKind::Alias => {}
            _ if self.user_id.is_none() && self.anonymous_id.is_none() => {
                return Err(MessageError::NoIdentity);
            }
            MessageKind::Track if self.event.as_deref().is_none_or(str::is_empty) => {
                return Err(MessageError::NoEventName);
            }
            MessageKind::Group if self.group_id.is_none() => return Err(MessageError::NoGroupId),
            _ => {}
        }
        for (field, value) in [
            ("timestamp", &self.timestamp),
            ("originalTimestamp", &self.original_timestamp),
            ("sentAt", &self.sent_at),
        ] {
            if let Some(text) = value {
                Timestamp::parse(text).map_err(|source| MessageError::Time { field, source })?;
            }
        }
        Ok(())
    }

    /// When the action happened, as Segment computes it: the message's `timestamp` if given;
    /// otherwise the client's `originalTimestamp`, corrected for client clock skew by
    /// `receivedAt - sentAt` when the receive time is known; otherwise `received_at`.
    pub fn event_time(&self, received_at: Option<Timestamp>) -> Result<Timestamp, MessageError> {
        let parse = |field: &'static str, text: &Option<String>| {
            text.as_deref()
                .map(Timestamp::parse)
                .transpose()
                .map_err(|source| MessageError::Time { field, source })
        };
        if let Some(t) = parse("timestamp", &self.timestamp)? {
            return Ok(t);
        }
        let original = parse("originalTimestamp", &self.original_timestamp)?;
        let sent = parse("sentAt", &self.sent_at)?;
        match (original, sent, received_at) {
            (Some(original), Some(sent), Some(received)) => Ok(original.plus(received.since(sent))),
            (Some(original), _, _) => Ok(original),
            (None, _, Some(received)) => Ok(received),
            (None, Some(sent), None) => Ok(sent),
            (None, None, None) => Err(MessageError::NoTimestamp),
        }
    }

    /// The event the scoring engine sees, for `track`, `page` and `screen` calls.
    pub fn to_event(&self, timestamp: Timestamp) -> Option<Event> {
        matches!(
            self.kind,
            MessageKind::Track | MessageKind::Page | MessageKind::Screen
        )
        .then(|| self.clone().into_event(timestamp))
        .flatten()
    }

    /// Like [`Message::to_event`], without copying the properties and context.
    pub fn into_event(self, timestamp: Timestamp) -> Option<Event> {
        let name = match self.kind {
            MessageKind::Track => self.event?,
            MessageKind::Page => "page".to_string(),
            MessageKind::Screen => "screen".to_string(),
            _ => return None,
        };
        let mut properties = self.properties;
        if let (Some(page_name), MessageKind::Page | MessageKind::Screen) = (self.name, self.kind) {
            properties
                .entry("name")
                .or_insert_with(|| Value::String(page_name));
        }
        Some(Event {
            kind: self.kind,
            name,
            timestamp,
            properties,
            context: self.context,
        })
    }
}

/// Ids may be sent as strings or numbers; an empty string is no id.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "an id must be a string or a number, not {other}"
            )));
        }
    })
}

/// `properties`, `traits` and `context` must be objects; `null` is the same as absent.
fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Attributes, D::Error> {
    match Option::<Value>::deserialize(d)? {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Ok(Attributes::new()),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an object, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_becomes_event() {
        let m = Message::parse(
            r#"{"type":"track","event":"Demo Requested","userId":42,"messageId":"m1",
                "timestamp":"2026-10-01T10:00:00Z","properties":{"form_id":"f"}}"#,
        )
        .unwrap();
        assert_eq!(m.user_id.as_deref(), Some("42"));
        let e = m.to_event(m.event_time(None).unwrap()).unwrap();
        assert_eq!(e.name, "Demo Requested");
        assert_eq!(e.properties["form_id"], "f");
    }

    #[test]
    fn bad_messages_say_why() {
        let err = |json| Message::parse(json).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"type":"track","event":"x"}"#),
            "missing `userId` or `anonymousId`"
        );
        assert_eq!(
            err(r#"{"type":"track","userId":"u"}"#),
            "a `track` call needs an `event` name"
        );
        assert!(err(r#"{"type":"launch","userId":"u"}"#).contains("unknown variant"));
        assert!(err(r#"{"type":"page","userId":"u","timestamp":"soon"}"#).contains("timestamp"));
    }

    #[test]
    fn skew_is_corrected_like_segment() {
        let m = Message::parse(
            r#"{"type":"page","anonymousId":"a","originalTimestamp":"2026-10-01T10:00:00Z",
                "sentAt":"2026-10-01T10:00:05Z"}"#,
        )
        .unwrap();
        // The client clock runs 1 hour behind the server.
        let received = Timestamp::parse("2026-10-01T11:00:06Z").unwrap();
        assert_eq!(
            m.event_time(Some(received)).unwrap(),
            Timestamp::parse("2026-10-01T11:00:01Z").unwrap()
        );
    }
}
