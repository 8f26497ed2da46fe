//! `sluice learn`: which leads convert, learned from a CSV file of past leads and outcomes, or
//! from the history: the leads, accounts and events files `sluice score` reads and the
//! outcomes sales reported. Reads the files (stitching identities as `sluice score` does),
//! hands the table to `sluice-learn`, prints the report, writes the suggested points model.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;
use sluice_core::{
    Activity, Attributes, HalfLife, Message, Model, Profile, Qualification, Span, Timestamp,
};
use sluice_learn::gbm::GbmParams;
use sluice_learn::history::{
    self, Action, HistorySummary, Label, LeadHistory, Outcome, OutcomeKind, Touch,
};
use sluice_learn::learn::{SuggestSettings, Threshold};
use sluice_learn::{
    Dataset, HistorySettings, LearnError, ModelKind, RawTable, Report, Roles, Settings,
};

use crate::input::{self, Rejected, Rejections};
use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// Past leads: a CSV file with the outcome in a column (`--label COLUMN`); with
    /// `--outcomes`, a leads file as `sluice score` reads it (CSV or JSON Lines).
    #[arg(long)]
    leads: Option<PathBuf>,
    /// Learn from the stored history instead of files: the event log and the outcomes of the
    /// database at this URL (`sqlite://PATH` or `postgres://...`).
    #[arg(long)]
    db: Option<String>,
    /// The outcome: a column of 0/1, yes/no or true/false; from the history, `opportunity`
    /// (the default) or `won`.
    #[arg(long)]
    label: Option<String>,
    /// Outcomes sales reported (CSV or JSON Lines: `lead_id` or `email`, `type`, `date`):
    /// learn from the history of leads, accounts, events and outcomes.
    #[arg(long)]
    outcomes: Option<PathBuf>,
    /// With `--outcomes`: the leads' events, JSON Lines of Segment messages.
    #[arg(long)]
    events: Option<PathBuf>,
    /// With `--outcomes`: accounts (CSV or JSON Lines with an `id` column).
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// From the history (`--outcomes` or `--db`): how long each lead is watched after its creation, e.g. `90d` (the
    /// default), or `none` (up to the end of the data).
    #[arg(long)]
    horizon: Option<String>,
    /// From the history: the half-life of the decayed counts and the suggested engagement
    /// rules, e.g. `30d` (the default) or `never`.
    #[arg(long)]
    half_life: Option<String>,
    /// From the history: the end of the data (default: just after the latest event or
    /// outcome).
    #[arg(long)]
    end: Option<String>,
    /// From the history: the active model. It is judged on the same leads at the same
    /// moments, and the suggested model's MQL threshold is set so that as many leads reach it
    /// (out of fold) as the active model qualifies, so the two compare at equal volume.
    #[arg(long)]
    against: Option<PathBuf>,
    /// The label's values that are the outcome, comma-separated (e.g. `Closed Won`): then every
    /// other value is not, or with --negative, is left out. By default 1/0, yes/no, true/false,
    /// won/lost and closed won/closed lost are read; an empty label leaves its row out.
    #[arg(long, value_delimiter = ',')]
    positive: Vec<String>,
    /// The label's values that are not the outcome, comma-separated (e.g. `Closed Lost`): with
    /// --positive, rows with any other value (open deals) are left out and counted.
    #[arg(long, value_delimiter = ',')]
    negative: Vec<String>,
    /// A text that stands for a missing value in this file (repeatable), besides an empty cell
    /// and N/A, #N/A, -, null, none, NaN and (blank): e.g. a form's placeholder, `Select`.
    #[arg(long)]
    missing: Vec<String>,
    /// Columns to leave out, comma-separated: fields filled in after the outcome is known.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Identifier columns to leave out, comma-separated (text columns whose every value is
    /// distinct are left out anyway).
    #[arg(long, value_delimiter = ',')]
    id_column: Vec<String>,
    /// A creation-time column (RFC 3339 or YYYY-MM-DD): also train on the earliest 80 % of
    /// rows and test on the latest 20 %. From the history: when each lead was created
    /// (default `created_at` when the leads have it, else their first identified event).
    #[arg(long)]
    time_column: Option<String>,
    /// Folds of the stratified cross-validation.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Seed of every random choice: the same seed gives the same report.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Models to validate, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ModelArg::Nb, ModelArg::Logistic, ModelArg::Gbm])]
    models: Vec<ModelArg>,
    /// Flag a column when it alone predicts the label with at least this ROC AUC.
    #[arg(long, default_value_t = 0.95)]
    leakage_threshold: f64,
    /// The suggested MQL threshold: the MQLs a week sales can work (needs the leads' creation
    /// times: --time-column, or the history).
    #[arg(long)]
    capacity: Option<f64>,
    /// The suggested MQL threshold: the share of leads that qualify (`0.1` or `10%`).
    #[arg(long)]
    mql_share: Option<String>,
    /// The suggested MQL threshold: the lowest score whose MQLs convert at least this often
    /// (`0.4` or `40%`).
    #[arg(long)]
    precision: Option<String>,
    /// The suggested MQL threshold: the highest score whose MQLs hold at least this share of
    /// conversions (`0.8` or `80%`).
    #[arg(long)]
    recall: Option<String>,
    /// Write a suggested points model (Sluice's model language) to this file.
    #[arg(long)]
    suggest: Option<PathBuf>,
    /// Most boosting rounds (fewer is faster; early stopping usually stops well before).
    #[arg(long, default_value_t = GbmParams::default().max_rounds)]
    gbm_max_rounds: usize,
    /// Output format (`jsonl` prints the JSON document on one line).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// A model named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelArg {
    /// Naive Bayes.
    Nb,
    /// L2 logistic regression.
    Logistic,
    /// Gradient-boosted trees.
    Gbm,
}

