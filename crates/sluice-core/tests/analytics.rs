//! Funnel analytics and attribution against hand-computed figures.

use serde_json::json;
use sluice_core::analytics::{
    AttributionSettings, Cohort, Feature, FeatureKind, Flag, FunnelRow, Journey, LeadFacts, Lift,
    OutcomeKind, Utm, attribution, funnel, wilson,
};
use sluice_core::{Stage, Timestamp};

/// Monday 2026-11-02 (ISO week 45) plus `days`.
fn day(days: i64) -> Timestamp {
    Timestamp::parse("2026-11-02T00:00:00Z")
        .unwrap()
        .plus(sluice_core::Span::days(days))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[track_caller]
fn assert_close(got: Option<f64>, want: f64) {
    let got = got.expect("a value");
    assert!(close(got, want), "{got} is not {want}");
}

fn utm(source: &str, medium: &str, name: &str) -> Option<Utm> {
    Some(Utm {
        source: Some(source.into()),
        medium: Some(medium.into()),
        name: Some(name.into()),
    })
}

#[test]
fn a_journey_counts_moves_beyond_a_stage_and_outcomes() {
    let mut j = Journey::new(day(0));
    j.moved(Stage::Mql, day(1));
    j.moved(Stage::Sal, day(2));
    // The CRM skipped `sql`: the opportunity implies it.
    j.outcome(OutcomeKind::Opportunity, day(8));
    j.moved(Stage::Opportunity, day(8));
    j.moved(Stage::Won, day(18));
    assert_eq!(j.reached(Stage::Lead), Some(day(0)));
    assert_eq!(j.reached(Stage::Mql), Some(day(1)));
    assert_eq!(j.reached(Stage::Sql), Some(day(8)));
    assert_eq!(j.entered(Stage::Sql), None, "never entered exactly");
    assert_eq!(j.entered(Stage::Opportunity), Some(day(8)));
    assert_eq!(j.cutoff(), Some(day(8)));
    assert!(j.is_won() && !j.is_lost());

    // A loss recorded for a disqualified lead: it reached opportunity, and is lost.
    let mut k = Journey::new(day(0));
    k.moved(Stage::Disqualified, day(1));
    k.outcome(OutcomeKind::Lost, day(5));
    assert_eq!(k.reached(Stage::Mql), Some(day(5)));
    assert_eq!(k.cutoff(), Some(day(5)));
    assert_eq!(k.reached(Stage::Won), None);
    assert!(k.is_lost());
    assert_eq!(k.reached(Stage::Disqualified), None);

    // Side exits reach nothing; earlier moves win over later ones.
    let mut r = Journey::new(day(0));
    r.moved(Stage::Recycled, day(1));
    r.moved(Stage::Mql, day(6));
    r.moved(Stage::Mql, day(3));
    assert_eq!(r.reached(Stage::Mql), Some(day(3)));
    assert_eq!(r.cutoff(), None);
}

#[test]
fn utm_fields_come_from_the_campaign_context() {
    let context = json!({"campaign": {"source": "google", "medium": " cpc ", "name": "", "term": "x"}, "ip": "1.2.3.4"});
    let utm = Utm::from_context(context.as_object().unwrap()).unwrap();
    assert_eq!(utm.source.as_deref(), Some("google"));
    assert_eq!(utm.medium.as_deref(), Some("cpc"));
    assert_eq!(utm.name, None);
    let none = json!({"campaign": {"term": "x"}, "page": {"path": "/"}});
    assert_eq!(Utm::from_context(none.as_object().unwrap()), None);
    assert_eq!(
        Utm::from_context(json!({}).as_object().unwrap()),
        None,
        "no campaign"
    );
}

/// Five leads:
/// - L1 (webinar, first touch google/cpc/brand, A1 by v1): MQL d1, SAL d2, SQL d4, opportunity
///   d8 ($10,000), won d18 ($9,000); contacted.
/// - L2 (webinar, newsletter/email/digest, B2 by v1): MQL d2, SAL d3, opportunity d10 ($5,000)
///   skipping SQL, lost d20; contacted.
/// - L3 (paid_search, google/cpc/brand, A1 by v2): created d1, MQL d9, recycled d10.
/// - L4: created d1, nothing else.
/// - L5 (paid_search): created d2, disqualified d3, yet the CRM reports an opportunity d12
///   ($3,000).
fn five_leads() -> Vec<LeadFacts> {
    let mut l1 = LeadFacts::new(day(0));
    for (stage, d) in [
        (Stage::Mql, 1),
        (Stage::Sal, 2),
        (Stage::Sql, 4),
        (Stage::Opportunity, 8),
        (Stage::Won, 18),
    ] {
        l1.journey.moved(stage, day(d));
    }
    l1.journey.outcome(OutcomeKind::Opportunity, day(8));
    l1.journey.outcome(OutcomeKind::Won, day(18));
    l1.source = Some("webinar".into());
    l1.first_touch = utm("google", "cpc", "brand");
    l1.grade = Some("A1".into());
    l1.model_version = Some("v1".into());
    l1.pipeline = 10_000.0;
    l1.bookings = 9_000.0;
    l1.contacted = true;

    let mut l2 = LeadFacts::new(day(0));
    for (stage, d) in [
        (Stage::Mql, 2),
        (Stage::Sal, 3),
        (Stage::Opportunity, 10),
        (Stage::Lost, 20),
    ] {
        l2.journey.moved(stage, day(d));
    }
    l2.journey.outcome(OutcomeKind::Opportunity, day(10));
    l2.journey.outcome(OutcomeKind::Lost, day(20));
    l2.source = Some("webinar".into());
    l2.first_touch = utm("newsletter", "email", "digest");
    l2.grade = Some("B2".into());
    l2.model_version = Some("v1".into());
    l2.pipeline = 5_000.0;
    l2.contacted = true;

    let mut l3 = LeadFacts::new(day(1));
    l3.journey.moved(Stage::Mql, day(9));
    l3.journey.moved(Stage::Recycled, day(10));
    l3.source = Some("paid_search".into());
    l3.first_touch = utm("google", "cpc", "brand");
    l3.grade = Some("A1".into());
    l3.model_version = Some("v2".into());

    let l4 = LeadFacts::new(day(1));

    let mut l5 = LeadFacts::new(day(2));
    l5.journey.moved(Stage::Disqualified, day(3));
    l5.journey.outcome(OutcomeKind::Opportunity, day(12));
    l5.source = Some("paid_search".into());
    l5.pipeline = 3_000.0;
    vec![l1, l2, l3, l4, l5]
}

fn row<'a>(rows: &'a [FunnelRow], key: Option<&str>) -> &'a FunnelRow {
    rows.iter()
        .find(|r| r.key.as_deref() == key)
        .unwrap_or_else(|| panic!("no row {key:?}"))
}

