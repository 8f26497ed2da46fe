//! `sluice import teams|reps|company`, and the demo company: the sales organisation from CSV,
//! and a whole company's files (what `sluice generate` writes) lived in time order through
//! `sluice_server::replay`, so MQLs, routing, SLAs and sales' work carry their own dates.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;
use sluice_core::outcome::Shape;
use sluice_server::ingest::{Times, prepare};
use sluice_server::replay::Lived;
use sluice_server::roster_file::{self, RepLine, TeamRef};
use sluice_server::state::now;
use sluice_server::writer::Accepted;
use sluice_store::{OutcomeRow, Store};

use super::import::{Target, identify, link, outcome_column, outcomes_shape, row_of};
use crate::input::{self, Rejected, Rejections};
use crate::{Format, UserError};

/// The demo company's size, and the seed of its data and of its sales team's habits.
const DEMO_LEADS: u64 = 1000;
const DEMO_SEED: u64 = 42;

/// What importing a sales organisation file did.
#[derive(Debug, Default, Serialize)]
pub struct RosterSummary {
    /// The file.
    pub file: String,
    /// `teams` or `reps`.
    pub kind: &'static str,
    /// Rows read, rejected ones included.
    pub read: u64,
    /// Rows saved (new or changed).
    pub imported: u64,
    /// Teams made for the team names of a CRM's users export that named no existing team
    /// (with the default calendar: UTC, Mon-Fri 09:00-17:00).
    pub teams_created: Vec<String>,
    /// Rows not saved, because they are not valid.
    pub rejected: u64,
    /// The first rejected rows.
    pub rejected_rows: Vec<Rejected>,
}

/// What importing a company did.
#[derive(Debug, Serialize)]
pub struct CompanySummary {
    /// The directory.
    pub dir: String,
    /// Teams and reps saved.
    pub teams: u64,
    /// Reps saved.
    pub reps: u64,
    /// Leads read (as `identify` messages).
    pub leads: u64,
    /// Messages (leads and events) replayed.
    pub messages: u64,
    /// Outcomes replayed.
    pub outcomes: u64,
    /// Whether a simulated sales team worked the MQLs.
    pub simulated_sales: bool,
    /// What the lived year holds.
    pub lived: Lived,
    /// Rows not imported, because they are not valid.
    pub rejected: u64,
    /// The first rejected rows.
    pub rejected_rows: Vec<Rejected>,
    /// Seconds it took.
    pub seconds: f64,
}

/// `teams.csv`: `id,name,time_zone,working_hours,holidays,manager`; `working_hours` and
/// `holidays` may hold several entries separated by `;`.
pub async fn import_teams(
    store: &Store,
    path: &Path,
    strict: bool,
) -> anyhow::Result<RosterSummary> {
    let mut rejections = Rejections::new(strict);
    let mut rows = Vec::new();
    let keep = |name: &str| name.to_string();
    input::read_rows(
        path,
        &mut rejections,
        &keep,
        |rejections, row| match roster_file::team_row(&row.columns, now().millis()) {
            Ok(team) => {
                rows.push(team);
                Ok(())
            }
            Err(error) => rejections.reject(path, row.line, error),
        },
    )?;
    for team in &rows {
        store.upsert_team(team).await?;
    }
    Ok(RosterSummary {
        file: path.display().to_string(),
        kind: "teams",
        read: rows.len() as u64 + rejections.count,
        imported: rows.len() as u64,
        teams_created: Vec::new(),
        rejected: rejections.count,
        rejected_rows: rejections.rows,
    })
}

/// `reps.csv`: `id,name,email,team_id,capacity` (and optionally `time_zone`,
/// `working_hours`, `available`); a rep's team must exist.
pub async fn import_reps(
    store: &Store,
    path: &Path,
    strict: bool,
) -> anyhow::Result<RosterSummary> {
    let mut rejections = Rejections::new(strict);
    let mut rows = Vec::new();
    let keep = |name: &str| name.to_string();
    input::read_rows(
        path,
        &mut rejections,
        &keep,
        |rejections, row| match roster_file::rep_row(&row.columns, now().millis()) {
            Ok(rep) => {
                rows.push((row.line, rep));
                Ok(())
            }
            Err(error) => rejections.reject(path, row.line, error),
        },
    )?;
    let read = rows.len() as u64 + rejections.count;
    let mut imported = 0;
    let mut teams = store.teams().await?;
    let mut teams_created = Vec::new();
    for (line, RepLine { mut rep, team }) in rows {
        let (team, new_team) = match team {
            TeamRef::Id(id) => match teams.iter().find(|t| t.id == id) {
                Some(team) => (team.clone(), false),
                None => {
                    let error = format!(
                        "team_id: no team `{id}` (import teams.csv first, or `sluice team add`)"
                    );
                    rejections.reject(path, line, error)?;
                    continue;
                }
            },
            TeamRef::Named(name) => match roster_file::find_named(&teams, &name) {
                Some(team) => (team.clone(), false),
                None => {
                    let id = Some(roster_file::slug(&name))
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| name.clone());
                    (roster_file::default_team(id, name, now().millis()), true)
                }
            },
        };
        rep.team_id = team.id.clone();
        if rep.time_zone.is_some() || rep.working_hours.is_some() {
            let tz = rep.time_zone.as_deref().unwrap_or(&team.time_zone);
            let hours = rep.working_hours.as_ref().unwrap_or(&team.working_hours);
            if let Err(error) = roster_file::calendar(tz, hours, &team.holidays) {
                rejections.reject(path, line, error)?;
                continue;
            }
        }
        if new_team {
            store.upsert_team(&team).await?;
            teams_created.push(team.id.clone());
            teams.push(team);
        }
        store.upsert_rep(&rep).await?;
        imported += 1;
    }
    Ok(RosterSummary {
        file: path.display().to_string(),
        kind: "reps",
        read,
        imported,
        teams_created,
        rejected: rejections.count,
        rejected_rows: rejections.rows,
    })
}

