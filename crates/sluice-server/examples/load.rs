//! Load test for ingestion: the service's `/v1/batch` throughput and `/v1/track` latency, against
//! the raw insert rate of the same rows into a fresh database of the same engine, in one run.
//!
//! cargo run --release -p sluice-server --example load -- [EVENTS] [DB_DIR_OR_POSTGRES_URL] [TRACK_RATE]
//!
//! Steps: generate a synthetic company's Segment events; (1) insert them raw into a fresh
//! database through the store, 5,000 rows per commit (the ceiling); on PostgreSQL also `COPY`
//! them into the events table of another fresh database (the engine's own ceiling for bulk
//! appends); (2) start the service on a third fresh database and post the same messages as
//! `/v1/batch` requests of 500 messages from 8 concurrent clients; on PostgreSQL (2b) the same
//! through two replicas on one more fresh database, the clients spread over both; (3) send
//! single `/v1/track`
//! calls at TRACK_RATE requests per second (default 1,000) for 10 seconds, open loop (each sent
//! when due, answered or not), and report latency percentiles, from each send and from when it
//! was due. Each step writes into a database of its own, so none of them finds the
//! rows of another.
//!
//! SQLite (the default): files `sluice_load_{raw,svc}_<pid>.db` in a temporary directory, or in
//! DB_DIR, removed at the end. PostgreSQL: given a
//! server URL (`postgres://postgres@127.0.0.1:5432`), the run creates the scratch databases
//! `sluice_load_{raw,copy,svc}_<pid>` there and drops them at the end, also when a step fails.
//! The load generator runs in the same process as the service, so they share the cores. The
//! last line on stdout is a JSON summary.

use std::sync::Arc;

// The same allocator as the `sluice` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sluice_server::Config;
use sluice_store::{NewEvent, Store};

