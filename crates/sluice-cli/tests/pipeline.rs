//! One history pipeline: a generated company, with aliases that merge leads, an alias cycle,
//! a link re-pointed later (written before the earlier one), an email identifying a lead under
//! another id, and traits set at the same millisecond in both orders, read by every reader of
//! history: `sluice score`, `sluice backtest`, `sluice learn`'s history, and the service, once
//! imported with `sluice import` and once sent over HTTP to `sluice serve`. All see the same
//! leads with the same scores and stages.
//!
//! The model is the example model with decay turned off, so scores do not depend on the moment
//! they are computed and the service's (scored when the events arrived) compare exactly.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_core::{Stage, Timestamp};
use sluice_store::Store;

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sluice runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sluice(dir, args);
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A message line.
fn line(v: Value) -> String {
    format!("{v}\n")
}

/// Messages that test identity and trait rules, given some of the company's leads.
fn tricky_messages(leads: &[(String, String)]) -> Vec<String> {
    let t = |day: u32, ms: u32| format!("2026-05-{day:02}T10:00:00.{ms:03}Z");
    let (l0, l1, l2, l3, l4, l5) = (
        &leads[0].0,
        &leads[1].0,
        &leads[2],
        &leads[3].0,
        &leads[4].0,
        &leads[5].0,
    );
    let mut out = Vec::new();
    // Two leads of the file turn out to be one person.
    out.push(line(
        json!({"type": "alias", "messageId": "x-alias-1", "previousId": l0, "userId": l1, "timestamp": t(2, 0)}),
    ));
    // A cycle in bad data: both ids stand for the least of them.
    for (n, id) in ["cyc-b", "cyc-a"].iter().enumerate() {
        out.push(line(json!({"type": "identify", "messageId": format!("x-cyc-id-{n}"), "userId": id,
            "traits": {"title": "VP of Marketing", "seniority": "vp", "email": format!("{id}@example.org")}, "timestamp": t(3, 0)})));
        out.push(line(
            json!({"type": "track", "messageId": format!("x-cyc-demo-{n}"), "userId": id,
            "event": "Demo Requested", "timestamp": t(4, n as u32)}),
        ));
    }
    out.push(line(
        json!({"type": "alias", "messageId": "x-cyc-1", "previousId": "cyc-b", "userId": "cyc-a", "timestamp": t(5, 0)}),
    ));
    out.push(line(
        json!({"type": "alias", "messageId": "x-cyc-2", "previousId": "cyc-a", "userId": "cyc-b", "timestamp": t(6, 0)}),
    ));
    // A visitor linked to one lead, later to another: the later link wins, though it comes
    // first in the file.
    out.push(line(json!({"type": "identify", "messageId": "x-relink-2", "userId": l5, "anonymousId": "anon-relink", "timestamp": t(9, 0)})));
    for n in 0..3 {
        out.push(line(json!({"type": "page", "messageId": format!("x-relink-page-{n}"), "anonymousId": "anon-relink",
            "properties": {"path": "/pricing"}, "timestamp": t(7, n)})));
    }
    out.push(line(json!({"type": "identify", "messageId": "x-relink-1", "userId": l4, "anonymousId": "anon-relink", "timestamp": t(8, 0)})));
    // The lead's email, written in capitals, as another system's user id.
    out.push(line(
        json!({"type": "track", "messageId": "x-email-1", "userId": l2.1.to_uppercase(),
        "event": "Trial Started", "timestamp": t(10, 0)}),
    ));
    // Traits set at the same millisecond with different values, in both orders.
    for (lead, order) in [(l3, [0, 1]), (l4, [1, 0])] {
        for i in order {
            let traits = [
                json!({"title": "Intern", "seniority": "entry"}),
                json!({"title": "Chief Revenue Officer"}),
            ][i]
                .clone();
            out.push(line(
                json!({"type": "identify", "messageId": format!("x-tie-{lead}-{i}"), "userId": lead,
                "traits": traits, "timestamp": t(11, 0)}),
            ));
        }
    }
    out
}

/// The leads file's rows as `identify` messages, as `sluice import leads` makes them.
fn leads_as_messages(path: &Path) -> Vec<Value> {
    let mut reader = csv::Reader::from_path(path).expect("leads.csv");
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.expect("a row");
            let mut traits = serde_json::Map::new();
            let mut id = String::new();
            for (name, cell) in header.iter().zip(r.iter()) {
                if name == "id" {
                    id = cell.to_string();
                } else if !cell.is_empty() {
                    traits.insert(name.clone(), Value::String(cell.to_string()));
                }
            }
            let created = traits["created_at"].clone();
            json!({"type": "identify", "messageId": format!("lead-row-{id}"), "userId": id, "traits": traits, "timestamp": created})
        })
        .collect()
}

