//! The service, through the doors its users use: Segment ingestion with a write key, the
//! management API with a bearer token. Every scenario runs on SQLite, and on PostgreSQL when
//! `SLUICE_TEST_POSTGRES_URL` is set.

use std::io::Write as _;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_server::{Config, Running};
use sluice_store::testing::PgDatabase;

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

/// The tests' service settings on a database.
fn config(database_url: String) -> Config {
    Config {
        database_url,
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
    }
}

impl App {
    async fn start(url: String) -> Running {
        sluice_server::start(config(url))
            .await
            .expect("the service starts")
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

    async fn with(url: String, dir: Option<tempfile::TempDir>, pg: Option<PgDatabase>) -> App {
        let running = App::start(url.clone()).await;
        App {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::new(),
            url,
            _dir: dir,
            _pg: pg,
        }
    }

    /// Stops the server and starts a new one on the same database (a restart).
    async fn restart(&mut self) {
        self.running.server.abort();
        self.running = App::start(self.url.clone()).await;
        self.base = format!("http://{}", self.running.addr);
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

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth("admin-token")
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth("admin-token")
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn event_count(&self) -> i64 {
        self.running.state.store.event_count().await.unwrap()
    }
}

fn track(id: &str, user: &str, event: &str, at: &str) -> Value {
    json!({"type": "track", "messageId": id, "userId": user, "event": event, "timestamp": at})
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

/// Today's date, for events that should not have decayed.
fn today() -> String {
    sluice_server::state::now().to_string()
}

#[tokio::test]
async fn segment_calls_score_a_lead_into_mql_with_its_explanation() {
    on_every_backend(|app| async move {
        let now = today();
        let (status, body) = app
            .segment(
                "/v1/identify",
                json!({"userId": "ada", "messageId": "i1", "timestamp": now,
                       "traits": {"email": "ada@acme.io", "seniority": "vp", "department": "data", "title": "VP Data"}}),
            )
            .await;
        // Segment's answer, with what was new and what a retry repeated.
        assert_eq!(
            (status, body),
            (
                StatusCode::OK,
                json!({"success": true, "new": 1, "duplicates": 0})
            )
        );
        let (status, _) = app
            .segment("/v1/group", json!({"userId": "ada", "groupId": "acme", "messageId": "g1", "timestamp": now,
                                         "traits": {"industry": "Software", "employees": 900}}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let batch = json!({"batch": [
            track("t1", "ada", "Demo Requested", &now),
            {"type": "page", "messageId": "p1", "userId": "ada", "timestamp": now, "properties": {"path": "/pricing"}},
        ]});
        assert_eq!(app.segment("/v1/batch", batch).await.0, StatusCode::OK);

        let (status, lead) = app.get("/api/v1/leads/ada").await;
        assert_eq!(status, StatusCode::OK, "{lead}");
        assert_eq!(lead["lead"]["stage"], "mql", "{lead}");
        assert_eq!(lead["lead"]["account_id"], "acme");
        assert_eq!(lead["now"]["score"]["qualification"], "mql");
        let rules: Vec<&str> = lead["now"]["explanation"]["engagement"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"demo-request") && rules.contains(&"pricing-page"), "{rules:?}");
        let mql = &lead["history"][0];
        assert_eq!((mql["from"].as_str(), mql["to"].as_str(), mql["actor"].as_str()), (Some("lead"), Some("mql"), Some("system")));
        assert_eq!(mql["model_version"], "2026.10.1");
        assert!(mql["detail"]["explanation"]["engagement"].is_array(), "the explanation at that moment is kept");
        // The email names the lead too.
        assert_eq!(app.get("/api/v1/leads/ada@acme.io").await.1["lead"]["id"], "ada");
        let (_, account) = app.get("/api/v1/accounts/acme").await;
        assert_eq!(account["leads"][0]["id"], "ada");
        assert!(account["account"]["score"].as_f64().unwrap() > 0.0);
        let (_, mqls) = app.get("/api/v1/leads?stage=mql").await;
        assert_eq!(mqls["leads"].as_array().unwrap().len(), 1);
        let (_, events) = app.get("/api/v1/leads/ada/events").await;
        assert_eq!(events["events"].as_array().unwrap().len(), 4);
    })
    .await;
}

#[tokio::test]
async fn retries_count_once_and_anonymous_visits_join_the_lead() {
    on_every_backend(|app| async move {
        let now = today();
        let batch = json!({"batch": [
            {"type": "page", "messageId": "p1", "anonymousId": "anon-1", "timestamp": now, "properties": {"path": "/pricing"}},
            track("t1", "bob", "Webinar Attended", &now),
        ]});
        for _ in 0..3 {
            assert_eq!(app.segment("/v1/batch", batch.clone()).await.0, StatusCode::OK);
        }
        assert_eq!(app.event_count().await, 2, "a retried batch is stored once");
        let (status, _) = app.get("/api/v1/leads/anon-1").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "an anonymous visitor is not a lead yet");
        let identify = json!({"userId": "bob", "anonymousId": "anon-1", "messageId": "i1", "timestamp": now});
        assert_eq!(app.segment("/v1/identify", identify).await.0, StatusCode::OK);
        let (_, lead) = app.get("/api/v1/leads/bob").await;
        let rules: Vec<&str> = lead["now"]["explanation"]["engagement"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"pricing-page"), "the anonymous pricing visit joined bob: {rules:?}");
        assert_eq!(lead["aliases"], json!(["anon-1"]));
        // alias: an earlier id joins the lead.
        let alias = json!({"previousId": "bob-old", "userId": "bob", "messageId": "a1", "timestamp": now});
        assert_eq!(app.segment("/v1/alias", alias).await.0, StatusCode::OK);
        assert_eq!(app.get("/api/v1/leads/bob-old").await.1["lead"]["id"], "bob");
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_with_segment_style_errors_and_nothing_stored() {
    on_every_backend(|app| async move {
        let now = today();
        let url = |p: &str| format!("{}{p}", app.base);
        // Malformed JSON.
        let r = app.http.post(url("/v1/track")).basic_auth("wk_test", Some("")).body("{nope").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().unwrap().starts_with("invalid JSON"), "{body}");
        // Unknown and missing write keys.
        let r = app.http.post(url("/v1/track")).basic_auth("wk_nope", Some("")).json(&track("x", "u", "E", &now)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = app.http.post(url("/v1/track")).json(&track("x", "u", "E", &now)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // One bad message rejects the whole batch: nothing of it is stored.
        let batch = json!({"batch": [track("ok1", "u", "E", &now), {"type": "track", "event": "E", "messageId": "bad"}]});
        let (status, body) = app.segment("/v1/batch", batch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["message"], "batch[1]: missing `userId` or `anonymousId`");
        let (status, body) = app.segment("/v1/track", json!({"userId": "u", "timestamp": "yesterday", "event": "E"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["message"].as_str().unwrap().contains("`timestamp`"), "{body}");
        let (status, _) = app.segment("/v1/track", json!({"type": "page", "userId": "u"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "type must match the path");
        // Size limits: 32 KB a message, 500 KB a batch.
        let big = "x".repeat(33 * 1024);
        let (status, body) = app.segment("/v1/track", json!({"userId": "u", "event": "E", "properties": {"blob": big}})).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let many: Vec<Value> = (0..20).map(|i| json!({"type": "track", "userId": "u", "event": "E", "messageId": format!("m{i}"), "properties": {"blob": "y".repeat(30 * 1024)}})).collect();
        let (status, _) = app.segment("/v1/batch", json!({"batch": many})).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(app.event_count().await, 0, "nothing from a rejected request is stored");

        // A gzip-encoded batch is accepted.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json!({"batch": [track("gz1", "u", "E", &now)]}).to_string().as_bytes()).unwrap();
        let r = app.http.post(url("/v1/batch")).basic_auth("wk_test", Some("")).header("content-encoding", "gzip").body(gz.finish().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // The write key may come in the body, as browsers send it (text/plain).
        let r = app.http.post(url("/v1/t")).header("content-type", "text/plain")
            .body(json!({"writeKey": "wk_test", "userId": "u", "event": "E", "messageId": "b1", "timestamp": now}).to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(app.event_count().await, 2);
    })
    .await;
}

#[tokio::test]
async fn the_management_api_guards_the_lifecycle() {
    on_every_backend(|app| async move {
        let now = today();
        let identify = json!({"userId": "cy", "messageId": "i1", "timestamp": now, "traits": {"email": "cy@acme.io", "seniority": "vp", "department": "it"}});
        app.segment("/v1/identify", identify).await;
        for (i, day) in ["Demo Requested", "Trial Started"].iter().enumerate() {
            app.segment("/v1/track", track(&format!("t{i}"), "cy", day, &now)).await;
        }
        let r = app.http.get(format!("{}/api/v1/leads", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = app.http.get(format!("{}/api/v1/leads", app.base)).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        assert_eq!(app.get("/api/v1/leads/cy").await.1["lead"]["stage"], "mql");
        let (status, body) = app.post("/api/v1/leads/cy/transitions", json!({"to": "won"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, body) = app.post("/api/v1/leads/cy/transitions", json!({"to": "recycled"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["error"]["message"].as_str().unwrap().contains("needs a `reason`"), "{body}");
        let (status, body) = app.post("/api/v1/leads/cy/transitions", json!({"to": "sal"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["lead"]["stage"], "sal");
        let (status, body) = app.post("/api/v1/leads/cy/transitions", json!({"to": "sql"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "BANT is not captured: {body}");
        let (status, _) = app.post("/api/v1/leads/cy/transitions", json!({"to": "sal", "actor": "robot"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = app.post("/api/v1/leads/nobody/transitions", json!({"to": "sal"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app.post("/api/v1/leads/cy/transitions", json!({"to": "disqualified", "actor": "marketing", "reason": "competitor"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let history = app.get("/api/v1/leads/cy").await.1["history"].clone();
        let moves: Vec<(&str, &str)> = history.as_array().unwrap().iter().map(|t| (t["to"].as_str().unwrap(), t["actor"].as_str().unwrap())).collect();
        assert_eq!(moves, [("mql", "system"), ("sal", "sales"), ("disqualified", "marketing")]);
        assert_eq!(history[2]["reason"], "competitor");
        // Events do not undo a person's decision.
        app.segment("/v1/track", track("t9", "cy", "Demo Requested", &now)).await;
        assert_eq!(app.get("/api/v1/leads/cy").await.1["lead"]["stage"], "disqualified");
        let (status, _) = app.get("/api/v1/leads?stage=nonsense").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = app.get("/api/v1/leads?cursor=garbage").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn models_are_versioned_checked_and_rescore_everyone() {
    on_every_backend(|app| async move {
        let now = today();
        app.segment("/v1/identify", json!({"userId": "di", "messageId": "i1", "timestamp": now, "traits": {"seniority": "director"}})).await;
        let base = sluice_server::DEFAULT_MODEL;
        let broken = base.replace("lead.seniority == 'director'", "lead.seniority = 'director'");
        let r = app.http.post(format!("{}/api/v1/model", app.base)).bearer_auth("admin-token").body(broken.replace("2026.10.1", "2")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["rule"], "director", "{body}");
        let r = app.http.post(format!("{}/api/v1/model", app.base)).bearer_auth("admin-token").body(base.replace("points = 15\n", "points = 16\n")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "same version, different content");
        let better = base.replace("2026.10.1", "2026.11.1").replace("when = \"lead.seniority == 'director'\"\npoints = 15", "when = \"lead.seniority == 'director'\"\npoints = 22");
        let r = app.http.post(format!("{}/api/v1/model", app.base)).bearer_auth("admin-token").body(better).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["rescored_leads"], 1);
        let (_, lead) = app.get("/api/v1/leads/di").await;
        assert_eq!(lead["lead"]["fit"], 22.0);
        assert_eq!(lead["lead"]["model_version"], "2026.11.1");
        let (_, versions) = app.get("/api/v1/model/versions").await;
        assert_eq!(versions["versions"][0]["version"], "2026.11.1");
        assert_eq!(versions["versions"][0]["active"], true);
        assert_eq!(app.get("/api/v1/model").await.1["version"], "2026.11.1");
    })
    .await;
}

#[tokio::test]
async fn sources_can_be_created_and_revoked() {
    on_every_backend(|app| async move {
        let (status, source) = app
            .post("/api/v1/sources", json!({"name": "backend"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let key = source["key"].as_str().unwrap().to_string();
        let send = |key: String| {
            let http = app.http.clone();
            let url = format!("{}/v1/track", app.base);
            async move {
                http.post(url)
                    .basic_auth(key, Some(""))
                    .json(&json!({"userId": "u", "event": "E"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(send(key.clone()).await, StatusCode::OK);
        let r = app
            .http
            .delete(format!("{}/api/v1/sources/{key}", app.base))
            .bearer_auth("admin-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(send(key).await, StatusCode::UNAUTHORIZED);
        let (_, sources) = app.get("/api/v1/sources").await;
        assert_eq!(sources["sources"].as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_restart_loses_nothing_and_rebuilds_the_scores() {
    on_every_backend(|mut app| async move {
        let now = today();
        app.segment("/v1/identify", json!({"userId": "ed", "anonymousId": "a-ed", "messageId": "i1", "timestamp": now, "traits": {"seniority": "vp", "department": "data"}})).await;
        app.segment("/v1/batch", json!({"batch": [track("t1", "ed", "Demo Requested", &now), track("t2", "ed", "Trial Started", &now)]})).await;
        let before = app.get("/api/v1/leads/ed").await.1;
        app.restart().await;
        let after = app.get("/api/v1/leads/ed").await.1;
        assert_eq!(after["lead"]["stage"], "mql");
        assert_eq!(after["now"]["explanation"]["engagement"].as_array().unwrap().len(), before["now"]["explanation"]["engagement"].as_array().unwrap().len());
        assert_eq!(after["history"], before["history"]);
        // Identity survives too, and a retry after the restart is still a duplicate.
        assert_eq!(app.get("/api/v1/leads/a-ed").await.1["lead"]["id"], "ed");
        app.segment("/v1/track", track("t1", "ed", "Demo Requested", &now)).await;
        assert_eq!(app.event_count().await, 3);
    })
    .await;
}

#[tokio::test]
async fn health_metrics_and_the_openapi_document() {
    let app = App::sqlite().await;
    let text = |path: &str| {
        let url = format!("{}{path}", app.base);
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(text("/healthz").await.0, StatusCode::OK);
    assert_eq!(text("/readyz").await.0, StatusCode::OK);
    app.segment("/v1/track", track("m1", "u", "Demo Requested", &today()))
        .await;
    let (_, metrics) = text("/metrics").await;
    assert!(
        metrics.contains("sluice_events_accepted_total"),
        "{metrics}"
    );
    assert!(metrics.contains("sluice_commit_seconds"), "{metrics}");
    let (status, doc) = text("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/api/v1/leads",
        "/api/v1/leads/{id}/transitions",
        "/api/v1/model",
        "/api/v1/sources/{id}",
        "/api/v1/users",
        "/api/v1/audit",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let (status, page) = text("/docs/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("swagger"), "Swagger UI is served");
}

#[tokio::test]
async fn rescoring_everyone_refreshes_stored_scores() {
    let app = App::sqlite().await;
    let now = today();
    app.segment("/v1/batch", json!({"batch": [track("t1", "fa", "Demo Requested", &now), track("t2", "gi", "Trial Started", &now)]})).await;
    let before = app.running.state.store.lead("fa").await.unwrap().unwrap();
    let (reply, done) = tokio::sync::oneshot::channel();
    app.running
        .state
        .writer
        .send(sluice_server::writer::Job::RescoreAll {
            reason: "decay",
            reply: Some(reply),
        })
        .await
        .unwrap();
    assert_eq!(done.await.unwrap(), Ok(2));
    let after = app.running.state.store.lead("fa").await.unwrap().unwrap();
    assert!(after.updated_ms >= before.updated_ms);
    assert!(
        after.engagement <= before.engagement,
        "engagement only decays with time"
    );
    assert_eq!(after.stage, before.stage);
}

#[tokio::test]
async fn analytics_js_finds_its_settings_here() {
    let app = App::sqlite().await;
    let r = reqwest::get(format!("{}/v1/projects/wk_test/settings", app.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: Value = r.json().await.unwrap();
    let host = app.base.trim_start_matches("http://");
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiHost"],
        format!("{host}/v1")
    );
    assert_eq!(settings["integrations"]["Segment.io"]["apiKey"], "wk_test");
    let r = reqwest::get(format!("{}/v1/projects/wk_other/settings", app.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The rule names of a lead's engagement explanation.
fn engagement_rules(lead: &Value) -> Vec<String> {
    lead["now"]["explanation"]["engagement"]
        .as_array()
        .unwrap_or_else(|| panic!("no engagement explanation: {lead}"))
        .iter()
        .filter_map(|r| r["rule"].as_str().map(str::to_string))
        .collect()
}

/// What SDK families other than Segment's own send, read as Segment's spec says: RudderStack's
/// `identify` traits only in `context.traits`, `"anonymousId": null`, `integrations`, gzip; a
/// mobile SDK's `screen` views with its device context and `"userId": null`; an event time
/// from the client's `originalTimestamp`, corrected for its clock by `sentAt`.
#[tokio::test]
async fn messages_of_every_sdk_family_are_read_as_segment_specifies() {
    on_every_backend(|app| async move {
        let now = sluice_server::state::now();
        let at = |offset_s: i64| sluice_core::Timestamp::from_millis(now.millis() - 60_000 + offset_s * 1000).to_string();
        // A model that scores mobile screens too, in force.
        let model = format!(
            "{}\n[[engagement.rules]]\nid = \"pricing-screen\"\nevent = \"screen\"\nwhen = \"event.properties.name == 'Pricing'\"\npoints = 15\n",
            sluice_server::DEFAULT_MODEL.replace("2026.10.1", "2026.10.2")
        );
        let r = app.http.post(format!("{}/api/v1/model", app.base)).bearer_auth("admin-token").body(model).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

        // RudderStack's Python SDK: the traits of `identify` in `context.traits` only, null
        // ids, `integrations` and `channel`, in a gzip-encoded batch.
        let library = json!({"name": "analytics-python", "version": "2.1.9"});
        let batch = json!({"sentAt": at(3), "batch": [
            {"type": "identify", "userId": "rudy", "anonymousId": null, "messageId": "r1", "timestamp": at(0),
             "channel": "server", "integrations": {"All": true},
             "context": {"traits": {"email": "rudy@acme.io", "title": "VP Data Platform", "seniority": "vp", "department": "data"}, "library": library}},
            {"type": "group", "userId": "rudy", "anonymousId": null, "groupId": "acme-r", "messageId": "r2", "timestamp": at(1),
             "channel": "server", "integrations": {"All": true}, "traits": {"name": "Acme R", "industry": "Software", "employees": 900},
             "context": {"traits": {"title": "a group call's context traits are not the lead's"}, "library": library}},
            {"type": "track", "userId": "rudy", "anonymousId": null, "event": "Demo Requested", "properties": {"plan": "enterprise"},
             "messageId": "r3", "timestamp": at(2), "channel": "server", "integrations": {"All": true}, "context": {"library": library}},
        ]});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(batch.to_string().as_bytes()).unwrap();
        let r = app.http.post(format!("{}/v1/batch", app.base)).basic_auth("wk_test", Some(""))
            .header("content-type", "application/json").header("content-encoding", "gzip")
            .body(gz.finish().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let (status, lead) = app.get("/api/v1/leads/rudy").await;
        assert_eq!(status, StatusCode::OK, "{lead}");
        let attributes = &lead["lead"]["attributes"];
        assert_eq!(attributes["email"], "rudy@acme.io", "{lead}");
        assert_eq!(attributes["title"], "VP Data Platform", "{lead}");
        assert_eq!(attributes["seniority"], "vp", "{lead}");
        assert!(lead["now"]["explanation"]["fit"].as_array().is_some_and(|fit| !fit.is_empty()), "fit points from the traits: {lead}");
        assert!(engagement_rules(&lead).contains(&"demo-request".to_string()), "{lead}");
        assert_eq!(lead["lead"]["stage"], "mql", "{lead}");
        assert_eq!(app.get("/api/v1/leads/rudy@acme.io").await.1["lead"]["id"], "rudy", "the email in context.traits names the lead");
        let (_, account) = app.get("/api/v1/accounts/acme-r").await;
        assert_eq!(account["account"]["attributes"], json!({"name": "Acme R", "industry": "Software", "employees": 900}), "{account}");

        // Sent both ways, `traits` wins over `context.traits` key by key.
        let identify = json!({"userId": "rudy", "messageId": "r4", "timestamp": at(4), "traits": {"title": "CTO"},
                              "context": {"traits": {"title": "an older copy", "department": "engineering"}}});
        assert_eq!(app.segment("/v1/identify", identify).await.0, StatusCode::OK);
        let (_, lead) = app.get("/api/v1/leads/rudy").await;
        assert_eq!(lead["lead"]["attributes"]["title"], "CTO", "{lead}");
        assert_eq!(lead["lead"]["attributes"]["department"], "engineering", "{lead}");
        // A track call's `context.traits` (mobile SDKs send their copy with every call) sets nothing.
        let track = json!({"userId": "rudy", "messageId": "r5", "timestamp": at(5), "event": "Webinar Attended",
                           "context": {"traits": {"title": "a cached copy"}}});
        assert_eq!(app.segment("/v1/track", track).await.0, StatusCode::OK);
        assert_eq!(app.get("/api/v1/leads/rudy").await.1["lead"]["attributes"]["title"], "CTO");

        // A mobile SDK: a `screen` view before sign-in (`"userId": null`), with the device's
        // context and `integrations`, scored by a screen rule once the visitor is identified.
        let device = json!({"id": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB", "manufacturer": "Apple", "model": "iPhone15,2", "type": "ios"});
        let context = json!({"device": device, "os": {"name": "iOS", "version": "17.4"},
                             "app": {"name": "Acme", "version": "3.1.0", "build": "310"}, "screen": {"width": 390, "height": 844},
                             "network": {"wifi": true}, "library": {"name": "analytics-swift", "version": "1.5.0"}});
        let screen = json!({"type": "screen", "userId": null, "anonymousId": "device-1", "name": "Pricing", "messageId": "s1",
                            "timestamp": at(6), "properties": {}, "context": context, "integrations": {"Mixpanel": false}});
        assert_eq!(app.segment("/v1/screen", screen).await.0, StatusCode::OK);
        let (status, _) = app.get("/api/v1/leads/device-1").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "an anonymous device is not a lead yet");
        let identify = json!({"type": "identify", "userId": "mia", "anonymousId": "device-1", "messageId": "s2", "timestamp": at(7),
                              "context": {"traits": {"email": "mia@acme.io"}, "device": device}});
        assert_eq!(app.segment("/v1/s", json!({"userId": "mia", "name": "Home", "messageId": "s3", "timestamp": at(8)})).await.0, StatusCode::OK);
        assert_eq!(app.segment("/v1/identify", identify).await.0, StatusCode::OK);
        let (_, lead) = app.get("/api/v1/leads/mia").await;
        assert_eq!(lead["lead"]["attributes"]["email"], "mia@acme.io", "{lead}");
        let rules = engagement_rules(&lead);
        assert_eq!(rules, ["pricing-screen"], "the Pricing screen scores, the Home screen does not: {lead}");
        let (_, events) = app.get("/api/v1/leads/mia/events").await;
        let stored = events["events"].as_array().unwrap().iter().map(|e| &e["message"]).find(|m| m["messageId"] == "s1").unwrap();
        assert_eq!(stored["context"]["device"], device, "{stored}");
        assert_eq!(stored["context"]["os"]["name"], "iOS", "{stored}");
        assert_eq!(stored["integrations"], json!({"Mixpanel": false}), "{stored}");

        // No `timestamp`: the client's `originalTimestamp`, corrected by how far its clock
        // (`sentAt`) is from the receive time. This client's clock is two hours slow, and it
        // sent the call 30 s after it was made.
        let slow = |ms: i64| sluice_core::Timestamp::from_millis(sluice_server::state::now().millis() - 2 * 3_600_000 + ms).to_string();
        let before = sluice_server::state::now();
        let batch = json!({"sentAt": slow(0), "batch": [
            {"type": "track", "userId": "mia", "event": "Trial Started", "messageId": "k1", "originalTimestamp": slow(-30_000), "properties": {"plan": "team"}},
        ]});
        assert_eq!(app.segment("/v1/batch", batch).await.0, StatusCode::OK);
        let after = sluice_server::state::now();
        let (_, lead) = app.get("/api/v1/leads/mia").await;
        let trial = lead["now"]["explanation"]["engagement"].as_array().unwrap().iter()
            .find(|r| r["rule"] == "trial-started").unwrap_or_else(|| panic!("{lead}"));
        let when = sluice_core::Timestamp::parse(trial["events"][0]["at"].as_str().unwrap()).unwrap().millis();
        assert!(
            before.millis() - 30_000 - 1_000 <= when && when <= after.millis() - 30_000 + 1_000,
            "30 s before it was received, not two hours: {when} in {}..{}", before.millis(), after.millis()
        );
    })
    .await;
}

/// analytics.js in a page of another site: its preflight (with `Authorization`, which a
/// wildcard does not allow), `text/plain` bodies, `navigator.sendBeacon`'s bodies with the
/// key inside, answers (refusals too) the page may read; and no cross-origin reading elsewhere.
#[tokio::test]
async fn browsers_on_any_site_may_send_and_read_the_answers() {
    let app = App::sqlite().await;
    let url = |p: &str| format!("{}{p}", app.base);
    let site = "https://www.example.com";
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    for (path, method) in [
        ("/v1/t", "POST"),
        ("/v1/b", "POST"),
        ("/v1/identify", "POST"),
        ("/v1/projects/wk_test/settings", "GET"),
    ] {
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, url(path))
            .header("origin", site)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-retry-count",
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(
            header(&r, "access-control-allow-origin").as_deref(),
            Some(site),
            "{path}"
        );
        let allowed = header(&r, "access-control-allow-headers").unwrap_or_default();
        for name in ["authorization", "content-type", "x-retry-count"] {
            assert!(allowed.contains(name), "{path}: {name} not in {allowed:?}");
        }
        assert!(
            header(&r, "access-control-allow-methods")
                .unwrap_or_default()
                .contains(&method.to_ascii_lowercase()),
            "{path}"
        );
        assert_eq!(
            header(&r, "access-control-allow-credentials").as_deref(),
            Some("true"),
            "{path}"
        );
    }
    let now = today();
    // analytics.js: `text/plain`, the key as Basic auth and in the body.
    let r = app.http.post(url("/v1/t")).header("origin", site).header("content-type", "text/plain").basic_auth("wk_test", Some(""))
        .body(json!({"writeKey": "wk_test", "userId": "bee", "event": "Demo Requested", "messageId": "b1", "timestamp": now}).to_string())
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(site)
    );
    assert!(
        header(&r, "access-control-expose-headers")
            .unwrap_or_default()
            .contains("retry-after")
    );
    // `navigator.sendBeacon` (a page closing): no headers of its own, the key in the body.
    let r = app.http.post(url("/v1/p")).header("origin", site).header("content-type", "text/plain;charset=UTF-8")
        .body(json!({"writeKey": "wk_test", "userId": "bee", "messageId": "b2", "timestamp": now, "properties": {"path": "/pricing"}}).to_string())
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.event_count().await, 2);
    // A refusal is readable too, from the handler or from the guard around it.
    let r = app
        .http
        .post(url("/v1/t"))
        .header("origin", site)
        .header("content-type", "text/plain")
        .body(json!({"writeKey": "wk_nope", "userId": "bee", "event": "E"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(site)
    );
    let r = app
        .http
        .get(url("/v1/nowhere"))
        .header("origin", site)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(site)
    );
    // The API and the dashboard are not readable from another site.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, url("/api/v1/leads"))
        .header("origin", site)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = app
        .http
        .get(url("/api/v1/leads"))
        .header("origin", site)
        .bearer_auth("admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn identities_merge_follow_chains_and_reach_accounts() {
    on_every_backend(|app| async move {
        let now = today();
        let at = |offset_s: i64| sluice_core::Timestamp::from_millis(sluice_server::state::now().millis() - 60_000 + offset_s * 1000).to_string();
        // A lead known under an earlier user id merges into the later one.
        app.segment("/v1/track", track("m1", "u1", "Demo Requested", &now)).await;
        app.segment("/v1/identify", json!({"userId": "u1", "messageId": "m2", "timestamp": now, "traits": {"title": "CTO"}})).await;
        app.segment("/v1/alias", json!({"previousId": "u1", "userId": "u2", "messageId": "m3", "timestamp": now})).await;
        let (_, lead) = app.get("/api/v1/leads/u1").await;
        assert_eq!(lead["lead"]["id"], "u2");
        assert_eq!(lead["lead"]["attributes"]["title"], "CTO");
        assert!(lead["now"]["explanation"]["engagement"].to_string().contains("demo-request"), "{lead}");
        let (_, all) = app.get("/api/v1/leads?limit=100").await;
        assert!(all["leads"].as_array().unwrap().iter().all(|l| l["id"] != "u1"), "the old lead row is gone");
        // Chains are followed to the end.
        app.segment("/v1/alias", json!({"previousId": "ba", "userId": "bb", "messageId": "m4", "timestamp": now})).await;
        app.segment("/v1/alias", json!({"previousId": "bb", "userId": "bc", "messageId": "m5", "timestamp": now})).await;
        app.segment("/v1/track", track("m6", "ba", "Trial Started", &now)).await;
        let (_, lead) = app.get("/api/v1/leads/ba").await;
        assert_eq!(lead["lead"]["id"], "bc");
        assert!(lead["now"]["explanation"]["engagement"].to_string().contains("trial-started"));
        // Traits sent under a linked anonymous id reach the lead; emails match in any case.
        app.segment("/v1/identify", json!({"userId": "c1", "anonymousId": "anonC", "messageId": "m7", "timestamp": now, "traits": {"email": "c1@acme.io"}})).await;
        app.segment("/v1/identify", json!({"anonymousId": "anonC", "messageId": "m8", "timestamp": now, "traits": {"seniority": "vp"}})).await;
        let (_, lead) = app.get("/api/v1/leads/C1@ACME.IO").await;
        assert_eq!(lead["lead"]["attributes"]["seniority"], "vp", "{lead}");
        // A lead that changes account leaves the old one's score; a new lead starts at its first event.
        app.segment("/v1/group", json!({"userId": "g1", "groupId": "acmeA", "messageId": "m9", "timestamp": at(0)})).await;
        app.segment("/v1/track", track("m10", "g1", "Demo Requested", &at(1))).await;
        app.segment("/v1/group", json!({"userId": "g1", "groupId": "acmeB", "messageId": "m11", "timestamp": at(2)})).await;
        let (_, old) = app.get("/api/v1/accounts/acmeA").await;
        assert_eq!(old["account"]["engagement"], 0.0, "{old}");
        assert_eq!(old["leads"], json!([]));
        let (_, g1) = app.get("/api/v1/leads/g1").await;
        assert!(g1["lead"]["created_ms"].as_i64().unwrap() > 0);
    })
    .await;
}

#[tokio::test]
async fn write_keys_sent_in_messages_are_never_stored_or_shown() {
    on_every_backend(|app| async move {
        let now = today();
        let url = |p: &str| format!("{}{p}", app.base);
        // analytics.js batching: `text/plain`, the key at the top of the body and in every
        // message; here also in a message's `context`, spelled as other clients spell it.
        let batch = json!({"writeKey": "wk_test", "sentAt": now, "batch": [
            {"type": "identify", "userId": "kim", "messageId": "k1", "timestamp": now,
             "writeKey": "wk_test", "traits": {"email": "kim@acme.io"}},
            {"type": "track", "userId": "kim", "messageId": "k2", "timestamp": now,
             "writeKey": "wk_test", "event": "Demo Requested",
             "properties": {"write_key": "the sender's own property"}},
            {"type": "page", "userId": "kim", "messageId": "k3", "timestamp": now,
             "context": {"write_key": "wk_test", "page": {"path": "/pricing"}}},
        ]});
        let r = app.http.post(url("/v1/b")).header("content-type", "text/plain")
            .body(batch.to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        // One call at a time, as analytics.js sends without batching.
        let track = json!({"writeKey": "wk_test", "userId": "kim", "event": "Pricing Viewed",
                           "messageId": "k4", "timestamp": now, "context": {"writeKey": "wk_test"}});
        let r = app.http.post(url("/v1/t")).header("content-type", "text/plain")
            .body(track.to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        for path in ["/api/v1/leads/kim/events", "/api/v1/leads/kim/export"] {
            let r = app.http.get(url(path)).bearer_auth("admin-token").send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let text = r.text().await.unwrap();
            assert!(!text.contains("wk_test"), "{path} shows a write key: {text}");
        }
        let (_, events) = app.get("/api/v1/leads/kim/events").await;
        let messages: Vec<&Value> = events["events"].as_array().unwrap().iter().map(|e| &e["message"]).collect();
        assert_eq!(messages.len(), 4, "{events}");
        for m in &messages {
            for field in sluice_core::event::CREDENTIAL_FIELDS {
                assert!(m.get(field).is_none() && m["context"].get(field).is_none(), "{m}");
            }
        }
        // The sender's own properties are theirs: kept as sent.
        let k2 = messages.iter().find(|m| m["messageId"] == "k2").unwrap();
        assert_eq!(k2["properties"]["write_key"], "the sender's own property");
        let k3 = messages.iter().find(|m| m["messageId"] == "k3").unwrap();
        assert_eq!(k3["context"]["page"]["path"], "/pricing");
    })
    .await;
}

/// The value of a counter of `/metrics`, 0 when it has not counted yet.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn every_refusal_of_ingestion_is_segment_json_and_counted_by_reason() {
    let app = App::sqlite().await;
    let url = |p: &str| format!("{}{p}", app.base);
    let rejected = |reason: &str| format!(r#"sluice_events_rejected_total{{reason="{reason}"}}"#);
    let metrics = || async {
        app.http
            .get(url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = metrics().await;
    let batch = |id: &str| json!({"batch": [track(id, "u", "E", &today())]}).to_string();
    let send = |path: &'static str, encoding: Option<&'static str>, body: Vec<u8>| {
        let mut request = app.http.post(url(path)).basic_auth("wk_test", Some(""));
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.body(body).send()
    };
    let refusal = |response: reqwest::Response| async move {
        let status = response.status();
        let headers = response.headers().clone();
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["success"], false, "{body}");
        (status, headers, body)
    };

    // Encodings not read here: 415, naming the encoding and what is read.
    for encoding in ["br", "zstd", "gzip, br"] {
        let r = send("/v1/batch", Some(encoding), batch("x").into_bytes())
            .await
            .unwrap();
        let (status, headers, body) = refusal(r).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{encoding}");
        assert_eq!(body["code"], "unsupported_encoding");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`Content-Encoding: {encoding}`"))
                && message.contains("gzip"),
            "{message}"
        );
        assert_eq!(headers["accept-encoding"], "gzip, deflate");
    }
    // Read: gzip under any spelling, deflate (zlib), identity.
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(batch("deflated").as_bytes()).unwrap();
    let r = send("/v1/batch", Some("deflate"), zlib.finish().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    for (i, encoding) in ["GZIP", "x-gzip"].into_iter().enumerate() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(batch(&format!("gz{i}")).as_bytes()).unwrap();
        let r = send("/v1/batch", Some(encoding), gz.finish().unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{encoding}");
    }
    let r = send("/v1/batch", Some("identity"), batch("plain").into_bytes())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.event_count().await, 4);

    // A method or a path ingestion does not have.
    let r = app.http.get(url("/v1/track")).send().await.unwrap();
    let (status, headers, body) = refusal(r).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::METHOD_NOT_ALLOWED, &json!("method_not_allowed"))
    );
    assert!(
        headers["allow"].to_str().unwrap().contains("POST"),
        "{headers:?}"
    );
    let r = send("/v1/trak", None, batch("y").into_bytes())
        .await
        .unwrap();
    let (status, _, body) = refusal(r).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("/v1/track"),
        "{body}"
    );
    // A body over the limit, after decompression.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        json!({"batch": [], "pad": "z".repeat(600 * 1024)})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let r = send("/v1/batch", Some("gzip"), gz.finish().unwrap())
        .await
        .unwrap();
    let (status, _, body) = refusal(r).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::PAYLOAD_TOO_LARGE, &json!("too_large"))
    );

    // Each counted once, by its code.
    let after = metrics().await;
    for (reason, times) in [
        ("unsupported_encoding", 3),
        ("method_not_allowed", 1),
        ("not_found", 1),
    ] {
        let series = rejected(reason);
        assert_eq!(
            counter(&after, &series) - counter(&before, &series),
            times,
            "{series} in {after}"
        );
    }
    assert!(counter(&after, &rejected("too_large")) > counter(&before, &rejected("too_large")));
}

#[tokio::test]
async fn more_bad_input_is_answered_in_json() {
    let app = App::sqlite().await;
    let url = |p: &str| format!("{}{p}", app.base);
    let r = app
        .http
        .post(url("/v1/batch"))
        .basic_auth("wk_test", Some(""))
        .header("content-encoding", "gzip")
        .body("not gzip at all")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_body");
    let (status, body) = app
        .segment("/v1/track", json!({"userId": "a\u{0}b", "event": "E"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("NUL"), "{body}");
    // Without a messageId every message is new, as with Segment.
    for _ in 0..2 {
        assert_eq!(
            app.segment("/v1/track", json!({"userId": "a", "event": "E"}))
                .await
                .0,
            StatusCode::OK
        );
    }
    assert_eq!(app.event_count().await, 2);
    // API errors are JSON, whatever went wrong.
    let r = app
        .http
        .post(url("/api/v1/leads/a/transitions"))
        .bearer_auth("admin-token")
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].is_string());
    let (status, body) = app.get("/api/v1/leads?min_score=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("min_score"),
        "{body}"
    );
    // The model in force cannot be deactivated.
    let r = app
        .http
        .post(url("/api/v1/model?activate=false"))
        .bearer_auth("admin-token")
        .body(sluice_server::DEFAULT_MODEL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.get("/api/v1/model").await.1["active"], true);
}

#[tokio::test]
async fn empty_credentials_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let config = Config {
        admin_token: Some(" ".into()),
        ..config(url)
    };
    let e = sluice_server::start(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("admin token must not be empty"), "{e}");
}

#[tokio::test]
async fn a_revoked_write_key_is_not_brought_back_at_start() {
    let app = App::sqlite().await;
    let r = app
        .http
        .delete(format!("{}/api/v1/sources/wk_test", app.base))
        .bearer_auth("admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.running.server.abort();
    let e = sluice_server::start(config(app.url.clone()))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("the write key given was revoked"), "{e}");
}

#[tokio::test]
async fn activating_a_model_rescores_in_the_background_and_restarts_replay_nothing() {
    on_every_backend(|mut app| async move {
        // 2,500 leads, each a VP with one demo request: under the example model (MQL at 100)
        // none qualifies; under a lower bar every one does.
        let at = today();
        let batch: Vec<Value> = (0..2_500)
            .flat_map(|i| {
                let user = format!("u{i:05}");
                [
                    json!({"type": "identify", "messageId": format!("i{i}"), "userId": user,
                        "traits": {"title": "VP of Engineering", "email": format!("{user}@example.com")}, "timestamp": at}),
                    track(&format!("t{i}"), &user, "Demo Requested", &at),
                ]
            })
            .collect();
        for chunk in batch.chunks(1_000) {
            let (status, _) = app.segment("/v1/batch", json!({"batch": chunk})).await;
            assert_eq!(status, StatusCode::OK);
        }
        let before = app.get("/api/v1/leads/u00001").await.1;
        assert_eq!(before["lead"]["stage"], "lead", "{before}");

        let lower = sluice_server::DEFAULT_MODEL
            .replacen("version = \"2026.10.1\"", "version = \"2026.10.2-low\"", 1)
            .replacen("mql = 100", "mql = 20", 1)
            .replacen("min_fit_grade = \"B\"", "min_fit_grade = \"D\"", 1)
            .replacen("min_engagement_grade = 3", "min_engagement_grade = 4", 1);
        let http = app.http.clone();
        let activate = tokio::spawn({
            let url = format!("{}/api/v1/model", app.base);
            async move {
                http.post(url)
                    .bearer_auth("admin-token")
                    .body(lower)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        });
        // Ingestion goes on while the leads are rescored.
        for i in 0..20 {
            let (status, _) = app
                .segment("/v1/track", track(&format!("during-{i}"), "late", "Demo Requested", &at))
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let activated = activate.await.unwrap();
        assert_eq!(activated["active"], true, "{activated}");
        assert!(activated["rescored_leads"].as_u64().unwrap() >= 2_500, "{activated}");

        let (_, progress) = app.get("/api/v1/model/activation").await;
        assert_eq!(progress["version"], "2026.10.2-low", "{progress}");
        assert_eq!(progress["pending"], 0, "{progress}");
        assert_eq!(progress["done"], true, "{progress}");
        assert_eq!(progress["pass"]["reason"], "activation", "{progress}");

        let lead = app.get("/api/v1/leads/u00001").await.1;
        assert_eq!(lead["lead"]["stage"], "mql", "{lead}");
        assert_eq!(lead["lead"]["model_version"], "2026.10.2-low");
        let to_mql = lead["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["to"] == "mql")
            .expect("a move to mql");
        assert_eq!(to_mql["model_version"], "2026.10.2-low", "{lead}");

        // A restart reads the durable state: the same score, with nothing replayed.
        let score = lead["now"]["score"]["score"].as_f64().unwrap();
        app.restart().await;
        let again = app.get("/api/v1/leads/U00001@EXAMPLE.COM").await.1;
        assert!(
            (again["now"]["score"]["score"].as_f64().unwrap() - score).abs() < 0.01,
            "{again}"
        );
        let (_, progress) = app.get("/api/v1/model/activation").await;
        assert_eq!(progress["pending"], 0, "{progress}");
        assert!(progress["pass"].is_null(), "no pass after a clean restart: {progress}");
        // New events after the restart add to the stored state.
        app.segment("/v1/track", track("after", "u00001", "Trial Started", &at))
            .await;
        let after = app.get("/api/v1/leads/u00001").await.1;
        assert!(
            after["now"]["score"]["score"].as_f64().unwrap() > score,
            "{after}"
        );
    })
    .await;
}

/// What the fuzzing run of the OpenAPI document (tests/schema/run.sh) found: each of these was
/// answered with a status its operation did not declare, in plain text, or not at all (a page
/// size out of range, a fraction, a wrong media type were accepted). Each is now answered with
/// a status the document declares for the operation, and the `Error` body naming the problem.
#[tokio::test]
async fn every_refusal_is_declared_in_the_document_with_the_error_body() {
    let app = App::sqlite().await;
    app.segment("/v1/track", track("m1", "ada", "Demo Requested", &today()))
        .await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let json = Some("application/json");
    let model = sluice_server::DEFAULT_MODEL.as_bytes();
    // Method, path, the operation's path template, content type, body; the status due and what
    // the error message names.
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a [u8],
        u16,
        &'a str,
    );
    let cases: &[Case] = &[
        (
            "GET",
            "/api/v1/leads?limit=0",
            "/api/v1/leads",
            None,
            b"",
            400,
            "limit",
        ),
        (
            "GET",
            "/api/v1/leads?limit=1001",
            "/api/v1/leads",
            None,
            b"",
            400,
            "limit",
        ),
        (
            "GET",
            "/api/v1/leads/ada/events?limit=0",
            "/api/v1/leads/{id}/events",
            None,
            b"",
            400,
            "limit",
        ),
        (
            "GET",
            "/api/v1/accounts?cursor=",
            "/api/v1/accounts",
            None,
            b"",
            400,
            "cursor",
        ),
        (
            "GET",
            "/api/v1/reports/attribution?min_leads=1.5",
            "/api/v1/reports/attribution",
            None,
            b"",
            400,
            "min_leads",
        ),
        (
            "GET",
            "/api/v1/reports/attribution?min_leads=9223372036854775808",
            "/api/v1/reports/attribution",
            None,
            b"",
            400,
            "min_leads",
        ),
        (
            "GET",
            "/api/v1/reports/funnel?from=2024-13-01",
            "/api/v1/reports/funnel",
            None,
            b"",
            422,
            "from",
        ),
        (
            "GET",
            "/api/v1/leads/%FF",
            "/api/v1/leads/{id}",
            None,
            b"",
            400,
            "URL",
        ),
        (
            "POST",
            "/api/v1/webhooks/deliveries/abc/redeliver",
            "/api/v1/webhooks/deliveries/{delivery_id}/redeliver",
            None,
            b"",
            404,
            "abc",
        ),
        (
            "POST",
            "/api/v1/teams",
            "/api/v1/teams",
            Some("text/plain"),
            br#"{"id": "x"}"#,
            415,
            "application/json",
        ),
        (
            "POST",
            "/api/v1/teams",
            "/api/v1/teams",
            json,
            br#"{"id": 5}"#,
            422,
            "id",
        ),
        (
            "POST",
            "/api/v1/teams",
            "/api/v1/teams",
            json,
            b"{oops",
            400,
            "JSON",
        ),
        (
            "POST",
            "/api/v1/leads/ada/accept",
            "/api/v1/leads/{id}/accept",
            Some("text/plain"),
            b"{}",
            415,
            "application/json",
        ),
        (
            "POST",
            "/api/v1/leads/nobody/activities",
            "/api/v1/leads/{id}/activities",
            json,
            br#"{"kind": "call"}"#,
            404,
            "nobody",
        ),
        (
            "POST",
            "/api/v1/activities",
            "/api/v1/activities",
            json,
            br#"{"activities": [{"kind": "call"}]}"#,
            422,
            "lead",
        ),
        (
            "POST",
            "/api/v1/leads/ada/reject",
            "/api/v1/leads/{id}/reject",
            json,
            b"{}",
            422,
            "reason",
        ),
        (
            "POST",
            "/api/v1/model",
            "/api/v1/model",
            json,
            model,
            415,
            "application/toml",
        ),
        (
            "POST",
            "/api/v1/model",
            "/api/v1/model",
            Some("application/toml"),
            b"\xff\xfe",
            400,
            "UTF-8",
        ),
        (
            "POST",
            "/api/v1/model",
            "/api/v1/model",
            Some("application/toml"),
            model,
            200,
            "",
        ),
        (
            "POST",
            "/api/v1/model",
            "/api/v1/model",
            Some("text/plain; charset=utf-8"),
            model,
            200,
            "",
        ),
    ];
    for &(method, path, template, content_type, body, status, names) in cases {
        let mut request = app
            .http
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .bearer_auth("admin-token")
            .body(body.to_vec());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{method} {path}: {answer}");
        let declared =
            &doc["paths"][template][method.to_lowercase()]["responses"][status.to_string()];
        assert!(
            declared.is_object(),
            "{method} {template} does not declare {status}"
        );
        if status >= 400 {
            assert_eq!(
                declared["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {template} {status}"
            );
            assert!(
                answer["error"]["code"].is_string(),
                "{method} {path}: {answer}"
            );
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(names), "{method} {path}: {message}");
        }
    }
    // No such method, no such path: JSON too (and `Allow` names the methods there are).
    let response = app
        .http
        .put(format!("{}/api/v1/leads", app.base))
        .bearer_auth("admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
    let (status, answer) = app.get("/api/v1/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "not_found");
    // The reports' and the queue's options are optional query parameters (they were declared
    // as required path parameters).
    for path in [
        "/api/v1/reports/funnel",
        "/api/v1/reports/attribution",
        "/api/v1/reports/sla",
        "/api/v1/queue",
    ] {
        for parameter in doc["paths"][path]["get"]["parameters"].as_array().unwrap() {
            assert_eq!(parameter["in"], "query", "{path}: {parameter}");
            assert_ne!(parameter["required"], true, "{path}: {parameter}");
        }
    }
}
