//! Outbound webhooks, through the doors their users use: subscriptions over the management API,
//! leads changing through Segment ingestion and manual moves, and a real receiver on loopback
//! that checks every signature with the official `standardwebhooks` crate. Every scenario runs
//! on SQLite, and on PostgreSQL when `SLUICE_TEST_POSTGRES_URL` is set.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Uri};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_server::webhooks::WebhookSettings;
use sluice_server::{Config, Running};
use sluice_store::testing::PgDatabase;

/// Retries a tenth of a second apart, so a whole schedule runs within a test.
const RETRY: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(200)];

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl App {
    async fn sqlite() -> App {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
        App::with(url, Some(dir), None).await
    }

    async fn postgres() -> Option<App> {
        let pg = PgDatabase::create().await?;
        Some(App::with(pg.url.clone(), None, Some(pg)).await)
    }

    async fn with(url: String, dir: Option<tempfile::TempDir>, pg: Option<PgDatabase>) -> App {
        let config = Config {
            database_url: url,
            bind: "127.0.0.1:0".parse().unwrap(),
            model: None,
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
        let settings = WebhookSettings {
            retry: RETRY.to_vec(),
            timeout: Duration::from_secs(60),
            concurrency: 8,
            poll: Duration::from_millis(20),
        };
        let running = sluice_server::start_with(config, settings)
            .await
            .expect("the service starts");
        App {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::new(),
            _dir: dir,
            _pg: pg,
        }
    }

    async fn segment(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth("wk_test", Some(""))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("admin-token");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// Subscribes `url` to `types`; returns the subscription (with its secret).
    async fn subscribe(&self, url: &str, types: &[&str]) -> Value {
        let (status, sub) = self
            .post(
                "/api/v1/webhooks",
                json!({"url": url, "event_types": types, "description": "test receiver"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sub}");
        sub
    }

    /// Makes `user` an MQL with the example model: a VP who requested a demo and started a trial.
    async fn make_mql(&self, user: &str) {
        let now = sluice_server::state::now().to_string();
        let batch = json!({"batch": [
            {"type": "identify", "userId": user, "messageId": format!("{user}-i"), "timestamp": now,
             "traits": {"email": format!("{user}@acme.io"), "seniority": "vp", "department": "it"}},
            {"type": "track", "userId": user, "messageId": format!("{user}-t1"), "timestamp": now, "event": "Demo Requested"},
            {"type": "track", "userId": user, "messageId": format!("{user}-t2"), "timestamp": now, "event": "Trial Started"},
        ]});
        let (status, body) = self.segment("/v1/batch", batch).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Waits until `check` holds for a subscription's delivery log; returns the log.
    async fn deliveries_until(
        &self,
        sub: &Value,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let path = format!(
            "/api/v1/webhooks/{}/deliveries",
            sub["id"].as_str().unwrap()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, page) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let deliveries = page["deliveries"].as_array().unwrap().clone();
            if check(&deliveries) {
                return deliveries;
            }
            assert!(
                Instant::now() < deadline,
                "waited in vain for {what}: {deliveries:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(App) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scenario(App::sqlite().await).await;
    if let Some(app) = App::postgres().await {
        scenario(app).await;
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
    at: Instant,
}

impl Received {
    fn id(&self) -> &str {
        self.headers["webhook-id"].to_str().unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Checks the signature with the official Standard Webhooks library.
    fn verify(&self, secret: &Value) -> Result<(), standardwebhooks::WebhookError> {
        standardwebhooks::Webhook::new(secret.as_str().unwrap())?
            .verify(self.body.as_bytes(), &self.headers)
    }
}

/// A webhook receiver on loopback. By default it answers 200; per path it can fail the first
/// attempts of every message, or never answer.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// Path → how many attempts of each message fail with a 500.
    failures: Arc<Mutex<HashMap<String, usize>>>,
    /// Paths that never answer.
    hangs: Arc<Mutex<HashSet<String>>>,
    base: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            base: format!("http://{}", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` got `n` requests.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.at(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path} got {} requests, not {n}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let path = uri.path().to_string();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let earlier = {
        let mut received = receiver.received.lock().unwrap();
        let earlier = received
            .iter()
            .filter(|r| r.path == path && r.id() == id)
            .count();
        received.push(Received {
            path: path.clone(),
            headers,
            body,
            at: Instant::now(),
        });
        earlier
    };
    if receiver.hangs.lock().unwrap().contains(&path) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let failures = receiver
        .failures
        .lock()
        .unwrap()
        .get(&path)
        .copied()
        .unwrap_or(0);
    if earlier < failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

fn of_type<'a>(requests: &'a [Received], kind: &str) -> Vec<&'a Received> {
    requests
        .iter()
        .filter(|r| r.json()["type"] == kind)
        .collect()
}

#[tokio::test]
async fn lead_changes_are_delivered_signed_to_the_subscriptions_that_want_them() {
    on_every_backend(|app| async move {
        let receiver = Receiver::start().await;
        let all = app
            .subscribe(&receiver.url("/all"), &["lead.mql", "lead.stage_changed"])
            .await;
        assert!(all["id"].as_str().unwrap().starts_with("sub_"), "{all}");
        assert!(
            all["secret"].as_str().unwrap().starts_with("whsec_"),
            "{all}"
        );
        assert_eq!(
            all["event_types"],
            json!(["lead.mql", "lead.stage_changed"])
        );
        assert_eq!(all["description"], "test receiver");
        let mql_only = app.subscribe(&receiver.url("/mql"), &["lead.mql"]).await;

        app.make_mql("ada").await;
        let got = receiver.wait_for("/all", 2).await;
        let mql = of_type(&got, "lead.mql");
        let moved = of_type(&got, "lead.stage_changed");
        assert_eq!((mql.len(), moved.len()), (1, 1), "{got:#?}");
        for r in &got {
            r.verify(&all["secret"])
                .unwrap_or_else(|e| panic!("{e}: {r:#?}"));
            assert!(
                r.verify(&mql_only["secret"]).is_err(),
                "another secret does not verify"
            );
            assert!(r.id().starts_with("msg_"));
            assert_eq!(r.headers["content-type"], "application/json");
            let body = r.json();
            sluice_core::Timestamp::parse(body["timestamp"].as_str().unwrap())
                .expect("an RFC 3339 timestamp");
        }
        let data = &mql[0].json()["data"];
        assert_eq!(data["lead_id"], "ada", "{data}");
        assert_eq!(data["email"], "ada@acme.io");
        assert_eq!(data["model_version"], "2026.10.1");
        assert!(data["score"].as_f64().unwrap() > 0.0, "{data}");
        assert!(
            data["explanation"]["engagement"].is_array(),
            "the explanation comes along: {data}"
        );
        let data = &moved[0].json()["data"];
        assert_eq!(
            (
                data["from"].as_str(),
                data["to"].as_str(),
                data["actor"].as_str()
            ),
            (Some("lead"), Some("mql"), Some("system")),
            "{data}"
        );

        // The other subscription gets the same event, with the same id, and nothing else.
        let other = receiver.wait_for("/mql", 1).await;
        assert_eq!(other[0].json()["type"], "lead.mql");
        assert_eq!(
            other[0].id(),
            mql[0].id(),
            "one event, one webhook-id, whoever receives it"
        );
        other[0].verify(&mql_only["secret"]).unwrap();

        // A person's move is an event too.
        let (status, body) = app
            .post("/api/v1/leads/ada/transitions", json!({"to": "sal"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let got = receiver.wait_for("/all", 3).await;
        let data = &got[2].json()["data"];
        assert_eq!(
            (
                data["from"].as_str(),
                data["to"].as_str(),
                data["actor"].as_str()
            ),
            (Some("mql"), Some("sal"), Some("sales")),
            "{data}"
        );
        got[2].verify(&all["secret"]).unwrap();

        // The delivery log, newest first.
        let log = app
            .deliveries_until(&all, "three deliveries", |d| {
                d.len() == 3 && d.iter().all(|d| d["status"] == "delivered")
            })
            .await;
        assert_eq!(log[0]["event_type"], "lead.stage_changed");
        assert_eq!(log[0]["event_id"], got[2].id());
        for d in &log {
            assert_eq!(
                (d["attempts"].as_i64(), d["last_status_code"].as_i64()),
                (Some(1), Some(200)),
                "{d}"
            );
            assert!(
                d["delivered_ms"].is_i64() && d["next_attempt_ms"].is_null(),
                "{d}"
            );
            assert_eq!(d["log"].as_array().unwrap().len(), 1, "{d}");
            assert_eq!(d["log"][0]["status_code"], 200);
        }
        let log = app
            .deliveries_until(&mql_only, "one delivery", |d| d.len() == 1)
            .await;
        assert_eq!(log[0]["event_type"], "lead.mql");

        // Paging.
        let path = format!(
            "/api/v1/webhooks/{}/deliveries?limit=2",
            all["id"].as_str().unwrap()
        );
        let (_, page) = app.get(&path).await;
        assert_eq!(page["deliveries"].as_array().unwrap().len(), 2);
        let (_, rest) = app
            .get(&format!("{path}&cursor={}", page["next"].as_str().unwrap()))
            .await;
        assert_eq!(rest["deliveries"].as_array().unwrap().len(), 1);
        assert!(rest["next"].is_null());

        // Secrets are shown on creation and on request, never in lists.
        let (_, list) = app.get("/api/v1/webhooks").await;
        assert_eq!(list["webhooks"].as_array().unwrap().len(), 2);
        assert!(list["webhooks"][0].get("secret").is_none(), "{list}");
        let (_, one) = app
            .get(&format!("/api/v1/webhooks/{}", all["id"].as_str().unwrap()))
            .await;
        assert!(
            one.get("secret").is_none() && one["url"] == all["url"],
            "{one}"
        );
        let (_, secret) = app
            .get(&format!(
                "/api/v1/webhooks/{}/secret",
                all["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(secret["secret"], all["secret"]);

        // A test event goes to the one subscription asked, never to the others.
        let (status, body) = app
            .post(
                &format!("/api/v1/webhooks/{}/test", mql_only["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let got = receiver.wait_for("/mql", 2).await;
        assert_eq!(got[1].json()["type"], "webhook.test");
        assert_eq!(got[1].id(), body["event_id"]);
        got[1].verify(&mql_only["secret"]).unwrap();
        assert_eq!(receiver.at("/all").len(), 3);
    })
    .await;
}

#[tokio::test]
async fn failing_receivers_are_retried_with_back_off_and_redelivered_on_demand() {
    on_every_backend(|app| async move {
        let receiver = Receiver::start().await;
        receiver
            .failures
            .lock()
            .unwrap()
            .extend([("/flaky".to_string(), 2), ("/down".to_string(), usize::MAX)]);
        let flaky = app.subscribe(&receiver.url("/flaky"), &["lead.mql"]).await;
        let down = app
            .subscribe(&receiver.url("/down"), &["lead.mql", "lead.stage_changed"])
            .await;

        app.make_mql("bo").await;
        // Two 500s, then a 200: delivered on the third attempt, each retry after its wait.
        let got = receiver.wait_for("/flaky", 3).await;
        assert!(
            got.iter().all(|r| r.id() == got[0].id()),
            "every attempt carries the same webhook-id"
        );
        for r in &got {
            r.verify(&flaky["secret"]).unwrap();
        }
        assert!(
            got[1].at - got[0].at >= RETRY[0],
            "{:?}",
            got[1].at - got[0].at
        );
        assert!(
            got[2].at - got[1].at >= RETRY[1],
            "{:?}",
            got[2].at - got[1].at
        );
        let log = app
            .deliveries_until(&flaky, "a delivery after retries", |d| {
                d.len() == 1 && d[0]["status"] == "delivered"
            })
            .await;
        let delivery = &log[0];
        assert_eq!(delivery["attempts"], 3, "{delivery}");
        let codes: Vec<i64> = delivery["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status_code"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, [200, 500, 500], "newest first");
        assert!(
            delivery["log"][1]["error"]
                .as_str()
                .unwrap()
                .contains("500"),
            "{delivery}"
        );
        assert!(delivery["log"][0]["error"].is_null());

        // A receiver that never succeeds: the schedule runs out and the delivery fails.
        let log = app
            .deliveries_until(&down, "failed deliveries", |d| {
                d.len() == 2 && d.iter().all(|d| d["status"] == "failed")
            })
            .await;
        for d in &log {
            assert_eq!(d["attempts"], 3, "{d}");
            assert_eq!(d["log"].as_array().unwrap().len(), 3);
            assert_eq!(d["last_status_code"], 500);
            assert!(
                d["next_attempt_ms"].is_null() && d["delivered_ms"].is_null(),
                "{d}"
            );
        }
        assert_eq!(receiver.at("/down").len(), 6, "no attempts after the last");

        // Redelivery on demand: sent again with the same webhook-id; the log keeps everything.
        let (status, body) = app
            .post(
                &format!("/api/v1/webhooks/deliveries/{}/redeliver", delivery["id"]),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let again = receiver.wait_for("/flaky", 4).await;
        assert_eq!(again[3].id(), got[0].id());
        again[3].verify(&flaky["secret"]).unwrap();
        let log = app
            .deliveries_until(&flaky, "the redelivery", |d| {
                d[0]["log"].as_array().unwrap().len() == 4 && d[0]["status"] == "delivered"
            })
            .await;
        assert_eq!(log[0]["attempts"], 1, "attempts since it was queued again");

        // A failed delivery can be sent again too, with the whole schedule ahead.
        let failed = app.deliveries_until(&down, "failed", |_| true).await[0].clone();
        let (status, _) = app
            .post(
                &format!("/api/v1/webhooks/deliveries/{}/redeliver", failed["id"]),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = failed["id"].clone();
        app.deliveries_until(&down, "failed again", |d| {
            d.iter().any(|d| {
                d["id"] == id && d["status"] == "failed" && d["log"].as_array().unwrap().len() == 6
            })
        })
        .await;

        for missing in ["999999", "nope"] {
            let (status, body) = app
                .post(
                    &format!("/api/v1/webhooks/deliveries/{missing}/redeliver"),
                    json!({}),
                )
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_receiver_that_hangs_does_not_slow_ingestion() {
    on_every_backend(|app| async move {
        let receiver = Receiver::start().await;
        receiver.hangs.lock().unwrap().insert("/hang".to_string());
        app.subscribe(&receiver.url("/hang"), &["*"]).await;
        // Enough events to fill every slot of the dispatcher with a post that never ends.
        for i in 0..5 {
            app.make_mql(&format!("slow{i}")).await;
        }
        receiver.wait_for("/hang", 8).await;

        let ingest = async {
            for i in 0..5 {
                app.make_mql(&format!("fast{i}")).await;
            }
            let (status, lead) = app.get("/api/v1/leads/fast4").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(lead["lead"]["stage"], "mql");
        };
        // Far longer than ingestion takes; the posts in flight never finish.
        tokio::time::timeout(Duration::from_secs(60), ingest)
            .await
            .expect("ingestion is not held up by webhooks");
        assert_eq!(app.running.state.store.event_count().await.unwrap(), 30);
    })
    .await;
}

#[tokio::test]
async fn bad_subscriptions_are_refused_naming_the_field() {
    on_every_backend(|app| async move {
        let cases = [
            (json!({"url": "ftp://example.com/hook", "event_types": ["lead.mql"]}), "url"),
            (json!({"url": "not a url", "event_types": ["lead.mql"]}), "url"),
            (json!({"url": "http://", "event_types": ["lead.mql"]}), "url"),
            (json!({"url": "https://example.com/hook", "event_types": []}), "event_types"),
            (json!({"url": "https://example.com/hook", "event_types": ["lead.mql", "lead.exploded"]}), "lead.exploded"),
            (json!({"url": "https://example.com/hook", "event_types": "lead.mql"}), "event_types"),
            (json!({"event_types": ["*"]}), "url"),
        ];
        for (body, field) in cases {
            let (status, answer) = app.post("/api/v1/webhooks", body.clone()).await;
            assert!(status.is_client_error(), "{body} → {status} {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_else(|| panic!("a JSON error: {answer}"));
            assert!(message.contains(field), "{body}: `{message}` names `{field}`");
        }
        let (_, list) = app.get("/api/v1/webhooks").await;
        assert_eq!(list["webhooks"], json!([]), "nothing was stored");

        let r = app.http.get(format!("{}/api/v1/webhooks", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        for path in ["/api/v1/webhooks/sub_nope", "/api/v1/webhooks/sub_nope/secret", "/api/v1/webhooks/sub_nope/deliveries"] {
            assert_eq!(app.get(path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(app.delete("/api/v1/webhooks/sub_nope").await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.post("/api/v1/webhooks/sub_nope/test", json!({})).await.0, StatusCode::NOT_FOUND);

        // A disabled subscription receives nothing more.
        let receiver = Receiver::start().await;
        let sub = app.subscribe(&receiver.url("/gone"), &["*"]).await;
        let id = sub["id"].as_str().unwrap();
        let (status, body) = app.delete(&format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(app.delete(&format!("/api/v1/webhooks/{id}")).await.0, StatusCode::NOT_FOUND);
        assert!(app.get(&format!("/api/v1/webhooks/{id}")).await.1["disabled_ms"].is_i64());
        assert_eq!(app.post(&format!("/api/v1/webhooks/{id}/test"), json!({})).await.0, StatusCode::CONFLICT);
        app.make_mql("cy").await;
        let (_, page) = app.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
        assert_eq!(page["deliveries"], json!([]));
        assert!(receiver.at("/gone").is_empty());

        let doc: Value = app.http.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
        for path in ["/api/v1/webhooks", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver"] {
            assert!(doc["paths"].get(path).is_some(), "{path} is documented");
        }
    })
    .await;
}

#[tokio::test]
async fn replicas_sharing_a_database_post_each_delivery_once() {
    // Replicas share PostgreSQL; SQLite is one process's database.
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let url = pg.url.clone();
    let app = App::with(url.clone(), None, Some(pg)).await;
    let replicas = [
        App::with(url.clone(), None, None).await,
        App::with(url, None, None).await,
    ];
    let receiver = Receiver::start().await;
    app.subscribe(&receiver.url("/once"), &["lead.mql", "lead.stage_changed"])
        .await;
    for i in 0..10 {
        app.make_mql(&format!("r{i}")).await;
    }
    let got = receiver.wait_for("/once", 20).await;
    // Every dispatcher has had many chances to post a delivery twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = receiver.at("/once");
    let ids: HashSet<&str> = got_now.iter().map(Received::id).collect();
    assert_eq!((ids.len(), got_now.len()), (20, 20), "{got:#?}");
    drop(replicas);
}
