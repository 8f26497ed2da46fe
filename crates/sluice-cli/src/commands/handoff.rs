//! `sluice team`, `sluice rep` and `sluice report sla`: the hand-off's people and its report,
//! read and written in the database directly (safe while `sluice serve` runs: routing reads
//! teams and reps from the database each time).

use std::io::Write as _;

use clap::{Args, Subcommand};
use sluice_core::business_time::WorkingHours;
use sluice_core::{Model, Timestamp};
use sluice_server::state::now;
use sluice_store::{RepRow, Store, TeamRow};

use super::import::connect;
use crate::{Format, UserError};

/// Where the database is.
#[derive(Debug, Args)]
pub struct Db {
    /// Database URL: `sqlite://PATH` or `postgres://...`.
    #[arg(
        long,
        env = "SLUICE_DATABASE_URL",
        default_value = "sqlite://sluice.db"
    )]
    pub(crate) db: String,
}

/// Sales teams.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create or replace a team.
    Add(TeamArgs),
    /// List teams.
    List {
        #[command(flatten)]
        db: Db,
        /// How to print.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// A team.
#[derive(Debug, Args)]
pub struct TeamArgs {
    /// Its id, used by routing rules (e.g. `sdr-emea`).
    id: String,
    /// Display name (default: the id).
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone of its working hours.
    #[arg(long, default_value = "UTC")]
    time_zone: String,
    /// Working hours, repeatable (e.g. --hours "Mon-Fri 09:00-12:30, 13:30-17:00").
    #[arg(long = "hours", default_value = "Mon-Fri 09:00-17:00")]
    hours: Vec<String>,
    /// A local date off, repeatable (YYYY-MM-DD).
    #[arg(long = "holiday")]
    holidays: Vec<String>,
    /// Who is told about SLA breaches (email).
    #[arg(long)]
    manager: Option<String>,
    /// How to print the saved team.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    db: Db,
}

/// Sales reps.
#[derive(Debug, Subcommand)]
pub enum RepCommand {
    /// Create or replace a rep.
    Add(RepArgs),
    /// Change a rep: capacity, availability, absence, team.
    Set(RepSet),
    /// List reps.
    List {
        #[command(flatten)]
        db: Db,
        /// How to print.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// A rep.
#[derive(Debug, Args)]
pub struct RepArgs {
    /// Their id (e.g. `ana`).
    id: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Email address.
    #[arg(long)]
    email: String,
    /// Their team's id.
    #[arg(long)]
    team: String,
    /// New leads per day.
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    capacity: i64,
    /// Their own time zone, if not the team's.
    #[arg(long)]
    time_zone: Option<String>,
    /// Their own working hours, if not the team's (repeatable).
    #[arg(long = "hours")]
    hours: Vec<String>,
    /// How to print the saved rep.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    db: Db,
}

/// Changes to a rep.
#[derive(Debug, Args)]
pub struct RepSet {
    /// The rep (id or email).
    id: String,
    /// New leads per day.
    #[arg(long, allow_negative_numbers = true)]
    capacity: Option<i64>,
    /// Whether they take new leads.
    #[arg(long)]
    available: Option<bool>,
    /// Out of office until this date (YYYY-MM-DD or RFC 3339); "none" when back.
    #[arg(long)]
    away_until: Option<String>,
    /// Move them to this team.
    #[arg(long)]
    team: Option<String>,
    /// How to print the saved rep.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    db: Db,
}

/// The SLA report's period.
#[derive(Debug, Args)]
pub struct SlaArgs {
    /// Leads assigned from this date (default: 30 days before --to).
    #[arg(long)]
    from: Option<String>,
    /// Until this date (default: now).
    #[arg(long)]
    to: Option<String>,
    /// How to print.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    db: Db,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn date(flag: &str, text: &str) -> Result<Timestamp, UserError> {
    Timestamp::parse(text).map_err(|_| {
        UserError(format!(
            "{flag}: `{text}` is not a date (YYYY-MM-DD or RFC 3339)"
        ))
    })
}

fn check_calendar(time_zone: &str, hours: &[String], holidays: &[String]) -> Result<(), UserError> {
    let hours: Vec<&str> = hours.iter().map(String::as_str).collect();
    let holidays: Vec<&str> = holidays.iter().map(String::as_str).collect();
    WorkingHours::parse(time_zone, &hours, &holidays)
        .map(|_| ())
        .map_err(|e| UserError(format!("--hours / --time-zone / --holiday: {e}")))
}

async fn check_rep(store: &Store, rep: &RepRow) -> anyhow::Result<()> {
    if rep.capacity < 0 {
        return Err(UserError(format!("--capacity: {} must be 0 or more", rep.capacity)).into());
    }
    if !rep.email.contains('@') {
        return Err(UserError(format!("--email: `{}` is not an email address", rep.email)).into());
    }
    let Some(team) = store.team(&rep.team_id).await? else {
        return Err(UserError(format!(
            "--team: no team `{}` (create it with `sluice team add {}`)",
            rep.team_id, rep.team_id
        ))
        .into());
    };
    if rep.time_zone.is_some() || rep.working_hours.is_some() {
        check_calendar(
            rep.time_zone.as_deref().unwrap_or(&team.time_zone),
            rep.working_hours.as_ref().unwrap_or(&team.working_hours),
            &team.holidays,
        )?;
    }
    Ok(())
}

/// Prints what was saved: a line for people, the row for scripts.
fn saved(kind: &str, id: &str, row: &impl serde::Serialize, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => writeln!(out, "{kind} `{id}` saved")?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(row)?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(row)?)?,
    }
    Ok(())
}

/// Runs `sluice team`.
pub fn team(command: TeamCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            TeamCommand::Add(args) => {
                check_calendar(&args.time_zone, &args.hours, &args.holidays)?;
                let store = connect(&args.db.db).await?;
                let at = now().millis();
                let existing = store.team(&args.id).await?;
                let team = TeamRow {
                    name: args.name.unwrap_or_else(|| args.id.clone()),
                    id: args.id,
                    time_zone: args.time_zone,
                    working_hours: args.hours,
                    holidays: args.holidays,
                    manager: args.manager,
                    created_ms: existing.map_or(at, |t| t.created_ms),
                    updated_ms: at,
                };
                store.upsert_team(&team).await?;
                saved("team", &team.id, &team, args.format)?;
            }
            TeamCommand::List { db, format } => {
                let teams = connect(&db.db).await?.teams().await?;
                let mut out = std::io::stdout().lock();
                if format == Format::Table {
                    for t in &teams {
                        writeln!(
                            out,
                            "{:<16} {:<28} {:<20} {}{}",
                            t.id,
                            t.name,
                            t.time_zone,
                            t.working_hours.join("; "),
                            t.manager
                                .as_deref()
                                .map(|m| format!("  manager {m}"))
                                .unwrap_or_default()
                        )?;
                    }
                } else {
                    writeln!(out, "{}", serde_json::to_string_pretty(&teams)?)?;
                }
            }
        }
        Ok(())
    })
}

