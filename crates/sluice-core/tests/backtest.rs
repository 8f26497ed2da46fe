//! Replays of history: the one-walk replay equals asking the engine at every moment, and the
//! metrics add up as computed by hand.

use proptest::prelude::*;
use serde_json::json;
use sluice_core::backtest::{
    LeadHistory, Outcome, OutcomeKind, Period, Replay, SweepPoint, Tally, best_within_capacity,
    first_mql, first_mql_naive, sweep_thresholds,
};
use sluice_core::{Activity, Attributes, Event, MessageKind, Model, Profile, Timestamp};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_780_000_000_000;

fn example() -> Model {
    Model::from_toml(include_str!("../../../examples/model.toml"), "model.toml").unwrap()
}

/// A model whose scores rise between events: a penalty fading faster than the points, and a
/// group whose share grows as the rest of a scaled engagement fades.
fn fading() -> Model {
    let source = r#"
        [model]
        name = "fading"
        version = "1"
        [thresholds]
        mql = 35
        min_engagement_grade = 3
        [grades.fit]
        A = 20
        B = 10
        C = 5
        [grades.engagement]
        1 = 30
        2 = 15
        3 = 5
        [fit]
        max_points = 20
        [[fit.rules]]
        id = "vp"
        when = "lead.seniority == 'vp'"
        points = 10
        groups = ["security"]
        [[fit.rules]]
        id = "director"
        when = "lead.seniority == 'director'"
        points = 5
        [[disqualify]]
        id = "student"
        when = "lead.seniority == 'student'"
        reason = "student"
        [engagement]
        half_life = "30d"
        max_points = 40
        [[caps]]
        id = "content"
        max_points = 15
        [[groups]]
        id = "security"
        mql = 24
        max_points = 40
        [[engagement.rules]]
        id = "demo"
        event = "Demo Requested"
        points = 20
        half_life = "60d"
        cooldown = "1d"
        [[engagement.rules]]
        id = "pricing"
        event = "page"
        when = "event.properties.path.startsWith('/pricing')"
        points = 10
        half_life = "5d"
        [[engagement.rules]]
        id = "security"
        event = "page"
        when = "event.properties.path.startsWith('/product/sso')"
        points = 12
        half_life = "90d"
        groups = ["security"]
        [[engagement.rules]]
        id = "whitepaper"
        event = "Whitepaper Downloaded"
        points = 8
        once_per = "asset_id"
        cap = "content"
        [[engagement.rules]]
        id = "webinar"
        event = "Webinar Attended"
        points = 6
        half_life = "7d"
        cap = "content"
        [[engagement.rules]]
        id = "unsubscribed"
        event = "Unsubscribed"
        points = -25
        half_life = "3d"
        [[engagement.rules]]
        id = "careers"
        event = "page"
        when = "event.properties.path.startsWith('/careers')"
        points = -5
        half_life = "never"
        max_points = 10
    "#;
    Model::from_toml(source, "fading.toml").unwrap()
}

/// A model that qualifies through a group only, whose share of a scaled engagement grows as
/// the other rules' points fade faster than its own.
fn group_shares() -> Model {
    let source = r#"
        [model]
        name = "shares"
        version = "1"
        [thresholds]
        mql = 52
        [fit]
        [[fit.rules]]
        id = "vp"
        when = "lead.seniority == 'vp'"
        points = 10
        groups = ["security"]
        [[fit.rules]]
        id = "director"
        when = "lead.seniority == 'director'"
        points = 5
        groups = ["security"]
        [engagement]
        half_life = "30d"
        max_points = 40
        [[caps]]
        id = "content"
        max_points = 10
        [[groups]]
        id = "security"
        mql = 24
        [[engagement.rules]]
        id = "demo"
        event = "Demo Requested"
        points = 20
        half_life = "60d"
        cooldown = "1d"
        [[engagement.rules]]
        id = "pricing"
        event = "page"
        when = "event.properties.path.startsWith('/pricing')"
        points = 10
        half_life = "5d"
        [[engagement.rules]]
        id = "security"
        event = "page"
        when = "event.properties.path.startsWith('/product/sso')"
        points = 12
        half_life = "90d"
        groups = ["security"]
        [[engagement.rules]]
        id = "whitepaper"
        event = "Whitepaper Downloaded"
        points = 8
        once_per = "asset_id"
        cap = "content"
        groups = ["security"]
        [[engagement.rules]]
        id = "webinar"
        event = "Webinar Attended"
        points = 6
        half_life = "4d"
        cap = "content"
    "#;
    Model::from_toml(source, "shares.toml").unwrap()
}