impl From<ModelArg> for ModelKind {
    fn from(arg: ModelArg) -> ModelKind {
        match arg {
            ModelArg::Nb => ModelKind::NaiveBayes,
            ModelArg::Logistic => ModelKind::Logistic,
            ModelArg::Gbm => ModelKind::Gbm,
        }
    }
}

/// The JSON document: the report, with the file it is about.
#[derive(Serialize)]
struct Output<'a> {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<HistoryOutput<'a>>,
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_file: Option<String>,
    rejected_rows: u64,
    rejected: &'a [Rejected],
}

/// The history mode's part of the JSON document.
#[derive(Serialize)]
struct HistoryOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    accounts: Option<String>,
    events: Option<String>,
    outcomes: Option<String>,
    #[serde(flatten)]
    summary: &'a HistorySummary,
    messages: u64,
    outcome_rows: u64,
    unmatched_outcomes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    against: Option<&'a Against>,
}

/// The active model, judged on the rows the learner used, at their cut-offs.
#[derive(Serialize)]
struct Against {
    /// The model file.
    file: String,
    /// Its name and version.
    model: String,
    /// Its MQL threshold.
    mql: f64,
    /// Share of the rows it qualifies at their cut-off.
    share: f64,
    /// Of those, the share that converted.
    precision: f64,
    /// Share of the conversions it qualifies.
    recall: f64,
    /// ROC AUC of its scores at the cut-offs.
    roc_auc: f64,
}

pub fn run(args: LearnArgs) -> anyhow::Result<()> {
    let history = args.outcomes.is_some() || args.db.is_some();
    if args.db.is_some() {
        let files = [
            ("--leads", args.leads.is_some()),
            ("--events", args.events.is_some()),
            ("--outcomes", args.outcomes.is_some()),
            ("--accounts", args.accounts.is_some()),
        ];
        if let Some((flag, _)) = files.iter().find(|(_, given)| *given) {
            return Err(UserError(format!(
                "{flag}: --db reads the leads, events and outcomes from the database; leave out the files"
            ))
            .into());
        }
    }
    let source = match (&args.db, &args.leads) {
        (Some(db), _) => db.clone(),
        (None, Some(leads)) => leads.display().to_string(),
        (None, None) => {
            return Err(UserError(
                "--leads: name the leads file (or learn from the database with --db)".into(),
            )
            .into());
        }
    };
    if !history {
        let history_only = [
            ("--events", args.events.is_some()),
            ("--accounts", args.accounts.is_some()),
            ("--horizon", args.horizon.is_some()),
            ("--half-life", args.half_life.is_some()),
            ("--end", args.end.is_some()),
            ("--against", args.against.is_some()),
        ];
        if let Some((flag, _)) = history_only.iter().find(|(_, given)| *given) {
            return Err(UserError(format!(
                "{flag} is for learning from the history: give the outcomes with --outcomes (or use --db)"
            ))
            .into());
        }
    } else {
        let file_only = [
            ("--positive", !args.positive.is_empty()),
            ("--negative", !args.negative.is_empty()),
            ("--missing", !args.missing.is_empty()),
        ];
        if let Some((flag, _)) = file_only.iter().find(|(_, given)| *given) {
            return Err(UserError(format!(
                "{flag} is for a leads file with its outcome in a column (--leads with --label): from the history, outcomes come from --outcomes"
            ))
            .into());
        }
    }
    let label = match (&args.label, history) {
        (Some(label), _) => label.clone(),
        (None, true) => Label::Opportunity.as_str().to_string(),
        (None, false) => {
            return Err(UserError(
                "--label: name the outcome column (or learn from the history with --outcomes)"
                    .into(),
            )
            .into());
        }
    };
    let mut models: Vec<ModelKind> = Vec::new();
    for m in &args.models {
        let kind = ModelKind::from(*m);
        if !models.contains(&kind) {
            models.push(kind);
        }
    }
    let defaults = Settings::default();
    let mut settings = Settings {
        folds: args.folds,
        seed: args.seed,
        models,
        leakage_threshold: args.leakage_threshold,
        gbm: GbmParams {
            max_rounds: args.gbm_max_rounds.max(1),
            ..defaults.gbm.clone()
        },
        suggest: args.suggest.as_ref().map(|_| SuggestSettings {
            name: model_name(&label),
            source: sources(&args),
        }),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..defaults
    };
    let aims = [
        ("--capacity", args.capacity.is_some()),
        ("--mql-share", args.mql_share.is_some()),
        ("--precision", args.precision.is_some()),
        ("--recall", args.recall.is_some()),
    ];
    let given: Vec<&str> = aims.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
    if given.len() > 1 {
        return Err(UserError(format!(
            "{}: give one aim for the MQL threshold",
            given.join(", ")
        ))
        .into());
    }
    if let Some(share) = &args.mql_share {
        settings.threshold = Threshold::Share(fraction("--mql-share", share)?);
    }
    if let Some(p) = &args.precision {
        settings.threshold = Threshold::Precision(fraction("--precision", p)?);
    }
    if let Some(r) = &args.recall {
        settings.threshold = Threshold::Recall(fraction("--recall", r)?);
    }
    if let Some(c) = args.capacity
        && !(c.is_finite() && c > 0.0)
    {
        return Err(UserError(format!("--capacity {c}: MQLs a week, above 0")).into());
    }
    // No need to read a large file to refuse the settings.
    settings.check().map_err(|e| located(&source, e))?;
    let active = args
        .against
        .as_ref()
        .map(|path| super::model::load(path).map(|model| (path, model)))
        .transpose()?;
    let mut against = None;
    let (data, rejections, read) = if history {
        let active_model = active.as_ref().map(|(_, m)| m);
        let (history, leads, rejections, read) = match &args.db {
            Some(db) => read_database(db, &args, &label, active_model)?,
            None => read_history(&args, &label, active_model)?,
        };
        if let (Some((path, model)), Some(activities)) = (&active, &read.activities) {
            let judged = judge(path, model, &history, &leads, activities);
            let rows = history.data.len().max(2) as f64;
            // An aim given on the command line wins; else the two compare at equal volume.
            if settings.threshold == Threshold::BestF1 {
                settings.threshold =
                    Threshold::ActiveVolume(judged.share.clamp(1.0 / rows, 1.0 - 1.0 / rows));
            }
            against = Some(judged);
        }
        (history.data, rejections, Some((history.summary, read)))
    } else {
        let (data, rejections) = read_csv(&args, &label)?;
        (data, rejections, None)
    };
    if let Some(capacity) = args.capacity {
        settings.threshold = Threshold::Share(capacity_share(capacity, &data)?);
    }
    let report = sluice_learn::learn(&data, &settings).map_err(|e| located(&source, e))?;
    let mut written = None;
    if let (Some(path), Some(suggestion)) = (&args.suggest, &report.suggestion)
        && suggestion.adoptable()
    {
        std::fs::write(path, &suggestion.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written = Some(path.display().to_string());
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let document = Output {
        file: source.clone(),
        history: read.as_ref().map(|(summary, read)| HistoryOutput {
            database: args.db.clone(),
            accounts: args.accounts.as_ref().map(|p| p.display().to_string()),
            events: args.events.as_ref().map(|p| p.display().to_string()),
            outcomes: args.outcomes.as_ref().map(|p| p.display().to_string()),
            summary,
            messages: read.messages,
            outcome_rows: read.outcomes,
            unmatched_outcomes: read.unmatched,
            against: against.as_ref(),
        }),
        report: &report,
        suggested_file: written,
        rejected_rows: rejections.count,
        rejected: &rejections.rows,
    };
    match args.format {
        Format::Table => {
            for r in rejections.rows.iter().take(5) {
                eprintln!("warning: skipped {}:{}: {}", r.file, r.line, r.error);
            }
            if rejections.count > 5 {
                eprintln!(
                    "warning: ... and {} more skipped rows",
                    rejections.count - 5
                );
            }
            for warning in &report.leakage.warnings {
                eprintln!("warning: {}", warning.message);
            }
            for suspect in &report.leakage.suspects {
                eprintln!("warning: possible partial leak: {}", suspect.message);
            }
            for warning in report.suggestion.iter().flat_map(|s| &s.warnings) {
                eprintln!("warning: suggested model: {warning}");
            }
            print_table(&mut out, &document)?;
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(&document)?)?,
    }
    out.flush()?;
    Ok(())
}

/// A share given as `0.1` or `10%`, strictly between 0 and 1.
fn fraction(flag: &str, text: &str) -> Result<f64, UserError> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    };
    match value {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(UserError(format!(
            "{flag} {text}: a share between 0 and 1 (`0.4`) or a percentage (`40%`)"
        ))),
    }
}

