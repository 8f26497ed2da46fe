//! Events: what a lead did, in the Segment message format analytics SDKs already send.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::time::{Span, Timestamp, TimestampError};

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
#[serde(from = "Sent")]
pub struct Message {
    /// `identify`, `track`, `page`, `screen`, `group` or `alias`.
    pub kind: MessageKind,
    /// Unique id the sender gives each message, used to drop retried duplicates.
    pub message_id: Option<String>,
    /// The known lead id.
    pub user_id: Option<String>,
    /// The pre-identification id (cookie / device).
    pub anonymous_id: Option<String>,
    /// `track` event name.
    pub event: Option<String>,
    /// `page` / `screen` name.
    pub name: Option<String>,
    /// `group` account id.
    pub group_id: Option<String>,
    /// `alias`: the earlier id.
    pub previous_id: Option<String>,
    /// When it happened, according to the sender.
    pub timestamp: Option<String>,
    /// Client time when the message was created (analytics.js sets it).
    pub original_timestamp: Option<String>,
    /// Client time when the message was sent.
    pub sent_at: Option<String>,
    /// `track`/`page` properties.
    pub properties: Attributes,
    /// `identify`/`group` traits. An `identify` call's are also those of its `context.traits`
    /// that `traits` does not set ([`identify_traits`]).
    pub traits: Attributes,
    /// Context (campaign, page, library...).
    pub context: Attributes,
}

/// A [`Message`] as its sender wrote it, read field by field; [`Message`] is read through it
/// ([`From<Sent>`]), so every `serde` reading of a message folds `context.traits` the same way.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sent {
    #[serde(rename = "type")]
    kind: MessageKind,
    #[serde(default, deserialize_with = "id")]
    message_id: Option<String>,
    #[serde(default, deserialize_with = "id")]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "id")]
    anonymous_id: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "id")]
    group_id: Option<String>,
    #[serde(default, deserialize_with = "id")]
    previous_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    original_timestamp: Option<String>,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(default, deserialize_with = "object")]
    properties: Attributes,
    #[serde(default, deserialize_with = "object")]
    traits: Attributes,
    #[serde(default, deserialize_with = "object")]
    context: Attributes,
}

impl From<Sent> for Message {
    fn from(m: Sent) -> Message {
        let mut traits = m.traits;
        let context_traits = m.context.get("traits").and_then(Value::as_object);
        identify_traits(m.kind, &mut traits, context_traits);
        Message {
            kind: m.kind,
            message_id: m.message_id,
            user_id: m.user_id,
            anonymous_id: m.anonymous_id,
            event: m.event,
            name: m.name,
            group_id: m.group_id,
            previous_id: m.previous_id,
            timestamp: m.timestamp,
            original_timestamp: m.original_timestamp,
            sent_at: m.sent_at,
            properties: m.properties,
            traits,
            context: m.context,
        }
    }
}

/// Folds an `identify` call's `context.traits` into its `traits`, which win for a key set in
/// both. Segment's spec lets the user's traits travel in `context.traits`, and some senders
/// put an `identify` call's traits only there (RudderStack's SDKs, mobile SDKs). In other calls
/// `context.traits` is the sender's copy of traits it was told earlier, which may be out of
/// date: it stays in `context` (a model may read it as `event.context.traits`), and a `group`
/// call's `traits` are its account's alone. A `context.traits` that is not an object is left
/// as it is.
pub fn identify_traits(
    kind: MessageKind,
    traits: &mut Attributes,
    context_traits: Option<&Attributes>,
) {
    if kind != MessageKind::Identify {
        return;
    }
    for (key, value) in context_traits.into_iter().flatten() {
        if !traits.contains_key(key) {
            traits.insert(key.clone(), value.clone());
        }
    }
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

/// The earliest event time Sluice takes as given: 2000-01-01T00:00:00Z. Earlier times come
/// from clocks that were never set or from a zero sent as a date, not from leads.
pub const EARLIEST_EVENT_TIME: Timestamp = Timestamp::from_millis(946_684_800_000);

/// How far ahead of the receive time an event time may be by default: a day, so a sender whose
/// clock or time zone is off by hours is still believed, and a date years ahead is not.
pub const DEFAULT_FUTURE_SKEW: Span = Span::days(1);

/// The fields under which clients put a write key into a message: analytics.js
/// (`@segment/analytics-next`) writes `writeKey` into every message it sends, a batch's
/// included, and hand-written or snake-case clients use `write_key`. A key authenticates the
/// request that carries it; it is not something the lead did, so [`remove_credentials`] takes
/// these from a message, at its top level and in its `context` (a batch's `context` is copied
/// into each of its messages), before it is stored or shown. `properties` and `traits` are
/// the sender's own data and are kept as sent. Migration `0010_no_credentials_in_events`
/// removes the same fields from messages stored before.
pub const CREDENTIAL_FIELDS: [&str; 2] = ["writeKey", "write_key"];

/// Removes the [`CREDENTIAL_FIELDS`] from a message's top level and its `context`; says
/// whether there were any.
pub fn remove_credentials(message: &mut Map<String, Value>) -> bool {
    let mut removed = false;
    for field in CREDENTIAL_FIELDS {
        removed |= message.remove(field).is_some();
        if let Some(Value::Object(context)) = message.get_mut("context") {
            removed |= context.remove(field).is_some();
        }
    }
    removed
}

/// Why an event time cannot be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOutOfRange {
    /// More than the allowed skew after the receive time.
    Future,
    /// Before [`EARLIEST_EVENT_TIME`].
    Before2000,
}

