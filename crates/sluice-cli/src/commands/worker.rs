//! `sluice worker`: stores and scores the messages `sluice serve --nats` streams.

use clap::Args;
use sluice_server::WorkerConfig;
use sluice_server::stream::NatsConfig;

use crate::UserError;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Database: postgres://USER@HOST/DB (shared with the services), or sqlite://PATH.
    #[arg(
        long,
        env = "SLUICE_DATABASE_URL",
        default_value = "sqlite://sluice.db"
    )]
    db: String,
    /// The NATS JetStream server the services stream to.
    #[arg(long, env = "SLUICE_NATS_URL")]
    nats: String,
    /// The JetStream stream's name (as given to `sluice serve --nats-stream`).
    #[arg(long, default_value = "SLUICE_EVENTS")]
    nats_stream: String,
    /// How long a fetched message may wait for its commit before JetStream delivers it again
    /// (to this worker or another), e.g. "30s".
    #[arg(long, default_value = "30s")]
    ack_wait: String,
    /// Messages fetched and committed at a time.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Most leads whose scoring state is kept in memory.
    #[arg(long, default_value_t = sluice_server::live::DEFAULT_CAPACITY)]
    cache_leads: usize,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    super::serve::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ack_wait = sluice_core::Span::parse(&args.ack_wait)
        .map_err(|e| UserError(format!("--ack-wait: {e}")))?;
    runtime.block_on(async {
        let config = WorkerConfig {
            database_url: args.db.clone(),
            nats: NatsConfig {
                stream: args.nats_stream.clone(),
                ack_wait: std::time::Duration::from_millis(ack_wait.millis().max(1) as u64),
                ..NatsConfig::new(&args.nats)
            },
            cache_leads: args.cache_leads,
            batch: args.batch,
        };
        let task = sluice_server::start_worker(config)
            .await
            .map_err(|e| UserError(e.to_string()))?;
        eprintln!(
            "Sluice worker: stream at {} into {} (stop with Ctrl-C)",
            args.nats, args.db
        );
        tokio::select! {
            ended = task => match ended {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(UserError(e.to_string()).into()),
                Err(e) => Err(anyhow::anyhow!("the worker stopped: {e}")),
            },
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