/// Runs `sluice rep`.
pub fn rep(command: RepCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            RepCommand::Add(args) => {
                let store = connect(&args.db.db).await?;
                let at = now().millis();
                let existing = store.rep(&args.id).await?.filter(|r| r.id == args.id);
                let rep = RepRow {
                    id: args.id,
                    name: args.name,
                    email: args.email.to_lowercase(),
                    team_id: args.team,
                    time_zone: args.time_zone,
                    working_hours: (!args.hours.is_empty()).then_some(args.hours),
                    capacity: args.capacity,
                    available: true,
                    away_until_ms: None,
                    created_ms: existing.map_or(at, |r| r.created_ms),
                    updated_ms: at,
                };
                check_rep(&store, &rep).await?;
                store.upsert_rep(&rep).await?;
                saved("rep", &rep.id, &rep, args.format)?;
            }
            RepCommand::Set(args) => {
                let store = connect(&args.db.db).await?;
                let mut rep = store
                    .rep(&args.id)
                    .await?
                    .ok_or_else(|| UserError(format!("no rep `{}`", args.id)))?;
                if let Some(capacity) = args.capacity {
                    rep.capacity = capacity;
                }
                if let Some(available) = args.available {
                    rep.available = available;
                }
                if let Some(until) = args.away_until {
                    rep.away_until_ms = match until.as_str() {
                        "none" | "" => None,
                        text => Some(date("--away-until", text)?.millis()),
                    };
                }
                if let Some(team) = args.team {
                    rep.team_id = team;
                }
                rep.updated_ms = now().millis();
                check_rep(&store, &rep).await?;
                store.upsert_rep(&rep).await?;
                saved("rep", &rep.id, &rep, args.format)?;
            }
            RepCommand::List { db, format } => {
                let reps = connect(&db.db).await?.reps().await?;
                let mut out = std::io::stdout().lock();
                if format == Format::Table {
                    let now = now().millis();
                    for r in &reps {
                        writeln!(
                            out,
                            "{:<12} {:<24} {:<28} team {:<12} {:>3}/day  {}",
                            r.id,
                            r.name,
                            r.email,
                            r.team_id,
                            r.capacity,
                            if r.is_available(now) {
                                "available"
                            } else {
                                "away"
                            }
                        )?;
                    }
                } else {
                    writeln!(out, "{}", serde_json::to_string_pretty(&reps)?)?;
                }
            }
        }
        Ok(())
    })
}

