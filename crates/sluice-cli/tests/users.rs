//! `sluice user` and `sluice audit`, driven the way an admin drives them, and the token they
//! print used against a running service.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn sluice(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_DATABASE_URL", db)
        .env("USER", "ops")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(db: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = sluice(db, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn user_error(db: &str, args: &[&str]) -> String {
    let out = sluice(db, args, None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{stderr}"
    );
    stderr
}

#[test]
fn admins_add_people_who_then_use_their_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sluice.db").display());
    let db = db.as_str();

    let e = user_error(db, &["user", "add", "maya@example.com", "--role", "boss"]);
    assert!(e.contains("role") && e.contains("boss"), "{e}");
    let e = user_error(db, &["user", "add", "maya@example.com", "--role", "rep"]);
    assert!(e.contains("rep:"), "a rep needs a rep: {e}");
    ok(db, &["team", "add", "sdr"], None);
    ok(
        db,
        &[
            "rep",
            "add",
            "maya",
            "--name",
            "Maya",
            "--email",
            "maya@example.com",
            "--team",
            "sdr",
        ],
        None,
    );

    let token = ok(
        db,
        &["user", "add", "maya@example.com", "--role", "rep"],
        None,
    );
    let token = token.trim().to_string();
    assert!(token.starts_with("sl_") && token.len() > 30, "{token}");
    let e = user_error(
        db,
        &["user", "add", "MAYA@example.com", "--role", "analyst"],
    );
    assert!(e.contains("exists"), "{e}");
    let e = user_error(
        db,
        &[
            "user",
            "add",
            "sam@example.com",
            "--role",
            "analyst",
            "--password-stdin",
        ],
    );
    assert!(e.contains("password"), "too short: {e}");
    ok(
        db,
        &[
            "user",
            "add",
            "sam@example.com",
            "--role",
            "sales_manager",
            "--team",
            "sdr",
            "--password-stdin",
        ],
        Some("a long enough passphrase\n"),
    );
    let users: Value =
        serde_json::from_str(&ok(db, &["user", "list", "--format", "json"], None)).unwrap();
    let users = users["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["email"], "maya@example.com");
    assert_eq!(users[0]["rep"], "maya");
    assert_eq!(users[1]["has_password"], true);
    assert!(!users.iter().any(|u| u.to_string().contains(&token)));

    let link = ok(
        db,
        &[
            "user",
            "link",
            "sam@example.com",
            "--url",
            "https://sluice.example.com/",
        ],
        None,
    );
    assert!(
        link.trim()
            .starts_with("https://sluice.example.com/login/link/ln_"),
        "{link}"
    );
    ok(
        db,
        &["user", "password", "maya@example.com"],
        Some("another long passphrase\n"),
    );

    // The token works against the service, for what a rep may do.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let running = sluice_server::start(sluice_server::Config {
            database_url: db.to_string(),
            bind: "127.0.0.1:0".parse().unwrap(),
            model: None,
            admin_token: Some("admin".into()),
            write_key: Some("wk_users_test".into()),
            rescore_every: None,
            sla_every: None,
            clock: Default::default(),
            limits: Default::default(),
            cache_leads: 1000,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let me: Value = http
            .get(format!("http://{}/api/v1/me", running.addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], "rep");
        let status = http
            .get(format!("http://{}/api/v1/users", running.addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
        // Someone erased with suppression...
        let sent = http
            .post(format!("http://{}/v1/identify", running.addr))
            .basic_auth("wk_users_test", Some(""))
            .json(&serde_json::json!({"userId": "gone@example.com", "traits": {"email": "gone@example.com"}}))
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success());
        let erased = http
            .delete(format!("http://{}/api/v1/leads/gone@example.com?suppress=true", running.addr))
            .bearer_auth("admin")
            .send()
            .await
            .unwrap();
        assert!(erased.status().is_success());
        running.server.abort();
    });
    // ...is not brought back by importing an old file.
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"type\":\"track\",\"userId\":\"gone@example.com\",\"event\":\"Came Back\",\"messageId\":\"old-1\"}\n\
         {\"type\":\"track\",\"userId\":\"still@example.com\",\"event\":\"Came Back\",\"messageId\":\"old-2\"}\n",
    )
    .unwrap();
    ok(db, &["import", "events", events.to_str().unwrap()], None);
    runtime.block_on(async {
        let store = sluice_store::Store::connect(db).await.unwrap();
        assert!(store.lead("gone@example.com").await.unwrap().is_none());
        assert!(store.lead("still@example.com").await.unwrap().is_some());
    });

    ok(db, &["user", "remove", "maya@example.com"], None);
    let audit: Value = serde_json::from_str(&ok(db, &["audit", "--format", "json"], None)).unwrap();
    let actions: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(actions[0], ("user.delete", "cli:ops"));
    for action in ["user.create", "session.link", "user.password"] {
        assert!(
            actions.iter().any(|(a, _)| *a == action),
            "{action}: {actions:?}"
        );
    }
    let table = ok(db, &["audit", "--limit", "2"], None);
    assert_eq!(table.lines().count(), 2, "{table}");
}
