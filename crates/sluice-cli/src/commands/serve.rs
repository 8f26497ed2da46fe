//! `sluice serve`: the HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sluice_server::Config;
use sluice_server::limits::{Rate, Settings};

use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "SLUICE_DATABASE_URL",
        default_value = "sqlite://sluice.db"
    )]
    db: String,
    /// Address to listen on.
    #[arg(long, env = "SLUICE_BIND", default_value = "127.0.0.1:7878")]
    bind: SocketAddr,
    /// Model file to store and put in force (default: the stored active model, else the
    /// built-in example model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Seed a synthetic company (1,000 leads and a year of their events, ending now) into an
    /// empty database, so there is something to look at.
    #[arg(long)]
    demo: bool,
    /// Bearer token for the management API (default: a new random token, printed at start).
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A write key to accept (default: the first stored key, or a new one, printed at start).
    #[arg(long, env = "SLUICE_WRITE_KEY", hide_env_values = true)]
    write_key: Option<String>,
    /// Rescore every lead this often, so stored scores show decay (e.g. "1h", "30m"; "never").
    #[arg(long, default_value = "1h")]
    rescore_every: String,
    /// Run the SLA scheduler this often: warnings, breaches, reassignment (e.g. "30s"; "never").
    #[arg(long, default_value = "30s")]
    sla_every: String,
    /// Most leads whose scoring state is kept in memory; the rest is read from the database
    /// when their events arrive.
    #[arg(long, default_value_t = sluice_server::live::DEFAULT_CAPACITY)]
    cache_leads: usize,
    /// Ingest through this NATS JetStream server (e.g. nats://127.0.0.1:4222): requests are
    /// answered once their messages are in the stream, and `sluice worker` stores and scores
    /// them.
    #[arg(long, env = "SLUICE_NATS_URL")]
    nats: Option<String>,
    /// How long a dashboard session lasts (e.g. "12h", "30m").
    #[arg(long, default_value = "12h")]
    session_ttl: String,
    /// The JetStream stream's name (its subjects are the name, lower-cased, and a partition).
    #[arg(long, default_value = "SLUICE_EVENTS")]
    nats_stream: String,
    /// How to print where the service is once it is ready (`json`: one line on standard
    /// output with its address, admin token and write key, for scripts).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Rate limits, timeouts and bounds (see docs/security.md).
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Ingestion requests per second per write key (a /v1/batch counts one; 0: no limit).
    #[arg(long, env = "SLUICE_WRITE_KEY_RATE", default_value_t = 5000.0)]
    write_key_rate: f64,
    /// Ingestion requests a write key may send at once above its rate.
    #[arg(long, env = "SLUICE_WRITE_KEY_BURST", default_value_t = 10_000)]
    write_key_burst: u32,
    /// Management API requests per second per bearer token (0: no limit).
    #[arg(long, env = "SLUICE_TOKEN_RATE", default_value_t = 100.0)]
    token_rate: f64,
    /// API requests a token may send at once above its rate.
    #[arg(long, env = "SLUICE_TOKEN_BURST", default_value_t = 200)]
    token_burst: u32,
    /// Failed sign-ins, bearer tokens and write keys from one client address per
    /// --auth-window; past them the address is answered 429 until the window lets it try
    /// again (0: no limit).
    #[arg(long, env = "SLUICE_AUTH_FAILURES", default_value_t = 10)]
    auth_failures: u32,
    /// The window of --auth-failures (e.g. "1m", "15m").
    #[arg(long, env = "SLUICE_AUTH_WINDOW", default_value = "1m")]
    auth_window: String,
    /// Take the client address from X-Forwarded-For (the address the nearest proxy saw):
    /// only behind a reverse proxy that sets it.
    #[arg(long, env = "SLUICE_TRUST_PROXY")]
    trust_proxy: bool,
    /// Most time to receive a request's headers; a keep-alive connection idle this long is
    /// closed.
    #[arg(long, env = "SLUICE_HEADER_TIMEOUT", default_value = "30s")]
    header_timeout: String,
    /// Most time to receive a request's body (408 past it).
    #[arg(long, env = "SLUICE_BODY_TIMEOUT", default_value = "30s")]
    body_timeout: String,
    /// Most time to answer a request (503 past it; a model activation is not bound).
    #[arg(long, env = "SLUICE_REQUEST_TIMEOUT", default_value = "60s")]
    request_timeout: String,
    /// Most time the database may take to answer the health check (every half second); past
    /// it /readyz and ingestion answer 503 until it answers again (SDKs retry).
    #[arg(long, env = "SLUICE_STORAGE_TIMEOUT", default_value = "1s")]
    storage_timeout: String,
    /// Most requests served at once (503 past it; health, readiness and metrics aside).
    #[arg(long, env = "SLUICE_MAX_REQUESTS", default_value_t = 1024)]
    max_requests: usize,
    /// Most connections open at once (further ones wait to be accepted).
    #[arg(long, env = "SLUICE_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// How far past the receive time an event's time may be; later, or before 2000, it
    /// becomes the receive time.
    #[arg(long, env = "SLUICE_FUTURE_SKEW", default_value = "1d")]
    future_skew: String,
}