/// The share of leads that `capacity` MQLs a week make over the weeks the leads were created
/// in.
fn capacity_share(capacity: f64, data: &Dataset) -> Result<f64, UserError> {
    let times = data.times.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| {
        UserError(
            "--capacity needs the leads' creation times: name their column with --time-column (or learn from the history)".into(),
        )
    })?;
    let (first, last) = times
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    let weeks = ((last - first) as f64 / (7.0 * 86_400_000.0)).max(1.0);
    let rows = times.len() as f64;
    Ok((capacity * weeks / rows).clamp(1.0 / rows, 1.0 - 1.0 / rows))
}

/// Reads the leads file into a dataset; bad rows are skipped and reported.
fn read_csv(args: &LearnArgs, label: &str) -> anyhow::Result<(Dataset, Rejections)> {
    let path = args.leads.as_ref().expect("checked before");
    let source = path.display().to_string();
    std::fs::metadata(path)
        .map_err(|e| UserError(format!("cannot open {}: {e}", path.display())))?;
    let Some(headers) = input::csv_header(path)? else {
        return Err(UserError(format!(
            "{}: `sluice learn` reads CSV files (name it .csv)",
            path.display()
        ))
        .into());
    };
    let mut raw = RawTable::new(headers.clone());
    let mut rejections = Rejections::new(false);
    let mut cells: Vec<String> = Vec::with_capacity(headers.len());
    input::read_rows(path, &mut rejections, &|h| h.to_string(), |_, row| {
        cells.clear();
        cells.extend(
            headers
                .iter()
                .map(|h| row.columns.get(h).map_or_else(String::new, text)),
        );
        raw.push(row.line, cells.iter().map(String::as_str))
            .map_err(|e| located(&source, e).into())
    })?;
    if raw.is_empty() {
        return Err(UserError(format!("{}: no rows to learn from", path.display())).into());
    }
    let roles = Roles {
        label: label.to_string(),
        exclude: args.exclude.clone(),
        id_columns: args.id_column.clone(),
        time_column: args.time_column.clone(),
        max_levels: None,
        missing: sluice_learn::Missing::with(&args.missing),
        labels: sluice_learn::Labels {
            positive: args.positive.clone(),
            negative: args.negative.clone(),
        },
    };
    let data = Dataset::build(raw, &roles).map_err(|e| located(&source, e))?;
    Ok((data, rejections))
}

