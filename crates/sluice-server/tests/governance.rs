//! The model as a contract, over HTTP: what a change of model does to the hand-off (new MQLs
//! routed, MQLs no longer qualified sent back unless sales touched them), versions and
//! rollback, proposals signed by both sides. Runs on SQLite, and on PostgreSQL when
//! `SLUICE_TEST_POSTGRES_URL` is set.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sluice_server::state::Clock;
use sluice_server::{Config, Running};
use sluice_store::testing::PgDatabase;

const ADMIN: &str = "admin-token";

/// The metrics registry is the process's: scenarios that count MQLs run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const WRITE_KEY: &str = "wk_test";

/// The model at a given MQL threshold and version: a VP is worth 20, a demo 40.
fn model(version: &str, mql: u32) -> String {
    format!(
        r#"
[model]
name = "governance-test"
version = "{version}"
[thresholds]
mql = {mql}
[[fit.rules]]
id = "vp"
when = "lead.seniority == 'vp'"
points = 20
[engagement]
half_life = "never"
[[engagement.rules]]
id = "demo"
event = "Demo Requested"
points = 40
[handoff]
default_team = "sdr"
reject_reasons = ["not_a_fit"]
"#
    )
}

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl App {
    async fn with(url: String, dir: Option<tempfile::TempDir>, pg: Option<PgDatabase>) -> App {
        let running = sluice_server::start(Config {
            database_url: url,
            bind: "127.0.0.1:0".parse().unwrap(),
            model: Some((model("1", 50), "model.toml".into())),
            admin_token: Some(ADMIN.into()),
            write_key: Some(WRITE_KEY.into()),
            rescore_every: None,
            sla_every: None,
            clock: Clock::manual(sluice_server::state::now()),
            limits: Default::default(),
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        })
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

    async fn sqlite() -> App {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
        App::with(url, Some(dir), None).await
    }

    async fn postgres() -> Option<App> {
        let pg = PgDatabase::create().await?;
        Some(App::with(pg.url.clone(), None, Some(pg)).await)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method.clone(), path, ADMIN, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer
    }

    /// Sends a TOML body; returns the status and the answer.
    async fn toml(&self, path: &str, token: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/toml")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Puts a model in force the admin's way (no sign-off).
    async fn activate(&self, source: &str) {
        let (status, answer) = self
            .toml("/api/v1/model?activate=true", ADMIN, source)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    async fn identify(&self, user: &str, traits: Value, demo: bool) {
        let mut traits = traits;
        traits["email"] = json!(format!("{user}@acme.io"));
        let mut batch = vec![json!({"type": "identify", "userId": user, "traits": traits})];
        if demo {
            batch.push(json!({"type": "track", "userId": user, "event": "Demo Requested"}));
        }
        let status = self
            .http
            .post(format!("{}/v1/batch", self.base))
            .basic_auth(WRITE_KEY, Some(""))
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
    }

    async fn lead(&self, id: &str) -> Value {
        self.admin(Method::GET, &format!("/api/v1/leads/{id}"), None)
            .await["lead"]
            .clone()
    }

    async fn queued(&self) -> Vec<String> {
        let queue = self.admin(Method::GET, "/api/v1/queue", None).await;
        queue["items"]
            .as_array()
            .or(queue["queue"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|item| item["lead_id"].as_str().map(str::to_string))
            .collect()
    }

    async fn mqls_created(&self) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("sluice_mqls_created_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    async fn setup_team(&self) {
        self.admin(
            Method::POST,
            "/api/v1/teams",
            Some(
                json!({"id": "sdr", "time_zone": "UTC", "working_hours": ["Mon-Sun 00:00-24:00"]}),
            ),
        )
        .await;
        for id in ["ana", "ben"] {
            self.admin(
                Method::POST,
                "/api/v1/reps",
                Some(json!({"id": id, "name": id, "email": format!("{id}@example.com"), "team": "sdr", "capacity": 100})),
            )
            .await;
        }
    }
}

/// Lowering the bar routes the new MQLs like any other; raising it again sends back the ones
/// sales has not touched, and keeps those it accepted, worked or assigned by hand.
async fn activation_policy(app: App) {
    let _serial = SERIAL.lock().await;
    app.setup_team().await;
    app.identify("vp", json!({"seniority": "vp"}), true).await; // 60: an MQL under v1
    for user in ["plain", "worked", "accepted", "handed"] {
        app.identify(user, json!({}), true).await; // 40: not yet
    }
    assert_eq!(app.lead("vp").await["stage"], "mql");
    assert_eq!(app.lead("plain").await["stage"], "lead");
    let before = app.mqls_created().await;

    app.activate(&model("2", 30)).await;
    for user in ["vp", "plain", "worked", "accepted", "handed"] {
        let lead = app.lead(user).await;
        assert_eq!(lead["stage"], "mql", "{user}: {lead}");
        assert!(lead["owner"].is_string(), "{user} is routed: {lead}");
    }
    let queued = app.queued().await;
    for user in ["plain", "worked", "accepted", "handed"] {
        assert!(queued.iter().any(|id| id == user), "{user} in {queued:?}");
    }
    assert_eq!(app.mqls_created().await - before, 4.0);
    let moves = app
        .admin(Method::GET, "/api/v1/leads/plain", None)
        .await
        .to_string();
    assert!(moves.contains("\"model_version\":\"2\""), "{moves}");

    // Sales touches three of them: a call, an acceptance, an assignment by hand.
    app.admin(
        Method::POST,
        "/api/v1/leads/worked/activities",
        Some(json!({"kind": "call", "rep": "ana"})),
    )
    .await;
    app.admin(
        Method::POST,
        "/api/v1/leads/accepted/accept",
        Some(json!({"rep": "ana"})),
    )
    .await;
    app.admin(
        Method::POST,
        "/api/v1/leads/handed/assign",
        Some(json!({"rep": "ben"})),
    )
    .await;

    app.activate(&model("3", 50)).await;
    let plain = app.lead("plain").await;
    assert_eq!(plain["stage"], "lead", "{plain}");
    assert_eq!(plain["qualification"], "lead", "{plain}");
    assert_eq!(app.lead("worked").await["stage"], "mql");
    assert_eq!(app.lead("handed").await["stage"], "mql");
    assert_eq!(app.lead("accepted").await["stage"], "sal");
    assert_eq!(app.lead("vp").await["stage"], "mql");
    let queued = app.queued().await;
    assert!(!queued.iter().any(|id| id == "plain"), "{queued:?}");
    let transitions = app
        .admin(Method::GET, "/api/v1/leads/plain", None)
        .await
        .to_string();
    assert!(
        transitions.contains("no longer qualified under model version 3"),
        "{transitions}"
    );
    let _ = &app.running;
}

#[tokio::test]
async fn activation_routes_new_mqls_and_sends_back_untouched_ones_on_sqlite() {
    activation_policy(App::sqlite().await).await;
}

#[tokio::test]
async fn activation_routes_new_mqls_and_sends_back_untouched_ones_on_postgres() {
    if let Some(app) = App::postgres().await {
        activation_policy(app).await;
    }
}

impl App {
    /// A user of `role`; their token.
    async fn user(&self, role: &str, email: &str) -> String {
        let mut body = json!({"email": email, "role": role});
        if role == "sales_manager" {
            body["team"] = json!("sdr");
        }
        let (status, user) = self
            .call(Method::POST, "/api/v1/users", ADMIN, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user["token"].as_str().unwrap().to_string()
    }
}

/// A proposal carries its diff and backtest; one side's signature is not enough, both put it
/// in force; a rejected one never is; shadow scoring compares without moving anyone; the log
/// tells who did what; a rollback restores the earlier scores.
async fn sign_off(app: App) {
    let _serial = SERIAL.lock().await;
    app.setup_team().await;
    let mia = app.user("marketing", "mia@example.com").await;
    let sam = app.user("sales_manager", "sam@example.com").await;
    let ann = app.user("analyst", "ann@example.com").await;
    app.identify("vp", json!({"seniority": "vp"}), true).await;
    app.identify("plain", json!({}), true).await;
    assert_eq!(app.lead("plain").await["stage"], "lead");
    let score_before = app.lead("plain").await["score"].clone();

    // Proposing is marketing's; an analyst reads.
    let (status, _) = app
        .toml("/api/v1/model/proposals", &ann, &model("2", 30))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, bad) = app
        .toml("/api/v1/model/proposals", &mia, "[model]\nname = 1\n")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (status, proposal) = app
        .toml(
            "/api/v1/model/proposals?rationale=Demo%20requests%20alone%20convert",
            &mia,
            &model("2", 30),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let id = proposal["id"].as_str().unwrap().to_string();
    let diff = proposal["diff"].to_string();
    assert!(diff.contains("MQL threshold 50 → 30"), "{diff}");
    let backtest = &proposal["backtest"];
    assert_eq!(backtest["leads"], 2, "{backtest}");
    assert_eq!(backtest["active"]["metrics"]["mqls"], 1, "{backtest}");
    assert_eq!(backtest["proposed"]["metrics"]["mqls"], 2, "{backtest}");
    assert_eq!(
        proposal["quorum"]["missing"],
        json!(["marketing", "sales_manager"])
    );

    // Shadow: the proposal's MQLs are counted, nobody moves.
    let clock = &app.running.state.clock;
    clock.advance(std::time::Duration::from_secs(60));
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/model/proposals/{id}/shadow"),
            &mia,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, shadow) = app
        .call(
            Method::POST,
            &format!("/api/v1/model/proposals/{id}/shadow"),
            &mia,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shadow}");
    clock.advance(std::time::Duration::from_secs(60));
    app.identify("late", json!({}), true).await;
    let (status, shadow) = app
        .call(
            Method::GET,
            &format!("/api/v1/model/proposals/{id}/shadow"),
            &ann,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shadow}");
    assert_eq!(
        shadow["report"]["proposed"]["metrics"]["mqls"], 1,
        "{shadow}"
    );
    assert_eq!(shadow["report"]["active"]["metrics"]["mqls"], 0, "{shadow}");
    assert_eq!(app.lead("late").await["stage"], "lead");

    // One side is not enough.
    let (status, signed) = app
        .call(
            Method::POST,
            &format!("/api/v1/model/proposals/{id}/approve"),
            &mia,
            Some(json!({"comment": "marketing agrees"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["activated"], false);
    assert_eq!(signed["quorum"]["missing"], json!(["sales_manager"]));
    assert_eq!(app.lead("plain").await["stage"], "lead");
    let active = app.admin(Method::GET, "/api/v1/model", None).await;
    assert_eq!(active["version"], "1");
    assert!(active["glossary"].is_object(), "{active}");

    // Both sides: in force, and the leads rescored under it while events keep arriving.
    let approve = format!("/api/v1/model/proposals/{id}/approve");
    let ((status, signed), ()) =
        tokio::join!(app.call(Method::POST, &approve, &sam, None), async {
            for i in 0..20 {
                app.identify(&format!("during-{i}"), json!({}), true).await;
            }
        });
    assert_eq!(status, StatusCode::OK, "{signed}");
    let activation = app
        .admin(Method::GET, "/api/v1/model/activation", None)
        .await;
    assert_eq!(activation["version"], "2", "{activation}");
    assert_eq!(activation["pending"], 0, "{activation}");
    for i in 0..20 {
        let lead = app.lead(&format!("during-{i}")).await;
        assert_eq!(lead["model_version"], "2", "{lead}");
        assert_eq!(lead["stage"], "mql", "{lead}");
    }
    assert_eq!(signed["activated"], true, "{signed}");
    assert_eq!(signed["status"], "approved");
    assert_eq!(app.lead("plain").await["stage"], "mql");
    let active = app.admin(Method::GET, "/api/v1/model", None).await;
    assert_eq!(active["version"], "2");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/model/proposals/{id}/approve"),
            &sam,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A rejected proposal never goes into force.
    let (_, other) = app
        .toml("/api/v1/model/proposals", &mia, &model("3", 90))
        .await;
    let other = other["id"].as_str().unwrap().to_string();
    let (status, rejected) = app
        .call(
            Method::POST,
            &format!("/api/v1/model/proposals/{other}/reject"),
            &sam,
            Some(json!({"reason": "sales would starve"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/model/proposals/{other}/approve"),
            &mia,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The log: who wrote each version, why, and how it went into force.
    let log = app.admin(Method::GET, "/api/v1/model/log", None).await;
    let v2 = log["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "2")
        .unwrap()
        .clone();
    assert_eq!(v2["author"], "mia@example.com", "{log}");
    assert_eq!(v2["rationale"], "Demo requests alone convert", "{log}");
    assert_eq!(v2["activations"][0]["how"], "proposal", "{log}");
    assert!(
        v2["changes"].to_string().contains("MQL threshold 50 → 30"),
        "{log}"
    );

    // A proposal made against version 2 is not signed once another version is in force.
    let (_, stale) = app
        .toml("/api/v1/model/proposals", &mia, &model("5", 45))
        .await;
    let stale = stale["id"].as_str().unwrap().to_string();

    // Rollback: version 1 in force again, the earlier scores and stages back.
    let (status, _) = app
        .call(Method::POST, "/api/v1/model/rollback?version=9", &sam, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, rolled) = app
        .call(Method::POST, "/api/v1/model/rollback?version=1", &sam, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["previous"], "2");
    let active = app.admin(Method::GET, "/api/v1/model", None).await;
    assert_eq!(active["version"], "1");
    let plain = app.lead("plain").await;
    assert_eq!(plain["score"], score_before, "{plain}");
    assert_eq!(
        plain["stage"], "lead",
        "untouched, not qualified under 1: {plain}"
    );

    let (status, refused) = app
        .call(
            Method::POST,
            &format!("/api/v1/model/proposals/{stale}/approve"),
            &mia,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused.to_string().contains("propose it again"),
        "{refused}"
    );

    // Putting a model in force without sign-off is an admin's act only.
    let (status, _) = app
        .toml("/api/v1/model?activate=true", &mia, &model("4", 40))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let audit = app
        .admin(Method::GET, "/api/v1/audit", None)
        .await
        .to_string();
    for action in [
        "model.propose",
        "model.approve",
        "model.activate",
        "model.reject",
        "model.rollback",
        "model.shadow",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
}

#[tokio::test]
async fn proposals_need_both_sides_and_roll_back_on_sqlite() {
    sign_off(App::sqlite().await).await;
}

#[tokio::test]
async fn proposals_need_both_sides_and_roll_back_on_postgres() {
    if let Some(app) = App::postgres().await {
        sign_off(app).await;
    }
}
