//! Deterministic synthetic B2B company: accounts, leads, Segment events and sales outcomes,
//! with a known signal planted in them.
//!
//! It feeds Sluice's demo, tests and benchmarks, and gives the learning and backtest code a
//! data set whose right answer is written down in `truth.json`.
//!
//! # Guarantees
//! - **Deterministic**: the same [`Config`] (leads, seed, end, days) gives the same bytes in
//!   every file, on every platform, with the same version of this crate. The clock is never
//!   read. Each lead and each account draws from its own ChaCha8 stream of the seed.
//! - **Streaming**: files are written lead by lead; memory does not grow with the number of
//!   leads or events (accounts are regenerated from their stream when a lead needs one).
//!
//! # Files
//! [`generate_to_dir`] writes:
//! - `accounts.csv`: `id,name,domain,industry,employees,annual_revenue,country`, ids
//!   `acct-000001`, …, about one account per eight leads.
//! - `leads.csv`: `id,email,first_name,last_name,title,seniority,department,company,account_id,country,lead_source,created_at`,
//!   ids `lead-0000001`, …; `created_at` is the time of the lead's `identify` call. Leads
//!   with a personal address (`@gmail.com`, …) may have an empty `company` and `account_id`.
//!   Lead ids follow generation order, not `created_at`.
//! - `events.jsonl`: Segment messages (`identify`, `group`, `track`, `page`), one per line,
//!   **grouped by lead in lead-id order and in time order within a lead** (not globally
//!   sorted by time; Sluice's scoring does not depend on order). A lead's anonymous page views
//!   (only `anonymousId`) come before its `identify` (`userId` and `anonymousId`), then its
//!   `group` (if it has an account, same timestamp), then everything else with both ids.
//!   `messageId` is `m-<lead number>-<n>`, unique. Every timestamp lies in `[end - days, end)`.
//! - `outcomes.csv`: `lead_id,email,account_id,type,amount,date,reason`, `type` one of
//!   `opportunity`, `won`, `lost`; grouped by lead; `date` is an RFC 3339 timestamp. An
//!   opportunity is dated after every behaviour the outcome model used; `won`/`lost` follow
//!   10 to 120 days later when that is before `end`, else the opportunity stays open.
//! - `teams.csv`, `reps.csv`: the sales organisation that works the leads (see `team.rs`): two
//!   teams and, for up to 1,000 leads, three sales development reps and one account executive.
//! - `truth.json`: the planted model (see `truth.rs`): base log-odds, one entry per feature
//!   with its role (`driver`, `noise`, `trap`), log-odds and note, and the realised counts.
//!
//! All timestamps are UTC with millisecond precision, e.g. `2026-03-04T10:11:12.345Z`.

mod account;
mod behaviour;
mod emit;
mod lead;
mod outcome;
mod sample;
mod team;
mod truth;
mod vocab;
mod world;
mod write;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::account::{Account, account_count};
use crate::behaviour::Timeline;
use crate::emit::Emitter;
use crate::lead::Lead;
pub(crate) use crate::world::{Naming, Streams, Window};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of leads.
    pub leads: u64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Exclusive end of the generated period; nothing happens at or after it.
    pub end: DateTime<Utc>,
    /// Length of the generated period in days (at least 1).
    pub days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            leads: 1000,
            seed: 42,
            // A fixed instant: a default must not depend on when it is called.
            end: Utc
                .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            days: 365,
        }
    }
}

/// Counts of what was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rows in `accounts.csv`.
    pub accounts: u64,
    /// Rows in `leads.csv`.
    pub leads: u64,
    /// Lines in `events.jsonl`.
    pub events: u64,
    /// `opportunity` rows in `outcomes.csv`.
    pub opportunities: u64,
    /// `won` rows in `outcomes.csv`.
    pub won: u64,
    /// `lost` rows in `outcomes.csv`.
    pub lost: u64,
}

/// Why [`generate_to_dir`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot be generated (e.g. `days` is 0).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The output directory could not be created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An output file could not be created or written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// The five output streams of [`generate`].
pub struct Outputs<'a> {
    /// `accounts.csv`.
    pub accounts: &'a mut dyn Write,
    /// `leads.csv`.
    pub leads: &'a mut dyn Write,
    /// `events.jsonl`.
    pub events: &'a mut dyn Write,
    /// `outcomes.csv`.
    pub outcomes: &'a mut dyn Write,
    /// `truth.json`.
    pub truth: &'a mut dyn Write,
}

/// File names written by [`generate_to_dir`], in the order of [`Outputs`]' fields.
pub const FILE_NAMES: [&str; 5] = [
    "accounts.csv",
    "leads.csv",
    "events.jsonl",
    "outcomes.csv",
    "truth.json",
];