/// What reading the history files counted.
struct ReadCounts {
    /// Messages in the events file.
    messages: u64,
    /// Rows of the outcomes file that were read.
    outcomes: u64,
    /// Of those, rows naming no known lead.
    unmatched: u64,
    /// Per lead, its activity under the active model (with `--against`).
    activities: Option<Vec<Activity>>,
}

/// What one id's events gather for learning (merged when ids join one lead).
#[derive(Default)]
struct Seen {
    touches: Vec<Touch>,
    /// What the active model's engagement rules matched (with `--against`).
    activity: Activity,
}

impl sluice_core::history::Gather for Seen {
    fn absorb(&mut self, other: Seen) {
        self.touches.extend(other.touches);
        self.activity.absorb(other.activity);
    }
}

/// The columns of an outcomes file (matched ignoring case), as `sluice import outcomes` reads it.
const OUTCOME_COLUMNS: [&str; 6] = ["lead_id", "email", "type", "amount", "date", "reason"];

/// The history as read so far, through the shared pipeline (`sluice_core::history`); then one
/// row per lead once every id is joined to the lead it stands for.
#[derive(Default)]
struct Gathered {
    reading: sluice_core::history::History<Seen>,
    stitched: Option<sluice_core::history::Stitched<Seen>>,
    leads: Vec<LeadHistory>,
    actions: Vec<Action>,
    action_index: HashMap<Action, u32>,
    /// Per lead once ids are joined: its trail.
    trails: Vec<sluice_core::history::LeadTrail<Seen>>,
    messages: u64,
    outcome_rows: u64,
    unmatched: u64,
}

impl Gathered {
    /// A lead of the leads file.
    fn lead(&mut self, id: String, attributes: Attributes) {
        let created = super::import::created_at(&attributes).ok().flatten();
        self.reading.lead(id, attributes, created);
    }

    /// One Segment message, as every reader of history folds it.
    fn message(&mut self, message: Message, at: Timestamp, active: Option<&Model>) {
        self.messages += 1;
        let Some((event, seen)) = self.reading.message(message, at) else {
            return;
        };
        if let Some(model) = active {
            seen.activity.record(model, &event);
        }
        let Some(action) = Action::of(&event) else {
            return;
        };
        let next = self.actions.len() as u32;
        let actions = &mut self.actions;
        let action = *self
            .action_index
            .entry(action)
            .or_insert_with_key(|action| {
                actions.push(action.clone());
                next
            });
        seen.touches.push(Touch { at, action });
    }

    /// Each id joins the lead it stands for. A `userId` no file lists is a lead of its own; an
    /// anonymous id never identified is only a visitor.
    fn join(&mut self) {
        let mut stitched = std::mem::take(&mut self.reading).finish();
        self.trails = std::mem::take(&mut stitched.leads);
        self.leads = self
            .trails
            .iter()
            .map(|trail| LeadHistory {
                id: trail.id.clone(),
                ..LeadHistory::default()
            })
            .collect();
        self.stitched = Some(stitched);
    }

    /// The lead an outcome names, by its id (or an id it stands for), else by its email.
    fn lead_of(&self, lead_id: Option<&str>, email: Option<&str>) -> Option<usize> {
        let stitched = self.stitched.as_ref()?;
        lead_id
            .and_then(|id| stitched.find(id))
            .or_else(|| stitched.find(&email?.to_lowercase()))
    }

    /// Finishes each lead: its creation time (the attribute `time_column`, by default
    /// `created_at` when leads have it, else its first identified event), traits in the
    /// order they apply, what it did, its account. Returns each lead's activity under the
    /// active model, and the time column used.
    fn finish(
        &mut self,
        time_column: Option<&str>,
        source: &str,
    ) -> anyhow::Result<(Vec<Activity>, Option<String>)> {
        let trails = std::mem::take(&mut self.trails);
        let accounts = self
            .stitched
            .as_mut()
            .map(|s| std::mem::take(&mut s.accounts))
            .unwrap_or_default();
        let has = |trails: &[sluice_core::history::LeadTrail<Seen>], column: &str| {
            trails
                .iter()
                .any(|t| t.traits.iter().any(|(_, set)| set.contains_key(column)))
        };
        let time_column = match time_column {
            Some(column) if !has(&trails, column) => {
                return Err(UserError(format!(
                    "--time-column: no lead in {source} has `{column}`"
                ))
                .into());
            }
            Some(column) => Some(column.to_string()),
            None => has(&trails, "created_at").then(|| "created_at".to_string()),
        };
        let mut activities = Vec::with_capacity(self.leads.len());
        for (lead, trail) in self.leads.iter_mut().zip(trails) {
            let created = time_column.as_deref().and_then(|c| {
                trail
                    .traits
                    .iter()
                    .find_map(|(_, set)| set.get(c))
                    .map(|v| (c, v))
            });
            lead.created = match created {
                Some((column, Value::String(text))) => {
                    Some(Timestamp::parse(text).map_err(|e| {
                        UserError(format!("{source}: lead `{}`: `{column}`: {e}", lead.id))
                    })?)
                }
                Some((column, other)) => {
                    return Err(UserError(format!(
                        "{source}: lead `{}`: `{column}`: {other} is not a timestamp",
                        lead.id
                    ))
                    .into());
                }
                None => trail.first_seen,
            };
            lead.traits = trail.traits;
            let mut seen = trail.data;
            seen.touches.sort_unstable();
            lead.touches = seen.touches;
            activities.push(seen.activity);
            lead.account = trail.account.and_then(|a| accounts.get(&a).cloned());
        }
        Ok((activities, time_column))
    }
}