impl TimeOutOfRange {
    /// `future` or `before_2000` (the metric's label).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeOutOfRange::Future => "future",
            TimeOutOfRange::Before2000 => "before_2000",
        }
    }

    /// Whether `at`, received at `received`, is out of range, and how: more than
    /// `future_skew` ahead of the receive time, or before 2000.
    pub fn of(at: Timestamp, received: Timestamp, future_skew: Span) -> Option<TimeOutOfRange> {
        if at < EARLIEST_EVENT_TIME {
            Some(TimeOutOfRange::Before2000)
        } else if at.millis().saturating_sub(received.millis()) > future_skew.millis() {
            Some(TimeOutOfRange::Future)
        } else {
            None
        }
    }
}

impl Message {
    /// Parses one JSON message and checks what every message of its kind needs.
    pub fn parse(json: &str) -> Result<Message, MessageError> {
        let message: Message =
            serde_json::from_str(json).map_err(|e| MessageError::Json(e.to_string()))?;
        message.check()?;
        Ok(message)
    }

    /// [`Message::parse`], keeping of `properties` and `context` only the keys `fields` names:
    /// for a reader that looks at nothing else (a model's scoring), the same message, read
    /// without building what it would drop. Every message [`Message::parse`] refuses is refused
    /// with the same error, because any message this reading does not accept is read again by
    /// [`Message::parse`], which has the last word.
    pub fn parse_with(json: &str, fields: &EventFields) -> Result<Message, MessageError> {
        MessageRef::parse_with(json, fields).map(MessageRef::into_owned)
    }

    /// [`Message::parse_with`] through `serde_json` only.
    fn parse_lean(json: &str, fields: &EventFields) -> Result<Message, MessageError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let lean = LeanMessage(fields)
            .deserialize(&mut de)
            .and_then(|message| de.end().map(|()| message));
        match lean {
            Ok(message) => {
                message.check()?;
                Ok(message)
            }
            Err(_) => Message::parse(json),
        }
    }

    /// Checks the fields the Segment spec requires for this kind of message.
    pub fn check(&self) -> Result<(), MessageError> {
        check(&Fields {
            kind: self.kind,
            user_id: self.user_id.as_deref(),
            anonymous_id: self.anonymous_id.as_deref(),
            event: self.event.as_deref(),
            group_id: self.group_id.as_deref(),
            previous_id: self.previous_id.as_deref(),
            timestamp: self.timestamp.as_deref(),
            original_timestamp: self.original_timestamp.as_deref(),
            sent_at: self.sent_at.as_deref(),
        })
    }

    /// When the action happened, as Segment computes it: the message's `timestamp` if given;
    /// otherwise the client's `originalTimestamp`, corrected for client clock skew by
    /// `receivedAt - sentAt` when the receive time is known; otherwise `received_at`.
    pub fn event_time(&self, received_at: Option<Timestamp>) -> Result<Timestamp, MessageError> {
        event_time(
            self.timestamp.as_deref(),
            self.original_timestamp.as_deref(),
            self.sent_at.as_deref(),
            received_at,
        )
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
    pub fn into_event(mut self, timestamp: Timestamp) -> Option<Event> {
        self.take_event(timestamp)
    }

    /// Like [`Message::into_event`], leaving the rest of the message: what the history
    /// pipeline reads (ids, traits, the `track` event name), without properties, context or
    /// page name.
    pub fn take_event(&mut self, timestamp: Timestamp) -> Option<Event> {
        take_event(
            self.kind,
            self.event.as_deref(),
            &mut self.name,
            &mut self.properties,
            &mut self.context,
            timestamp,
        )
    }
}

