//! From the cells a reader found to a [`Dataset`]: a label and typed feature columns.
//!
//! A column is numeric when every value it has parses as a finite number, else categorical.
//! An empty cell and the text `Select` (a form's "not answered") are missing values.

use std::collections::HashMap;

use serde::Serialize;
use sluice_core::Timestamp;

use crate::LearnError;
use crate::history::{Action, Measure};

/// The text some CRM forms store for "not answered" (X Education's exports): a missing value.
pub const NOT_ANSWERED: &str = "Select";

/// The code of a missing value in a categorical column.
pub const MISSING: u32 = u32::MAX;

/// Whether a cell holds no value: empty (after trimming) or `Select`.
pub fn is_missing(cell: &str) -> bool {
    let cell = cell.trim();
    cell.is_empty() || cell == NOT_ANSWERED
}

/// The cells of a file as read, column by column, with each row's line in the file.
#[derive(Debug, Clone)]
pub struct RawTable {
    headers: Vec<String>,
    columns: Vec<Vec<String>>,
    lines: Vec<u64>,
}

impl RawTable {
    /// An empty table with these column names.
    pub fn new(headers: Vec<String>) -> Self {
        let columns = vec![Vec::new(); headers.len()];
        RawTable {
            headers,
            columns,
            lines: Vec::new(),
        }
    }

    /// Appends a row read from 1-based `line`; it must have one field per column.
    pub fn push<'a>(
        &mut self,
        line: u64,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), LearnError> {
        let before = self.columns.first().map_or(0, Vec::len);
        let mut found = 0;
        for field in fields {
            if let Some(column) = self.columns.get_mut(found) {
                column.push(field.trim().to_string());
            }
            found += 1;
        }
        if found != self.headers.len() {
            for column in &mut self.columns {
                column.truncate(before);
            }
            return Err(LearnError::FieldCount {
                line,
                found,
                expected: self.headers.len(),
            });
        }
        self.lines.push(line);
        Ok(())
    }

    /// The column names.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Which columns play which part.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// The 0/1 (yes/no, true/false) outcome column.
    pub label: String,
    /// Columns left out of every model.
    pub exclude: Vec<String>,
    /// Identifier columns, left out. Text columns whose every value is unique are left out
    /// as identifiers anyway.
    pub id_columns: Vec<String>,
    /// A creation-time column: left out of the features, used for the time split.
    pub time_column: Option<String>,
    /// Text columns with more distinct values than this are left out as free text or names
    /// (`None`: no limit).
    pub max_levels: Option<usize>,
}

/// A feature column's values.
#[derive(Debug, Clone)]
pub enum Values {
    /// Numbers; missing values are NaN.
    Numeric {
        /// One per row.
        values: Vec<f64>,
        /// Whether every value is a number as `sluice score` types CSV cells (no leading
        /// zeros, `true`/`false` excepted), so a suggested range condition matches it.
        csv_numbers: bool,
    },
    /// Categories: each row's index into `levels`, or [`MISSING`].
    Categorical {
        /// The distinct values, most frequent first.
        levels: Vec<String>,
        /// One per row.
        codes: Vec<u32>,
    },
}

/// What a feature column stands for, which decides how a suggested rule names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A lead attribute named like the column (`lead.Name`, `lead['Column Name']`).
    Lead,
    /// An attribute of the lead's account, by its name there (`account.industry`).
    Account(String),
    /// How often the lead did something before its cut-off (history mode).
    Engagement {
        /// What it did.
        action: Action,
        /// How it is counted.
        measure: Measure,
    },
}

/// A column the models may use.
#[derive(Debug, Clone)]
pub struct Feature {
    /// The column name, as in the file.
    pub name: String,
    /// Its values.
    pub values: Values,
    /// How many rows have no value.
    pub missing: usize,
    /// What it stands for.
    pub source: Source,
}

impl Feature {
    /// Whether the value in `row` is missing.
    pub fn is_missing(&self, row: usize) -> bool {
        match &self.values {
            Values::Numeric { values, .. } => values[row].is_nan(),
            Values::Categorical { codes, .. } => codes[row] == MISSING,
        }
    }

    /// `numeric` or `categorical`.
    pub fn kind(&self) -> &'static str {
        match self.values {
            Values::Numeric { .. } => "numeric",
            Values::Categorical { .. } => "categorical",
        }
    }
}

