//! `sluice team`, `sluice rep` and `sluice report sla`, driven the way a user drives them.

use std::process::{Command, Output};

use serde_json::Value;

fn sluice(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_DATABASE_URL", db)
        .output()
        .expect("the binary runs")
}

fn ok(db: &str, args: &[&str]) -> String {
    let out = sluice(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn user_error(db: &str, args: &[&str]) -> String {
    let out = sluice(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{stderr}"
    );
    stderr
}

#[test]
fn teams_reps_and_the_sla_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sluice.db").display());
    let db = db.as_str();

    let e = user_error(db, &["team", "add", "sdr", "--time-zone", "Mars/Base"]);
    assert!(e.contains("--time-zone") && e.contains("Mars/Base"), "{e}");
    ok(
        db,
        &[
            "team",
            "add",
            "sdr",
            "--name",
            "Sales development",
            "--time-zone",
            "Europe/Berlin",
            "--hours",
            "Mon-Fri 09:00-12:30, 13:30-17:00",
            "--holiday",
            "2026-12-25",
            "--manager",
            "boss@example.com",
        ],
    );
    let teams: Value =
        serde_json::from_str(&ok(db, &["team", "list", "--format", "json"])).unwrap();
    assert_eq!(teams[0]["id"], "sdr");
    assert_eq!(teams[0]["holidays"][0], "2026-12-25");

    let e = user_error(
        db,
        &[
            "rep",
            "add",
            "ana",
            "--name",
            "Ana",
            "--email",
            "ana@example.com",
            "--team",
            "ae",
        ],
    );
    assert!(e.contains("--team: no team `ae`"), "{e}");
    let e = user_error(
        db,
        &[
            "rep",
            "add",
            "ana",
            "--name",
            "Ana",
            "--email",
            "ana@example.com",
            "--team",
            "sdr",
            "--capacity",
            "-3",
        ],
    );
    assert!(e.contains("--capacity"), "{e}");
    ok(
        db,
        &[
            "rep",
            "add",
            "ana",
            "--name",
            "Ana",
            "--email",
            "Ana@Example.com",
            "--team",
            "sdr",
            "--capacity",
            "12",
        ],
    );
    ok(
        db,
        &[
            "rep",
            "set",
            "ana@example.com",
            "--away-until",
            "2099-01-01",
        ],
    );
    let reps: Value = serde_json::from_str(&ok(db, &["rep", "list", "--format", "json"])).unwrap();
    assert_eq!(reps[0]["email"], "ana@example.com");
    assert_eq!(reps[0]["capacity"], 12);
    assert!(reps[0]["away_until_ms"].as_i64().is_some());
    assert!(ok(db, &["rep", "list"]).contains("away"));
    let e = user_error(db, &["rep", "set", "nobody", "--capacity", "1"]);
    assert!(e.contains("no rep `nobody`"), "{e}");

    let report: Value =
        serde_json::from_str(&ok(db, &["report", "sla", "--format", "json"])).unwrap();
    assert_eq!(report["report"]["total"]["mqls"], 0, "{report}");
    let e = user_error(db, &["report", "sla", "--from", "last week"]);
    assert!(e.contains("--from"), "{e}");
    assert!(ok(db, &["report", "sla"]).starts_with("SLA report"));
}

/// Every command that saves something prints it for scripts with `--format json`.
#[test]
fn saving_commands_print_json_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sluice.db").display());
    let db = db.as_str();
    let team: Value = serde_json::from_str(&ok(
        db,
        &[
            "team",
            "add",
            "sdr",
            "--time-zone",
            "Europe/Berlin",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(team["id"], "sdr", "{team}");
    assert_eq!(team["time_zone"], "Europe/Berlin", "{team}");
    let rep: Value = serde_json::from_str(&ok(
        db,
        &[
            "rep",
            "add",
            "ana",
            "--name",
            "Ana",
            "--email",
            "ana@example.com",
            "--team",
            "sdr",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(rep["team_id"], "sdr", "{rep}");
    let line = ok(
        db,
        &[
            "rep",
            "set",
            "ana",
            "--away-until",
            "2099-01-01",
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    let rep: Value = serde_json::from_str(&line).unwrap();
    assert!(rep["away_until_ms"].is_number(), "{rep}");
    let rep: Value = serde_json::from_str(&ok(
        db,
        &[
            "rep",
            "set",
            "ana",
            "--away-until",
            "none",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert!(rep["away_until_ms"].is_null(), "{rep}");
    // Without --format, a line for people.
    assert_eq!(ok(db, &["team", "add", "ae"]).trim(), "team `ae` saved");

    let added: Value = serde_json::from_str(&ok(
        db,
        &[
            "user",
            "add",
            "ana@example.com",
            "--role",
            "rep",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(added["user"]["role"], "rep", "{added}");
    assert!(
        added["token"].as_str().is_some_and(|t| t.len() > 20),
        "{added}"
    );
    let link: Value = serde_json::from_str(&ok(
        db,
        &["user", "link", "ana@example.com", "--format", "json"],
    ))
    .unwrap();
    assert!(
        link["link"].as_str().unwrap().contains("/login/link/"),
        "{link}"
    );
}