/// Imports a company directory into `store` and lives it up to now: `teams.csv` and
/// `reps.csv` when present, then `leads.csv`, `events.jsonl` and `outcomes.csv` (when
/// present) in time order; with `sales_team` (a seed), a simulated team works the MQLs.
pub async fn import_company(
    store: Store,
    dir: &Path,
    model: Option<&(String, String)>,
    sales_team: Option<u64>,
    source: &str,
) -> anyhow::Result<CompanySummary> {
    let started = Instant::now();
    if !dir.is_dir() {
        return Err(UserError(format!(
            "{}: a company is a directory (leads.csv, events.jsonl, and optionally outcomes.csv, teams.csv, reps.csv)",
            dir.display()
        ))
        .into());
    }
    if store.event_count().await? > 0 {
        return Err(UserError(
            "the database already holds events: a company is lived into an empty database (import files one by one to add to one)".into(),
        )
        .into());
    }
    let mut rejected = Vec::new();
    let mut rejected_count = 0;
    let (mut teams, mut reps) = (0, 0);
    for (name, count) in [("teams.csv", &mut teams), ("reps.csv", &mut reps)] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let summary = if name == "teams.csv" {
            import_teams(&store, &path, false).await?
        } else {
            import_reps(&store, &path, false).await?
        };
        *count = summary.imported;
        rejected_count += summary.rejected;
        rejected.extend(summary.rejected_rows);
    }
    let Target::Local { store, live, .. } = Target::open(store, model).await? else {
        unreachable!("a database target")
    };
    let dir_owned = dir.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_company(&dir_owned))
        .await
        .context("reading the company stopped")??;
    let end = now();
    let (leads, messages, outcomes) = (read.leads, read.messages.len(), read.outcomes.len());
    rejected_count += read.rejections.count;
    rejected.extend(read.rejections.rows);
    let lived = sluice_server::replay::live_through(
        &store,
        &live,
        read.messages,
        read.outcomes,
        end,
        sales_team,
        source,
    )
    .await
    .context("cannot replay the company's history")?;
    let model = live.read().expect("live state lock").model().clone();
    sluice_server::facts::refresh(&store, &model).await?;
    store.flush().await?;
    rejected.truncate(1000);
    Ok(CompanySummary {
        dir: dir.display().to_string(),
        teams,
        reps,
        leads,
        messages: messages as u64,
        outcomes: outcomes as u64,
        simulated_sales: sales_team.is_some(),
        lived,
        rejected: rejected_count,
        rejected_rows: rejected,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The database, opened for a bulk load (see [`Store::connect_bulk`]).
pub async fn bulk(db: &str) -> anyhow::Result<Store> {
    Store::connect_bulk(db)
        .await
        .map_err(|e| UserError(format!("cannot open the database {db}: {e}")).into())
}

/// Prints a company import's summary.
pub fn print_company(summary: &CompanySummary, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => {
            let l = &summary.lived;
            writeln!(
                out,
                "{}: {} teams, {} reps, {} leads, {} messages, {} outcomes lived in time order ({:.1} s)",
                summary.dir,
                summary.teams,
                summary.reps,
                summary.leads,
                summary.messages,
                summary.outcomes,
                summary.seconds
            )?;
            writeln!(
                out,
                "  hand-off: {} assignments, {} first touches, {} accepted, {} rejected, {} qualified, {} SLA breaches, {} reassigned{}",
                l.assignments,
                l.touches,
                l.accepted,
                l.rejected,
                l.qualified,
                l.breaches,
                l.reassigned,
                if summary.simulated_sales {
                    " (a simulated sales team)"
                } else {
                    ""
                }
            )?;
            if summary.rejected > 0 {
                writeln!(out, "  rejected {} rows:", summary.rejected)?;
                for row in summary.rejected_rows.iter().take(10) {
                    writeln!(out, "  {}:{}: {}", row.file, row.line, row.error)?;
                }
            }
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(summary)?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(summary)?)?,
    }
    Ok(())
}

/// Prints a teams or reps import's summary.
pub fn print_roster(summary: &RosterSummary, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => {
            writeln!(
                out,
                "{}: read {}, saved {}, rejected {}",
                summary.file, summary.read, summary.imported, summary.rejected
            )?;
            if !summary.teams_created.is_empty() {
                writeln!(
                    out,
                    "  made teams {} with the default calendar (UTC, Mon-Fri 09:00-17:00; change with `sluice team add`)",
                    summary.teams_created.join(", ")
                )?;
            }
            for row in summary.rejected_rows.iter().take(10) {
                writeln!(out, "  {}:{}: {}", row.file, row.line, row.error)?;
            }
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(summary)?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(summary)?)?,
    }
    Ok(())
}

