//! Invariants of the engine, over generated inputs.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_core::model::{Condition, Scope, Vars};
use sluice_core::{Activity, Attributes, Event, MessageKind, Model, Profile, Timestamp};

fn model() -> Model {
    Model::from_toml(include_str!("../../../examples/model.toml"), "model.toml").unwrap()
}

const DAY: i64 = 86_400_000;
const T0: i64 = 1_780_000_000_000;

fn arb_event() -> impl Strategy<Value = Event> {
    let names = prop_oneof![
        Just("page"),
        Just("Demo Requested"),
        Just("Whitepaper Downloaded"),
        Just("Webinar Attended"),
        Just("Trial Started"),
        Just("Email Clicked"),
        Just("Unsubscribed"),
        Just("Other"),
    ];
    let paths = prop_oneof![
        Just("/pricing"),
        Just("/docs/api"),
        Just("/blog/x"),
        Just("/careers"),
        Just("/product/sso"),
        Just("/")
    ];
    (names, paths, 0..200i64, 0..4u8, 0..3u8).prop_map(|(name, path, day, id, medium)| {
        let mut properties = serde_json::Map::new();
        properties.insert("path".into(), json!(path));
        for key in ["asset_id", "webinar_id", "campaign_id", "plan"] {
            properties.insert(key.into(), json!(format!("{key}-{id}")));
        }
        let mut context = serde_json::Map::new();
        let medium = ["cpc", "email", "paid_social"][medium as usize];
        context.insert("campaign".into(), json!({ "medium": medium }));
        Event {
            kind: if name == "page" {
                MessageKind::Page
            } else {
                MessageKind::Track
            },
            name: name.to_string(),
            // Hours apart, so cooldowns of a day both bite and release.
            timestamp: Timestamp::from_millis(T0 + day * DAY / 3),
            properties,
            context,
        }
    })
}

