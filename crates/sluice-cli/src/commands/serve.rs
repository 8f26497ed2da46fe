//! `sluice serve`: the HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sluice_server::Config;

use crate::UserError;

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
        super::import::seed_demo(
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
        eprintln!("  ingestion streams to:     {nats} (run `sluice worker` to store and score)");
    }
    eprintln!(
        "  try: curl -u {}: {url}/v1/track -d '{{\"userId\":\"ada@example.com\",\"event\":\"Demo Requested\"}}'",
        running.write_key.as_deref().unwrap_or("WRITE_KEY")
    );
    tokio::select! {
        result = running.server => {
            result.context("the server stopped")?.context("the server failed")?;
        }
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    Ok(())
}