/// What [`check`] looks at in a message.
struct Fields<'a> {
    kind: MessageKind,
    user_id: Option<&'a str>,
    anonymous_id: Option<&'a str>,
    event: Option<&'a str>,
    group_id: Option<&'a str>,
    previous_id: Option<&'a str>,
    timestamp: Option<&'a str>,
    original_timestamp: Option<&'a str>,
    sent_at: Option<&'a str>,
}

/// The checks of [`Message::check`], on an owned or a borrowed message.
fn check(m: &Fields<'_>) -> Result<(), MessageError> {
    match m.kind {
        MessageKind::Alias if m.previous_id.is_none() || m.user_id.is_none() => {
            return Err(MessageError::NoPreviousId);
        }
        MessageKind::Alias => {}
        _ if m.user_id.is_none() && m.anonymous_id.is_none() => {
            return Err(MessageError::NoIdentity);
        }
        MessageKind::Track if m.event.is_none_or(str::is_empty) => {
            return Err(MessageError::NoEventName);
        }
        MessageKind::Group if m.group_id.is_none() => return Err(MessageError::NoGroupId),
        _ => {}
    }
    for (field, value) in [
        ("timestamp", m.timestamp),
        ("originalTimestamp", m.original_timestamp),
        ("sentAt", m.sent_at),
    ] {
        if let Some(text) = value {
            Timestamp::parse(text).map_err(|source| MessageError::Time { field, source })?;
        }
    }
    Ok(())
}

/// [`Message::event_time`], on an owned or a borrowed message.
fn event_time(
    timestamp: Option<&str>,
    original_timestamp: Option<&str>,
    sent_at: Option<&str>,
    received_at: Option<Timestamp>,
) -> Result<Timestamp, MessageError> {
    let parse = |field: &'static str, text: Option<&str>| {
        text.map(Timestamp::parse)
            .transpose()
            .map_err(|source| MessageError::Time { field, source })
    };
    if let Some(t) = parse("timestamp", timestamp)? {
        return Ok(t);
    }
    let original = parse("originalTimestamp", original_timestamp)?;
    let sent = parse("sentAt", sent_at)?;
    match (original, sent, received_at) {
        (Some(original), Some(sent), Some(received)) => Ok(original.plus(received.since(sent))),
        (Some(original), _, _) => Ok(original),
        (None, _, Some(received)) => Ok(received),
        (None, Some(sent), None) => Ok(sent),
        (None, None, None) => Err(MessageError::NoTimestamp),
    }
}

/// [`Message::take_event`], on an owned or a borrowed message.
fn take_event<S: Into<String>>(
    kind: MessageKind,
    event: Option<&str>,
    page_name: &mut Option<S>,
    properties: &mut Attributes,
    context: &mut Attributes,
    timestamp: Timestamp,
) -> Option<Event> {
    let name = match kind {
        MessageKind::Track => event?.to_string(),
        MessageKind::Page => "page".to_string(),
        MessageKind::Screen => "screen".to_string(),
        _ => return None,
    };
    let mut properties = std::mem::take(properties);
    if kind != MessageKind::Track
        && let Some(page_name) = page_name.take()
    {
        properties
            .entry("name")
            .or_insert_with(|| Value::String(page_name.into()));
    }
    Some(Event {
        kind,
        name,
        timestamp,
        properties,
        context: std::mem::take(context),
    })
}

