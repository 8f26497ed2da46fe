//! `sluice`: the lead-qualification engine's one binary.

/// The allocator: Sluice's ingestion allocates many small JSON values, where mimalloc is
/// markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod input;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Sluice: one shared definition of a qualified lead, scored in real time and explained.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check and compare model files.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Score leads offline from a leads file and an events file, at a given time.
    Score(commands::score::ScoreArgs),
    /// Write a deterministic synthetic company (accounts, leads, events, outcomes).
    Generate(commands::generate::GenerateArgs),
    /// Import leads, events or outcomes from CSV / JSON Lines files into the database.
    Import(commands::import::ImportArgs),
    /// Run the HTTP service: Segment-compatible ingestion, the API and the dashboard.
    Serve(commands::serve::ServeArgs),
    /// Store and score what `sluice serve --nats` streams to NATS JetStream.
    Worker(commands::worker::WorkerArgs),
    /// Manage sales teams (working hours, time zone, holidays, manager).
    #[command(subcommand)]
    Team(commands::handoff::TeamCommand),
    /// Manage sales reps (team, capacity, availability).
    #[command(subcommand)]
    Rep(commands::handoff::RepCommand),
    /// Manage people and their roles (admin, marketing, sales_manager, rep, analyst):
    /// personal API tokens, passwords and one-time sign-in links.
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// The audit log: who changed models, stages, people, tokens, keys and settings, and
    /// who erased whom.
    Audit(commands::user::AuditArgs),
    /// Reports over the stored history: `sla`, `funnel`, `attribution`.
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Learn which leads convert from past leads: validated models, a leakage check and a
    /// suggested points model.
    Learn(commands::learn::LearnArgs),
    /// Replay history through a model, or two side by side: MQLs a week, recall, precision and
    /// revenue captured, and the MQL threshold that fits sales capacity.
    Backtest(commands::backtest::BacktestArgs),
}

/// How a command prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// For people.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line (where results are per lead).
    Jsonl,
}

/// A user error: printed as one line, exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {message} (please report this)");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Model(command) => commands::model::run(command),
        Command::Score(args) => commands::score::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Worker(args) => commands::worker::run(args),
        Command::Team(command) => commands::handoff::team(command),
        Command::Rep(command) => commands::handoff::rep(command),
        Command::Report(command) => commands::report::run(command),
        Command::User(command) => commands::user::run(command),
        Command::Audit(args) => commands::user::audit_log(args),
        Command::Learn(args) => commands::learn::run(args),
        Command::Backtest(args) => commands::backtest::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`sluice score ... | head`) is not an error: the reader has
            // what it wanted.
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let _ = std::io::stdout().flush();
            let message = format!("{e:#}");
            let mut lines = message.lines();
            eprintln!("error: {}", lines.next().unwrap_or_default());
            for line in lines {
                eprintln!("{line}");
            }
            ExitCode::from(1)
        }
    }
}

/// Whether an error comes from writing to a pipe whose reader has gone. `serde_json::Error`
/// hides the `io::Error` it wraps from `source()`, so it is asked for the kind directly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|json| json.io_error_kind() == Some(BrokenPipe))
    })
}

/// Whether to draw progress bars (only for people watching a terminal).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}
