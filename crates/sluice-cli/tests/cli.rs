//! The `sluice` binary, driven the way a user drives it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the binary runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(args: &[&str]) -> String {
    let out = sluice(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Fails with exit code 1 and a one-line error (no panic); returns it.
fn user_error(args: &[&str]) -> String {
    let out = sluice(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
    stderr
}

#[test]
fn model_check_summarises_a_good_model() {
    let out = ok(&["model", "check", "examples/model.toml"]);
    assert!(
        out.starts_with("examples/model.toml: ok: b2b-default 2026.10.1"),
        "{out}"
    );
    assert!(out.contains("compiled natively, 0 interpreted"), "{out}");
    let json: Value = serde_json::from_str(&ok(&[
        "model",
        "check",
        "examples/model.toml",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["thresholds"]["mql"], 100.0);
}

#[test]
fn model_check_locates_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(repo().join("examples/model.toml"))
        .unwrap()
        .replace(
            "lead.seniority == 'director'",
            "lead.seniority = 'director'",
        )
        .replace("half_life = \"60d\"", "half_life = \"60 days\"");
    std::fs::write(&bad, text).unwrap();
    let stderr = user_error(&["model", "check", bad.to_str().unwrap()]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].contains("bad.toml:50:24: rule `director`: `when`:"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("bad.toml:131:13: rule `demo-request`: half_life"),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("error: 2 errors in") && lines[2].ends_with("bad.toml"),
        "{stderr}"
    );

    let out = sluice(&["model", "check", bad.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["errors"].as_array().unwrap().len(), 2);
    assert_eq!(json["errors"][0]["rule"], "director");

    let stderr = user_error(&["model", "check", "no/such/model.toml"]);
    assert!(stderr.contains("no/such/model.toml"), "{stderr}");
}

#[test]
fn model_diff_speaks_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.toml");
    let text = std::fs::read_to_string(repo().join("examples/model.toml"))
        .unwrap()
        .replace("mql = 100", "mql = 80")
        .replace(
            "points = 50\nhalf_life = \"60d\"",
            "points = 60\nhalf_life = \"60d\"",
        )
        .replace(
            "[[engagement.rules]]\nid = \"unsubscribed\"",
            "[[engagement.rules]]\nid = \"unsubscribed-email\"",
        );
    std::fs::write(&new, text).unwrap();
    let out = ok(&[
        "model",
        "diff",
        "examples/model.toml",
        new.to_str().unwrap(),
    ]);
    assert!(out.contains("~ MQL threshold 100 → 80."), "{out}");
    assert!(
        out.contains("~ Engagement rule `demo-request`: points 50 → 60."),
        "{out}"
    );
    assert!(
        out.contains("- Removed engagement rule `unsubscribed`"),
        "{out}"
    );
    assert!(
        out.contains("+ Added engagement rule `unsubscribed-email`"),
        "{out}"
    );
    let json: Value = serde_json::from_str(&ok(&[
        "model",
        "diff",
        "examples/model.toml",
        new.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["changes"].as_array().unwrap().len(), 4);
    assert_eq!(json["changes"][0]["old"], "100");
}

#[test]
fn generate_is_deterministic_and_score_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let printed = ok(&[
            "generate",
            "--leads",
            "200",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(printed.starts_with("wrote "), "{printed}");
    }
    for file in [
        "accounts.csv",
        "leads.csv",
        "events.jsonl",
        "outcomes.csv",
        "truth.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
    let path = |f: &str| a.join(f).to_str().unwrap().to_string();
    let out = ok(&[
        "score",
        "--model",
        "examples/model.toml",
        "--leads",
        &path("leads.csv"),
        "--accounts",
        &path("accounts.csv"),
        "--events",
        &path("events.jsonl"),
        "--as-of",
        "2026-10-01",
        "--format",
        "json",
        "--explain",
    ]);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["summary"]["leads"], 200);
    assert_eq!(json["summary"]["rejected_rows"], 0);
    assert!(
        json["summary"]["mql"].as_u64().unwrap() > 0,
        "{}",
        json["summary"]
    );
    let leads = json["leads"].as_array().unwrap();
    let first = &leads[0];
    for key in [
        "id",
        "fit",
        "engagement",
        "score",
        "grade",
        "stage",
        "groups",
        "top",
        "explanation",
        "to_mql",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    // Sorted by score, and the explanation adds up.
    assert!(
        leads
            .windows(2)
            .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64())
    );
    let explained: f64 = first["explanation"]["engagement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["points"].as_f64().unwrap())
        .sum();
    assert!((explained - first["engagement"].as_f64().unwrap()).abs() < 0.01);

    let table = ok(&[
        "score",
        "--model",
        "examples/model.toml",
        "--leads",
        &path("leads.csv"),
        "--accounts",
        &path("accounts.csv"),
        "--events",
        &path("events.jsonl"),
        "--as-of",
        "2026-10-01",
        "--limit",
        "5",
    ]);
    assert_eq!(table.lines().count(), 6, "{table}");
    assert!(table.starts_with("LEAD"), "{table}");
}

#[test]
fn score_stitches_anonymous_visits_and_reports_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let leads = dir.path().join("leads.csv");
    std::fs::write(
        &leads,
        "email,Job Title,seniority,department\nada@acme.io,VP Data,vp,data\n,no id,x,y\nbob@acme.io,\"Engineer, Platform\",staff,engineering,extra\n",
    )
    .unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        [
            r#"{"type":"page","anonymousId":"anon-1","timestamp":"2026-09-30T10:00:00Z","properties":{"path":"/pricing"}}"#,
            r#"{"type":"identify","userId":"ada@acme.io","anonymousId":"anon-1","timestamp":"2026-09-30T10:05:00Z","traits":{"company":"Acme"}}"#,
            r#"{"type":"track","userId":"ada@acme.io","event":"Demo Requested","timestamp":"2026-09-30T10:06:00Z"}"#,
            r#"{"type":"track","event":"Demo Requested","timestamp":"2026-09-30T10:06:00Z"}"#,
            "this is not json",
            r#"{"type":"track","userId":"ada@acme.io","event":"Demo Requested","timestamp":"2026-12-30T10:06:00Z"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let (l, e) = (leads.to_str().unwrap(), events.to_str().unwrap());
    let out = sluice(&[
        "score",
        "--model",
        "examples/model.toml",
        "--leads",
        l,
        "--events",
        e,
        "--as-of",
        "2026-10-01",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ada = &json["leads"][0];
    assert_eq!(ada["id"], "ada@acme.io");
    let rules: Vec<&str> = ada["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"pricing-page"),
        "the anonymous visit joined the lead: {rules:?}"
    );
    assert!(rules.contains(&"demo-request"), "{rules:?}");
    assert_eq!(json["summary"]["events_after_as_of"], 1);
    let rejected = json["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 4, "{rejected:#?}");
    assert_eq!(rejected[0]["line"], 3);
    assert!(
        rejected[0]["error"]
            .as_str()
            .unwrap()
            .contains("empty `id` and `email`")
    );
    assert!(
        rejected[1]["error"]
            .as_str()
            .unwrap()
            .contains("5 fields, but the header has 4")
    );
    assert_eq!(
        (rejected[2]["line"].as_u64(), rejected[2]["error"].as_str()),
        (Some(4), Some("missing `userId` or `anonymousId`"))
    );
    assert_eq!(rejected[3]["line"], 5);

    let stderr = user_error(&[
        "score",
        "--model",
        "examples/model.toml",
        "--leads",
        l,
        "--events",
        e,
        "--as-of",
        "2026-10-01",
        "--strict",
    ]);
    assert!(
        stderr.contains("leads.csv:3: empty `id` and `email` (--strict)"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    assert!(ok(&["--help"]).contains("score"));
    assert!(ok(&["score", "--help"]).contains("--as-of"));
    user_error(&[
        "score",
        "--model",
        "examples/model.toml",
        "--leads",
        "x.csv",
        "--as-of",
        "someday",
    ]);
    let stderr = user_error(&[
        "score",
        "--model",
        "examples/model.toml",
        "--leads",
        "missing.csv",
        "--as-of",
        "2026-10-01",
    ]);
    assert!(stderr.contains("missing.csv"), "{stderr}");
    let out = sluice(&["model", "check"]);
    assert_eq!(out.status.code(), Some(1));
    user_error(&["generate", "--leads", "0", "--out", "/tmp/never"]);
}
