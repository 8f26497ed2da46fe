//! Learning on synthetic leads with a planted signal: tables, models, validation, the leakage
//! guard and the suggested points model (compiled and scored by `sluice-core`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use sluice_core::{Activity, Model, Profile, Timestamp};
use sluice_learn::learn::SuggestSettings;
use sluice_learn::suggest::{FileInfo, PointsModel};
use sluice_learn::table::{ExcludedBecause, csv_number, is_missing};
use sluice_learn::{
    Dataset, LearnError, Missing, ModelKind, RawTable, Report, Roles, Settings, learn,
};

const HEADERS: [&str; 8] = [
    "Lead Id",
    "Visits",
    "Source",
    "Noise",
    "Country",
    "Region \"Code\"",
    "Created",
    "Won",
];

/// Leads whose conversion depends on `Visits`, `Source` and `Region "Code"`: log-odds
/// -1.5 + 0.15 visits + (Referral +1.5, Ads 0, Cold -1.5) + 1 for the region with quotes.
/// `Country` is often `Select`; the regions are awkward text (quotes, a backslash, a leading
/// zero, a number).
fn leads(n: usize, seed: u64) -> Vec<Vec<String>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let visits = rng.random_range(0..20u32);
            let (source, effect) = match rng.random_range(0..10u32) {
                0..=2 => ("Referral", 1.5),
                3..=6 => ("Ads", 0.0),
                _ => ("Cold", -1.5),
            };
            let region =
                ["O'Brien \"North\"", "back\\slash", "007", "15"][rng.random_range(0..4usize)];
            let bonus = if region.starts_with('O') { 1.0 } else { 0.0 };
            let log_odds = -1.5 + 0.15 * f64::from(visits) + effect + bonus;
            let won = rng.random::<f64>() < 1.0 / (1.0 + (-log_odds).exp());
            let noise = ["x", "y", "z"][rng.random_range(0..3usize)];
            let country = ["India", "Select", "", "Qatar"][rng.random_range(0..4usize)];
            let day = 1 + i % 28;
            let month = 1 + (i * 12 / n);
            vec![
                format!("lead-{i}"),
                if i % 50 == 0 {
                    String::new()
                } else {
                    visits.to_string()
                },
                source.to_string(),
                noise.to_string(),
                country.to_string(),
                region.to_string(),
                format!("2025-{month:02}-{day:02}"),
                if won { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect()
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> RawTable {
    let mut raw = RawTable::new(headers.iter().map(|h| h.to_string()).collect());
    for (i, row) in rows.iter().enumerate() {
        raw.push(i as u64 + 2, row.iter().map(String::as_str))
            .unwrap();
    }
    raw
}

fn roles(label: &str) -> Roles {
    Roles {
        label: label.into(),
        time_column: Some("Created".into()),
        missing: Missing::with(&["Select".into()]),
        ..Roles::default()
    }
}

fn dataset(rows: &[Vec<String>]) -> Dataset {
    Dataset::build(table(&HEADERS, rows), &roles("Won")).unwrap()
}

/// Small and quick: fewer rounds than the default.
fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.gbm.max_rounds = 150;
    settings
}

fn model(report: &Report, kind: ModelKind) -> &sluice_learn::learn::ModelReport {
    report.models.iter().find(|m| m.model == kind).unwrap()
}

#[test]
fn columns_are_typed_and_identifiers_left_out() {
    let data = dataset(&leads(300, 1));
    let kinds: Vec<(&str, &str)> = data
        .features
        .iter()
        .map(|f| (f.name.as_str(), f.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Visits", "numeric"),
            ("Source", "categorical"),
            ("Noise", "categorical"),
            ("Country", "categorical"),
            ("Region \"Code\"", "categorical"),
        ]
    );
    let excluded: Vec<(&str, ExcludedBecause)> = data
        .excluded
        .iter()
        .map(|e| (e.column.as_str(), e.reason))
        .collect();
    assert_eq!(
        excluded,
        [
            ("Lead Id", ExcludedBecause::UniqueText),
            ("Created", ExcludedBecause::TimeColumn),
            ("Won", ExcludedBecause::Label),
        ]
    );
    let country = &data.features[3];
    assert!(
        country.missing > 100,
        "`Select` and empty cells are missing"
    );
    assert!(is_missing(" N/A ") && is_missing("") && is_missing("#n/a") && !is_missing("n/a me"));
    assert!(
        !is_missing("Select"),
        "a form's placeholder only when named"
    );
    let select = data
        .missing_markers
        .iter()
        .find(|m| m.marker == "Select")
        .expect("the blanked cells are counted");
    assert!(select.cells > 0);
    assert_eq!(csv_number("007"), None);
}

#[test]
fn bad_input_is_named_precisely() {
    let mut rows = leads(20, 2);
    rows[6][7] = "maybe".into();
    let error = Dataset::build(table(&HEADERS, &rows), &roles("Won")).unwrap_err();
    assert!(
        matches!(error, LearnError::BadLabel { line: 8, .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "label `Won`: `maybe` is not 0/1, yes/no, true/false or won/lost (name the outcome's values with --positive, and --negative to leave the others out)"
    );

    let rows = leads(20, 2);
    let unknown = Roles {
        exclude: vec!["Visits".into(), "Colour".into()],
        ..roles("Won")
    };
    let error = Dataset::build(table(&HEADERS, &rows), &unknown).unwrap_err();
    assert_eq!(
        error.to_string(),
        "--exclude: no column `Colour` (columns: Lead Id, Visits, Source, Noise, Country, Region \"Code\", Created, Won)"
    );
    let error = Dataset::build(table(&HEADERS, &rows), &roles("Converted")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("--label: no column `Converted`")
    );

    let mut rows = leads(20, 2);
    rows[3][6] = "last tuesday".into();
    let error = Dataset::build(table(&HEADERS, &rows), &roles("Won")).unwrap_err();
    assert!(
        matches!(error, LearnError::BadTime { line: 5, .. }),
        "{error}"
    );

    let mut raw = RawTable::new(vec!["a".into(), "b".into()]);
    let error = raw.push(9, ["1"]).unwrap_err();
    assert_eq!(
        (error.line(), error.to_string().as_str()),
        (Some(9), "1 fields, but the header has 2")
    );
    assert!(raw.is_empty());

    let few: Vec<Vec<String>> = leads(200, 3)
        .into_iter()
        .enumerate()
        .map(|(i, mut row)| {
            row[7] = if i < 3 { "yes" } else { "no" }.into();
            row
        })
        .collect();
    let error = learn(&dataset(&few), &settings()).unwrap_err();
    assert!(
        matches!(error, LearnError::TooFewRows { positives: 3, .. }),
        "{error}"
    );
}

#[test]
fn the_planted_signal_is_recovered_and_explained() {
    let data = dataset(&leads(2000, 4));
    let report = learn(&data, &settings()).unwrap();
    for m in &report.models {
        assert!(m.roc_auc.mean > 0.75, "{}: {:?}", m.title, m.roc_auc);
        assert_eq!(m.roc_auc.folds.len(), 5);
        assert!(m.brier.mean < 0.22, "{}: {:?}", m.title, m.brier);
        let ts = m.time_split.expect("a time column gives a time split");
        assert!(ts.roc_auc > 0.7, "{}: {ts:?}", m.title);
    }
    let logistic = model(&report, ModelKind::Logistic);
    assert!(
        logistic.roc_auc.mean > model(&report, ModelKind::NaiveBayes).roc_auc.mean - 0.02,
        "the true model is linear in the log-odds"
    );
    assert!(report.best.is_some());
    let lift = &logistic.lift;
    assert!(lift[0].rate > lift[9].rate + 0.3, "{lift:?}");
    let time = report.validation.time_split.as_ref().unwrap();
    assert_eq!((time.train_rows, time.test_rows), (1600, 400));

    // Naive Bayes' explanation has the planted signs.
    let source = report
        .factors
        .naive_bayes
        .iter()
        .find(|a| a.column == "Source")
        .unwrap();
    let llr = |value: &str| source.values.iter().find(|v| v.value == value).unwrap().llr;
    assert!(llr("Referral") > 0.5 && llr("Cold") < -0.5, "{source:?}");
    // So do the logistic regression's coefficients.
    let coefficient = |column: &str, value: &str| {
        report
            .factors
            .logistic
            .iter()
            .find(|c| c.column == column && c.value == value)
            .unwrap()
            .coefficient
    };
    assert!(coefficient("Source", "Referral") > coefficient("Source", "Cold") + 2.0);
    // Visits counts through its slope and its ranges: both go up.
    let visits: Vec<&sluice_learn::learn::Coefficient> = report
        .factors
        .logistic
        .iter()
        .filter(|c| c.column == "Visits")
        .collect();
    let range = |prefix: &str| {
        visits
            .iter()
            .find(|c| c.value.starts_with(prefix))
            .unwrap()
            .coefficient
    };
    assert!(
        coefficient("Visits", "(per standard deviation)") > 0.0,
        "{visits:?}"
    );
    assert!(range(">= ") > range("< "), "{visits:?}");
    let nb_visits = report
        .factors
        .naive_bayes
        .iter()
        .find(|a| a.column == "Visits")
        .unwrap();
    let (low, high) = (
        nb_visits
            .values
            .iter()
            .find(|v| v.value.starts_with("< "))
            .unwrap(),
        nb_visits
            .values
            .iter()
            .find(|v| v.value.starts_with(">= "))
            .unwrap(),
    );
    assert!(low.llr < 0.0 && high.llr > 0.0, "{nb_visits:?}");

    // Noise is no signal, and nothing leaks.
    let noise = report
        .leakage
        .columns
        .iter()
        .find(|c| c.column == "Noise")
        .unwrap();
    assert!((noise.roc_auc - 0.5).abs() < 0.06, "{noise:?}");
    assert!(report.leakage.warnings.is_empty());
}

#[test]
fn a_column_that_knows_the_outcome_is_flagged() {
    let mut headers = HEADERS.to_vec();
    headers.push("Stage");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let rows: Vec<Vec<String>> = leads(1500, 5)
        .into_iter()
        .map(|mut row| {
            let won = row[7] == "yes";
            let flip = rng.random::<f64>() < 0.02;
            row.push(if won != flip { "Closed Won" } else { "Nurture" }.into());
            row
        })
        .collect();
    let data = Dataset::build(table(&headers, &rows), &roles("Won")).unwrap();
    let mut settings = settings();
    settings.models = vec![ModelKind::NaiveBayes];
    let report = learn(&data, &settings).unwrap();
    let warnings = &report.leakage.warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].column, "Stage");
    assert!(warnings[0].roc_auc > 0.95);
    assert!(
        warnings[0].message.contains("--exclude \"Stage\""),
        "{}",
        warnings[0].message
    );

    // A stricter threshold flags nothing; excluding the column removes it.
    settings.leakage_threshold = 0.99;
    assert!(learn(&data, &settings).unwrap().leakage.warnings.is_empty());
    let excluded = Roles {
        exclude: vec!["Stage".into()],
        ..roles("Won")
    };
    let data = Dataset::build(table(&headers, &rows), &excluded).unwrap();
    settings.leakage_threshold = 0.95;
    assert!(learn(&data, &settings).unwrap().leakage.warnings.is_empty());
}

#[test]
fn a_column_filled_in_only_after_contact_is_flagged_where_it_has_a_value() {
    // Sales writes a status for half the leads, and it tells the outcome; the other half is
    // empty. Over all rows it ranks far from perfectly; where it has a value, perfectly.
    let mut headers = HEADERS.to_vec();
    headers.push("Sales Status");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let rows: Vec<Vec<String>> = leads(1500, 9)
        .into_iter()
        .map(|mut row| {
            let status = match (rng.random::<f64>() < 0.5, row[7] == "yes") {
                (false, _) => "",
                (true, true) => "Enrolled",
                (true, false) => "Not interested",
            };
            row.push(status.into());
            row
        })
        .collect();
    let data = Dataset::build(table(&headers, &rows), &roles("Won")).unwrap();
    let mut settings = settings();
    settings.models = vec![ModelKind::NaiveBayes];
    let report = learn(&data, &settings).unwrap();
    let column = report
        .leakage
        .columns
        .iter()
        .find(|c| c.column == "Sales Status")
        .unwrap();
    assert!(column.roc_auc < 0.95, "{column:?}");
    assert!(column.roc_auc_where_present.unwrap() > 0.99, "{column:?}");
    assert!((column.coverage - 0.5).abs() < 0.05, "{column:?}");
    let warnings = &report.leakage.warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains("where it has a value"),
        "{}",
        warnings[0].message
    );
}

