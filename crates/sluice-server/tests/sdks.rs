//! Analytics SDKs, unmodified, pointed at Sluice: Segment's Python SDK
//! (`segment-analytics-python`) and Node SDK (`@segment/analytics-node`), and RudderStack's
//! Python SDK (`rudder-sdk-python`, which sends an identify call's traits in `context.traits`),
//! each send a lead's journey (identify, group, page, track, alias) from a child process, and
//! the lead is then checked through the management API. analytics.js
//! (`@segment/analytics-next`) does the same in headless Chromium, from a page of another
//! origin, with its settings loaded from Sluice.
//!
//! The SDKs are installed by `.ci/run` (a venv in `.ci/venv`, `npm ci --prefix tests/sdks`).
//! Without them these tests say why they skip, unless `SLUICE_TEST_SDKS=1` or `CI=true`
//! requires them.
//! `SLUICE_SDK_PYTHON` names the Python interpreter that has the SDK (default `python3`),
//! `SLUICE_CHROMIUM` the browser (default `chromium`).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sluice_server::{Config, Running};
use sluice_store::testing::skip_or_fail;

const WRITE_KEY: &str = "wk_sdk";
const ADMIN_TOKEN: &str = "t";

/// `tests/sdks/` at the workspace root.
fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdks")
}

/// Whether the SDK can run here; when not, fails if required (`SLUICE_TEST_SDKS=1` or CI),
/// else says why it skips.
fn available(sdk: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip_or_fail(
            &format!("the {sdk} test"),
            &format!("{sdk} is not installed (probe {probe:?} failed)"),
            "run the SDK install steps of .ci/run (a venv with segment-analytics-python and \
             rudder-sdk-python, `npm ci --prefix tests/sdks`, Debian's chromium), and set \
             SLUICE_SDK_PYTHON to the venv's python",
            Some("SLUICE_TEST_SDKS"),
        );
    }
    ok
}

fn python() -> String {
    std::env::var("SLUICE_SDK_PYTHON").unwrap_or_else(|_| "python3".into())
}

