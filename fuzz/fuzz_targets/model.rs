//! A model file, as `sluice model check` and model uploads read it: compiled, or refused with
//! errors that point into the file; never a panic. A model that compiles is then used the way
//! the engine uses one, and must keep its invariants: native predicates agree with the CEL
//! interpreter, the order events arrive in does not change a score, the explanation is the
//! score's, and a model has no differences from itself.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{Corpus, fuzz_target};
use serde_json::{Value, json};
use sluice_core::model::diff::diff;
use sluice_core::{Activity, Attributes, Event, Model, Profile, Timestamp};

const T0: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;

static EXAMPLE: LazyLock<Model> = LazyLock::new(|| {
    Model::from_toml(include_str!("../../examples/model.toml"), "model.toml").unwrap()
});

fn object(value: Value) -> Attributes {
    value.as_object().expect("an object").clone()
}

/// Leads and accounts of every shape a condition may meet: typical, odd types, empty.
static PROFILES: LazyLock<Vec<(Attributes, Option<Attributes>)>> = LazyLock::new(|| {
    vec![
        (
            object(
                json!({"email": "ana@acme.io", "title": "VP Data Platform", "seniority": "vp",
                "department": "data", "country": "DE", "bant_budget": "approved",
                "bant_need": "critical", "crm_id": "0031"}),
            ),
            Some(object(json!({"employees": 1200, "industry": "Software",
                "annual_revenue": 80_000_000, "domain": "acme.io", "tags": ["a", "b"]}))),
        ),
        (
            object(
                json!({"email": "Student@Gmail.com", "title": "student", "seniority": "student",
                "employees": "many", "score": -1.5, "nested": {"a": [1, {"b": null}]}}),
            ),
            Some(object(
                json!({"employees": 9_223_372_036_854_775_807_i64, "industry": null,
                "annual_revenue": 1e300}),
            )),
        ),
        (
            object(
                json!({"email": "", "title": 42, "seniority": true, "department": [],
                "unicode": "\u{1F600}é\u{0}"}),
            ),
            None,
        ),
        (Attributes::new(), Some(Attributes::new())),
    ]
});

fn event(name: &str, day: i64, properties: Value, context: Value) -> Event {
    let kind = match name {
        "page" => sluice_core::MessageKind::Page,
        "screen" => sluice_core::MessageKind::Screen,
        _ => sluice_core::MessageKind::Track,
    };
    Event {
        kind,
        name: name.to_string(),
        timestamp: Timestamp::from_millis(T0 + day * DAY / 3),
        properties: object(properties),
        context: object(context),
    }
}

