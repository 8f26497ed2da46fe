//! The hand-off end to end, over HTTP: events make a lead an MQL, it is routed to a rep, the
//! SLA warns and breaches and the lead is reassigned, a receiver on loopback gets signed
//! webhooks that verify, the rep rejects with a reason, outcomes move stages, and the report
//! counts it all. Runs on SQLite, and on PostgreSQL when `SLUICE_TEST_POSTGRES_URL` is set
//! (where two services share one database and the scheduler still acts once).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_server::state::Clock;
use sluice_server::webhooks::WebhookSettings;
use sluice_server::{Config, Running};
use sluice_store::testing::PgDatabase;

/// A model whose hand-off runs on seconds, so SLAs breach within a test.
const MODEL: &str = r#"
[model]
name = "handoff-test"
version = "1"
[thresholds]
mql = 50
[[fit.rules]]
id = "vp"
when = "lead.seniority == 'vp'"
points = 20
[engagement]
half_life = "30d"
[[engagement.rules]]
id = "demo"
event = "Demo Requested"
points = 40
[bant]
sql_min = 1.0
[bant.budget]
field = "bant_budget"
values = { approved = 1.0 }
[probability]
of = "opportunity"
intercept = -4.0
per_point = 0.05
[handoff]
default_team = "sdr"
reject_reasons = ["not_a_fit", "student"]
[[handoff.routing]]
id = "enterprise"
when = "lead.employees > 5000"
team = "ae"
[[handoff.sla]]
id = "first-touch"
step = "first_touch"
within = "3s"
warn_before = "2s"
on_breach = "reassign"
"#;

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
}

impl App {
    /// A service on its own clock, standing at the present until the test moves it.
    async fn start(url: String) -> App {
        App::start_on(url, Clock::manual(sluice_server::state::now())).await
    }

