//! Load test for ingestion: the service's `/v1/batch` and `/v1/track` throughput and latency,
//! against the raw insert rate of the same rows into the same kind of database, in one run.
//!
//! cargo run --release -p sluice-server --example load -- [EVENTS] [DB_DIR_OR_POSTGRES_URL]
//!
//! Steps: generate a synthetic company's Segment events; (1) insert them raw into a fresh
//! database through the store, 5,000 rows per commit (the ceiling); (2) start the service on
//! another fresh database and post them as `/v1/batch` requests of 500 messages from 8
//! concurrent clients; (3) send single `/v1/track` calls at 500 requests per second for 10
//! seconds and report latency percentiles. The load generator runs on the same machine.

use std::sync::Arc;

// The same allocator as the `sluice` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_server::Config;
use sluice_store::{NewEvent, Store};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let target = args.get(2).cloned();
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| match &target {
        Some(t) if t.starts_with("postgres") => t.clone(),
        Some(t) => format!("sqlite://{t}/{name}.db"),
        None => format!("sqlite://{}/{name}.db", dir.path().display()),
    };

    let messages = synthetic(n);
    let n = messages.len();
    eprintln!(
        "{n} Segment messages, {:.0} bytes on average",
        messages.iter().map(|m| m.to_string().len()).sum::<usize>() as f64 / n as f64
    );

    // (1) The ceiling: the same rows, inserted raw, 5,000 per commit.
    let raw_store = Store::connect(&url("raw")).await.unwrap();
    let rows: Vec<NewEvent> = messages
        .iter()
        .map(|m| NewEvent {
            message_id: m["messageId"].as_str().unwrap().to_string(),
            kind: m["type"].as_str().unwrap().to_string(),
            user_id: m["userId"].as_str().map(str::to_string),
            anonymous_id: m["anonymousId"].as_str().map(str::to_string),
            at_ms: 0,
            received_ms: 0,
            source: "load".into(),
            message: m.to_string(),
        })
        .collect();
    let started = Instant::now();
    for chunk in rows.chunks(5_000) {
        let mut tx = raw_store.begin().await.unwrap();
        tx.append(chunk).await.unwrap();
        tx.commit().await.unwrap();
    }
    let raw_rate = n as f64 / started.elapsed().as_secs_f64();
    eprintln!("raw insert (ceiling): {raw_rate:.0} rows/s");

    // (2) The service: /v1/batch, 500 messages a request, 8 clients.
    let running = sluice_server::start(Config {
        database_url: url("service"),
        bind: "127.0.0.1:0".parse().unwrap(),
        model: None,
        admin_token: Some("admin".into()),
        write_key: Some("wk_load".into()),
        rescore_every: None,
        sla_every: None,
        clock: Default::default(),
        cache_leads: sluice_server::live::DEFAULT_CAPACITY,
        nats: None,
    })
    .await
    .unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    // Serialized before the clock starts: the generator's JSON work is not the service's.
    let batches: Vec<Vec<u8>> = messages
        .chunks(500)
        .map(|c| json!({"batch": c}).to_string().into_bytes())
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (queue, http, base) = (Arc::clone(&queue), http.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let Some(batch) = queue.lock().unwrap().next() else {
                    break;
                };
                let r = http
                    .post(format!("{base}/v1/batch"))
                    .basic_auth("wk_load", Some(""))
                    .header("content-type", "application/json")
                    .body(batch)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let batch_rate = n as f64 / started.elapsed().as_secs_f64();
    let stored = running.state.store.event_count().await.unwrap();
    assert_eq!(stored as usize, n, "every accepted event is stored");
    eprintln!(
        "service /v1/batch: {batch_rate:.0} events/s, committed and scored ({:.0} % of the raw ceiling)",
        100.0 * batch_rate / raw_rate
    );

    // (3) Single /v1/track calls at 500 per second, open loop.
    let rate = 500;
    let seconds = 10;
    let mut latencies = Vec::with_capacity(rate * seconds);
    let mut calls = Vec::with_capacity(rate * seconds);
    let started = Instant::now();
    for i in 0..rate * seconds {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (http, base) = (http.clone(), base.clone());
        calls.push(tokio::spawn(async move {
            let body = json!({"userId": format!("t{}", i % 1000), "event": "Demo Requested", "messageId": format!("track-{i}")});
            let sent = Instant::now();
            let r = http.post(format!("{base}/v1/track")).basic_auth("wk_load", Some("")).json(&body).send().await.unwrap();
            assert!(r.status().is_success());
            sent.elapsed()
        }));
    }
    for c in calls {
        latencies.push(c.await.unwrap());
    }
    let achieved = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    eprintln!(
        "service /v1/track: {achieved:.0} requests/s, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "{}",
        json!({"events": n, "raw_rows_per_s": raw_rate.round(), "batch_events_per_s": batch_rate.round(),
               "track_requests_per_s": achieved.round(), "track_p50_ms": pct(0.5), "track_p99_ms": pct(0.99)})
    );
}

/// The first `n` Segment messages of a synthetic company.
fn synthetic(n: usize) -> Vec<Value> {
    let leads = (n as u64 / 35).max(50);
    let config = sluice_synth::Config {
        leads,
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
        .take(n)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