/// A Segment message read from its text with only the fields a reader looks at
/// ([`MessageRef::parse_with`]), its strings borrowed from the text when they have no escapes:
/// a [`Message`] without the copies.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRef<'a> {
    /// `identify`, `track`, `page`, `screen`, `group` or `alias`.
    pub kind: MessageKind,
    /// [`Message::message_id`].
    pub message_id: Option<Cow<'a, str>>,
    /// [`Message::user_id`].
    pub user_id: Option<Cow<'a, str>>,
    /// [`Message::anonymous_id`].
    pub anonymous_id: Option<Cow<'a, str>>,
    /// [`Message::event`].
    pub event: Option<Cow<'a, str>>,
    /// [`Message::name`].
    pub name: Option<Cow<'a, str>>,
    /// [`Message::group_id`].
    pub group_id: Option<Cow<'a, str>>,
    /// [`Message::previous_id`].
    pub previous_id: Option<Cow<'a, str>>,
    /// [`Message::timestamp`].
    pub timestamp: Option<Cow<'a, str>>,
    /// [`Message::original_timestamp`].
    pub original_timestamp: Option<Cow<'a, str>>,
    /// [`Message::sent_at`].
    pub sent_at: Option<Cow<'a, str>>,
    /// [`Message::properties`], the keys read.
    pub properties: Attributes,
    /// [`Message::traits`].
    pub traits: Attributes,
    /// [`Message::context`], the keys read.
    pub context: Attributes,
}

impl<'a> MessageRef<'a> {
    /// [`Message::parse_with`], borrowing strings from `json`. The messages senders send are
    /// read in one pass that skips what `fields` leaves out without building it; any message
    /// that pass is not sure of is read by `serde_json` (and refused as [`Message::parse`]
    /// refuses it).
    pub fn parse_with(json: &'a str, fields: &EventFields) -> Result<Self, MessageError> {
        if fields.is_all() {
            return Message::parse(json).map(MessageRef::from);
        }
        match crate::scan::message(json, fields) {
            Some(message) => {
                message.check()?;
                Ok(message)
            }
            None => Message::parse_lean(json, fields).map(MessageRef::from),
        }
    }

    /// [`Message::check`].
    pub fn check(&self) -> Result<(), MessageError> {
        check(&Fields {
            kind: self.kind,
            user_id: self.user_id.as_deref(),
            anonymous_id: self.anonymous_id.as_deref(),
            event: self.event.as_deref(),
            group_id: self.group_id.as_deref(),
            previous_id: self.previous_id.as_deref(),
            timestamp: self.timestamp.as_deref(),
            original_timestamp: self.original_timestamp.as_deref(),
            sent_at: self.sent_at.as_deref(),
        })
    }

    /// [`Message::event_time`].
    pub fn event_time(&self, received_at: Option<Timestamp>) -> Result<Timestamp, MessageError> {
        event_time(
            self.timestamp.as_deref(),
            self.original_timestamp.as_deref(),
            self.sent_at.as_deref(),
            received_at,
        )
    }

    /// [`Message::take_event`].
    pub fn take_event(&mut self, timestamp: Timestamp) -> Option<Event> {
        take_event(
            self.kind,
            self.event.as_deref(),
            &mut self.name,
            &mut self.properties,
            &mut self.context,
            timestamp,
        )
    }

    /// The owned message.
    pub fn into_owned(self) -> Message {
        let owned = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
        Message {
            kind: self.kind,
            message_id: owned(self.message_id),
            user_id: owned(self.user_id),
            anonymous_id: owned(self.anonymous_id),
            event: owned(self.event),
            name: owned(self.name),
            group_id: owned(self.group_id),
            previous_id: owned(self.previous_id),
            timestamp: owned(self.timestamp),
            original_timestamp: owned(self.original_timestamp),
            sent_at: owned(self.sent_at),
            properties: self.properties,
            traits: self.traits,
            context: self.context,
        }
    }
}

impl From<Message> for MessageRef<'_> {
    fn from(m: Message) -> Self {
        MessageRef {
            kind: m.kind,
            message_id: m.message_id.map(Cow::Owned),
            user_id: m.user_id.map(Cow::Owned),
            anonymous_id: m.anonymous_id.map(Cow::Owned),
            event: m.event.map(Cow::Owned),
            name: m.name.map(Cow::Owned),
            group_id: m.group_id.map(Cow::Owned),
            previous_id: m.previous_id.map(Cow::Owned),
            timestamp: m.timestamp.map(Cow::Owned),
            original_timestamp: m.original_timestamp.map(Cow::Owned),
            sent_at: m.sent_at.map(Cow::Owned),
            properties: m.properties,
            traits: m.traits,
            context: m.context,
        }
    }
}