#[test]
fn the_funnel_counts_reach_conversion_velocity_and_dollars() {
    let report = funnel(&five_leads(), Cohort::Week);
    let t = &report.total;
    assert_eq!(t.key, None);
    let r = t.reached;
    assert_eq!(
        [r.lead, r.mql, r.sal, r.sql, r.opportunity, r.won],
        [5, 4, 3, 3, 3, 1]
    );
    assert_eq!(t.lost, 1);
    assert_close(t.conversion.mql, 0.8);
    assert_close(t.conversion.sal, 0.75);
    assert_close(t.conversion.sql, 1.0);
    assert_close(t.conversion.opportunity, 1.0);
    assert_close(t.conversion.won, 1.0 / 3.0);
    assert_close(t.mql_to_opportunity, 0.75);
    assert_close(t.win_rate, 0.5);
    // Entered both stages, in order: lead→MQL 1, 2 and 8 days (median 2); MQL→SAL 1 and 1;
    // SAL→SQL and SQL→opportunity only L1; opportunity→won L1.
    let v = t.velocity_days;
    assert_eq!(
        [v.mql, v.sal, v.sql, v.opportunity, v.won],
        [Some(2.0), Some(1.0), Some(2.0), Some(4.0), Some(10.0)]
    );
    assert!(close(t.pipeline, 18_000.0) && close(t.bookings, 9_000.0));
    assert_close(t.revenue_per_mql, 2_250.0);
    assert_eq!(t.contacted_mqls, 2);
    assert_close(t.mql_contact_rate, 0.5);

    // By source: the largest first, ties by name, the leads without one last.
    let keys: Vec<Option<&str>> = report.by_source.iter().map(|r| r.key.as_deref()).collect();
    assert_eq!(keys, [Some("paid_search"), Some("webinar"), None]);
    let webinar = row(&report.by_source, Some("webinar"));
    assert_eq!(
        (
            webinar.reached.mql,
            webinar.reached.opportunity,
            webinar.reached.won
        ),
        (2, 2, 1)
    );
    assert_close(webinar.revenue_per_mql, 4_500.0);
    assert_close(webinar.win_rate, 0.5);
    let paid = row(&report.by_source, Some("paid_search"));
    assert_eq!(
        (paid.reached.mql, paid.reached.sal, paid.reached.opportunity),
        (2, 1, 1)
    );
    assert!(close(paid.pipeline, 3_000.0));
    assert_close(paid.revenue_per_mql, 0.0);
    assert_eq!(paid.win_rate, None, "nothing closed");
    assert_eq!(row(&report.by_source, None).reached.mql, 0);

    // Cohorts by the week the lead first reached MQL or beyond (L5: its opportunity, d12).
    let keys: Vec<Option<&str>> = report.by_cohort.iter().map(|r| r.key.as_deref()).collect();
    assert_eq!(keys, [Some("2026-W45"), Some("2026-W46"), None]);
    assert_eq!(
        row(&report.by_cohort, Some("2026-W46")).reached.opportunity,
        1
    );
    let monthly = funnel(&five_leads(), Cohort::Month);
    assert_eq!(row(&monthly.by_cohort, Some("2026-11")).reached.lead, 4);

    // First touch, grade and model version.
    assert_eq!(row(&report.by_utm_source, Some("google")).reached.lead, 2);
    assert_eq!(
        row(&report.by_channel, Some("email")).reached.opportunity,
        1
    );
    assert_eq!(row(&report.by_campaign, Some("brand")).reached.won, 1);
    let a1 = row(&report.by_grade, Some("A1"));
    assert_eq!((a1.reached.mql, a1.reached.won), (2, 1));
    assert_close(a1.mql_to_opportunity, 0.5);
    assert_eq!(row(&report.by_model_version, Some("v2")).reached.sal, 0);
    assert_eq!(row(&report.by_model_version, None).reached.lead, 2);
}