/// Events of every kind; `browsing` leans to the page views and content the `shares` model
/// scores, otherwise unsubscribes are frequent (fading penalties make scores rise between
/// events).
fn arb_event(browsing: bool) -> impl Strategy<Value = Event> {
    let names = if browsing {
        prop_oneof![
            6 => Just("page"),
            1 => Just("Demo Requested"),
            2 => Just("Whitepaper Downloaded"),
            2 => Just("Webinar Attended"),
        ]
        .boxed()
    } else {
        prop_oneof![
            3 => Just("page"),
            2 => Just("Demo Requested"),
            1 => Just("Whitepaper Downloaded"),
            1 => Just("Webinar Attended"),
            1 => Just("Webinar Registered"),
            1 => Just("Trial Started"),
            1 => Just("Email Clicked"),
            3 => Just("Unsubscribed"),
            1 => Just("Other"),
        ]
        .boxed()
    };
    let paths = if browsing {
        prop_oneof![3 => Just("/pricing"), 2 => Just("/product/sso"), 1 => Just("/")].boxed()
    } else {
        prop_oneof![
            Just("/pricing"),
            Just("/docs/api"),
            Just("/blog/x"),
            Just("/careers"),
            Just("/product/sso"),
            Just("/")
        ]
        .boxed()
    };
    // Minutes over 120 days: events cluster (the same time, the same day) and spread out.
    (names, paths, 0..120 * 1440i64, 0..4u8, 0..3u8).prop_map(|(name, path, minute, id, medium)| {
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
            // Rounded to the hour for half of them, so several land at one time.
            timestamp: Timestamp::from_millis(
                T0 + if minute % 2 == 0 {
                    minute / 60 * 60
                } else {
                    minute
                } * 60_000,
            ),
            properties,
            context,
        }
    })
}

/// Leads of every kind: a strong fit, a medium one, a weak one (below the minimum fit grade),
/// a student (disqualified).
fn people() -> Vec<(Attributes, Option<Attributes>)> {
    let attrs = |v: serde_json::Value| v.as_object().unwrap().clone();
    vec![
        (
            attrs(
                json!({"seniority": "vp", "department": "data", "email": "a@b.io", "title": "VP Data"}),
            ),
            Some(attrs(json!({"employees": 1000, "industry": "Software"}))),
        ),
        (
            attrs(json!({"seniority": "director", "department": "engineering", "email": "d@b.io"})),
            None,
        ),
        (
            attrs(json!({"seniority": "staff", "email": "s@gmail.com"})),
            None,
        ),
        (
            attrs(json!({"seniority": "student", "email": "x@uni.edu"})),
            None,
        ),
    ]
}

/// A lead: who it is first, who it becomes and when, what it did, and the replay's period.
#[derive(Debug, Clone)]
struct Case {
    events: Vec<Event>,
    first: usize,
    changes: Vec<(i64, usize)>,
    from: i64,
    to: i64,
}

fn arb_case(browsing: bool) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(arb_event(browsing), 0..50),
        0..4usize,
        prop::collection::vec((0..120 * DAY, 0..4usize), 0..3),
        -10 * DAY..90 * DAY,
        0..150 * DAY,
    )
        .prop_map(|(events, first, mut changes, from, length)| {
            changes.sort_unstable();
            Case {
                events,
                first,
                changes,
                from: T0 + from,
                to: T0 + from + length,
            }
        })
}

