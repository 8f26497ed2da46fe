//! Scoring behaviour, through the engine's public API.

use serde_json::json;
use sluice_core::engine::Skip;
use sluice_core::{Activity, Attributes, Event, Model, Profile, Qualification, Timestamp};

fn model() -> Model {
    Model::from_toml(include_str!("../../../examples/model.toml"), "model.toml").unwrap()
}

fn attrs(value: serde_json::Value) -> Attributes {
    value.as_object().unwrap().clone()
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn event(name: &str, at: &str, properties: serde_json::Value) -> Event {
    let kind = if name == "page" { "page" } else { "track" };
    let json = json!({"type": kind, "event": name, "userId": "u", "timestamp": at, "properties": properties});
    let message = sluice_core::Message::parse(&json.to_string()).unwrap();
    message.to_event(message.event_time(None).unwrap()).unwrap()
}

fn vp() -> Attributes {
    attrs(
        json!({"email": "ada@acme.io", "seniority": "vp", "department": "engineering", "title": "VP Engineering"}),
    )
}

fn acme() -> Attributes {
    attrs(json!({"industry": "Software", "employees": 800, "annual_revenue": 90000000}))
}

#[test]
fn fit_and_decayed_engagement_add_up() {
    let m = model();
    let events = [event("Demo Requested", "2026-08-02T00:00:00Z", json!({}))];
    let activity = Activity::from_events(&m, &events);
    let (lead, account) = (vp(), acme());
    let profile = Profile {
        lead: &lead,
        account: Some(&account),
    };
    // 60 days after the demo request, its 50 points (half-life 60d) are worth 25.
    let s = m.score(profile, &activity, t("2026-10-01"));
    assert_eq!(s.fit, 25.0 + 15.0 + 20.0 + 10.0);
    assert_eq!(s.engagement, 25.0);
    assert_eq!(s.score, 95.0);
    assert_eq!(s.grade.to_string(), "A3");
    assert_eq!(s.qualification, Qualification::Lead);
    assert_eq!(s.to_mql.points, 5.0);
    // On the day of the request it is an MQL.
    let s = m.score(profile, &activity, t("2026-08-02"));
    assert_eq!(s.qualification, Qualification::Mql);
    assert_eq!(s.qualified_by, ["score"]);
    // Events after the scoring time do not count.
    let s = m.score(profile, &activity, t("2026-08-01"));
    assert_eq!(s.engagement, 0.0);
}

#[test]
fn once_per_and_cooldown_stop_inflation() {
    let m = model();
    let events = [
        event(
            "Whitepaper Downloaded",
            "2026-10-01T09:00:00Z",
            json!({"asset_id": "wp-1"}),
        ),
        event(
            "Whitepaper Downloaded",
            "2026-10-01T10:00:00Z",
            json!({"asset_id": "wp-1"}),
        ),
        event("page", "2026-10-01T11:00:00Z", json!({"path": "/pricing"})),
        event(
            "page",
            "2026-10-01T12:00:00Z",
            json!({"path": "/pricing/enterprise"}),
        ),
        event("page", "2026-10-02T11:00:00Z", json!({"path": "/pricing"})),
    ];
    let activity = Activity::from_events(&m, &events);
    let lead = vp();
    let (s, why) = m.explain(
        Profile {
            lead: &lead,
            account: None,
        },
        &activity,
        t("2026-10-02T11:00:00Z"),
    );
    let rule = |id: &str| {
        why.engagement
            .iter()
            .find(|r| r.rule == id)
            .unwrap()
            .clone()
    };
    let wp = rule("whitepaper");
    assert_eq!((wp.matched, wp.counted), (2, 1));
    assert_eq!(wp.events[1].skipped, Some(Skip::OncePer));
    let pricing = rule("pricing-page");
    assert_eq!((pricing.matched, pricing.counted), (3, 2));
    assert_eq!(pricing.events[1].skipped, Some(Skip::Cooldown));
    assert!(s.engagement > 0.0);
    assert_eq!(
        s.engagement,
        why.engagement.iter().map(|r| r.points).sum::<f64>()
    );
}

#[test]
fn caps_limit_a_rule_and_a_shared_group() {
    let m = model();
    let mut events = Vec::new();
    for i in 0..10 {
        events.push(event(
            "Whitepaper Downloaded",
            "2026-10-01T09:00:00Z",
            json!({"asset_id": format!("wp-{i}")}),
        ));
        events.push(event(
            "page",
            &format!("2026-09-{:02}T09:00:00Z", 10 + i),
            json!({"path": "/pricing"}),
        ));
    }
    let activity = Activity::from_events(&m, &events);
    let lead = vp();
    let (_, why) = m.explain(
        Profile {
            lead: &lead,
            account: None,
        },
        &activity,
        t("2026-10-01T09:00:00Z"),
    );
    let wp = why
        .engagement
        .iter()
        .find(|r| r.rule == "whitepaper")
        .unwrap();
    assert_eq!(wp.raw_points, 100.0);
    assert_eq!(wp.points, 30.0, "the shared content cap");
    assert_eq!(wp.capped_by.as_deref(), Some("content"));
    let pricing = why
        .engagement
        .iter()
        .find(|r| r.rule == "pricing-page")
        .unwrap();
    assert_eq!(pricing.points, 45.0);
    assert_eq!(pricing.capped_by.as_deref(), Some("max_points"));
}

#[test]
fn disqualifiers_and_min_fit_grade_block_mql() {
    let m = model();
    let events: Vec<Event> = (0..3)
        .map(|i| {
            event(
                "Demo Requested",
                &format!("2026-09-{:02}T00:00:00Z", 1 + 8 * i),
                json!({}),
            )
        })
        .collect();
    let activity = Activity::from_events(&m, &events);
    let student =
        attrs(json!({"email": "kim@gmail.com", "seniority": "student", "title": "Student"}));
    let s = m.score(
        Profile {
            lead: &student,
            account: None,
        },
        &activity,
        t("2026-09-20"),
    );
    assert_eq!(s.qualification, Qualification::Disqualified);
    assert_eq!(s.disqualified[0].reason, "student");
    assert_eq!(s.to_mql.blocked_by, ["student"]);

    // Engaged but a poor fit: high score, grade D, not an MQL; says how much fit is missing.
    let nobody = attrs(json!({"email": "pat@gmail.com"}));
    let s = m.score(
        Profile {
            lead: &nobody,
            account: None,
        },
        &activity,
        t("2026-09-20"),
    );
    assert!(s.engagement >= 100.0, "{}", s.engagement);
    assert_eq!(s.qualification, Qualification::Lead);
    assert_eq!(s.to_mql.fit_points, Some(30.0 - (-15.0)));
}

#[test]
fn missing_attributes_never_match_and_never_fail() {
    let m = model();
    let empty = Attributes::new();
    let s = m.score(
        Profile {
            lead: &empty,
            account: None,
        },
        &Activity::new(),
        t("2026-10-01"),
    );
    assert_eq!((s.fit, s.engagement), (0.0, 0.0));
    assert_eq!(s.qualification, Qualification::Lead);
    // Wrong types (employees as text) do not match either.
    let odd = attrs(json!({"seniority": 7, "email": false, "title": ["x"]}));
    let account = attrs(json!({"employees": "800", "industry": null}));
    let s = m.score(
        Profile {
            lead: &odd,
            account: Some(&account),
        },
        &Activity::new(),
        t("2026-10-01"),
    );
    assert_eq!(s.fit, 0.0);
}

#[test]
fn score_groups_qualify_on_their_own_threshold() {
    let m = model();
    let events: Vec<Event> = (0..5)
        .map(|i| {
            event(
                "page",
                &format!("2026-09-{:02}T00:00:00Z", 20 + i),
                json!({"path": "/product/sso"}),
            )
        })
        .collect();
    let activity = Activity::from_events(&m, &events);
    let lead = attrs(json!({"seniority": "director", "email": "a@b.com"}));
    let account = attrs(json!({"employees": 900}));
    let s = m.score(
        Profile {
            lead: &lead,
            account: Some(&account),
        },
        &activity,
        t("2026-09-25"),
    );
    let group = &s.groups[0];
    assert_eq!(group.id, "enterprise-edition");
    assert!(group.qualified, "{s:?}");
    assert_eq!(s.qualification, Qualification::Mql);
    assert_eq!(s.qualified_by, ["enterprise-edition"]);
}

#[test]
fn accounts_roll_up_their_leads() {
    let m = model();
    let s = m.score_account(&acme(), &[10.0, 50.0, 40.0, 30.0]);
    assert_eq!(s.fit, 30.0 + 20.0 + 10.0);
    assert_eq!(s.engagement, 120.0, "top 3");
    assert!(s.qualified);
    assert_eq!(s.rules.len(), 3);
}

#[test]
fn bant_completeness_weights_partial_credit() {
    let m = model();
    let lead = attrs(
        json!({"bant_budget": "Approved", "bant_authority": "influencer", "bant_need": "critical"}),
    );
    let b = m.bant_status(&lead).unwrap();
    // (1 + 0.5 + 2 × 1 + 0) / 5
    assert!((b.completeness - 0.7).abs() < 1e-9);
    assert!(!b.meets_sql);
    assert_eq!(b.criteria[3].value, None);
}

#[test]
fn any_event_rules_with_once_per_on_the_context() {
    let m = model();
    let from = |campaign: &str, name: &str, at: &str| {
        let json = json!({"type": "track", "event": name, "userId": "u", "timestamp": at,
            "context": {"campaign": {"source": "partner", "name": campaign}}});
        let message = sluice_core::Message::parse(&json.to_string()).unwrap();
        message.to_event(message.event_time(None).unwrap()).unwrap()
    };
    let events = [
        from("acme-partners", "Anything", "2026-10-01T09:00:00Z"),
        from("acme-partners", "Something Else", "2026-10-01T10:00:00Z"),
        from("globex-resellers", "Anything", "2026-10-01T11:00:00Z"),
    ];
    let activity = Activity::from_events(&m, &events);
    let lead = vp();
    let (_, why) = m.explain(
        Profile {
            lead: &lead,
            account: None,
        },
        &activity,
        t("2026-10-01T11:00:00Z"),
    );
    let partner = why
        .engagement
        .iter()
        .find(|r| r.rule == "partner-referred")
        .unwrap();
    assert_eq!(
        (partner.matched, partner.counted),
        (3, 2),
        "once per partner campaign"
    );
}

#[test]
fn diff_reads_like_a_changelog() {
    let old = model();
    let text = include_str!("../../../examples/model.toml")
        .replace("half_life = \"30d\"", "half_life = \"14d\"");
    let new = Model::from_toml(&text, "new.toml").unwrap();
    let changes = sluice_core::model::diff::diff(&old, &new);
    let summaries: Vec<&str> = changes.iter().map(|c| c.summary.as_str()).collect();
    // Rules that inherit the half-life do not each repeat the change.
    assert_eq!(summaries, ["Engagement half-life 30d → 14d."]);
}

#[test]
fn diff_covers_the_hand_off_and_prints_numbers_as_written() {
    let base = include_str!("../../../examples/model.toml");
    let old = model();
    let new = base
        .replacen("points = 25", "points = 13.200000000000001", 1)
        .replace(
            "within = \"4h\"\nwarn_before = \"1h\"",
            "within = \"2m\"\nwarn_before = \"1m\"",
        )
        .replace("team = \"ae\"", "team = \"enterprise-ae\"")
        .replace("\"bad_timing\"]", "\"bad_timing\", \"spam\"]")
        + "\n[[handoff.routing]]\nid = \"emea\"\nwhen = \"lead.region == 'emea'\"\nteam = \"sdr-emea\"\n\
           \n[probability]\nof = \"won\"\nintercept = -4.0\nper_point = 0.04\n";
    let new = Model::from_toml(&new, "new.toml").unwrap();
    let all: Vec<String> = sluice_core::model::diff::diff(&old, &new)
        .into_iter()
        .map(|c| c.summary)
        .collect();
    let all = all.join("\n");
    assert!(all.contains("25 → 13.2."), "{all}");
    assert!(
        all.contains("SLA `first-touch-4h`: within 4h → 2m."),
        "{all}"
    );
    assert!(
        all.contains("Routing rule `enterprise-to-ae`: team ae → enterprise-ae."),
        "{all}"
    );
    assert!(all.contains("Added routing rule `emea`"), "{all}");
    assert!(all.contains("spam"), "{all}");
    assert!(all.contains("Added probability `won`"), "{all}");
    assert!(!all.contains("000000"), "{all}");

    // The glossary is part of the contract: a reworded definition is a change.
    let reworded = base.replace(
        "sql = \"Sales-qualified lead: the rep has captured BANT",
        "sql = \"Sales-qualified lead: the account executive has captured BANT",
    );
    let reworded = Model::from_toml(&reworded, "new.toml").unwrap();
    let changes = sluice_core::model::diff::diff(&old, &reworded);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].section.as_str(), changes[0].id.as_str()),
        ("glossary term", "sql")
    );
    assert!(
        changes[0].summary.contains("account executive"),
        "{changes:?}"
    );
}

