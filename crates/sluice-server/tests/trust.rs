//! Trust, through the doors people use: every operation of the OpenAPI document called with
//! every role, hashed secrets and their rotation, the audit log, erasure and export of a
//! person, and the dashboard's per-person sign-in.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sluice_server::limits::{Rate, Settings};
use sluice_server::{Config, Running};
use sluice_store::Store;
use sluice_store::testing::PgDatabase;

const ADMIN: &str = "admin-token";
const WRITE_KEY: &str = "wk_trust_test_key";

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    url: String,
    dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl App {
    async fn with(url: String, dir: Option<tempfile::TempDir>, pg: Option<PgDatabase>) -> App {
        let running = sluice_server::start(Config {
            database_url: url.clone(),
            bind: "127.0.0.1:0".parse().unwrap(),
            model: None,
            admin_token: Some(ADMIN.into()),
            write_key: Some(WRITE_KEY.into()),
            rescore_every: None,
            sla_every: None,
            clock: Default::default(),
            // The walk below makes hundreds of calls, many of them refused, from one address.
            limits: Settings {
                token_rate: Rate {
                    per_second: 0.0,
                    burst: 1,
                },
                auth_failures: Rate {
                    per_second: 0.0,
                    burst: 1,
                },
                ..Settings::default()
            },
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        })
        .await
        .expect("the service starts");
        App {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            url,
            dir,
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
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
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
        let (status, answer) = self.call(method.clone(), path, Some(ADMIN), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer
    }

    async fn send(&self, key: &str, batch: Value) -> StatusCode {
        self.http
            .post(format!("{}/v1/batch", self.base))
            .basic_auth(key, Some(""))
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Two teams' worth of people: team `sdr` with reps maya and omar, a lead each; a user of
    /// every role. Their tokens, by role.
    async fn people(&self) -> Vec<(&'static str, String)> {
        self.admin(Method::POST, "/api/v1/teams", Some(json!({"id": "sdr"})))
            .await;
        self.admin(Method::POST, "/api/v1/teams", Some(json!({"id": "ae"})))
            .await;
        for (id, team) in [("maya", "sdr"), ("omar", "sdr"), ("lee", "ae")] {
            self.admin(
                Method::POST,
                "/api/v1/reps",
                Some(json!({"id": id, "name": id, "email": format!("{id}@sales.example"), "team": team})),
            )
            .await;
        }
        assert_eq!(
            self.send(
                WRITE_KEY,
                json!([
                    {"type": "identify", "userId": "ada@example.com", "traits": {"email": "ada@example.com", "name": "Ada Lovelace", "title": "VP of Engineering"}},
                    {"type": "track", "userId": "ada@example.com", "event": "Demo Requested"},
                    {"type": "identify", "userId": "bob@example.com", "traits": {"email": "bob@example.com", "title": "Engineer"}},
                    {"type": "identify", "userId": "cy@example.com", "traits": {"email": "cy@example.com"}},
                ]),
            )
            .await,
            StatusCode::OK
        );
        for (lead, rep) in [
            ("ada@example.com", "maya"),
            ("bob@example.com", "omar"),
            ("cy@example.com", "lee"),
        ] {
            self.admin(
                Method::POST,
                &format!("/api/v1/leads/{lead}/assign"),
                Some(json!({"rep": rep})),
            )
            .await;
        }
        let mut tokens = vec![("admin-token", ADMIN.to_string())];
        for (role, email, extra) in [
            ("admin", "root@example.com", json!({})),
            ("marketing", "mia@example.com", json!({})),
            ("sales_manager", "sam@example.com", json!({"team": "sdr"})),
            ("rep", "maya@sales.example", json!({})),
            ("analyst", "ann@example.com", json!({})),
        ] {
            let mut body = json!({"email": email, "role": role});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let (status, user) = self
                .call(Method::POST, "/api/v1/users", Some(ADMIN), Some(body))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{user}");
            assert_eq!(user["role"], role);
            assert_eq!(user["user"]["email"], email);
            tokens.push((role, user["token"].as_str().unwrap().to_string()));
        }
        tokens
    }
}

fn role_name(role: &str) -> &str {
    if role == "admin-token" { "admin" } else { role }
}

/// A concrete path for an operation's template: lead operations on `lead`, others on ids that
/// exist where it matters (the rep's own rep) or that do not (answering 404).
fn concrete(template: &str, lead: &str) -> String {
    template
        .replace("/leads/{id}", &format!("/leads/{lead}"))
        .replace("/reps/{id}", "/reps/maya")
        .replace("/teams/{id}", "/teams/sdr")
        .replace("{delivery_id}", "1")
        .replace("{id}", "no-such-id")
}

#[tokio::test]
async fn every_operation_answers_every_role_as_the_document_declares() {
    let app = App::sqlite().await;
    let tokens = app.people().await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let roles: Vec<&str> = operation["x-roles"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {template} declares no roles"))
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            for code in ["401", "403"] {
                assert!(
                    operation["responses"][code].is_object(),
                    "{method} {template} does not declare {code}"
                );
            }
            // Erasure goes last: it would remove the leads the others are asked about.
            if template == "/api/v1/leads/{id}" && method == Method::DELETE {
                continue;
            }
            let body =
                matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let path = concrete(template, "bob@example.com");
            let (status, answer) = app.call(method.clone(), &path, None, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token: {answer}"
            );
            let (status, _) = app
                .call(method.clone(), &path, Some("sl_not_a_token"), body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with a bad token"
            );
            for (role, token) in &tokens {
                let allowed = roles.contains(&role_name(role));
                let (status, answer) = app
                    .call(method.clone(), &path, Some(token), body.clone())
                    .await;
                assert!(
                    operation["responses"][status.as_str()].is_object(),
                    "{method} {path} as {role}: {status} is not declared: {answer}"
                );
                if !allowed {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} as {role}: {answer}"
                    );
                    assert_eq!(answer["error"]["code"], "forbidden");
                } else if template.starts_with("/api/v1/leads/{id}") && *role == "rep" {
                    // bob is omar's: for maya he does not exist.
                    assert_eq!(
                        status,
                        StatusCode::NOT_FOUND,
                        "{method} {path} as {role}: {answer}"
                    );
                } else {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{method} {path} as {role}: {status} {answer}"
                    );
                    assert!(
                        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
                        "{method} {path} as {role}: {status} {answer}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked} calls checked");

    // A rep sees their own lead, lists only theirs; a manager their team's.
    let rep = &tokens.iter().find(|(r, _)| *r == "rep").unwrap().1;
    let manager = &tokens
        .iter()
        .find(|(r, _)| *r == "sales_manager")
        .unwrap()
        .1;
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/leads/ada@example.com",
            Some(rep),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app
        .call(Method::GET, "/api/v1/leads", Some(rep), None)
        .await;
    let ids: Vec<&str> = list["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ada@example.com"]);
    let (_, list) = app
        .call(Method::GET, "/api/v1/leads", Some(manager), None)
        .await;
    let mut ids: Vec<&str> = list["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["ada@example.com", "bob@example.com"],
        "cy is team ae's"
    );
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/leads/cy@example.com",
            Some(manager),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, queue) = app
        .call(Method::GET, "/api/v1/queue?rep=omar", Some(rep), None)
        .await;
    assert!(
        queue["queue"]
            .as_array()
            .is_none_or(|q| q.iter().all(|i| i["rep"] != "omar")),
        "a rep's queue is theirs: {queue}"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/leads/ada@example.com",
            Some(rep),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The whole of a SQLite database's files, to look for what must not be there.
fn sqlite_bytes(dir: &tempfile::TempDir) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_are_stored_hashed_listed_by_prefix_and_rotate_with_an_overlap() {
    let app = App::sqlite().await;
    let source = app
        .admin(
            Method::POST,
            "/api/v1/sources",
            Some(json!({"name": "web"})),
        )
        .await;
    let key = source["key"].as_str().unwrap().to_string();
    let id = source["id"].as_str().unwrap().to_string();
    assert!(key.len() > 30 && key.starts_with(source["prefix"].as_str().unwrap()));
    let list = app.admin(Method::GET, "/api/v1/sources", None).await;
    let text = list.to_string();
    assert!(!text.contains(&key) && !text.contains(WRITE_KEY), "{text}");
    assert_eq!(list["sources"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.send(
            &key,
            json!([{"type": "track", "userId": "u1", "event": "E"}])
        )
        .await,
        StatusCode::OK
    );

    // Rotation: the old key works through the overlap, the new one at once; with no overlap
    // the old one stops now.
    let rotated = app
        .admin(
            Method::POST,
            &format!("/api/v1/sources/{id}/rotate"),
            Some(json!({"overlap": "1h"})),
        )
        .await;
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(rotated["name"], "web");
    for k in [&key, &new_key] {
        assert_eq!(
            app.send(k, json!([{"type": "track", "userId": "u1", "event": "E"}]))
                .await,
            StatusCode::OK
        );
    }
    let again = app
        .admin(
            Method::POST,
            &format!("/api/v1/sources/{}/rotate", rotated["id"].as_str().unwrap()),
            Some(json!({"overlap": "0"})),
        )
        .await;
    assert_eq!(
        app.send(
            &new_key,
            json!([{"type": "track", "userId": "u1", "event": "E"}])
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let newest = again["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.send(
            &newest,
            json!([{"type": "track", "userId": "u1", "event": "E"}])
        )
        .await,
        StatusCode::OK
    );
    app.admin(
        Method::DELETE,
        &format!("/api/v1/sources/{}", again["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(
        app.send(
            &newest,
            json!([{"type": "track", "userId": "u1", "event": "E"}])
        )
        .await,
        StatusCode::UNAUTHORIZED
    );

    // Personal tokens: made, shown once, rotated, revoked.
    let (_, user) = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(ADMIN),
            Some(json!({"email": "Mia@Example.com", "role": "marketing"})),
        )
        .await;
    assert_eq!(user["email"], "mia@example.com");
    let token = user["token"].as_str().unwrap().to_string();
    let (status, me) = app
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("marketing"))
    );
    let (_, tokens) = app
        .call(Method::GET, "/api/v1/tokens", Some(&token), None)
        .await;
    assert!(!tokens.to_string().contains(&token));
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let (status, second) = app
        .call(
            Method::POST,
            &format!("/api/v1/tokens/{token_id}/rotate"),
            Some(&token),
            Some(json!({"overlap": "0"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&second), None)
            .await
            .0,
        StatusCode::OK
    );
    let (_, tokens) = app
        .call(Method::GET, "/api/v1/tokens", Some(&second), None)
        .await;
    let active = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["active"] == true)
        .unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", active["id"].as_str().unwrap()),
            Some(&second),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&second), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // A bad request names the field.
    let (status, bad) = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(ADMIN),
            Some(json!({"email": "x@example.com", "role": "boss"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["error"]["details"]["field"], "role");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(ADMIN),
            Some(json!({"email": "mia@example.com", "role": "analyst"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // No secret is in the database's files.
    let store = Store::connect(&app.url).await.unwrap();
    store.checkpoint().await.unwrap();
    let bytes = sqlite_bytes(app.dir.as_ref().unwrap());
    for secret in [
        &key,
        &new_key,
        &newest,
        &token,
        &second,
        &WRITE_KEY.to_string(),
    ] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is stored in plain text"
        );
    }
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_from_where_newest_first() {
    let app = App::sqlite().await;
    let tokens = app.people().await;
    let marketing = &tokens.iter().find(|(r, _)| *r == "marketing").unwrap().1;
    let model = sluice_server::DEFAULT_MODEL.replace("version = \"", "version = \"audit-");
    let response = app
        .http
        .post(format!("{}/api/v1/model?activate=false", app.base))
        .bearer_auth(marketing)
        .body(model)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/leads/bob@example.com/transitions",
            Some(marketing),
            Some(json!({"to": "disqualified", "actor": "marketing", "reason": "student"})),
        )
        .await;
    assert!(
        status.is_success() || status == StatusCode::CONFLICT,
        "{status}"
    );
    let log = app.admin(Method::GET, "/api/v1/audit?limit=3", None).await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries[0]["seq"].as_i64() > entries[1]["seq"].as_i64(),
        "newest first"
    );
    let upload = entries
        .iter()
        .find(|e| e["action"] == "model.upload")
        .expect("the upload");
    assert_eq!(upload["actor"], "mia@example.com");
    assert_eq!(upload["address"], "127.0.0.1");
    let next = log["next"].as_str().expect("more");
    let older = app
        .admin(
            Method::GET,
            &format!("/api/v1/audit?limit=1000&cursor={next}"),
            None,
        )
        .await;
    let actions: Vec<&str> = older["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["user.create", "lead.assign", "rep.put", "team.put"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let (status, _) = app
        .call(Method::GET, "/api/v1/audit", Some(marketing), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Erases ada and checks what is left: nothing of her, the aggregates under an anonymous id.
async fn erase_and_check(app: &App) -> String {
    app.people().await;
    let export = app
        .admin(Method::GET, "/api/v1/leads/ada@example.com/export", None)
        .await;
    assert_eq!(export["lead"]["id"], "ada@example.com");
    assert!(export["events"].as_array().unwrap().len() >= 2, "{export}");
    assert_eq!(export["assignments"].as_array().unwrap().len(), 1);
    // A report first: her facts are built, and her attribute values enter the catalogue of
    // report features (which erasure must clean too).
    let report = app
        .admin(Method::GET, "/api/v1/reports/attribution?min_leads=1", None)
        .await;
    assert!(report["report"]["leads"].as_u64().unwrap() >= 2, "{report}");
    let erased = app
        .admin(
            Method::DELETE,
            "/api/v1/leads/ada@example.com?suppress=true",
            None,
        )
        .await;
    assert_eq!(erased["erased"], true);
    assert!(erased["events"].as_u64().unwrap() >= 2, "{erased}");
    let anonymous = erased["anonymous_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/leads/ada@example.com",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Her stage history and assignment stay, anonymous.
    let store = Store::connect(&app.url).await.unwrap();
    assert!(store.lead("ada@example.com").await.unwrap().is_none());
    assert!(
        store
            .aliases_of("ada@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.assignments_of(&anonymous).await.unwrap().len(), 1);
    assert!(
        store
            .assignments_of("ada@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .events_for(&["ada@example.com".to_string()], 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Suppressed: new events for her are acknowledged and dropped.
    assert_eq!(
        app.send(
            WRITE_KEY,
            json!([{"type": "track", "userId": "ada@example.com", "event": "Came Back"}])
        )
        .await,
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/leads/ada@example.com",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Audited, without naming her.
    let log = app.admin(Method::GET, "/api/v1/audit?limit=5", None).await;
    assert_eq!(log["entries"][0]["action"], "lead.erase");
    assert_eq!(log["entries"][0]["target"], anonymous.as_str());
    assert!(!log.to_string().contains("ada@example.com"), "{log}");
    anonymous
}

#[tokio::test]
async fn erasure_leaves_no_trace_of_the_person_in_the_sqlite_files() {
    let app = App::sqlite().await;
    erase_and_check(&app).await;
    let store = Store::connect(&app.url).await.unwrap();
    assert!(store.checkpoint().await.unwrap());
    let bytes = sqlite_bytes(app.dir.as_ref().unwrap());
    for trace in ["ada@example.com", "Ada Lovelace"] {
        assert!(
            !contains(&bytes, trace),
            "`{trace}` is still in the database files"
        );
    }
    assert!(
        contains(&bytes, "bob@example.com"),
        "the scan finds what is there"
    );
    app.running.server.abort();
}

#[tokio::test]
async fn erasure_deletes_the_person_on_postgres() {
    let Some(app) = App::postgres().await else {
        return;
    };
    erase_and_check(&app).await;
}

#[tokio::test]
async fn people_sign_in_to_the_dashboard_with_a_password_or_a_one_time_link() {
    let app = App::sqlite().await;
    app.people().await;
    let (status, user) = app
        .call(Method::POST, "/api/v1/users", Some(ADMIN), Some(json!({"email": "omar@sales.example", "role": "rep", "password": "correct horse battery"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let login = |email: &str, password: &str| {
        app.http
            .post(format!("{}/login", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email={email}&password={password}"))
            .send()
    };
    assert_eq!(
        login("omar@sales.example", "wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("nobody@sales.example", "correct+horse+battery")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let response = login("omar@sales.example", "correct+horse+battery")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = |path: &str| {
        app.http
            .get(format!("{}{path}", app.base))
            .header("cookie", &cookie)
            .send()
    };
    let overview = page("/").await.unwrap().text().await.unwrap();
    assert!(
        overview.contains(r#"href="/leads/bob%40example.com""#)
            && !overview.contains(r#"href="/leads/ada%40example.com""#),
        "a rep sees only their leads: {overview}"
    );
    assert_eq!(
        page("/leads/ada@example.com").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page("/leads/bob@example.com").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        page("/reports").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // A one-time link from the CLI's code path works once.
    let store = Store::connect(&app.url).await.unwrap();
    let analyst = store.user("ann@example.com").await.unwrap().unwrap();
    let secret =
        sluice_server::trust::sign_in_link(&store, &analyst.id, sluice_server::state::now())
            .await
            .unwrap();
    let link = format!("{}/login/link/{secret}", app.base);
    let first = app.http.get(&link).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = app.http.get(&link).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    let secure = app
        .http
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(format!("token={ADMIN}"))
        .send()
        .await
        .unwrap();
    assert!(
        secure.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}
