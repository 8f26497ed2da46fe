//! `sluice import`: leads, events and outcomes from files into the database, through the same
//! checks, storage and scoring as HTTP ingestion. Files are read as a stream and stored in
//! batches, so they may be larger than memory; a bad row is reported with its file and line and
//! the rest is imported; importing a file again stores nothing twice.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sluice_core::event::DEFAULT_FUTURE_SKEW;
use sluice_core::outcome::Shape;
use sluice_core::{Attributes, Timestamp};
use sluice_server::ingest::{Times, prepare};
use sluice_server::live::Live;
use sluice_server::state::now;
use sluice_server::writer::{Accepted, store_batch, store_outcomes};
use sluice_store::{OutcomeRow, Store};
use tokio::runtime::Handle;

use crate::input::{self, Rejected, Rejections, Row};
use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds.
    #[arg(value_enum)]
    kind: Kind,
    /// The file: CSV or JSON Lines (events: JSON Lines of Segment messages); for `company`, a
    /// directory.
    file: PathBuf,
    /// Database: sqlite://PATH or postgres://USER@HOST/DB. Stop `sluice serve` on it first.
    #[arg(
        long,
        env = "SLUICE_DATABASE_URL",
        default_value = "sqlite://sluice.db"
    )]
    db: String,
    /// Send the rows to a running `sluice serve` at this address (e.g. http://127.0.0.1:7878)
    /// instead of writing the database: the same path as HTTP ingestion, safe while it serves.
    #[arg(long, conflicts_with = "db")]
    url: Option<String>,
    /// With --url: the write key (leads, events).
    #[arg(long, env = "SLUICE_WRITE_KEY", hide_env_values = true)]
    write_key: Option<String>,
    /// With --url: the admin API token (outcomes).
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Stop at the first bad row (exit code 1) instead of reporting it and importing the rest.
    #[arg(long)]
    strict: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// The source recorded with each stored event (what a write key's name is for HTTP).
    #[arg(long, default_value = "import")]
    source: String,
    /// Outcomes: how dates written `a/b/yyyy` read (`mdy`: month first, as US exports write
    /// them; `dmy`: day first). Without it, a date that could be either is refused.
    #[arg(long, value_enum)]
    dates: Option<Dates>,
    /// `company` only: who works the MQLs while the history is lived. `simulated`: a sales
    /// team with its own habits touches, accepts or rejects, and qualifies them (for a generated
    /// company); `none`: only routing and the SLA scheduler run.
    #[arg(long, value_enum, default_value_t = Sales::Simulated)]
    sales: Sales,
    /// Rename a CRM export's columns to Sluice's traits (leads only; by default, done when the
    /// header looks like a CRM export; `none` keeps every column as it is).
    #[arg(long, value_enum)]
    map: Option<Crm>,
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Leads: CSV or JSON Lines, one lead a row (`id` or `email`, and its traits).
    Leads,
    /// Events: JSON Lines, one Segment message a line.
    Events,
    /// Outcomes: CSV or JSON Lines (`lead_id` or `email`, `type`, `amount`, `date`, `reason`).
    Outcomes,
    /// Sales teams: CSV (`id`, `name`, `time_zone`, `working_hours`, `holidays`, `manager`).
    Teams,
    /// Reps: CSV (`id`, `name`, `email`, `team_id`, `capacity`), or a CRM's users export
    /// (HubSpot's, a Salesforce users report): teams named there are made when missing.
    Reps,
    /// A whole company, a directory as `sluice generate` writes it (teams.csv, reps.csv,
    /// leads.csv, events.jsonl, outcomes.csv), lived in time order into an empty database.
    Company,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Leads => "leads",
            Kind::Events => "events",
            Kind::Outcomes => "outcomes",
            Kind::Teams => "teams",
            Kind::Reps => "reps",
            Kind::Company => "company",
        }
    }
}

/// How `a/b/yyyy` dates read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dates {
    /// Month first: 3/5/2026 is 5 March.
    Mdy,
    /// Day first: 3/5/2026 is 3 May.
    Dmy,
}

impl Dates {
    fn order(dates: Option<Dates>) -> sluice_core::outcome::DateOrder {
        use sluice_core::outcome::DateOrder;
        match dates {
            Some(Dates::Mdy) => DateOrder::MonthFirst,
            Some(Dates::Dmy) => DateOrder::DayFirst,
            None => DateOrder::Unambiguous,
        }
    }
}

/// Who works a company's MQLs while its history is lived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sales {
    /// A simulated sales team (seeded, so the same files give the same history).
    Simulated,
    /// Nobody: routing and the SLA scheduler only.
    None,
}

