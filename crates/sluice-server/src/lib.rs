//! Sluice's HTTP service: Segment-compatible ingestion, live scoring and lifecycle, the
//! management API, metrics and the dashboard. [`start`] runs it; the `sluice serve` command is a
//! thin shell around it.

pub mod api;
pub mod dashboard;
pub mod error;
pub mod facts;
pub mod handoff;
pub mod ingest;
pub mod limits;
pub mod live;
pub mod replay;
pub mod reports;
pub mod roster_file;
pub mod state;
pub mod stream;
pub mod trust;
pub mod webhooks;
pub mod writer;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use sluice_core::Model;
use sluice_store::{ModelRow, Store, StoreError};
use tower_http::decompression::RequestDecompressionLayer;

use crate::live::Live;
use crate::state::{AppState, metrics_handle, now, token};

/// How often a service reloads the write keys and the suppression list, so that a key
/// revoked or a person erased through another replica counts here too.
const TRUST_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The model used when none is given or stored: the example B2B model.
pub const DEFAULT_MODEL: &str = include_str!("../../../examples/model.toml");

/// How to run the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database URL: `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// A model file's text and name, to store and activate at start.
    pub model: Option<(String, String)>,
    /// The management API's bearer token (generated if absent).
    pub admin_token: Option<String>,
    /// A write key to make sure exists (one is generated if there is none at all).
    pub write_key: Option<String>,
    /// How often to rescore every lead so stored scores show decay (`None`: never).
    pub rescore_every: Option<std::time::Duration>,
    /// How often the SLA scheduler runs (`None`: never).
    pub sla_every: Option<std::time::Duration>,
    /// The clock (the system's, but for tests that move time themselves).
    pub clock: state::Clock,
    /// Rate limits, timeouts, bounds (`limits::Settings::default()` for the defaults).
    pub limits: limits::Settings,
    /// Most leads whose scoring state is kept in memory (the rest is read from the database
    /// when needed).
    pub cache_leads: usize,
    /// Ingest through this NATS JetStream stream (processed by `sluice worker`) instead of
    /// storing directly.
    pub nats: Option<stream::NatsConfig>,
    /// How long a dashboard session lasts.
    pub session_ttl: std::time::Duration,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model file.
    #[error("{0}")]
    Model(String),
    /// Another setting.
    #[error("{0}")]
    Config(String),
    /// The address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A started service.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The management API token.
    pub admin_token: String,
    /// A write key for ingestion: the one given, or one made at this start (none when the
    /// database holds active keys already: they were shown when they were made).
    pub write_key: Option<String>,
    /// The model in force.
    pub model_version: String,
    /// How many leads it knows.
    pub leads: usize,
    /// Shared state (for embedding and tests).
    pub state: AppState,
    /// Runs the server until it fails.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Connects, migrates, loads the model and the live state, and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    start_with(config, webhooks::WebhookSettings::default()).await
}

