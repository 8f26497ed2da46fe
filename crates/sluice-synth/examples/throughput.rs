//! Measures how fast `generate` writes, into sinks so that only generation is timed.
//!
//! `cargo run -p sluice-synth --release --example throughput [LEADS]` (default 20000).

use std::io::sink;
use std::time::Instant;

use sluice_synth::{Config, Outputs, generate};

fn main() -> std::io::Result<()> {
    let leads = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("LEADS {arg:?}: {e}"),
            )
        })?,
        None => 20_000,
    };
    let config = Config {
        leads,
        ..Config::default()
    };
    let (mut a, mut l, mut e, mut o, mut t) = (sink(), sink(), sink(), sink(), sink());
    let mut out = Outputs {
        accounts: &mut a,
        leads: &mut l,
        events: &mut e,
        outcomes: &mut o,
        truth: &mut t,
    };
    let started = Instant::now();
    let summary = generate(&config, &mut out, &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{summary:?}");
    println!(
        "{} events in {seconds:.3} s: {:.0} events/s, {:.0} leads/s",
        summary.events,
        summary.events as f64 / seconds,
        summary.leads as f64 / seconds
    );
    Ok(())
}