/// The CRM whose lead export a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Crm {
    /// HubSpot contact / lead export.
    Hubspot,
    /// Salesforce lead report or export.
    Salesforce,
    /// No renaming, even when the header looks like a CRM export.
    None,
}

/// Column names of HubSpot and Salesforce lead exports (matched ignoring case) and the traits
/// they become. `docs/import.md` shows this table: keep the two in step.
const CRM_COLUMNS: &[(&str, &str)] = &[
    ("Record ID", "id"),
    ("Lead ID", "id"),
    ("Email", "email"),
    ("First Name", "first_name"),
    ("Last Name", "last_name"),
    ("Job Title", "title"),
    ("Title", "title"),
    ("Company", "company"),
    ("Company Name", "company"),
    ("Industry", "industry"),
    ("Number of Employees", "employees"),
    ("Employees", "employees"),
    ("Annual Revenue", "annual_revenue"),
    ("Lead Source", "lead_source"),
    ("Original Source", "lead_source"),
    ("Lead Status", "lead_status"),
    ("Country", "country"),
    ("Country/Region", "country"),
    ("Phone Number", "phone"),
    ("Phone", "phone"),
    ("Create Date", "created_at"),
    ("Created Date", "created_at"),
];

/// Columns whose value is a lead's creation time, the time of its `identify` message.
const CREATED_COLUMNS: &[&str] = &["created_at", "Created Date", "Create Date"];

/// Rows (messages, outcomes) stored per transaction.
const BATCH: usize = 5_000;

/// Rejected rows listed in the table summary (the JSON summary has up to 1,000).
const SHOWN_REJECTED: usize = 10;

/// How to import one file.
#[derive(Debug, Clone)]
struct Options {
    strict: bool,
    /// How outcome dates `a/b/yyyy` read.
    dates: sluice_core::outcome::DateOrder,
    source: String,
    map: Option<Crm>,
    progress: bool,
}

/// What an import did.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The file.
    file: String,
    /// `leads`, `events` or `outcomes`.
    kind: &'static str,
    /// Rows (lines) read, rejected ones included.
    read: u64,
    /// Stored for the first time.
    imported: u64,
    /// Already stored (by an earlier import, or earlier in the file).
    duplicates: u64,
    /// Not stored, because they are not valid.
    rejected: u64,
    /// Columns renamed from a CRM export's names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    renamed: Vec<Renamed>,
    /// The first rejected rows.
    rejected_rows: Vec<Rejected>,
}

/// A column renamed to a Sluice trait.
#[derive(Debug, Clone, Serialize)]
struct Renamed {
    from: String,
    to: String,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    if args.map.is_some() && args.kind != Kind::Leads {
        return Err(UserError("--map applies to leads files only".into()).into());
    }
    std::fs::metadata(&args.file)
        .map_err(|e| UserError(format!("cannot open {}: {e}", args.file.display())))?;
    if matches!(args.kind, Kind::Teams | Kind::Reps | Kind::Company) {
        return run_organisation(&args);
    }
    let options = Options {
        strict: args.strict,
        dates: Dates::order(args.dates),
        source: args.source.clone(),
        map: args.map,
        progress: crate::interactive(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async {
        let target = match &args.url {
            Some(url) => Target::remote(url, &args)?,
            None => Target::open(connect(&args.db).await?, None).await?,
        };
        target.import(args.kind, &args.file, &options).await
    })?;
    print(&summary, args.format)
}

/// `teams`, `reps` and `company`: written to the database directly.
fn run_organisation(args: &ImportArgs) -> anyhow::Result<()> {
    use super::company;
    if args.url.is_some() {
        return Err(UserError(format!(
            "--url: {} are imported into the database (--db); a running service takes teams and reps at /api/v1/teams and /api/v1/reps",
            args.kind.as_str()
        ))
        .into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = if args.kind == Kind::Company {
            company::bulk(&args.db).await?
        } else {
            connect(&args.db).await?
        };
        match args.kind {
            Kind::Teams => company::print_roster(
                &company::import_teams(&store, &args.file, args.strict).await?,
                args.format,
            ),
            Kind::Reps => company::print_roster(
                &company::import_reps(&store, &args.file, args.strict).await?,
                args.format,
            ),
            _ => {
                let team = (args.sales == Sales::Simulated).then_some(COMPANY_SEED);
                let summary =
                    company::import_company(store, &args.file, None, team, &args.source).await?;
                company::print_company(&summary, args.format)
            }
        }
    })
}

/// The seed of a simulated sales team's habits: the same files give the same history.
const COMPANY_SEED: u64 = 42;

fn print(summary: &Summary, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => {
            writeln!(
                out,
                "{}: read {}, imported {}, duplicates {}, rejected {}",
                summary.file, summary.read, summary.imported, summary.duplicates, summary.rejected
            )?;
            for row in summary.rejected_rows.iter().take(SHOWN_REJECTED) {
                writeln!(out, "  {}:{}: {}", row.file, row.line, row.error)?;
            }
            let more = summary.rejected.saturating_sub(SHOWN_REJECTED as u64);
            if more > 0 {
                writeln!(
                    out,
                    "  ... and {more} more rejected rows (--format json lists up to 1,000)"
                )?;
            }
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(summary)?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(summary)?)?,
    }
    Ok(())
}

