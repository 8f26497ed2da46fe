//! `sluice learn` as a user runs it: on the two real data sets (quality floors, the leakage
//! guard, a suggested model that `sluice model check` and `sluice score` accept) and on bad
//! input.

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

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and succeeds; returns stdout and stderr.
fn ok(args: &[&str]) -> (String, String) {
    let out = sluice(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn json(args: &[&str]) -> Value {
    let (stdout, _) = ok(args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
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

/// The columns X Education's sales team fills in after contact.
const POST_CONTACT: &str = "Tags,Lead Quality,Lead Profile,Last Notable Activity,Asymmetrique Activity Index,Asymmetrique Profile Index,Asymmetrique Activity Score,Asymmetrique Profile Score";

fn best(report: &Value) -> (String, f64) {
    let best = report["best"].as_str().unwrap();
    let model = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == best)
        .unwrap();
    (best.to_string(), model["roc_auc"]["mean"].as_f64().unwrap())
}

fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut wins = 0.0;
    let (mut positives, mut negatives) = (0.0, 0.0);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Walk up the scores: each positive beats the negatives below it, ties count half.
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let (p, n) = order[i..j].iter().fold((0.0, 0.0), |(p, n), &r| {
            if labels[r] {
                (p + 1.0, n)
            } else {
                (p, n + 1.0)
            }
        });
        wins += p * negatives + 0.5 * p * n;
        positives += p;
        negatives += n;
        i = j;
    }
    wins / (positives * negatives)
}

#[test]
fn x_education_beats_the_floor_and_its_suggested_model_scores_leads() {
    let dir = tempfile::tempdir().unwrap();
    // `sluice score` needs an `id` column: the same file with `Prospect ID` named so.
    let original = std::fs::read_to_string(datasets().join("xeducation/leads.csv")).unwrap();
    let leads = dir.path().join("leads.csv");
    std::fs::write(&leads, original.replacen("Prospect ID,", "id,", 1)).unwrap();
    let (leads, suggested) = (
        leads.to_str().unwrap(),
        dir.path()
            .join("learned.toml")
            .to_str()
            .unwrap()
            .to_string(),
    );
    let exclude = format!("{POST_CONTACT},Lead Number");
    let report = json(&[
        "learn",
        "--leads",
        leads,
        "--label",
        "Converted",
        "--missing",
        "Select",
        "--exclude",
        &exclude,
        "--id-column",
        "id",
        "--suggest",
        &suggested,
        "--format",
        "json",
    ]);
    assert_eq!(report["data"]["rows"], 9240);
    assert_eq!(report["data"]["positives"], 3561);
    let (model, auc) = best(&report);
    assert!(auc >= 0.89, "best {model}: ROC AUC {auc}");
    for m in report["models"].as_array().unwrap() {
        let folds = m["roc_auc"]["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 5);
        assert!(m["pr_auc"]["mean"].as_f64().unwrap() > 0.7, "{m}");
        assert!(m["brier"]["mean"].as_f64().unwrap() < 0.16, "{m}");
        assert_eq!(m["calibration"].as_array().unwrap().len(), 10);
        assert_eq!(m["lift"].as_array().unwrap().len(), 10);
    }
    assert!(report["leakage"]["warnings"].as_array().unwrap().is_empty());
    let suggestion = &report["suggestion"];
    assert!(
        suggestion["roc_auc"].as_f64().unwrap() > 0.87,
        "{suggestion}"
    );

    let check = json(&["model", "check", &suggested, "--format", "json"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["fit_rules"], suggestion["rules"]);
    assert_eq!(
        check["thresholds"]["mql"],
        suggestion["mql"].as_f64().unwrap()
    );

    // Scoring the same file with the suggested model ranks leads about as well as learned:
    // its conditions match the attributes `sluice score` reads.
    let scored = json(&[
        "score",
        "--model",
        &suggested,
        "--leads",
        leads,
        "--as-of",
        "2026-01-01",
        "--format",
        "json",
    ]);
    let converted: std::collections::HashMap<&str, bool> = original
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0], fields[6] == "1")
        })
        .collect();
    let scored = scored["leads"].as_array().unwrap();
    assert_eq!(scored.len(), 9240);
    let fits: Vec<f64> = scored.iter().map(|l| l["fit"].as_f64().unwrap()).collect();
    let labels: Vec<bool> = scored
        .iter()
        .map(|l| converted[l["id"].as_str().unwrap()])
        .collect();
    let auc = roc_auc(&fits, &labels);
    assert!(auc > 0.87, "scored ROC AUC {auc}");
    let mqls = scored
        .iter()
        .filter(|l| l["qualification"] == "mql")
        .count() as f64;
    let share = suggestion["share"].as_f64().unwrap();
    assert!(
        (mqls / 9240.0 - share).abs() < 0.1,
        "{mqls} MQLs, expected a share of {share}"
    );
    // The suggested model carries its calibration: each lead's probability, averaged over a
    // band of leads, is close to how many of them converted.
    let probability: Vec<f64> = scored
        .iter()
        .map(|l| l["probability"].as_f64().expect("a calibrated model"))
        .collect();
    let mean = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    for (low, high) in [(0.0, 0.2), (0.2, 0.6), (0.6, 1.0)] {
        let band: Vec<usize> = (0..probability.len())
            .filter(|&i| probability[i] >= low && probability[i] < high)
            .collect();
        let predicted = mean(&mut band.iter().map(|&i| probability[i]));
        let observed = mean(&mut band.iter().map(|&i| f64::from(u8::from(labels[i]))));
        assert!(
            (predicted - observed).abs() < 0.07,
            "{low}-{high}: predicted {predicted:.3}, observed {observed:.3}"
        );
    }
}

