//! Replicas: several services on one PostgreSQL database ingest one company's events at the
//! same time, the events of the same leads going to both, and end with the scores and stages a
//! single service computes from the same events. A replica stopped midway: the other goes on.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_server::{Config, Running};
use sluice_store::Store;
use sluice_store::testing::PgDatabase;

/// The example model without decay, so scores do not depend on when they were computed.
fn model() -> String {
    sluice_server::DEFAULT_MODEL
        .lines()
        .map(|l| match l.trim_start().starts_with("half_life") {
            true => "half_life = \"never\"",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn start(url: &str) -> Running {
    let config = Config {
        database_url: url.to_string(),
        bind: "127.0.0.1:0".parse().unwrap(),
        model: Some((model(), "model.toml".into())),
        admin_token: Some("admin-token".into()),
        write_key: Some("wk_test".into()),
        rescore_every: None,
        sla_every: None,
        clock: Default::default(),
        limits: Default::default(),
        cache_leads: sluice_server::live::DEFAULT_CAPACITY,
        session_ttl: sluice_server::trust::SESSION_TTL,
        nats: None,
    };
    sluice_server::start(config)
        .await
        .expect("the service starts")
}

/// A synthetic company's Segment messages, in file order.
fn company(leads: u64) -> Vec<Value> {
    let config = sluice_synth::Config {
        leads,
        seed: 7,
        ..sluice_synth::Config::default()
    };
    let (mut a, mut l, mut e, mut o, mut t) = (vec![], vec![], vec![], vec![], vec![]);
    let mut out = sluice_synth::Outputs {
        accounts: &mut a,
        leads: &mut l,
        events: &mut e,
        outcomes: &mut o,
        truth: &mut t,
    };
    sluice_synth::generate(&config, &mut out, &mut |_| {}).unwrap();
    std::str::from_utf8(&e)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn send(http: &reqwest::Client, running: &Running, batch: &[Value]) {
    let response = http
        .post(format!("http://{}/v1/batch", running.addr))
        .basic_auth("wk_test", Some(""))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Every stored lead: score and stage.
async fn stored(url: &str) -> BTreeMap<String, (f64, String)> {
    let store = Store::connect(url).await.unwrap();
    let mut out = BTreeMap::new();
    let mut after = String::new();
    loop {
        let page = store.leads_after(&after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for l in page {
            out.insert(l.id, (l.score, l.stage.to_string()));
        }
    }
    out
}

#[tokio::test]
async fn replicas_on_one_database_agree_with_a_single_service() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let messages = company(120);
    let batches: Vec<&[Value]> = messages.chunks(100).collect();
    let http = reqwest::Client::new();

    // One service alone, on its own database: what the replicas must end with.
    let dir = tempfile::tempdir().unwrap();
    let alone_url = format!("sqlite://{}", dir.path().join("alone.db").display());
    let alone = start(&alone_url).await;
    for batch in &batches {
        send(&http, &alone, batch).await;
    }
    drop(alone);
    let expected = stored(&alone_url).await;
    assert!(expected.len() > 100, "{} leads", expected.len());

    // Two replicas, sent alternate batches at the same time: every lead's events reach both.
    let a = start(&pg.url).await;
    let b = start(&pg.url).await;
    let (even, odd): (Vec<_>, Vec<_>) = batches.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    tokio::join!(
        async {
            for (_, batch) in &even {
                send(&http, &a, batch).await;
            }
        },
        async {
            for (_, batch) in &odd {
                send(&http, &b, batch).await;
            }
        }
    );
    let got = stored(&pg.url).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same leads"
    );
    for (id, (score, stage)) in &expected {
        let (s, st) = &got[id];
        assert!(
            (s - score).abs() < 1e-3,
            "lead {id}: {s} on the replicas, {score} alone"
        );
        assert_eq!(st, stage, "lead {id}");
    }
    // Both replicas answer every lead as stored.
    for (id, (score, _)) in got.iter().take(40) {
        for replica in [&a, &b] {
            let lead: Value = http
                .get(format!("http://{}/api/v1/leads/{id}", replica.addr))
                .bearer_auth("admin-token")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let answered = lead["lead"]["score"].as_f64().unwrap();
            assert!((answered - score).abs() < 1e-3, "lead {id}: {lead}");
        }
    }

    // One replica goes; the other takes the same events again (a retry: counted once) and
    // goes on.
    drop(a);
    let replayed = &batches[0];
    let response: Value = http
        .post(format!("http://{}/v1/batch", b.addr))
        .basic_auth("wk_test", Some(""))
        .json(&json!({ "batch": replayed }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["new"], 0, "{response}");
    assert_eq!(stored(&pg.url).await, got, "nothing counted twice");
}