pub(crate) async fn connect(db: &str) -> anyhow::Result<Store> {
    Store::connect(db)
        .await
        .map_err(|e| UserError(format!("cannot open the database {db}: {e}")).into())
}

/// Where an import writes: the database, through the live scoring state (as the service's
/// writer does), or a running service, over HTTP.
#[derive(Clone)]
pub(crate) enum Target {
    Local {
        store: Store,
        live: Arc<RwLock<Live>>,
        /// Erased people whose messages are dropped, as the service drops them.
        suppressed: Arc<std::collections::HashSet<String>>,
    },
    Remote(Remote),
}

/// A running `sluice serve`.
#[derive(Clone)]
pub(crate) struct Remote {
    url: String,
    write_key: Option<String>,
    admin_token: Option<String>,
    http: reqwest::Client,
}

impl Remote {
    /// Posts one request's JSON; the answer's JSON, or a user error naming what went wrong.
    async fn post(&self, path: &str, body: &Value, auth: Auth) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.url)).json(body);
        request = match auth {
            Auth::WriteKey => {
                let key = self.write_key.as_deref().ok_or_else(|| {
                    UserError("--url: give the write key (--write-key or SLUICE_WRITE_KEY)".into())
                })?;
                request.basic_auth(key, Some(""))
            }
            Auth::Admin => {
                let token = self.admin_token.as_deref().ok_or_else(|| {
                    UserError(
                        "--url: outcomes need the admin token (--admin-token or SLUICE_ADMIN_TOKEN)"
                            .into(),
                    )
                })?;
                request.bearer_auth(token)
            }
        };
        // The service answers 503 while its storage recovers: retry a few times.
        let mut wait = Duration::from_millis(200);
        for attempt in 0.. {
            let response = request
                .try_clone()
                .expect("a JSON body can be sent again")
                .send()
                .await
                .map_err(|e| UserError(format!("{}{path}: {e}", self.url)))?;
            let status = response.status();
            // Over a rate limit, the service says how long to wait.
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(body);
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt < 5 {
                tokio::time::sleep(retry_after.unwrap_or(wait).min(Duration::from_secs(60))).await;
                continue;
            }
            if status == reqwest::StatusCode::SERVICE_UNAVAILABLE && attempt < 5 {
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            let message = body["message"]
                .as_str()
                .or(body["error"]["message"].as_str())
                .unwrap_or("no message")
                .to_string();
            return Err(UserError(format!("{}{path}: {status}: {message}", self.url)).into());
        }
        unreachable!("the loop returns")
    }
}

#[derive(Clone, Copy)]
enum Auth {
    WriteKey,
    Admin,
}

impl Target {
    /// A running service at `url`.
    fn remote(url: &str, args: &ImportArgs) -> anyhow::Result<Target> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(UserError(format!("--url {url}: expected http://HOST:PORT")).into());
        }
        Ok(Target::Remote(Remote {
            url,
            write_key: args.write_key.clone(),
            admin_token: args.admin_token.clone(),
            http: reqwest::Client::new(),
        }))
    }

    /// Puts the model in force (`model`, else the active stored one, else the built-in
    /// example) and rebuilds the live state from the event log, as the service does at start.
    pub(crate) async fn open(
        store: Store,
        model: Option<&(String, String)>,
    ) -> anyhow::Result<Target> {
        let (model, version) = sluice_server::choose_model(&store, model)
            .await
            .map_err(|e| UserError(e.to_string()))?;
        let model = Arc::new(model);
        sluice_server::live::backfill(&store, Arc::clone(&model), version.clone()).await?;
        let mut live = Live::new(model, version);
        live.set_synced(store.last_state_change().await?);
        Ok(Target::Local {
            suppressed: Arc::new(sluice_server::trust::suppressed(&store).await?),
            store,
            live: Arc::new(RwLock::new(live)),
        })
    }

    /// Imports one file. Files are read synchronously, so the reading runs on a blocking
    /// thread, which waits for each batch to be stored before it reads on.
    async fn import(&self, kind: Kind, path: &Path, options: &Options) -> anyhow::Result<Summary> {
        let run = Run {
            handle: Handle::current(),
            target: self.clone(),
            path: path.to_path_buf(),
            options: options.clone(),
        };
        let summary = tokio::task::spawn_blocking(move || run.import(kind))
            .await
            .context("the import stopped")??;
        // The reports' facts of the leads just written, so the next report reads them ready
        // (a running service rebuilds its own in the background).
        if let Target::Local { store, live, .. } = self {
            let model = live.read().expect("live state lock").model().clone();
            sluice_server::facts::refresh(store, &model).await?;
        }
        Ok(summary)
    }
}