#[test]
fn bank_marketing_beats_the_floor() {
    // Fewer boosting rounds than the default keep this quick in debug builds; the default
    // does better (see docs/learn.md).
    let leads = datasets().join("uci-bank/bank-full.csv");
    let report = json(&[
        "learn",
        "--leads",
        leads.to_str().unwrap(),
        "--label",
        "y",
        "--exclude",
        "duration",
        "--models",
        "gbm",
        "--gbm-max-rounds",
        "60",
        "--format",
        "json",
    ]);
    assert_eq!(report["data"]["rows"], 45211);
    assert_eq!(report["data"]["positives"], 5289);
    let (model, auc) = best(&report);
    assert_eq!(model, "gbm");
    assert!(auc >= 0.78, "ROC AUC {auc}");
    let excluded: Vec<&str> = report["data"]["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["column"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, ["duration", "y"]);
}

#[test]
fn the_leakage_guard_flags_post_contact_columns() {
    let leads = datasets().join("xeducation/leads.csv");
    let (stdout, stderr) = ok(&[
        "learn",
        "--leads",
        leads.to_str().unwrap(),
        "--label",
        "Converted",
        "--missing",
        "Select",
        "--id-column",
        "Prospect ID,Lead Number",
        "--models",
        "nb",
    ]);
    assert!(
        stderr.contains("warning: column `Tags` alone predicts `Converted` with ROC AUC 0.9"),
        "{stderr}"
    );
    assert!(stderr.contains("--exclude \"Tags\""), "{stderr}");
    // The weaker post-contact columns: suspected, with their evidence.
    assert!(
        stderr.contains("warning: possible partial leak: column `Lead Quality` alone predicts `Converted` with ROC AUC 0.8")
            && stderr.contains("empty for 52 % of rows"),
        "{stderr}"
    );
    assert!(stdout.contains("leakage guard: "), "{stdout}");
    assert!(stdout.contains("naive Bayes"), "{stdout}");
}

/// A small deterministic CSV: `;`-separated, quoted, with a time column and a `Select`.
fn small_csv(rows: usize) -> String {
    let mut out = String::from("\"id\";\"created\";\"source\";\"visits\";\"stage\";\"won\"\n");
    let mut state: u64 = 42;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..rows {
        let source = ["Referral", "Ads", "Select", "Cold; \"list\""][(next() * 4.0) as usize];
        let visits = (next() * 10.0) as u32;
        let bonus = match source {
            "Referral" => 1.5,
            "Ads" => 0.0,
            _ => -1.0,
        };
        let log_odds = -1.0 + 0.3 * f64::from(visits) + bonus;
        let won = next() < 1.0 / (1.0 + (-log_odds).exp());
        let stage = if won { "Closed" } else { "Open" };
        out.push_str(&format!(
            "\"L{i}\";\"2025-{:02}-{:02}\";\"{}\";{visits};\"{stage}\";\"{}\"\n",
            1 + i * 12 / rows,
            1 + i % 28,
            source.replace('"', "\"\""),
            if won { "yes" } else { "no" }
        ));
    }
    out
}

#[test]
fn a_small_file_with_a_time_column_in_json_and_in_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.csv");
    std::fs::write(&path, small_csv(400)).unwrap();
    let path = path.to_str().unwrap();
    let base = [
        "learn",
        "--leads",
        path,
        "--label",
        "won",
        "--time-column",
        "created",
        "--missing",
        "Select",
        "--gbm-max-rounds",
        "50",
    ];
    let report = json(&[&base[..], &["--format", "json"]].concat());
    let time = &report["validation"]["time_split"];
    assert_eq!(
        (time["train_rows"].as_u64(), time["test_rows"].as_u64()),
        (Some(320), Some(80))
    );
    for m in report["models"].as_array().unwrap() {
        assert!(m["time_split"]["roc_auc"].as_f64().is_some(), "{m}");
        assert!(m["calibration_error"].as_f64().unwrap() >= 0.0, "{m}");
    }
    // With a time column, the model is chosen on the latest leads, as it will be used.
    let best = report["best"].as_str().unwrap();
    let on_latest = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            let auc = |m: &Value| m["time_split"]["roc_auc"].as_f64().unwrap();
            auc(a).total_cmp(&auc(b))
        })
        .unwrap();
    assert_eq!(on_latest["model"], best, "{report}");
    assert!(
        report["best_because"]
            .as_str()
            .unwrap()
            .contains("on the latest leads"),
        "{}",
        report["best_because"]
    );
    // `stage` is the outcome written down: flagged, in the JSON too.
    let warnings = report["leakage"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["column"], "stage");
    let excluded: Vec<(&str, &str)> = report["data"]["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["column"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        excluded,
        [
            ("id", "unique_text"),
            ("created", "time_column"),
            ("won", "label")
        ]
    );
    let source = report["data"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["column"] == "source")
        .unwrap();
    assert_eq!(source["levels"], 3, "`Select` is missing, not a level");

    let (stdout, stderr) = ok(&[&base[..], &["--exclude", "stage"]].concat());
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains("400 rows"), "{stdout}");
    assert!(stdout.contains("time split on `created`"), "{stdout}");
    assert!(stdout.contains("Lift by decile"), "{stdout}");
    assert!(stdout.contains("Top factors, naive Bayes"), "{stdout}");
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, small_csv(60)).unwrap();
    let good = good.to_str().unwrap();

    let e = user_error(&["learn", "--leads", good, "--label", "converted"]);
    assert_eq!(
        e.trim_end(),
        format!(
            "error: {good}: --label: no column `converted` (columns: id, created, source, visits, stage, won)"
        )
    );
    let e = user_error(&[
        "learn",
        "--leads",
        good,
        "--label",
        "won",
        "--exclude",
        "stage,colour",
    ]);
    assert!(
        e.contains(
            "--exclude: no column `colour` (columns: id, created, source, visits, stage, won)"
        ),
        "{e}"
    );

    let csv = small_csv(60).replacen("\"no\"\n", "\"maybe\"\n", 1);
    let line = csv.lines().position(|l| l.ends_with("\"maybe\"")).unwrap() + 1;
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, &csv).unwrap();
    let bad = bad.to_str().unwrap();
    let e = user_error(&["learn", "--leads", bad, "--label", "won"]);
    assert_eq!(
        e.trim_end(),
        format!(
            "error: {bad}:{line}: label `won`: `maybe` is not 0/1, yes/no, true/false or won/lost (name the outcome's values with --positive, and --negative to leave the others out)"
        )
    );
    let e = user_error(&[
        "learn",
        "--leads",
        good,
        "--label",
        "won",
        "--time-column",
        "source",
    ]);
    assert!(e.contains("time column `source`: `"), "{e}");

    let e = user_error(&["learn", "--leads", good, "--label", "won", "--folds", "1"]);
    assert_eq!(
        e.trim_end(),
        "error: --folds 1: at least 2 folds are needed"
    );
    let e = user_error(&["learn", "--leads", "nowhere.csv", "--label", "won"]);
    assert!(e.contains("cannot open nowhere.csv"), "{e}");
    let jsonl = dir.path().join("leads.jsonl");
    std::fs::write(&jsonl, "{\"won\": true}\n").unwrap();
    let e = user_error(&[
        "learn",
        "--leads",
        jsonl.to_str().unwrap(),
        "--label",
        "won",
    ]);
    assert!(e.contains("reads CSV files"), "{e}");
    let out = sluice(&[
        "learn", "--leads", good, "--label", "won", "--models", "forest",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("forest"));
}