#[test]
fn wilson_intervals_match_the_textbook() {
    let (low, high) = wilson(0, 10).unwrap();
    assert!(close(low, 0.0) && (high - 0.277533).abs() < 1e-6, "{high}");
    let (low, high) = wilson(5, 10).unwrap();
    assert!((low - 0.236593).abs() < 1e-6 && (high - 0.763407).abs() < 1e-6);
    assert_eq!(wilson(0, 0), None);
    let lift = Lift::of(15, 25, Some(0.2)).unwrap();
    assert!(close(lift.value, 3.0));
    assert!((lift.low - 2.036973).abs() < 1e-5 && (lift.high - 3.829835).abs() < 1e-5);
    assert_eq!(Lift::of(1, 2, Some(0.0)), None, "no base rate, no lift");
}

/// 100 leads, the first 20 reached an opportunity (0-4 won, 5-9 lost); every opportunity is
/// $2,000 of pipeline, every win $1,000 of bookings.
fn hundred_leads(features: &[(u32, &[(u32, u32)])]) -> Vec<LeadFacts> {
    (0..100u32)
        .map(|i| {
            let mut lead = LeadFacts::new(day(0));
            if i < 20 {
                lead.journey.outcome(OutcomeKind::Opportunity, day(30));
                lead.pipeline = 2_000.0;
            }
            if i < 5 {
                lead.journey.outcome(OutcomeKind::Won, day(40));
                lead.bookings = 1_000.0;
            } else if i < 10 {
                lead.journey.outcome(OutcomeKind::Lost, day(40));
            }
            for (feature, ranges) in features {
                if ranges.iter().any(|&(from, to)| (from..to).contains(&i)) {
                    lead.features.push(*feature);
                }
            }
            // Every lead has its own email: an attribute with too many values.
            lead.features.push(7 + i);
            lead
        })
        .collect()
}