/// Messages per `/v1/batch` request.
const BATCH: usize = 500;
/// Concurrent `/v1/batch` clients.
const CLIENTS: usize = 8;
/// Rows per commit of the raw insert.
const RAW_COMMIT: usize = 5_000;
/// How long `/v1/track` is driven.
const TRACK_SECONDS: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let target = args.get(2).cloned();
    let track_rate: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let steps = runtime();
    let scratch = match &target {
        Some(t) if t.starts_with("postgres://") || t.starts_with("postgresql://") => {
            steps.block_on(Scratch::postgres(t))
        }
        Some(t) => Scratch::Sqlite(t.into()),
        None => Scratch::Sqlite(dir.path().to_path_buf()),
    };
    // The scratch databases are dropped even when a step fails; the failure is raised again
    // afterwards. A fresh runtime does it, as the steps' one may hold the service's tasks.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        steps.block_on(run(n, track_rate, scratch.clone()))
    }));
    steps.shutdown_background();
    runtime().block_on(scratch.drop_all());
    match run {
        Ok(summary) => println!("{summary}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn run(n: usize, track_rate: usize, scratch: Scratch) -> Value {
    let messages = synthetic(n);
    let n = messages.len();
    let bytes = messages.iter().map(|m| m.to_string().len()).sum::<usize>() as f64 / n as f64;
    eprintln!(
        "{n} Segment messages, {bytes:.0} bytes on average, on {}",
        scratch.engine()
    );
    let mut summary = Map::new();
    summary.insert("engine".into(), scratch.engine().into());
    summary.insert("events".into(), n.into());
    summary.insert("message_bytes".into(), bytes.round().into());

    // (1) The ceiling: the same rows, inserted raw through the store, 5,000 per commit.
    let rows: Vec<NewEvent> = messages.iter().map(raw_row).collect();
    let raw_store = Store::connect(&scratch.url("raw")).await.unwrap();
    let started = Instant::now();
    for chunk in rows.chunks(RAW_COMMIT) {
        let mut tx = raw_store.begin().await.unwrap();
        tx.append(chunk).await.unwrap();
        tx.commit().await.unwrap();
    }
    let raw_rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(raw_store.event_count().await.unwrap() as usize, n);
    drop(raw_store);
    eprintln!(
        "raw insert through the store, {RAW_COMMIT} rows a commit (ceiling): {raw_rate:.0} rows/s"
    );
    summary.insert("raw_rows_per_s".into(), raw_rate.round().into());

    // On PostgreSQL, the engine's own ceiling: one `COPY` of the same rows.
    let copy_rate = match &scratch {
        Scratch::Postgres { .. } => {
            let rate = copy_in(&scratch.url("copy"), &rows, n).await;
            eprintln!("COPY into a fresh events table (engine ceiling): {rate:.0} rows/s");
            summary.insert("copy_rows_per_s".into(), rate.round().into());
            Some(rate)
        }
        Scratch::Sqlite(_) => None,
    };
    drop(rows);

    // (2) The service, on its own fresh database: /v1/batch, 500 messages a request, 8 clients.
    let running = service(&scratch.url("svc")).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let (batch_rate, new) = post_batches(&http, std::slice::from_ref(&base), &messages).await;
    let stored = running.state.store.event_count().await.unwrap();
    assert_eq!(stored as usize, n, "every accepted event is stored");
    assert_eq!(
        new as usize, n,
        "the service's database is fresh: every message is new"
    );
    let share = |ceiling: f64| 100.0 * batch_rate / ceiling;
    eprintln!(
        "service /v1/batch: {batch_rate:.0} events/s, committed and scored, all {new} new ({:.0} % of the raw insert{})",
        share(raw_rate),
        copy_rate.map_or(String::new(), |c| format!(", {:.0} % of COPY", share(c)))
    );
    summary.insert("batch_events_per_s".into(), batch_rate.round().into());
    summary.insert("batch_pct_of_raw".into(), share(raw_rate).round().into());
    if let Some(c) = copy_rate {
        summary.insert("batch_pct_of_copy".into(), share(c).round().into());
    }

    // (2b) On PostgreSQL: two replicas on one more fresh database, the clients' requests
    // spread over both (so the events of one lead reach both).
    if let Scratch::Postgres { .. } = &scratch {
        let (a, b) = (
            service(&scratch.url("replicas")).await,
            service(&scratch.url("replicas")).await,
        );
        let bases = [format!("http://{}", a.addr), format!("http://{}", b.addr)];
        let (rate, new) = post_batches(&http, &bases, &messages).await;
        assert_eq!(new as usize, n, "every message is new, and stored once");
        assert_eq!(a.state.store.event_count().await.unwrap() as usize, n);
        eprintln!(
            "two replicas on one database, /v1/batch: {rate:.0} events/s ({:.0} % of one service's)",
            100.0 * rate / batch_rate
        );
        summary.insert("replicas_events_per_s".into(), rate.round().into());
        drop((a, b));
    }
    drop(messages);

    // (3) Single /v1/track calls at a fixed rate, open loop: each is sent when it is due,
    // whether or not the earlier ones have been answered.
    let total = track_rate * TRACK_SECONDS;
    let mut calls = Vec::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / track_rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (http, base) = (http.clone(), base.clone());
        calls.push(tokio::spawn(async move {
            let body = json!({"userId": format!("t{}", i % 1000), "event": "Demo Requested", "messageId": format!("track-{i}")});
            let sent = Instant::now();
            let r = http
                .post(format!("{base}/v1/track"))
                .basic_auth("wk_load", Some(""))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            // From the send, and from when it was due: the second counts a late send against
            // the service too (the generator shares its cores; tokio's timer adds up to 1 ms).
            (sent.elapsed(), due.elapsed())
        }));
    }
    let (mut latencies, mut from_due) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for c in calls {
        let (sent, due) = c.await.unwrap();
        latencies.push(sent);
        from_due.push(due);
    }
    let achieved = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    from_due.sort();
    let pct = |of: &[Duration], p: f64| {
        of[((of.len() as f64 * p) as usize).min(of.len() - 1)].as_secs_f64() * 1000.0
    };
    eprintln!(
        "service /v1/track at {track_rate}/s: {achieved:.0} requests/s, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; from when due: p50 {:.2} ms, p99 {:.2} ms",
        pct(&latencies, 0.5),
        pct(&latencies, 0.9),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0),
        pct(&from_due, 0.5),
        pct(&from_due, 0.99),
    );
    for (key, value) in [
        ("track_target_per_s", track_rate as f64),
        ("track_requests_per_s", achieved.round()),
        ("track_p50_ms", pct(&latencies, 0.5)),
        ("track_p90_ms", pct(&latencies, 0.9)),
        ("track_p99_ms", pct(&latencies, 0.99)),
        ("track_max_ms", pct(&latencies, 1.0)),
        ("track_due_p50_ms", pct(&from_due, 0.5)),
        ("track_due_p99_ms", pct(&from_due, 0.99)),
    ] {
        summary.insert(key.into(), json!((value * 100.0).round() / 100.0));
    }
    running.server.abort();
    Value::Object(summary)
}

