//! With PostgreSQL unreachable, the service says so in time: `/readyz` answers 503 within a
//! probe's timeout and ingestion 503 with `Retry-After` (so SDKs retry), and it recovers by
//! itself when the database is back. The database is real; what breaks is a TCP forwarder
//! between the two that the test stops (connections refused) or pauses (bytes held, as on a
//! network that drops packets), then brings back. A retry of a message whose answer timed out
//! is stored once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_server::limits::Settings;
use sluice_server::{Config, Running};
use sluice_store::testing::PgDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A TCP forwarder to the database that can be stopped, paused and brought back.
struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    paused: watch::Sender<bool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            target,
            paused: watch::channel(false).0,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, paused, tasks) = (self.target, self.paused.clone(), Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let paused = paused.subscribe();
                let task = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pipe(client_read, server_write, paused.clone()),
                        pipe(server_read, client_write, paused),
                    );
                });
                tasks.lock().unwrap().push(task);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// The database is gone: new connections are refused, open ones cut.
    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Back on the same address.
    async fn restart(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("rebinding the proxy: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot rebind the proxy on {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Nothing gets through, and nothing is refused either.
    fn pause(&self) {
        self.paused.send_replace(true);
    }

    fn resume(&self) {
        self.paused.send_replace(false);
    }
}

/// Copies bytes one way, holding them while paused.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while *paused.borrow_and_update() {
            if paused.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    proxy: Proxy,
    _pg: PgDatabase,
}

impl App {
    async fn start() -> Option<App> {
        let pg = PgDatabase::create().await?;
        // postgres://user@HOST:PORT/db: the same database, through the proxy.
        let (scheme, rest) = pg.url.split_once("://").unwrap();
        let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
        let (host, db) = rest.split_once('/').unwrap();
        let target = tokio::net::lookup_host(host).await.unwrap().next().unwrap();
        let proxy = Proxy::start(target).await;
        let at = if user.is_empty() { "" } else { "@" };
        let url = format!("{scheme}://{user}{at}{}/{db}", proxy.addr);
        let config = Config {
            database_url: url,
            bind: "127.0.0.1:0".parse().unwrap(),
            model: None,
            admin_token: Some("admin-token".into()),
            write_key: Some("wk_test".into()),
            rescore_every: None,
            sla_every: None,
            clock: Default::default(),
            limits: Settings::default(),
            cache_leads: sluice_server::live::DEFAULT_CAPACITY,
            session_ttl: sluice_server::trust::SESSION_TTL,
            nats: None,
        };
        let running = sluice_server::start(config)
            .await
            .expect("the service starts");
        Some(App {
            base: format!("http://{}", running.addr),
            running,
            // A probe's patience, or an SDK's: an answer must come before it gives up.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap(),
            proxy,
            _pg: pg,
        })
    }

    /// `/readyz`'s status; panics if it did not answer within the client's timeout.
    async fn ready(&self) -> StatusCode {
        let response = self.http.get(format!("{}/readyz", self.base)).send().await;
        response.expect("/readyz answers within 3 s").status()
    }

    async fn track(&self, id: &str) -> reqwest::Response {
        let body = json!({"userId": "ada", "event": "Demo Requested", "messageId": id,
                          "timestamp": sluice_server::state::now().to_string()});
        let response = self
            .http
            .post(format!("{}/v1/track", self.base))
            .basic_auth("wk_test", Some(""))
            .json(&body)
            .send()
            .await;
        response.expect("/v1/track answers within 3 s")
    }

    /// How many times the message `id` is stored.
    async fn stored(&self, id: &str) -> usize {
        let response = self
            .http
            .get(format!("{}/api/v1/leads/ada/events?limit=1000", self.base))
            .bearer_auth("admin-token")
            .send()
            .await
            .unwrap();
        let events: Value = response.json().await.unwrap();
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["message"]["messageId"] == id)
            .count()
    }

    /// Waits (a minute at most) until the service is ready and stores again.
    async fn recovered(&self, id: &str) {
        for _ in 0..120 {
            if self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
                && self
                    .http
                    .post(format!("{}/v1/track", self.base))
                    .basic_auth("wk_test", Some(""))
                    .json(
                        &json!({"userId": "ada", "event": "Demo Requested", "messageId": id,
                                  "timestamp": sluice_server::state::now().to_string()}),
                    )
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the service did not recover within a minute of the database's return");
    }
}

/// Right after the database stops answering: ingestion says 503 (the first request waits for
/// the health check to notice, the next ones hear it at once), and so does readiness, each
/// within the client's 3 s.
async fn says_unavailable(app: &App, round: &str) {
    for i in 0..3 {
        let response = app.track(&format!("{round}-{i}")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(app.ready().await, StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn with_the_database_gone_probes_and_sdks_hear_503_in_time_and_it_recovers() {
    let Some(app) = App::start().await else {
        return;
    };
    assert_eq!(app.ready().await, StatusCode::OK);
    assert_eq!(app.track("before").await.status(), StatusCode::OK);

    app.proxy.stop();
    says_unavailable(&app, "down").await;

    app.proxy.restart().await;
    // An SDK retrying a message answered 503 while the database was gone.
    app.recovered("down-0").await;
    assert_eq!(app.track("down-1").await.status(), StatusCode::OK);
    assert_eq!(app.track("down-1").await.status(), StatusCode::OK);
    for id in ["before", "down-0", "down-1"] {
        assert_eq!(app.stored(id).await, 1, "{id} is stored once");
    }
    let _ = &app.running;
}

#[tokio::test]
async fn with_the_database_silent_probes_and_sdks_hear_503_in_time_and_it_recovers() {
    let Some(app) = App::start().await else {
        return;
    };
    assert_eq!(app.track("before").await.status(), StatusCode::OK);

    app.proxy.pause();
    // A commit under way now waits for the network; its answer times out, and it may still
    // land once the network heals.
    says_unavailable(&app, "silent").await;

    app.proxy.resume();
    app.recovered("silent-0").await;
    for i in 0..3 {
        let id = format!("silent-{i}");
        assert_eq!(app.track(&id).await.status(), StatusCode::OK);
        assert_eq!(app.stored(&id).await, 1, "{id} is stored once");
    }
}
