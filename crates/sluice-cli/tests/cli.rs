//! The `sluice` binary, driven the way a user drives it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
    std::fs::write(&bad, &text).unwrap();
    // The example model changes; the lines of the two mistakes are looked up, not assumed.
    let line_of = |needle: &str| {
        1 + text
            .lines()
            .position(|l| l.contains(needle))
            .expect("the mistake is in the file")
    };
    let (director, half_life) = (
        line_of("lead.seniority = 'director'"),
        line_of("half_life = \"60 days\""),
    );
    let stderr = user_error(&["model", "check", bad.to_str().unwrap()]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].contains(&format!("bad.toml:{director}:24: rule `director`: `when`:")),
        "{stderr}"
    );
    assert!(
        lines[1].contains(&format!(
            "bad.toml:{half_life}:13: rule `demo-request`: half_life"
        )),
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
            "--end",
            "2026-10-01",
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
    let (leads, accounts) = table
        .split_once("\n\n")
        .expect("a leads table and an accounts table");
    assert_eq!(leads.lines().count(), 6, "{table}");
    assert!(leads.starts_with("LEAD"), "{table}");
    assert!(accounts.starts_with("ACCOUNT"), "{table}");
    assert_eq!(accounts.lines().count(), 6, "{table}");
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

/// A small model of its own, so these tests do not move when the example model does.
const MODEL: &str = r#"
[model]
name = "cli-test"
version = "1"

[thresholds]
mql = 100

[engagement]
half_life = "30d"

[[fit.rules]]
id = "vp"
when = "lead.title == 'VP'"
points = 30

[[fit.rules]]
id = "work-email"
when = "lead.email.endsWith('@acme.io')"
points = 5

[[fit.rules]]
id = "enterprise-plan"
when = "lead.plan == 'enterprise'"
points = 7

[[engagement.rules]]
id = "demo-request"
event = "Demo Requested"
points = 50
half_life = "never"

[[engagement.rules]]
id = "pricing-page"
event = "page"
when = "event.properties.path.startsWith('/pricing')"
points = 15
half_life = "never"

[[engagement.rules]]
id = "unsubscribed"
event = "Unsubscribed"
points = -20

[account]
mql = 10

[[account.rules]]
id = "big"
when = "account.size == 'big'"
points = 10
"#;

/// A scratch directory with the test model, and files written into it.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch(tempfile::tempdir().unwrap());
        scratch.write("model.toml", MODEL);
        scratch
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.0.path().join(name).to_str().unwrap().to_string()
    }

    /// `sluice score` of these files as of 2026-10-01, and its JSON output.
    fn score(&self, leads: &str, events: Option<&str>) -> Value {
        serde_json::from_str(&self.score_text(leads, events, "json")).unwrap()
    }

    /// `sluice score` of these files as of 2026-10-01, in this format.
    fn score_text(&self, leads: &str, events: Option<&str>, format: &str) -> String {
        ok(&strs(&self.score_args(leads, events, format)))
    }

    fn score_args(&self, leads: &str, events: Option<&str>, format: &str) -> Vec<String> {
        let mut args: Vec<String> = [
            "score",
            "--model",
            &self.path("model.toml"),
            "--leads",
            &self.path(leads),
            "--as-of",
            "2026-10-01",
            "--format",
            format,
        ]
        .map(String::from)
        .into();
        if let Some(events) = events {
            args.extend(["--events".to_string(), self.path(events)]);
        }
        args
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The scored lead with this id.
fn lead<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("no lead {id} in {json:#}"))
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let scratch = Scratch::new();
    let mut leads = String::from("id,title\n");
    for i in 0..5000 {
        leads.push_str(&format!("lead-{i},VP\n"));
    }
    scratch.write("leads.csv", leads);
    let model = scratch.path("model.toml");
    let runs = [
        scratch.score_args("leads.csv", None, "jsonl"),
        scratch.score_args("leads.csv", None, "json"),
        scratch.score_args("leads.csv", None, "table"),
        ["model", "check", &model].map(String::from).into(),
        ["model", "check", &model, "--format", "json"]
            .map(String::from)
            .into(),
        ["model", "diff", &model, &model].map(String::from).into(),
    ];
    for args in runs {
        // Like `sluice ... | head -1`: the reader goes away before the output is written.
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&args)
            .current_dir(repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("internal error") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn an_alias_after_the_events_it_covers_joins_them_to_the_lead() {
    let scratch = Scratch::new();
    scratch.write("leads.csv", "id,title\nL1,VP\n");
    scratch.write(
        "events.jsonl",
        [
            r#"{"type":"track","userId":"old-id","event":"Demo Requested","timestamp":"2026-09-01T10:00:00Z"}"#,
            r#"{"type":"alias","previousId":"old-id","userId":"L1","timestamp":"2026-09-02T10:00:00Z"}"#,
        ]
        .join("\n"),
    );
    let json = scratch.score("leads.csv", Some("events.jsonl"));
    assert_eq!(json["summary"]["leads"], 1, "{json:#}");
    let l1 = lead(&json, "L1");
    assert_eq!(l1["engagement"], 50.0, "{l1:#}");
    assert_eq!(l1["score"], 80.0, "{l1:#}");
}

#[test]
fn the_latest_group_call_names_the_account_whatever_the_line_order() {
    let scratch = Scratch::new();
    scratch.write("leads.csv", "id,title,account_id\nL1,VP,from-file\n");
    let older =
        r#"{"type":"group","userId":"L1","groupId":"acme","timestamp":"2026-09-01T10:00:00Z"}"#;
    let newer =
        r#"{"type":"group","userId":"L1","groupId":"globex","timestamp":"2026-09-02T10:00:00Z"}"#;
    for (name, lines) in [
        ("in-order.jsonl", [older, newer]),
        ("swapped.jsonl", [newer, older]),
    ] {
        scratch.write(name, lines.join("\n"));
        let json = scratch.score("leads.csv", Some(name));
        assert_eq!(lead(&json, "L1")["account"], "globex", "{name}: {json:#}");
    }
    // Without a group call, the leads file names the account.
    assert_eq!(
        lead(&scratch.score("leads.csv", None), "L1")["account"],
        "from-file"
    );
}

#[test]
fn scores_do_not_depend_on_the_order_of_event_lines() {
    let scratch = Scratch::new();
    scratch.write("leads.csv", "id,email,title\nL2,bob@acme.io,VP\n");
    let lines = [
        r#"{"type":"page","anonymousId":"a-1","timestamp":"2026-09-01T10:00:00Z","properties":{"path":"/pricing"}}"#,
        r#"{"type":"track","anonymousId":"a-1","event":"Demo Requested","timestamp":"2026-09-01T10:01:00Z"}"#,
        r#"{"type":"identify","userId":"u-1","anonymousId":"a-1","timestamp":"2026-09-02T10:00:00Z","traits":{"email":"ada@acme.io","plan":"enterprise"}}"#,
        r#"{"type":"identify","userId":"u-1","timestamp":"2026-09-03T10:00:00Z","traits":{"plan":"free"}}"#,
        r#"{"type":"track","userId":"old-2","event":"Demo Requested","timestamp":"2026-09-04T10:00:00Z"}"#,
        r#"{"type":"alias","previousId":"old-2","userId":"L2","timestamp":"2026-09-05T10:00:00Z"}"#,
        r#"{"type":"page","userId":"bob@acme.io","timestamp":"2026-09-05T11:00:00Z","properties":{"path":"/pricing"}}"#,
        r#"{"type":"group","userId":"u-1","groupId":"acme","timestamp":"2026-09-06T10:00:00Z","traits":{"size":"small"}}"#,
        r#"{"type":"group","userId":"u-1","groupId":"globex","timestamp":"2026-09-07T10:00:00Z","traits":{"size":"small"}}"#,
        r#"{"type":"group","userId":"L2","groupId":"globex","timestamp":"2026-09-08T10:00:00Z","traits":{"size":"big"}}"#,
        r#"{"type":"track","userId":"u-1","event":"Unsubscribed","timestamp":"2026-09-09T10:00:00Z"}"#,
        r#"{"type":"page","anonymousId":"a-2","timestamp":"2026-09-10T10:00:00Z","properties":{"path":"/pricing"}}"#,
        r#"{"type":"track","userId":"L2","event":"Demo Requested","timestamp":"2026-12-01T10:00:00Z"}"#,
        r#"{"type":"alias","previousId":"L2","userId":"later","timestamp":"2026-12-01T10:00:00Z"}"#,
    ];
    scratch.write("events.jsonl", lines.join("\n"));
    let expected = scratch.score_text("leads.csv", Some("events.jsonl"), "json");
    let json: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(json["summary"]["leads"], 2, "{json:#}");
    assert_eq!(json["summary"]["anonymous_visitors"], 1, "{json:#}");
    let (u1, l2) = (lead(&json, "u-1"), lead(&json, "L2"));
    // u-1: the anonymous pricing visit and demo, the later `plan` trait, the later account.
    assert_eq!(
        (&u1["fit"], &u1["account"]),
        (&5.0.into(), &"globex".into()),
        "{u1:#}"
    );
    let rules: Vec<&Value> = u1["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["rule"])
        .collect();
    assert_eq!(
        rules,
        ["demo-request", "pricing-page", "unsubscribed", "work-email"],
        "{u1:#}"
    );
    // L2: the aliased demo and the visit under its email.
    assert_eq!(
        (&l2["fit"], &l2["engagement"]),
        (&35.0.into(), &65.0.into()),
        "{l2:#}"
    );
    assert_eq!(json["accounts"][0]["id"], "globex", "{json:#}");
    assert_eq!(json["accounts"][0]["score"]["fit"], 10.0, "{json:#}");

    // Fisher-Yates with a fixed little generator: the same shuffles on every run.
    let mut seed: u64 = 0x5eed;
    for round in 0..6 {
        let mut shuffled = lines.to_vec();
        for i in (1..shuffled.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let name = format!("shuffled-{round}.jsonl");
        scratch.write(&name, shuffled.join("\n"));
        let out = scratch.score_text("leads.csv", Some(&name), "json");
        assert_eq!(out, expected, "{shuffled:#?}");
    }
}

#[test]
fn a_line_that_is_not_utf8_is_rejected_alone() {
    let scratch = Scratch::new();
    let mut leads = b"\xef\xbb\xbf{\"id\":\"L1\",\"title\":\"VP\"}\n".to_vec();
    leads.extend_from_slice(b"{\"id\":\"L2\",\"title\":\"caf\xe9\"}\n{\"id\":\"L3\"}\n");
    scratch.write("leads.jsonl", leads);
    let track = |id: &str| {
        format!(
            r#"{{"type":"track","userId":"{id}","event":"Demo Requested","timestamp":"2026-09-01T10:00:00Z"}}"#
        )
    };
    let events = [
        b"\xef\xbb\xbf".as_slice(),
        track("L1").as_bytes(),
        b"\n\xff\xfe\n",
        track("L3").as_bytes(),
    ]
    .concat();
    scratch.write("events.jsonl", events);
    let json = scratch.score("leads.jsonl", Some("events.jsonl"));
    // The byte-order marks are not errors; each bad line is one rejected row.
    assert_eq!(json["summary"]["leads"], 2, "{json:#}");
    assert_eq!(json["summary"]["events_scored"], 2, "{json:#}");
    assert_eq!(lead(&json, "L1")["score"], 80.0, "{json:#}");
    let rejected = json["rejected"].as_array().unwrap();
    let where_what: Vec<(String, u64, &str)> = rejected
        .iter()
        .map(|r| {
            let file = r["file"].as_str().unwrap().rsplit('/').next().unwrap();
            (
                file.to_string(),
                r["line"].as_u64().unwrap(),
                r["error"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        where_what,
        [
            ("leads.jsonl".to_string(), 2, "line is not UTF-8 text"),
            ("events.jsonl".to_string(), 2, "line is not UTF-8 text"),
        ],
        "{json:#}"
    );
}

#[test]
fn a_large_events_file_is_read_in_line_order_across_chunks() {
    // Several megabytes: the file is read in chunks on several threads; rejections keep their
    // line numbers and order, and every good line counts once.
    let scratch = Scratch::new();
    scratch.write("leads.csv", "id,title\nL0,VP\nL1,VP\nL2,VP\n");
    let padding = "x".repeat(500);
    let mut events = Vec::new();
    let (mut good, mut bad) = (0u64, Vec::new());
    for line in 1..=12_000u64 {
        let lead = line % 3;
        match line % 2_500 {
            0 => {
                events.extend_from_slice(b"{\"type\":\"page\",\"userId\":\"L1\"");
                bad.push((line, "invalid message"));
            }
            7 => {
                events.extend_from_slice(b"\xff{}");
                bad.push((line, "line is not UTF-8 text"));
            }
            11 => {}
            13 => {
                events.extend_from_slice(br#"{"type":"page","properties":{"path":"/pricing"}}"#);
                bad.push((line, "missing `userId` or `anonymousId`"));
            }
            _ => {
                let path = if line % 5 == 0 { "/pricing" } else { "/blog" };
                events.extend_from_slice(
                    format!(
                        r#"{{"type":"page","userId":"L{lead}","properties":{{"path":"{path}","title":"{padding}"}},"timestamp":"2026-09-01T10:00:{:02}.{:03}Z"}}"#,
                        line % 60,
                        line % 1000
                    )
                    .as_bytes(),
                );
                good += 1;
            }
        }
        events.extend_from_slice(if line % 7 == 0 { b"\r\n" } else { b"\n" });
    }
    scratch.write("events.jsonl", &events);
    let json = scratch.score("leads.csv", Some("events.jsonl"));
    assert_eq!(
        json["summary"]["events_read"], good,
        "{:#}",
        json["summary"]
    );
    let rejected: Vec<(u64, String)> = json["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let error = r["error"].as_str().unwrap();
            let kind = bad
                .iter()
                .map(|(_, e)| *e)
                .find(|e| error.starts_with(e))
                .unwrap_or(error);
            (r["line"].as_u64().unwrap(), kind.to_string())
        })
        .collect();
    let expected: Vec<(u64, String)> = bad.iter().map(|(l, e)| (*l, e.to_string())).collect();
    assert_eq!(rejected, expected);
    // Every lead's pricing views count (no cooldown in this model): 15 points each.
    for id in ["L0", "L1", "L2"] {
        assert!(lead(&json, id)["engagement"].as_f64().unwrap() > 15.0 * 100.0);
    }
    // Strict: the first bad line ends the run, and is named.
    let mut args = scratch.score_args("leads.csv", Some("events.jsonl"), "json");
    args.push("--strict".to_string());
    let error = user_error(&strs(&args));
    assert!(
        error.contains("events.jsonl:7: line is not UTF-8 text (--strict)"),
        "{error}"
    );
}

/// Excel writes `\r\n` line ends: a rejected row names the line an editor shows, blank lines
/// counted (it used to be one short on every row).
#[test]
fn a_rejected_row_of_a_windows_csv_names_its_line() {
    let scratch = Scratch::new();
    scratch.write(
        "leads.csv",
        "id,email,title\r\n1,a@b.io,VP\r\n\r\n2,c@d.io\r\n3,e@f.io,CTO\r\n",
    );
    let json = scratch.score("leads.csv", None);
    assert_eq!(json["summary"]["leads"], 2, "{json:#}");
    assert_eq!(json["rejected"][0]["line"], 4, "{json:#}");
    assert_eq!(
        json["rejected"][0]["error"],
        "2 fields, but the header has 3"
    );
}

#[test]
fn an_unterminated_csv_quote_is_rejected_not_swallowed() {
    let scratch = Scratch::new();
    scratch.write("leads.csv", "id,title\n1,\"VP\n2,VP\n3,VP\n");
    let json = scratch.score("leads.csv", None);
    assert_eq!(json["summary"]["leads"], 0, "{json:#}");
    assert_eq!(json["rejected"].as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json["rejected"][0]["line"], 2, "{json:#}");
    assert_eq!(
        json["rejected"][0]["error"],
        "unterminated quote (the field starting on line 2 runs to the end of the file)"
    );

    // A closed quote that spans lines is a good row, even when it ends the file.
    for good in [
        "id,title\n1,\"VP\nData\"\n",
        "id,title,dept\n1,\"VP\nData\",x\n",
    ] {
        scratch.write("good.csv", good);
        let json = scratch.score("good.csv", None);
        assert_eq!(json["summary"]["leads"], 1, "{good:?}: {json:#}");
        assert_eq!(json["summary"]["rejected_rows"], 0, "{good:?}: {json:#}");
    }
}

#[test]
fn id_and_email_headers_are_found_in_any_case() {
    let scratch = Scratch::new();
    scratch.write("leads.csv", "ID,Email,title\nL1,ada@acme.io,VP\n");
    scratch.write(
        "events.jsonl",
        r#"{"type":"track","userId":"Ada@Acme.io","event":"Demo Requested","timestamp":"2026-09-01T10:00:00Z"}"#,
    );
    let json = scratch.score("leads.csv", Some("events.jsonl"));
    assert_eq!(json["summary"]["leads"], 1, "{json:#}");
    let l1 = lead(&json, "L1");
    // `lead.email` rules see the column, and events sent under the email join the lead.
    assert_eq!(
        (&l1["fit"], &l1["engagement"]),
        (&35.0.into(), &50.0.into()),
        "{l1:#}"
    );
}

#[test]
fn tables_never_print_negative_zero() {
    let scratch = Scratch::new();
    scratch.write("leads.csv", "id,title\nL1,Engineer\n");
    // A penalty decayed for a year is a tiny negative number.
    scratch.write(
        "events.jsonl",
        r#"{"type":"track","userId":"L1","event":"Unsubscribed","timestamp":"2025-09-01T10:00:00Z"}"#,
    );
    let table = scratch.score_text("leads.csv", Some("events.jsonl"), "table");
    assert!(!table.contains("-0.0"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("L1"))
        .expect("the lead's row");
    assert_eq!(
        row.matches(" 0.0").count(),
        4,
        "score, fit, engagement, contribution: {row}"
    );
}