    async fn start_on(url: String, clock: Clock) -> App {
        let config = Config {
            database_url: url,
            bind: "127.0.0.1:0".parse().unwrap(),
            model: Some((MODEL.into(), "handoff.toml".into())),
            admin_token: Some("admin-token".into()),
            write_key: Some("wk_test".into()),
            rescore_every: None,
            sla_every: None,
            clock,
            limits: Default::default(),
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        };
        let settings = WebhookSettings {
            poll: Duration::from_millis(20),
            ..WebhookSettings::default()
        };
        let running = sluice_server::start_with(config, settings).await.unwrap();
        App {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
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

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// A 4xx whose message names `field`; returns the message.
    async fn refused(&self, path: &str, body: Value, status: StatusCode, field: &str) -> String {
        let (got, answer) = self.post(path, body).await;
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(got, status, "{path}: {answer}");
        assert!(
            message.contains(field),
            "{path}: `{message}` does not name `{field}`"
        );
        message
    }

    async fn identify_and_demo(&self, user: &str, traits: Value) {
        let now = self.running.state.clock.now().to_string();
        let mut traits = traits;
        traits["email"] = json!(format!("{user}@acme.io"));
        let batch = json!({"batch": [
            {"type": "identify", "userId": user, "messageId": format!("{user}-i"), "timestamp": now, "traits": traits},
            {"type": "track", "userId": user, "messageId": format!("{user}-d"), "timestamp": now, "event": "Demo Requested"},
        ]});
        let response = self
            .http
            .post(format!("{}/v1/batch", self.base))
            .basic_auth("wk_test", Some(""))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn setup_teams(&self) {
        for team in ["sdr", "ae"] {
            self.ok(
                "/api/v1/teams",
                json!({"id": team, "time_zone": "UTC", "working_hours": ["Mon-Sun 00:00-24:00"], "manager": format!("{team}-boss@example.com")}),
            )
            .await;
        }
        for (id, team) in [("ana", "sdr"), ("ben", "sdr"), ("eve", "ae")] {
            self.ok(
                "/api/v1/reps",
                json!({"id": id, "name": id, "email": format!("{id}@example.com"), "team": team, "capacity": 10}),
            )
            .await;
        }
    }
}

/// A webhook receiver on loopback that keeps every request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let keep = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                keep.got.lock().unwrap().push((headers, body));
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// Waits for an event of `kind`; checks its signature; returns its data.
    async fn wait_for(&self, kind: &str, secret: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.got.lock().unwrap().iter().find_map(|(headers, body)| {
                let value: Value = serde_json::from_str(body).ok()?;
                (value["type"] == kind).then(|| (headers.clone(), body.clone(), value))
            });
            if let Some((headers, body, value)) = found {
                standardwebhooks::Webhook::new(secret)
                    .unwrap()
                    .verify(body.as_bytes(), &headers)
                    .expect("the signature verifies");
                return value["data"].clone();
            }
            assert!(Instant::now() < deadline, "no `{kind}` webhook arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn sla_run(app: &App) -> Value {
    app.ok("/api/v1/sla/run", json!({})).await
}

async fn scenario(app: App) {
    app.setup_teams().await;
    let (receiver, url) = Receiver::start().await;
    let (status, sub) = app
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "event_types": ["*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let secret = sub["secret"].as_str().unwrap().to_string();

    // Bad input names the field and changes nothing.
    app.refused(
        "/api/v1/reps",
        json!({"id": "zed", "name": "Zed", "email": "zed@example.com", "team": "nope"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "team",
    )
    .await;
    app.refused("/api/v1/reps", json!({"id": "zed", "name": "Zed", "email": "zed@example.com", "team": "sdr", "capacity": -1}), StatusCode::UNPROCESSABLE_ENTITY, "capacity").await;
    app.refused(
        "/api/v1/teams",
        json!({"id": "x", "time_zone": "Mars/Olympus"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "working_hours",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/reps").await["reps"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The MQL is routed: no rule matches, so the default team; ana and ben are equally free
    // and neither has had a lead, so the tie goes by id.
    app.identify_and_demo("u1", json!({"seniority": "vp"}))
        .await;
    let lead = app.get("/api/v1/leads/u1").await;
    assert_eq!(lead["lead"]["stage"], "mql", "{lead}");
    let assigned = receiver.wait_for("lead.assigned", &secret).await;
    assert_eq!(assigned["rep"], "ana", "{assigned}");
    assert_eq!(assigned["rule"], "default_team");
    receiver.wait_for("lead.mql", &secret).await;
    let queue = app.get("/api/v1/queue?team=sdr").await;
    let item = &queue["queue"][0];
    assert_eq!(
        (item["lead_id"].as_str(), item["rep"].as_str()),
        (Some("u1"), Some("ana")),
        "{queue}"
    );
    assert_eq!(item["slas"][0]["sla"], "first-touch");
    // The model's calibration gives each queued lead its chance: 60 points, -4 + 0.05 * 60.
    assert_eq!(item["probability"], 0.269, "{item}");

    // An enterprise lead goes to the account executives by rule.
    app.identify_and_demo("u2", json!({"seniority": "vp", "employees": 10000}))
        .await;
    let activity = app.get("/api/v1/leads/u2/activities").await;
    assert_eq!(activity["assignments"][0]["rep_id"], "eve", "{activity}");
    assert_eq!(activity["assignments"][0]["rule"], "enterprise");
    // eve touches hers at once: no warning for u2.
    app.ok(
        "/api/v1/leads/u2/activities",
        json!({"kind": "call", "rep": "eve", "external_id": "crm-1"}),
    )
    .await;
    let (status, _) = app
        .post(
            "/api/v1/leads/u2/activities",
            json!({"kind": "call", "external_id": "crm-1"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a repeated CRM activity is stored once"
    );
    app.refused(
        "/api/v1/activities",
        json!({"activities": [{"lead": "u2", "kind": "fax"}]}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "activities[0].kind",
    )
    .await;

    // The SLA warns after one second, breaches after three: u1 goes to ben.
    let clock = &app.running.state.clock;
    clock.advance(Duration::from_millis(1200));
    let run = sla_run(&app).await;
    assert_eq!(run["warnings"], 1, "{run}");
    let warning = receiver.wait_for("sla.warning", &secret).await;
    assert_eq!(
        (warning["lead_id"].as_str(), warning["rep"].as_str()),
        (Some("u1"), Some("ana"))
    );
    assert_eq!(sla_run(&app).await["warnings"], 0, "a warning is sent once");
    clock.advance(Duration::from_millis(2000));
    let run = sla_run(&app).await;
    assert_eq!(
        (run["breaches"].as_u64(), run["reassigned"].as_u64()),
        (Some(1), Some(1)),
        "{run}"
    );
    let breach = receiver.wait_for("sla.breached", &secret).await;
    assert_eq!(breach["manager"], "sdr-boss@example.com");
    assert_eq!(breach["action"], "reassign:ben");
    let lead = app.get("/api/v1/leads/u1").await;
    assert_eq!(lead["lead"]["owner"], "ben", "{lead}");

    // Feedback: a reason outside the model's list is refused; a listed one recycles the lead.
    app.refused(
        "/api/v1/leads/u1/reject",
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason",
    )
    .await;
    app.refused(
        "/api/v1/leads/u1/reject",
        json!({"reason": "too_busy"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reject_reasons",
    )
    .await;
    app.refused(
        "/api/v1/leads/u1/assign",
        json!({"rep": "nobody"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "rep",
    )
    .await;
    let rejected = app
        .ok(
            "/api/v1/leads/u1/reject",
            json!({"reason": "student", "rep": "ben"}),
        )
        .await;
    assert_eq!(rejected["transition"]["to"], "recycled", "{rejected}");
    let data = receiver.wait_for("lead.rejected", &secret).await;
    assert_eq!(data["reason"], "student");
    // The recycle reset its engagement: it is back below the bar.
    let lead = app.get("/api/v1/leads/u1").await;
    assert_eq!(lead["lead"]["engagement"], 0.0, "{lead}");

    // u2: accepted, BANT gate, outcomes move it on.
    let accepted = app.ok("/api/v1/leads/u2/accept", json!({})).await;
    assert_eq!(accepted["transition"]["to"], "sal", "{accepted}");
    receiver.wait_for("lead.accepted", &secret).await;
    app.refused(
        "/api/v1/leads/u2/transitions",
        json!({"to": "sql"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "BANT",
    )
    .await;
    app.refused(
        "/api/v1/outcomes",
        json!({"outcomes": [{"email": "u2@acme.io", "type": "opportunity", "amount": -5}]}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outcomes[0].amount",
    )
    .await;
    app.refused(
        "/api/v1/outcomes",
        json!({"outcomes": [{"email": "u2@acme.io", "type": "lost"}]}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outcomes[0].reason",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/leads/u2").await["lead"]["stage"],
        "sal",
        "refused outcomes move nothing"
    );
    let ack = app.ok("/api/v1/outcomes", json!({"outcomes": [
        {"email": "u2@acme.io", "type": "opportunity", "amount": 24000, "date": "2026-11-20"},
        {"lead_id": "u2", "type": "won", "amount": 24000, "date": "2026-11-21"},
        {"email": "ghost@nowhere.io", "type": "won", "amount": 1},
    ]})).await;
    assert_eq!(
        (ack["new"].as_u64(), ack["moved"].as_u64()),
        (Some(2), Some(2)),
        "{ack}"
    );
    assert_eq!(ack["unmatched"][0]["index"], 2);
    assert_eq!(app.get("/api/v1/leads/u2").await["lead"]["stage"], "won");
    let again = app.ok("/api/v1/outcomes", json!({"outcomes": [{"lead_id": "u2", "type": "won", "amount": 24000, "date": "2026-11-21"}]})).await;
    assert_eq!(
        (again["new"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );

    // The report: two MQLs, one touched; first touch kept once (eve), breached once (ana).
    let report = app.get("/api/v1/reports/sla").await["report"].clone();
    assert_eq!(report["total"]["mqls"], 2, "{report}");
    assert_eq!(report["total"]["contact_rate"], 0.5);
    assert_eq!(report["reps"]["eve"]["policies"]["first-touch"]["met"], 1);
    assert_eq!(
        report["reps"]["ana"]["policies"]["first-touch"]["breached"],
        1
    );
    assert_eq!(report["breaches"][0]["lead"], "u1");
    drop(app.running);
}

#[tokio::test]
async fn the_handoff_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
    scenario(App::start(url).await).await;
}

#[tokio::test]
async fn the_handoff_on_postgres() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    scenario(App::start(pg.url.clone()).await).await;
}

/// Two services share one PostgreSQL database: both run the scheduler at the same moment, and
/// each warning and breach is recorded and acted on once.
#[tokio::test]
async fn replicas_act_on_a_breach_once() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let clock = Clock::manual(sluice_server::state::now());
    let a = App::start_on(pg.url.clone(), clock.clone()).await;
    let b = App::start_on(pg.url.clone(), clock.clone()).await;
    a.setup_teams().await;
    a.identify_and_demo("r1", json!({"seniority": "vp"})).await;
    clock.advance(Duration::from_millis(3200));
    let (ra, rb) = tokio::join!(sla_run(&a), sla_run(&b));
    let breaches = ra["breaches"].as_u64().unwrap() + rb["breaches"].as_u64().unwrap();
    let reassigned = ra["reassigned"].as_u64().unwrap() + rb["reassigned"].as_u64().unwrap();
    assert_eq!((breaches, reassigned), (1, 1), "{ra} {rb}");
    let events = a.get("/api/v1/leads/r1/activities").await;
    let kinds: Vec<&str> = events["sla_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["breached"], "{events}");
    assert_eq!(
        events["assignments"].as_array().unwrap().len(),
        2,
        "{events}"
    );
}

/// `PATCH /api/v1/reps/{id}`: `null` (and `""`, and the CLI's `none`) clears what a rep can be
/// without (their own time zone and hours, an absence); what they cannot be without is refused
/// with the field named; absent fields stay as they are.
#[tokio::test]
async fn patching_a_rep_with_null_clears_what_can_be_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
    let app = App::start(url).await;
    app.setup_teams().await;
    let patch = |body: Value| app.call(reqwest::Method::PATCH, "/api/v1/reps/ana", Some(body));

    let (status, rep) = patch(json!({
        "time_zone": "Europe/Berlin",
        "working_hours": ["Mon-Fri 08:00-16:00"],
        "away_until": "2099-01-01"
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{rep}");
    assert_eq!(rep["time_zone"], "Europe/Berlin");
    assert!(rep["away_until_ms"].is_number(), "{rep}");

    let (status, rep) = patch(json!({"away_until": null, "time_zone": null})).await;
    assert_eq!(status, StatusCode::OK, "{rep}");
    assert!(rep["away_until_ms"].is_null(), "{rep}");
    assert!(rep["time_zone"].is_null(), "{rep}");
    // Untouched by that patch.
    assert_eq!(
        rep["working_hours"],
        json!(["Mon-Fri 08:00-16:00"]),
        "{rep}"
    );
    assert_eq!(rep["capacity"], 10, "{rep}");

    let (status, rep) = patch(json!({"away_until": "2099-01-01"})).await;
    assert_eq!(status, StatusCode::OK, "{rep}");
    let (status, rep) = patch(json!({"away_until": "none", "working_hours": null})).await;
    assert_eq!(status, StatusCode::OK, "{rep}");
    assert!(rep["away_until_ms"].is_null(), "{rep}");
    assert!(rep["working_hours"].is_null(), "{rep}");

    for field in ["name", "email", "team", "capacity", "available"] {
        let (status, answer) = patch(json!({ field: null })).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    let rep = app.get("/api/v1/reps/ana").await;
    assert_eq!(rep["name"], "ana", "{rep}");
    assert_eq!(rep["available"], true, "{rep}");
    drop(app.running);
}

/// `POST /api/v1/outcomes` takes a CRM's deal as its export names the fields (a CRM's webhook
/// or a sync sends them so): a won HubSpot deal is the lead's opportunity, then its win; a
/// deal whose amount cannot be read is refused with its index and field.
#[tokio::test]
async fn crm_deals_are_outcomes_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
    let app = App::start(url).await;
    app.identify_and_demo("ada", json!({"title": "CTO"})).await;

    let deal = json!({
        "Deal Name": "Acme platform",
        "Deal Stage": "closedwon",
        "Amount": "$24,000.00",
        "Create Date": "2026-02-01 10:00",
        "Close Date": "2026-03-15 16:30",
        "Associated Contact": "Ada (ada@acme.io)",
    });
    let answer = app
        .ok("/api/v1/outcomes", json!({"outcomes": [deal]}))
        .await;
    assert_eq!(answer["new"], 2, "{answer}");
    let lead = app.get("/api/v1/leads/ada").await;
    assert_eq!(lead["lead"]["stage"], "won", "{lead}");
    let amounts: Vec<f64> = lead["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(amounts, [24000.0, 24000.0], "{lead}");

    let bad = json!({"Deal Stage": "closedwon", "Amount": "lots", "Associated Contact": "ada@acme.io",
        "Create Date": "2026-02-01", "Close Date": "2026-03-01"});
    let message = app
        .refused(
            "/api/v1/outcomes",
            json!({"outcomes": [bad]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outcomes[0].Amount",
        )
        .await;
    assert!(message.contains("is not a number"), "{message}");
    drop(app.running);
}

#[tokio::test]
async fn the_queue_sorts_by_the_chance_of_converting() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(format!("sqlite://{}", dir.path().join("q.db").display())).await;
    app.setup_teams().await;
    // Two demos make a stronger lead than one.
    app.identify_and_demo("low", json!({"seniority": "vp"}))
        .await;
    app.identify_and_demo("high", json!({"seniority": "vp"}))
        .await;
    let again = json!({"batch": [{"type": "track", "userId": "high", "messageId": "high-d2",
        "timestamp": app.running.state.clock.now().to_string(), "event": "Demo Requested"}]});
    let response = app
        .http
        .post(format!("{}/v1/batch", app.base))
        .basic_auth("wk_test", Some(""))
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let by_deadline = app.get("/api/v1/queue").await;
    let ids = |queue: &Value| -> Vec<String> {
        queue["queue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["lead_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(by_deadline["sort"], "deadline", "{by_deadline}");
    assert_eq!(ids(&by_deadline).len(), 2, "{by_deadline}");
    let by_chance = app.get("/api/v1/queue?sort=probability").await;
    assert_eq!(ids(&by_chance), ["high", "low"], "{by_chance}");
    let chances: Vec<f64> = by_chance["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["probability"].as_f64().unwrap())
        .collect();
    assert!(chances[0] > chances[1], "{chances:?}");
    let (status, body) = app
        .call(reqwest::Method::GET, "/api/v1/queue?sort=urgency", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("sort: `urgency`"), "{body}");
}