/// One file's import, on a blocking thread.
struct Run {
    handle: Handle,
    target: Target,
    path: PathBuf,
    options: Options,
}

/// Rows stored so far.
#[derive(Debug, Default)]
struct Counts {
    good: u64,
    imported: u64,
    duplicates: u64,
}

impl Run {
    fn import(&self, kind: Kind) -> anyhow::Result<Summary> {
        let mut rejections = Rejections::new(self.options.strict);
        let mut counts = Counts::default();
        let bar = self.progress_bar();
        let result = match kind {
            Kind::Leads => self.leads(&mut rejections, &mut counts, &bar),
            Kind::Events => self
                .events(&mut rejections, &mut counts, &bar)
                .map(|()| Vec::new()),
            Kind::Outcomes => self
                .outcomes(&mut rejections, &mut counts, &bar)
                .map(|()| Vec::new()),
            Kind::Teams | Kind::Reps | Kind::Company => {
                unreachable!("imported by run_organisation")
            }
        };
        bar.finish_and_clear();
        let renamed = match result {
            Ok(renamed) => renamed,
            // Under --strict, the batches before the bad row are stored: say so.
            Err(e) if e.is::<UserError>() && counts.imported + counts.duplicates > 0 => {
                return Err(UserError(format!(
                    "{e}; the {} rows before it were stored",
                    counts.imported + counts.duplicates
                ))
                .into());
            }
            Err(e) => return Err(e),
        };
        Ok(Summary {
            file: self.path.display().to_string(),
            kind: kind.as_str(),
            read: counts.good + rejections.count,
            imported: counts.imported,
            duplicates: counts.duplicates,
            rejected: rejections.count,
            renamed,
            rejected_rows: rejections.rows,
        })
    }

    /// How outcome rows are read.
    fn reading(&self) -> sluice_core::outcome::Reading {
        sluice_core::outcome::Reading {
            now: None,
            dates: self.options.dates,
        }
    }

