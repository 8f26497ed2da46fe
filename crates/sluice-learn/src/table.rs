//! From the cells a reader found to a [`Dataset`]: a label and typed feature columns.
//!
//! A column is numeric when every value it has is a number (as exports write them:
//! `13,302`, `$1,200`, `12 %`; see [`sluice_core::table::number`]), else categorical. An empty
//! cell, and the texts of [`Missing`] (by default [`DEFAULT_MISSING`]), are missing values.
//! The label is read from the words sales tools write (`Won`, `Closed Lost`...) or the values
//! [`Labels`] names; a row without an outcome is left out and counted.

use std::collections::HashMap;

use serde::Serialize;
use sluice_core::Timestamp;

use crate::LearnError;
use crate::history::{Action, Measure};

/// The texts read as "no value" in any file (matched after trimming, without case), besides an
/// empty cell. A form's own placeholder (`Select`, `--`) is added with [`Missing::with`].
pub const DEFAULT_MISSING: [&str; 7] = ["N/A", "#N/A", "-", "null", "none", "NaN", "(blank)"];

/// The code of a missing value in a categorical column.
pub const MISSING: u32 = u32::MAX;

/// The texts that stand for a missing value.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    /// As given (for the report), and lower-cased (to match).
    markers: Vec<(String, String)>,
}

impl Default for Missing {
    fn default() -> Self {
        Missing::with(&[])
    }
}

impl Missing {
    /// [`DEFAULT_MISSING`] and `extra`.
    pub fn with(extra: &[String]) -> Self {
        let mut markers: Vec<(String, String)> = Vec::new();
        for marker in DEFAULT_MISSING
            .iter()
            .map(|m| m.to_string())
            .chain(extra.iter().map(|m| m.trim().to_string()))
        {
            let folded = marker.to_lowercase();
            if !folded.is_empty() && !markers.iter().any(|(_, f)| *f == folded) {
                markers.push((marker, folded));
            }
        }
        Missing { markers }
    }

    /// Which marker `cell` is: `Some(None)` for an empty cell, `Some(Some(i))` for the `i`-th
    /// marker, `None` for a value.
    pub fn marker(&self, cell: &str) -> Option<Option<usize>> {
        let cell = cell.trim();
        if cell.is_empty() {
            return Some(None);
        }
        self.markers
            .iter()
            .position(|(_, folded)| cell.eq_ignore_ascii_case(folded))
            .map(Some)
    }

    /// Whether `cell` holds no value.
    pub fn is_missing(&self, cell: &str) -> bool {
        self.marker(cell).is_some()
    }

    /// The markers as given.
    pub fn markers(&self) -> impl Iterator<Item = &str> {
        self.markers.iter().map(|(m, _)| m.as_str())
    }
}

/// Whether a cell holds no value under the default markers: empty (after trimming) or one of
/// [`DEFAULT_MISSING`].
pub fn is_missing(cell: &str) -> bool {
    Missing::default().is_missing(cell)
}

/// How the label column's values read as outcomes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    /// The values that are the outcome (`--positive`); when given, other values are not.
    pub positive: Vec<String>,
    /// The values that are its absence (`--negative`); when given with `positive`, any other
    /// value is left out as no outcome yet (an open deal).
    pub negative: Vec<String>,
}