/// A CRM's export as it comes: amounts with currency signs and separators, shares with `%`,
/// `N/A` and `-` for nothing, the outcome as a deal stage, open deals among the closed ones.
fn crm_export(rows: usize) -> String {
    let mut state = 17u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut out =
        String::from("Record ID,Annual Revenue,Number of Employees,Discount,Source,Deal Stage\n");
    for i in 0..rows {
        let employees = (50.0 + 20_000.0 * next()) as u64;
        let big = employees > 8_000;
        let won = next() < if big { 0.7 } else { 0.2 };
        let stage = match (i % 10, won) {
            (0, _) => "Negotiation",
            (1, _) if i % 20 == 1 => "",
            (_, true) => "Closed Won",
            (_, false) => "Closed Lost",
        };
        let revenue = if i % 7 == 0 {
            "N/A".to_string()
        } else {
            let dollars = employees * 120_000;
            let text = dollars.to_string();
            let mut grouped = String::new();
            for (k, c) in text.chars().enumerate() {
                if k > 0 && (text.len() - k).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            format!("\"${grouped}\"")
        };
        let employees = if employees >= 1000 {
            format!("\"{},{:03}\"", employees / 1000, employees % 1000)
        } else {
            employees.to_string()
        };
        let discount = format!("{} %", (next() * 30.0) as u32);
        let source = ["Referral", "Ads", "-", "Webinar"][(next() * 4.0) as usize];
        out.push_str(&format!(
            "r{i},{revenue},{employees},{discount},{source},{stage}\n"
        ));
    }
    out
}

#[test]
fn a_crm_export_is_read_as_sales_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deals.csv");
    std::fs::write(&path, crm_export(400)).unwrap();
    let path = path.to_str().unwrap();
    let base = [
        "learn",
        "--leads",
        path,
        "--label",
        "Deal Stage",
        "--models",
        "logistic",
        "--format",
        "json",
    ];

    // Closed deals are the outcome; open ones and empty stages are left out and counted.
    let report = json(
        &[
            &base[..],
            &["--positive", "Closed Won", "--negative", "Closed Lost"],
        ]
        .concat(),
    );
    let data = &report["data"];
    assert_eq!(
        data["unlabelled"], 60,
        "40 in negotiation, 20 empty: {data}"
    );
    assert_eq!(data["rows"], 340, "{data}");
    let kind = |column: &str| {
        data["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["column"] == column)
            .unwrap_or_else(|| panic!("no feature {column}: {data}"))["kind"]
            .clone()
    };
    // Separators, currencies and percent signs are numbers; N/A and - are missing.
    assert_eq!(kind("Annual Revenue"), "numeric");
    assert_eq!(kind("Number of Employees"), "numeric");
    assert_eq!(kind("Discount"), "numeric");
    assert_eq!(kind("Source"), "categorical");
    let markers: Vec<(&str, u64)> = data["missing_markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["marker"].as_str().unwrap(), m["cells"].as_u64().unwrap()))
        .collect();
    assert!(
        markers.iter().any(|(m, n)| *m == "N/A" && *n > 30),
        "{markers:?}"
    );
    assert!(
        markers.iter().any(|(m, n)| *m == "-" && *n > 30),
        "{markers:?}"
    );
    // The planted signal: more employees, more wins.
    let (_, auc) = best(&report);
    assert!(auc > 0.65, "ROC AUC {auc}");

    // Without --negative, every stage but the positive one is a loss; empty ones still left out.
    let report = json(&[&base[..], &["--positive", "closed won"]].concat());
    assert_eq!(report["data"]["unlabelled"], 20, "{}", report["data"]);

    // Without either, the deal stages' own words are read; an open stage is named with its line.
    let e = user_error(&base);
    assert!(
        e.contains("deals.csv:2: label `Deal Stage`: `Negotiation` is not 0/1")
            && e.contains("--positive"),
        "{e}"
    );
    // Flags of a file's label are refused from the history.
    let e = user_error(&[
        "learn",
        "--leads",
        path,
        "--outcomes",
        path,
        "--positive",
        "Won",
    ]);
    assert!(e.contains("--positive is for a leads file"), "{e}");
}

#[test]
fn the_suggested_threshold_follows_an_aim_and_weak_evidence_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.csv");
    std::fs::write(&file, small_csv(400)).unwrap();
    let file = file.to_str().unwrap();
    let suggested = dir.path().join("s.toml");
    let suggested = suggested.to_str().unwrap();
    let run = |extra: &[&'static str]| -> Vec<String> {
        let base = [
            "learn",
            "--leads",
            file,
            "--label",
            "won",
            "--exclude",
            "stage",
            "--models",
            "logistic",
            "--suggest",
            suggested,
        ];
        base.iter().chain(extra).map(|a| a.to_string()).collect()
    };
    fn strs(args: &[String]) -> Vec<&str> {
        args.iter().map(String::as_str).collect()
    }

    // An aim: MQLs that convert at least 60 % of the time.
    let report = json(&strs(&run(&["--precision", "60%", "--format", "json"])));
    let s = &report["suggestion"];
    assert!(s["precision"].as_f64().unwrap() >= 0.6, "{s}");
    assert!(s["threshold"].as_str().unwrap().contains("60.0 %"), "{s}");
    // Sales' capacity: 2 MQLs a week over the year the leads were created in (about 48 weeks
    // of 400 leads: about 24 %).
    let report = json(&strs(&run(&[
        "--capacity",
        "2",
        "--time-column",
        "created",
        "--format",
        "json",
    ])));
    let share = report["suggestion"]["share"].as_f64().unwrap();
    assert!((0.18..0.32).contains(&share), "{share}");
    let e = user_error(&strs(&run(&["--capacity", "2"])));
    assert!(
        e.contains("--capacity needs the leads' creation times"),
        "{e}"
    );
    let e = user_error(&strs(&run(&["--precision", "0.6", "--recall", "0.5"])));
    assert!(e.contains("give one aim"), "{e}");
    let e = user_error(&strs(&run(&["--recall", "120%"])));
    assert!(e.contains("--recall 120%"), "{e}");

    // Asked to qualify most leads: said so.
    let (_, stderr) = ok(&strs(&run(&["--mql-share", "0.8"])));
    assert!(
        stderr.contains("warning: suggested model: the suggested MQL threshold qualifies 8"),
        "{stderr}"
    );

    // Few rows: weak evidence, said; the file is still written for review.
    let few = dir.path().join("few.csv");
    std::fs::write(&few, small_csv(60)).unwrap();
    std::fs::remove_file(suggested).ok();
    let (_, stderr) = ok(&[
        "learn",
        "--leads",
        few.to_str().unwrap(),
        "--label",
        "won",
        "--exclude",
        "stage",
        "--folds",
        "3",
        "--suggest",
        suggested,
    ]);
    assert!(
        stderr.contains("warning: suggested model: weak evidence: 60 rows"),
        "{stderr}"
    );

    // No signal at all: no file to adopt.
    let mut noise = String::from("id,colour,size,won\n");
    let mut state = 9u64;
    for i in 0..600 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let (a, b, c) = (state >> 60, (state >> 50) % 7, (state >> 40) % 3);
        noise.push_str(&format!(
            "n{i},{},{b},{}\n",
            ["red", "blue", "green", "grey"][(a % 4) as usize],
            u8::from(c == 0)
        ));
    }
    let noise_file = dir.path().join("noise.csv");
    std::fs::write(&noise_file, noise).unwrap();
    std::fs::remove_file(suggested).ok();
    let report = json(&[
        "learn",
        "--leads",
        noise_file.to_str().unwrap(),
        "--label",
        "won",
        "--models",
        "logistic",
        "--suggest",
        suggested,
        "--format",
        "json",
    ]);
    let warnings = report["suggestion"]["warnings"].to_string();
    assert!(warnings.contains("no better than chance"), "{warnings}");
    assert!(report["suggested_file"].is_null(), "{report}");
    assert!(!std::path::Path::new(suggested).exists());
}