/// Where the run's fresh databases live.
#[derive(Debug, Clone)]
enum Scratch {
    /// One SQLite file per step in this directory.
    Sqlite(std::path::PathBuf),
    /// One database per step on this PostgreSQL server.
    Postgres {
        /// The URL given, to create and drop the databases from.
        admin: String,
        /// Names of the databases created, by step.
        names: Vec<(&'static str, String)>,
    },
}

impl Scratch {
    /// Creates the run's databases on the server at `admin`.
    async fn postgres(admin: &str) -> Scratch {
        let pool = sqlx::PgPool::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
        let mut names = Vec::new();
        for step in ["raw", "copy", "svc", "replicas"] {
            let name = format!("sluice_load_{step}_{}", std::process::id());
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
            names.push((step, name));
        }
        pool.close().await;
        Scratch::Postgres {
            admin: admin.to_string(),
            names,
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Scratch::Sqlite(_) => "sqlite",
            Scratch::Postgres { .. } => "postgres",
        }
    }

    /// The URL of this step's database.
    fn url(&self, step: &str) -> String {
        match self {
            Scratch::Sqlite(dir) => format!("sqlite://{}", sqlite_file(dir, step).display()),
            Scratch::Postgres { admin, names } => {
                let name = &names.iter().find(|(s, _)| *s == step).unwrap().1;
                database_url(admin, name)
            }
        }
    }

