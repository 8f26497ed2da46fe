//! Reading data files: leads and accounts (CSV or JSON Lines), events (JSON Lines in the
//! Segment message format). A bad row is reported with its file and line and skipped, unless
//! the run is strict.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;
use sluice_core::{Attributes, Message, Timestamp};

use crate::UserError;

/// A row that was not read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The file.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub error: String,
}

/// Rows rejected so far; in strict mode the first one ends the run.
#[derive(Debug, Default)]
pub struct Rejections {
    strict: bool,
    /// The first rejected rows (all of them up to a limit).
    pub rows: Vec<Rejected>,
    /// How many rows were rejected in all.
    pub count: u64,
}

impl Rejections {
    /// Keeps the first this many rejected rows for the report.
    const KEEP: usize = 1000;

    pub fn new(strict: bool) -> Self {
        Rejections {
            strict,
            ..Rejections::default()
        }
    }

    /// Records a bad row, or fails when strict.
    pub fn reject(
        &mut self,
        file: &Path,
        line: u64,
        error: impl Into<String>,
    ) -> anyhow::Result<()> {
        let rejected = Rejected {
            file: file.display().to_string(),
            line,
            error: error.into(),
        };
        if self.strict {
            return Err(UserError(format!(
                "{}:{}: {} (--strict)",
                rejected.file, rejected.line, rejected.error
            ))
            .into());
        }
        self.count += 1;
        if self.rows.len() < Self::KEEP {
            self.rows.push(rejected);
        }
        Ok(())
    }
}

/// A lead or an account read from a file.
#[derive(Debug)]
pub struct Record {
    /// Its id (`id` column, else `email`).
    pub id: String,
    /// Every other column.
    pub attributes: Attributes,
}

/// The two formats of leads and accounts files.
enum TableFormat {
    Csv,
    JsonLines,
}

fn table_format(path: &Path) -> anyhow::Result<TableFormat> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "tsv" | "txt" => Ok(TableFormat::Csv),
        "jsonl" | "ndjson" | "json" => Ok(TableFormat::JsonLines),
        _ => Err(UserError(format!(
            "{}: unknown file type (name it .csv for CSV or .jsonl for JSON Lines)",
            path.display()
        ))
        .into()),
    }
}

fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

/// Reads a leads or accounts file, calling `f` for each good row.
pub fn read_records(
    path: &Path,
    rejections: &mut Rejections,
    mut f: impl FnMut(Record),
) -> anyhow::Result<()> {
    match table_format(path)? {
        TableFormat::Csv => read_csv(path, rejections, &mut f),
        TableFormat::JsonLines => for_each_line(path, |line_no, line| {
            let value: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => return rejections.reject(path, line_no, format!("invalid JSON: {e}")),
            };
            let Value::Object(mut attributes) = value else {
                return rejections.reject(path, line_no, "expected a JSON object");
            };
            match record_id(&mut attributes) {
                Some(id) => {
                    f(Record { id, attributes });
                    Ok(())
                }
                None => rejections.reject(path, line_no, "no `id` or `email`"),
            }
        }),
    }
}

/// The row's id: `id`, else `email`; the `id` field is removed from the attributes.
fn record_id(attributes: &mut Attributes) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(id) = attributes.remove("id").as_ref().and_then(text) {
        return Some(id);
    }
    attributes
        .get("email")
        .and_then(text)
        .map(|e| e.to_lowercase())
}