    /// A bar over the file's bytes, when someone is watching.
    fn progress_bar(&self) -> ProgressBar {
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if !self.options.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .expect("valid template"),
        );
        bar
    }

    /// Each lead becomes an `identify` message, with an id derived from the row's content.
    fn leads(
        &self,
        rejections: &mut Rejections,
        counts: &mut Counts,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Renamed>> {
        let path = self.path.as_path();
        let header = input::csv_header(path)?;
        let crm = match self.options.map {
            Some(Crm::Hubspot | Crm::Salesforce) => true,
            Some(Crm::None) => false,
            None => header.as_deref().is_some_and(looks_like_crm),
        };
        let rename = |name: &str| lead_column(name, crm);
        let mut renamed = Vec::new();
        if let Some(header) = &header {
            let names: Vec<String> = header.iter().map(|h| rename(h)).collect();
            if !names.iter().any(|n| n == "id" || n == "email") {
                return Err(UserError(format!(
                    "{}:1: no `id` or `email` column (columns: {})",
                    path.display(),
                    header.join(", ")
                ))
                .into());
            }
            renamed = header
                .iter()
                .zip(names)
                .filter(|(from, to)| crm && from.as_str() != to.as_str())
                .map(|(from, to)| Renamed {
                    from: from.clone(),
                    to,
                })
                .collect();
            if self.options.map.is_none() && !renamed.is_empty() {
                let list: Vec<String> = renamed
                    .iter()
                    .map(|r| format!("{} → {}", r.from, r.to))
                    .collect();
                eprintln!(
                    "{}: a CRM export's header: renaming {} (--map none keeps the names)",
                    path.display(),
                    list.join(", ")
                );
            }
        }
        let mut sink = MessageSink::new(self, counts);
        input::read_rows(path, rejections, &rename, |rejections, row| {
            bar.set_position(row.end);
            match identify(row.columns) {
                // A creation time from a CRM column, not a clock: taken as given.
                Ok(message) => match prepare(message, now(), Times::Trust) {
                    Ok(accepted) => sink.push(accepted),
                    Err(invalid) => rejections.reject(path, row.line, invalid.message),
                },
                Err(error) => rejections.reject(path, row.line, error),
            }
        })?;
        sink.finish()?;
        Ok(renamed)
    }

    /// Each line is a Segment message, checked as HTTP ingestion checks it.
    fn events(
        &self,
        rejections: &mut Rejections,
        counts: &mut Counts,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let path = self.path.as_path();
        input::require_events_file(path)?;
        let mut sink = MessageSink::new(self, counts);
        input::for_each_line_at(path, |line, end, text| {
            bar.set_position(end);
            let Ok(text) = text else {
                return rejections.reject(path, line, input::NOT_UTF8);
            };
            let message = match serde_json::from_str(text) {
                Ok(Value::Object(message)) => message,
                Ok(_) => return rejections.reject(path, line, "expected a JSON object"),
                Err(e) => return rejections.reject(path, line, format!("invalid JSON: {e}")),
            };
            // The service's bounds, refused with the line rather than clamped: a file can be
            // fixed, and the import time is no better a guess than the sender's.
            match prepare(message, now(), Times::Refuse(DEFAULT_FUTURE_SKEW)) {
                Ok(accepted) => sink.push(accepted),
                Err(invalid) => rejections.reject(path, line, invalid.message),
            }
        })?;
        sink.finish()
    }

    /// Each row is an opportunity, a win or a loss of a known lead; or, from a CRM's deals
    /// export, a deal: its opportunity and, once closed, its win or loss.
    fn outcomes(
        &self,
        rejections: &mut Rejections,
        counts: &mut Counts,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let path = self.path.as_path();
        let shape = outcomes_shape(path)?;
        let rename = |name: &str| match shape {
            Shape::Sluice => outcome_column(name),
            Shape::Hubspot | Shape::Salesforce => name.to_string(),
        };
        let (store, live) = match &self.target {
            Target::Local { store, live, .. } => (store, live),
            Target::Remote(remote) => {
                return self.outcomes_remote(remote, shape, rejections, counts, bar);
            }
        };
        let mut pending: Vec<OutcomeRow> = Vec::with_capacity(BATCH);
        let save = |rows: &mut Vec<OutcomeRow>, counts: &mut Counts| -> anyhow::Result<()> {
            if rows.is_empty() {
                return Ok(());
            }
            // The same path as `POST /api/v1/outcomes`: stored once, stages moved.
            let ack =
                self.handle
                    .block_on(store_outcomes(store, live, std::mem::take(rows), now()));
            let ack = ack.context("cannot store the outcomes")?;
            counts.imported += ack.new;
            counts.duplicates += ack.duplicates;
            Ok(())
        };
        // CRM ids (a lead attribute `crm_id`) to leads, built on the first row that needs it.
        let mut crm_ids: Option<HashMap<String, String>> = None;
        input::read_rows(path, rejections, &rename, |rejections, row: Row| {
            bar.set_position(row.end);
            let read = match sluice_core::outcome::read(&row.columns, shape, self.reading()) {
                Ok(read) => read,
                Err(problems) => return rejections.reject(path, row.line, problems.join("; ")),
            };
            if crm_ids.is_none() && read.lead.crm_id.is_some() {
                crm_ids = Some(self.handle.block_on(crm_index(store))?);
            }
            let resolve = |id: &str| {
                self.handle
                    .block_on(sluice_server::live::resolve(store, live, id))
                    .ok()
                    .flatten()
            };
            match link(&read.lead, &resolve, crm_ids.as_ref()) {
                Ok(lead) => {
                    counts.good += 1;
                    pending.extend(read.outcomes.into_iter().map(|o| row_of(&lead, o)));
                    if pending.len() >= BATCH {
                        save(&mut pending, counts)?;
                    }
                    Ok(())
                }
                Err(error) => rejections.reject(path, row.line, error),
            }
        })?;
        save(&mut pending, counts)
    }

    /// Outcomes sent to a running service (`POST /api/v1/outcomes`), [`BATCH`] rows a request;
    /// rows it cannot match to a lead are reported by line.
    fn outcomes_remote(
        &self,
        remote: &Remote,
        shape: Shape,
        rejections: &mut Rejections,
        counts: &mut Counts,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let path = self.path.as_path();
        let rename = |name: &str| match shape {
            Shape::Sluice => outcome_column(name),
            Shape::Hubspot | Shape::Salesforce => name.to_string(),
        };
        let mut pending: Vec<(u64, Value)> = Vec::with_capacity(BATCH);
        let send = |rows: &mut Vec<(u64, Value)>,
                    counts: &mut Counts,
                    rejections: &mut Rejections|
         -> anyhow::Result<()> {
            if rows.is_empty() {
                return Ok(());
            }
            let batch = std::mem::take(rows);
            let body = json!({"outcomes": batch.iter().map(|(_, o)| o).collect::<Vec<_>>()});
            let answer =
                self.handle
                    .block_on(remote.post("/api/v1/outcomes", &body, Auth::Admin))?;
            counts.imported += answer["new"].as_u64().unwrap_or(0);
            counts.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
            for u in answer["unmatched"].as_array().into_iter().flatten() {
                if let Some((line, _)) = u["index"].as_u64().and_then(|i| batch.get(i as usize)) {
                    rejections.reject(path, *line, "no such lead".to_string())?;
                }
            }
            Ok(())
        };
        input::read_rows(path, rejections, &rename, |rejections, row: Row| {
            bar.set_position(row.end);
            let read = match sluice_core::outcome::read(&row.columns, shape, self.reading()) {
                Ok(read) => read,
                Err(problems) => return rejections.reject(path, row.line, problems.join("; ")),
            };
            counts.good += 1;
            // Sent in Sluice's shape: the service reads what this file's shape meant.
            for o in read.outcomes {
                let lead = &read.lead;
                pending.push((
                    row.line,
                    json!({
                        "lead_id": lead.lead_id, "email": lead.email, "crm_id": lead.crm_id,
                        "type": o.kind, "amount": o.amount, "date": o.at.to_string(),
                        "reason": o.reason,
                    }),
                ));
            }
            if pending.len() >= BATCH {
                send(&mut pending, counts, rejections)?;
            }
            Ok(())
        })?;
        send(&mut pending, counts, rejections)
    }
}