impl LimitArgs {
    /// The service's limit settings, or a user error naming the flag.
    pub fn settings(&self) -> Result<Settings, UserError> {
        let span = |flag: &str, text: &str| {
            sluice_core::Span::parse(text).map_err(|e| UserError(format!("{flag}: {e}")))
        };
        let duration = |flag: &str, text: &str| {
            span(flag, text).map(|s| std::time::Duration::from_millis(s.millis() as u64))
        };
        let rate = |flag: &str, per_second: f64, burst: u32| {
            if per_second.is_finite() && per_second >= 0.0 {
                Ok(Rate {
                    per_second,
                    burst: burst.max(1),
                })
            } else {
                Err(UserError(format!(
                    "{flag}: expected a number of requests per second, 0 or more"
                )))
            }
        };
        let count = |flag: &str, n: usize| {
            if n == 0 {
                Err(UserError(format!("{flag}: must be at least 1")))
            } else {
                Ok(n)
            }
        };
        Ok(Settings {
            write_key_rate: rate(
                "--write-key-rate",
                self.write_key_rate,
                self.write_key_burst,
            )?,
            token_rate: rate("--token-rate", self.token_rate, self.token_burst)?,
            auth_failures: Rate::per(
                self.auth_failures,
                duration("--auth-window", &self.auth_window)?,
            ),
            trust_proxy: self.trust_proxy,
            header_timeout: duration("--header-timeout", &self.header_timeout)?,
            body_timeout: duration("--body-timeout", &self.body_timeout)?,
            request_timeout: duration("--request-timeout", &self.request_timeout)?,
            storage_timeout: duration("--storage-timeout", &self.storage_timeout)?,
            max_requests: count("--max-requests", self.max_requests)?,
            max_connections: count("--max-connections", self.max_connections)?,
            future_skew: span("--future-skew", &self.future_skew)?,
        })
    }
}

/// Logs to standard error, filtered by `SLUICE_LOG` (default `info`).
pub(crate) fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let model = match &args.model {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read model file {}", path.display()))?;
            Some((text, path.display().to_string()))
        }
        None => None,
    };
    if args.demo {
        super::company::seed_demo(
            &args.db,
            model
                .as_ref()
                .map(|(text, name)| (text.as_str(), name.as_str())),
        )
        .await?;
    }
    let every = |flag: &str, text: &str| match text.trim() {
        "never" => Ok(None),
        text => sluice_core::Span::parse(text)
            .map(|span| Some(std::time::Duration::from_millis(span.millis() as u64)))
            .map_err(|e| UserError(format!("{flag}: {e}"))),
    };
    let config = Config {
        rescore_every: every("--rescore-every", &args.rescore_every)?,
        sla_every: every("--sla-every", &args.sla_every)?,
        clock: Default::default(),
        limits: args.limits.settings()?,
        cache_leads: args.cache_leads,
        session_ttl: every("--session-ttl", &args.session_ttl)?
            .ok_or_else(|| UserError("--session-ttl: sessions must end: give a duration".into()))?,
        nats: args
            .nats
            .as_deref()
            .map(|url| sluice_server::stream::NatsConfig {
                stream: args.nats_stream.clone(),
                ..sluice_server::stream::NatsConfig::new(url)
            }),
        database_url: args.db.clone(),
        bind: args.bind,
        model,
        admin_token: args.admin_token,
        write_key: args.write_key,
    };
    let running = sluice_server::start(config)
        .await
        .map_err(|e| UserError(e.to_string()))?;
    let url = format!("http://{}", running.addr);
    if args.format != Format::Table {
        let ready = serde_json::json!({
            "url": url,
            "database": args.db,
            "model_version": running.model_version,
            "leads": running.leads,
            "admin_token": running.admin_token,
            "write_key": running.write_key,
            "api_docs": format!("{url}/docs"),
            "nats": args.nats,
        });
        println!("{ready}");
    } else {
        eprintln!(
            "Sluice is running at {url}/ (database {}, model version {}, {} leads)",
            args.db, running.model_version, running.leads
        );
        eprintln!("  admin token (bootstrap):  {}", running.admin_token);
        match &running.write_key {
            Some(key) => eprintln!("  write key (Segment SDKs): {key}"),
            None => eprintln!(
                "  write keys:               stored hashed, shown when made (new one: POST /api/v1/sources)"
            ),
        }
        eprintln!("  API documentation:        {url}/docs");
        if let Some(nats) = &args.nats {
            eprintln!(
                "  ingestion streams to:     {nats} (run `sluice worker` to store and score)"
            );
        }
        eprintln!(
            "  try: curl -u {}: {url}/v1/track -d '{{\"userId\":\"ada@example.com\",\"event\":\"Demo Requested\"}}'",
            running.write_key.as_deref().unwrap_or("WRITE_KEY")
        );
    }
    tokio::select! {
        result = running.server => {
            result.context("the server stopped")?.context("the server failed")?;
        }
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn the_flags_defaults_are_the_services() {
        let cli = Cli::try_parse_from(["sluice"]).unwrap();
        let settings = cli.limits.settings().unwrap();
        let defaults = Settings::default();
        assert_eq!(format!("{settings:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn a_bad_limit_names_its_flag() {
        let cli = Cli::try_parse_from(["sluice", "--body-timeout", "soon"]).unwrap();
        let error = cli.limits.settings().unwrap_err();
        assert!(error.0.starts_with("--body-timeout: "), "{}", error.0);
    }
}