/// The history settings the flags ask for.
fn history_settings(
    args: &LearnArgs,
    label: &str,
    time_column: Option<String>,
) -> anyhow::Result<HistorySettings> {
    let label = match label.to_ascii_lowercase().as_str() {
        "opportunity" => Label::Opportunity,
        "won" => Label::Won,
        other => {
            return Err(UserError(format!(
                "--label {other}: learning from the history, the label is `opportunity` or `won`"
            ))
            .into());
        }
    };
    let defaults = HistorySettings::default();
    let horizon = match args.horizon.as_deref() {
        None => defaults.horizon,
        Some(text) if text.trim().eq_ignore_ascii_case("none") => None,
        Some(text) => Some(Span::parse(text).map_err(|e| UserError(format!("--horizon: {e}")))?),
    };
    let half_life = match args.half_life.as_deref() {
        None => defaults.half_life,
        Some(text) => HalfLife::parse(text).map_err(|e| UserError(format!("--half-life: {e}")))?,
    };
    let end = args
        .end
        .as_deref()
        .map(Timestamp::parse)
        .transpose()
        .map_err(|e| UserError(format!("--end: {e}")))?;
    Ok(HistorySettings {
        label,
        horizon,
        half_life,
        end,
        exclude: args.exclude.clone(),
        id_columns: args.id_column.clone(),
        time_column,
        ..defaults
    })
}

/// What reading the history gave: the table, the leads behind its rows, the rows skipped.
type Read = (history::History, Vec<LeadHistory>, Rejections, ReadCounts);

/// Reads the leads, accounts, events and outcomes files into one row per lead. Identities are
/// stitched as `sluice score` stitches them: the leads file's emails, `identify` calls linking
/// an anonymous id to a user, `alias` calls; a `userId` no file lists is a lead of its own.
fn read_history(args: &LearnArgs, label: &str, active: Option<&Model>) -> anyhow::Result<Read> {
    // Refused before any file is read.
    history_settings(args, label, None)?;
    let leads_path = args.leads.as_ref().ok_or_else(|| {
        UserError("--leads: name the leads file (or learn from the database with --db)".into())
    })?;
    let outcomes_path = args.outcomes.as_ref().expect("history mode has --outcomes");
    for path in [
        Some(leads_path),
        Some(outcomes_path),
        args.accounts.as_ref(),
    ]
    .into_iter()
    .chain([args.events.as_ref()])
    .flatten()
    {
        std::fs::metadata(path)
            .map_err(|e| UserError(format!("cannot open {}: {e}", path.display())))?;
    }
    if let Some(events) = &args.events {
        input::require_events_file(events)?;
    }

    let mut rejections = Rejections::new(false);
    let mut gathered = Gathered::default();
    input::read_records(leads_path, &mut rejections, |record| {
        gathered.lead(record.id, record.attributes);
    })?;
    if let Some(path) = &args.accounts {
        input::read_records(path, &mut rejections, |record| {
            gathered.reading.account(record.id, &record.attributes);
        })?;
    }
    if let Some(path) = &args.events {
        input::read_messages(path, &mut rejections, |message, at| {
            gathered.message(message, at, active);
        })?;
    }
    gathered.join();

    let rename = |name: &str| {
        OUTCOME_COLUMNS
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(name))
            .unwrap_or(name)
            .to_string()
    };
    if let Some(header) = input::csv_header(outcomes_path)? {
        let names: Vec<String> = header.iter().map(|h| rename(h)).collect();
        let has = |name: &str| names.iter().any(|n| n == name);
        if !(has("lead_id") || has("email")) || !has("type") || !has("date") {
            return Err(UserError(format!(
                "{}:1: an outcomes file needs `lead_id` or `email`, `type` and `date` columns (columns: {})",
                outcomes_path.display(),
                header.join(", ")
            ))
            .into());
        }
    }
    input::read_rows(
        outcomes_path,
        &mut rejections,
        &rename,
        |rejections, row| {
            gathered.outcome_rows += 1;
            let text = |field: &str| match row.columns.get(field) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let outcome = text("type")
                .ok_or_else(|| "`type` is missing (opportunity, won or lost)".to_string())
                .and_then(|kind| {
                    let date = text("date").ok_or_else(|| "`date` is missing".to_string())?;
                    outcome(&kind, &date)
                });
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => return rejections.reject(outcomes_path, row.line, error),
            };
            match gathered.lead_of(text("lead_id").as_deref(), text("email").as_deref()) {
                Some(i) => gathered.leads[i].outcomes.push(outcome),
                None => gathered.unmatched += 1,
            }
            Ok(())
        },
    )?;

    let source = leads_path.display().to_string();
    let (activities, time_column) = gathered.finish(args.time_column.as_deref(), &source)?;
    let settings = history_settings(args, label, time_column)?;
    let history = history::build(&gathered.leads, &gathered.actions, &settings)
        .map_err(|e| located(&source, e))?;
    let counts = ReadCounts {
        messages: gathered.messages,
        outcomes: gathered.outcome_rows,
        unmatched: gathered.unmatched,
        activities: active.map(|_| activities),
    };
    Ok((history, gathered.leads, rejections, counts))
}

