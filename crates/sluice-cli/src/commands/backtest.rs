//! `sluice backtest`: history replayed through one model, or two side by side, as of every
//! moment: when each lead would have become an MQL, and how well those MQLs foretold the
//! opportunities and wins that followed. Reads the files `sluice score` reads plus an outcomes
//! file, or the stored history (`--db`); the replay itself is `sluice_core::backtest`.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};
use sluice_core::backtest::{
    LeadHistory, Metrics, Outcome, OutcomeKind, Period, Replay, SweepPoint, Tally,
    best_within_capacity, sweep_thresholds,
};
use sluice_core::engine::Hit;
use sluice_core::history;
use sluice_core::table::Record;
use sluice_core::{Activity, Attributes, Message, Model, Profile, Timestamp};

use super::import::{created_at, outcome_column};
use crate::input::{self, Matched, Rejections};
use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// A second model file, replayed side by side with the first.
    #[arg(long)]
    against: Option<PathBuf>,
    /// Leads: CSV or JSON Lines, as for `sluice score`.
    #[arg(long, required_unless_present = "db")]
    leads: Option<PathBuf>,
    /// Accounts: CSV or JSON Lines with an `id` column; leads link to them by `account_id`.
    #[arg(long, conflicts_with = "db")]
    accounts: Option<PathBuf>,
    /// Events: JSON Lines in the Segment message format.
    #[arg(long, conflicts_with = "db")]
    events: Option<PathBuf>,
    /// Outcomes: CSV or JSON Lines with `lead_id` (or `email`, `crm_id`), `type` (opportunity,
    /// won, lost), `amount`, `date`, as `sluice generate` writes them. With `--db`, instead of
    /// the stored outcomes.
    #[arg(long, required_unless_present = "db")]
    outcomes: Option<PathBuf>,
    /// Replay the stored history instead of files: the event log and the outcomes of the
    /// database at this URL (`sqlite://PATH` or `postgres://...`).
    #[arg(long, conflicts_with = "leads")]
    db: Option<String>,
    /// Start of the period reported on (RFC 3339 or a date; default: the first event).
    #[arg(long)]
    from: Option<String>,
    /// End of the period reported on (default: --as-of).
    #[arg(long)]
    to: Option<String>,
    /// What is known: events, traits and outcomes after it are left out (default: the latest
    /// time in the data).
    #[arg(long)]
    as_of: Option<String>,
    /// Sales development capacity, in leads a week: which MQL threshold captures the most
    /// revenue within it.
    #[arg(long)]
    capacity: Option<u64>,
    /// Output format (`jsonl` prints the JSON document on one line).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Stop at the first bad row instead of reporting it and going on.
    #[arg(long)]
    strict: bool,
}

/// A lead being replayed: what its ids said, and its outcomes.
struct Lead {
    id: String,
    /// Its creation time, from the leads file.
    created: Option<Timestamp>,
    /// When a message first named one of its ids as a `userId`.
    first_seen: Option<Timestamp>,
    /// Its trait sets in the order they apply (the leads file's row among them).
    traits: Vec<(Timestamp, Attributes)>,
    /// Its `group` calls (and the leads file's `account_id`) in time order.
    groups: Vec<(Timestamp, String)>,
    /// Its attributes at the end of what is known (for `crm_id`).
    attributes: Attributes,
    /// Its activity under each model.
    activities: Vec<Activity>,
    outcomes: Vec<Outcome>,
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    leads: usize,
    leads_from_file: usize,
    leads_from_events: usize,
    messages_read: u64,
    events_replayed: u64,
    messages_after_as_of: u64,
    anonymous_visitors: u64,
    outcomes: u64,
    outcomes_after_as_of: u64,
    rejected_rows: u64,
}

/// The history read so far (through the shared pipeline, `sluice_core::history`), then its
/// leads once every id is joined to the lead it stands for.
struct History<'m> {
    models: &'m [Model],
    as_of: Option<Timestamp>,
    reading: history::History<Vec<Activity>>,
    leads: Vec<Lead>,
    stitched: Option<history::Stitched<Vec<Activity>>>,
    accounts: HashMap<String, Attributes>,
    /// The earliest and latest message times.
    span: Option<(Timestamp, Timestamp)>,
    counts: Counts,
}

