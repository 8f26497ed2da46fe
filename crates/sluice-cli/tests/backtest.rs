//! `sluice backtest`, driven the way a user drives it: a generated company replayed through
//! the example model and worse ones, from files and from the database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(repo())
        .env_remove("SLUICE_DATABASE_URL")
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
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
    stderr
}

/// A generated company of `leads` leads (seed 42) in `dir`.
fn company(dir: &Path, leads: u32) -> PathBuf {
    let out = dir.join("company");
    ok(&[
        "generate",
        "--leads",
        &leads.to_string(),
        "--seed",
        "42",
        "--end",
        "2026-10-01",
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

/// The arguments naming a generated company's files.
fn files(company: &Path) -> Vec<String> {
    ["leads.csv", "accounts.csv", "events.jsonl", "outcomes.csv"]
        .iter()
        .zip(["--leads", "--accounts", "--events", "--outcomes"])
        .flat_map(|(file, flag)| {
            [
                flag.to_string(),
                company.join(file).to_str().unwrap().to_string(),
            ]
        })
        .collect()
}

fn backtest_json(args: &[String]) -> Value {
    let mut all: Vec<&str> = vec!["backtest", "--format", "json"];
    all.extend(args.iter().map(String::as_str));
    serde_json::from_str(&ok(&all)).expect("the report is JSON")
}

/// A copy of the example model with its MQL threshold raised from 100 to `mql`, as version
/// `mql-N`.
fn with_threshold(dir: &Path, mql: u32) -> PathBuf {
    let source = std::fs::read_to_string(repo().join("examples/model.toml")).unwrap();
    for needle in ["\nmql = 100\n", "\nversion = \"2026.10.1\"\n"] {
        assert!(source.contains(needle), "{needle}");
    }
    let source = source
        .replace("\nmql = 100\n", &format!("\nmql = {mql}\n"))
        .replace(
            "\nversion = \"2026.10.1\"\n",
            &format!("\nversion = \"mql-{mql}\"\n"),
        );
    let path = dir.join(format!("mql-{mql}.toml"));
    std::fs::write(&path, source).unwrap();
    path
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

/// Every figure of a model's report is within its bounds.
fn check_sensible(model: &Value) {
    for key in [
        "recall_opportunities",
        "recall_wins",
        "precision_opportunities",
        "precision_wins",
    ] {
        let share = f(&model[key]);
        assert!((0.0..=1.0).contains(&share), "{key}: {share}");
    }
    assert!(f(&model["revenue_captured"]) <= f(&model["revenue"]));
    assert!(f(&model["pipeline_captured"]) <= f(&model["pipeline"]));
    assert!(model["opportunities_captured"].as_u64() <= model["opportunities"].as_u64());
    assert!(model["wins_captured"].as_u64() <= model["wins"].as_u64());
    let weekly: u64 = model["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .sum();
    assert_eq!(weekly, model["mqls"].as_u64().unwrap());
}

#[test]
fn a_generated_company_backtests_and_the_worse_model_captures_less() {
    let dir = tempfile::tempdir().unwrap();
    let company = company(dir.path(), 2000);
    let worse = with_threshold(dir.path(), 190);
    let mut args = vec!["--model".to_string(), "examples/model.toml".to_string()];
    args.extend(files(&company));
    args.extend(["--against", worse.to_str().unwrap(), "--capacity", "5"].map(String::from));
    let report = backtest_json(&args);

    assert_eq!(report["data"]["leads"], 2000);
    assert_eq!(report["data"]["rejected_rows"], 0);
    assert_eq!(report["capacity"], 5);
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let (good, bad) = (&models[0], &models[1]);
    assert_eq!(good["file"], "examples/model.toml");
    assert_eq!(
        (&good["name"], &good["mql"]),
        (&Value::from("b2b-default"), &Value::from(100.0))
    );
    assert_eq!(bad["mql"], 190.0);
    check_sensible(good);
    check_sensible(bad);
    assert!(good["mqls"].as_u64().unwrap() > 0);
    assert!(good["opportunities"].as_u64().unwrap() > 0);
    assert!(f(&good["revenue_captured"]) > 0.0);
    // Both see the same outcomes; the worse model qualifies fewer leads and captures less.
    assert_eq!(good["revenue"], bad["revenue"]);
    assert_eq!(good["opportunities"], bad["opportunities"]);
    assert!(bad["mqls"].as_u64() < good["mqls"].as_u64());
    assert!(f(&bad["revenue_captured"]) < f(&good["revenue_captured"]));
    assert!(f(&bad["recall_opportunities"]) < f(&good["recall_opportunities"]));

    // The capacity view: 30 thresholds; the model as written is its 100 % point.
    let sweep = good["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 30);
    let written = sweep.iter().find(|p| p["share"] == 1.0).unwrap();
    assert_eq!(written["threshold"], 100.0);
    for key in [
        "mqls",
        "revenue_captured",
        "pipeline_captured",
        "recall_opportunities",
    ] {
        assert_eq!(written[key], good[key], "{key}");
    }
    // A higher threshold never qualifies more leads.
    for pair in sweep.windows(2) {
        assert!(pair[1]["mqls"].as_u64() <= pair[0]["mqls"].as_u64());
    }
    let best = &good["best_within_capacity"];
    assert_eq!(best["fits"], true);
    assert!(f(&best["mqls_per_week"]) <= 5.0);
    for p in sweep.iter().filter(|p| p["fits"] == true) {
        assert!(f(&p["revenue_captured"]) <= f(&best["revenue_captured"]));
    }
    assert!(
        sweep.iter().any(|p| p["fits"] == false),
        "10 % of the threshold is over capacity"
    );

    // A shorter period: fewer weeks, no more opportunities than the whole year.
    let mut spring = vec!["--model".to_string(), "examples/model.toml".to_string()];
    spring.extend(files(&company));
    spring.extend(["--from", "2026-03-01", "--to", "2026-06-01"].map(String::from));
    let spring = backtest_json(&spring);
    assert_eq!(spring["period"]["from"], "2026-03-01T00:00:00.000Z");
    assert!(f(&spring["period"]["weeks"]) < 14.0);
    let part = &spring["models"][0];
    check_sensible(part);
    assert!(part["opportunities"].as_u64() < good["opportunities"].as_u64());
    assert!(part["mqls"].as_u64() < good["mqls"].as_u64());

    // The table, for people.
    let mut table = vec!["backtest", "--model", "examples/model.toml", "--against"];
    table.push(worse.to_str().unwrap());
    let file_args = files(&company);
    table.extend(file_args.iter().map(String::as_str));
    table.extend(["--capacity", "5"]);
    let out = ok(&table);
    for needle in [
        "b2b-default 2026.10.1",
        "b2b-default mql-190",
        "revenue captured",
        "recall: opportunities qualified",
        "best within capacity: threshold",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
}

#[test]
fn the_stored_history_backtests_like_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let company = company(dir.path(), 200);
    let db = format!("sqlite://{}", dir.path().join("sluice.db").display());
    for (kind, file) in [
        ("leads", "leads.csv"),
        ("events", "events.jsonl"),
        ("outcomes", "outcomes.csv"),
    ] {
        ok(&[
            "import",
            kind,
            company.join(file).to_str().unwrap(),
            "--db",
            &db,
        ]);
    }
    let period = [
        "--from",
        "2025-10-01",
        "--to",
        "2026-10-01",
        "--as-of",
        "2026-10-01",
    ];
    let mut stored = vec!["--model".to_string(), "examples/model.toml".to_string()];
    stored.extend(["--db".to_string(), db]);
    stored.extend(period.map(String::from));
    let stored = backtest_json(&stored);
    let mut from_files = vec!["--model".to_string(), "examples/model.toml".to_string()];
    from_files.extend(files(&company));
    from_files.extend(period.map(String::from));
    let from_files = backtest_json(&from_files);

    assert_eq!(stored["data"]["leads"], 200);
    let (s, f_) = (&stored["models"][0], &from_files["models"][0]);
    check_sensible(s);
    // The same outcomes, through the outcomes table; the same leads' traits, through the
    // `identify` messages the import wrote; so the same MQLs.
    for key in [
        "opportunities",
        "wins",
        "pipeline",
        "revenue",
        "mqls",
        "opportunities_captured",
        "revenue_captured",
    ] {
        assert_eq!(s[key], f_[key], "{key}");
    }
    assert!(s["mqls"].as_u64().unwrap() > 0);
}

#[test]
fn bad_input_is_one_line_naming_what() {
    let dir = tempfile::tempdir().unwrap();
    let company = company(dir.path(), 50);
    let run = |model: &str, outcomes: &Path, more: &[&str]| {
        let mut args = vec!["backtest", "--model", model];
        let all = files(&company);
        for pair in all.chunks(2) {
            args.push(&pair[0]);
            args.push(if pair[0] == "--outcomes" {
                outcomes.to_str().unwrap()
            } else {
                &pair[1]
            });
        }
        args.extend_from_slice(more);
        user_error(&args)
    };
    let outcomes = company.join("outcomes.csv");

    let no_type = dir.path().join("no-type.csv");
    std::fs::write(
        &no_type,
        "lead_id,amount,date\nlead-0000001,100,2026-01-01\n",
    )
    .unwrap();
    let e = run("examples/model.toml", &no_type, &[]);
    assert!(e.contains("no-type.csv:1") && e.contains("`type`"), "{e}");

    let e = run("no/such/model.toml", &outcomes, &[]);
    assert!(e.contains("no/such/model.toml"), "{e}");

    let e = run("examples/model.toml", &outcomes, &["--capacity", "0"]);
    assert!(e.contains("--capacity"), "{e}");

    let e = run(
        "examples/model.toml",
        &outcomes,
        &["--from", "2026-06-01", "--to", "2026-03-01"],
    );
    assert!(e.contains("--from"), "{e}");

    let e = run("examples/model.toml", &outcomes, &["--as-of", "yesterday"]);
    assert!(e.contains("--as-of"), "{e}");

    let e = run("examples/model.toml", &dir.path().join("missing.csv"), &[]);
    assert!(e.contains("missing.csv"), "{e}");

    // A bad outcome row is reported with its line and field, and the rest is replayed.
    let bad_rows = dir.path().join("bad-rows.csv");
    let mut text = std::fs::read_to_string(&outcomes).unwrap();
    text.push_str("lead-0000001,,,opportunity,lots,2026-01-01,\nnobody,,,won,10,2026-01-01,\n");
    std::fs::write(&bad_rows, text).unwrap();
    let mut args = vec!["--model".to_string(), "examples/model.toml".to_string()];
    for pair in files(&company).chunks(2) {
        args.push(pair[0].clone());
        args.push(if pair[0] == "--outcomes" {
            bad_rows.to_str().unwrap().to_string()
        } else {
            pair[1].clone()
        });
    }
    let report = backtest_json(&args);
    assert_eq!(report["data"]["rejected_rows"], 2);
    let errors: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert!(
        errors[0].contains("`amount`: \"lots\" is not a number"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("`lead_id`: no lead `nobody`"),
        "{errors:?}"
    );
}

#[test]
fn traits_count_from_the_time_they_were_sent() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    // A student (disqualified) until an `identify` call on 1 March says they are a VP; their
    // demo request and pricing visit of 1 February count from then on.
    let leads = write(
        "leads.csv",
        "id,email,seniority,department,account_id,created_at\n\
         lead-1,ada@acme.io,student,data,acct-1,2026-01-01T00:00:00Z\n",
    );
    let accounts = write(
        "accounts.csv",
        "id,employees,industry\nacct-1,1000,Software\n",
    );
    let events = write(
        "events.jsonl",
        concat!(
            r#"{"type":"track","event":"Demo Requested","userId":"lead-1","timestamp":"2026-02-01T10:00:00Z"}"#,
            "\n",
            r#"{"type":"page","userId":"lead-1","timestamp":"2026-02-01T10:05:00Z","properties":{"path":"/pricing"}}"#,
            "\n",
            r#"{"type":"identify","userId":"lead-1","timestamp":"2026-03-01T00:00:00Z","traits":{"seniority":"vp"}}"#,
            "\n",
        ),
    );
    let outcomes = write(
        "outcomes.csv",
        "lead_id,email,account_id,type,amount,date,reason\n\
         lead-1,,,opportunity,1000,2026-03-05,\n\
         lead-1,,,won,900,2026-04-01,\n",
    );
    let args: Vec<String> = [
        "--model",
        "examples/model.toml",
        "--leads",
        &leads,
        "--accounts",
        &accounts,
        "--events",
        &events,
        "--outcomes",
        &outcomes,
        "--from",
        "2026-01-01",
        "--to",
        "2026-05-01",
    ]
    .map(String::from)
    .to_vec();
    let report = backtest_json(&args);
    let model = &report["models"][0];
    assert_eq!(model["mqls"], 1);
    // An MQL on 1 March (not at the demo request, when it was still a student): four days
    // before its opportunity.
    assert_eq!(model["median_days_to_opportunity"], 4.0);
    assert_eq!(model["recall_wins"], 1.0);
    assert_eq!(model["revenue_captured"], 900.0);
    assert_eq!(model["precision_opportunities"], 1.0);
}
