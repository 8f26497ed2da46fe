//! `sluice learn` from the history, as a user runs it: on a generated company (leads,
//! accounts, Segment events and outcomes, with a planted signal written down in `truth.json`)
//! the learning recovers the signal, and the suggested model passes `sluice model check` and
//! scores the same files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and succeeds; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = sluice(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(args: &[&str]) -> Value {
    let stdout = ok(args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Fails with exit code 1 and a one-line error; returns it.
fn user_error(args: &[&str]) -> String {
    let out = sluice(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

/// A generated company in a temporary directory.
struct Company {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Company {
    fn generate(leads: u32, seed: u64) -> Company {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("company-{seed}"));
        ok(&[
            "generate",
            "--leads",
            &leads.to_string(),
            "--seed",
            &seed.to_string(),
            "--end",
            "2026-10-01",
            "--out",
            path.to_str().unwrap(),
        ]);
        Company { _dir: dir, path }
    }

    fn file(&self, name: &str) -> String {
        self.path.join(name).to_str().unwrap().to_string()
    }

    /// `learn --leads … --accounts … --events … --outcomes …`.
    fn history_args(&self) -> Vec<String> {
        let files = [
            ("--leads", "leads.csv"),
            ("--accounts", "accounts.csv"),
            ("--events", "events.jsonl"),
            ("--outcomes", "outcomes.csv"),
        ]
        .into_iter()
        .flat_map(|(flag, name)| [flag.to_string(), self.file(name)]);
        std::iter::once("learn".to_string()).chain(files).collect()
    }

    fn truth(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.file("truth.json")).unwrap()).unwrap()
    }
}

fn args<'a>(base: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    base.iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}

/// The weight the report gives a planted feature of `truth.json`, if it is observable as a
/// column: an attribute value, a range of employees (the mean of the ranges inside it), an
/// action done at least once.
fn weight_of(ranked: &[Value], feature: &Value) -> Option<f64> {
    let field = feature["field"].as_str().unwrap();
    let value = &feature["value"];
    let find = |name: &str| {
        ranked
            .iter()
            .find(|f| f["feature"] == name)
            .and_then(|f| f["weight"].as_f64())
    };
    match feature["kind"].as_str().unwrap() {
        "trait" if field == "account.employees" => {
            let (min, max) = (value["min"].as_f64()?, value["max"].as_f64()?);
            let inside: Vec<f64> = ranked
                .iter()
                .filter(|f| f["column"] == field)
                .filter_map(|f| {
                    let range = f["value"].as_str()?;
                    let (from, to) = range.split_once(" to <")?;
                    let (from, to): (f64, f64) = (from.parse().ok()?, to.parse().ok()?);
                    (from >= min && to <= max + 1.0).then(|| f["weight"].as_f64().unwrap())
                })
                .collect();
            (!inside.is_empty()).then(|| inside.iter().sum::<f64>() / inside.len() as f64)
        }
        "trait" => find(&format!("{field} = {}", value.as_str()?)),
        "event" if value["min_count"] == 1 => find(field),
        "page" if value["min_count"] == 1 => find(&format!("page {}", field.trim_end_matches('/'))),
        _ => None,
    }
}

#[test]
fn the_planted_signal_is_recovered_and_the_suggested_model_scores_the_same_files() {
    let company = Company::generate(5000, 42);
    let dir = tempfile::tempdir().unwrap();
    let suggested = dir.path().join("learned.toml");
    let suggested = suggested.to_str().unwrap();
    let base = company.history_args();
    let more = [
        "--against",
        "examples/model.toml",
        "--suggest",
        suggested,
        "--format",
        "json",
    ];
    let report = json(&args(&base, &more));

    let history = &report["history"];
    assert_eq!(history["leads"], 5000);
    assert_eq!(history["label"], "opportunity");
    assert_eq!(
        (history["horizon"].as_str(), history["half_life"].as_str()),
        (Some("90d"), Some("30d"))
    );
    assert_eq!(history["unmatched_outcomes"], 0);
    let rows = history["rows"].as_u64().unwrap();
    let positives = history["positives"].as_u64().unwrap();
    assert!((3000..4500).contains(&rows), "{history}");
    assert!(positives > 300, "{history}");
    assert!(history["touches_after_cut_off"].as_u64().unwrap() > 0);
    assert_eq!(report["data"]["rows"].as_u64(), Some(rows));
    for model in report["models"].as_array().unwrap() {
        let auc = model["roc_auc"]["mean"].as_f64().unwrap();
        assert!(auc > 0.8, "{}: {auc}", model["model"]);
    }
    let suggestion = &report["suggestion"];
    assert!(
        suggestion["roc_auc"].as_f64().unwrap() > 0.8,
        "{suggestion}"
    );
    assert!(
        suggestion["engagement_rules"].as_u64().unwrap() >= 5,
        "{suggestion}"
    );

    // The planted signal: drivers weigh more than traps, the strongest signals come first.
    let ranked = report["factors"]["ranked"].as_array().unwrap();
    let n = ranked.len() as f64;
    let rank = |w: f64| {
        ranked
            .iter()
            .filter(|f| f["weight"].as_f64().unwrap() > w)
            .count() as f64
    };
    let (mut drivers, mut traps) = (Vec::new(), Vec::new());
    for feature in company.truth()["features"].as_array().unwrap() {
        let Some(weight) = weight_of(ranked, feature) else {
            continue;
        };
        let name = format!("{} {}", feature["field"], feature["value"]);
        match feature["role"].as_str().unwrap() {
            "driver" => {
                assert!(weight > 0.1, "driver {name}: weight {weight}");
                drivers.push((weight, name));
            }
            "trap" => {
                let planted = feature["log_odds"].as_f64().unwrap();
                if planted < 0.0 {
                    assert!(weight < 0.0, "trap {name}: weight {weight}");
                    assert!(
                        rank(weight) >= 0.75 * n,
                        "trap {name} ranks {} of {n}",
                        rank(weight)
                    );
                }
                traps.push((weight, name));
            }
            _ => {}
        }
    }
    assert!(
        drivers.len() >= 13 && traps.len() >= 5,
        "{drivers:?} {traps:?}"
    );
    let mean = |v: &[(f64, String)]| v.iter().map(|x| x.0).sum::<f64>() / v.len() as f64;
    assert!(
        mean(&drivers) > mean(&traps) + 0.6,
        "drivers {drivers:?}, traps {traps:?}"
    );
    let mut driver_ranks: Vec<f64> = drivers.iter().map(|d| rank(d.0)).collect();
    driver_ranks.sort_by(f64::total_cmp);
    let median = driver_ranks[driver_ranks.len() / 2];
    assert!(median < 0.2 * n, "drivers' median rank {median} of {n}");
    let trap_names: Vec<&str> = traps.iter().map(|t| t.1.as_str()).collect();
    for top in &ranked[..5] {
        let name = top["feature"].as_str().unwrap();
        assert!(
            !traps
                .iter()
                .any(|t| (t.0 - top["weight"].as_f64().unwrap()).abs() < 1e-12),
            "a trap among the top five: {name} ({trap_names:?})"
        );
    }
    let first: Vec<&str> = ranked[..3]
        .iter()
        .map(|f| f["feature"].as_str().unwrap())
        .collect();
    assert_eq!(first, ["Demo Requested", "Trial Started", "page /pricing"]);
    let careers = ranked
        .iter()
        .find(|f| f["feature"] == "page /careers")
        .unwrap();
    assert!(careers["llr"].as_f64().unwrap() < -0.5, "{careers}");

    // The suggested model in Sluice's own language: checked, and scoring the same files.
    let text = std::fs::read_to_string(suggested).unwrap();
    for expected in [
        "[engagement]\nhalf_life = \"30d\"",
        "event = \"Demo Requested\"",
        "when = \"event.properties.path == '/pricing' || event.properties.path.startsWith('/pricing/')\"",
        "when = \"account.industry == 'Software'\"",
        "when = \"lead.seniority == 'vp'\"",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    let check = json(&["model", "check", suggested, "--format", "json"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["fit_rules"], suggestion["rules"]);
    assert_eq!(check["engagement_rules"], suggestion["engagement_rules"]);
    let scored = json(&[
        "score",
        "--model",
        suggested,
        "--leads",
        &company.file("leads.csv"),
        "--accounts",
        &company.file("accounts.csv"),
        "--events",
        &company.file("events.jsonl"),
        "--as-of",
        "2026-10-01",
        "--format",
        "json",
    ]);
    let leads = scored["leads"].as_array().unwrap();
    assert_eq!(leads.len(), 5000);
    let mut scores: Vec<f64> = leads.iter().map(|l| l["score"].as_f64().unwrap()).collect();
    scores.sort_by(f64::total_cmp);
    scores.dedup();
    assert!(scores.len() > 1000, "{} distinct scores", scores.len());
    let engaged = leads
        .iter()
        .filter(|l| l["engagement"].as_f64().unwrap() != 0.0)
        .count();
    assert!(engaged > 2500, "{engaged} leads with engagement points");
    let mqls = scored["summary"]["mql"].as_u64().unwrap();
    assert!(mqls > 20 && mqls < 2500, "{mqls} MQLs");

    // On a company held out from training, replayed through both models, the suggested one
    // captures more at no more MQLs than the example model.
    let held_out = Company::generate(5000, 43);
    let backtest = |model: &str| {
        let report = json(&[
            "backtest",
            "--model",
            model,
            "--against",
            "examples/model.toml",
            "--leads",
            &held_out.file("leads.csv"),
            "--accounts",
            &held_out.file("accounts.csv"),
            "--events",
            &held_out.file("events.jsonl"),
            "--outcomes",
            &held_out.file("outcomes.csv"),
            "--format",
            "json",
        ]);
        let models = report["models"].as_array().unwrap();
        (models[0].clone(), models[1].clone())
    };
    let learned_mql = suggestion["mql"].as_i64().unwrap();
    let mut mql = learned_mql;
    let (learned, example) = loop {
        let (learned, example) = backtest(suggested);
        if learned["mqls"].as_u64() <= example["mqls"].as_u64() || mql >= learned_mql + 5 {
            break (learned, example);
        }
        // The threshold matched the example model's volume on the training company; the
        // held-out one differs a little. Raise it until it makes no more MQLs.
        let text = std::fs::read_to_string(suggested).unwrap();
        let text = text.replace(
            &format!("\nmql = {mql}\n"),
            &format!("\nmql = {}\n", mql + 1),
        );
        std::fs::write(suggested, text).unwrap();
        mql += 1;
    };
    let number = |m: &Value, key: &str| m[key].as_f64().unwrap();
    assert_eq!(example["mql"], 100.0);
    assert!(
        number(&learned, "mqls") <= number(&example, "mqls"),
        "{learned}\n{example}"
    );
    assert!(
        number(&learned, "recall_opportunities") > number(&example, "recall_opportunities") + 0.03,
        "{learned}\n{example}"
    );
    for key in [
        "revenue_captured",
        "pipeline_captured",
        "precision_opportunities",
    ] {
        assert!(
            number(&learned, key) > number(&example, key),
            "{key}: {learned}\n{example}"
        );
    }
}

#[test]
fn against_the_active_model_the_threshold_matches_its_volume() {
    let company = Company::generate(2000, 7);
    let base = company.history_args();
    let dir = tempfile::tempdir().unwrap();
    let suggested = dir.path().join("learned.toml");
    let suggested = suggested.to_str().unwrap();
    let more = [
        "--against",
        "examples/model.toml",
        "--suggest",
        suggested,
        "--models",
        "logistic",
        "--format",
        "json",
    ];
    let report = json(&args(&base, &more));
    let against = &report["history"]["against"];
    assert_eq!(against["model"], "b2b-default 2026.10.1");
    let share = against["share"].as_f64().unwrap();
    assert!(share > 0.01 && share < 0.5, "{against}");
    let suggestion = &report["suggestion"];
    let suggested_share = suggestion["share"].as_f64().unwrap();
    assert!(
        (suggested_share - share).abs() < 0.01,
        "{suggestion} {against}"
    );
    assert!(
        suggestion["threshold"]
            .as_str()
            .unwrap()
            .contains("as the active model qualifies"),
        "{suggestion}"
    );
    let text = std::fs::read_to_string(suggested).unwrap();
    assert!(text.contains("as many leads reach on the out-of-fold scores as the active model"));

    // The table says the same for people.
    let table = ok(&args(
        &base,
        &["--against", "examples/model.toml", "--models", "nb"],
    ));
    for expected in [
        "history: 2,000 leads",
        "window: 90d after creation (half-life 30d)",
        "against examples/model.toml (b2b-default 2026.10.1, MQL at 100)",
        "Ranked factors",
        "Demo Requested [event]",
    ] {
        assert!(table.contains(expected), "{expected}\n{table}");
    }
}

#[test]
fn history_mistakes_are_one_line_errors() {
    let company = Company::generate(200, 3);
    let base = company.history_args();
    let leads = company.file("leads.csv");
    let events = company.file("events.jsonl");

    let e = user_error(&["learn", "--leads", &leads, "--events", &events]);
    assert!(
        e.contains("--events is for learning from the history"),
        "{e}"
    );
    let e = user_error(&["learn", "--leads", &leads]);
    assert!(e.contains("--label: name the outcome column"), "{e}");
    let e = user_error(&args(&base, &["--label", "converted"]));
    assert!(e.contains("the label is `opportunity` or `won`"), "{e}");
    let e = user_error(&args(&base, &["--horizon", "soon"]));
    assert!(e.contains("--horizon: `soon` is not a duration"), "{e}");
    let e = user_error(&args(&base, &["--half-life", "0d"]));
    assert!(e.contains("--half-life"), "{e}");
    let e = user_error(&args(&base, &["--exclude", "colour"]));
    assert!(e.contains("--exclude: no column `colour`"), "{e}");
    let e = user_error(&args(&base, &["--against", "nowhere.toml"]));
    assert!(e.contains("nowhere.toml"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let outcomes = dir.path().join("outcomes.csv");
    std::fs::write(&outcomes, "lead,kind\nlead-0000001,won\n").unwrap();
    let e = user_error(&[
        "learn",
        "--leads",
        &leads,
        "--outcomes",
        outcomes.to_str().unwrap(),
    ]);
    assert!(
        e.contains("an outcomes file needs `lead_id` or `email`, `type` and `date` columns"),
        "{e}"
    );
    // Bad rows are skipped and reported; outcomes of unknown leads are counted.
    std::fs::write(
        &outcomes,
        "lead_id,type,date\nlead-0000001,opportunity,yesterday\nlead-0000002,deal,2026-01-01\nnobody,opportunity,2026-01-01\n",
    )
    .unwrap();
    let out = sluice(&[
        "learn",
        "--leads",
        &leads,
        "--events",
        &events,
        "--outcomes",
        outcomes.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("0 positive"),
        "no opportunity is left: {stderr}"
    );
}

#[test]
fn the_stored_history_learns_what_the_files_teach() {
    let company = Company::generate(1500, 5);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sluice.db").display());
    for (kind, file) in [
        ("leads", "leads.csv"),
        ("events", "events.jsonl"),
        ("outcomes", "outcomes.csv"),
    ] {
        ok(&["import", kind, &company.file(file), "--db", &db]);
    }
    let more = ["--models", "logistic", "--format", "json"];
    let from_files = json(&args(&company.history_args(), &more));
    let from_db = json(&args(
        &["learn".to_string(), "--db".to_string(), db.clone()],
        &more,
    ));
    assert_eq!(from_db["history"]["database"], db.as_str());
    for key in [
        "leads",
        "rows",
        "positives",
        "touches_used",
        "touches_after_cut_off",
    ] {
        assert_eq!(from_db["history"][key], from_files["history"][key], "{key}");
    }
    assert_eq!(
        from_db["models"][0]["roc_auc"]["mean"],
        from_files["models"][0]["roc_auc"]["mean"]
    );
    let e = user_error(&[
        "learn",
        "--db",
        &db,
        "--events",
        &company.file("events.jsonl"),
    ]);
    assert!(
        e.contains("--db reads the leads, events and outcomes from the database"),
        "{e}"
    );
}