impl<'m> History<'m> {
    fn new(models: &'m [Model], as_of: Option<Timestamp>) -> Self {
        History {
            models,
            as_of,
            reading: history::History::new(),
            leads: Vec::new(),
            stitched: None,
            accounts: HashMap::new(),
            span: None,
            counts: Counts::default(),
        }
    }

    /// A row of the leads file.
    fn lead(&mut self, record: Record) {
        // An unreadable creation time is no creation time: the lead's first message is.
        let created = created_at(&record.attributes).ok().flatten();
        self.reading.lead(record.id, record.attributes, created);
    }

    /// Counts a message at `at`; whether it is replayed (not after --as-of).
    fn read(&mut self, at: Timestamp) -> bool {
        self.counts.messages_read += 1;
        if self.as_of.is_some_and(|as_of| at > as_of) {
            self.counts.messages_after_as_of += 1;
            return false;
        }
        self.span = Some(self.span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
        true
    }

    /// A Segment message, at its event time; its event is matched here.
    fn message(&mut self, message: Message, at: Timestamp) {
        if !self.read(at) {
            return;
        }
        let models = self.models;
        if let Some((event, activities)) = self.reading.message(message, at) {
            self.counts.events_replayed += 1;
            if activities.is_empty() {
                *activities = vec![Activity::new(); models.len()];
            }
            for (activity, model) in activities.iter_mut().zip(models) {
                activity.record(model, &event);
            }
        }
    }

    /// A message of an events file, at its event time, with its event's hits per model,
    /// matched as it was read.
    fn matched(&mut self, matched: Matched<'_>, at: Timestamp, hits: &[(usize, Hit)]) {
        if !self.read(at) {
            return;
        }
        let models = self.models.len();
        if let Some(activities) = matched.fold(&mut self.reading, at) {
            self.counts.events_replayed += 1;
            if activities.is_empty() {
                *activities = vec![Activity::new(); models];
            }
            hits.iter().for_each(|(i, hit)| activities[*i].add(*hit));
        }
    }

    /// Joins each id to the lead it stands for, as every reader of history does.
    fn stitch(&mut self) {
        let mut stitched = std::mem::take(&mut self.reading).finish();
        self.accounts = std::mem::take(&mut stitched.accounts);
        self.counts.anonymous_visitors = stitched.visitors as u64;
        self.counts.leads = stitched.leads.len();
        self.counts.leads_from_file = stitched.listed;
        self.counts.leads_from_events = stitched.leads.len() - stitched.listed;
        let models = self.models.len();
        self.leads = std::mem::take(&mut stitched.leads)
            .into_iter()
            .map(|trail| Lead {
                id: trail.id,
                created: trail.created,
                first_seen: trail.first_seen,
                traits: trail.traits,
                groups: trail.groups,
                attributes: trail.attributes,
                activities: if trail.data.is_empty() {
                    vec![Activity::new(); models]
                } else {
                    trail.data
                },
                outcomes: Vec::new(),
            })
            .collect();
        self.stitched = Some(stitched);
    }

    /// Adds an outcome to its lead, unless it is after --as-of.
    fn outcome(&mut self, lead: usize, outcome: Outcome) {
        if self.as_of.is_some_and(|as_of| outcome.at > as_of) {
            self.counts.outcomes_after_as_of += 1;
            return;
        }
        self.counts.outcomes += 1;
        self.leads[lead].outcomes.push(outcome);
    }

    /// The lead an outcome row names: by `lead_id` (or an id it stands for), else `email`,
    /// else `crm_id` (a lead attribute).
    fn find(&self, row: &Attributes, crm_ids: &HashMap<String, usize>) -> Result<usize, String> {
        let text = |field: &str| match row.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (lead_id, email, crm_id) = (text("lead_id"), text("email"), text("crm_id"));
        let stitched = self.stitched.as_ref().expect("stitched before outcomes");
        let by_id = || stitched.find(lead_id.as_deref()?);
        let by_email = || stitched.find(&email.as_deref()?.to_lowercase());
        let by_crm = || crm_ids.get(crm_id.as_deref()?).copied();
        by_id()
            .or_else(by_email)
            .or_else(by_crm)
            .ok_or_else(|| match (lead_id, email, crm_id) {
                (Some(id), _, _) => format!("`lead_id`: no lead `{id}`"),
                (None, Some(email), _) => format!("`email`: no lead with email `{email}`"),
                (None, None, Some(crm)) => format!("`crm_id`: no lead with crm_id `{crm}`"),
                (None, None, None) => "no `lead_id`, `email` or `crm_id`".to_string(),
            })
    }
}

/// An outcomes file's row, checked as `sluice import outcomes` checks it: every problem is
/// named by its field.
fn outcome(row: &Attributes) -> Result<Outcome, String> {
    let mut problems = Vec::new();
    match super::import::outcome_fields(row, &mut problems) {
        Some(fields) => Ok(Outcome {
            kind: match fields.kind.as_str() {
                "won" => OutcomeKind::Won,
                "lost" => OutcomeKind::Lost,
                _ => OutcomeKind::Opportunity,
            },
            at: fields.at,
            amount: fields.amount.unwrap_or(0.0),
        }),
        None => Err(problems.join("; ")),
    }
}

/// Refuses an outcomes file whose header lacks the columns every row needs.
fn check_outcomes_header(path: &Path) -> anyhow::Result<()> {
    if let Some(header) = input::csv_header(path)? {
        let names: Vec<String> = header.iter().map(|h| outcome_column(h)).collect();
        let has = |name: &str| names.iter().any(|n| n == name);
        if !(has("lead_id") || has("email") || has("crm_id")) || !has("type") || !has("date") {
            return Err(UserError(format!(
                "{}:1: an outcomes file needs `lead_id`, `email` or `crm_id`, `type` and `date` columns (columns: {})",
                path.display(),
                header.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

fn read_outcomes(
    path: &Path,
    history: &mut History<'_>,
    rejections: &mut Rejections,
) -> anyhow::Result<()> {
    let crm_ids: HashMap<String, usize> = history
        .leads
        .iter()
        .enumerate()
        .filter_map(|(i, lead)| {
            let crm = lead.attributes.get("crm_id")?;
            Some((
                crm.as_str().map_or_else(|| crm.to_string(), str::to_string),
                i,
            ))
        })
        .collect();
    input::read_rows(path, rejections, &outcome_column, |rejections, row| {
        let found = history
            .find(&row.columns, &crm_ids)
            .and_then(|lead| outcome(&row.columns).map(|o| (lead, o)));
        match found {
            Ok((lead, outcome)) => {
                history.outcome(lead, outcome);
                Ok(())
            }
            Err(error) => rejections.reject(path, row.line, error),
        }
    })
}

fn read_files(
    args: &BacktestArgs,
    history: &mut History<'_>,
    rejections: &mut Rejections,
) -> anyhow::Result<()> {
    let leads = args
        .leads
        .as_ref()
        .expect("clap requires --leads without --db");
    let outcomes = args
        .outcomes
        .as_ref()
        .expect("clap requires --outcomes without --db");
    // Checked first: a wrong outcomes file should not wait for the events file.
    for path in [Some(leads), Some(outcomes), args.accounts.as_ref()]
        .into_iter()
        .chain([args.events.as_ref()])
        .flatten()
    {
        std::fs::metadata(path)
            .map_err(|e| UserError(format!("cannot open {}: {e}", path.display())))?;
    }
    check_outcomes_header(outcomes)?;
    let models = history.models;
    if let Some(events) = &args.events {
        input::require_events_file(events)?;
    }
    // The leads and accounts files, read while the events file's first chunks are parsed.
    let read_tables = move |rejections: &mut Rejections| {
        input::read_records(leads, rejections, |record| history.lead(record))?;
        if let Some(path) = &args.accounts {
            input::read_records(path, rejections, |record| {
                history.reading.account(record.id, &record.attributes);
            })?;
        }
        anyhow::Ok(history)
    };
    let history = match &args.events {
        None => read_tables(rejections)?,
        Some(path) => {
            let bar = spinner("{spinner} {pos} messages read ({per_sec})");
            let models: Vec<&Model> = models.iter().collect();
            let history = input::read_matched(
                path,
                rejections,
                &models,
                read_tables,
                |history, matched, at, hits| {
                    history.matched(matched, at, hits);
                    if history.counts.messages_read.is_multiple_of(65_536) {
                        bar.set_position(history.counts.messages_read);
                    }
                },
            )?;
            bar.finish_and_clear();
            history
        }
    };
    history.stitch();
    read_outcomes(outcomes, history, rejections)
}

/// Events from the stored event log, page by page; outcomes from the database's outcomes
/// table (or `outcomes`, a file).
fn read_db(
    db: &str,
    outcomes: Option<&Path>,
    history: &mut History<'_>,
    rejections: &mut Rejections,
) -> anyhow::Result<()> {
    const PAGE: i64 = 10_000;
    if let Some(path) = outcomes {
        std::fs::metadata(path)
            .map_err(|e| UserError(format!("cannot open {}: {e}", path.display())))?;
        check_outcomes_header(path)?;
    }
    super::handoff::runtime()?.block_on(async {
        let store = super::import::connect(db).await?;
        let bar = spinner("{spinner} {pos} stored messages read ({per_sec})");
        let mut after = 0;
        loop {
            let page = store
                .events_after(after, PAGE)
                .await
                .context("cannot read the event log")?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for stored in page {
                // Stored messages passed every check when they came in.
                if let Ok(message) = serde_json::from_str::<Message>(&stored.message) {
                    history.message(message, Timestamp::from_millis(stored.at_ms));
                }
            }
            bar.set_position(history.counts.messages_read);
        }
        bar.finish_and_clear();
        history.stitch();
        if outcomes.is_some() {
            return Ok(());
        }
        for i in 0..history.leads.len() {
            let rows = store
                .outcomes_of(&history.leads[i].id)
                .await
                .context("cannot read the outcomes")?;
            for row in rows {
                let kind = match row.kind.as_str() {
                    "opportunity" => OutcomeKind::Opportunity,
                    "won" => OutcomeKind::Won,
                    _ => OutcomeKind::Lost,
                };
                let outcome = Outcome {
                    kind,
                    at: Timestamp::from_millis(row.at_ms),
                    amount: row.amount.unwrap_or(0.0),
                };
                history.outcome(i, outcome);
            }
        }
        anyhow::Ok(())
    })?;
    match outcomes {
        Some(path) => read_outcomes(path, history, rejections),
        None => Ok(()),
    }
}

/// One model's results, as printed.
#[derive(Serialize)]
struct ModelReport {
    /// The model file.
    file: String,
    name: String,
    version: String,
    /// Its MQL threshold.
    mql: f64,
    #[serde(flatten)]
    metrics: Metrics,
    /// The model with its threshold at 10 %..300 % of `mql`.
    sweep: Vec<SweepPoint>,
    /// The sweep point that captures the most revenue within --capacity.
    best_within_capacity: Option<SweepPoint>,
}

/// Runs `sluice backtest`.
pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    if args.capacity == Some(0) {
        return Err(UserError("--capacity must be at least 1 (leads a week)".into()).into());
    }
    let mut files = vec![args.model.clone()];
    files.extend(args.against.clone());
    let models: Vec<Model> = files
        .iter()
        .map(|path| super::model::load(path))
        .collect::<anyhow::Result<_>>()?;
    let time = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(Timestamp::parse)
            .transpose()
            .map_err(|e| UserError(format!("{flag}: {e}")))
    };
    let (from, to, as_of) = (
        time("--from", &args.from)?,
        time("--to", &args.to)?,
        time("--as-of", &args.as_of)?,
    );

    let mut rejections = Rejections::new(args.strict);
    let mut history = History::new(&models, as_of);
    match &args.db {
        Some(db) => read_db(db, args.outcomes.as_deref(), &mut history, &mut rejections)?,
        None => read_files(&args, &mut history, &mut rejections)?,
    }
    history.counts.rejected_rows = rejections.count;

    let outcome_span = history
        .leads
        .iter()
        .flat_map(|l| &l.outcomes)
        .map(|o| o.at)
        .fold(None, |span: Option<(Timestamp, Timestamp)>, at| {
            Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))))
        });
    let Some((first, last)) = [history.span, outcome_span]
        .into_iter()
        .flatten()
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    else {
        return Err(UserError("nothing to replay: no events and no outcomes".into()).into());
    };
    // Without --as-of, everything read is known: up to the data's end, or --to if later.
    let as_of = as_of.unwrap_or_else(|| to.map_or(last, |to| to.max(last)));
    let to = to.unwrap_or(as_of);
    let from = from.unwrap_or(history.span.map_or(first, |s| s.0));
    if to > as_of {
        return Err(UserError(format!("--to {to} is after --as-of {as_of}")).into());
    }
    if from >= to {
        return Err(UserError(format!("--from {from} must be before --to {to}")).into());
    }
    let period = Period { from, to };

    let reports = replay(&models, &files, &mut history, period, args.capacity);

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let doc = || {
        json!({
            "period": {"from": from, "to": to, "as_of": as_of, "weeks": (period.weeks() * 100.0).round() / 100.0},
            "capacity": args.capacity,
            "data": history.counts,
            "models": reports,
            "rejected": rejections.rows,
        })
    };
    match args.format {
        Format::Table => print_table(
            &mut out,
            &period,
            as_of,
            &history.counts,
            &reports,
            args.capacity,
        )?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&doc())?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(&doc())?)?,
    }
    out.flush()?;
    drop(out);

    if args.format == Format::Table || rejections.count > 0 {
        for r in rejections.rows.iter().take(20) {
            eprintln!("rejected {}:{}: {}", r.file, r.line, r.error);
        }
        if rejections.count > 20 {
            eprintln!("... and {} more rejected rows", rejections.count - 20);
        }
        let c = &history.counts;
        eprintln!(
            "replayed {} leads, {} events and {} outcomes; {} messages after --as-of, {} anonymous visitors never identified; {} rows rejected",
            c.leads,
            c.events_replayed,
            c.outcomes,
            c.messages_after_as_of,
            c.anonymous_visitors,
            rejections.count
        );
    }
    Ok(())
}