/// Runs `sluice report sla`.
pub fn sla_report(args: SlaArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let store = connect(&args.db.db).await?;
        let now = now();
        let to = match args.to.as_deref() {
            Some(t) => date("--to", t)?,
            None => Timestamp::from_millis(now.millis() + 1),
        };
        let from = match args.from.as_deref() {
            Some(t) => date("--from", t)?,
            None => Timestamp::from_millis(to.millis() - 30 * 86_400_000),
        };
        let source = match store.active_model().await? {
            Some(row) => row.source,
            None => sluice_server::DEFAULT_MODEL.to_string(),
        };
        let model = Model::from_toml(&source, "active model")
            .map_err(|e| UserError(format!("the stored model does not compile: {e}")))?;
        let report = sluice_server::handoff::report(&store, model.handoff(), from, to, now).await?;
        let mut out = std::io::stdout().lock();
        if args.format != Format::Table {
            let doc = serde_json::json!({"from": from, "to": to, "report": report});
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            return Ok(());
        }
        writeln!(out, "SLA report, leads assigned {from} to {to}")?;
        let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.0} %", x * 100.0));
        let hours = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1} h"));
        writeln!(
            out,
            "{:<20} {:>6} {:>8} {:>9} {:>11} {:>9}  compliance per SLA",
            "", "MQLs", "touched", "contact", "1st touch", "p90"
        )?;
        let mut rows = vec![("all".to_string(), &report.total)];
        rows.extend(report.teams.iter().map(|(t, f)| (format!("team {t}"), f)));
        rows.extend(report.reps.iter().map(|(r, f)| (format!("  rep {r}"), f)));
        for (name, f) in rows {
            let policies: Vec<String> = f
                .policies
                .iter()
                .map(|(id, c)| {
                    format!(
                        "{id} {} ({} met, {} breached)",
                        pct(c.compliance),
                        c.met,
                        c.breached
                    )
                })
                .collect();
            writeln!(
                out,
                "{name:<20} {:>6} {:>8} {:>9} {:>11} {:>9}  {}",
                f.mqls,
                f.touched,
                pct(f.contact_rate),
                hours(f.first_touch_median_hours),
                hours(f.first_touch_p90_hours),
                policies.join(", ")
            )?;
        }
        if !report.breaches.is_empty() {
            writeln!(out, "\nbreaches ({}):", report.breaches.len())?;
            for b in report.breaches.iter().take(50) {
                writeln!(
                    out,
                    "  {} {:<14} due {} rep {} {}",
                    b.lead,
                    b.policy,
                    b.due,
                    b.rep.as_deref().unwrap_or("-"),
                    b.done
                        .map_or("not done".to_string(), |d| format!("done late {d}"))
                )?;
            }
        }
        Ok(())
    })
}