#[test]
fn attribution_measures_lift_and_flags_points_against_evidence() {
    let mut features = vec![
        Feature::engagement_rule("demo-request", 50.0),
        Feature::engagement_rule("webinar-registered", 15.0),
        Feature::engagement_rule("pricing-page", 5.0),
        Feature::event("Email Opened"),
        Feature::attribute("seniority", "vp"),
        Feature::fit_rule("student", -20.0),
        Feature::event("never sent"),
    ];
    for i in 0..100 {
        features.push(Feature::attribute("email", &format!("u{i}@example.com")));
    }
    let mut leads = hundred_leads(&[
        (0, &[(0, 15), (20, 30)]),  // 25 leads, 15 opportunities: lift 3
        (1, &[(0, 8), (30, 62)]),   // 40 leads, 8: lift 1, yet 15 points
        (2, &[(5, 20), (62, 77)]),  // 30 leads, 15: lift 2.5, only 5 points
        (3, &[(10, 20), (50, 90)]), // 50 leads, 10: lift 1
        (4, &[(95, 100)]),          // 5 leads: below support
        (5, &[(75, 95)]),           // 20 leads, none: no lift, points off (agrees)
    ]);
    // A feature given twice counts once.
    leads[0].features.insert(0, 0);
    let settings = AttributionSettings::default();
    let report = attribution(&features, &leads, &settings);
    assert_eq!(
        (report.leads, report.opportunities, report.won),
        (100, 20, 5)
    );
    assert_close(report.opportunity_rate, 0.2);
    assert_close(report.won_rate, 0.05);
    assert_eq!(report.below_support, 1);
    assert_eq!(report.skipped_attributes, ["email"]);

    let order: Vec<&str> = report.rows.iter().map(|r| r.feature.as_str()).collect();
    assert_eq!(
        order,
        [
            "demo-request",
            "pricing-page",
            "Email Opened",
            "webinar-registered",
            "student"
        ],
        "by lift, ties by leads"
    );
    let demo = &report.rows[0];
    assert_eq!(demo.kind, FeatureKind::EngagementRule);
    assert_eq!((demo.leads, demo.opportunities, demo.won), (25, 15, 5));
    assert!(close(demo.opportunity_rate, 0.6));
    let lift = demo.opportunity_lift.unwrap();
    assert!(close(lift.value, 3.0));
    assert!((lift.low - 2.036973).abs() < 1e-5 && (lift.high - 3.829835).abs() < 1e-5);
    // 5 wins in 25 leads against 5 in 100: a lift of 4 (Wilson 0.088606-0.391310 ÷ 0.05).
    let won = demo.won_lift.unwrap();
    assert!(close(won.value, 4.0));
    assert!((won.low - 1.772116).abs() < 1e-5 && (won.high - 7.826196).abs() < 1e-5);
    assert!(close(demo.pipeline, 30_000.0) && close(demo.bookings, 5_000.0));
    assert!(close(demo.pipeline_per_lead, 1_200.0) && close(demo.bookings_per_lead, 200.0));
    assert_eq!(demo.flag, None, "many points, strong lift: they agree");

    let pricing = &report.rows[1];
    assert!((pricing.opportunity_lift.unwrap().low - 1.657706).abs() < 1e-5);
    assert_eq!(pricing.flag, Some(Flag::LiftWithoutPoints));
    let webinar = &report.rows[3];
    assert!((webinar.opportunity_lift.unwrap().high - 1.737865).abs() < 1e-5);
    assert_eq!(webinar.flag, Some(Flag::PointsWithoutLift));
    assert_eq!(report.rows[2].flag, None, "events carry no points");
    let student = &report.rows[4];
    assert_eq!(
        (student.kind, student.opportunities),
        (FeatureKind::FitRule, 0)
    );
    assert_eq!(student.flag, None, "points off and no lift agree");

    // A lower bar shows the small feature; a higher one hides more.
    let low = attribution(
        &features,
        &leads,
        &AttributionSettings {
            min_leads: 5,
            ..settings
        },
    );
    let vp = low
        .rows
        .iter()
        .find(|r| r.feature == "seniority = vp")
        .expect("shown at 5 leads");
    assert_eq!(
        (vp.name.as_str(), vp.value.as_deref()),
        ("seniority", Some("vp"))
    );
    let high = attribution(
        &features,
        &leads,
        &AttributionSettings {
            min_leads: 30,
            ..settings
        },
    );
    assert_eq!(high.rows.len(), 3);
    assert_eq!(high.below_support, 3);

    // An attribute without a value stands for values its source did not keep: even with few
    // values among these leads, the attribute is left out as having too many.
    features.push(Feature::attribute("company", "Acme"));
    let mut overflow = Feature::attribute("company", "");
    overflow.value = None;
    features.push(overflow);
    let (acme, beyond) = (features.len() as u32 - 2, features.len() as u32 - 1);
    for (i, lead) in leads.iter_mut().enumerate() {
        lead.features.push(if i < 50 { acme } else { beyond });
        lead.features.sort_unstable();
    }
    let report = attribution(&features, &leads, &settings);
    assert_eq!(report.skipped_attributes, ["company", "email"]);
    assert!(report.rows.iter().all(|r| r.name != "company"));
}

#[test]
fn nothing_to_measure_gives_an_empty_report() {
    let report = attribution(&[Feature::event("x")], &[], &AttributionSettings::default());
    assert_eq!((report.leads, report.rows.len()), (0, 0));
    assert_eq!(report.opportunity_rate, None);
    let funnel = funnel(&[], Cohort::Week);
    assert_eq!(funnel.total.reached.lead, 0);
    assert_eq!(funnel.total.conversion.mql, None);
    assert!(funnel.by_source.is_empty());
}