/// The column an outcomes file's header names (the known ones matched ignoring case).
pub(crate) fn outcome_column(name: &str) -> String {
    OUTCOME_COLUMNS
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .unwrap_or(name)
        .to_string()
}

/// A batch being stored while the next one is read.
type InFlight =
    tokio::task::JoinHandle<Result<sluice_server::writer::Ack, sluice_store::StoreError>>;

/// Messages on their way to the database, stored [`BATCH`] at a time and scored as they are.
/// Into a database, one batch is stored while the next is read and checked; batches are
/// committed one after another, in file order.
struct MessageSink<'a> {
    run: &'a Run,
    counts: &'a mut Counts,
    pending: Vec<Accepted>,
    in_flight: Option<InFlight>,
}

impl<'a> MessageSink<'a> {
    fn new(run: &'a Run, counts: &'a mut Counts) -> Self {
        MessageSink {
            run,
            counts,
            pending: Vec::with_capacity(BATCH),
            in_flight: None,
        }
    }

    /// Waits for the batch being stored, and counts it.
    fn settle(&mut self) -> anyhow::Result<()> {
        let Some(batch) = self.in_flight.take() else {
            return Ok(());
        };
        let ack = self
            .run
            .handle
            .block_on(batch)
            .context("storing the imported messages stopped")?
            .context("cannot store the imported messages")?;
        self.counts.imported += ack.new as u64;
        self.counts.duplicates += ack.duplicates as u64;
        Ok(())
    }

    /// Stores what is pending and waits until everything is stored.
    fn finish(mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.settle()
    }

    fn push(&mut self, message: Accepted) -> anyhow::Result<()> {
        self.counts.good += 1;
        self.pending.push(message);
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut messages = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH));
        match &self.run.target {
            Target::Local {
                store,
                live,
                suppressed,
            } => {
                messages.retain(|m| !sluice_server::trust::is_suppressed(suppressed, &m.message));
                self.settle()?;
                let (store, live) = (store.clone(), Arc::clone(live));
                let source = self.run.options.source.clone();
                self.in_flight = Some(
                    self.run
                        .handle
                        .spawn(async move { store_batch(&store, &live, messages, &source).await }),
                );
            }
            Target::Remote(remote) => {
                // The messages as checked here, through the same door as any SDK, in batches
                // under the service's 500 KB limit.
                const BATCH_BYTES: usize = 400_000;
                let mut start = 0;
                while start < messages.len() {
                    let (mut end, mut bytes) = (start, 0);
                    while end < messages.len()
                        && (end == start || bytes + messages[end].raw.len() < BATCH_BYTES)
                    {
                        bytes += messages[end].raw.len() + 1;
                        end += 1;
                    }
                    let batch: Vec<Value> = messages[start..end]
                        .iter()
                        .filter_map(|a| serde_json::from_str(&a.raw).ok())
                        .collect();
                    let answer = self.run.handle.block_on(remote.post(
                        "/v1/batch",
                        &json!({"batch": batch}),
                        Auth::WriteKey,
                    ))?;
                    self.counts.imported += answer["new"].as_u64().unwrap_or(batch.len() as u64);
                    self.counts.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
                    start = end;
                }
            }
        }
        Ok(())
    }
}

