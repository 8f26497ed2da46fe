//! A Segment payload, read the ways Sluice reads one, never panicking:
//! - as a line of an events file: `Message::parse`, and `Message::parse_with` keeping only
//!   the fields a model reads, which must agree with the full reading (the invariant
//!   `crates/sluice-core/tests/lean_parse.rs` checks on generated messages): the same errors,
//!   the same message but for the keys left out, the same rule matches;
//! - as the body of a Tracking API request (`/v1/batch` and `/v1/{type}`), through the
//!   service's own `ingest::body_object` and `ingest::messages`: every message it accepts is
//!   stored in a form that reads back as the same message, and that the stream worker
//!   (`sluice worker`), which prepares each stored message again, accepts as the same.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{Corpus, fuzz_target};
use serde_json::{Map, Value};
use sluice_core::event::Keys;
use sluice_core::{Activity, Attributes, EventFields, Message, MessageKind, Model, Timestamp};
use sluice_server::ingest;

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    Model::from_toml(include_str!("../../examples/model.toml"), "model.toml").unwrap()
});

/// What readers keep of `properties` and `context`: the example model's fields, nothing, all,
/// and a mix.
static FIELDS: LazyLock<Vec<EventFields>> = LazyLock::new(|| {
    let only = |keys: &[&str]| Keys::Only(keys.iter().map(|k| k.to_string()).collect());
    vec![
        MODEL.event_fields().clone(),
        EventFields::default(),
        EventFields {
            properties: Keys::All,
            context: only(&["traits", "campaign"]),
        },
        EventFields {
            properties: only(&["path", "name"]),
            context: Keys::All,
        },
    ]
});

/// When the fuzzed requests arrive.
const RECEIVED: Timestamp = Timestamp::from_millis(1_780_000_000_000);

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(text) = std::str::from_utf8(data) else {
        // Not a line of an events file; still a request body the service must refuse calmly.
        let _ = ingest::body_object(data);
        return Corpus::Keep;
    };
    let full = Message::parse(text);
    for fields in &*FIELDS {
        agree(text, &full, fields);
    }
    if let Ok(message) = &full
        && let Ok(at) = message.event_time(None)
    {
        let hits = |message: Message| {
            let mut activity = Activity::new();
            if let Some(event) = message.into_event(at) {
                activity.record(&MODEL, &event);
            }
            activity
        };
        let lean = Message::parse_with(text, MODEL.event_fields()).expect("agreed above");
        assert_eq!(
            hits(message.clone()),
            hits(lean),
            "lean and full match differently"
        );
    }

    let Ok(body) = ingest::body_object(data) else {
        return Corpus::Keep;
    };
    // As a batch, as the single call its `type` names, and as a call of another type.
    let declared = body
        .get("type")
        .and_then(|t| serde_json::from_value::<MessageKind>(t.clone()).ok());
    let other = match declared {
        Some(MessageKind::Page) => MessageKind::Track,
        _ => MessageKind::Page,
    };
    for kind in [
        None,
        Some(declared.unwrap_or(MessageKind::Identify)),
        Some(other),
    ] {
        // Times as sent (the clamping of far-off times is tested in the service's tests).
        let Ok((accepted, _)) =
            ingest::messages(body.clone(), kind, RECEIVED, ingest::Times::Trust)
        else {
            continue;
        };
        for a in accepted {
            assert_eq!(a.received, RECEIVED);
            assert_eq!(a.message.event_time(Some(RECEIVED)), Ok(a.at));
            // How the event log is read back (learning, rematching under a new model).
            let stored = Message::parse(&a.raw).expect("a stored message reads back");
            assert_eq!(stored.kind, a.message.kind);
            assert_eq!(stored.message_id.as_deref(), Some(a.message_id.as_str()));
            assert_eq!(stored.user_id, a.message.user_id);
            assert_eq!(stored.anonymous_id, a.message.anonymous_id);
            assert_eq!(stored.event, a.message.event);
            assert_eq!(stored.traits, a.message.traits);
            assert_eq!(stored.properties, a.message.properties);
            assert_eq!(stored.context, a.message.context);
            // What the stream worker does with a message the service published.
            let value: Map<String, Value> = serde_json::from_str(&a.raw).expect("stored JSON");
            // No write key a client put in its message is stored.
            for field in sluice_core::event::CREDENTIAL_FIELDS {
                let context = value.get("context").and_then(Value::as_object);
                assert!(
                    !value.contains_key(field) && !context.is_some_and(|c| c.contains_key(field))
                );
            }
            let again = ingest::prepare_accepted(value, RECEIVED).unwrap_or_else(|invalid| {
                panic!("the stream worker refuses a message the service accepted: {invalid:?}")
            });
            assert_eq!(again.raw, a.raw);
            assert_eq!(again.message_id, a.message_id);
            assert_eq!(again.at, a.at);
        }
    }
    Corpus::Keep
});

/// The lean reading of `text` is the full reading, filtered.
fn agree(
    text: &str,
    full: &Result<Message, sluice_core::event::MessageError>,
    fields: &EventFields,
) {
    let filtered = |map: &Attributes, keys: &Keys| -> Attributes {
        map.iter()
            .filter(|(k, _)| keys.keeps(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match (full, Message::parse_with(text, fields)) {
        (Err(full), Err(lean)) => assert_eq!(full.to_string(), lean.to_string()),
        (Ok(full), Ok(lean)) => {
            assert_eq!(full.kind, lean.kind);
            assert_eq!(full.event_time(None), lean.event_time(None));
            assert_eq!(full.message_id, lean.message_id);
            assert_eq!(full.user_id, lean.user_id);
            assert_eq!(full.anonymous_id, lean.anonymous_id);
            assert_eq!(full.event, lean.event);
            assert_eq!(full.name, lean.name);
            assert_eq!(full.group_id, lean.group_id);
            assert_eq!(full.previous_id, lean.previous_id);
            assert_eq!(full.timestamp, lean.timestamp);
            assert_eq!(full.original_timestamp, lean.original_timestamp);
            assert_eq!(full.sent_at, lean.sent_at);
            assert_eq!(full.traits, lean.traits);
            assert_eq!(
                filtered(&full.properties, &fields.properties),
                lean.properties
            );
            assert_eq!(filtered(&full.context, &fields.context), lean.context);
        }
        (full, lean) => panic!(
            "full and lean readings disagree: {:?} / {:?}",
            full.as_ref().map(|_| ()),
            lean.map(|_| ())
        ),
    }
}