#[test]
fn reports_are_deterministic_for_a_seed_whatever_the_threads() {
    let data = dataset(&leads(600, 6));
    let one = |threads: usize, seed: u64| {
        let mut settings = settings();
        settings.threads = threads;
        settings.seed = seed;
        serde_json::to_string(&learn(&data, &settings).unwrap()).unwrap()
    };
    let first = one(1, 7);
    assert_eq!(first, one(2, 7));
    assert_ne!(first, one(1, 8));
}

/// A row's attributes as `sluice score` types a CSV row: empty cells absent, numbers (no
/// leading zeros) and booleans typed, the rest text.
fn attributes(headers: &[&str], row: &[String]) -> Map<String, Value> {
    headers
        .iter()
        .zip(row)
        .filter(|(_, cell)| !cell.trim().is_empty())
        .map(|(header, cell)| {
            let cell = cell.trim();
            let value = if cell.eq_ignore_ascii_case("true") || cell.eq_ignore_ascii_case("false") {
                Value::Bool(cell.eq_ignore_ascii_case("true"))
            } else if let Some(f) = csv_number(cell) {
                cell.parse::<i64>().map_or(Value::from(f), Value::from)
            } else {
                Value::String(cell.to_string())
            };
            (header.to_string(), value)
        })
        .collect()
}