/// Whether a header is a CRM export's: at least two of its columns are named as in
/// [`CRM_COLUMNS`] (and not already as Sluice names them).
fn looks_like_crm(header: &[String]) -> bool {
    let named = |h: &&String| {
        CRM_COLUMNS
            .iter()
            .any(|(from, to)| from.eq_ignore_ascii_case(h) && h.as_str() != *to)
    };
    header.iter().filter(named).count() >= 2
}

/// The name a leads file's column is stored under: its trait name from [`CRM_COLUMNS`] when
/// `crm`; `id` and `email` in lower case in any case; else the name as it is.
fn lead_column(name: &str, crm: bool) -> String {
    if crm
        && let Some((_, to)) = CRM_COLUMNS
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(name))
    {
        return to.to_string();
    }
    ["id", "email"]
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .unwrap_or(name)
        .to_string()
}

/// A leads file's row as a Segment `identify` message: `userId` is the row's `id` (else its
/// email), the other columns are its traits, `timestamp` its creation time when the row has
/// one (else now), and its `messageId` a hash of the row's content, so importing the same row
/// again is a duplicate, and a changed row is new.
pub(crate) fn identify(mut traits: Attributes) -> Result<Map<String, Value>, String> {
    let id = sluice_core::table::record_id(&mut traits).ok_or("no `id` or `email`")?;
    let created = created_at(&traits)?;
    let content = json!({"id": id, "traits": traits}).to_string();
    let mut message = Map::new();
    message.insert("type".into(), "identify".into());
    message.insert("messageId".into(), content_id(&content).into());
    message.insert("userId".into(), id.into());
    message.insert("traits".into(), Value::Object(traits));
    if let Some(at) = created {
        message.insert("timestamp".into(), at.to_string().into());
    }
    message.insert(
        "context".into(),
        json!({"library": {"name": "sluice-import", "version": env!("CARGO_PKG_VERSION")}}),
    );
    Ok(message)
}

/// The lead's creation time, from the first of [`CREATED_COLUMNS`] it has.
pub(crate) fn created_at(traits: &Attributes) -> Result<Option<Timestamp>, String> {
    let Some((name, value)) = CREATED_COLUMNS
        .iter()
        .find_map(|name| traits.get(*name).map(|v| (name, v)))
    else {
        return Ok(None);
    };
    time(value)
        .map(Some)
        .map_err(|text| format!("`{name}`: {}", time_error(&text)))
}

/// A time cell: RFC 3339, a date, or `YYYY-MM-DD HH:MM[:SS]` (as CRMs export them, read as
/// UTC). The error is the cell's text.
fn time(value: &Value) -> Result<Timestamp, String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        other => return Err(other.to_string()),
    };
    if let Ok(t) = Timestamp::parse(&text) {
        return Ok(t);
    }
    // `2026-03-05 14:22` or `2026-03-05 14:22:10`
    if let Some((date, clock)) = text.split_once(' ')
        && date.len() == 10
    {
        let clock = if clock.matches(':').count() == 1 {
            format!("{clock}:00")
        } else {
            clock.to_string()
        };
        if let Ok(t) = Timestamp::parse(&format!("{date}T{clock}")) {
            return Ok(t);
        }
    }
    Err(text)
}

fn time_error(text: &str) -> String {
    format!("`{text}` is not a time (use RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] in UTC)")
}

/// A stable id for a row: FNV-1a (128 bits) of its content.
fn content_id(content: &str) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let hash = content
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u128::from(b)).wrapping_mul(PRIME));
    format!("import-{hash:032x}")
}

/// The columns of an outcomes file (matched ignoring case).
pub(crate) const OUTCOME_COLUMNS: [&str; 7] = [
    "lead_id", "email", "crm_id", "type", "amount", "date", "reason",
];

/// Every lead's `crm_id` attribute (as text) → the lead.
async fn crm_index(store: &Store) -> anyhow::Result<HashMap<String, String>> {
    let mut index = HashMap::new();
    let mut after = String::new();
    loop {
        let page = store
            .leads_after(&after, 5_000)
            .await
            .context("cannot read the leads")?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for lead in page {
            if let Some(v) = lead.attributes.get("crm_id") {
                index.insert(
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    lead.id,
                );
            }
        }
    }
    Ok(index)
}

/// The shape of an outcomes file, by its header (a CRM's deals export is said on stderr);
/// Sluice's own shape needs a lead column, `type` and `date`.
pub(crate) fn outcomes_shape(path: &Path) -> anyhow::Result<Shape> {
    let Some(header) = input::csv_header(path)? else {
        return Ok(Shape::Sluice);
    };
    let shape = Shape::of(header.iter().map(String::as_str));
    if shape != Shape::Sluice {
        eprintln!(
            "{}: a {}: each deal becomes its opportunity and, once closed, its win or loss",
            path.display(),
            shape.describe()
        );
        return Ok(shape);
    }
    let names: Vec<String> = header.iter().map(|h| outcome_column(h)).collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    if !(has("lead_id") || has("email") || has("crm_id")) || !has("type") || !has("date") {
        return Err(UserError(format!(
            "{}:1: an outcomes file needs `lead_id`, `email` or `crm_id`, `type` and `date` columns, or is a HubSpot deals export or a Salesforce opportunities report (columns: {})",
            path.display(),
            header.join(", ")
        ))
        .into());
    }
    Ok(shape)
}