/// [`start`], with webhook delivery settings other than the default (retry schedule, time-out).
pub async fn start_with(
    config: Config,
    webhooks: webhooks::WebhookSettings,
) -> Result<Running, StartError> {
    for (what, value) in [
        ("admin token", &config.admin_token),
        ("write key", &config.write_key),
    ] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(StartError::Config(format!(
                "the {what} must not be empty (unset it to have one generated)"
            )));
        }
    }
    let store = Store::connect(&config.database_url).await?;
    let (model, version) = choose_model(&store, config.model.as_ref()).await?;
    let model = Arc::new(model);
    // A database written before the durable scoring state existed gets it once, from its log.
    let backfilled = live::backfill(&store, Arc::clone(&model), version.clone()).await?;
    if backfilled > 0 {
        tracing::info!(
            trails = backfilled,
            "built the durable scoring state from the event log"
        );
    }
    let leads = store.lead_count().await?.max(0) as usize;
    // Leads last scored by another model (a new one given at start, or a pass cut short) are
    // rescored in the background.
    let stale = store.leads_scored_by_other(&version).await? > 0;
    let mut live = Live::new(model, version.clone());
    live.set_capacity(config.cache_leads);
    // The cache starts empty: nothing written before now needs dropping.
    live.set_synced(store.last_state_change().await?);
    let live = Arc::new(RwLock::new(live));

    let write_key = bootstrap_write_key(&store, config.write_key.as_deref()).await?;
    let write_keys = trust::active_write_keys(&store, now()).await?;
    let suppressed = trust::suppressed(&store).await?;

    let admin_token = config.admin_token.clone().unwrap_or_else(|| token("sk_"));
    let storage = limits::StorageHealth::watch(&config.database_url, config.limits.storage_timeout);
    let state = AppState {
        writer: writer::spawn(store.clone(), Arc::clone(&live), config.clock.clone()),
        store,
        live,
        write_keys: Arc::new(RwLock::new(write_keys)),
        suppressed: Arc::new(RwLock::new(suppressed)),
        session_ttl: config.session_ttl,
        admin_token: admin_token.clone().into(),
        metrics: metrics_handle(),
        clock: config.clock.clone(),
        stream: match &config.nats {
            Some(nats) => Some(
                stream::EventStream::connect(nats.clone())
                    .await
                    .map_err(|e| StartError::Config(e.to_string()))?,
            ),
            None => None,
        },
        limits: Arc::new(limits::Limits::new(config.limits.clone(), storage)),
    };
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    if stale {
        let _ = state
            .writer
            .send(writer::Job::RescoreAll {
                reason: "activation",
                reply: None,
            })
            .await;
    }
    if let Some(every) = config.rescore_every {
        let writer = state.writer.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if writer
                    .send(writer::Job::RescoreAll {
                        reason: "decay",
                        reply: None,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    if let Some(every) = config.sla_every {
        let writer = state.writer.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if writer
                    .send(writer::Job::SlaTick { reply: None })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    webhooks::spawn(state.store.clone(), webhooks, state.clock.clone());
    facts::spawn(
        state.store.clone(),
        Arc::clone(&state.live),
        std::time::Duration::from_secs(1),
    );
    spawn_trust_refresh(state.clone());
    let app = router(state.clone());
    let settings = config.limits.clone();
    let server = tokio::spawn(async move { limits::serve(listener, app, &settings).await });
    Ok(Running {
        addr,
        admin_token,
        write_key,
        model_version: version,
        leads,
        state,
        server,
    })
}

/// The write key to print at start: the one given (stored, hashed, if new; refused if it was
/// revoked), else a new one if there is no active key at all.
async fn bootstrap_write_key(
    store: &Store,
    given: Option<&str>,
) -> Result<Option<String>, StartError> {
    let at = now();
    let keys = store.source_keys().await?;
    match given {
        Some(key) => {
            let hash = sluice_store::digest(key);
            match keys.iter().find(|(_, h)| *h == hash) {
                Some((row, _)) if !row.active(at.millis()) => Err(StartError::Config(format!(
                    "the write key given was revoked at {}: pass another, or create one with POST /api/v1/sources",
                    sluice_core::Timestamp::from_millis(
                        row.revoked_ms.or(row.expires_ms).unwrap_or_default()
                    )
                ))),
                Some(_) => Ok(Some(key.to_string())),
                None => {
                    trust::new_source_key(store, "default", Some(key), at)
                        .await
                        .map_err(|e| StartError::Config(e.to_string()))?;
                    Ok(Some(key.to_string()))
                }
            }
        }
        None if keys.iter().any(|(row, _)| row.active(at.millis())) => Ok(None),
        None => {
            let (_, key) = trust::new_source_key(store, "default", None, at)
                .await
                .map_err(|e| StartError::Config(e.to_string()))?;
            Ok(Some(key))
        }
    }
}

/// Reloads the write keys and the suppression list now and then (another replica may have
/// changed them; a rotated key's overlap ends).
fn spawn_trust_refresh(state: AppState) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TRUST_REFRESH);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Ok(keys) = trust::active_write_keys(&state.store, state.clock.now()).await {
                *state.write_keys.write().expect("write keys lock") = keys;
            }
            if let Ok(suppressed) = trust::suppressed(&state.store).await {
                *state.suppressed.write().expect("suppressions lock") = suppressed;
            }
        }
    });
}