/// Why a column is not a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExcludedBecause {
    /// It is the label.
    Label,
    /// `--exclude` named it.
    Excluded,
    /// `--id-column` named it.
    IdColumn,
    /// Every value is a distinct text: an identifier.
    UniqueText,
    /// The time column.
    TimeColumn,
    /// It has a single value (or none): it cannot tell rows apart.
    Constant,
    /// Text with more distinct values than [`Roles::max_levels`]: free text or names.
    ManyValues,
    /// The link to the lead's account, whose attributes are columns of their own.
    AccountLink,
}

impl ExcludedBecause {
    /// In words, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            ExcludedBecause::Label => "the label",
            ExcludedBecause::Excluded => "--exclude",
            ExcludedBecause::IdColumn => "--id-column",
            ExcludedBecause::UniqueText => "every value is a distinct text (an identifier)",
            ExcludedBecause::TimeColumn => "the time column",
            ExcludedBecause::Constant => "a single value",
            ExcludedBecause::ManyValues => "too many distinct texts (free text or names)",
            ExcludedBecause::AccountLink => "the link to the account, whose attributes are used",
        }
    }
}

/// A column that is not a feature, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    /// The column name.
    pub column: String,
    /// Why.
    pub reason: ExcludedBecause,
}

/// What the models learn from: the label, the feature columns, and optionally each row's time.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The label column's name.
    pub label_column: String,
    /// The outcome per row.
    pub label: Vec<bool>,
    /// The columns models use.
    pub features: Vec<Feature>,
    /// The columns they do not, and why.
    pub excluded: Vec<Excluded>,
    /// The time column, when one was given.
    pub time_column: Option<String>,
    /// Each row's time (milliseconds since the epoch), when a time column was given.
    pub times: Option<Vec<i64>>,
    /// Each row's line in the file.
    pub lines: Vec<u64>,
}

impl Dataset {
    /// Types the columns of `raw` and reads the label (and time) column.
    pub fn build(raw: RawTable, roles: &Roles) -> Result<Dataset, LearnError> {
        let RawTable {
            headers,
            columns,
            lines,
        } = raw;
        let find = |flag: &'static str, name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| LearnError::UnknownColumn {
                    flag,
                    name: name.to_string(),
                    columns: headers.clone(),
                })
        };
        let label_at = find("--label", &roles.label)?;
        let mut reasons: Vec<Option<ExcludedBecause>> = vec![None; headers.len()];
        for name in &roles.exclude {
            reasons[find("--exclude", name)?] = Some(ExcludedBecause::Excluded);
        }
        for name in &roles.id_columns {
            reasons[find("--id-column", name)?] = Some(ExcludedBecause::IdColumn);
        }
        let time_at = match &roles.time_column {
            Some(name) => Some(find("--time-column", name)?),
            None => None,
        };
        if let Some(t) = time_at {
            reasons[t] = Some(ExcludedBecause::TimeColumn);
        }
        reasons[label_at] = Some(ExcludedBecause::Label);

        let label = columns[label_at]
            .iter()
            .zip(&lines)
            .map(|(cell, &line)| {
                parse_label(cell).ok_or_else(|| LearnError::BadLabel {
                    line,
                    column: roles.label.clone(),
                    value: cell.clone(),
                })
            })
            .collect::<Result<Vec<bool>, _>>()?;
        let times = match time_at {
            Some(t) => Some(
                columns[t]
                    .iter()
                    .zip(&lines)
                    .map(|(cell, &line)| {
                        Timestamp::parse(cell).map(Timestamp::millis).map_err(|_| {
                            LearnError::BadTime {
                                line,
                                column: headers[t].clone(),
                                value: cell.clone(),
                            }
                        })
                    })
                    .collect::<Result<Vec<i64>, _>>()?,
            ),
            None => None,
        };

        let mut features = Vec::new();
        let mut excluded = Vec::new();
        for ((name, cells), reason) in headers.iter().zip(columns).zip(reasons) {
            let typed = match reason {
                Some(reason) => Err(reason),
                None => type_column(name, cells, roles.max_levels),
            };
            match typed {
                Ok(feature) => features.push(feature),
                Err(reason) => excluded.push(Excluded {
                    column: name.clone(),
                    reason,
                }),
            }
        }
        Ok(Dataset {
            label_column: roles.label.clone(),
            label,
            features,
            excluded,
            time_column: roles.time_column.clone(),
            times,
            lines,
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.label.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.label.is_empty()
    }

    /// How many rows are positive.
    pub fn positives(&self) -> usize {
        self.label.iter().filter(|&&y| y).count()
    }
}