/// Events stored per page when reading the database.
const PAGE: i64 = 10_000;

/// Reads the stored history: the event log (whose `identify` traits are the leads'
/// attributes and whose `group` traits are the accounts'), and each lead's outcomes, into
/// one row per lead.
fn read_database(
    db: &str,
    args: &LearnArgs,
    label: &str,
    active: Option<&Model>,
) -> anyhow::Result<Read> {
    history_settings(args, label, None)?;
    let mut gathered = Gathered::default();
    let runtime = super::handoff::runtime()?;
    runtime.block_on(async {
        let store = super::import::connect(db).await?;
        let mut after = 0;
        loop {
            let page = store
                .events_after(after, PAGE)
                .await
                .with_context(|| format!("cannot read the events of {db}"))?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.seq;
            for stored in page {
                // The log holds only messages that passed the checks at ingestion.
                if let Ok(message) = Message::parse(&stored.message) {
                    gathered.message(message, Timestamp::from_millis(stored.at_ms), active);
                }
            }
        }
        gathered.join();
        for i in 0..gathered.leads.len() {
            let id = gathered.leads[i].id.clone();
            for row in store
                .outcomes_of(&id)
                .await
                .with_context(|| format!("cannot read the outcomes of {db}"))?
            {
                gathered.outcome_rows += 1;
                let at = Timestamp::from_millis(row.at_ms);
                let kind = match row.kind.as_str() {
                    "opportunity" => OutcomeKind::Opportunity,
                    "won" => OutcomeKind::Won,
                    _ => OutcomeKind::Lost,
                };
                gathered.leads[i].outcomes.push(Outcome { at, kind });
            }
        }
        anyhow::Ok(())
    })?;
    let (activities, time_column) = gathered.finish(args.time_column.as_deref(), db)?;
    let settings = history_settings(args, label, time_column)?;
    let history = history::build(&gathered.leads, &gathered.actions, &settings)
        .map_err(|e| located(db, e))?;
    let counts = ReadCounts {
        messages: gathered.messages,
        outcomes: gathered.outcome_rows,
        unmatched: 0,
        activities: active.map(|_| activities),
    };
    Ok((history, gathered.leads, Rejections::new(false), counts))
}

/// An outcome from its type and date, or what is wrong with them.
fn outcome(kind: &str, date: &str) -> Result<Outcome, String> {
    let kind = match kind.to_lowercase().as_str() {
        "opportunity" => OutcomeKind::Opportunity,
        "won" => OutcomeKind::Won,
        "lost" => OutcomeKind::Lost,
        other => return Err(format!("`type`: `{other}` is not opportunity, won or lost")),
    };
    let at = Timestamp::parse(date).map_err(|e| format!("`date`: {e}"))?;
    Ok(Outcome { at, kind })
}

/// The active model on the learner's rows: each lead scored just before its cut-off, with the
/// traits it had by the end of its window, as the engine scores it.
fn judge(
    path: &Path,
    model: &Model,
    history: &history::History,
    leads: &[LeadHistory],
    activities: &[Activity],
) -> Against {
    let labels = &history.data.label;
    let mut scores = Vec::with_capacity(labels.len());
    let (mut qualified, mut hits) = (0usize, 0usize);
    for (watched, &label) in history.rows.iter().zip(labels) {
        let lead = &leads[watched.lead];
        let attributes = lead.attributes_at(watched.window_end);
        let profile = Profile {
            lead: &attributes,
            account: lead.account.as_ref(),
        };
        let as_of = Timestamp::from_millis(watched.cut_off.millis() - 1);
        let score = model.score(profile, &activities[watched.lead], as_of);
        let mql = score.qualification == Qualification::Mql;
        qualified += usize::from(mql);
        hits += usize::from(mql && label);
        scores.push(score.score);
    }
    let positives = labels.iter().filter(|&&y| y).count();
    Against {
        file: path.display().to_string(),
        model: format!("{} {}", model.name(), model.version()),
        mql: model.thresholds().mql,
        share: qualified as f64 / labels.len().max(1) as f64,
        precision: hits as f64 / qualified.max(1) as f64,
        recall: hits as f64 / positives.max(1) as f64,
        roc_auc: sluice_learn::metrics::roc_auc(&scores, labels).unwrap_or(0.5),
    }
}

/// The files learned from, for the suggested model's header: `leads.csv`, or `leads.csv,
/// events.jsonl and outcomes.csv`.
fn sources(args: &LearnArgs) -> String {
    if let Some(db) = &args.db {
        return format!("the history stored in {db}");
    }
    let files: Vec<String> = [
        args.leads.as_ref(),
        args.accounts.as_ref(),
        args.events.as_ref(),
        args.outcomes.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| file_name(p))
    .collect();
    match files.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => files.join(""),
    }
}

