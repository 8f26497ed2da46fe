//! Streaming on NATS JetStream, as it is deployed: `sluice serve --nats` on PostgreSQL answers
//! once messages are in the stream, two `sluice worker` processes store and score them, and one
//! worker is killed with `kill -9` mid-stream. Nothing is lost or counted twice, and the stored
//! scores are those `sluice score` computes from the same files.
//!
//! Needs PostgreSQL (`SLUICE_TEST_POSTGRES_URL`) and NATS with JetStream
//! (`SLUICE_TEST_NATS_URL`); `.ci/run` sets both.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_store::Store;
use sluice_store::testing::{PgDatabase, skip_or_fail};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sluice runs");
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn spawn(dir: &Path, args: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sluice starts"),
    )
}

fn ready(url: &str) -> bool {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
}

#[test]
fn workers_on_a_stream_lose_nothing_and_count_nothing_twice() {
    let Ok(nats) = std::env::var("SLUICE_TEST_NATS_URL") else {
        skip_or_fail(
            "the NATS JetStream run",
            "SLUICE_TEST_NATS_URL is not set",
            "set it to a NATS server with JetStream, e.g. nats://127.0.0.1:4222 (.ci/run does)",
            None,
        );
        return;
    };
    // One runtime for the whole test: the database pool lives in it.
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let Some(pg) = rt.block_on(PgDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a directory");
    let d = dir.path();
    run(
        d,
        &[
            "generate",
            "--leads",
            "200",
            "--seed",
            "23",
            "--end",
            "2026-06-01",
            "--out",
            ".",
        ],
    );
    // The example model without decay: scores do not depend on when they are computed.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/model.toml"
    ))
    .expect("the example model");
    let model: String = example
        .lines()
        .map(|l| match l.trim_start().starts_with("half_life") {
            true => "half_life = \"never\"",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("model.toml"), model).expect("written");
    let expected: Value = serde_json::from_str(&run(
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

    let stream = format!(
        "SLUICE_TEST_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let url = format!("http://{bind}");
    let _service = spawn(
        d,
        &[
            "serve",
            "--db",
            &pg.url,
            "--bind",
            &bind,
            "--model",
            "model.toml",
            "--admin-token",
            "tok",
            "--write-key",
            "wk",
            "--rescore-every",
            "never",
            "--sla-every",
            "never",
            "--nats",
            &nats,
            "--nats-stream",
            &stream,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(&url) {
        assert!(
            Instant::now() < deadline,
            "sluice serve did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let worker = |batch: &str| {
        spawn(
            d,
            &[
                "worker",
                "--db",
                &pg.url,
                "--nats",
                &nats,
                "--nats-stream",
                &stream,
                "--ack-wait",
                "2s",
                "--batch",
                batch,
            ],
        )
    };
    let mut doomed = worker("50");
    let _survivor = worker("300");

    // The leads first (their fit), then the events; one worker dies while they stream.
    run(
        d,
        &[
            "import",
            "leads",
            "leads.csv",
            "--url",
            &url,
            "--write-key",
            "wk",
        ],
    );
    let store = rt.block_on(Store::connect(&pg.url)).expect("the database");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while rt.block_on(store.event_count()).unwrap() < 2_000 {
                assert!(Instant::now() < deadline, "the workers store nothing");
                std::thread::sleep(Duration::from_millis(20));
            }
            // SIGKILL: no chance to acknowledge or to finish what it fetched.
            doomed.0.kill().expect("killed");
            doomed.0.wait().expect("reaped");
        });
        run(
            d,
            &[
                "import",
                "events",
                "events.jsonl",
                "--url",
                &url,
                "--write-key",
                "wk",
            ],
        );
    });

    // Every message once: the leads' rows and every event line (ids are unique in the file).
    let events = std::fs::read_to_string(d.join("events.jsonl"))
        .unwrap()
        .lines()
        .count() as i64;
    let leads = std::fs::read_to_string(d.join("leads.csv"))
        .unwrap()
        .lines()
        .count() as i64
        - 1;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = 0;
    while stored < events + leads {
        assert!(
            Instant::now() < deadline,
            "{stored} of {} messages stored",
            events + leads
        );
        std::thread::sleep(Duration::from_millis(200));
        stored = rt.block_on(store.event_count()).unwrap();
    }
    // Redeliveries of what the killed worker held have had time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        rt.block_on(store.event_count()).unwrap(),
        events + leads,
        "nothing counted twice"
    );

    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let page = rt.block_on(store.leads_after(&after, 1000)).unwrap();
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        got.extend(page.into_iter().map(|l| (l.id, l.score)));
    }
    let want: BTreeMap<String, f64> = expected["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                l["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same leads"
    );
    for (id, score) in &want {
        assert!(
            (got[id] - score).abs() < 1e-3,
            "lead {id}: stored {}, sluice score {score}",
            got[id]
        );
    }
    // The stream is this test's own.
    rt.block_on(async {
        let client = async_nats_delete(&nats, &stream).await;
        assert!(client, "the test's stream is deleted");
    });
}

/// Deletes a JetStream stream through the service's own client code.
async fn async_nats_delete(url: &str, stream: &str) -> bool {
    let config = sluice_server::stream::NatsConfig {
        stream: stream.to_string(),
        ..sluice_server::stream::NatsConfig::new(url)
    };
    match sluice_server::stream::EventStream::connect(config).await {
        Ok(events) => events.delete().await.is_ok(),
        Err(_) => false,
    }
}
