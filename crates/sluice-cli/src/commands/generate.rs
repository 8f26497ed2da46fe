//! `sluice generate`: a deterministic synthetic company.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_core::Timestamp;

use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many leads.
    #[arg(long, default_value_t = 1000)]
    leads: u64,
    /// Random seed: the same seed gives the same files, byte for byte.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory to write accounts.csv, leads.csv, events.jsonl, outcomes.csv, teams.csv, reps.csv
    /// and truth.json to (`sluice import company DIR` lives it).
    #[arg(long)]
    out: PathBuf,
    /// End of the generated period (exclusive), RFC 3339 or a date; `now` (the default) ends it
    /// at the current time, so the company is alive today. Give a date for files that are the
    /// same byte for byte on every run.
    #[arg(long, default_value = "now")]
    end: String,
    /// Length of the generated period, in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if args.leads == 0 {
        return Err(UserError("--leads must be at least 1".into()).into());
    }
    if args.days == 0 {
        return Err(UserError("--days must be at least 1".into()).into());
    }
    let end = match args.end.trim() {
        "now" => sluice_server::state::now(),
        text => Timestamp::parse(text).map_err(|e| UserError(format!("--end: {e}")))?,
    };
    let config = sluice_synth::Config {
        leads: args.leads,
        seed: args.seed,
        end: end.to_datetime(),
        days: args.days,
    };
    let bar = if crate::interactive() {
        let bar = ProgressBar::new(args.leads);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} leads ({per_sec}, {eta} left)")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = sluice_synth::generate_to_dir_with_progress(&config, &args.out, &mut |done| {
        bar.set_position(done)
    })
    .with_context(|| {
        format!(
            "cannot write the synthetic company to {}",
            args.out.display()
        )
    })?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if args.format == Format::Table {
        writeln!(
            out,
            "wrote {} accounts, {} leads, {} events, {} opportunities ({} won, {} lost) to {}",
            summary.accounts,
            summary.leads,
            summary.events,
            summary.opportunities,
            summary.won,
            summary.lost,
            args.out.display()
        )?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}