impl Labels {
    /// A cell as an outcome: `Some(Some(y))`, or `Some(None)` for a row without one (empty,
    /// or neither named value when both lists are given), or `None` for a value that cannot
    /// be read.
    pub fn read(&self, cell: &str) -> Option<Option<bool>> {
        let cell = cell.trim();
        if cell.is_empty() {
            return Some(None);
        }
        let named = |list: &[String]| list.iter().any(|v| v.trim().eq_ignore_ascii_case(cell));
        match (self.positive.is_empty(), self.negative.is_empty()) {
            (true, true) => parse_label(cell).map(Some),
            (false, true) => Some(Some(named(&self.positive))),
            (true, false) => Some(Some(!named(&self.negative))),
            (false, false) => Some(if named(&self.positive) {
                Some(true)
            } else if named(&self.negative) {
                Some(false)
            } else {
                None
            }),
        }
    }
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
    /// The texts that stand for a missing value.
    pub missing: Missing,
    /// How the label's values read.
    pub labels: Labels,
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
    /// Made from a date column (its age, month or weekday): the models learn from it, but a
    /// model file cannot test it, so the suggested points leave it out.
    Date {
        /// The date column.
        column: String,
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
    /// A date: learned from as its age, month and weekday (columns of their own), never as one
    /// category per day.
    Date,
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
            ExcludedBecause::Date => "a date: used as its age, month and weekday",
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
    /// Rows left out for want of an outcome (an empty label, or a value neither `--positive`
    /// nor `--negative` names).
    pub unlabelled: usize,
    /// The missing-value markers found, with the cells each blanked (markers never found are
    /// not listed).
    pub missing_markers: Vec<MarkerCount>,
}

/// A missing-value marker and how many cells held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkerCount {
    /// The marker, as listed.
    pub marker: String,
    /// Cells blanked.
    pub cells: usize,
}

