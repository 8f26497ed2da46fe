//! `sluice model propose | approve | log | rollback` against a running `sluice serve`, as both
//! sides of the contract would use them.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn model(version: &str, mql: u32) -> String {
    format!(
        "[model]\nname = \"cli\"\nversion = {version}\n[thresholds]\nmql = {mql}\n\
         [[fit.rules]]\nid = \"vp\"\nwhen = \"lead.title == 'VP'\"\npoints = 60\n"
    )
}

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .env_remove("SLUICE_TOKEN")
        .output()
        .expect("the binary runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sluice(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One blocking HTTP call as the admin.
fn admin(url: &str, path: &str, body: Value) -> Value {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth("tok")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn both_sides_sign_a_proposal_from_the_command_line_and_roll_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A bare number is a version, as people write it.
    std::fs::write(d.join("v1.toml"), model("1", 50)).unwrap();
    std::fs::write(d.join("v2.toml"), model("2", 55)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let url = format!("http://{bind}");
    let db = format!("sqlite://{}", d.join("sluice.db").display());
    let _service = Service(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--db", &db, "--bind", &bind, "--model", "v1.toml"])
            .args(["--admin-token", "tok", "--write-key", "wk"])
            .args(["--rescore-every", "never", "--sla-every", "never"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ready = (0..300).any(|_| {
        let up = runtime.block_on(async {
            reqwest::get(format!("{url}/readyz"))
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if !up {
            std::thread::sleep(Duration::from_millis(100));
        }
        up
    });
    assert!(ready, "sluice serve did not become ready");
    admin(&url, "/api/v1/teams", json!({"id": "sdr"}));
    let mia = admin(
        &url,
        "/api/v1/users",
        json!({"email": "mia@example.com", "role": "marketing"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let sam = admin(
        &url,
        "/api/v1/users",
        json!({"email": "sam@example.com", "role": "sales_manager", "team": "sdr"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();

    let proposed = ok(
        d,
        &[
            "model",
            "propose",
            "v2.toml",
            "--rationale",
            "fewer, better MQLs",
            "--url",
            &url,
            "--token",
            &mia,
            "--format",
            "json",
        ],
    );
    let proposal: Value = serde_json::from_str(&proposed).unwrap();
    let id = proposal["id"].as_str().unwrap();
    assert!(
        proposal["diff"]
            .to_string()
            .contains("MQL threshold 50 → 55"),
        "{proposal}"
    );
    assert!(proposal["backtest"]["proposed"].is_object(), "{proposal}");

    let first = ok(d, &["model", "approve", id, "--url", &url, "--token", &mia]);
    assert!(first.contains("waiting for: sales_manager"), "{first}");
    let second = ok(
        d,
        &[
            "model",
            "approve",
            id,
            "--comment",
            "agreed",
            "--url",
            &url,
            "--token",
            &sam,
        ],
    );
    assert!(second.contains("version 2 is in force"), "{second}");

    let log = ok(d, &["model", "log", "--url", &url, "--token", &sam]);
    assert!(log.contains("* 2 cli by mia@example.com"), "{log}");
    assert!(log.contains("fewer, better MQLs"), "{log}");
    assert!(log.contains("(proposal)"), "{log}");

    let rolled = ok(
        d,
        &[
            "model",
            "rollback",
            "--version",
            "1",
            "--url",
            &url,
            "--token",
            &sam,
        ],
    );
    assert!(
        rolled.contains("version 1 is in force again (was 2"),
        "{rolled}"
    );

    // A refusal is one line saying what and where, exit code 1.
    let out = sluice(d, &["model", "approve", id, "--url", &url, "--token", &sam]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is approved"), "{stderr}");
}