#[test]
fn the_suggested_model_compiles_and_scores_what_the_learner_computed() {
    let rows = leads(1500, 7);
    let data = dataset(&rows);
    let all: Vec<usize> = (0..data.len()).collect();
    let points = PointsModel::fit(&data, &all, 8, 10, &mut sluice_learn::split::rng(7, 1));
    let as_of = Timestamp::parse("2026-01-01").unwrap();
    // Once with a threshold above the offset, once below it (which needs a baseline rule).
    for cut in [points.offset() + 7.0, points.offset() - 12.5] {
        let file = points.to_toml(
            &data,
            &FileInfo {
                name: "learned-won",
                source: "leads.csv",
                cut,
                precision: 0.5,
                recall: 0.5,
                share: 0.5,
                roc_auc: 0.8,
                validation: "Out of fold",
                threshold: "the score that maximises F1 on the out-of-fold scores",
            },
        );
        let model = Model::from_toml(&file.text, "suggested.toml")
            .unwrap_or_else(|e| panic!("{}\n{}", e.0[0], file.text));
        assert_eq!(model.fit().rules.len(), file.rules);
        assert_eq!(model.thresholds().mql, file.mql as f64);
        let (native, interpreted) = model.condition_counts();
        assert_eq!(
            (native, interpreted),
            (file.rules, 0),
            "conditions compile natively"
        );
        for (r, row) in rows.iter().enumerate() {
            let lead = attributes(&HEADERS, row);
            let score = model.score(
                Profile {
                    lead: &lead,
                    account: None,
                },
                &Activity::default(),
                as_of,
            );
            assert_eq!(
                score.fit,
                (points.score(&data, r) + file.baseline) as f64,
                "row {r}: {row:?}\n{}",
                file.text
            );
        }
        if cut < points.offset() {
            assert!(file.baseline > 0 && file.text.contains("id = \"baseline\""));
            assert_eq!(file.mql, 1);
        } else {
            assert_eq!((file.baseline, file.mql), (0, 7));
        }
    }
    // The awkward column and values are quoted for CEL inside TOML.
    let file = points.to_toml(
        &data,
        &FileInfo {
            name: "n",
            source: "s",
            cut: points.offset() + 1.0,
            precision: 0.0,
            recall: 0.0,
            share: 0.0,
            roc_auc: 0.5,
            validation: "v",
            threshold: "t",
        },
    );
    for condition in [
        r#"when = "lead.Source == 'Referral'""#,
        r#"when = "lead['Region \"Code\"'] == 'O\\'Brien \"North\"'""#,
    ] {
        assert!(file.text.contains(condition), "{condition}\n{}", file.text);
    }
    assert!(file.text.contains("lead.Visits >= "), "{}", file.text);
}

