//! `sluice learn`: which leads convert, learned from a CSV file of past leads and outcomes.
//! Reads the file, hands the table to `sluice-learn`, prints the report, writes the suggested
//! points model.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;
use sluice_learn::gbm::GbmParams;
use sluice_learn::learn::SuggestSettings;
use sluice_learn::{Dataset, LearnError, ModelKind, RawTable, Report, Roles, Settings};

use crate::input::{self, Rejected, Rejections};
use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// Past leads with their outcome: a CSV file (`,` or `;` separated, quoted fields).
    #[arg(long)]
    leads: PathBuf,
    /// The outcome column: 0/1, yes/no or true/false.
    #[arg(long)]
    label: String,
    /// Columns to leave out, comma-separated: fields filled in after the outcome is known.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Identifier columns to leave out, comma-separated (text columns whose every value is
    /// distinct are left out anyway).
    #[arg(long, value_delimiter = ',')]
    id_column: Vec<String>,
    /// A creation-time column (RFC 3339 or YYYY-MM-DD): also train on the earliest 80 % of
    /// rows and test on the latest 20 %.
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
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_file: Option<String>,
    rejected_rows: u64,
    rejected: &'a [Rejected],
}

pub fn run(args: LearnArgs) -> anyhow::Result<()> {
    let mut models: Vec<ModelKind> = Vec::new();
    for m in &args.models {
        let kind = ModelKind::from(*m);
        if !models.contains(&kind) {
            models.push(kind);
        }
    }
    let defaults = Settings::default();
    let settings = Settings {
        folds: args.folds,
        seed: args.seed,
        models,
        leakage_threshold: args.leakage_threshold,
        gbm: GbmParams {
            max_rounds: args.gbm_max_rounds.max(1),
            ..defaults.gbm.clone()
        },
        suggest: args.suggest.as_ref().map(|_| SuggestSettings {
            name: model_name(&args.label),
            source: file_name(&args.leads),
        }),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..defaults
    };
    // No need to read a large file to refuse the settings.
    settings.check().map_err(|e| located(&args.leads, e))?;
    let (data, rejections) = read(&args)?;
    let report = sluice_learn::learn(&data, &settings).map_err(|e| located(&args.leads, e))?;
    if let (Some(path), Some(suggestion)) = (&args.suggest, &report.suggestion) {
        std::fs::write(path, &suggestion.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let document = Output {
        file: args.leads.display().to_string(),
        report: &report,
        suggested_file: args.suggest.as_ref().map(|p| p.display().to_string()),
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
            print_table(&mut out, &document)?;
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?,
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(&document)?)?,
    }
    out.flush()?;
    Ok(())
}

/// Reads the leads file into a dataset; bad rows are skipped and reported.
fn read(args: &LearnArgs) -> anyhow::Result<(Dataset, Rejections)> {
    let path = &args.leads;
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
            .map_err(|e| located(path, e).into())
    })?;
    if raw.is_empty() {
        return Err(UserError(format!("{}: no rows to learn from", path.display())).into());
    }
    let roles = Roles {
        label: args.label.clone(),
        exclude: args.exclude.clone(),
        id_columns: args.id_column.clone(),
        time_column: args.time_column.clone(),
    };
    let data = Dataset::build(raw, &roles).map_err(|e| located(path, e))?;
    Ok((data, rejections))
}

/// A cell as text again (the reader types cells; the learner types columns).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A learner error as a user error naming the file (and line) when it is about the data.
fn located(path: &Path, error: LearnError) -> UserError {
    match (&error, error.line()) {
        (LearnError::Setting(_) | LearnError::InvalidSuggestion(_), _) => {
            UserError(error.to_string())
        }
        (_, Some(line)) => UserError(format!("{}:{line}: {error}", path.display())),
        (_, None) => UserError(format!("{}: {error}", path.display())),
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
    writeln!(
        out,
        "{}: {} rows, {} with `{}` ({:.1} %)",
        doc.file,
        thousands(data.rows),
        thousands(data.positives),
        data.label,
        100.0 * data.base_rate
    )?;
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
        "{:<24} {:>15} {:>8} {:>8} {:>9}",
        "MODEL", "ROC AUC", "PR AUC", "BRIER", "LOG LOSS"
    )?;
    for m in &report.models {
        let best = if Some(m.model) == report.best {
            "  best"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<24} {:>15} {:>8.3} {:>8.4} {:>9.4}{best}",
            m.title,
            format!("{:.3} ± {:.3}", m.roc_auc.mean, m.roc_auc.std),
            m.pr_auc.mean,
            m.brier.mean,
            m.log_loss.mean
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
            "best: {} (ROC AUC {:.3}). Calibration, out of fold:",
            best.title, best.roc_auc.mean
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

    if let (Some(s), Some(file)) = (&report.suggestion, &doc.suggested_file) {
        writeln!(out)?;
        writeln!(
            out,
            "Suggested points model: {file} ({} rules, MQL at {}). Out of fold it ranks with ROC AUC {:.3}; at the threshold {:.1} % of leads are MQLs, {:.1} % of them converted, holding {:.1} % of conversions. Check it with `sluice model check {file}`.",
            s.rules,
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