/// Replays every lead through every model (each with its threshold sweep, in one walk per lead
/// and model) and adds up the results.
fn replay(
    models: &[Model],
    files: &[PathBuf],
    history: &mut History<'_>,
    period: Period,
    capacity: Option<u64>,
) -> Vec<ModelReport> {
    let (from, to) = (period.from, period.to);
    let sweeps: Vec<Vec<(f64, f64)>> = models
        .iter()
        .map(|m| sweep_thresholds(m.thresholds().mql))
        .collect();
    let thresholds: Vec<Vec<f64>> = models
        .iter()
        .zip(&sweeps)
        .map(|(m, sweep)| {
            std::iter::once(m.thresholds().mql)
                .chain(sweep.iter().map(|&(_, t)| t))
                .collect()
        })
        .collect();
    let replays: Vec<Replay<'_>> = models.iter().map(Replay::new).collect();
    let mut tallies: Vec<Vec<Tally>> = models
        .iter()
        .zip(&thresholds)
        .map(|(_, t)| vec![Tally::new(period); t.len()])
        .collect();
    let bar = if crate::interactive() {
        let bar = ProgressBar::new(history.leads.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} leads replayed ({per_sec})")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let start_of_history = history.span.map_or(from, |s| s.0);
    let no_activity = Activity::new();
    let mut leads = std::mem::take(&mut history.leads);
    for (n, lead) in leads.iter_mut().enumerate() {
        if n.is_multiple_of(4096) {
            bar.set_position(n as u64);
        }
        // A lead can be an MQL from the moment it is known: its creation, else its first
        // message under its own id.
        let known = [lead.created, lead.first_seen]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(start_of_history);
        let versions = versions(lead, known);
        let accounts = &history.accounts;
        let changes: Vec<(Timestamp, Profile<'_>)> = versions[1..]
            .iter()
            .map(|v| (v.at, v.profile(accounts)))
            .collect();
        for (m, replay) in replays.iter().enumerate() {
            let lead_history = LeadHistory {
                profile: versions[0].profile(accounts),
                changes: &changes,
                activity: lead.activities.get(m).unwrap_or(&no_activity),
            };
            let found = replay.first_mqls(&lead_history, known, to, &thresholds[m]);
            for (tally, mql) in tallies[m].iter_mut().zip(found) {
                tally.add(mql, &lead.outcomes);
            }
        }
    }
    bar.finish_and_clear();

    let reports: Vec<ModelReport> = models
        .iter()
        .zip(files)
        .zip(tallies)
        .zip(&sweeps)
        .map(|(((model, file), tallies), thresholds)| {
            let mql = model.thresholds().mql;
            let mut tallies = tallies.into_iter();
            let metrics = tallies.next().expect("one tally per threshold").finish();
            let sweep: Vec<SweepPoint> = thresholds
                .iter()
                .zip(tallies)
                .map(|(&(share, threshold), tally)| {
                    SweepPoint::new(share, threshold, &tally.finish(), capacity)
                })
                .collect();
            ModelReport {
                file: file.display().to_string(),
                name: model.name().to_string(),
                version: model.version().to_string(),
                mql,
                metrics,
                best_within_capacity: best_within_capacity(&sweep).cloned(),
                sweep,
            }
        })
        .collect();

    reports
}

/// Who a lead is from a moment on: its attributes, and its account's id.
struct Version {
    at: Timestamp,
    attributes: Attributes,
    account: Option<String>,
}

impl Version {
    fn profile<'a>(&'a self, accounts: &'a HashMap<String, Attributes>) -> Profile<'a> {
        Profile {
            lead: &self.attributes,
            account: self.account.as_ref().and_then(|a| accounts.get(a)),
        }
    }
}

/// A lead's profile versions: the one it has when it becomes known (every trait set and
/// `group` call up to then, the leads file's row among them), then one for each later time its
/// traits or account changed. Trait sets come in the order they apply
/// (`sluice_core::history::timeline`); the latest `group` call names the account.
fn versions(lead: &mut Lead, known: Timestamp) -> Vec<Version> {
    let traits = std::mem::take(&mut lead.traits);
    let groups = std::mem::take(&mut lead.groups);
    let mut times: Vec<Timestamp> = traits
        .iter()
        .map(|t| t.0)
        .chain(groups.iter().map(|g| g.0))
        .filter(|&t| t > known)
        .collect();
    times.sort_unstable();
    times.dedup();
    let (mut traits, mut groups) = (traits.into_iter().peekable(), groups.into_iter().peekable());
    let mut attributes = Attributes::new();
    let mut account = None;
    let mut versions = Vec::with_capacity(times.len() + 1);
    for at in std::iter::once(known).chain(times) {
        while let Some((_, t)) = traits.next_if(|t| t.0 <= at) {
            attributes.extend(t);
        }
        while let Some((_, g)) = groups.next_if(|g| g.0 <= at) {
            account = Some(g);
        }
        versions.push(Version {
            at,
            attributes: attributes.clone(),
            account: account.clone(),
        });
    }
    versions
}

fn spinner(template: &str) -> ProgressBar {
    if !crate::interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}

fn print_table(
    out: &mut impl Write,
    period: &Period,
    as_of: Timestamp,
    counts: &Counts,
    reports: &[ModelReport],
    capacity: Option<u64>,
) -> anyhow::Result<()> {
    let day = |t: Timestamp| t.to_string()[..10].to_string();
    let first = &reports[0].metrics;
    writeln!(
        out,
        "Backtest {} → {} ({:.1} weeks), as of {}: {} leads, {} events; {} opportunities ({} pipeline), {} wins ({} bookings)",
        day(period.from),
        day(period.to),
        period.weeks(),
        as_of,
        counts.leads,
        counts.events_replayed,
        first.opportunities,
        dollars(first.pipeline),
        first.wins,
        dollars(first.revenue),
    )?;
    let mut labels: Vec<String> = reports
        .iter()
        .map(|r| format!("{} {}", r.name, r.version))
        .collect();
    if labels.len() == 2 && labels[0] == labels[1] {
        labels = reports.iter().map(|r| r.file.clone()).collect();
    }
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(22);
    let row = |out: &mut dyn Write, name: &str, cells: Vec<String>| -> std::io::Result<()> {
        write!(out, "{name:<34}")?;
        for cell in cells {
            write!(out, " {cell:>width$}")?;
        }
        writeln!(out)
    };
    writeln!(out)?;
    row(out, "", labels.clone())?;
    let cells = |f: &dyn Fn(&ModelReport) -> String| reports.iter().map(f).collect::<Vec<_>>();
    row(out, "MQL threshold", cells(&|r| decimal(r.mql)))?;
    row(out, "MQLs", cells(&|r| r.metrics.mqls.to_string()))?;
    row(
        out,
        "MQLs a week (busiest week)",
        cells(&|r| format!("{:.1} ({})", r.metrics.mqls_per_week, r.metrics.peak_week)),
    )?;
    let of = |part: u64, whole: u64, share: Option<f64>| {
        format!("{part} of {whole}, {}", percent(share))
    };
    row(
        out,
        "recall: opportunities qualified",
        cells(&|r| {
            let m = &r.metrics;
            of(
                m.opportunities_captured,
                m.opportunities,
                m.recall_opportunities,
            )
        }),
    )?;
    row(
        out,
        "recall: wins qualified",
        cells(&|r| {
            let m = &r.metrics;
            of(m.wins_captured, m.wins, m.recall_wins)
        }),
    )?;
    row(
        out,
        "precision: MQLs to opportunity",
        cells(&|r| {
            let m = &r.metrics;
            of(m.mqls_to_opportunity, m.mqls, m.precision_opportunities)
        }),
    )?;
    row(
        out,
        "precision: MQLs won",
        cells(&|r| {
            let m = &r.metrics;
            of(m.mqls_won, m.mqls, m.precision_wins)
        }),
    )?;
    let captured = |part: f64, whole: f64| {
        let share = (whole > 0.0).then(|| part / whole);
        format!("{} ({})", dollars(part), percent(share))
    };
    row(
        out,
        "pipeline captured",
        cells(&|r| captured(r.metrics.pipeline_captured, r.metrics.pipeline)),
    )?;
    row(
        out,
        "revenue captured (bookings)",
        cells(&|r| captured(r.metrics.revenue_captured, r.metrics.revenue)),
    )?;
    row(
        out,
        "median days, MQL to opportunity",
        cells(&|r| {
            r.metrics
                .median_days_to_opportunity
                .map_or("-".to_string(), |d| format!("{d:.1}"))
        }),
    )?;

    for (report, label) in reports.iter().zip(&labels) {
        writeln!(out)?;
        match capacity {
            Some(c) => writeln!(
                out,
                "Capacity, {label}: {c} leads a week; the model's rules with the MQL threshold varied"
            )?,
            None => writeln!(
                out,
                "Thresholds, {label}: the model's rules with the MQL threshold varied (--capacity N says which fits)"
            )?,
        }
        writeln!(
            out,
            "{:>6} {:>10} {:>6} {:>10} {:>8} {:>5} {:>16} {:>17} {:>7}",
            "share",
            "threshold",
            "MQLs",
            "a week",
            "busiest",
            "fits",
            "revenue captured",
            "pipeline captured",
            "recall"
        )?;
        for p in &report.sweep {
            let best = report
                .best_within_capacity
                .as_ref()
                .is_some_and(|b| b.share == p.share);
            writeln!(
                out,
                "{:>5.0}% {:>10} {:>6} {:>10.1} {:>8} {:>5} {:>16} {:>17} {:>7}{}",
                p.share * 100.0,
                decimal(p.threshold),
                p.mqls,
                p.mqls_per_week,
                p.peak_week,
                match p.fits {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                },
                dollars(p.revenue_captured),
                dollars(p.pipeline_captured),
                percent(p.recall_opportunities),
                if best {
                    "  ← best within capacity"
                } else {
                    ""
                }
            )?;
        }
        match (&report.best_within_capacity, capacity) {
            (Some(b), Some(_)) => writeln!(
                out,
                "best within capacity: threshold {} ({:.0} % of {}): {:.1} MQLs a week, {} revenue captured",
                decimal(b.threshold),
                b.share * 100.0,
                decimal(report.mql),
                b.mqls_per_week,
                dollars(b.revenue_captured)
            )?,
            (None, Some(c)) => writeln!(out, "no threshold tried keeps MQLs within {c} a week")?,
            _ => {}
        }
    }
    Ok(())
}

/// Dollars with thousands separators, no cents.
fn dollars(amount: f64) -> String {
    let whole = amount.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}", if whole < 0 { "-" } else { "" })
}

fn percent(share: Option<f64>) -> String {
    share.map_or("-".to_string(), |s| format!("{:.1} %", s * 100.0))
}

/// A threshold as written: up to two decimals, none when whole.
fn decimal(x: f64) -> String {
    let text = format!("{x:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_money() {
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(dollars(999.4), "$999");
        assert_eq!(dollars(1_234_567.0), "$1,234,567");
        assert_eq!(dollars(-1000.0), "-$1,000");
        assert_eq!(decimal(100.0), "100");
        assert_eq!(decimal(12.5), "12.5");
        assert_eq!(decimal(110.00000000000001), "110");
    }
}