    /// Drops the databases.
    async fn drop_all(&self) {
        let (admin, names) = match self {
            Scratch::Sqlite(dir) => {
                for step in ["raw", "svc"] {
                    let file = sqlite_file(dir, step);
                    for suffix in ["", "-wal", "-shm"] {
                        let mut path = file.clone().into_os_string();
                        path.push(suffix);
                        let _ = std::fs::remove_file(path);
                    }
                }
                return;
            }
            Scratch::Postgres { admin, names } => (admin, names),
        };
        let Ok(pool) = sqlx::PgPool::connect(admin).await else {
            eprintln!("cannot connect to {admin} to drop the scratch databases");
            return;
        };
        for (_, name) in names {
            if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await
            {
                eprintln!("cannot drop database {name}: {e}");
            }
        }
        pool.close().await;
    }
}

/// The SQLite file of a step: named after the process, so a run never finds another's rows.
fn sqlite_file(dir: &std::path::Path, step: &str) -> std::path::PathBuf {
    dir.join(format!("sluice_load_{step}_{}.db", std::process::id()))
}

/// The URL of database `name` on the server of `url` (which may name another database or none).
fn database_url(url: &str, name: &str) -> String {
    let (url, query) = url
        .split_once('?')
        .map_or((url, None), |(u, q)| (u, Some(q)));
    let authority = url.find("://").map_or(0, |i| i + 3);
    let server = match url[authority..].find('/') {
        Some(slash) => &url[..authority + slash],
        None => url,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// A message as the raw insert stores it.
fn raw_row(m: &Value) -> NewEvent {
    NewEvent {
        message_id: m["messageId"].as_str().unwrap().to_string(),
        kind: m["type"].as_str().unwrap().to_string(),
        user_id: m["userId"].as_str().map(str::to_string),
        anonymous_id: m["anonymousId"].as_str().map(str::to_string),
        at_ms: 0,
        received_ms: 0,
        source: "load".into(),
        message: m.to_string(),
    }
}

/// `COPY`s the rows into the events table of the (migrated) database at `url` in one
/// statement; returns rows per second, timed from the start of the `COPY` to its commit.
async fn copy_in(url: &str, rows: &[NewEvent], n: usize) -> f64 {
    // Migrated by the store, so the table and its indexes are the service's.
    drop(Store::connect(url).await.unwrap());
    // PostgreSQL's text format, encoded before the clock starts (as the batches are).
    let mut data = Vec::with_capacity(rows.len() * 700);
    for r in rows {
        let fields = [
            Some(r.message_id.as_str()),
            Some(r.kind.as_str()),
            r.user_id.as_deref(),
            r.anonymous_id.as_deref(),
            Some("0"),
            Some("0"),
            Some(r.source.as_str()),
            Some(r.message.as_str()),
        ];
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                data.push(b'\t');
            }
            match field {
                None => data.extend_from_slice(b"\\N"),
                Some(text) => copy_escape(text, &mut data),
            }
        }
        data.push(b'\n');
    }
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    let mut copy = tx
        .copy_in_raw(
            "COPY events (message_id, kind, user_id, anonymous_id, at_ms, received_ms, source, message) FROM STDIN",
        )
        .await
        .unwrap();
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.unwrap();
    }
    let copied = copy.finish().await.unwrap();
    tx.commit().await.unwrap();
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(copied as usize, n);
    pool.close().await;
    rate
}

/// Appends `text` as a field of PostgreSQL's `COPY` text format.
fn copy_escape(text: &str, out: &mut Vec<u8>) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
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

/// A service on `url`, for the load.
async fn service(url: &str) -> sluice_server::Running {
    sluice_server::start(Config {
        database_url: url.to_string(),
        bind: "127.0.0.1:0".parse().unwrap(),
        model: None,
        admin_token: Some("admin".into()),
        write_key: Some("wk_load".into()),
        rescore_every: None,
        sla_every: None,
        clock: Default::default(),
        limits: Default::default(),
        cache_leads: sluice_server::live::DEFAULT_CAPACITY,
        session_ttl: sluice_server::trust::SESSION_TTL,
        nats: None,
    })
    .await
    .unwrap()
}

/// Posts the messages as `/v1/batch` requests of `BATCH` from `CLIENTS` concurrent clients,
/// client `i` to `bases[i % len]`; returns events per second and how many were new.
async fn post_batches(http: &reqwest::Client, bases: &[String], messages: &[Value]) -> (f64, u64) {
    // Serialized before the clock starts: the generator's JSON work is not the service's.
    let batches: Vec<Vec<u8>> = messages
        .chunks(BATCH)
        .map(|c| json!({"batch": c}).to_string().into_bytes())
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (queue, http, base) = (
            Arc::clone(&queue),
            http.clone(),
            bases[i % bases.len()].clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut new = 0;
            loop {
                let Some(batch) = queue.lock().unwrap().next() else {
                    break new;
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
                let answer: Value = r.json().await.unwrap();
                new += answer["new"].as_u64().unwrap_or(0);
            }
        }));
    }
    let mut new = 0;
    for c in clients {
        new += c.await.unwrap();
    }
    (messages.len() as f64 / started.elapsed().as_secs_f64(), new)
}
