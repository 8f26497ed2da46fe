//! Limits, through the doors clients use: rate limits per write key and per token, the
//! failed-authentication throttle, header and body read timeouts on raw connections, the bound
//! on requests at once, and event times out of range.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_server::limits::{Rate, Settings};
use sluice_server::{Config, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "admin-token";
const KEY: &str = "wk_limits";

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start(limits: Settings) -> App {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            database_url: format!("sqlite://{}", dir.path().join("sluice.db").display()),
            bind: "127.0.0.1:0".parse().unwrap(),
            model: None,
            admin_token: Some(ADMIN.into()),
            write_key: Some(KEY.into()),
            rescore_every: None,
            sla_every: None,
            clock: Default::default(),
            limits,
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        };
        let running = sluice_server::start(config)
            .await
            .expect("the service starts");
        App {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn track(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/track", self.base))
            .basic_auth(key, Some(""))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn api(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.base)).send();
        response.await.unwrap().text().await.unwrap()
    }
}

fn track(id: &str, at: &str) -> Value {
    json!({"userId": "ada", "event": "Demo Requested", "messageId": id, "timestamp": at})
}

fn now() -> String {
    sluice_server::state::now().to_string()
}

/// The `Retry-After` of a response, in whole seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

/// A rate that gives `burst` requests and then nothing for a long while.
fn burst_only(burst: u32) -> Rate {
    Rate {
        per_second: 0.001,
        burst,
    }
}