#[test]
fn a_calibrated_model_gives_a_probability() {
    let source = include_str!("../../../examples/model.toml").to_string()
        + "\n[probability]\nof = \"opportunity\"\nintercept = -4.0\nper_point = 0.04\n";
    let m = Model::from_toml(&source, "model.toml").unwrap();
    let (lead, account) = (vp(), acme());
    let profile = Profile {
        lead: &lead,
        account: Some(&account),
    };
    // Fit 70, no engagement: log-odds -4 + 0.04 * 70 = -1.2.
    let s = m.score(profile, &Activity::new(), t("2026-10-01"));
    assert_eq!(s.probability, Some(0.231));
    assert_eq!(
        serde_json::to_value(&s).unwrap()["probability"],
        json!(0.231)
    );
    // Without a calibration there is no probability, and none in the JSON.
    let s = model().score(profile, &Activity::new(), t("2026-10-01"));
    assert_eq!(s.probability, None);
    assert!(
        serde_json::to_value(&s)
            .unwrap()
            .get("probability")
            .is_none()
    );
    let bad = include_str!("../../../examples/model.toml").to_string()
        + "\n[probability]\nof = \"\"\nintercept = -4.0\nper_point = 0\n";
    let e = Model::from_toml(&bad, "m.toml").unwrap_err().to_string();
    assert!(e.contains("probability.of: say what"), "{e}");
    assert!(
        e.contains("probability.per_point must be a number above 0"),
        "{e}"
    );
}
