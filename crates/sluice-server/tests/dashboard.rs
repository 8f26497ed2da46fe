//! The dashboard, through the door a user uses: the real server on a fresh SQLite database,
//! events sent with the write key, pages fetched over HTTP.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};
use sluice_server::{Config, Running, start};

const ADMIN: &str = "t";
const WRITE_KEY: &str = "wk";
const SCRIPT_ID: &str = "<script>alert(1)</script>";

/// A running server with two leads: an MQL (`ada@example.com`) and a lead whose id is markup.
struct App {
    url: String,
    client: Client,
    _running: Running,
    _dir: tempfile::TempDir,
}

impl App {
    async fn spawn() -> App {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = Config {
            database_url: format!("sqlite://{}", dir.path().join("sluice.db").display()),
            bind: "127.0.0.1:0".parse().expect("address"),
            model: None,
            admin_token: Some(ADMIN.into()),
            write_key: Some(WRITE_KEY.into()),
            rescore_every: None,
            sla_every: None,
            clock: Default::default(),
            limits: Default::default(),
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        };
        let running = start(config).await.expect("the server starts");
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client");
        let app = App {
            url: format!("http://{}", running.addr),
            client,
            _running: running,
            _dir: dir,
        };
        app.send(json!([
            {"type": "identify", "userId": "ada@example.com", "traits": {
                "email": "ada@example.com", "title": "Head of Data Platform", "seniority": "vp", "department": "engineering",
                "lead_source": "webinar"}},
            {"type": "group", "userId": "ada@example.com", "groupId": "acme", "traits": {
                "name": "Acme Corp", "employees": 1200, "industry": "Software"}},
            {"type": "track", "userId": "ada@example.com", "event": "Demo Requested"},
            {"type": "page", "userId": "ada@example.com", "properties": {"path": "/pricing"}},
            {"type": "identify", "userId": SCRIPT_ID, "traits": {"title": "<b>bold</b>"}},
        ]))
        .await;
        app
    }