#[test]
fn learn_writes_a_valid_suggestion() {
    let data = dataset(&leads(1500, 8));
    let mut settings = settings();
    settings.models = vec![ModelKind::Logistic];
    settings.suggest = Some(SuggestSettings {
        name: "learned-won".into(),
        source: "leads.csv".into(),
    });
    let report = learn(&data, &settings).unwrap();
    let suggestion = report.suggestion.unwrap();
    let model = Model::from_toml(&suggestion.text, "s.toml").unwrap();
    assert_eq!(model.name(), "learned-won");
    assert!(suggestion.roc_auc > 0.75, "{}", suggestion.roc_auc);
    assert!(suggestion.roc_auc <= model_auc(&report_logistic(&data)) + 0.03);
    assert!(suggestion.share > 0.05 && suggestion.share < 0.95);
    assert!(
        suggestion
            .text
            .contains("maximises F1 on the out-of-fold scores")
    );
}

fn report_logistic(data: &Dataset) -> Report {
    let mut settings = settings();
    settings.models = vec![ModelKind::Logistic];
    learn(data, &settings).unwrap()
}

fn model_auc(report: &Report) -> f64 {
    report.models[0].roc_auc.mean
}

#[test]
fn trees_find_an_interaction_a_linear_model_cannot() {
    // Converted exactly when `a` and `b` differ (10 % noise): no single column tells.
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let rows: Vec<Vec<String>> = (0..1000)
        .map(|_| {
            let (a, b) = (rng.random::<bool>(), rng.random::<bool>());
            let won = (a != b) != (rng.random::<f64>() < 0.1);
            let visits = rng.random_range(0..10u32);
            vec![
                if a { "on" } else { "off" }.to_string(),
                if b { "red" } else { "blue" }.to_string(),
                visits.to_string(),
                u8::from(won).to_string(),
            ]
        })
        .collect();
    let headers = ["a", "b", "visits", "won"];
    let roles = Roles {
        label: "won".into(),
        ..Roles::default()
    };
    let data = Dataset::build(table(&headers, &rows), &roles).unwrap();
    let mut settings = settings();
    settings.models = vec![ModelKind::Logistic, ModelKind::Gbm];
    let report = learn(&data, &settings).unwrap();
    let (logistic, trees) = (
        model(&report, ModelKind::Logistic).roc_auc.mean,
        model(&report, ModelKind::Gbm).roc_auc.mean,
    );
    assert!(logistic < 0.6, "{logistic}");
    assert!(trees > 0.85, "{trees}");
    assert_eq!(report.best, Some(ModelKind::Gbm));
    assert!(
        report.factors.gbm[2].share < 0.2,
        "{:?}",
        report.factors.gbm
    );
}