/// Events such as rules look for, with repeats (cooldowns, `once_per`) and odd values.
static EVENTS: LazyLock<Vec<Event>> = LazyLock::new(|| {
    vec![
        event(
            "page",
            0,
            json!({"path": "/pricing", "name": "Pricing"}),
            json!({"campaign": {"medium": "cpc", "source": "partner", "name": "p1"}}),
        ),
        event("page", 1, json!({"path": "/pricing"}), json!({})),
        event(
            "page",
            2,
            json!({"path": "/docs/api"}),
            json!({"page": {"path": "/docs/api"}}),
        ),
        event(
            "page",
            90,
            json!({"path": "/careers", "title": null}),
            json!({}),
        ),
        event(
            "Demo Requested",
            3,
            json!({"form_id": "f1", "plan": "team"}),
            json!({"campaign": {"name": "p2", "source": "partner"}}),
        ),
        event("Demo Requested", 4, json!({"plan": 3}), json!({})),
        event(
            "Whitepaper Downloaded",
            5,
            json!({"asset_id": "wp-1"}),
            json!({}),
        ),
        event(
            "Whitepaper Downloaded",
            6,
            json!({"asset_id": "wp-1", "size": 1.5e10}),
            json!({}),
        ),
        event(
            "Trial Started",
            30,
            json!({"plan": ["a", {"b": 1}]}),
            json!({}),
        ),
        event(
            "screen",
            31,
            json!({"name": "Home", "path": 7}),
            json!({"device": "ios"}),
        ),
        event(
            "Unsubscribed",
            60,
            json!({}),
            json!({"campaign": "not an object"}),
        ),
        event("", 61, json!({"": ""}), json!({})),
    ]
});

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(text) = std::str::from_utf8(data) else {
        return Corpus::Reject;
    };
    let model = match Model::from_toml(text, "model.toml") {
        Ok(model) => model,
        Err(errors) => {
            // What `sluice model check` prints: each error located in the file.
            assert!(!errors.0.is_empty(), "refused without a reason");
            let lines = text.split('\n').count();
            for e in &errors.0 {
                assert!(e.line >= 1 && e.line <= lines, "{e}: line outside the file");
                assert!(e.column >= 1, "{e}: column 0");
            }
            let _ = errors.to_string();
            let _ = serde_json::to_string(&errors.0).expect("errors serialize");
            return Corpus::Keep;
        }
    };
    check_summary(&model);
    assert!(
        diff(&model, &model).is_empty(),
        "a model differs from itself"
    );
    let _ = diff(&EXAMPLE, &model);
    let _ = diff(&model, &EXAMPLE);

    let interpreted = model.interpreted();
    let events = &*EVENTS;
    let activity = Activity::from_events(&model, events);
    assert_eq!(
        activity,
        Activity::from_events(&interpreted, events),
        "native and interpreted event conditions disagree"
    );
    let mut one_by_one = Activity::new();
    for e in events.iter().rev() {
        one_by_one.record(&model, e);
    }
    assert_eq!(activity, one_by_one, "arrival order changed the activity");

    for (lead, account) in &*PROFILES {
        let profile = Profile {
            lead,
            account: account.as_ref(),
        };
        for as_of in [T0 - DAY, T0 + 10 * DAY, T0 + 400 * DAY] {
            let as_of = Timestamp::from_millis(as_of);
            let (score, explanation) = model.explain(profile, &activity, as_of);
            assert_eq!(
                score,
                model.score(profile, &activity, as_of),
                "explain and score disagree"
            );
            assert_eq!(
                (score, explanation),
                interpreted.explain(profile, &activity, as_of),
                "native and interpreted conditions disagree"
            );
        }
        if let Some(account) = account {
            let engagement = [0.0, 12.5, 300.0];
            assert_eq!(
                model.score_account(account, &engagement),
                interpreted.score_account(account, &engagement),
                "native and interpreted account conditions disagree"
            );
        }
        assert_eq!(model.bant_status(lead), interpreted.bant_status(lead));
    }
    Corpus::Keep
});

/// What `sluice model check` reports of a model that compiles.
fn check_summary(model: &Model) {
    let (native, interpreted) = model.condition_counts();
    let (n, i) = model.interpreted().condition_counts();
    assert_eq!((n, i), (0, native + interpreted));
    let t = model.thresholds();
    let summary = json!({
        "name": model.name(),
        "version": model.version(),
        "description": model.description(),
        "mql": t.mql,
        "min_fit_grade": t.min_fit_grade.map(|g| g.to_string()),
        "min_engagement_grade": t.min_engagement_grade.map(|g| g.number()),
        "half_life": model.engagement().half_life.to_string(),
        "caps": model.caps().iter().map(|c| &c.id).collect::<Vec<_>>(),
        "groups": model.groups().iter().map(|g| json!({"id": g.id, "mql": g.mql})).collect::<Vec<_>>(),
        "account_rollup": model.account().rollup.to_string(),
        "bant_criteria": model.bant().map_or(0, |b| b.criteria.len()),
        "reject_reasons": model.handoff().reject_reasons,
        "slas": model.handoff().slas,
    });
    let _ = summary.to_string();
    for s in &model.handoff().slas {
        let _ = sluice_core::handoff::span_display(s.within);
    }
    if let Some(p) = model.probability() {
        for score in [-1e9, 0.0, 50.0, 1e9] {
            let chance = p.at(score);
            assert!(
                (0.0..=1.0).contains(&chance),
                "probability {chance} at {score}"
            );
        }
    }
}
