//! The funnel and attribution reports over HTTP, on a small history seeded through the public
//! doors: Segment batches with UTM campaigns, accept / reject, activities and CRM outcomes.
//! Runs on SQLite, and on PostgreSQL when `SLUICE_TEST_POSTGRES_URL` is set.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use sluice_server::{Config, Running};
use sluice_store::testing::PgDatabase;

/// Engagement that never decays, so events dated months ago still make MQLs.
const MODEL: &str = r#"
[model]
name = "reports-test"
version = "1"
[thresholds]
mql = 50
[[fit.rules]]
id = "vp"
when = "lead.seniority == 'vp'"
points = 20
[engagement]
half_life = "never"
[[engagement.rules]]
id = "demo"
event = "Demo Requested"
points = 50
[[engagement.rules]]
id = "blog"
event = "page"
when = "event.properties.path.startsWith('/blog')"
points = 1
[bant]
sql_min = 0.75
[bant.budget]
field = "bant_budget"
values = { approved = 1.0, none = 0.0 }
[handoff]
default_team = "sdr"
reject_reasons = ["not_a_fit"]
"#;

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn start(url: String) -> App {
        let config = Config {
            database_url: url,
            bind: "127.0.0.1:0".parse().unwrap(),
            model: Some((MODEL.into(), "reports.toml".into())),
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
        let running = sluice_server::start(config).await.unwrap();
        App {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn get_status(&self, path: &str) -> (StatusCode, Value) {
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

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_status(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth("admin-token")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    async fn batch(&self, messages: Value) {
        let response = self
            .http
            .post(format!("{}/v1/batch", self.base))
            .basic_auth("wk_test", Some(""))
            .json(&json!({ "batch": messages }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// The dashboard page at `path`, signed in.
    async fn page(&self, path: &str) -> String {
        let login = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[("token", "admin-token")])
            .send()
            .await
            .unwrap();
        let cookie = login.headers()[SET_COOKIE].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_string();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }
}

fn campaign(source: &str, medium: &str, name: &str) -> Value {
    json!({"campaign": {"source": source, "medium": medium, "name": name}})
}

/// Ten leads:
/// - a1-a4 (`lead_source` webinar, VPs at a Software account): first seen as an anonymous
///   visitor on the blog from a Google ad (the first touch), then identified, then a demo
///   request from a newsletter: MQLs. a1 becomes a $10,000 opportunity (Feb 1) won for
///   $12,000 (Mar 1); a2 a $5,000 opportunity (Feb 2), lost; a3 is accepted; a4 rejected.
/// - b1-b4 (paid_search): read the blog from a LinkedIn campaign. b1 becomes a $3,000
///   opportunity in the CRM (Feb 3), and requests a demo only afterwards (Feb 10).
/// - c1, c2: no source, no campaign, a pricing page view.
async fn seed(app: &App) {
    for i in 1..=4 {
        let user = format!("a{i}");
        let anonymous = format!("anon-a{i}");
        // Sent out of time order: the first touch is the earliest event, not the first stored.
        app.batch(json!([
            {"type": "identify", "userId": user, "anonymousId": anonymous, "messageId": format!("{user}-i"),
             "timestamp": "2026-01-05T10:00:00Z",
             "traits": {"email": format!("{user}@acme.io"), "lead_source": "webinar", "seniority": "vp"}},
            {"type": "group", "userId": user, "groupId": "acme", "messageId": format!("{user}-g"),
             "timestamp": "2026-01-05T10:00:00Z", "traits": {"industry": "Software"}},
            {"type": "track", "userId": user, "event": "Demo Requested", "messageId": format!("{user}-d"),
             "timestamp": "2026-01-05T11:00:00Z", "context": campaign("newsletter", "email", "digest")},
            {"type": "page", "anonymousId": anonymous, "messageId": format!("{user}-p"),
             "timestamp": "2026-01-04T09:00:00Z", "properties": {"path": "/blog/scoring"},
             "context": campaign("google", "cpc", "brand")},
        ]))
        .await;
    }
    for i in 1..=4 {
        let user = format!("b{i}");
        app.batch(json!([
            {"type": "identify", "userId": user, "messageId": format!("{user}-i"), "timestamp": "2026-01-06T10:00:00Z",
             "traits": {"email": format!("{user}@beta.io"), "lead_source": "paid_search"}},
            {"type": "page", "userId": user, "messageId": format!("{user}-p"), "timestamp": "2026-01-06T10:05:00Z",
             "properties": {"path": "/blog/funnels"}, "context": campaign("linkedin", "paid_social", "abm")},
        ]))
        .await;
    }
    for i in 1..=2 {
        let user = format!("c{i}");
        app.batch(json!([
            {"type": "identify", "userId": user, "messageId": format!("{user}-i"), "timestamp": "2026-01-07T10:00:00Z",
             "traits": {"email": format!("{user}@gamma.io")}},
            {"type": "page", "userId": user, "messageId": format!("{user}-p"), "timestamp": "2026-01-07T10:05:00Z",
             "properties": {"path": "/pricing"}},
        ]))
        .await;
    }
    for i in 1..=4 {
        let lead = app.get(&format!("/api/v1/leads/a{i}")).await;
        assert_eq!(lead["lead"]["stage"], "mql", "{lead}");
    }
    app.ok("/api/v1/leads/a3/accept", json!({})).await;
    app.ok("/api/v1/leads/a4/reject", json!({"reason": "not_a_fit"}))
        .await;
    app.ok("/api/v1/leads/a1/activities", json!({"kind": "call"}))
        .await;
    app.ok("/api/v1/leads/a3/activities", json!({"kind": "email"}))
        .await;
    // Sales' BANT answers on the way to the opportunity: not a driver of it.
    for user in ["a1", "a2"] {
        app.batch(json!([
            {"type": "identify", "userId": user, "messageId": format!("{user}-bant"),
             "timestamp": "2026-01-20T10:00:00Z", "traits": {"bant_budget": "approved"}},
        ]))
        .await;
    }
    let ack = app
        .ok(
            "/api/v1/outcomes",
            json!({"outcomes": [
                {"email": "a1@acme.io", "type": "opportunity", "amount": 10000, "date": "2026-02-01"},
                {"lead_id": "a1", "type": "won", "amount": 12000, "date": "2026-03-01"},
                {"lead_id": "a2", "type": "opportunity", "amount": 5000, "date": "2026-02-02"},
                {"lead_id": "a2", "type": "lost", "reason": "no budget", "date": "2026-03-02"},
                {"lead_id": "b1", "type": "opportunity", "amount": 3000, "date": "2026-02-03"},
            ]}),
        )
        .await;
    assert_eq!(ack["new"], 5, "{ack}");
    // After its opportunity: must not count as a cause of it.
    app.batch(json!([
        {"type": "track", "userId": "b1", "event": "Demo Requested", "messageId": "b1-late-demo",
         "timestamp": "2026-02-10T10:00:00Z"},
    ]))
    .await;
    assert_eq!(
        app.get("/api/v1/leads/b1").await["lead"]["stage"],
        "opportunity"
    );
}

fn row(rows: &Value, key: Value) -> &Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {rows}"))
}

fn close(value: &Value, want: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - want).abs() < 1e-9)
}

async fn scenario(app: App) {
    seed(&app).await;

    let answer = app.get("/api/v1/reports/funnel?by=week").await;
    assert_eq!(answer["by"], "week");
    let report = &answer["report"];
    let total = &report["total"];
    assert_eq!(
        total["reached"],
        json!({"lead": 10, "mql": 5, "sal": 4, "sql": 3, "opportunity": 3, "won": 1}),
        "{total}"
    );
    assert_eq!(total["lost"], 1);
    assert!(close(&total["conversion"]["mql"], 0.5), "{total}");
    assert!(close(&total["conversion"]["sal"], 0.8));
    assert!(close(&total["conversion"]["sql"], 0.75));
    assert!(close(&total["mql_to_opportunity"], 0.6));
    assert!(close(&total["win_rate"], 0.5));
    assert!(close(&total["pipeline"], 18_000.0));
    assert!(close(&total["bookings"], 12_000.0));
    assert!(close(&total["revenue_per_mql"], 2_400.0));
    assert_eq!(total["contacted_mqls"], 2);
    assert!(close(&total["mql_contact_rate"], 0.4));
    // a1: opportunity on Feb 1, won on Mar 1.
    assert!(close(&total["velocity_days"]["won"], 28.0), "{total}");

    let webinar = row(&report["by_source"], json!("webinar"));
    assert_eq!(
        webinar["reached"],
        json!({"lead": 4, "mql": 4, "sal": 3, "sql": 2, "opportunity": 2, "won": 1})
    );
    assert!(close(&webinar["revenue_per_mql"], 3_000.0));
    let paid = row(&report["by_source"], json!("paid_search"));
    assert_eq!(
        (&paid["reached"]["mql"], &paid["reached"]["opportunity"]),
        (&json!(1), &json!(1))
    );
    assert!(close(&paid["pipeline"], 3_000.0));
    assert_eq!(row(&report["by_source"], Value::Null)["reached"]["lead"], 2);

    // First touch: the anonymous blog visit from the ad, joined to the lead by `identify`.
    let google = row(&report["by_utm_source"], json!("google"));
    assert_eq!(
        (&google["reached"]["lead"], &google["reached"]["won"]),
        (&json!(4), &json!(1))
    );
    assert!(
        report["by_utm_source"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["key"] != "newsletter"),
        "the demo's newsletter came second"
    );
    assert_eq!(
        row(&report["by_channel"], json!("paid_social"))["reached"]["opportunity"],
        1
    );
    assert!(close(
        &row(&report["by_campaign"], json!("brand"))["bookings"],
        12_000.0
    ));

    // Cohorts: the week each lead first reached MQL or beyond. An MQL is dated by the event
    // that qualified it: a1-a4's demo requests on Monday Jan 5 (week 2); b1 skipped the MQL,
    // its opportunity on Feb 3 is in week 6.
    let w02 = row(&report["by_cohort"], json!("2026-W02"));
    assert_eq!(
        (&w02["reached"]["mql"], &w02["reached"]["won"]),
        (&json!(4), &json!(1)),
        "{w02}"
    );
    assert_eq!(
        row(&report["by_cohort"], json!("2026-W06"))["reached"]["mql"],
        1
    );
    assert_eq!(row(&report["by_cohort"], Value::Null)["reached"]["lead"], 5);
    let monthly = app.get("/api/v1/reports/funnel?by=month").await;
    let cohorts = &monthly["report"]["by_cohort"];
    assert_eq!(
        (
            &row(cohorts, json!("2026-01"))["reached"]["opportunity"],
            &row(cohorts, json!("2026-02"))["reached"]["opportunity"]
        ),
        (&json!(2), &json!(1))
    );

    // Grade and model version at MQL: the four scored MQLs; b1 skipped the MQL.
    let grade = app.get("/api/v1/leads/a1").await["lead"]["grade"].clone();
    assert_eq!(row(&report["by_grade"], grade)["reached"]["lead"], 4);
    assert_eq!(
        row(&report["by_model_version"], json!("1"))["reached"]["sal"],
        3
    );

    // A period: leads first seen from Jan 6 (the b and c leads).
    let later = app.get("/api/v1/reports/funnel?from=2026-01-06").await;
    assert_eq!(later["report"]["total"]["reached"]["lead"], 6);
    assert_eq!(later["report"]["total"]["reached"]["opportunity"], 1);

    // Attribution: 10 leads, 3 opportunities (base rate 0.3).
    let answer = app.get("/api/v1/reports/attribution?min_leads=2").await;
    assert_eq!(answer["model_version"], "1");
    let report = &answer["report"];
    assert_eq!(
        (&report["leads"], &report["opportunities"], &report["won"]),
        (&json!(10), &json!(3), &json!(1))
    );
    let find = |kind: &str, feature: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["feature"] == feature)
            .unwrap_or_else(|| panic!("no {kind} {feature} in {report}"))
            .clone()
    };
    // b1's demo came after its opportunity: it does not count.
    let demo = find("engagement_rule", "demo");
    assert_eq!(
        (&demo["leads"], &demo["opportunities"], &demo["won"]),
        (&json!(4), &json!(2), &json!(1)),
        "{demo}"
    );
    assert!(close(&demo["opportunity_lift"]["value"], 0.5 / 0.3));
    // Wilson interval of 2 in 4: 0.150036-0.849964, over the base rate 0.3.
    let low = demo["opportunity_lift"]["low"].as_f64().unwrap();
    assert!((low - 0.150036 / 0.3).abs() < 1e-4, "{demo}");
    assert!(close(&demo["pipeline"], 15_000.0));
    assert!(close(&demo["bookings_per_lead"], 3_000.0));
    assert_eq!(
        demo["flag"], "points_without_lift",
        "50 points, no clear lift"
    );
    assert_eq!(find("event", "Demo Requested")["leads"], 4);
    let blog = find("engagement_rule", "blog");
    assert_eq!(
        (&blog["leads"], &blog["opportunities"]),
        (&json!(8), &json!(3))
    );
    assert!(close(&blog["opportunity_lift"]["value"], 1.25));
    assert!(blog["flag"].is_null());
    let vp = find("fit_rule", "vp");
    assert_eq!((&vp["leads"], &vp["points"]), (&json!(4), &json!(20.0)));
    assert_eq!(
        find("attribute", "lead_source = webinar")["opportunities"],
        2
    );
    let paid = find("attribute", "lead_source = paid_search");
    assert!(close(&paid["opportunity_lift"]["value"], 0.25 / 0.3));
    assert_eq!(find("attribute", "account.industry = Software")["leads"], 4);
    assert_eq!(find("event", "page")["leads"], 10);
    assert!(
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["feature"].as_str().unwrap().starts_with("bant_")),
        "BANT answers are left out: {report}"
    );
    let lifts: Vec<f64> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["opportunity_lift"]["value"].as_f64().unwrap())
        .collect();
    assert!(
        lifts.windows(2).all(|w| w[0] >= w[1]),
        "ranked by lift: {lifts:?}"
    );
    // Each email is one lead's: below the bar of 2.
    assert!(report["below_support"].as_u64().unwrap() >= 10, "{report}");
    // The default bar of 20 leads hides everything here.
    let strict = app.get("/api/v1/reports/attribution").await;
    assert_eq!(strict["report"]["rows"], json!([]));

    // Bad input names the parameter.
    for (path, status, field) in [
        (
            "/api/v1/reports/funnel?by=year",
            StatusCode::UNPROCESSABLE_ENTITY,
            "by",
        ),
        (
            "/api/v1/reports/funnel?from=soon",
            StatusCode::UNPROCESSABLE_ENTITY,
            "from",
        ),
        (
            "/api/v1/reports/attribution?min_leads=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "min_leads",
        ),
        (
            "/api/v1/reports/attribution?min_leads=many",
            StatusCode::BAD_REQUEST,
            "min_leads",
        ),
    ] {
        let (got, body) = app.get_status(path).await;
        assert_eq!(got, status, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{path}: {message}");
    }
    let anonymous = app
        .http
        .get(format!("{}/api/v1/reports/funnel", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let openapi = app.get("/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/reports/attribution"].is_object());

    // The dashboard shows the funnel by source and the flagged rules.
    let html = app.page("/reports").await;
    assert!(html.contains("Funnel by source"), "{html}");
    assert!(html.contains(r#"data-source="webinar""#));
    assert!(html.contains("$12,000"));
    assert!(
        html.contains(r#"href="/reports""#),
        "linked from the navigation"
    );

    // The facts are kept current: a later outcome, activity and event show in the next
    // report, and the background rebuild leaves nothing marked.
    app.ok(
        "/api/v1/outcomes",
        json!({"outcomes": [
            {"lead_id": "c1", "type": "opportunity", "amount": 7000, "date": "2026-02-20"},
        ]}),
    )
    .await;
    app.ok("/api/v1/leads/a2/activities", json!({"kind": "call"}))
        .await;
    let before = app.get("/api/v1/reports/funnel").await["report"]["total"].clone();
    assert_eq!(before["reached"]["opportunity"], 4, "{before}");
    assert!(close(&before["pipeline"], 25_000.0), "{before}");
    assert_eq!(before["contacted_mqls"], 3, "{before}");
    app.batch(json!([
        {"type": "track", "userId": "c2", "event": "Demo Requested", "messageId": "c2-demo",
         "timestamp": "2026-02-21T10:00:00Z"},
    ]))
    .await;
    let store = &app.running.state.store;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.dirty_fact_count().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the background rebuild never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = app.get("/api/v1/reports/funnel").await["report"]["total"].clone();
    assert_eq!(
        after["reached"]["mql"].as_u64().unwrap(),
        before["reached"]["mql"].as_u64().unwrap() + 1,
        "{after}"
    );
    drop(app.running);
}

#[tokio::test]
async fn reports_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
    scenario(App::start(url).await).await;
}

#[tokio::test]
async fn reports_on_postgres() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    scenario(App::start(pg.url.clone()).await).await;
}
