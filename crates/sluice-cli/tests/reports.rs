//! `sluice report funnel` and `sluice report attribution` on a generated company, imported the
//! way a user imports it, checked against independent counts over the generated files and
//! against the signal planted in `truth.json`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .env_remove("SLUICE_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sluice(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).expect("JSON output")
}

/// Per `lead_source`, counted straight from `leads.csv` and `outcomes.csv`.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    leads: u64,
    opportunities: u64,
    won: u64,
    lost: u64,
    pipeline: f64,
    bookings: f64,
}

fn expected_by_source(dir: &Path) -> BTreeMap<String, Expected> {
    let mut source_of = HashMap::new();
    let mut by_source: BTreeMap<String, Expected> = BTreeMap::new();
    let mut leads = csv::Reader::from_path(dir.join("leads.csv")).unwrap();
    let header = leads.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (id, source) = (column("id"), column("lead_source"));
    for row in leads.records() {
        let row = row.unwrap();
        source_of.insert(row[id].to_string(), row[source].to_string());
        by_source.entry(row[source].to_string()).or_default().leads += 1;
    }
    let mut outcomes = csv::Reader::from_path(dir.join("outcomes.csv")).unwrap();
    let header = outcomes.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (lead, kind, amount) = (column("lead_id"), column("type"), column("amount"));
    let mut kinds: HashMap<String, BTreeSet<String>> = HashMap::new();
    for row in outcomes.records() {
        let row = row.unwrap();
        let e = by_source.get_mut(&source_of[&row[lead]]).unwrap();
        let amount: f64 = row[amount].parse().unwrap_or(0.0);
        match &row[kind] {
            "opportunity" => e.pipeline += amount,
            "won" => e.bookings += amount,
            _ => {}
        }
        kinds
            .entry(row[lead].to_string())
            .or_default()
            .insert(row[kind].to_string());
    }
    for (lead, kinds) in kinds {
        let e = by_source.get_mut(&source_of[&lead]).unwrap();
        // Any outcome means an opportunity (a win or loss closes one).
        e.opportunities += 1;
        if kinds.contains("won") {
            e.won += 1;
        } else if kinds.contains("lost") {
            e.lost += 1;
        }
    }
    by_source
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-6)
}

/// The median of the positions (in the ranking) of `names`.
fn median_rank(rows: &[&Value], names: &BTreeSet<String>) -> f64 {
    let mut ranks: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| names.contains(r["name"].as_str().unwrap()))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ranks.len(), names.len(), "every one is ranked: {names:?}");
    ranks.sort_unstable();
    let n = ranks.len();
    if n % 2 == 1 {
        ranks[n / 2] as f64
    } else {
        (ranks[n / 2 - 1] + ranks[n / 2]) as f64 / 2.0
    }
}