/// The lead a row names: by `lead_id` (or an id it stands for), else `email`, else `crm_id`
/// (a lead attribute); a row that names no known lead says which of its ids it tried.
pub(crate) fn link(
    lead: &sluice_core::outcome::LeadRef,
    resolve: &dyn Fn(&str) -> Option<String>,
    crm_ids: Option<&HashMap<String, String>>,
) -> Result<String, String> {
    let by_id = || lead.lead_id.as_deref().and_then(resolve);
    let by_email = || lead.email.as_deref().and_then(resolve);
    let by_crm = || {
        lead.crm_id
            .as_deref()
            .and_then(|c| crm_ids?.get(c))
            .cloned()
    };
    by_id().or_else(by_email).or_else(by_crm).ok_or_else(|| {
        let mut tried = Vec::new();
        if let Some(id) = &lead.lead_id {
            tried.push(format!("`lead_id`: no lead `{id}`"));
        }
        if let Some(email) = &lead.email {
            tried.push(format!("`email`: no lead with email `{email}`"));
        }
        if let Some(crm) = &lead.crm_id {
            tried.push(format!("`crm_id`: no lead with crm_id `{crm}`"));
        }
        tried.join("; ")
    })
}

/// An outcome of `lead`, to store.
pub(crate) fn row_of(lead: &str, o: sluice_core::outcome::Outcome) -> OutcomeRow {
    OutcomeRow {
        lead_id: lead.to_string(),
        kind: o.kind,
        amount: o.amount,
        at_ms: o.at.millis(),
        reason: o.reason,
    }
}

/// An outcome row's own fields, checked.
pub(crate) struct OutcomeFields {
    /// `opportunity`, `won` or `lost`.
    pub kind: String,
    /// Pipeline or booking amount (required for opportunity and won, never negative).
    pub amount: Option<f64>,
    /// When.
    pub at: Timestamp,
}

/// Checks a Sluice-shaped outcomes row's `type`, `amount`, `date` and `reason` (for `sluice
/// backtest`, which finds the lead itself); each problem is added to `problems`.
pub(crate) fn outcome_fields(
    row: &Attributes,
    problems: &mut Vec<String>,
) -> Option<OutcomeFields> {
    let mut with_lead = row.clone();
    // The lead is found by the caller.
    with_lead.insert("lead_id".into(), Value::from("-"));
    match sluice_core::outcome::read(&with_lead, Shape::Sluice, Default::default()) {
        Ok(read) => read.outcomes.into_iter().next().map(|o| OutcomeFields {
            kind: o.kind,
            amount: o.amount,
            at: o.at,
        }),
        Err(found) => {
            problems.extend(found);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_headers_are_detected_and_renamed() {
        let header = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(looks_like_crm(&header(&["Email", "First Name", "x"])));
        assert!(!looks_like_crm(&header(&["email", "first_name", "title"])));
        assert!(!looks_like_crm(&header(&["Email", "Score"])));
        assert_eq!(lead_column("Number of Employees", true), "employees");
        assert_eq!(lead_column("number of employees", true), "employees");
        assert_eq!(
            lead_column("Number of Employees", false),
            "Number of Employees"
        );
        assert_eq!(lead_column("EMAIL", false), "email");
    }

    #[test]
    fn crm_times_are_read() {
        let t = |s: &str| time(&Value::from(s)).map(|t| t.to_string());
        assert_eq!(t("2026-03-05 14:22").unwrap(), "2026-03-05T14:22:00.000Z");
        assert_eq!(
            t("2026-03-05 14:22:10").unwrap(),
            "2026-03-05T14:22:10.000Z"
        );
        assert_eq!(t("2026-03-05").unwrap(), "2026-03-05T00:00:00.000Z");
        assert_eq!(t("3/5/2026").unwrap_err(), "3/5/2026");
    }

    #[test]
    fn a_row_id_follows_its_content() {
        let row = |title: &str| {
            let traits = json!({"id": "l1", "title": title})
                .as_object()
                .unwrap()
                .clone();
            identify(traits).unwrap()["messageId"].clone()
        };
        assert_eq!(row("VP"), row("VP"));
        assert_ne!(row("VP"), row("CTO"));
    }
}