#[tokio::test]
async fn a_write_key_past_its_rate_hears_429_with_retry_after() {
    let app = App::start(Settings {
        write_key_rate: burst_only(3),
        ..Settings::default()
    })
    .await;
    for i in 0..3 {
        let response = app.track(KEY, track(&format!("m{i}"), &now())).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app.track(KEY, track("m3", &now())).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(app.running.state.store.event_count().await.unwrap(), 3);

    // Another key has its own bucket.
    let created = app
        .http
        .post(format!("{}/api/v1/sources", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let other: Value = created.json().await.unwrap();
    let other = other["key"].as_str().expect("the new key");
    let response = app.track(other, track("m4", &now())).await;
    assert_eq!(response.status(), StatusCode::OK);

    assert!(
        app.metrics()
            .await
            .contains(r#"sluice_rate_limited_total{limit="write_key"}"#)
    );
}

#[tokio::test]
async fn a_token_past_its_rate_hears_429_with_retry_after() {
    let app = App::start(Settings {
        token_rate: burst_only(2),
        ..Settings::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.api(ADMIN, "/api/v1/leads").await.status(),
            StatusCode::OK
        );
    }
    let response = app.api(ADMIN, "/api/v1/leads").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Ingestion is limited per write key, not by the token's bucket.
    assert_eq!(
        app.track(KEY, track("m1", &now())).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_sign_ins_tokens_and_keys_from_one_address_are_throttled() {
    let app = App::start(Settings {
        auth_failures: Rate::per(3, Duration::from_secs(600)),
        ..Settings::default()
    })
    .await;
    // One of each: a wrong bearer token, a wrong write key, a wrong dashboard sign-in.
    let response = app.api("wrong", "/api/v1/leads").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.track("wk_wrong", track("m1", &now())).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .http
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body("token=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Past the limit, even the right credentials wait: the address is not trusted now.
    let response = app.api(ADMIN, "/api/v1/leads").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let response = app.track(KEY, track("m2", &now())).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["success"], &body["code"]),
        (&json!(false), &json!("rate_limited")),
        "{body}"
    );
    let response = app
        .http
        .get(format!("{}/login", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.text().await.unwrap().contains("too many failed"));
    // Probes are never throttled.
    let health = app.http.get(format!("{}/healthz", app.base)).send().await;
    assert_eq!(health.unwrap().status(), StatusCode::OK);
    assert!(
        app.metrics()
            .await
            .contains(r#"sluice_rate_limited_total{limit="auth_failures"}"#)
    );
}

#[tokio::test]
async fn far_future_and_pre_2000_times_become_the_receive_time() {
    let app = App::start(Settings::default()).await;
    let soon = sluice_server::state::now()
        .plus(sluice_core::Span::parse("2h").unwrap())
        .to_string();
    for (id, at) in [
        ("future", "9999-12-31T00:00:00Z"),
        ("zero", "1970-01-01T00:00:00Z"),
        ("soon", soon.as_str()),
    ] {
        let response = app.track(KEY, track(id, at)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app.api(ADMIN, "/api/v1/leads/ada/events").await;
    let events: Value = response.json().await.unwrap();
    let message = |id: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["message"])
            .find(|m| m["messageId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is stored: {events}"))
    };
    for (id, sent) in [
        ("future", "9999-12-31T00:00:00Z"),
        ("zero", "1970-01-01T00:00:00Z"),
    ] {
        let m = message(id);
        // The stored message says the time used, and keeps the sender's.
        assert_eq!(m["timestamp"], m["receivedAt"], "{m}");
        assert_eq!(m["originalTimestamp"], sent, "{m}");
    }
    // Within the skew, a sender's clock is believed.
    assert_eq!(message("soon")["timestamp"], soon.as_str());
    let metrics = app.metrics().await;
    for reason in ["future", "before_2000"] {
        let line = format!(r#"sluice_timestamps_clamped_total{{reason="{reason}"}}"#);
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

/// Whether the server closes `stream` while `dribble` writes to it a little at a time, and
/// what it said before closing. Gives up (None) after `patience`.
async fn closed_while_dribbling(
    mut stream: TcpStream,
    mut dribble: impl FnMut() -> Vec<u8>,
    patience: Duration,
) -> Option<String> {
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let closed = tokio::time::timeout(patience, async {
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => said.extend_from_slice(&buf[..n]),
                },
                _ = ticks.tick() => {
                    if stream.write_all(&dribble()).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    closed
        .is_ok()
        .then(|| String::from_utf8_lossy(&said).into_owned())
}

#[tokio::test]
async fn a_connection_sending_headers_a_line_at_a_time_is_closed() {
    let app = App::start(Settings {
        header_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/track HTTP/1.1\r\nHost: sluice\r\n")
        .await
        .unwrap();
    let mut n = 0;
    let closed = closed_while_dribbling(
        stream,
        || {
            n += 1;
            format!("X-Slow-{n}: 1\r\n").into_bytes()
        },
        Duration::from_secs(20),
    )
    .await;
    assert!(closed.is_some(), "the connection was still open");
    // The service still serves others.
    let response = app.track(KEY, track("m1", &now())).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_answered_408_and_closed() {
    let app = App::start(Settings {
        body_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    let before = app.metrics().await;
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    let head = format!(
        "POST /v1/track HTTP/1.1\r\nHost: sluice\r\nContent-Type: application/json\r\n\
         Authorization: Basic {}\r\nContent-Length: 10000\r\n\r\n{{",
        base64_key()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let said = closed_while_dribbling(stream, || b" ".to_vec(), Duration::from_secs(20))
        .await
        .expect("the connection was still open");
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains(r#""code":"timeout""#), "{said}");
    assert_eq!(app.running.state.store.event_count().await.unwrap(), 0);
    // Counted once, as what it was: not also as the unreadable body the handler saw.
    let after = app.metrics().await;
    for (reason, times) in [("timeout", 1), ("invalid_body", 0)] {
        let series = format!(r#"sluice_events_rejected_total{{reason="{reason}"}}"#);
        let count = |metrics: &str| -> u64 {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
                .unwrap_or(0)
        };
        assert_eq!(count(&after) - count(&before), times, "{series} in {after}");
    }
}

#[tokio::test]
async fn past_the_requests_at_once_the_service_answers_503() {
    let app = App::start(Settings {
        max_requests: 1,
        body_timeout: Duration::from_secs(30),
        ..Settings::default()
    })
    .await;
    // One request holds the only place while its body trickles in.
    let mut slow = TcpStream::connect(app.running.addr).await.unwrap();
    let head = format!(
        "POST /v1/track HTTP/1.1\r\nHost: sluice\r\nAuthorization: Basic {}\r\nContent-Length: 100\r\n\r\n{{",
        base64_key()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut answer = None;
    for _ in 0..50 {
        let response = app.api(ADMIN, "/api/v1/leads").await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = answer.expect("a 503 while the slow request holds the only place");
    assert!(retry_after(&response) >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    // Probes are outside the bound.
    let ready = app.http.get(format!("{}/readyz", app.base)).send().await;
    assert_eq!(ready.unwrap().status(), StatusCode::OK);
    drop(slow);
}

fn base64_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
}