/// Which keys of a map a reader looks at: all of them, or only these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// Every key.
    All,
    /// Only these top-level keys (whatever they hold beneath).
    Only(BTreeSet<String>),
}

impl Default for Keys {
    fn default() -> Self {
        Keys::Only(BTreeSet::new())
    }
}

impl Keys {
    /// Whether `key` is looked at.
    pub fn keeps(&self, key: &str) -> bool {
        match self {
            Keys::All => true,
            Keys::Only(keys) => keys.contains(key),
        }
    }

    /// Looks at `key` too.
    pub fn insert(&mut self, key: &str) {
        if let Keys::Only(keys) = self
            && !keys.contains(key)
        {
            keys.insert(key.to_string());
        }
    }

    /// Looks at what `other` looks at too.
    pub fn union(&mut self, other: &Keys) {
        match other {
            Keys::All => *self = Keys::All,
            Keys::Only(keys) => keys.iter().for_each(|key| self.insert(key)),
        }
    }
}

/// The parts of events' `properties` and `context` a reader (a model's rules) looks at, so a
/// message can be read without the rest ([`Message::parse_with`]). Everything else of a
/// message (ids, names, times, traits) is always read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFields {
    /// Keys of `properties`.
    pub properties: Keys,
    /// Keys of `context`.
    pub context: Keys,
}

impl EventFields {
    /// Every field: what [`Message::parse`] reads.
    pub fn all() -> Self {
        EventFields {
            properties: Keys::All,
            context: Keys::All,
        }
    }

    /// Whether nothing is left out.
    pub fn is_all(&self) -> bool {
        self.properties == Keys::All && self.context == Keys::All
    }

    /// Looks at what `other` looks at too.
    pub fn union(&mut self, other: &EventFields) {
        self.properties.union(&other.properties);
        self.context.union(&other.context);
    }
}

/// [`Message`]'s fields, as its derived `Deserialize` names them.
enum Field {
    Kind,
    MessageId,
    UserId,
    AnonymousId,
    Event,
    Name,
    GroupId,
    PreviousId,
    Timestamp,
    OriginalTimestamp,
    SentAt,
    Properties,
    Traits,
    Context,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "type" => Field::Kind,
                    "messageId" => Field::MessageId,
                    "userId" => Field::UserId,
                    "anonymousId" => Field::AnonymousId,
                    "event" => Field::Event,
                    "name" => Field::Name,
                    "groupId" => Field::GroupId,
                    "previousId" => Field::PreviousId,
                    "timestamp" => Field::Timestamp,
                    "originalTimestamp" => Field::OriginalTimestamp,
                    "sentAt" => Field::SentAt,
                    "properties" => Field::Properties,
                    "traits" => Field::Traits,
                    "context" => Field::Context,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

/// An id field, read by [`id`].
struct Id(Option<String>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        id(d).map(Id)
    }
}

/// A traits field, read by [`object`].
struct Object(Attributes);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object(d).map(Object)
    }
}

/// Reads a [`Message`] as its derived `Deserialize` does (same fields, duplicates refused),
/// keeping of `properties` and `context` only the keys [`EventFields`] names. It may refuse
/// more than the derived reading (an array for a message, say): [`Message::parse_with`] then
/// reads the message again in full.
struct LeanMessage<'f>(&'f EventFields);

