//! Sluice's learning core: which leads convert, learned from a table of past leads.
//!
//! Three models (naive Bayes, L2 logistic regression, gradient-boosted trees) are validated
//! the honest way (stratified k-fold, and a time split when rows have a time), every column is
//! checked for leakage on its own, and the logistic regression can be turned into a points
//! model in Sluice's own model language. The table comes from a CSV file of past leads, or
//! from the history of leads, events and outcomes ([`history`]). Pure like `sluice-core`: tables in, reports out; no
//! I/O, no clock. Folds may be validated on several threads, with the same results. The CLI
//! reads the file and prints the report.

pub mod encode;
pub mod gbm;
pub mod history;
pub mod leakage;
pub mod learn;
pub mod logistic;
pub mod metrics;
pub mod naive_bayes;
pub mod split;
pub mod suggest;
pub mod table;

pub use history::{History, HistorySettings, LeadHistory};
pub use learn::{ModelKind, Report, Settings, learn};
pub use table::{Dataset, Labels, Missing, RawTable, Roles};

/// What can go wrong: bad input, named precisely enough to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A flag names a column the file does not have.
    #[error("{flag}: no column `{name}` (columns: {})", .columns.join(", "))]
    UnknownColumn {
        /// The flag that named it.
        flag: &'static str,
        /// The name given.
        name: String,
        /// The file's columns.
        columns: Vec<String>,
    },
    /// A label that is none of the words read as an outcome.
    #[error(
        "label `{column}`: `{value}` is not 0/1, yes/no, true/false or won/lost (name the outcome's values with --positive, and --negative to leave the others out)"
    )]
    BadLabel {
        /// The line in the file.
        line: u64,
        /// The label column.
        column: String,
        /// The value found.
        value: String,
    },
    /// A time that is neither RFC 3339 nor a date.
    #[error("time column `{column}`: `{value}` is not an RFC 3339 time or a YYYY-MM-DD date")]
    BadTime {
        /// The line in the file.
        line: u64,
        /// The time column.
        column: String,
        /// The value found.
        value: String,
    },
    /// A row with more or fewer fields than the header.
    #[error("{found} fields, but the header has {expected}")]
    FieldCount {
        /// The line in the file.
        line: u64,
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// Too few rows of one outcome to learn and validate.
    #[error(
        "{positives} positive and {negatives} negative rows: {folds}-fold validation needs at least {folds} of each"
    )]
    TooFewRows {
        /// Positive rows.
        positives: usize,
        /// Negative rows.
        negatives: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// Every column was excluded.
    #[error(
        "no feature columns are left (the label, excluded, identifier and constant columns are not used)"
    )]
    NoFeatures,
    /// A setting out of its range.
    #[error("{0}")]
    Setting(String),
    /// The suggested model failed the model checks: a bug in the learner.
    #[error("the suggested model does not pass `sluice model check` (please report this): {0}")]
    InvalidSuggestion(String),
}

impl LearnError {
    /// The file line the error is about, if it is about one row.
    pub fn line(&self) -> Option<u64> {
        match self {
            LearnError::BadLabel { line, .. }
            | LearnError::BadTime { line, .. }
            | LearnError::FieldCount { line, .. } => Some(*line),
            _ => None,
        }
    }
}