/// Runs `check` with the case's lead history.
fn with_lead<R>(model: &Model, case: &Case, check: impl FnOnce(&LeadHistory<'_>) -> R) -> R {
    let people = people();
    let profile = |i: usize| Profile {
        lead: &people[i].0,
        account: people[i].1.as_ref(),
    };
    let activity = Activity::from_events(model, &case.events);
    let changes: Vec<(Timestamp, Profile<'_>)> = case
        .changes
        .iter()
        .map(|&(at, who)| (Timestamp::from_millis(T0 + at), profile(who)))
        .collect();
    let lead = LeadHistory {
        profile: profile(case.first),
        changes: &changes,
        activity: &activity,
    };
    check(&lead)
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// The one-walk replay and the engine at every moment find the same first MQL.
fn replay_equals_naive(model: &Model, case: &Case) -> Result<(), TestCaseError> {
    let replay = Replay::new(model);
    let (fast, naive) = with_lead(model, case, |lead| {
        (
            replay.first_mql(lead, ts(case.from), ts(case.to)),
            first_mql_naive(model, lead, ts(case.from), ts(case.to)),
        )
    });
    prop_assert_eq!(fast, naive, "model {}", model.name());
    Ok(())
}

/// A sweep finds, for every threshold, what a replay of the model with that threshold finds.
fn sweep_equals_naive(model: &Model, case: &Case, shares: &[u32]) -> Result<(), TestCaseError> {
    let thresholds: Vec<f64> = shares
        .iter()
        .map(|&s| model.thresholds().mql * f64::from(s) / 10.0)
        .collect();
    let replay = Replay::new(model);
    with_lead(model, case, |lead| {
        let swept = replay.first_mqls(lead, ts(case.from), ts(case.to), &thresholds);
        for (&threshold, got) in thresholds.iter().zip(&swept) {
            let variant = model.with_mql_threshold(threshold);
            let naive = first_mql_naive(&variant, lead, ts(case.from), ts(case.to));
            prop_assert_eq!(*got, naive, "model {} at {}", model.name(), threshold);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_replay_equals_scoring_at_every_moment(case in arb_case(false)) {
        replay_equals_naive(&example(), &case)?;
        replay_equals_naive(&fading(), &case)?;
    }

    #[test]
    fn the_replay_equals_scoring_at_every_moment_under_scaling_caps(case in arb_case(true)) {
        replay_equals_naive(&group_shares(), &case)?;
        replay_equals_naive(&example(), &case)?;
    }

    #[test]
    fn a_threshold_sweep_equals_one_replay_per_threshold(
        case in arb_case(false),
        browsing in arb_case(true),
        shares in prop::collection::vec(1..40u32, 1..6),
    ) {
        sweep_equals_naive(&example(), &case, &shares)?;
        sweep_equals_naive(&fading(), &case, &shares)?;
        sweep_equals_naive(&group_shares(), &browsing, &shares)?;
    }
}

fn event(name: &str, at: Timestamp, path: &str) -> Event {
    Event {
        kind: if name == "page" {
            MessageKind::Page
        } else {
            MessageKind::Track
        },
        name: name.to_string(),
        timestamp: at,
        properties: json!({"path": path, "asset_id": "a"})
            .as_object()
            .unwrap()
            .clone(),
        context: Default::default(),
    }
}

#[test]
fn a_lead_qualifies_at_the_event_that_lifts_it_over_the_bar() {
    let model = example();
    let (lead, account) = people().swap_remove(0);
    let profile = Profile {
        lead: &lead,
        account: account.as_ref(),
    };
    let start = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
    let demo = Timestamp::parse("2026-03-10T15:30:00Z").unwrap();
    let events = [
        event(
            "page",
            Timestamp::parse("2026-03-02T10:00:00Z").unwrap(),
            "/blog/x",
        ),
        event("Demo Requested", demo, "/"),
        event(
            "page",
            Timestamp::parse("2026-03-11T10:00:00Z").unwrap(),
            "/pricing",
        ),
    ];
    let activity = Activity::from_events(&model, &events);
    let end = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
    // Fit 75 (A) + a blog visit: below 100 until the demo request's 50 points.
    assert_eq!(
        first_mql(&model, profile, &activity, start, end),
        Some(demo)
    );
    // A replay that starts later finds it qualified at its start.
    let later = Timestamp::parse("2026-03-20T00:00:00Z").unwrap();
    assert_eq!(
        first_mql(&model, profile, &activity, later, end),
        Some(later)
    );
    // Or not at all, once the points have faded.
    let much_later = Timestamp::parse("2026-09-01T00:00:00Z").unwrap();
    assert_eq!(
        first_mql(
            &model,
            profile,
            &activity,
            much_later,
            Timestamp::parse("2026-10-01T00:00:00Z").unwrap()
        ),
        None
    );
}

#[test]
fn a_fading_penalty_qualifies_a_lead_between_events() {
    let model = fading();
    let (lead, account) = people().swap_remove(0);
    let profile = Profile {
        lead: &lead,
        account: account.as_ref(),
    };
    let at = |text: &str| Timestamp::parse(text).unwrap();
    // Fit 10, a demo request (20, half-life 60 days), an unsubscribe (-25, half-life 3 days)
    // and a second demo request: about 25 points, rising as the penalty fades faster than the
    // demos.
    let events = [
        event("Demo Requested", at("2026-03-10T15:30:00Z"), "/"),
        event("Unsubscribed", at("2026-03-11T15:59:00Z"), "/"),
        event("Demo Requested", at("2026-03-11T16:00:00Z"), "/"),
    ];
    let activity = Activity::from_events(&model, &events);
    let lead = LeadHistory::fixed(profile, &activity);
    let (from, to) = (at("2026-03-01T00:00:00Z"), at("2026-05-01T00:00:00Z"));
    let found = Replay::new(&model).first_mql(&lead, from, to);
    assert_eq!(found, first_mql_naive(&model, &lead, from, to));
    let found = found.expect("qualifies once the penalty has faded");
    assert!(found > at("2026-03-11T16:00:00Z"), "{found}");
    assert_eq!(found.millis() % DAY, 0, "at a midnight: {found}");
    let score = model.score(profile, &activity, found);
    assert_eq!(score.qualification, sluice_core::Qualification::Mql);
    let day_before = Timestamp::from_millis(found.millis() - DAY);
    assert_ne!(
        model.score(profile, &activity, day_before).qualification,
        sluice_core::Qualification::Mql
    );
}

#[test]
fn profile_changes_count_from_their_time() {
    let model = example();
    let people = people();
    let weak = Profile {
        lead: &people[2].0,
        account: None,
    };
    let strong = Profile {
        lead: &people[0].0,
        account: people[0].1.as_ref(),
    };
    let at = |text: &str| Timestamp::parse(text).unwrap();
    let events = [
        event("Demo Requested", at("2026-03-10T15:30:00Z"), "/"),
        event("page", at("2026-03-10T15:35:00Z"), "/pricing"),
    ];
    let activity = Activity::from_events(&model, &events);
    let promoted = at("2026-03-20T09:00:00Z");
    let changes = [(promoted, strong)];
    let lead = LeadHistory {
        profile: weak,
        changes: &changes,
        activity: &activity,
    };
    let (from, to) = (at("2026-03-01T00:00:00Z"), at("2026-05-01T00:00:00Z"));
    // Below the minimum fit grade until the new title arrives; an MQL from then on.
    assert_eq!(
        Replay::new(&model).first_mql(&lead, from, to),
        Some(promoted)
    );
    assert_eq!(first_mql_naive(&model, &lead, from, to), Some(promoted));
    assert_eq!(lead.profile_at(from).lead, weak.lead);
    assert_eq!(lead.profile_at(promoted).lead, strong.lead);
}

#[test]
fn metrics_add_up_as_by_hand() {
    let day = |d: i64| Timestamp::from_millis(T0 + d * DAY);
    let period = Period {
        from: day(0),
        to: day(28),
    };
    let outcome = |kind, d, amount| Outcome {
        kind,
        at: day(d),
        amount,
    };
    let mut tally = Tally::new(period);
    // MQL on day 1, opportunity on day 11, won on day 20: captured, 10 days' lead time.
    tally.add(
        Some(day(1)),
        &[
            outcome(OutcomeKind::Opportunity, 11, 1000.0),
            outcome(OutcomeKind::Won, 20, 800.0),
        ],
    );
    // MQL on day 8 after its opportunity on day 5: neither captured nor converted.
    tally.add(Some(day(8)), &[outcome(OutcomeKind::Opportunity, 5, 500.0)]);
    // Never an MQL, won anyway.
    tally.add(
        None,
        &[
            outcome(OutcomeKind::Opportunity, 2, 300.0),
            outcome(OutcomeKind::Won, 9, 300.0),
        ],
    );
    // Qualified before the period: not an MQL of the period, but its opportunity (day 3) is
    // captured, 13 days after the MQL.
    tally.add(
        Some(day(-10)),
        &[outcome(OutcomeKind::Opportunity, 3, 200.0)],
    );
    // An MQL with a loss only; one MQL in the last week.
    tally.add(Some(day(22)), &[outcome(OutcomeKind::Lost, 25, 0.0)]);
    tally.add(Some(day(23)), &[]);
    let m = tally.finish();
    assert_eq!(m.mqls, 4);
    assert_eq!(m.weekly, vec![1, 1, 0, 2, 0]);
    assert_eq!(m.peak_week, 2);
    assert!((m.mqls_per_week - 1.0).abs() < 1e-12);
    assert_eq!((m.opportunities, m.opportunities_captured), (4, 2));
    assert_eq!(m.recall_opportunities, Some(0.5));
    assert_eq!((m.wins, m.wins_captured), (2, 1));
    assert_eq!(m.recall_wins, Some(0.5));
    assert_eq!((m.mqls_to_opportunity, m.mqls_won), (1, 1));
    assert_eq!(m.precision_opportunities, Some(0.25));
    assert_eq!((m.pipeline, m.pipeline_captured), (2000.0, 1200.0));
    assert_eq!((m.revenue, m.revenue_captured), (1100.0, 800.0));
    assert_eq!(m.median_days_to_opportunity, Some(11.5));

    let empty = Tally::new(period).finish();
    assert_eq!(empty.recall_opportunities, None);
    assert_eq!(empty.precision_opportunities, None);
    assert_eq!(empty.median_days_to_opportunity, None);
}

#[test]
fn the_best_threshold_is_the_richest_that_fits() {
    let sweep = sweep_thresholds(80.0);
    assert_eq!(sweep.len(), 30);
    assert_eq!(
        (sweep[0], sweep[9], sweep[10], sweep[29]),
        ((0.1, 8.0), (1.0, 80.0), (1.1, 88.0), (3.0, 240.0))
    );
    let point = |share: f64, per_week: f64, revenue: f64| {
        let mut tally = Tally::new(Period {
            from: Timestamp::from_millis(0),
            to: Timestamp::from_millis(7 * DAY),
        });
        for _ in 0..per_week as usize {
            tally.add(Some(Timestamp::from_millis(DAY)), &[]);
        }
        let mut metrics = tally.finish();
        metrics.revenue_captured = revenue;
        SweepPoint::new(share, share * 100.0, &metrics, Some(10))
    };
    let points = [
        point(0.5, 30.0, 900.0),
        point(1.0, 10.0, 700.0),
        point(1.5, 4.0, 700.0),
        point(2.0, 1.0, 100.0),
    ];
    assert_eq!(points[0].fits, Some(false));
    assert_eq!(points[1].fits, Some(true));
    // 700 within capacity, at the threshold giving more pipeline, then fewer MQLs.
    assert_eq!(best_within_capacity(&points).unwrap().share, 1.5);
    assert!(best_within_capacity(&points[..1]).is_none());
}

#[test]
fn a_score_exactly_at_the_bar_is_decided_by_the_engine() {
    // Points that never fade add up to exactly the threshold: too close for the replay's own
    // arithmetic to call, so the engine decides, as it does when scoring.
    let source = r#"
        [model]
        name = "exact"
        version = "1"
        [thresholds]
        mql = 30
        [[fit.rules]]
        id = "vp"
        when = "lead.seniority == 'vp'"
        points = 10
        [engagement]
        half_life = "never"
        [[engagement.rules]]
        id = "demo"
        event = "Demo Requested"
        points = 20
    "#;
    let model = Model::from_toml(source, "exact.toml").unwrap();
    let (lead, _) = people().swap_remove(0);
    let profile = Profile {
        lead: &lead,
        account: None,
    };
    let demo = Timestamp::parse("2026-03-10T15:30:00Z").unwrap();
    let activity = Activity::from_events(&model, &[event("Demo Requested", demo, "/")]);
    let (from, to) = (
        Timestamp::parse("2026-03-01T00:00:00Z").unwrap(),
        Timestamp::parse("2026-04-01T00:00:00Z").unwrap(),
    );
    assert_eq!(first_mql(&model, profile, &activity, from, to), Some(demo));
    let swept = Replay::new(&model).first_mqls(
        &LeadHistory::fixed(profile, &activity),
        from,
        to,
        &[30.0, 10.0, 30.000001, 5.0],
    );
    assert_eq!(swept, vec![Some(demo), Some(from), None, Some(from)]);
}