/// How to run a stream worker (`sluice worker`).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Database URL.
    pub database_url: String,
    /// The stream.
    pub nats: stream::NatsConfig,
    /// Most leads kept in memory.
    pub cache_leads: usize,
    /// Messages fetched and committed at a time.
    pub batch: usize,
}

/// Starts a stream worker: it stores and scores the stream's messages through the writer, as
/// the service does, acknowledging each after its commit. Any number run side by side, with
/// any number of services, on one database. The task ends only if the stream or the writer
/// fails.
pub async fn start_worker(
    config: WorkerConfig,
) -> Result<tokio::task::JoinHandle<Result<(), stream::StreamError>>, StartError> {
    let store = Store::connect(&config.database_url).await?;
    let (model, version) = choose_model(&store, None).await?;
    let model = Arc::new(model);
    live::backfill(&store, Arc::clone(&model), version.clone()).await?;
    let mut live = Live::new(model, version);
    live.set_capacity(config.cache_leads);
    live.set_synced(store.last_state_change().await?);
    let live = Arc::new(RwLock::new(live));
    let events = stream::EventStream::connect(config.nats.clone())
        .await
        .map_err(|e| StartError::Config(e.to_string()))?;
    let writer = writer::spawn(store, live, state::Clock::system());
    let batch = config.batch.max(1);
    Ok(tokio::spawn(
        async move { events.work(writer, batch).await },
    ))
}

/// The model to score with: the given file (stored and activated), else the active stored
/// model, else the built-in example.
pub async fn choose_model(
    store: &Store,
    given: Option<&(String, String)>,
) -> Result<(Model, String), StartError> {
    let (source, name) = match (given, store.active_model().await?) {
        (Some((source, name)), _) => (source.clone(), name.clone()),
        (None, Some(active)) => (active.source, format!("stored model {}", active.version)),
        (None, None) => (DEFAULT_MODEL.to_string(), "examples/model.toml".to_string()),
    };
    let model = Model::from_toml(&source, &name).map_err(|e| StartError::Model(e.to_string()))?;
    let version = model.version().to_string();
    match store.model(&version).await? {
        Some(stored) if stored.source != source => {
            return Err(StartError::Model(format!(
                "{name}: model version {version} is already stored with different content: give the new model a new [model] version"
            )));
        }
        Some(stored) if stored.active => {}
        _ => {
            let row = ModelRow {
                version: version.clone(),
                name: model.name().to_string(),
                source,
                created_ms: now().millis(),
                active: true,
            };
            store.save_model(&row).await?;
            // Put in force by whoever ran `sluice serve` or `sluice import`, from a file or the
            // built-in model.
            store
                .sign_model(
                    &version,
                    "sluice",
                    Some(&format!(
                        "put in force from {name} by the command that stored it"
                    )),
                )
                .await?;
        }
    }
    Ok((model, version))
}

/// Every route: ingestion, the management API, health, metrics, the dashboard.
pub fn router(state: AppState) -> Router {
    // The encodings are checked before the decompression layer, which answers any other
    // with an empty `415`.
    let ingestion = ingest::routes()
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(ingest::encodings));
    Router::new()
        .merge(ingestion)
        .merge(api::routes(state.clone()))
        .merge(dashboard::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { state.metrics.render() }),
        )
        .fallback(no_such_path)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::guard,
        ))
        // Outside the guard, so that a browser can read its refusals too (a `429`'s wait).
        .layer(axum::middleware::from_fn(ingest::cors))
        .with_state(state)
}

/// A path the service does not have, answered at its door: Segment's error under `/v1/`, the
/// API's under `/api/`, else the dashboard's page with links to its pages.
async fn no_such_path(uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if path.starts_with("/v1/") {
        ingest::no_such_path(path).into_response()
    } else if path == "/api" || path.starts_with("/api/") {
        api::no_such_path(uri).await.into_response()
    } else {
        dashboard::not_found(path)
    }
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    // With `--nats`, ingestion needs the stream as much as the database.
    if state.stream.as_ref().is_some_and(|s| !s.is_connected()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the event stream is unavailable",
        );
    }
    // The health check's last word, so a probe with a 1 s timeout hears "not ready" at once
    // while the database does not answer, rather than its own timeout.
    if state.limits.storage.is_up() && !state.writer.is_closed() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable")
    }
}