impl Dataset {
    /// Types the columns of `raw` and reads the label (and time) column.
    pub fn build(raw: RawTable, roles: &Roles) -> Result<Dataset, LearnError> {
        let RawTable {
            headers,
            mut columns,
            mut lines,
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

        let outcomes = columns[label_at]
            .iter()
            .zip(&lines)
            .map(|(cell, &line)| {
                roles.labels.read(cell).ok_or_else(|| LearnError::BadLabel {
                    line,
                    column: roles.label.clone(),
                    value: cell.clone(),
                })
            })
            .collect::<Result<Vec<Option<bool>>, _>>()?;
        // Rows without an outcome are left out before anything is typed.
        let unlabelled = outcomes.iter().filter(|o| o.is_none()).count();
        if unlabelled > 0 {
            let keep = |values: &mut Vec<String>| {
                let mut i = 0;
                values.retain(|_| {
                    i += 1;
                    outcomes[i - 1].is_some()
                });
            };
            columns.iter_mut().for_each(keep);
            let mut i = 0;
            lines.retain(|_| {
                i += 1;
                outcomes[i - 1].is_some()
            });
        }
        let label: Vec<bool> = outcomes.into_iter().flatten().collect();
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
        let mut blanked = vec![0usize; roles.missing.markers.len()];
        // A date's age is counted to the row's time when there is one, else to the latest date
        // of its column (when the file was exported, near enough).
        let row_times = times.clone();
        for ((name, cells), reason) in headers.iter().zip(columns).zip(reasons) {
            if reason.is_none()
                && let Some(dates) = date_column(&cells, &roles.missing)
            {
                features.extend(date_features(name, &dates, row_times.as_deref()));
                excluded.push(Excluded {
                    column: name.clone(),
                    reason: ExcludedBecause::Date,
                });
                continue;
            }
            let typed = match reason {
                Some(reason) => Err(reason),
                None => {
                    for cell in &cells {
                        if let Some(Some(i)) = roles.missing.marker(cell) {
                            blanked[i] += 1;
                        }
                    }
                    type_column(name, cells, roles.max_levels, &roles.missing)
                }
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
            unlabelled,
            missing_markers: roles
                .missing
                .markers()
                .zip(blanked)
                .filter(|(_, cells)| *cells > 0)
                .map(|(marker, cells)| MarkerCount {
                    marker: marker.to_string(),
                    cells,
                })
                .collect(),
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

/// An outcome as people and sales tools write it, in any case, with spaces, `_` or `-`
/// between words: `1`/`0`, `yes`/`no`, `true`/`false`, `won`/`lost`, `closed won`/`closed
/// lost`, `converted`/`not converted`.
pub fn parse_label(cell: &str) -> Option<bool> {
    let words: Vec<String> = cell
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    match words.join(" ").as_str() {
        "1" | "yes" | "y" | "true" | "won" | "closed won" | "converted" => Some(true),
        "0" | "no" | "n" | "false" | "lost" | "closed lost" | "not converted" => Some(false),
        _ => None,
    }
}

/// A number as `sluice score` reads a CSV cell ([`sluice_core::table::number`]): digits, and
/// the separators, currency and percent signs of exports; no leading zero (`02134` is a code);
/// finite. `None` for anything that stays text there.
pub fn csv_number(cell: &str) -> Option<f64> {
    sluice_core::table::number(cell).map(sluice_core::table::Number::value)
}

/// A column whose every value is a date (or missing), with at least two distinct: each row's
/// time (`None` when missing). `a/b/yyyy` dates are read day first when some first number is
/// above 12, else month first (as US exports write them).
fn date_column(cells: &[String], missing: &Missing) -> Option<Vec<Option<i64>>> {
    use sluice_core::outcome::{DateOrder, parse_time};
    let values: Vec<&str> = cells
        .iter()
        .map(String::as_str)
        .filter(|c| !missing.is_missing(c))
        .collect();
    // Numbers are numbers (a year alone, a count), never dates.
    if values.len() < 2 || values.iter().any(|v| csv_number(v).is_some()) {
        return None;
    }
    let read_all = |order: DateOrder| -> Option<Vec<Option<i64>>> {
        cells
            .iter()
            .map(|c| {
                if missing.is_missing(c) {
                    Some(None)
                } else {
                    parse_time(c, order).map(|t| Some(t.millis()))
                }
            })
            .collect()
    };
    let dates = read_all(DateOrder::MonthFirst).or_else(|| read_all(DateOrder::DayFirst))?;
    let mut distinct = dates.iter().flatten();
    let first = distinct.next()?;
    distinct.any(|d| d != first).then_some(dates)
}

/// A date column's features: days from the date to the row's time (or to the column's latest
/// date), its month and its weekday.
fn date_features(name: &str, dates: &[Option<i64>], row_times: Option<&[i64]>) -> Vec<Feature> {
    const DAY: f64 = 86_400_000.0;
    let latest = dates.iter().flatten().copied().max().unwrap_or(0);
    let missing = dates.iter().filter(|d| d.is_none()).count();
    let age: Vec<f64> = dates
        .iter()
        .enumerate()
        .map(|(row, d)| match d {
            Some(d) => {
                let reference = row_times.map_or(latest, |t| t[row]);
                ((reference - d) as f64 / DAY).round()
            }
            None => f64::NAN,
        })
        .collect();
    let parts = |label: fn(&chrono::DateTime<chrono::Utc>) -> String| -> Values {
        let texts: Vec<Option<String>> = dates
            .iter()
            .map(|d| {
                d.and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| label(&t))
            })
            .collect();
        let mut levels: Vec<String> = Vec::new();
        let codes = texts
            .iter()
            .map(|t| match t {
                None => MISSING,
                Some(t) => match levels.iter().position(|l| l == t) {
                    Some(i) => i as u32,
                    None => {
                        levels.push(t.clone());
                        levels.len() as u32 - 1
                    }
                },
            })
            .collect();
        Values::Categorical { levels, codes }
    };
    let source = || Source::Date {
        column: name.to_string(),
    };
    vec![
        Feature {
            name: format!("{name}: days before"),
            values: Values::Numeric {
                values: age,
                csv_numbers: true,
            },
            missing,
            source: source(),
        },
        Feature {
            name: format!("{name}: month"),
            values: parts(|t| t.format("%b").to_string()),
            missing,
            source: source(),
        },
        Feature {
            name: format!("{name}: weekday"),
            values: parts(|t| t.format("%a").to_string()),
            missing,
            source: source(),
        },
    ]
}

/// Types one column, or says why it is no feature.
fn type_column(
    name: &str,
    cells: Vec<String>,
    max_levels: Option<usize>,
    markers: &Missing,
) -> Result<Feature, ExcludedBecause> {
    let is_missing = |c: &str| markers.is_missing(c);
    let missing = cells.iter().filter(|c| is_missing(c)).count();
    let numbers: Option<Vec<f64>> = cells
        .iter()
        .map(|c| {
            if is_missing(c) {
                Some(f64::NAN)
            } else {
                c.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .or_else(|| csv_number(c))
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
        assert_eq!(parse_label("Closed Won"), Some(true));
        assert_eq!(parse_label("closed_lost"), Some(false));
        assert_eq!(parse_label("Lost"), Some(false));
        assert_eq!(parse_label("Negotiation"), None);
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
