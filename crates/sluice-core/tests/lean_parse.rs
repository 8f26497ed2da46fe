//! Reading a message with only the fields a model looks at (`Message::parse_with`) must agree
//! with reading it in full (`Message::parse`): the same errors, the same message but for the
//! keys left out, and the same rule matches.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use proptest::prelude::*;
use sluice_core::event::Keys;
use sluice_core::{Activity, Attributes, EventFields, Message, Model};

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    Model::from_toml(include_str!("../../../examples/model.toml"), "model.toml").unwrap()
});

fn only(keys: &[&str]) -> Keys {
    Keys::Only(keys.iter().map(|k| k.to_string()).collect())
}

fn filtered(map: &Attributes, keys: &Keys) -> Attributes {
    map.iter()
        .filter(|(k, _)| keys.keeps(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Checks that the lean reading of `json` is the full reading, filtered.
fn agree(json: &str, fields: &EventFields) -> Result<(), TestCaseError> {
    match (Message::parse(json), Message::parse_with(json, fields)) {
        (Err(full), Err(lean)) => prop_assert_eq!(full.to_string(), lean.to_string()),
        (Ok(full), Ok(lean)) => {
            prop_assert_eq!(full.kind, lean.kind);
            prop_assert_eq!(full.event_time(None), lean.event_time(None));
            prop_assert_eq!(&full.message_id, &lean.message_id);
            prop_assert_eq!(&full.user_id, &lean.user_id);
            prop_assert_eq!(&full.anonymous_id, &lean.anonymous_id);
            prop_assert_eq!(&full.event, &lean.event);
            prop_assert_eq!(&full.name, &lean.name);
            prop_assert_eq!(&full.group_id, &lean.group_id);
            prop_assert_eq!(&full.previous_id, &lean.previous_id);
            prop_assert_eq!(&full.timestamp, &lean.timestamp);
            prop_assert_eq!(&full.original_timestamp, &lean.original_timestamp);
            prop_assert_eq!(&full.sent_at, &lean.sent_at);
            prop_assert_eq!(&full.traits, &lean.traits);
            prop_assert_eq!(
                filtered(&full.properties, &fields.properties),
                lean.properties
            );
            prop_assert_eq!(filtered(&full.context, &fields.context), lean.context);
        }
        (full, lean) => prop_assert!(
            false,
            "full: {:?}\nlean: {:?}",
            full.map(|_| ()),
            lean.map(|_| ())
        ),
    }
    Ok(())
}

fn example_fields() -> EventFields {
    EventFields {
        properties: only(&["path", "name", "asset_id"]),
        context: only(&["campaign"]),
    }
}

#[test]
fn the_example_model_reads_a_few_keys() {
    assert_eq!(
        MODEL.event_fields(),
        &EventFields {
            properties: only(&[
                "asset_id",
                "campaign_id",
                "case_study_id",
                "path",
                "plan",
                "webinar_id"
            ]),
            context: only(&["campaign"]),
        }
    );
}

#[test]
fn conditions_that_read_a_whole_map_keep_it() {
    let fields = |when: &str| {
        let toml = format!(
            "[model]\nname = \"m\"\nversion = \"1\"\n[thresholds]\nmql = 10\n\
             [engagement]\nhalf_life = \"30d\"\n[[engagement.rules]]\nid = \"r\"\nevent = \"*\"\nwhen = {when:?}\npoints = 10\n"
        );
        Model::from_toml(&toml, "m.toml")
            .unwrap()
            .event_fields()
            .clone()
    };
    let none = Keys::Only(BTreeSet::new());
    assert_eq!(
        fields("event.properties['a b'] == 1 && has(event.context.page.path)"),
        EventFields {
            properties: only(&["a b"]),
            context: only(&["page"]),
        }
    );
    assert_eq!(
        fields("event.name == 'x' && event.type == 'page'"),
        EventFields {
            properties: none.clone(),
            context: none.clone(),
        }
    );
    assert_eq!(fields("size(event.properties) > 2").properties, Keys::All);
    assert_eq!(fields("'path' in event.properties").properties, Keys::All);
    assert_eq!(
        fields("event.properties[event.name] == 1").properties,
        Keys::All
    );
    assert_eq!(
        fields("event.context.exists(k, k == 'x')").context,
        Keys::All
    );
    assert_eq!(fields("size(event) > 1"), EventFields::all());
    assert_eq!(
        fields("[event.properties.a].exists(event, event.properties.b == 1)").properties,
        only(&["a", "b"])
    );
}

/// Tricky messages, each read both ways.
#[test]
fn tricky_messages_read_the_same() {
    let cases = [
        // Escapes in keys and values, emoji as a surrogate pair.
        r#"{"type":"page","\u0075serId":"u\u00e9","properties":{"p\u0061th":"/pricing/\ud83d\ude00","title":"x"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        // A lone surrogate in a dropped value is refused like in a kept one.
        r#"{"type":"page","userId":"u","properties":{"title":"\ud800"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"path":"\ud800"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        // Out-of-range numbers, dropped or kept, and in an unknown field.
        r#"{"type":"page","userId":"u","properties":{"size":1e400},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"path":1e400},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","extra":1e400,"timestamp":"2026-10-01T10:00:00Z"}"#,
        // Duplicate keys: the message's fields are refused, properties' last value wins.
        r#"{"type":"page","userId":"u","userId":"v","timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","u\u0073erId":"v","timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"path":"/a","path":"/blog/b"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{},"properties":null,"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","event":null,"event":"x","timestamp":"2026-10-01T10:00:00Z"}"#,
        // Nested properties, context traits, null and numeric ids, numbers as strings.
        r#"{"type":"track","event":"Whitepaper Downloaded","userId":42,"anonymousId":null,"properties":{"asset_id":{"id":[1,"2",{"x":null}]},"path":"/docs/"},"context":{"traits":{"email":"A@B.io"},"campaign":{"source":"partner","name":"p1"}},"timestamp":"2026-10-01T10:00:00.5+02:00"}"#,
        r#"{"type":"identify","userId":"","anonymousId":"a","traits":{"email":" A@B.io ","account_id":7},"context":{"traits":{"title":"CTO"}},"originalTimestamp":"2026-10-01T10:00:00","sentAt":"2026-10-01T10:00:05Z"}"#,
        // An identify call's traits in `context.traits` (RudderStack, mobile SDKs): the
        // readers agree on the traits they make, whatever the model keeps of `context`.
        r#"{"type":"identify","userId":"u","anonymousId":null,"context":{"traits":{"email":"u@b.io","title":"CTO"},"library":{"name":"analytics-python"}},"integrations":{"All":true},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"context":{"traits":{"title":"CTO","seniority":"vp"}},"type":"identify","userId":"u","traits":{"title":"VP"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"title":"CTO"},"traits":{"title":"VP"}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"title":"CTO"},"traits":"x"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"identify","userId":"u","context":{"tr\u0061its":{"title":"CTO"}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"n":1e400}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"n":1.5e3,"deep":[[[{"a":null}]]]}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"group","userId":"u","groupId":"g","traits":{"industry":"Software"},"context":{"traits":{"title":"CTO"}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"track","event":"","userId":"u","timestamp":"2026-10-01"}"#,
        r#"{"type":"track","event":"x","userId":"1.5e3","messageId":1.5e3,"timestamp":"soon"}"#,
        // Wrong types, in fields kept and dropped.
        r#"{"type":"page","userId":true,"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":[1],"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","context":"x","timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","traits":5,"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","event":5,"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"launch","userId":"u"}"#,
        r#"{"userId":"u"}"#,
        // Not an object, trailing text, broken JSON.
        r#"["page",null,"u"]"#,
        r#"{"type":"page","userId":"u","timestamp":"2026-10-01T10:00:00Z"} x"#,
        r#"{"type":"page","userId":"u","properties":{"title":"x",}}"#,
        r#"{"type":"page","userId":"u","properties":{"title":"x"}"#,
        "{\"type\":\"page\",\"userId\":\"u\",\"properties\":{\"title\":\"a\tb\"}}",
        r#"null"#,
        r#"{"type":"page","userId":"u","properties":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"#,
        // What the one-pass reading skips or gives up on: escapes, numbers, nesting, spacing.
        r#"{"type":"page","userId":"u","properties":{"title":"a\/b\"c\\d\b\f\n\r\t\u00e9\u0000","path":"/p\/q\u00e9"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"a\u0040B.io","anonymousId":"x\ty","properties":{"c\u0061mpaign":1},"context":{"c\u0061mpaign":{"s":"p"}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"title":"\x"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"title":"\u00g0"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":01},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":1.},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":-},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":.5},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":+1},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":-0.5,"b":1.5E3,"c":2e-3,"path":-0},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":123456789012345678901234567890,"path":123456789012345678901234567890.5},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":nul,"b":tru},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"":1,"path":""},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"Page","userId":"u","timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","traits":{"a":1e400},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","traits":[],"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","timestamp":"2026-10-01T10:00:00Z","timestamp":null}"#,
        r#"{"type":"page","userId":"  ","anonymousId":"a","timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{}"#,
        r#"{"type":"page","userId":"u","properties":{"a":[1,2,]},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":{"b":1,}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","properties":{"a":{1:2}},"timestamp":"2026-10-01T10:00:00Z"}"#,
        " \n{ \"type\" :\t\"page\" ,\r\n\"userId\" : \"u\" , \"properties\" : { \"path\" : [ 1 , { } ] , \"x\" : { \"y\" : [ ] } } } \n",
        "\u{a0}{\"type\":\"page\",\"userId\":\"u\"}",
        // Page names become the `name` property.
        r#"{"type":"page","userId":"u","name":"Pricing","properties":{"path":"/pricing"},"timestamp":"2026-10-01T10:00:00Z"}"#,
        r#"{"type":"page","userId":"u","name":"Pricing","properties":{"name":"Own"},"timestamp":"2026-10-01T10:00:00Z"}"#,
    ];
    let fieldsets = [
        example_fields(),
        EventFields::default(),
        EventFields::all(),
        EventFields {
            properties: Keys::All,
            context: only(&["traits"]),
        },
    ];
    // Nesting about the depths where the one-pass reading and `serde_json` stop.
    let nested: Vec<String> = [98, 99, 100, 101, 125, 126, 127, 128, 129]
        .into_iter()
        .flat_map(|depth| {
            let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            [
                format!(r#"{{"type":"page","userId":"u","properties":{{"a":{value}}}}}"#),
                format!(r#"{{"type":"page","userId":"u","properties":{{"path":{value}}}}}"#),
                format!(r#"{{"type":"page","userId":"u","extra":{value}}}"#),
            ]
        })
        .collect();
    for json in cases
        .iter()
        .copied()
        .chain(nested.iter().map(String::as_str))
    {
        for fields in &fieldsets {
            agree(json, fields).unwrap_or_else(|e| panic!("{json}: {e}"));
        }
    }
}

/// Raw JSON text for a value: the shapes messages carry, and the odd ones.
fn arb_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("42".to_string()),
        Just("-0".to_string()),
        Just("1.5e3".to_string()),
        Just("1e400".to_string()),
        Just("18446744073709551616".to_string()),
        Just(r#""""#.to_string()),
        Just(r#""  ""#.to_string()),
        Just(r#""/pricing""#.to_string()),
        Just(r#""/blog/\u0078""#.to_string()),
        Just(r#""\ud83d\ude00""#.to_string()),
        Just(r#""\ud800""#.to_string()),
        Just(r#""A@B.io""#.to_string()),
        Just(r#""2026-10-01T10:00:00Z""#.to_string()),
        Just("-0.25".to_string()),
        Just("1E2".to_string()),
        Just("01".to_string()),
        Just("123456789012345678901234567890".to_string()),
        Just(r#""a\/b\"c\n""#.to_string()),
        Just(r#""\u00e9""#.to_string()),
        Just("\"a\tb\"".to_string()),
        Just(r#""\q""#.to_string()),
        Just(r#""2026-10-01T10:00:00.123+02:00""#.to_string()),
        Just(r#""2026-10-01""#.to_string()),
        Just(r#""soon""#.to_string()),
        Just(r#""Whitepaper Downloaded""#.to_string()),
        Just(r#""partner""#.to_string()),
        Just(r#""cpc""#.to_string()),
        "[a-z]{0,4}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((arb_key(), inner), 0..4).prop_map(|entries| {
                let body: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// Keys of nested objects: some a model reads, some it does not, some escaped.
fn arb_key() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("path"),
        Just("p\\u0061th"),
        Just("name"),
        Just("asset_id"),
        Just("campaign"),
        Just("traits"),
        Just("email"),
        Just("account_id"),
        Just("title"),
        Just("source"),
        Just("medium"),
        Just("x"),
    ]
}

/// A message as text: fields in any order, maybe repeated, with any value.
fn arb_message() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just(r#""page""#),
        Just(r#""track""#),
        Just(r#""identify""#),
        Just(r#""group""#),
        Just(r#""alias""#),
        Just(r#""screen""#),
        Just(r#""launch""#),
        Just("null"),
    ]
    .prop_map(|k| k.to_string());
    let field = prop_oneof![
        Just("userId"),
        Just("anonymousId"),
        Just("messageId"),
        Just("event"),
        Just("name"),
        Just("groupId"),
        Just("previousId"),
        Just("timestamp"),
        Just("originalTimestamp"),
        Just("sentAt"),
        Just("properties"),
        Just("context"),
        Just("traits"),
        Just("\\u0075serId"),
        Just("extra"),
        Just("type"),
    ];
    (
        kind,
        prop::collection::vec((field, arb_value()), 0..8),
        any::<bool>(),
    )
        .prop_map(|(kind, fields, kind_first)| {
            let mut body: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            let kind = format!("\"type\":{kind}");
            if kind_first {
                body.insert(0, kind);
            } else {
                body.push(kind);
            }
            format!("{{{}}}", body.join(","))
        })
}

fn arb_keys() -> impl Strategy<Value = Keys> {
    prop_oneof![
        Just(Keys::All),
        prop::collection::btree_set(arb_key().prop_map(str::to_string), 0..4).prop_map(Keys::Only),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn lean_reading_agrees_with_full_reading(
        json in arb_message(),
        properties in arb_keys(),
        context in arb_keys(),
    ) {
        agree(&json, &EventFields { properties, context })?;
    }

    #[test]
    fn a_model_matches_lean_events_as_full_ones(json in arb_message()) {
        let model = &*MODEL;
        let (Ok(full), Ok(lean)) =
            (Message::parse(&json), Message::parse_with(&json, model.event_fields()))
        else {
            return Ok(());
        };
        let Ok(at) = full.event_time(None) else { return Ok(()) };
        let hits = |message: Message| {
            let mut activity = Activity::new();
            if let Some(event) = message.into_event(at) {
                activity.record(model, &event);
            }
            activity
        };
        prop_assert_eq!(hits(full), hits(lean));
    }
}