/// How often (in leads) [`generate`] reports progress.
pub const PROGRESS_EVERY: u64 = 1000;

/// Bytes buffered per output before handing them to the writer.
const CHUNK: usize = 256 * 1024;

/// Creates `dir` if needed and writes the five files into it, and the sales team's two
/// ([`SALES_TEAM_FILES`]).
pub fn generate_to_dir(config: &Config, dir: &Path) -> Result<Summary, Error> {
    generate_to_dir_with_progress(config, dir, &mut |_| {})
}

/// [`generate_to_dir`], calling `progress` with the number of leads done every
/// [`PROGRESS_EVERY`] leads and at the end, as [`generate`] does.
pub fn generate_to_dir_with_progress(
    config: &Config,
    dir: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, Error> {
    if Window::new(config.end, config.days).is_none() {
        return Err(Error::Config(config_problem(config)));
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let paths = FILE_NAMES.map(|name| dir.join(name));
    let mut files = Vec::with_capacity(paths.len());
    for (which, path) in paths.iter().enumerate() {
        let file = File::create(path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        files.push(Tagged {
            which,
            inner: BufWriter::with_capacity(CHUNK, file),
        });
    }
    let write_error = |e: io::Error| file_error(e, &paths, dir);

    let [accounts, leads, events, outcomes, truth] = &mut files[..] else {
        unreachable!("five files were just created")
    };
    let mut out = Outputs {
        accounts,
        leads,
        events,
        outcomes,
        truth,
    };
    let summary = generate(config, &mut out, progress).map_err(write_error)?;
    for file in &mut files {
        file.flush().map_err(write_error)?;
    }
    write_sales_team(config.leads, dir)?;
    Ok(summary)
}

/// Writes [`SALES_TEAM_FILES`] into `dir`.
fn write_sales_team(leads: u64, dir: &Path) -> Result<(), Error> {
    let [teams, reps] = SALES_TEAM_FILES.map(|name| dir.join(name));
    let write = |path: &Path, f: &dyn Fn(&mut dyn Write) -> io::Result<()>| {
        let error = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut out = BufWriter::new(File::create(path).map_err(error)?);
        f(&mut out).and_then(|()| out.flush()).map_err(error)
    };
    write(&teams, &|out| team::write_teams(out))?;
    write(&reps, &|out| team::write_reps(leads, out))
}

/// The sales organisation [`generate_to_dir`] writes beside the company (see `team.rs`):
/// `teams.csv` (`id,name,time_zone,working_hours,manager`) and `reps.csv`
/// (`id,name,email,team_id,capacity`).
pub const SALES_TEAM_FILES: [&str; 2] = ["teams.csv", "reps.csv"];

/// A writer whose errors say which output they came from.
struct Tagged<W> {
    which: usize,
    inner: W,
}

#[derive(Debug)]
struct FileError {
    which: usize,
    source: io::Error,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.source, FILE_NAMES[self.which])
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl<W: Write> Tagged<W> {
    fn tag(&self, source: io::Error) -> io::Error {
        io::Error::new(
            source.kind(),
            FileError {
                which: self.which,
                source,
            },
        )
    }
}

impl<W: Write> Write for Tagged<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.tag(e))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).map_err(|e| self.tag(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.tag(e))
    }
}

/// Names the file a [`Tagged`] error came from. Every writer is tagged, so an untagged error
/// cannot happen; it would be attributed to the directory rather than dropped.
fn file_error(e: io::Error, paths: &[PathBuf], dir: &Path) -> Error {
    if !e.get_ref().is_some_and(|inner| inner.is::<FileError>()) {
        return Error::Write {
            path: dir.to_path_buf(),
            source: e,
        };
    }
    match e.into_inner().map(|inner| inner.downcast::<FileError>()) {
        Some(Ok(tagged)) => Error::Write {
            path: paths[tagged.which].clone(),
            source: tagged.source,
        },
        // Checked just above; kept total rather than panicking.
        _ => Error::Write {
            path: dir.to_path_buf(),
            source: io::Error::other("write failed"),
        },
    }
}

fn config_problem(config: &Config) -> String {
    if config.days == 0 {
        "days must be at least 1".to_owned()
    } else {
        format!(
            "the period of {} days ending {} is outside years 0 to 9999",
            config.days, config.end
        )
    }
}

/// One output's pending bytes.
struct Pending<'w, 'a> {
    buf: Vec<u8>,
    out: &'w mut &'a mut dyn Write,
}