#[test]
fn a_partial_leak_is_flagged_with_its_evidence() {
    // `rating`: filled in by sales after contact, mostly for the leads that converted, and
    // strong where filled; `visits` is a real signal, `colour` none.
    let mut csv = String::from("id,visits,colour,rating,won\n");
    let mut state = 5u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..600 {
        let visits = (next() * 10.0) as u32;
        let won = next() < 1.0 / (1.0 + (-(-2.0 + 0.35 * f64::from(visits))).exp());
        let colour = ["red", "blue", "green"][(next() * 3.0) as usize];
        let filled = next() < if won { 0.8 } else { 0.25 };
        let rating = match (filled, won, next() < 0.75) {
            (false, _, _) => "",
            (true, true, true) | (true, false, false) => "hot",
            _ => "cold",
        };
        csv.push_str(&format!(
            "p{i},{visits},{colour},{rating},{}\n",
            u8::from(won)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leak.csv");
    std::fs::write(&file, csv).unwrap();
    let args = [
        "learn",
        "--leads",
        file.to_str().unwrap(),
        "--label",
        "won",
        "--models",
        "logistic",
    ];
    let report = json(&[&args[..], &["--format", "json"]].concat());
    let suspects = &report["leakage"]["suspects"];
    let rating = suspects
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["column"] == "rating")
        .unwrap_or_else(|| panic!("rating not suspected: {suspects}"));
    let message = rating["message"].as_str().unwrap();
    assert!(
        message.contains("filled for 78 % of the converted rows")
            && message.contains("--exclude \"rating\""),
        "{message}"
    );
    assert!(
        suspects
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["column"] != "colour"),
        "{suspects}"
    );
    assert_eq!(report["leakage"]["warnings"], serde_json::json!([]));
    let (stdout, stderr) = ok(&args);
    assert!(
        stderr.contains("warning: possible partial leak: column `rating`"),
        "{stderr}"
    );
    assert!(stdout.contains("suspect: column `rating`"), "{stdout}");
}

#[test]
fn dates_are_learned_as_their_age_month_and_weekday() {
    // `engaged` (ISO with a time), `first_call` (day first: some days are past 12) and
    // `signed_up` (month first): recent engagement converts.
    let mut csv = String::from("id,engaged,first_call,signed_up,channel,won\n");
    let mut state = 3u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..500 {
        let days_ago = (next() * 300.0) as i64;
        let channel = ["web", "event", "partner"][(next() * 3.0) as usize];
        let chance =
            if days_ago < 60 { 0.5 } else { 0.1 } + if channel == "partner" { 0.3 } else { 0.0 };
        let won = next() < chance;
        let engaged = sluice_core::Timestamp::parse("2026-11-30T12:00:00Z")
            .unwrap()
            .millis()
            - days_ago * 86_400_000;
        let engaged = chrono::DateTime::from_timestamp_millis(engaged).unwrap();
        let call = engaged + chrono::Duration::days((next() * 20.0) as i64);
        let signed = engaged - chrono::Duration::days((next() * 40.0) as i64);
        csv.push_str(&format!(
            "c{i},{},{},{},{channel},{}\n",
            engaged.format("%Y-%m-%d %H:%M"),
            call.format("%d/%m/%Y"),
            signed.format("%-m/%-d/%Y"),
            u8::from(won)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dates.csv");
    std::fs::write(&file, csv).unwrap();
    let suggested = dir.path().join("s.toml");
    let report = json(&[
        "learn",
        "--leads",
        file.to_str().unwrap(),
        "--label",
        "won",
        "--models",
        "logistic",
        "--suggest",
        suggested.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let data = &report["data"];
    let excluded: Vec<(&str, &str)> = data["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["column"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    for column in ["engaged", "first_call", "signed_up"] {
        assert!(excluded.contains(&(column, "date")), "{excluded:?}");
    }
    let features: Vec<&str> = data["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["column"].as_str().unwrap())
        .collect();
    for derived in [
        "engaged: days before",
        "engaged: month",
        "first_call: weekday",
    ] {
        assert!(features.contains(&derived), "{features:?}");
    }
    // The age carries the signal the logistic model finds.
    let (_, auc) = best(&report);
    assert!(auc > 0.65, "ROC AUC {auc}");
    // No rule per day in the suggested file; the dates are named as left out.
    let text = std::fs::read_to_string(&suggested).unwrap();
    assert!(
        !text.contains("lead.engaged") && !text.contains("2026-"),
        "{text}"
    );
    let left_out = report["suggestion"]["left_out"].to_string();
    assert!(left_out.contains("`engaged`: a date"), "{left_out}");
}
