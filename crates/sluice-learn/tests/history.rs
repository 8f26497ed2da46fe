//! Learning from the history: the window and cut-off of each lead, the features built from
//! its events, the planted signal recovered, and a suggested model whose engagement rules,
//! scored by `sluice-core`, give each lead the points the learner computed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use sluice_core::{Activity, Attributes, Event, HalfLife, MessageKind, Model, Profile, Span};
use sluice_core::{Qualification, Timestamp};
use sluice_learn::history::{
    self, Action, HistorySettings, Label, LeadHistory, Outcome, OutcomeKind, Touch,
};
use sluice_learn::learn::SuggestSettings;
use sluice_learn::suggest::{FileInfo, PointsModel};
use sluice_learn::table::{Source, Values};
use sluice_learn::{Dataset, ModelKind, Settings, learn};

const DAY: i64 = 86_400_000;

fn t0() -> Timestamp {
    Timestamp::parse("2026-01-01").unwrap()
}

fn at(days: f64) -> Timestamp {
    Timestamp::from_millis(t0().millis() + (days * DAY as f64) as i64)
}

fn attributes(value: Value) -> Attributes {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The value of column `name` in the row of lead `lead`.
fn cell(history: &history::History, lead: usize, name: &str) -> Option<f64> {
    let row = history.rows.iter().position(|w| w.lead == lead)?;
    let feature = history.data.features.iter().find(|f| f.name == name)?;
    match &feature.values {
        Values::Numeric { values, .. } => Some(values[row]),
        Values::Categorical { levels, codes } => {
            levels.get(codes[row] as usize).and_then(|l| l.parse().ok())
        }
    }
}

#[test]
fn each_lead_is_read_over_its_window_and_never_after_its_outcome() {
    let actions = [
        Action::Event("Demo Requested".into()),
        Action::Page("/pricing".into()),
    ];
    let (demo, pricing) = (0, 1);
    let touch = |days: f64, action: u32| Touch {
        at: at(days),
        action,
    };
    let opportunity = |days: f64| Outcome {
        at: at(days),
        kind: OutcomeKind::Opportunity,
    };
    let lead =
        |id: &str, created: Option<f64>, touches: Vec<Touch>, outcomes: Vec<Outcome>| LeadHistory {
            id: id.into(),
            attributes: attributes(
                json!({"seniority": if id == "converted" { "vp" } else { "staff" }}),
            ),
            created: created.map(at),
            touches,
            outcomes,
            ..LeadHistory::default()
        };
    let mut converted = lead(
        "converted",
        Some(0.0),
        vec![touch(1.0, demo), touch(20.0, demo)],
        vec![opportunity(10.0)],
    );
    // A trait sent before the opportunity counts; one sent after it (the CRM marking the
    // lead a customer) does not.
    converted.traits = vec![
        (at(2.0), attributes(json!({"title": "CTO"}))),
        (at(11.0), attributes(json!({"stage": "customer"}))),
    ];
    let leads = vec![
        converted,
        lead(
            "browsed",
            Some(0.0),
            vec![touch(5.0, pricing), touch(30.0, demo), touch(100.0, demo)],
            vec![],
        ),
        // Created ten days before the end of the data: its outcome is not known yet.
        lead("recent", Some(290.0), vec![touch(291.0, demo)], vec![]),
        // An opportunity, but after the 90-day window: a negative within the horizon.
        lead(
            "slow",
            Some(0.0),
            vec![touch(3.0, pricing)],
            vec![opportunity(120.0)],
        ),
        // No creation time: its first event starts its window.
        lead("anonymous", None, vec![touch(40.0, pricing)], vec![]),
        lead("ghost", None, vec![], vec![]),
    ];
    let settings = HistorySettings {
        end: Some(at(300.0)),
        min_leads: 1,
        ..HistorySettings::default()
    };
    let history = history::build(&leads, &actions, &settings).unwrap();
    let summary = &history.summary;
    assert_eq!((summary.leads, summary.rows, summary.positives), (6, 4, 1));
    assert_eq!(
        (
            summary.left_out.undecided,
            summary.left_out.no_time,
            summary.left_out.open
        ),
        (1, 1, 0)
    );
    assert_eq!(summary.opportunities_after_horizon, 1);
    let lead_rows: Vec<usize> = history.rows.iter().map(|w| w.lead).collect();
    assert_eq!(lead_rows, [0, 1, 3, 4]);
    assert_eq!(history.data.label, [true, false, false, false]);

    // The converted lead is read at its opportunity: the demo after it is not counted.
    assert_eq!(history.rows[0].cut_off, at(10.0));
    assert_eq!(cell(&history, 0, "Demo Requested (count)"), Some(1.0));
    let decayed = cell(&history, 0, "Demo Requested (decayed 30d)").unwrap();
    assert!((decayed - 2f64.powf(-9.0 / 30.0)).abs() < 1e-3, "{decayed}");
    // The others just after their last event in the window: the demo on day 100 is outside.
    assert_eq!(
        history.rows[1].cut_off,
        Timestamp::from_millis(at(30.0).millis() + 1)
    );
    assert_eq!(history.rows[1].window_end, at(90.0));
    assert_eq!(cell(&history, 1, "Demo Requested (count)"), Some(1.0));
    let pricing_decayed = cell(&history, 1, "page /pricing (decayed 30d)").unwrap();
    assert!(
        (pricing_decayed - 2f64.powf(-25.0 / 30.0)).abs() < 1e-3,
        "{pricing_decayed}"
    );
    assert_eq!(cell(&history, 3, "page /pricing (count)"), Some(1.0));
    assert_eq!(summary.touches_used, 5);
    assert_eq!(summary.touches_after_cut_off, 2);

    let title = history
        .data
        .features
        .iter()
        .find(|f| f.name == "title")
        .map(|f| f.missing);
    assert_eq!(title, None, "one value only: a constant column");
    assert!(
        history.data.features.iter().all(|f| f.name != "stage"),
        "a trait sent after the outcome is not learned from"
    );
    let sources: Vec<(&str, &Source)> = history
        .data
        .features
        .iter()
        .map(|f| (f.name.as_str(), &f.source))
        .collect();
    assert!(sources.contains(&(
        "Demo Requested (count)",
        &Source::Engagement {
            action: Action::Event("Demo Requested".into()),
            measure: history::Measure::Count
        }
    )));

    // Without a horizon, a lead is watched up to the end of the data; with `won`, an open
    // opportunity is not known yet.
    let mut won = leads.clone();
    won[3].outcomes.push(Outcome {
        at: at(200.0),
        kind: OutcomeKind::Won,
    });
    let history = history::build(
        &won,
        &actions,
        &HistorySettings {
            label: Label::Won,
            horizon: None,
            ..settings.clone()
        },
    )
    .unwrap();
    assert_eq!(
        (
            history.summary.rows,
            history.summary.positives,
            history.summary.left_out.open
        ),
        (4, 1, 1)
    );
    assert_eq!(history.summary.horizon, "none");
    let slow = history.rows.iter().position(|w| w.lead == 3).unwrap();
    assert!(history.data.label[slow]);
    assert_eq!(history.rows[slow].cut_off, at(120.0));
}

/// A synthetic company: the outcome follows a logistic model of seniority, the account's
/// industry, and whether the lead requested a demo (+2), read pricing pages (+1) or careers
/// pages (-1.5) in its first 60 days; blog pages and email opens mean nothing. Returns the
/// histories, each lead's events, and the actions.
fn company(n: usize, seed: u64) -> (Vec<LeadHistory>, Vec<Vec<Event>>, Vec<Action>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kinds = [
        (MessageKind::Track, "Demo Requested", "", 0.12, 2.0),
        (MessageKind::Track, "Email Opened", "", 0.6, 0.0),
        (MessageKind::Page, "page", "/pricing/teams", 0.3, 1.0),
        (MessageKind::Page, "page", "/careers", 0.15, -1.5),
        (MessageKind::Page, "page", "/blog/how-to", 0.5, 0.0),
    ];
    let actions: Vec<Action> = kinds
        .iter()
        .map(|(kind, name, path, _, _)| match kind {
            MessageKind::Page => Action::Page(history::page_section(path).unwrap()),
            _ => Action::Event((*name).into()),
        })
        .collect();
    let mut leads = Vec::new();
    let mut all_events = Vec::new();
    for i in 0..n {
        let created: f64 = rng.random_range(0.0..200.0);
        let (seniority, s_effect) =
            [("executive", 1.0), ("staff", 0.0), ("student", -2.0)][rng.random_range(0..3usize)];
        let account = (rng.random::<f64>() < 0.8).then(|| {
            let (industry, effect) = [("Software", 0.8), ("Retail", 0.0), ("Education", -1.0)]
                [rng.random_range(0..3usize)];
            (
                attributes(json!({"industry": industry, "employees": rng.random_range(10..5000)})),
                effect,
            )
        });
        let mut log_odds: f64 = -3.0 + s_effect + account.as_ref().map_or(-0.5, |a| a.1);
        let mut events = Vec::new();
        let mut touches = Vec::new();
        let mut last_feature = created;
        for (a, (kind, name, path, p, effect)) in kinds.iter().enumerate() {
            if rng.random::<f64>() >= *p {
                continue;
            }
            log_odds += effect;
            for _ in 0..rng.random_range(1..4) {
                let day = created + rng.random_range(0.0..60.0);
                last_feature = last_feature.max(day);
                let mut properties = Map::new();
                if !path.is_empty() {
                    properties.insert("path".into(), json!(path));
                }
                events.push(Event {
                    kind: *kind,
                    name: (*name).into(),
                    timestamp: at(day),
                    properties,
                    context: Map::new(),
                });
                touches.push(Touch {
                    at: at(day),
                    action: a as u32,
                });
            }
        }
        let converted = rng.random::<f64>() < 1.0 / (1.0 + (-log_odds).exp());
        let outcomes = if converted {
            vec![Outcome {
                at: at(last_feature + 1.0),
                kind: OutcomeKind::Opportunity,
            }]
        } else {
            Vec::new()
        };
        leads.push(LeadHistory {
            id: format!("lead-{i}"),
            attributes: attributes(json!({"seniority": seniority, "email": format!("p{i}@x.com")})),
            account: account.map(|a| a.0),
            created: Some(at(created)),
            touches,
            outcomes,
            ..LeadHistory::default()
        });
        all_events.push(events);
    }
    (leads, all_events, actions)
}

fn settings() -> HistorySettings {
    HistorySettings {
        end: Some(at(320.0)),
        ..HistorySettings::default()
    }
}

#[test]
fn the_planted_actions_and_attributes_are_recovered() {
    let (leads, _, actions) = company(4000, 11);
    let history = history::build(&leads, &actions, &settings()).unwrap();
    assert_eq!(history.summary.rows, 4000);
    let learn_settings = Settings {
        models: vec![ModelKind::NaiveBayes, ModelKind::Logistic],
        suggest: Some(SuggestSettings {
            name: "learned-opportunity".into(),
            source: "the history".into(),
        }),
        ..Settings::default()
    };
    let report = learn(&history.data, &learn_settings).unwrap();
    let suggestion = report.suggestion.as_ref().unwrap();
    let model = Model::from_toml(&suggestion.text, "learned.toml").unwrap();
    assert_eq!(model.engagement().rules.len(), suggestion.engagement_rules);
    assert!(suggestion.roc_auc > 0.75, "{}", suggestion.roc_auc);
    let logistic = &report.models[1];
    assert!(logistic.roc_auc.mean > 0.75, "{:?}", logistic.roc_auc);
    assert!(report.validation.time_split.is_some());

    let ranked = &report.factors.ranked;
    let weight = |feature: &str| {
        ranked
            .iter()
            .find(|f| f.feature == feature)
            .unwrap_or_else(|| panic!("{feature}: {ranked:#?}"))
            .weight
    };
    assert_eq!(ranked[0].feature, "Demo Requested", "{ranked:#?}");
    assert_eq!(ranked[0].kind, "event");
    assert!(weight("Demo Requested") > 1.4);
    assert!(weight("page /pricing") > 0.6);
    assert!(weight("page /careers") < -0.9);
    for noise in ["page /blog", "Email Opened"] {
        assert!(weight(noise).abs() < 0.35, "{noise}: {}", weight(noise));
    }
    assert!(weight("seniority = executive") > weight("seniority = staff") + 0.5);
    assert!(weight("seniority = student") < weight("seniority = staff") - 0.8);
    assert!(weight("account.industry = Software") > weight("account.industry = Education") + 1.0);
    let careers = ranked
        .iter()
        .find(|f| f.feature == "page /careers")
        .unwrap();
    assert!(careers.llr < -0.5 && careers.points < -5, "{careers:?}");
    assert_eq!(careers.kind, "page");
}

#[test]
fn the_suggested_engagement_rules_score_what_the_learner_computed() {
    let (leads, events, actions) = company(2500, 12);
    let history = history::build(&leads, &actions, &settings()).unwrap();
    let data: &Dataset = &history.data;
    let all: Vec<usize> = (0..data.len()).collect();
    let points = PointsModel::fit(data, &all, 8, 10, &mut sluice_learn::split::rng(7, 1));
    let file = points.to_toml(
        data,
        &FileInfo {
            name: "learned-opportunity",
            source: "leads.csv, events.jsonl and outcomes.csv",
            cut: points.offset() + 15.0,
            precision: 0.5,
            recall: 0.5,
            share: 0.1,
            roc_auc: 0.8,
            validation: "Out of fold",
            threshold: "the score that maximises F1 on the out-of-fold scores",
        },
    );
    let model = Model::from_toml(&file.text, "learned.toml")
        .unwrap_or_else(|e| panic!("{}\n{}", e.0[0], file.text));
    assert_eq!(model.fit().rules.len(), file.rules);
    assert!(file.engagement_rules >= 3, "{}", file.text);
    assert_eq!(model.thresholds().mql, file.mql as f64);
    for expected in [
        "[engagement]\nhalf_life = \"30d\"",
        "event = \"Demo Requested\"",
        "when = \"event.properties.path == '/pricing' || event.properties.path.startsWith('/pricing/')\"",
        "when = \"account.industry == 'Software'\"",
        "when = \"lead.seniority == 'executive'\"",
    ] {
        assert!(file.text.contains(expected), "{expected}\n{}", file.text);
    }
    let (_, interpreted) = model.condition_counts();
    assert_eq!(interpreted, 0, "conditions compile natively");

    let (mut mqls, mut engaged) = (0, 0);
    for (r, watched) in history.rows.iter().enumerate() {
        let lead = &leads[watched.lead];
        let attributes = lead.attributes_at(watched.window_end);
        let activity = Activity::from_events(&model, &events[watched.lead]);
        let as_of = Timestamp::from_millis(watched.cut_off.millis() - 1);
        let profile = Profile {
            lead: &attributes,
            account: lead.account.as_ref(),
        };
        let score = model.score(profile, &activity, as_of);
        assert_eq!(
            score.fit,
            (points.score(data, r) + file.baseline) as f64,
            "row {r}"
        );
        // Decayed counts are kept to three decimals.
        let learned = points.engagement_score(data, r);
        assert!(
            (score.engagement - learned).abs() < 0.05,
            "row {r}: engine {} learner {learned}",
            score.engagement
        );
        mqls += usize::from(score.qualification == Qualification::Mql);
        engaged += usize::from(score.engagement.abs() > 0.0);
    }
    assert!(mqls > 0 && engaged > data.len() / 2, "{mqls} {engaged}");
}

#[test]
fn half_lives_and_sections_read_like_the_model_language() {
    let settings = HistorySettings {
        half_life: HalfLife::parse("never").unwrap(),
        horizon: Some(Span::days(30)),
        ..settings()
    };
    let (leads, _, actions) = company(300, 13);
    let history = history::build(&leads, &actions, &settings).unwrap();
    assert_eq!(history.summary.half_life, "never");
    assert_eq!(history.summary.horizon, "30d");
    let names: Vec<&str> = history
        .summary
        .actions
        .iter()
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Demo Requested",
            "Email Opened",
            "page /blog",
            "page /careers",
            "page /pricing"
        ]
    );
    // Without decay the decayed count is the count.
    let count = history
        .data
        .features
        .iter()
        .find(|f| f.name == "page /blog (count)")
        .unwrap();
    let decayed = history
        .data
        .features
        .iter()
        .find(|f| f.name == "page /blog (decayed never)")
        .unwrap();
    match (&count.values, &decayed.values) {
        (Values::Numeric { values: a, .. }, Values::Numeric { values: b, .. }) => {
            assert_eq!(a, b)
        }
        _ => panic!("engagement columns are numbers"),
    }
    let email = history.data.excluded.iter().find(|e| e.column == "email");
    assert!(email.is_some(), "identifiers are left out");
}