impl Pending<'_, '_> {
    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Generates the data set into `out`, calling `progress` with the number of leads done every
/// [`PROGRESS_EVERY`] leads and at the end (the last call always reports every lead). Writers are not flushed: that is the caller's.
///
/// Fails with [`io::ErrorKind::InvalidInput`] when `config.days` is 0 or the period is outside
/// years 0 to 9999, and with the writer's error when a write fails.
pub fn generate(
    config: &Config,
    out: &mut Outputs<'_>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Summary> {
    let window = Window::new(config.end, config.days)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, config_problem(config)))?;
    let streams = Streams::new(config.seed);
    let naming = Naming::new(&streams);
    let mut summary = Summary {
        accounts: account_count(config.leads),
        ..Summary::default()
    };

    let mut accounts = Pending {
        buf: Vec::with_capacity(CHUNK + 4096),
        out: &mut out.accounts,
    };
    accounts.buf.extend_from_slice(emit::ACCOUNTS_HEADER);
    for index in 0..summary.accounts {
        emit::account_row(
            &mut accounts.buf,
            &Account::generate(&streams, &naming, index),
        );
        accounts.maybe_flush()?;
    }
    accounts.flush()?;

    let mut leads = Pending {
        buf: Vec::with_capacity(CHUNK + 4096),
        out: &mut out.leads,
    };
    let mut events = Pending {
        buf: Vec::with_capacity(CHUNK + 64 * 1024),
        out: &mut out.events,
    };
    let mut outcomes = Pending {
        buf: Vec::with_capacity(CHUNK + 4096),
        out: &mut out.outcomes,
    };
    leads.buf.extend_from_slice(emit::LEADS_HEADER);
    outcomes.buf.extend_from_slice(emit::OUTCOMES_HEADER);

    let mut timeline = Timeline::default();
    let mut emitter = Emitter::default();
    let mut tally = truth::Tally::new();
    for index in 0..config.leads {
        // Order of draws within the lead's stream: who, intent, behaviour, outcome.
        let mut rng = streams.lead(index);
        let lead = Lead::generate(&mut rng, &streams, &naming, index, config.leads, &window);
        let intent = sample::sigmoid(
            truth::INTENT_BASE
                + truth::INTENT_FIT * truth::fit(&lead)
                + truth::INTENT_NOISE * sample::normal(&mut rng),
        );
        timeline.generate(&mut rng, &lead, intent, &window);
        let evaluation = truth::evaluate(&lead, &timeline.events);
        let opportunity = outcome::draw(&mut rng, &lead, &evaluation, &window);

        emit::lead_row(&mut leads.buf, &lead);
        summary.events += emitter.lead_events(&mut events.buf, &lead, &timeline.events);
        let (mut won, mut lost) = (false, false);
        if let Some(opportunity) = &opportunity {
            emit::outcome_rows(&mut outcomes.buf, &lead, opportunity);
            summary.opportunities += 1;
            won = matches!(opportunity.close, Some(outcome::Close::Won { .. }));
            lost = matches!(opportunity.close, Some(outcome::Close::Lost { .. }));
            summary.won += u64::from(won);
            summary.lost += u64::from(lost);
        }
        tally.add(evaluation.present, opportunity.is_some(), won, lost);
        summary.leads += 1;

        leads.maybe_flush()?;
        events.maybe_flush()?;
        outcomes.maybe_flush()?;
        if summary.leads.is_multiple_of(PROGRESS_EVERY) {
            progress(summary.leads);
        }
    }
    leads.flush()?;
    events.flush()?;
    outcomes.flush()?;
    truth::write(out.truth, config, &tally)?;
    if !summary.leads.is_multiple_of(PROGRESS_EVERY) || summary.leads == 0 {
        progress(summary.leads);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts `room` bytes, then fails.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_names_its_file() {
        let dir = Path::new("/data/out");
        let paths = FILE_NAMES.map(|name| dir.join(name));
        let mut events = Tagged {
            which: 2,
            inner: Full { room: 10 },
        };
        let e = events
            .write_all(&[b'x'; 100])
            .expect_err("the writer is full");
        match file_error(e, &paths, dir) {
            Error::Write { path, source } => {
                assert_eq!(path, dir.join("events.jsonl"));
                assert_eq!(source.kind(), io::ErrorKind::StorageFull);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn generate_returns_write_errors() {
        let config = Config {
            leads: 50,
            ..Config::default()
        };
        let (mut a, mut l, mut o, mut t) = (io::sink(), io::sink(), io::sink(), io::sink());
        let mut e = Full { room: 5000 };
        let mut out = Outputs {
            accounts: &mut a,
            leads: &mut l,
            events: &mut e,
            outcomes: &mut o,
            truth: &mut t,
        };
        let err = generate(&config, &mut out, &mut |_| {}).expect_err("events cannot be written");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