struct Service {
    running: Running,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Service {
    async fn start() -> Service {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            database_url: format!("sqlite://{}", dir.path().join("sluice.db").display()),
            bind: "127.0.0.1:0".parse().unwrap(),
            model: None,
            admin_token: Some(ADMIN_TOKEN.into()),
            write_key: Some(WRITE_KEY.into()),
            rescore_every: None,
            sla_every: None,
            clock: Default::default(),
            limits: Default::default(),
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        };
        let running = sluice_server::start(config)
            .await
            .expect("the service starts");
        Service {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Runs an SDK script as a child process with the service's URL and write key; panics
    /// with its output unless it exits 0.
    async fn run(&self, sdk: &str, mut command: Command) {
        command
            .arg(&self.base)
            .arg(WRITE_KEY)
            .current_dir(sdk_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let sdk = sdk.to_string();
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("the SDK script starts");
            let deadline = Instant::now() + Duration::from_secs(120);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{sdk} script failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            output.status
        );
        println!("{stdout}");
    }

    /// The lead the SDK's calls made, as the management API shows it.
    async fn check_lead(
        &self,
        user: &str,
        email: &str,
        account: &str,
        previous: &str,
        calls: usize,
    ) {
        let (status, lead) = self.get(&format!("/api/v1/leads/{user}")).await;
        assert_eq!(status, StatusCode::OK, "{lead}");
        let row = &lead["lead"];
        assert_eq!(row["id"], user, "{lead}");
        let attributes = &row["attributes"];
        assert_eq!(attributes["email"], email, "identify traits: {lead}");
        assert_eq!(attributes["title"], "VP Data Platform", "{lead}");
        assert_eq!(attributes["seniority"], "vp", "{lead}");
        assert_eq!(row["account_id"], account, "group: {lead}");

        let (status, acct) = self.get(&format!("/api/v1/accounts/{account}")).await;
        assert_eq!(status, StatusCode::OK, "{acct}");
        assert_eq!(
            acct["account"]["attributes"]["industry"], "Software",
            "group traits: {acct}"
        );
        assert_eq!(acct["leads"][0]["id"], user, "{acct}");

        let engagement: Vec<&str> = lead["now"]["explanation"]["engagement"]
            .as_array()
            .unwrap_or_else(|| panic!("no engagement explanation: {lead}"))
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .collect();
        assert!(
            engagement.contains(&"pricing-page") && engagement.contains(&"demo-request"),
            "the pricing page and the demo request score: {engagement:?}"
        );
        assert_eq!(row["stage"], "mql", "{lead}");

        // alias: the previous id names the same lead.
        let (status, aliased) = self.get(&format!("/api/v1/leads/{previous}")).await;
        assert_eq!(status, StatusCode::OK, "{aliased}");
        assert_eq!(aliased["lead"]["id"], user, "{aliased}");
        // And the email too.
        assert_eq!(
            self.get(&format!("/api/v1/leads/{email}")).await.1["lead"]["id"],
            user
        );

        let (_, events) = self.get(&format!("/api/v1/leads/{user}/events")).await;
        assert_eq!(
            events["events"].as_array().map(Vec::len),
            Some(calls),
            "every call stored once: {events}"
        );
        let count = self.running.state.store.event_count().await.unwrap();
        assert_eq!(count, calls as i64);
    }
}

/// The Python interpreter, when it has the SDK.
fn python_sdk() -> Option<String> {
    python_with("segment-analytics-python", "segment.analytics")
}

/// The Python interpreter, when it has the SDK `package`, imported as `module`.
fn python_with(package: &str, module: &str) -> Option<String> {
    let python = python();
    let mut probe = Command::new(&python);
    probe.args(["-c", &format!("import {module}")]);
    available(package, &mut probe).then_some(python)
}

#[tokio::test]
async fn the_official_python_sdk_works_unmodified() {
    let Some(python) = python_sdk() else { return };
    let service = Service::start().await;
    let mut command = Command::new(&python);
    command.arg(sdk_dir().join("python_sdk.py"));
    service.run("python SDK", command).await;
    service
        .check_lead("sdk-py", "py@acme.io", "acme-py", "sdk-py-previous", 5)
        .await;
}

/// The SDK drops a message over 32 KB as it measures it (`json.dumps`, with spaces), and
/// sends one at exactly that size; Sluice must take it, and the batch it came in.
#[tokio::test]
async fn a_message_at_the_python_sdks_size_limit_is_accepted() {
    let Some(python) = python_sdk() else { return };
    let service = Service::start().await;
    let mut command = Command::new(&python);
    command
        .arg(sdk_dir().join("python_sdk.py"))
        .arg("--at-size-limit");
    service.run("python SDK", command).await;
    service
        .check_lead("sdk-py", "py@acme.io", "acme-py", "sdk-py-previous", 6)
        .await;
    let (_, events) = service.get("/api/v1/leads/sdk-py/events").await;
    let largest = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"]["event"] == "Whitepaper Downloaded")
        .unwrap_or_else(|| panic!("the largest message is stored: {events}"));
    assert!(
        largest["message"]["properties"]["padding"]
            .as_str()
            .unwrap()
            .len()
            > 30_000
    );
}

#[tokio::test]
async fn the_official_node_sdk_works_unmodified() {
    let mut probe = Command::new("node");
    probe
        .current_dir(sdk_dir())
        .args(["-e", "require.resolve('@segment/analytics-node')"]);
    if !available("@segment/analytics-node", &mut probe) {
        return;
    }
    let service = Service::start().await;
    let mut command = Command::new("node");
    command.arg(sdk_dir().join("node_sdk.mjs"));
    service.run("node SDK", command).await;
    service
        .check_lead(
            "sdk-node",
            "node@acme.io",
            "acme-node",
            "sdk-node-previous",
            5,
        )
        .await;
}

/// RudderStack's Python SDK sends an identify call's traits only in `context.traits`, with
/// `"anonymousId": null`, gzip-encoded: the traits must still become the lead's attributes
/// (fit points, an MQL), and its `screen` call is stored like the rest.
#[tokio::test]
async fn rudderstacks_python_sdk_works_unmodified() {
    let Some(python) = python_with("rudder-sdk-python", "rudderstack.analytics") else {
        return;
    };
    let service = Service::start().await;
    let mut command = Command::new(&python);
    command.arg(sdk_dir().join("rudderstack_sdk.py"));
    service.run("rudderstack SDK", command).await;
    service
        .check_lead(
            "sdk-rudder",
            "rudder@acme.io",
            "acme-rudder",
            "sdk-rudder-previous",
            6,
        )
        .await;
    let (_, events) = service.get("/api/v1/leads/sdk-rudder/events").await;
    let messages: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["message"])
        .collect();
    let identify = messages
        .iter()
        .find(|m| m["type"] == "identify")
        .unwrap_or_else(|| panic!("the identify call is stored: {events}"));
    assert!(
        identify.get("traits").is_none()
            && identify["context"]["traits"]["email"] == "rudder@acme.io",
        "the traits came in context.traits alone: {identify}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "screen" && m["name"] == "Pricing"),
        "{events}"
    );
    let (_, lead) = service.get("/api/v1/leads/sdk-rudder").await;
    assert!(
        lead["now"]["explanation"]["fit"]
            .as_array()
            .is_some_and(|fit| fit.iter().any(|r| r["rule"] == "senior-decision-maker")),
        "fit points from the traits: {lead}"
    );
}

/// The browser bundle of analytics.js, as `npm ci --prefix tests/sdks` installs it.
fn analytics_js_bundle() -> PathBuf {
    sdk_dir().join("node_modules/@segment/analytics-next/dist/umd/index.js")
}

/// A site of its own for the browser test: `/pricing` (`tests/sdks/browser_sdk.html`),
/// `/analytics-next.js` (the library's bundle), and `/report`, where the page says what
/// happened (kept in `reports`).
async fn site(reports: Arc<Mutex<Vec<String>>>) -> String {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::{get, post};
    let page = std::fs::read_to_string(sdk_dir().join("browser_sdk.html")).unwrap();
    let bundle = std::fs::read(analytics_js_bundle()).unwrap();
    let app = axum::Router::new()
        .route(
            "/pricing",
            get(move || async move { ([(CONTENT_TYPE, "text/html; charset=utf-8")], page) }),
        )
        .route(
            "/analytics-next.js",
            get(move || async move { ([(CONTENT_TYPE, "text/javascript")], bundle) }),
        )
        .route(
            "/report",
            post(move |body: String| async move {
                reports.lock().unwrap().push(body);
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// analytics.js (`@segment/analytics-next`), unmodified, on a site's page in headless
/// Chromium: it loads its settings from Sluice (`cdnURL`), which point it at Sluice's `/v1/`,
/// and sends a lead's journey from the site's origin (a preflight with `Authorization`,
/// `text/plain` bodies with the write key in them).
#[tokio::test]
async fn analytics_js_works_unmodified_in_a_browser() {
    let chromium = std::env::var("SLUICE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let mut probe = Command::new(&chromium);
    probe.arg("--version");
    if !available("Chromium", &mut probe) {
        return;
    }
    let mut probe = Command::new("test");
    probe.arg("-f").arg(analytics_js_bundle());
    if !available("@segment/analytics-next", &mut probe) {
        return;
    }
    let service = Service::start().await;
    let reports = Arc::new(Mutex::new(Vec::new()));
    let site = site(Arc::clone(&reports)).await;
    let profile = tempfile::tempdir().unwrap();
    let url = format!("{site}/pricing?sluice={}&key={WRITE_KEY}", service.base);
    // Flags for a browser on a closed network, as a test needs it: no first-run pages, no
    // background connections, a profile of its own. In a process group of its own, to be
    // stopped with every process it starts.
    let mut browser = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(profile.path().join("stderr.log")).unwrap())
        .process_group(0)
        .spawn()
        .expect("Chromium starts");

    // Every call stored, or the page's error, or the browser gone, or a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    let calls = 5;
    let outcome = loop {
        let stored = service.running.state.store.event_count().await.unwrap();
        let errors: Vec<String> = reports
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.contains("\"error\""))
            .cloned()
            .collect();
        let gone = browser.try_wait().unwrap();
        if stored >= calls || !errors.is_empty() || gone.is_some() || Instant::now() > deadline {
            break (stored, errors);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The browser and its helpers, by their process group (the browser's own pid, as spawned
    // with `process_group(0)`). Not `kill -TERM -PGID`: procps-ng 4.0's kill sends that to
    // every process it may signal.
    let group = libc::pid_t::try_from(browser.id()).expect("a pid");
    if group > 1 {
        // SAFETY: killpg only sends a signal; the group is the browser's, made at its spawn.
        unsafe {
            libc::killpg(group, libc::SIGTERM);
        }
    }
    let stop = Instant::now() + Duration::from_secs(10);
    while browser.try_wait().unwrap().is_none() && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = browser.kill();
    let _ = browser.wait();

    let (stored, errors) = outcome;
    let reports = reports.lock().unwrap().clone();
    if !errors.is_empty() || stored != calls {
        let log = std::fs::read_to_string(profile.path().join("stderr.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        panic!(
            "{stored} of {calls} calls stored; the page reported {reports:?}; Chromium said:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    service
        .check_lead(
            "sdk-browser",
            "browser@acme.io",
            "acme-browser",
            "sdk-browser-previous",
            calls as usize,
        )
        .await;
    let (_, events) = service.get("/api/v1/leads/sdk-browser/events").await;
    let page = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["message"])
        .find(|m| m["type"] == "page")
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(page["properties"]["path"], "/pricing", "{page}");
    assert_eq!(page["context"]["library"]["name"], "analytics.js", "{page}");
}