/// Score, fit and stage of every lead stored in a database.
fn stored(db: &str) -> BTreeMap<String, (f64, f64, String)> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = Store::connect(db).await.expect("the database");
        let mut out = BTreeMap::new();
        let mut after = String::new();
        loop {
            let page = store.leads_after(&after, 1000).await.expect("leads");
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for l in page {
                out.insert(l.id, (l.score, l.fit, l.stage.to_string()));
            }
        }
        out
    })
}

/// When each lead stored in a database first became an MQL.
fn first_mqls(db: &str) -> BTreeMap<String, Timestamp> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = Store::connect(db).await.expect("the database");
        let mut out: BTreeMap<String, Timestamp> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = store.stage_moves_after(after, 1000).await.expect("moves");
            let Some(last) = page.last() else { break };
            after = last.seq;
            for m in page.into_iter().filter(|m| m.to == Stage::Mql) {
                let at = Timestamp::from_millis(m.at_ms);
                let first = out.entry(m.lead_id).or_insert(at);
                *first = (*first).min(at);
            }
        }
        out
    })
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("an address")
        .port()
}

/// Starts `sluice serve` on `db` with `model`, and waits until it is ready.
fn serve(dir: &Path, db: &str, model: &Path) -> (Service, String) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--db",
            db,
            "--bind",
            &bind,
            "--model",
            model.to_str().expect("UTF-8 path"),
            "--admin-token",
            "tok",
            "--write-key",
            "wk",
            "--rescore-every",
            "never",
            "--sla-every",
            "never",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice serve starts");
    let service = Service(child);
    let url = format!("http://{bind}");
    for _ in 0..300 {
        if let Ok(r) = reqwest::blocking_get(&format!("{url}/readyz"))
            && r
        {
            return (service, url);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("sluice serve on {db} did not become ready");
}

mod reqwest {
    //! Just enough HTTP for the test, over the async client.
    pub fn blocking_get(url: &str) -> Result<bool, ()> {
        let runtime = tokio::runtime::Runtime::new().map_err(|_| ())?;
        runtime.block_on(async {
            let r = ::reqwest::get(url).await.map_err(|_| ())?;
            Ok(r.status().is_success())
        })
    }
}

#[test]
fn every_reader_of_history_sees_the_same_leads_scores_and_stages() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    ok(
        d,
        &[
            "generate",
            "--leads",
            "150",
            "--seed",
            "17",
            "--end",
            "2026-06-01",
            "--out",
            ".",
        ],
    );
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/model.toml"
    ))
    .expect("the example model");
    let no_decay: String = example
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("half_life") {
                "half_life = \"never\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let model = d.join("model.toml");
    std::fs::write(&model, no_decay).expect("the model");

    // The company's first leads, with their emails.
    let mut reader = csv::Reader::from_path(d.join("leads.csv")).expect("leads.csv");
    let leads: Vec<(String, String)> = reader
        .records()
        .take(6)
        .map(|r| {
            let r = r.expect("a row");
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    let mut events = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("events.jsonl"))
        .expect("events.jsonl");
    for l in tricky_messages(&leads) {
        events.write_all(l.as_bytes()).expect("written");
    }
    drop(events);

    // `sluice score`, far enough ahead that every event counts.
    let scored: Value = serde_json::from_str(&ok(
        d,
        &[
            "score",
            "--model",
            "model.toml",
            "--leads",
            "leads.csv",
            "--events",
            "events.jsonl",
            "--as-of",
            "2031-01-01",
            "--format",
            "json",
        ],
    ))
    .expect("JSON");
    let by_score: BTreeMap<String, (f64, f64, String)> = scored["leads"]
        .as_array()
        .expect("leads")
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                (
                    l["score"].as_f64().unwrap(),
                    l["fit"].as_f64().unwrap(),
                    l["qualification"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    // The rules at work: merged leads, the cycle's least id, the later link, the tie.
    assert!(
        !by_score.contains_key(&leads[0].0),
        "{} merged into {}",
        leads[0].0,
        leads[1].0
    );
    assert!(by_score.contains_key("cyc-a") && !by_score.contains_key("cyc-b"));
    assert!(!by_score.contains_key(&leads[2].1.to_uppercase()));
    let summary = &scored["summary"];

    // `sluice backtest` and `sluice learn` read the same leads.
    let backtest: Value = serde_json::from_str(&ok(
        d,
        &[
            "backtest",
            "--model",
            "model.toml",
            "--leads",
            "leads.csv",
            "--events",
            "events.jsonl",
            "--outcomes",
            "outcomes.csv",
            "--format",
            "json",
        ],
    ))
    .expect("JSON");
    for (mine, theirs) in [
        ("leads", "leads"),
        ("leads_from_file", "leads_from_file"),
        ("leads_from_events", "leads_from_events"),
        ("anonymous_visitors", "anonymous_visitors"),
    ] {
        assert_eq!(backtest["data"][mine], summary[theirs], "backtest {mine}");
    }

    let learned: Value = serde_json::from_str(&ok(
        d,
        &[
            "learn",
            "--leads",
            "leads.csv",
            "--events",
            "events.jsonl",
            "--outcomes",
            "outcomes.csv",
            "--models",
            "logistic",
            "--folds",
            "2",
            "--format",
            "json",
        ],
    ))
    .expect("JSON");
    assert_eq!(
        learned["history"]["leads"], summary["leads"],
        "learn's leads"
    );

    // The service, imported: the same leads, scores and stages.
    let db_a = format!("sqlite://{}", d.join("imported.db").display());
    drop(serve(d, &db_a, &model));
    ok(d, &["import", "leads", "leads.csv", "--db", &db_a]);
    ok(d, &["import", "events", "events.jsonl", "--db", &db_a]);
    // The service, over HTTP, in batches, events before the leads file's rows.
    let db_b = format!("sqlite://{}", d.join("http.db").display());
    let (service, url) = serve(d, &db_b, &model);
    let mut messages: Vec<Value> = std::fs::read_to_string(d.join("events.jsonl"))
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a message"))
        .collect();
    messages.extend(leads_as_messages(&d.join("leads.csv")));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let client = ::reqwest::Client::new();
        for chunk in messages.chunks(250) {
            let r = client
                .post(format!("{url}/v1/batch"))
                .basic_auth("wk", Some(""))
                .json(&json!({"batch": chunk}))
                .send()
                .await
                .expect("the service answers");
            assert!(
                r.status().is_success(),
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
    });
    drop(service);
    // `sluice import` into a running service: the same door as HTTP.
    let db_c = format!("sqlite://{}", d.join("import-url.db").display());
    let (service, url) = serve(d, &db_c, &model);
    for (kind, file) in [("events", "events.jsonl"), ("leads", "leads.csv")] {
        ok(
            d,
            &["import", kind, file, "--url", &url, "--write-key", "wk"],
        );
    }

    for (name, db) in [
        ("imported", &db_a),
        ("over HTTP", &db_b),
        ("imported while serving", &db_c),
    ] {
        let stored = stored(db);
        let ids: Vec<&String> = stored.keys().collect();
        let expected: Vec<&String> = by_score.keys().collect();
        assert_eq!(ids, expected, "{name}: the same leads");
        for (id, (score, fit, qualification)) in &by_score {
            let (s, f, stage) = &stored[id];
            assert!(
                (s - score).abs() < 1e-3 && (f - fit).abs() < 1e-3,
                "{name}: lead {id}: stored score {s} (fit {f}), sluice score {score} (fit {fit})"
            );
            match qualification.as_str() {
                "mql" => assert_eq!(stage, "mql", "{name}: lead {id}"),
                "disqualified" => assert_eq!(stage, "disqualified", "{name}: lead {id}"),
                _ => assert!(
                    stage == "lead" || stage == "mql",
                    "{name}: lead {id} is {stage}, sluice score says {qualification}"
                ),
            }
        }
    }

    // First MQLs are dated by the events that made them, as the backtest dates them: the same
    // MQLs in the same weeks. (Over HTTP the leads' rows came after their events, so a lead
    // could qualify on its engagement alone before its fit was known: a streaming service
    // dates an MQL by what it knew when it qualified.)
    let period = &backtest["period"];
    let from = Timestamp::parse(period["from"].as_str().unwrap()).unwrap();
    let to = Timestamp::parse(period["to"].as_str().unwrap()).unwrap();
    let weekly = &backtest["models"][0]["weekly"];
    for (name, db) in [("imported", &db_a)] {
        let leads = stored(db);
        let mut weeks = vec![0u64; weekly.as_array().unwrap().len()];
        for (lead, at) in first_mqls(db) {
            if leads.contains_key(&lead) && at >= from && at <= to {
                let week = (at.millis() - from.millis()) / (7 * 86_400_000);
                weeks[week as usize] += 1;
            }
        }
        assert_eq!(
            &json!(weeks),
            weekly,
            "{name}: MQLs per week, the service against the backtest"
        );
    }

    // Outcomes too, while it serves: leads move to their opportunities.
    let summary: Value = serde_json::from_str(&ok(
        d,
        &[
            "import",
            "outcomes",
            "outcomes.csv",
            "--url",
            &url,
            "--admin-token",
            "tok",
            "--format",
            "json",
        ],
    ))
    .expect("JSON");
    assert!(summary["imported"].as_u64().unwrap() > 0, "{summary}");
    let stages = stored(&db_c);
    assert!(
        stages
            .values()
            .any(|(_, _, stage)| stage == "opportunity" || stage == "won" || stage == "lost"),
        "outcomes moved no lead"
    );
    drop(service);
}