/// Seeds the demo company (1,000 leads and a year, ending now, generated by `sluice_synth`)
/// into a database that holds no events yet, as `sluice generate` and `sluice import company`
/// would; with `model` (its text and file name), stores it and puts it in force first, so the
/// demo is scored by it. Prints one line to stderr.
pub async fn seed_demo(db: &str, model: Option<(&str, &str)>) -> anyhow::Result<()> {
    let store = bulk(db).await?;
    if store.event_count().await? > 0 {
        eprintln!("demo data already present");
        return Ok(());
    }
    let dir = ScratchDir::create()?;
    let config = sluice_synth::Config {
        leads: DEMO_LEADS,
        seed: DEMO_SEED,
        end: now().to_datetime(),
        days: 365,
    };
    let out = dir.0.clone();
    tokio::task::spawn_blocking(move || sluice_synth::generate_to_dir(&config, &out))
        .await
        .context("generating the demo company stopped")?
        .context("cannot generate the demo company")?;
    let model = model.map(|(text, name)| (text.to_string(), name.to_string()));
    let summary = import_company(store, &dir.0, model.as_ref(), Some(DEMO_SEED), "demo").await?;
    let l = &summary.lived;
    eprintln!(
        "demo company seeded: {} leads, {} messages, {} outcomes; a year of hand-off: {} assignments, {} first touches, {} accepted, {} rejected, {} SLA breaches ({:.1} s)",
        summary.leads,
        summary.messages,
        summary.outcomes,
        l.assignments,
        l.touches,
        l.accepted,
        l.rejected,
        l.breaches,
        summary.seconds
    );
    Ok(())
}

/// A company's files, read as `sluice import` reads them.
struct Read {
    leads: u64,
    messages: Vec<Accepted>,
    outcomes: Vec<OutcomeRow>,
    rejections: Rejections,
}

/// Reads a company's leads (as `identify` messages), events and outcomes; rejected rows are
/// named by file and line.
fn read_company(dir: &Path) -> anyhow::Result<Read> {
    let mut rejections = Rejections::new(false);
    let mut messages = Vec::new();
    let keep = |name: &str| name.to_string();
    let leads = dir.join("leads.csv");
    let events = dir.join("events.jsonl");
    for required in [&leads, &events] {
        if !required.exists() {
            return Err(UserError(format!("{}: no such file", required.display())).into());
        }
    }
    input::read_rows(&leads, &mut rejections, &keep, |rejections, row| {
        let message = identify(row.columns)
            .and_then(|m| prepare(m, now(), Times::Trust).map_err(|invalid| invalid.message));
        match message {
            Ok(accepted) => {
                messages.push(accepted);
                Ok(())
            }
            Err(error) => rejections.reject(&leads, row.line, error),
        }
    })?;
    let lead_count = messages.len() as u64;
    input::require_events_file(&events)?;
    input::for_each_line_at(&events, |line, _, text| {
        let Ok(text) = text else {
            return rejections.reject(&events, line, input::NOT_UTF8);
        };
        let message = match serde_json::from_str(text) {
            Ok(Value::Object(message)) => message,
            Ok(_) => return rejections.reject(&events, line, "expected a JSON object"),
            Err(e) => return rejections.reject(&events, line, format!("invalid JSON: {e}")),
        };
        let bound = Times::Refuse(sluice_core::event::DEFAULT_FUTURE_SKEW);
        match prepare(message, now(), bound) {
            Ok(accepted) => {
                messages.push(accepted);
                Ok(())
            }
            Err(invalid) => rejections.reject(&events, line, invalid.message),
        }
    })?;
    let mut outcomes = Vec::new();
    let path = dir.join("outcomes.csv");
    if path.exists() {
        let shape = outcomes_shape(&path)?;
        let rename = |name: &str| match shape {
            Shape::Sluice => outcome_column(name),
            _ => name.to_string(),
        };
        // Leads are named by id (or email) in a company's files.
        let resolve = |id: &str| Some(id.to_string());
        input::read_rows(&path, &mut rejections, &rename, |rejections, row| {
            let read = sluice_core::outcome::read(&row.columns, shape, Default::default())
                .map_err(|problems| problems.join("; "))
                .and_then(|read| Ok((link(&read.lead, &resolve, None)?, read.outcomes)));
            match read {
                Ok((lead, read)) => {
                    outcomes.extend(read.into_iter().map(|o| row_of(&lead, o)));
                    Ok(())
                }
                Err(error) => rejections.reject(&path, row.line, error),
            }
        })?;
    }
    Ok(Read {
        leads: lead_count,
        messages,
        outcomes,
        rejections,
    })
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("sluice-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