/// `1`/`0`, `yes`/`no`, `true`/`false` in any case.
pub fn parse_label(cell: &str) -> Option<bool> {
    let cell = cell.trim();
    ["1", "yes", "true"]
        .iter()
        .any(|t| cell.eq_ignore_ascii_case(t))
        .then_some(true)
        .or_else(|| {
            ["0", "no", "false"]
                .iter()
                .any(|f| cell.eq_ignore_ascii_case(f))
                .then_some(false)
        })
}

/// A number as `sluice score` reads a CSV cell: digits first (after an optional `-`), no
/// leading zero (`02134` is a code), finite. `None` for anything that stays text there.
pub fn csv_number(cell: &str) -> Option<f64> {
    let cell = cell.trim();
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let numeric_start = digits.starts_with(|c: char| c.is_ascii_digit());
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !numeric_start || leading_zero {
        return None;
    }
    if let Ok(i) = cell.parse::<i64>() {
        return Some(i as f64);
    }
    cell.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Types one column, or says why it is no feature.
fn type_column(
    name: &str,
    cells: Vec<String>,
    max_levels: Option<usize>,
) -> Result<Feature, ExcludedBecause> {
    let missing = cells.iter().filter(|c| is_missing(c)).count();
    let numbers: Option<Vec<f64>> = cells
        .iter()
        .map(|c| {
            if is_missing(c) {
                Some(f64::NAN)
            } else {
                c.parse::<f64>().ok().filter(|f| f.is_finite())
            }
        })
        .collect();
    if let Some(values) = numbers {
        let mut distinct = values.iter().filter(|v| !v.is_nan());
        let first = distinct.next().copied();
        if first.is_none_or(|f| distinct.all(|v| *v == f)) {
            return Err(ExcludedBecause::Constant);
        }
        let csv_numbers = cells
            .iter()
            .all(|c| is_missing(c) || csv_number(c).is_some());
        return Ok(Feature {
            name: name.to_string(),
            values: Values::Numeric {
                values,
                csv_numbers,
            },
            missing,
            source: Source::Lead,
        });
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for cell in cells.iter().filter(|c| !is_missing(c)) {
        *counts.entry(cell.as_str()).or_default() += 1;
    }
    if counts.len() <= 1 {
        return Err(ExcludedBecause::Constant);
    }
    if counts.len() == cells.len() - missing && cells.len() > 1 {
        return Err(ExcludedBecause::UniqueText);
    }
    if max_levels.is_some_and(|max| counts.len() > max) {
        return Err(ExcludedBecause::ManyValues);
    }
    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let index: HashMap<&str, u32> = levels
        .iter()
        .enumerate()
        .map(|(i, (level, _))| (*level, i as u32))
        .collect();
    let codes = cells
        .iter()
        .map(|c| {
            if is_missing(c) {
                MISSING
            } else {
                index[c.as_str()]
            }
        })
        .collect();
    Ok(Feature {
        name: name.to_string(),
        values: Values::Categorical {
            levels: levels.iter().map(|(l, _)| l.to_string()).collect(),
            codes,
        },
        missing,
        source: Source::Lead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_numbers_read_like_the_scorer() {
        assert_eq!(parse_label(" Yes "), Some(true));
        assert_eq!(parse_label("FALSE"), Some(false));
        assert_eq!(parse_label("0"), Some(false));
        assert_eq!(parse_label("maybe"), None);
        assert_eq!(parse_label(""), None);
        assert_eq!(csv_number("250"), Some(250.0));
        assert_eq!(csv_number("-3.5"), Some(-3.5));
        assert_eq!(csv_number("0.5"), Some(0.5));
        assert_eq!(csv_number("02134"), None);
        assert_eq!(csv_number("inf"), None);
        assert_eq!(csv_number(".5"), None);
    }
}