fn lead() -> Attributes {
    json!({"seniority": "vp", "department": "data", "email": "a@b.io", "title": "VP Data"})
        .as_object()
        .unwrap()
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arrival_order_does_not_change_the_score(
        events in prop::collection::vec(arb_event(), 0..60),
        seed in any::<u64>(),
    ) {
        let m = model();
        let mut shuffled = events.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let lead = lead();
        let profile = Profile { lead: &lead, account: None };
        let as_of = Timestamp::from_millis(T0 + 70 * DAY);
        let a = m.explain(profile, &Activity::from_events(&m, &events), as_of);
        let b = m.explain(profile, &Activity::from_events(&m, &shuffled), as_of);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn incremental_equals_full_recomputation(events in prop::collection::vec(arb_event(), 0..60)) {
        let m = model();
        let mut live = Activity::new();
        for e in &events {
            live.record(&m, e);
        }
        let full = Activity::from_events(&m, &events);
        prop_assert_eq!(&live, &full);
        let lead = lead();
        let profile = Profile { lead: &lead, account: None };
        // And at any time: a replay "as of" a past day equals live scoring then.
        for day in [0, 20, 45, 80] {
            let as_of = Timestamp::from_millis(T0 + day * DAY);
            let upto: Vec<&Event> = events.iter().filter(|e| e.timestamp <= as_of).collect();
            let replay = Activity::from_events(&m, upto);
            prop_assert_eq!(m.score(profile, &live, as_of), m.score(profile, &replay, as_of));
        }
    }

    #[test]
    fn positive_engagement_only_decays(events in prop::collection::vec(arb_event(), 1..40), later in 0..400i64) {
        let source = r#"
            [model]
            name = "decay"
            version = "1"
            [thresholds]
            mql = 50
            [engagement]
            half_life = "30d"
            [[engagement.rules]]
            id = "any"
            event = "*"
            points = 3
            [[engagement.rules]]
            id = "pricing"
            event = "page"
            when = "event.properties.path == '/pricing'"
            points = 10
            max_points = 25
        "#;
        let m = Model::from_toml(source, "decay.toml").unwrap();
        let activity = Activity::from_events(&m, &events);
        let lead = lead();
        let profile = Profile { lead: &lead, account: None };
        let last = events.iter().map(|e| e.timestamp).max().unwrap();
        let now = m.score(profile, &activity, last);
        let then = m.score(profile, &activity, Timestamp::from_millis(last.millis() + later * DAY / 4));
        prop_assert!(then.engagement <= now.engagement);
        prop_assert!(then.engagement >= 0.0);
    }
}

/// A generated condition in the natively compiled subset, as CEL source.
fn arb_condition() -> impl Strategy<Value = String> {
    conditions(
        prop_oneof![
            Just("lead.title"),
            Just("lead.employees"),
            Just("lead.score"),
            Just("lead.active"),
            Just("lead.missing"),
            Just("lead.nested.level"),
            Just("lead['Job Title']"),
            Just("account.industry"),
            Just("account.employees"),
        ],
        &["lead.title", "lead.nested.level", "account.industry"],
    )
}

fn conditions(
    field: impl Strategy<Value = &'static str> + Clone + 'static,
    has: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let literal = prop_oneof![
        Just("'VP Sales'".to_string()),
        Just("'vp'".to_string()),
        Just("'Software'".to_string()),
        Just("''".to_string()),
        (-5i64..1000).prop_map(|i| i.to_string()),
        (0u32..1000).prop_map(|i| format!("{i}u")),
        (-5.0f64..1000.0).prop_map(|f| format!("{f:.2}")),
        Just("true".to_string()),
        Just("null".to_string()),
    ];
    let op = prop_oneof![
        Just("=="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    let leaf = prop_oneof![
        (field.clone(), op, literal.clone()).prop_map(|(f, o, l)| format!("{f} {o} {l}")),
        (literal.clone(), field.clone()).prop_map(|(l, f)| format!("{l} < {f}")),
        (field.clone(), prop::collection::vec(literal, 0..3))
            .prop_map(|(f, ls)| format!("{f} in [{}]", ls.join(", "))),
        (
            field.clone(),
            prop_oneof![Just("startsWith"), Just("endsWith"), Just("contains")],
            prop_oneof![Just("VP"), Just("s"), Just("")]
        )
            .prop_map(|(f, m, a)| format!("{f}.{m}('{a}')")),
        field.clone().prop_map(|f| format!("{f}.matches('^(?i)v')")),
        field
            .clone()
            .prop_map(|f| format!("{f}.lowerAscii() == 'vp sales'")),
        prop::sample::select(has).prop_map(|h| format!("has({h})")),
        field.prop_map(|f| f.to_string()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) && ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) || ({b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("VP Sales")),
        Just(json!("vp")),
        Just(json!("Software")),
        Just(json!("")),
        (-5i64..1000).prop_map(Value::from),
        (-5.0f64..1000.0).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({"level": 3})),
        Just(json!(["VP Sales"])),
    ]
}

fn arb_attributes(keys: &'static [&'static str]) -> impl Strategy<Value = Attributes> {
    prop::collection::vec(prop::option::of(arb_value()), keys.len()).prop_map(move |values| {
        keys.iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn native_predicates_agree_with_the_interpreter(
        source in arb_condition(),
        lead in arb_attributes(&["title", "employees", "score", "active", "nested", "Job Title"]),
        account in prop::option::of(arb_attributes(&["industry", "employees"])),
    ) {
        let condition = Condition::compile(&source, Scope::Lead).unwrap();
        prop_assert!(condition.is_native(), "{} should compile natively", source);
        let vars = Vars { lead: Some(&lead), account: account.as_ref(), event: None };
        prop_assert_eq!(
            condition.matches(vars),
            condition.interpreted().matches(vars),
            "{} on lead {:?}, account {:?}", source, lead, account
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn native_event_predicates_agree_with_the_interpreter(
        source in conditions(prop_oneof![
            Just("event.name"),
            Just("event.type"),
            Just("event.properties.title"),
            Just("event.properties.level"),
            Just("event.properties['Job Title']"),
            Just("event.context.campaign.medium"),
            Just("event.context.missing"),
        ], &["event.properties.title", "event.context.campaign.medium", "event.properties.level"]),
        properties in arb_attributes(&["title", "level", "Job Title"]),
        medium in prop::option::of(arb_value()),
        name in prop_oneof![Just("VP Sales"), Just("page"), Just("vp")],
    ) {
        let condition = Condition::compile(&source, Scope::Event).unwrap();
        prop_assert!(condition.is_native(), "{} should compile natively", source);
        let mut context = serde_json::Map::new();
        if let Some(medium) = medium {
            context.insert("campaign".into(), json!({ "medium": medium }));
        }
        let event = Event {
            kind: MessageKind::Track,
            name: name.to_string(),
            timestamp: Timestamp::from_millis(T0),
            properties,
            context,
        };
        let vars = Vars { event: Some(&event), ..Vars::default() };
        prop_assert_eq!(condition.matches(vars), condition.interpreted().matches(vars), "{} on {:?}", source, event);
    }
}