/// A cell as text again (the reader types cells; the learner types columns).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A learner error as a user error naming the source (and line) when it is about the data.
fn located(source: &str, error: LearnError) -> UserError {
    match (&error, error.line()) {
        (LearnError::Setting(_) | LearnError::InvalidSuggestion(_), _) => {
            UserError(error.to_string())
        }
        (_, Some(line)) => UserError(format!("{source}:{line}: {error}")),
        (_, None) => UserError(format!("{source}: {error}")),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `learned-<label>`, e.g. `learned-converted`.
fn model_name(label: &str) -> String {
    let slug: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("learned-{}", slug.trim_matches('-'))
}

fn print_table(out: &mut impl Write, doc: &Output<'_>) -> anyhow::Result<()> {
    let report = doc.report;
    let data = &report.data;
    if let Some(h) = &doc.history {
        let s = h.summary;
        let accounts = h
            .accounts
            .as_ref()
            .map(|a| format!(", accounts from {a}"))
            .unwrap_or_default();
        let log = h
            .events
            .as_deref()
            .or(h.database.as_ref().map(|_| "its event log"));
        let events = log
            .map(|e| format!(", {} messages from {e}", thousands(h.messages as usize)))
            .unwrap_or_default();
        writeln!(
            out,
            "history: {} leads from {}{accounts}{events}, {} outcome rows from {} ({} naming no known lead)",
            thousands(s.leads),
            doc.file,
            thousands(h.outcome_rows as usize),
            h.outcomes.as_deref().unwrap_or(&doc.file),
            thousands(h.unmatched_outcomes as usize)
        )?;
        let window = if s.horizon == "none" {
            "up to the end of the data".to_string()
        } else {
            format!("{} after creation", s.horizon)
        };
        writeln!(
            out,
            "window: {window} (half-life {}); read at: {}",
            s.half_life, s.cut_off
        )?;
        writeln!(
            out,
            "rows: {} leads, {} with `{}`; left out: {} undecided, {} open, {} without any time; {} events before the cut-offs, {} at or after (not used); {} actions with columns, {} too rare",
            thousands(s.rows),
            thousands(s.positives),
            s.label.as_str(),
            thousands(s.left_out.undecided),
            thousands(s.left_out.open),
            thousands(s.left_out.no_time),
            thousands(s.touches_used),
            thousands(s.touches_after_cut_off),
            s.actions.len(),
            s.rare_actions
        )?;
        if let Some(a) = h.against {
            writeln!(
                out,
                "against {} ({}, MQL at {}): at the cut-offs it qualifies {:.1} % of the rows, {:.1} % of them converted (precision), holding {:.1} % of conversions (recall); its scores rank with ROC AUC {:.3}",
                a.file,
                a.model,
                a.mql,
                100.0 * a.share,
                100.0 * a.precision,
                100.0 * a.recall,
                a.roc_auc
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{}: {} rows, {} with `{}` ({:.1} %)",
        doc.file,
        thousands(data.rows),
        thousands(data.positives),
        data.label,
        100.0 * data.base_rate
    )?;
    if data.unlabelled > 0 {
        writeln!(
            out,
            "  {} rows left out without an outcome (an empty `{}`, or a value outside --positive and --negative)",
            thousands(data.unlabelled),
            data.label,
        )?;
    }
    if !data.missing_markers.is_empty() {
        let found: Vec<String> = data
            .missing_markers
            .iter()
            .map(|m| format!("`{}` in {} cells", m.marker, thousands(m.cells)))
            .collect();
        writeln!(out, "  read as missing: {}", found.join(", "))?;
    }
    let numeric = data.features.iter().filter(|f| f.kind == "numeric").count();
    writeln!(
        out,
        "features: {} used ({numeric} numeric, {} categorical), {} not used",
        data.features.len(),
        data.features.len() - numeric,
        data.excluded.len()
    )?;
    for excluded in &data.excluded {
        writeln!(
            out,
            "  - {} ({})",
            excluded.column,
            excluded.reason.describe()
        )?;
    }
    writeln!(
        out,
        "validation: {}, seed {}",
        report.validation.method, report.validation.seed
    )?;

    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:>15} {:>8} {:>8} {:>9} {:>11}",
        "MODEL", "ROC AUC", "PR AUC", "BRIER", "LOG LOSS", "CALIBRATION"
    )?;
    for m in &report.models {
        let best = if Some(m.model) == report.best {
            "  best"
        } else {
            ""
        };
        let calibration = if m.calibrated {
            format!("{:.3}", m.calibration_error)
        } else {
            format!("{:.3} poor", m.calibration_error)
        };
        writeln!(
            out,
            "{:<24} {:>15} {:>8.3} {:>8.4} {:>9.4} {:>11}{best}",
            m.title,
            format!("{:.3} ± {:.3}", m.roc_auc.mean, m.roc_auc.std),
            m.pr_auc.mean,
            m.brier.mean,
            m.log_loss.mean,
            calibration
        )?;
    }
    if report.models.iter().any(|m| !m.calibrated) {
        writeln!(
            out,
            "calibration: the mean gap between predicted and observed rates; \"poor\" (above {}): rank leads with its scores, but do not read them as chances",
            sluice_learn::learn::CALIBRATED
        )?;
    }
    if let Some(time) = &report.validation.time_split {
        writeln!(out)?;
        writeln!(
            out,
            "time split on `{}`: trained on the earliest {} rows, tested on the latest {}",
            time.column,
            thousands(time.train_rows),
            thousands(time.test_rows)
        )?;
        for m in &report.models {
            match &m.time_split {
                Some(t) => writeln!(
                    out,
                    "{:<24} {:>15.3} {:>8.3} {:>8.4} {:>9.4}",
                    m.title, t.roc_auc, t.pr_auc, t.brier, t.log_loss
                )?,
                None => writeln!(out, "{:<24} (the test rows hold one outcome only)", m.title)?,
            }
        }
    }

    if let Some(best) = report.models.iter().find(|m| Some(m.model) == report.best) {
        writeln!(out)?;
        writeln!(
            out,
            "best: {}, {}. Calibration, out of fold:",
            best.title, report.best_because
        )?;
        writeln!(
            out,
            "  {:<10} {:>7} {:>10} {:>9}",
            "PREDICTED", "ROWS", "MEAN", "OBSERVED"
        )?;
        for bin in best.calibration.iter().filter(|b| b.count > 0) {
            writeln!(
                out,
                "  {:<10} {:>7} {:>10.3} {:>9.3}",
                format!("{:.1}-{:.1}", bin.from, bin.to),
                thousands(bin.count),
                bin.predicted.unwrap_or_default(),
                bin.observed.unwrap_or_default()
            )?;
        }
        writeln!(out, "Lift by decile of score, out of fold:")?;
        writeln!(
            out,
            "  {:<7} {:>7} {:>10} {:>10} {:>6} {:>9}",
            "DECILE", "ROWS", "MIN SCORE", "CONVERTED", "LIFT", "CAPTURED"
        )?;
        for d in &best.lift {
            writeln!(
                out,
                "  {:<7} {:>7} {:>10.3} {:>9.1}% {:>6.2} {:>8.1}%",
                d.decile,
                thousands(d.count),
                d.min_score,
                100.0 * d.rate,
                d.lift,
                100.0 * d.cumulative_capture
            )?;
        }
    }

    writeln!(out)?;
    let top: Vec<String> = report
        .leakage
        .columns
        .iter()
        .take(5)
        .map(|c| format!("{} {:.3}", c.column, c.roc_auc))
        .collect();
    writeln!(
        out,
        "leakage guard: {} column{} flagged (ROC AUC {} or more alone, over all rows or where it has a value); strongest single columns: {}",
        report.leakage.warnings.len(),
        if report.leakage.warnings.len() == 1 {
            ""
        } else {
            "s"
        },
        report.leakage.threshold,
        top.join(", ")
    )?;
    for suspect in &report.leakage.suspects {
        writeln!(out, "  suspect: {}", suspect.message)?;
    }

    let min_rows = (data.rows / 100).max(10);
    let mut nb: Vec<(&str, &str, f64, usize, f64)> = report
        .factors
        .naive_bayes
        .iter()
        .flat_map(|a| {
            a.values
                .iter()
                .map(move |v| (a.column.as_str(), v.value.as_str(), v.llr, v.rows, v.rate))
        })
        .filter(|f| f.3 >= min_rows)
        .collect();
    nb.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    if !nb.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Top factors, naive Bayes (log-likelihood ratio; values of at least {min_rows} rows):"
        )?;
        for (column, value, llr, rows, rate) in nb.iter().take(10) {
            writeln!(
                out,
                "  {llr:>+6.2}  {column} = {value} ({} rows, {:.1} % converted)",
                thousands(*rows),
                100.0 * rate
            )?;
        }
    }
    let logistic: Vec<_> = report
        .factors
        .logistic
        .iter()
        .filter(|c| c.rows >= min_rows)
        .take(10)
        .collect();
    if !logistic.is_empty() {
        writeln!(out, "Top factors, logistic regression (log-odds):")?;
        for c in logistic {
            writeln!(
                out,
                "  {:>+6.2}  {} = {} ({} rows)",
                c.coefficient,
                c.column,
                c.value,
                thousands(c.rows)
            )?;
        }
    }
    if !report.factors.gbm.is_empty() {
        let shares: Vec<String> = report
            .factors
            .gbm
            .iter()
            .take(8)
            .map(|g| format!("{} {:.0} %", g.column, 100.0 * g.share))
            .collect();
        writeln!(
            out,
            "Top columns, gradient-boosted trees (share of split gain): {}",
            shares.join(", ")
        )?;
    }

    let ranked = &report.factors.ranked;
    if !ranked.is_empty() {
        let line = |f: &sluice_learn::learn::RankedFactor| {
            format!(
                "  {:>+6.2} {:>+6.2}  {} [{}] ({} rows, {:.1} % converted)",
                f.weight,
                f.llr,
                f.feature,
                f.kind,
                thousands(f.leads),
                100.0 * f.rate
            )
        };
        writeln!(
            out,
            "Ranked factors (weight: log-odds in the points model's logistic regression; then the naive Bayes log-likelihood ratio), values of at least {min_rows} rows:"
        )?;
        let common: Vec<_> = ranked.iter().filter(|f| f.leads >= min_rows).collect();
        let top = common.len().min(10);
        for f in &common[..top] {
            writeln!(out, "{}", line(f))?;
        }
        let bottom = common.len().saturating_sub(5).max(top);
        if bottom > top {
            writeln!(out, "  ...")?;
        }
        for f in &common[bottom..] {
            writeln!(out, "{}", line(f))?;
        }
    }

    if let (Some(s), Some(file)) = (&report.suggestion, &doc.suggested_file) {
        writeln!(out)?;
        writeln!(
            out,
            "Suggested points model: {file} ({} fit and {} engagement rules, MQL at {}). Out of fold it ranks with ROC AUC {:.3}; at the threshold {:.1} % of leads are MQLs, {:.1} % of them converted, holding {:.1} % of conversions. Check it with `sluice model check {file}`.",
            s.rules,
            s.engagement_rules,
            s.mql,
            s.roc_auc,
            100.0 * s.share,
            100.0 * s.precision,
            100.0 * s.recall
        )?;
    }
    Ok(())
}

/// `45211` → `45,211`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