fn read_csv(
    path: &Path,
    rejections: &mut Rejections,
    f: &mut impl FnMut(Record),
) -> anyhow::Result<()> {
    let file = open(path)?;
    let delimiter = if path.extension().is_some_and(|e| e == "tsv") {
        b'\t'
    } else {
        sniff_delimiter(path)?
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(BufReader::new(file));
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header row", path.display()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let id_column = headers.iter().position(|h| h.eq_ignore_ascii_case("id"));
    let email_column = headers.iter().position(|h| h.eq_ignore_ascii_case("email"));
    if id_column.is_none() && email_column.is_none() {
        return Err(UserError(format!(
            "{}:1: no `id` or `email` column (columns: {})",
            path.display(),
            headers.join(", ")
        ))
        .into());
    }
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                rejections.reject(path, line, format!("unreadable CSV row: {e}"))?;
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if record.len() != headers.len() {
            rejections.reject(
                path,
                line,
                format!(
                    "{} fields, but the header has {}",
                    record.len(),
                    headers.len()
                ),
            )?;
            continue;
        }
        let id = id_column
            .map(|i| record[i].trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                email_column
                    .map(|i| record[i].trim().to_lowercase())
                    .filter(|s| !s.is_empty())
            });
        let Some(id) = id else {
            rejections.reject(path, line, "empty `id` and `email`")?;
            continue;
        };
        let mut attributes = Attributes::new();
        for (i, (header, cell)) in headers.iter().zip(record.iter()).enumerate() {
            if Some(i) == id_column {
                continue;
            }
            if let Some(value) = cell_value(cell) {
                attributes.insert(header.clone(), value);
            }
        }
        f(Record { id, attributes });
    }
    Ok(())
}

/// `,` or `;` (European exports), whichever the header uses more.
fn sniff_delimiter(path: &Path) -> anyhow::Result<u8> {
    let mut first = String::new();
    BufReader::new(open(path)?)
        .read_line(&mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    })
}

/// A CSV cell as a typed value: empty cells are absent; numbers and booleans are typed so
/// conditions such as `account.employees >= 200` work; codes with leading zeros stay text.
pub fn cell_value(cell: &str) -> Option<Value> {
    let cell = cell.trim();
    if cell.is_empty() {
        return None;
    }
    if cell.eq_ignore_ascii_case("true") {
        return Some(Value::Bool(true));
    }
    if cell.eq_ignore_ascii_case("false") {
        return Some(Value::Bool(false));
    }
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let numeric_start = digits.starts_with(|c: char| c.is_ascii_digit());
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if numeric_start && !leading_zero {
        if let Ok(i) = cell.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(f) = cell.parse::<f64>()
            && f.is_finite()
        {
            return Some(Value::from(f));
        }
    }
    Some(Value::String(cell.to_string()))
}

/// Calls `f` with each non-blank line of a text file and its 1-based number.
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(u64, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, open(path)?);
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).with_context(|| {
            format!(
                "{}:{}: cannot read (is it UTF-8 text?)",
                path.display(),
                number + 1
            )
        })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let text = line.trim();
        if !text.is_empty() {
            f(number, text)?;
        }
    }
}

/// Reads a JSON Lines file of Segment messages, calling `f` with each valid message and its
/// event time.
pub fn read_messages(
    path: &Path,
    rejections: &mut Rejections,
    mut f: impl FnMut(Message, Timestamp),
) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "jsonl" | "ndjson" | "json") {
        return Err(UserError(format!(
            "{}: events must be JSON Lines (one Segment message per line, named .jsonl)",
            path.display()
        ))
        .into());
    }
    for_each_line(path, |line_no, line| {
        let message = match Message::parse(line) {
            Ok(m) => m,
            Err(e) => return rejections.reject(path, line_no, e.to_string()),
        };
        match message.event_time(None) {
            Ok(at) => {
                f(message, at);
                Ok(())
            }
            Err(e) => rejections.reject(path, line_no, e.to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_carefully() {
        assert_eq!(cell_value(" 250 "), Some(Value::from(250)));
        assert_eq!(cell_value("-3.5"), Some(Value::from(-3.5)));
        assert_eq!(cell_value("02134"), Some(Value::from("02134")));
        assert_eq!(cell_value("0.5"), Some(Value::from(0.5)));
        assert_eq!(cell_value("TRUE"), Some(Value::from(true)));
        assert_eq!(cell_value("NaN"), Some(Value::from("NaN")));
        assert_eq!(cell_value("inf"), Some(Value::from("inf")));
        assert_eq!(cell_value("1e400"), Some(Value::from("1e400")));
        assert_eq!(cell_value(""), None);
    }
}