    /// Sends a batch with the write key, as the Segment SDKs do.
    async fn send(&self, batch: Value) {
        let response = self
            .client
            .post(format!("{}/v1/batch", self.url))
            .basic_auth(WRITE_KEY, Some(""))
            .json(&json!({"batch": batch}))
            .send()
            .await
            .expect("batch sent");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    async fn login(&self, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.url))
            .form(&[("token", token)])
            .send()
            .await
            .expect("login sent")
    }

    /// Signs in and returns the session cookie (`name=value`).
    async fn session(&self) -> String {
        let response = self.login(ADMIN).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .expect("ascii");
        cookie.split(';').next().expect("name=value").to_string()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("request sent")
    }

    /// Calls the management API with the admin token and returns the JSON answer, after
    /// checking it succeeded.
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API call sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON answer")
    }

    /// A page's body, signed in, after checking it answered 200.
    async fn page(&self, path: &str) -> String {
        let cookie = self.session().await;
        let response = self.get(path, Some(&cookie)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("body")
    }
}

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_login() {
    let app = App::spawn().await;
    for path in ["/", "/leads/ada@example.com"] {
        let response = app.get(path, None).await;
        assert!(
            matches!(response.status(), StatusCode::SEE_OTHER | StatusCode::FOUND),
            "GET {path}: {}",
            response.status()
        );
        assert_eq!(location(&response), "/login", "GET {path}");
    }
    let forged = app.get("/", Some("sluice_session=ses_0123")).await; // no such session
    assert_eq!(location(&forged), "/login");

    let form = app.get("/login", None).await;
    assert_eq!(form.status(), StatusCode::OK);
    let body = form.text().await.expect("body");
    assert!(body.contains(r#"name="token""#), "{body}");
    assert!(!body.contains("ada@example.com"));
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_an_error() {
    let app = App::spawn().await;
    let response = app.login("not-the-token").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let body = response.text().await.expect("body");
    assert!(body.contains("That token is not valid."), "{body}");
    assert!(body.contains(r#"action="/login""#));
}

#[tokio::test]
async fn the_right_token_sets_a_strict_http_only_session_cookie() {
    let app = App::spawn().await;
    let response = app.login(ADMIN).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cookie.starts_with("sluice_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        cookie.contains("Max-Age=43200"),
        "sessions expire: {cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(
        cookie.starts_with("sluice_session=ses_") && cookie.split(';').next().unwrap().len() > 40,
        "the cookie holds a random session id, not the token: {cookie}"
    );

    let session = cookie.split(';').next().expect("name=value");
    assert_eq!(app.get("/", Some(session)).await.status(), StatusCode::OK);
    let signed_in = app.get("/login", Some(session)).await;
    assert_eq!(location(&signed_in), "/");

    let out = app
        .client
        .post(format!("{}/logout", app.url))
        .header(COOKIE, session)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    let cleared = out
        .headers()
        .get(SET_COOKIE)
        .expect("a clearing cookie")
        .to_str()
        .expect("ascii");
    assert!(
        cleared.starts_with("sluice_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // Signing out ends the session itself: the old cookie no longer works.
    assert_eq!(location(&app.get("/", Some(session)).await), "/login");
}

#[tokio::test]
async fn overview_shows_the_funnel_the_model_and_the_leads() {
    let app = App::spawn().await;
    let body = app.page("/").await;
    assert!(
        body.contains(r#"data-stage="lead" data-count="1""#),
        "{body}"
    );
    assert!(
        body.contains(r#"data-stage="mql" data-count="1""#),
        "{body}"
    );
    assert!(
        body.contains(r#"data-stage="sal" data-count="0""#),
        "{body}"
    );
    assert!(body.contains("50.0 %"), "lead → mql conversion: {body}");
    // A stage says what it means here, from the model's glossary.
    assert!(
        body.contains(r#"<span class="pill " title="Marketing-qualified lead: "#),
        "{body}"
    );
    // MQL quality per source, from the report facts: the one MQL came from a webinar.
    assert!(
        body.contains("MQL quality by source") && body.contains(r#"<tr data-source="webinar">"#),
        "{body}"
    );
    // No teams in this database: the hand-off card says how to set them up.
    assert!(
        body.contains("Hand-off, last 30 days") && body.contains("No MQL has been assigned yet"),
        "{body}"
    );
    assert!(
        body.contains("b2b-default") && body.contains("2026.10.1"),
        "the active model"
    );
    assert!(
        body.contains(r#"href="/leads/ada%40example.com""#),
        "a link to the MQL: {body}"
    );
    assert!(body.contains("Acme Corp"), "the top account");
    assert!(body.contains("/v1/track"), "the first-event box");
    assert!(
        body.contains(r#"-u "$SLUICE_WRITE_KEY:""#),
        "the write key is not printed, only where to find it"
    );
    assert!(
        !body.contains(&format!("{WRITE_KEY}:")),
        "the write key is not printed"
    );
}

#[tokio::test]
async fn a_lead_page_explains_its_score() {
    let app = App::spawn().await;
    let body = app.page("/leads/ada%40example.com").await;
    for rule in [
        "senior-decision-maker",
        "technical-department",
        "mid-market",
        "core-industry",
        "demo-request",
        "pricing-page",
    ] {
        assert!(body.contains(rule), "rule `{rule}` is explained: {body}");
    }
    assert!(body.contains("Head of Data Platform"), "attributes");
    assert!(body.contains("enterprise-edition"), "score groups");
    assert!(
        body.contains("Nothing more: it meets the MQL criteria"),
        "what it would take"
    );
    assert!(
        body.contains("Stage history") && body.contains(">mql</span>"),
        "the move to mql"
    );

    let cookie = app.session().await;
    let missing = app.get("/leads/nobody", Some(&cookie)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn markup_in_a_lead_id_is_escaped() {
    let app = App::spawn().await;
    let overview = app.page("/").await;
    assert!(!overview.contains("<script"), "{overview}");
    assert!(!overview.contains("<b>bold"), "{overview}");
    assert!(
        overview.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{overview}"
    );
    assert!(
        overview.contains(r#"href="/leads/%3Cscript%3Ealert%281%29%3C%2Fscript%3E""#),
        "{overview}"
    );

    let lead = app
        .page("/leads/%3Cscript%3Ealert%281%29%3C%2Fscript%3E")
        .await;
    assert!(!lead.contains("<script"), "{lead}");
    assert!(
        lead.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{lead}"
    );
    assert!(
        lead.contains("&#60;b&#62;bold&#60;/b&#62;"),
        "attributes are escaped too"
    );
}

#[tokio::test]
async fn every_page_has_an_icon() {
    let app = App::spawn().await;
    let form = app.get("/login", None).await.text().await.expect("body");
    assert!(
        form.contains(r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml">"#)
            && form.contains(r#"<link rel="icon" href="/favicon.ico""#),
        "{form}"
    );
    // Without a session: a browser asks for it before anyone signs in.
    let svg = app.get("/favicon.svg", None).await;
    assert_eq!(svg.status(), StatusCode::OK);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.expect("body");
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
    let ico = app.get("/favicon.ico", None).await;
    assert_eq!(ico.status(), StatusCode::OK);
    assert_eq!(ico.headers()["content-type"], "image/x-icon");
    assert!(
        ico.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let ico = ico.bytes().await.expect("body");
    // An icon directory of two images, 16 and 32 pixels.
    assert_eq!(ico[..6], [0, 0, 1, 0, 2, 0]);
    assert_eq!((ico[6], ico[22]), (16, 32));
}

#[tokio::test]
async fn a_path_that_is_not_there_answers_a_page_with_the_way_back() {
    let app = App::spawn().await;
    let cookie = app.session().await;
    for (path, cookie) in [("/leeds", Some(cookie.as_str())), ("/no/such/page", None)] {
        let response = app.get(path, cookie).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "GET {path}"
        );
        let body = response.text().await.expect("body");
        assert!(body.contains("Page not found"), "{body}");
        assert!(body.contains(&format!("<code>{path}</code>")), "{body}");
        for link in ["/", "/reports", "/login", "/docs"] {
            assert!(
                body.contains(&format!(r#"href="{link}""#)),
                "{link} in {body}"
            );
        }
        assert!(body.contains(r#"class="brand""#), "in the dashboard's look");
    }
    // The path is shown escaped.
    let response = app.get("/a&b'c", None).await;
    let body = response.text().await.expect("body");
    assert!(body.contains("<code>/a&#38;b&#39;c</code>"), "{body}");
    // Not a page for the API: its JSON error, under any path of `/api/`.
    for path in ["/api/v2/leads", "/api/v1/no-such-thing", "/api"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "not_found", "GET {path}: {body}");
    }
}

/// Every table of a page scrolls sideways in its own box (`<div class="scroll">`), except a
/// table folded inside another's row (the events under an engagement rule).
fn assert_tables_scroll(page: &str, html: &str) {
    let mut tables = 0;
    for (at, _) in html.match_indices("<table") {
        tables += 1;
        let before = html[..at].trim_end();
        assert!(
            before.ends_with(r#"<div class="scroll">"#) || before.ends_with("</summary>"),
            "{page}: a table outside a scroll box: …{}",
            &before[before.len().saturating_sub(120)..]
        );
    }
    assert!(tables > 0, "{page} has tables");
}

/// No cell holds only a separator or a placeholder dot, and no figure is `NaN`.
fn assert_no_glitches(page: &str, html: &str) {
    for glitch in [">·<", "· ·", "NaN", "inf %", "event(s)", "`"] {
        assert!(!html.contains(glitch), "{page} shows `{glitch}`: {html}");
    }
}

#[tokio::test]
async fn lists_show_names_and_titles_on_one_line_and_tables_scroll() {
    let app = App::spawn().await;
    let title = "Senior Vice President of Data Platform Engineering and Analytics, EMEA";
    app.send(json!([
        {"type": "identify", "userId": "grace@example.com", "traits": {
            "email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper",
            "title": title, "seniority": "vp", "department": "engineering"}},
        {"type": "group", "userId": "grace@example.com", "groupId": "acme", "traits": {
            "name": "Acme Corp", "employees": 1200, "industry": "Software"}},
        {"type": "track", "userId": "grace@example.com", "event": "Demo Requested"},
    ]))
    .await;
    let overview = app.page("/").await;
    // The lead is named by its traits, linked to its page, and cut to one line with the
    // whole text on hover; so is its title, and its account is named, not numbered.
    assert!(
        overview.contains(
            r#"<a class="clip" href="/leads/grace%40example.com" title="Grace Hopper">Grace Hopper</a>"#
        ),
        "{overview}"
    );
    assert!(
        overview.contains(&format!(
            r#"<span class="clip muted small" title="{title}">{title}</span>"#
        )),
        "{overview}"
    );
    assert!(
        overview.contains(r#"<span class="clip" title="Acme Corp">Acme Corp</span>"#),
        "{overview}"
    );
    // A lead without a name is shown by its id.
    assert!(
        overview.contains(
            r#"<a class="clip id" href="/leads/ada%40example.com" title="ada@example.com">ada@example.com</a>"#
        ),
        "{overview}"
    );
    assert_tables_scroll("/", &overview);
    assert_no_glitches("/", &overview);

    let lead = app.page("/leads/grace%40example.com").await;
    assert!(lead.contains("<h1>Grace Hopper</h1>"), "{lead}");
    assert!(
        lead.contains(r#"account <strong title="acme">Acme Corp</strong>"#),
        "{lead}"
    );
    assert!(lead.contains("1 event</summary>"), "{lead}");
    assert_tables_scroll("/leads/…", &lead);
    assert_no_glitches("/leads/…", &lead);

    let reports = app.page("/reports").await;
    assert_tables_scroll("/reports", &reports);
    assert_no_glitches("/reports", &reports);

    let cookie = app.session().await;
    let missing = app.get("/leads/nobody", Some(&cookie)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing = missing.text().await.expect("body");
    assert!(missing.contains("There is no lead “nobody”."), "{missing}");
    assert_no_glitches("a missing lead", &missing);

    let login = app.get("/login", None).await.text().await.expect("body");
    assert!(
        login.contains("input[type=email]"),
        "the email field is styled like the others"
    );
}

#[tokio::test]
async fn the_hand_off_table_shows_each_sla_as_counts_and_a_share() {
    let app = App::spawn().await;
    // A team that works around the clock, so the SLA clocks run at once.
    app.api(
        reqwest::Method::POST,
        "/api/v1/teams",
        Some(
            json!({"id": "sdr", "name": "Sales development", "time_zone": "UTC",
            "working_hours": ["Mon-Sun 00:00-24:00"]}),
        ),
    )
    .await;
    app.api(
        reqwest::Method::POST,
        "/api/v1/reps",
        Some(
            json!({"id": "ana", "name": "Ana Lima", "email": "ana@example.com",
            "team": "sdr", "capacity": 10}),
        ),
    )
    .await;
    // A new MQL is routed to Ana, who calls at once: the first touch is on time, the
    // decision still open.
    app.send(json!([
        {"type": "identify", "userId": "grace@example.com", "traits": {
            "email": "grace@example.com", "name": "Grace Hopper", "title": "VP Data",
            "seniority": "vp", "department": "engineering"}},
        {"type": "group", "userId": "grace@example.com", "groupId": "acme", "traits": {
            "name": "Acme Corp", "employees": 1200, "industry": "Software"}},
        {"type": "track", "userId": "grace@example.com", "event": "Demo Requested"},
    ]))
    .await;
    app.api(
        reqwest::Method::POST,
        "/api/v1/leads/grace@example.com/activities",
        Some(json!({"kind": "call"})),
    )
    .await;

    let overview = app.page("/").await;
    let start = overview
        .find(r#"<table id="handoff">"#)
        .expect("the hand-off table");
    let end = start + overview[start..].find("</table>").expect("its end");
    let table = &overview[start..end];
    // Names, not ids.
    assert!(table.contains("Sales development"), "{table}");
    assert!(table.contains("Ana Lima"), "{table}");
    assert!(
        !table.contains(">ana<") && !table.contains(">sdr<"),
        "{table}"
    );
    // One column per SLA of the model, each cell with its counts and its share.
    assert!(table.contains("SLA <code>first-touch-4h</code>"), "{table}");
    let cell = |sla: &str| {
        let at = table
            .find(&format!(r#"data-sla="{sla}""#))
            .unwrap_or_else(|| panic!("a cell for {sla}: {table}"));
        let cell = &table[at..];
        cell[..cell.find("</td>").expect("cell end")].to_string()
    };
    let first_touch = cell("first-touch-4h");
    assert!(
        first_touch.contains("<strong>100 %</strong>")
            && first_touch.contains("1 met · <span>0 breached</span> · 0 open"),
        "{first_touch}"
    );
    let decide = cell("decide-1d");
    assert!(
        decide.contains(r#"title="no step decided yet">–</span>"#)
            && decide.contains("0 met · <span>0 breached</span> · 1 open"),
        "{decide}"
    );
    // Contact as a share, the first touch as a duration.
    assert!(
        table.contains(r#"<td class="num" title="1 of 1 MQL touched">100 %</td>"#),
        "{table}"
    );
    assert!(
        table.contains(" min</td>") || table.contains(" h</td>"),
        "{table}"
    );
    assert!(
        overview.contains("No SLA breach in the period."),
        "{overview}"
    );
    assert_no_glitches("/", &overview);

    // The same figures the API reports: the dashboard reads them from the same report.
    let api = app
        .api(reqwest::Method::GET, "/api/v1/reports/sla", None)
        .await;
    let total = &api["report"]["total"];
    assert_eq!(total["mqls"], 1, "{api}");
    assert_eq!(total["contact_rate"], 1.0, "{api}");
    assert_eq!(total["policies"]["first-touch-4h"]["met"], 1, "{api}");
    assert_eq!(total["policies"]["decide-1d"]["open"], 1, "{api}");

    // The lead page names its owner.
    let lead = app.page("/leads/grace%40example.com").await;
    assert!(
        lead.contains(r#"owner <strong title="ana">Ana Lima</strong>"#),
        "{lead}"
    );
}