impl<'de> DeserializeSeed<'de> for LeanMessage<'_> {
    type Value = Message;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Message, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LeanMessage<'_> {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Segment message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            value: T,
            name: &'static str,
        ) -> Result<(), E> {
            match slot {
                Some(_) => Err(E::duplicate_field(name)),
                None => {
                    *slot = Some(value);
                    Ok(())
                }
            }
        }
        let mut kind = None;
        let (mut message_id, mut user_id, mut anonymous_id, mut group_id, mut previous_id) =
            (None, None, None, None, None);
        let (mut event, mut name) = (None, None);
        let (mut timestamp, mut original_timestamp, mut sent_at) = (None, None, None);
        let (mut properties, mut traits, mut context) = (None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Kind => once(&mut kind, map.next_value::<MessageKind>()?, "type")?,
                Field::MessageId => once(&mut message_id, map.next_value::<Id>()?.0, "messageId")?,
                Field::UserId => once(&mut user_id, map.next_value::<Id>()?.0, "userId")?,
                Field::AnonymousId => {
                    once(&mut anonymous_id, map.next_value::<Id>()?.0, "anonymousId")?
                }
                Field::GroupId => once(&mut group_id, map.next_value::<Id>()?.0, "groupId")?,
                Field::PreviousId => {
                    once(&mut previous_id, map.next_value::<Id>()?.0, "previousId")?
                }
                Field::Event => once(&mut event, map.next_value::<Option<String>>()?, "event")?,
                Field::Name => once(&mut name, map.next_value::<Option<String>>()?, "name")?,
                Field::Timestamp => once(
                    &mut timestamp,
                    map.next_value::<Option<String>>()?,
                    "timestamp",
                )?,
                Field::OriginalTimestamp => once(
                    &mut original_timestamp,
                    map.next_value::<Option<String>>()?,
                    "originalTimestamp",
                )?,
                Field::SentAt => once(&mut sent_at, map.next_value::<Option<String>>()?, "sentAt")?,
                Field::Properties => once(
                    &mut properties,
                    map.next_value_seed(Filtered::keeping(&self.0.properties))?
                        .0,
                    "properties",
                )?,
                Field::Traits => once(&mut traits, map.next_value::<Object>()?.0, "traits")?,
                Field::Context => once(
                    &mut context,
                    map.next_value_seed(Filtered::keeping(&self.0.context).and_traits())?,
                    "context",
                )?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        let (context, context_traits) = context.unwrap_or_default();
        let mut traits = traits.unwrap_or_default();
        identify_traits(kind, &mut traits, context_traits.as_ref());
        Ok(Message {
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
            context,
        })
    }
}

/// An object field (`properties`, `context`) with only some of its keys kept; `null` is an
/// empty object, as [`object`] reads it. Dropped values are still checked as JSON values.
/// With `traits`, its `traits` entry is read too, kept or not (a `context`'s, for
/// [`identify_traits`]), when it is an object (the last of a key given twice, as kept keys).
struct Filtered<'k> {
    keys: &'k Keys,
    traits: bool,
}

impl<'k> Filtered<'k> {
    fn keeping(keys: &'k Keys) -> Self {
        Filtered {
            keys,
            traits: false,
        }
    }

    fn and_traits(self) -> Self {
        Filtered {
            traits: true,
            ..self
        }
    }
}

