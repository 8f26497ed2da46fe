//! The hand-off policy: compiled from the model file, routing, SLA clocks and the report,
//! all with a fixed clock.

use serde_json::json;
use sluice_core::business_time::WorkingHours;
use sluice_core::handoff::{
    BreachAction, RecycleReset, RepLoad, RouteRequest, SlaCase, SlaState, SlaStep, Touch,
    sla_report,
};
use sluice_core::{Attributes, Model, Span, Timestamp};

const BASE: &str = r#"
[model]
name = "t"
version = "1"
[thresholds]
mql = 10
[[fit.rules]]
id = "any"
when = "true"
points = 10
"#;

fn model(handoff: &str) -> Model {
    Model::from_toml(&format!("{BASE}{handoff}"), "m.toml").unwrap()
}

fn errors(handoff: &str) -> String {
    Model::from_toml(&format!("{BASE}{handoff}"), "m.toml")
        .unwrap_err()
        .to_string()
}

fn attrs(value: serde_json::Value) -> Attributes {
    value.as_object().unwrap().clone()
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn rep<'a>(id: &'a str, team: &'a str, capacity: u32, today: u32) -> RepLoad<'a> {
    RepLoad {
        id,
        team,
        capacity,
        assigned_today: today,
        available: true,
        last_assigned: None,
    }
}

const POLICY: &str = r#"
[handoff]
default_team = "sdr"
reject_reasons = ["not_a_fit", "student"]
recycle_reset = "none"
[[handoff.routing]]
id = "big"
when = "account.employees > 5000"
team = "ae"
[[handoff.routing]]
id = "germany"
when = "lead.country == 'DE'"
team = "sdr-dach"
[[handoff.sla]]
id = "touch"
step = "first_touch"
within = "4h"
warn_before = "1h"
on_breach = "reassign"
"#;

#[test]
fn a_model_without_a_handoff_section_gets_the_defaults() {
    let m = model("");
    let h = m.handoff();
    assert_eq!(h.default_team, None);
    assert!(h.account_owner);
    assert!(h.reject_reasons.iter().any(|r| r == "not_a_fit"));
    assert_eq!(h.recycle_reset, RecycleReset::Engagement);
    assert!(h.slas.is_empty());
}

#[test]
fn the_policy_compiles() {
    let m = model(POLICY);
    let h = m.handoff();
    assert_eq!(h.default_team.as_deref(), Some("sdr"));
    assert_eq!(h.reject_reasons, ["not_a_fit", "student"]);
    assert_eq!(h.recycle_reset, RecycleReset::None);
    let sla = h.sla(SlaStep::FirstTouch).unwrap();
    assert_eq!(sla.within, Span::parse("4h").unwrap());
    assert_eq!(sla.on_breach, BreachAction::Reassign);
    assert!(h.sla(SlaStep::Decide).is_none());
}

#[test]
fn bad_policies_are_located() {
    let e = errors(
        r#"
[handoff]
recycle_reset = "everything"
[[handoff.routing]]
id = "r"
when = "lead.country =="
team = "x"
[[handoff.sla]]
id = "s"
step = "first_call"
within = "4h"
[[handoff.sla]]
id = "t"
step = "decide"
within = "2h"
warn_before = "3h"
on_breach = "shout"
"#,
    );
    assert!(
        e.contains("m.toml:13:17: handoff.recycle_reset `everything`"),
        "{e}"
    );
    assert!(e.contains("m.toml:16:24: rule `r`: `when`"), "{e}");
    assert!(
        e.contains("rule `s`: unknown step `first_call` (one of first_touch, decide, qualify)"),
        "{e}"
    );
    assert!(
        e.contains("rule `t`: warn_before `3h` must be shorter than within `2h`"),
        "{e}"
    );
    assert!(
        e.contains("rule `t`: on_breach `shout` must be \"notify\" or \"reassign\""),
        "{e}"
    );
    let e = errors("[handoff]\nreject_reasons = []\n");
    assert!(e.contains("list at least one reason"), "{e}");
    let e = errors(
        "[[handoff.sla]]\nid = \"a\"\nstep = \"decide\"\nwithin = \"1h\"\n[[handoff.sla]]\nid = \"b\"\nstep = \"decide\"\nwithin = \"2h\"\n",
    );
    assert!(e.contains("step `decide` already has an SLA (`a`)"), "{e}");
}

#[test]
fn routing_follows_the_rules_then_the_default_team() {
    let m = model(POLICY);
    let reps = [
        rep("ann", "ae", 5, 0),
        rep("dieter", "sdr-dach", 5, 0),
        rep("sam", "sdr", 5, 0),
    ];
    let big = attrs(json!({"employees": 10000}));
    let de = attrs(json!({"country": "DE"}));
    let us = attrs(json!({"country": "US"}));
    let route = |lead: &Attributes, account: Option<&Attributes>| {
        m.handoff().route(
            RouteRequest {
                lead: Some(lead),
                account,
                ..Default::default()
            },
            &reps,
        )
    };
    let a = route(&de, Some(&big));
    assert_eq!((a.rep.as_deref(), a.rule.as_str()), (Some("ann"), "big"));
    let a = route(&de, None);
    assert_eq!(
        (a.rep.as_deref(), a.rule.as_str()),
        (Some("dieter"), "germany")
    );
    let a = route(&us, None);
    assert_eq!(
        (a.rep.as_deref(), a.rule.as_str()),
        (Some("sam"), "default_team")
    );
    assert!(a.why.contains("default team `sdr`"), "{}", a.why);
}

#[test]
fn round_robin_is_weighted_by_capacity_and_skips_the_away_and_the_full() {
    let m = model(POLICY);
    let us = attrs(json!({"country": "US"}));
    let mut loads = [
        ("a", 10u32, 0u32, true),
        ("b", 5, 0, true),
        ("c", 5, 0, false),
        ("d", 1, 1, true),
    ];
    let mut given = std::collections::BTreeMap::new();
    for _ in 0..15 {
        let reps: Vec<RepLoad> = loads
            .iter()
            .map(|&(id, cap, today, available)| RepLoad {
                available,
                ..rep(id, "sdr", cap, today)
            })
            .collect();
        let a = m.handoff().route(
            RouteRequest {
                lead: Some(&us),
                ..Default::default()
            },
            &reps,
        );
        let who = a.rep.clone().expect("someone has room");
        assert!(a.why.contains("c (away)"), "{}", a.why);
        assert!(a.why.contains("d (at capacity, 1/1)"), "{}", a.why);
        *given.entry(who.clone()).or_insert(0) += 1;
        loads.iter_mut().find(|l| l.0 == who).unwrap().2 += 1;
    }
    // Capacity 10 and 5: two leads to `a` for every one to `b`, until both are full.
    assert_eq!(given.get("a"), Some(&10));
    assert_eq!(given.get("b"), Some(&5));
    let reps: Vec<RepLoad> = loads
        .iter()
        .map(|&(id, cap, today, available)| RepLoad {
            available,
            ..rep(id, "sdr", cap, today)
        })
        .collect();
    let a = m.handoff().route(
        RouteRequest {
            lead: Some(&us),
            ..Default::default()
        },
        &reps,
    );
    assert_eq!(a.rep, None);
    assert_eq!(a.team.as_deref(), Some("sdr"));
    assert!(
        a.why.contains("no rep of team `sdr` can take it"),
        "{}",
        a.why
    );
}

#[test]
fn the_account_owner_comes_first_unless_away_or_excluded() {
    let m = model(POLICY);
    let us = attrs(json!({"country": "US"}));
    let mut reps = vec![rep("owner", "ae", 1, 1), rep("sam", "sdr", 5, 0)];
    let request = RouteRequest {
        lead: Some(&us),
        account_owner: Some(("acme", "owner")),
        ..Default::default()
    };
    // The owner gets the account's leads even when their new-lead capacity is used up.
    let a = m.handoff().route(request, &reps);
    assert_eq!(
        (a.rep.as_deref(), a.rule.as_str()),
        (Some("owner"), "account_owner")
    );
    assert_eq!(a.why, "account `acme` is owned by `owner`");
    reps[0].available = false;
    assert_eq!(
        m.handoff().route(request, &reps).rep.as_deref(),
        Some("sam")
    );
    reps[0].available = true;
    let excluded = RouteRequest {
        exclude: Some("owner"),
        team: Some("sdr"),
        ..request
    };
    let a = m.handoff().route(excluded, &reps);
    assert_eq!(
        (a.rep.as_deref(), a.rule.as_str()),
        (Some("sam"), "reassign")
    );
}

#[test]
fn sla_clocks_run_in_business_time() {
    let m = model(POLICY);
    let sla = m.handoff().sla(SlaStep::FirstTouch).unwrap();
    let berlin =
        WorkingHours::parse("Europe/Berlin", &["Mon-Fri 09:00-17:00"], &["2026-12-25"]).unwrap();
    // Assigned Thursday 24 December at 15:00 Berlin (14:00 UTC): two hours that day, Friday is
    // a holiday, the weekend is closed, so the deadline is Monday 11:00 Berlin.
    let clock = sla.clock(&berlin, at("2026-12-24T14:00:00Z"));
    assert_eq!(clock.due, at("2026-12-28T10:00:00Z"));
    assert_eq!(clock.warn_at, Some(at("2026-12-28T09:00:00Z")));
    assert_eq!(
        clock.state(None, at("2026-12-26T12:00:00Z")),
        SlaState::Running
    );
    assert_eq!(
        clock.state(None, at("2026-12-28T09:30:00Z")),
        SlaState::Warning
    );
    assert_eq!(
        clock.state(None, at("2026-12-28T10:00:00Z")),
        SlaState::Breached
    );
    assert_eq!(
        clock.state(Some(at("2026-12-28T09:59:00Z")), at("2027-01-10T00:00:00Z")),
        SlaState::Met
    );
    assert_eq!(
        clock.state(Some(at("2026-12-28T10:01:00Z")), at("2027-01-10T00:00:00Z")),
        SlaState::MetLate
    );
}

#[test]
fn the_report_counts_compliance_contact_rate_and_time_to_first_touch() {
    let m = model(POLICY);
    let sla = m.handoff().sla(SlaStep::FirstTouch).unwrap();
    let utc = WorkingHours::parse("UTC", &["Mon-Sun 00:00-24:00"], &[]).unwrap();
    let start = at("2026-11-02T08:00:00Z");
    let clock = sla.clock(&utc, start);
    let hour = |h: i64| Span::from_millis(h * 3_600_000);
    let case = |lead: &str, rep: &str, done: Option<i64>| SlaCase {
        lead: lead.into(),
        policy: "touch".into(),
        step: SlaStep::FirstTouch,
        team: Some("sdr".into()),
        rep: Some(rep.into()),
        clock,
        done: done.map(|h| start.plus(hour(h))),
        business_elapsed: hour(done.unwrap_or(0)),
    };
    let cases = [
        case("l1", "a", Some(1)),
        case("l2", "a", Some(6)),
        case("l3", "b", None),
        case("l4", "b", Some(2)),
    ];
    let touch = |lead: &str, rep: &str, h: Option<i64>| Touch {
        lead: lead.into(),
        team: Some("sdr".into()),
        rep: Some(rep.into()),
        first_touch_after: h.map(hour),
    };
    let touches = [
        touch("l1", "a", Some(1)),
        touch("l2", "a", Some(6)),
        touch("l3", "b", None),
        touch("l4", "b", Some(2)),
    ];
    let report = sla_report(&cases, &touches, at("2026-11-03T00:00:00Z"));
    let total = &report.total;
    assert_eq!((total.mqls, total.touched), (4, 3));
    assert_eq!(total.contact_rate, Some(0.75));
    assert_eq!(total.first_touch_median_hours, Some(2.0));
    assert_eq!(total.first_touch_p90_hours, Some(6.0));
    let touch = &total.policies["touch"];
    assert_eq!((touch.met, touch.breached, touch.open), (2, 2, 0));
    assert_eq!(touch.compliance, Some(0.5));
    assert_eq!(report.reps["a"].policies["touch"].compliance, Some(0.5));
    assert_eq!(report.reps["b"].contact_rate, Some(0.5));
    assert_eq!(report.teams["sdr"].mqls, 4);
    let breached: Vec<&str> = report.breaches.iter().map(|b| b.lead.as_str()).collect();
    assert_eq!(breached, ["l2", "l3"]);
    assert_eq!(report.breaches[1].done, None);
}