#[test]
fn reports_on_a_generated_company_match_its_files_and_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let company = root.join("company");
    ok(
        root,
        &[
            "generate",
            "--leads",
            "1000",
            "--seed",
            "42",
            "--end",
            "2026-10-01",
            "--out",
            company.to_str().unwrap(),
        ],
    );
    let db = format!("sqlite://{}", root.join("sluice.db").display());
    for (kind, file) in [
        ("leads", "leads.csv"),
        ("events", "events.jsonl"),
        ("outcomes", "outcomes.csv"),
    ] {
        let path = company.join(file);
        ok(root, &["import", kind, path.to_str().unwrap(), "--db", &db]);
    }
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(company.join("truth.json")).unwrap())
            .unwrap();

    // The funnel: per source, what the files say.
    let funnel = json(root, &["report", "funnel", "--db", &db, "--format", "json"]);
    let report = &funnel["report"];
    let total = &report["total"];
    assert_eq!(total["reached"]["lead"], truth["realised"]["leads"]);
    assert_eq!(
        total["reached"]["opportunity"],
        truth["realised"]["opportunities"]
    );
    assert_eq!(total["reached"]["won"], truth["realised"]["won"]);
    assert_eq!(total["lost"], truth["realised"]["lost"]);
    let expected = expected_by_source(&company);
    let rows = report["by_source"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for (source, e) in &expected {
        let row = rows
            .iter()
            .find(|r| r["key"] == source.as_str())
            .unwrap_or_else(|| panic!("no row for {source}"));
        assert_eq!(row["reached"]["lead"], e.leads, "{source}");
        assert_eq!(row["reached"]["opportunity"], e.opportunities, "{source}");
        assert_eq!(row["reached"]["won"], e.won, "{source}");
        assert_eq!(row["lost"], e.lost, "{source}");
        assert!(close(&row["pipeline"], e.pipeline), "{source}: {row}");
        assert!(close(&row["bookings"], e.bookings), "{source}: {row}");
    }
    let pipeline: f64 = expected.values().map(|e| e.pipeline).sum();
    assert!(close(&total["pipeline"], pipeline));
    // Events carry UTM campaigns: first-touch sources are known for most leads.
    let none = report["by_utm_source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"].is_null())
        .map_or(0, |r| r["reached"]["lead"].as_u64().unwrap());
    assert!(none < 500, "{none} leads without a first touch");
    let monthly = json(
        root,
        &[
            "report", "funnel", "--db", &db, "--by", "month", "--format", "json",
        ],
    );
    assert_eq!(monthly["by"], "month");
    let table = ok(root, &["report", "funnel", "--db", &db]);
    assert!(table.starts_with("Funnel, all leads"), "{table}");
    assert!(table.contains("by lead_source"), "{table}");

    // Attribution: each event's leads and opportunities are the truth's (every opportunity is
    // dated after the behaviour that caused it, so the cut-off keeps all of it).
    let attribution = json(
        root,
        &["report", "attribution", "--db", &db, "--format", "json"],
    );
    let report = &attribution["report"];
    assert_eq!(report["leads"], 1000);
    let rows = report["rows"].as_array().unwrap();
    let events: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "event").collect();
    let mut roles: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for feature in truth["features"].as_array().unwrap() {
        if feature["kind"] != "event" || feature["value"]["min_count"] != 1 {
            continue;
        }
        let name = feature["field"].as_str().unwrap();
        let row = events
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row for the event {name}"));
        assert_eq!(row["leads"], feature["leads"], "{name}");
        assert_eq!(row["opportunities"], feature["opportunities"], "{name}");
        roles
            .entry(feature["role"].as_str().unwrap())
            .or_default()
            .insert(name.to_string());
    }
    // The planted signal: drivers rank above traps.
    let (drivers, traps) = (&roles["driver"], &roles["trap"]);
    assert!(drivers.len() >= 3 && traps.len() >= 2, "{roles:?}");
    let (d, t) = (median_rank(&events, drivers), median_rank(&events, traps));
    assert!(d < t, "drivers' median rank {d}, traps' {t}");
    let lift = |kind: &str, name: &str| {
        rows.iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))["opportunity_lift"]["value"]
            .as_f64()
            .unwrap()
    };
    // Page drivers (pricing, docs) above the careers trap, through the model's rules.
    assert!(lift("engagement_rule", "pricing-page") > lift("engagement_rule", "careers-page"));
    assert!(lift("engagement_rule", "docs-page") > lift("engagement_rule", "careers-page"));
    assert!(lift("engagement_rule", "demo-request") > 2.0);
    // Attribute values agree with the funnel's sources.
    let webinar = rows
        .iter()
        .find(|r| r["feature"] == "lead_source = webinar")
        .unwrap();
    assert_eq!(webinar["leads"], expected["webinar"].leads);
    assert!(
        report["skipped_attributes"]
            .as_array()
            .unwrap()
            .contains(&Value::from("email")),
        "{}",
        report["skipped_attributes"]
    );
    let table = ok(root, &["report", "attribution", "--db", &db, "--top", "5"]);
    assert!(table.starts_with("Attribution, all leads"), "{table}");
    assert!(table.contains("demo-request"), "{table}");

    // A bad option is a one-line error.
    for args in [
        &["report", "funnel", "--db", &db, "--by", "year"][..],
        &["report", "funnel", "--db", &db, "--from", "last week"][..],
        &["report", "attribution", "--db", &db, "--min-leads", "0"][..],
    ] {
        let out = sluice(root, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}