impl<'de> DeserializeSeed<'de> for Filtered<'_> {
    type Value = (Attributes, Option<Attributes>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Filtered<'_> {
    type Value = (Attributes, Option<Attributes>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Default::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Default::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = Attributes::new();
        let mut traits = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let keeps = self.keys.keeps(&key);
            if self.traits && key == "traits" {
                let value = map.next_value::<Value>()?;
                traits = value.as_object().cloned();
                if keeps {
                    kept.insert(key.into_owned(), value);
                }
            } else if keeps {
                kept.insert(key.into_owned(), map.next_value::<Value>()?);
            } else {
                map.next_value::<Checked>()?;
            }
        }
        Ok((kept, traits))
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON value read and dropped, checked exactly as reading it into a [`Value`] checks it
/// (numbers in range, escapes, nesting), unlike [`IgnoredAny`], which only skips it.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Checked, D::Error> {
        Checked::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
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

    /// RudderStack's SDKs send an `identify` call's traits in `context.traits` only; others
    /// send both, and `traits` wins. Other calls' `context.traits` make no traits.
    #[test]
    fn identify_traits_come_from_traits_and_context_traits() {
        let fields = EventFields {
            properties: Keys::All,
            context: Keys::Only(BTreeSet::from(["campaign".to_string()])),
        };
        let readings = |json: &str| {
            let value: Value = serde_json::from_str(json).unwrap();
            [
                Message::parse(json).unwrap(),
                Message::parse_with(json, &fields).unwrap(),
                Message::parse_lean(json, &fields).unwrap(),
                Message::deserialize(&value).unwrap(),
            ]
        };
        let rudder = r#"{"type":"identify","userId":"u","anonymousId":null,"channel":"server",
            "context":{"traits":{"email":"u@b.io","title":"CTO"},"library":{"name":"analytics-python"}},
            "integrations":{"All":true},"timestamp":"2026-10-01T10:00:00+00:00"}"#;
        for m in readings(rudder) {
            assert_eq!(m.user_id.as_deref(), Some("u"));
            assert_eq!(m.anonymous_id, None);
            assert_eq!(
                Value::Object(m.traits),
                serde_json::json!({"email": "u@b.io", "title": "CTO"})
            );
        }
        let both = r#"{"type":"identify","userId":"u","traits":{"title":"VP"},
            "context":{"traits":{"title":"CTO","seniority":"vp"}}}"#;
        for m in readings(both) {
            assert_eq!(
                Value::Object(m.traits),
                serde_json::json!({"title": "VP", "seniority": "vp"})
            );
        }
        let group = r#"{"type":"group","userId":"u","groupId":"g","traits":{"industry":"Software"},
            "context":{"traits":{"title":"CTO"}}}"#;
        let track =
            r#"{"type":"track","userId":"u","event":"E","context":{"traits":{"title":"CTO"}}}"#;
        for m in readings(group) {
            assert_eq!(
                Value::Object(m.traits),
                serde_json::json!({"industry": "Software"})
            );
        }
        for m in readings(track) {
            assert!(m.traits.is_empty());
        }
        // `userId: null` is no user id: an anonymous call.
        let anonymous = r#"{"type":"screen","userId":null,"anonymousId":"a","name":"Pricing"}"#;
        for m in readings(anonymous) {
            assert_eq!((m.user_id, m.anonymous_id.as_deref()), (None, Some("a")));
        }
    }

    #[test]
    fn credentials_leave_a_message_and_its_context_but_not_its_data() {
        let json = serde_json::json!({
            "type": "track", "event": "E", "userId": "u", "writeKey": "wk_1", "write_key": "wk_2",
            "context": {"writeKey": "wk_3", "write_key": "wk_4", "page": {"path": "/"}},
            "properties": {"writeKey": "theirs"}, "traits": {"write_key": "theirs"},
        });
        let Value::Object(mut message) = json else {
            unreachable!()
        };
        assert!(remove_credentials(&mut message));
        assert_eq!(
            Value::Object(message.clone()),
            serde_json::json!({
                "type": "track", "event": "E", "userId": "u", "context": {"page": {"path": "/"}},
                "properties": {"writeKey": "theirs"}, "traits": {"write_key": "theirs"},
            })
        );
        assert!(!remove_credentials(&mut message));
        // A `context` that is not an object is left as it is.
        let mut odd = Map::from_iter([("context".to_string(), Value::from("writeKey"))]);
        assert!(!remove_credentials(&mut odd));
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

    /// Found by fuzzing: without `float_roundtrip`, serde_json's reading of numbers is not
    /// correctly rounded, so a message written to the event log and read again could carry
    /// numbers a unit in the last place off what was scored when it arrived.
    #[test]
    fn numbers_are_read_exactly() {
        for number in [
            "1.8446744097370954e+20",
            "2.225073858507201e-308",
            "0.1",
            "7e22",
        ] {
            let json = format!(
                r#"{{"type":"track","event":"x","userId":"u","properties":{{"n":{number}}}}}"#
            );
            let n = Message::parse(&json).unwrap().properties["n"].clone();
            assert_eq!(n.as_f64(), Some(number.parse::<f64>().unwrap()), "{number}");
            let again: Value = serde_json::from_str(&n.to_string()).unwrap();
            assert_eq!(again, n, "{number}");
        }
    }

    #[test]
    fn event_times_past_the_skew_or_before_2000_are_out_of_range() {
        let received = Timestamp::parse("2026-10-01T12:00:00Z").unwrap();
        let of = |at: &str| {
            TimeOutOfRange::of(Timestamp::parse(at).unwrap(), received, DEFAULT_FUTURE_SKEW)
        };
        assert_eq!(of("2026-10-02T12:00:00Z"), None, "a day ahead is believed");
        assert_eq!(of("2026-10-02T12:00:01Z"), Some(TimeOutOfRange::Future));
        assert_eq!(of("9999-12-31T00:00:00Z"), Some(TimeOutOfRange::Future));
        assert_eq!(of("2000-01-01T00:00:00Z"), None);
        assert_eq!(of("1999-12-31T23:59:59Z"), Some(TimeOutOfRange::Before2000));
        assert_eq!(of("1970-01-01T00:00:00Z"), Some(TimeOutOfRange::Before2000));
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
