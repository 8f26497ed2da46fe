//! Tables of leads, accounts and outcomes as files carry them: CSV with a header (`,` or `;`,
//! or tabs), rows whose cells are typed ([`cell_value`]), and each row that cannot be read with
//! its line and why, so a reader can skip it and report it; JSON Lines rows. Reads from the
//! reader it is handed (a file, bytes in memory) and opens nothing itself.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use serde_json::Value;

use crate::event::Attributes;

/// Why a table cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The first row is not CSV.
    #[error("cannot read the header row")]
    Header(#[source] csv::Error),
    /// Reading failed.
    #[error("cannot read")]
    Io(#[from] io::Error),
}

/// A row that is skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct BadRow {
    /// 1-based line number (of the row's first line).
    pub line: u64,
    /// What is wrong.
    pub problem: RowError,
}

/// What is wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The CSV reader refused it (not UTF-8, say).
    #[error("unreadable CSV row: {0}")]
    Unreadable(String),
    /// A quote opened on this row is never closed, so the CSV reader took the rest of the file
    /// as one field.
    #[error("unterminated quote (the field starting on line {starts} runs to the end of the file)")]
    UnterminatedQuote {
        /// The line where the unclosed field starts.
        starts: u64,
    },
    /// More or fewer fields than the header names.
    #[error("{fields} fields, but the header has {header}")]
    FieldCount {
        /// The row's fields.
        fields: usize,
        /// The header's.
        header: usize,
    },
    /// A leads or accounts row whose `id` and `email` cells are both empty.
    #[error("empty `id` and `email`")]
    EmptyId,
    /// A JSON Lines row that is not JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A JSON Lines row that is JSON, but not an object.
    #[error("expected a JSON object")]
    NotObject,
    /// A JSON Lines lead or account without an `id` or `email`.
    #[error("no `id` or `email`")]
    NoId,
}

/// What reading a table's next row gives: `None` at the end, else the row or why it is skipped;
/// `Err` when the table cannot be read on.
pub type Next<T> = Result<Option<Result<T, BadRow>>, TableError>;

/// Where the row [`CsvTable::next_row`] read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowAt {
    /// 1-based line number (of its first line).
    pub line: u64,
    /// Byte offset just after it (for progress).
    pub end: u64,
}

/// A CSV table being read row by row; rows that cannot be read come back as [`BadRow`]s on
/// the way.
pub struct CsvTable<R> {
    reader: csv::Reader<Lines<R>>,
    /// The header's names, trimmed.
    headers: Vec<String>,
    /// The last row [`CsvTable::next_row`] read.
    record: csv::StringRecord,
}

impl<R: Read + Seek> CsvTable<R> {
    /// Reads the header of the table that starts at the beginning of `reader`, separated by
    /// `delimiter`, or (`None`) by `,` or `;`, whichever its first line has more of.
    pub fn new(mut reader: R, delimiter: Option<u8>) -> Result<Self, TableError> {
        reader.rewind()?;
        let delimiter = match delimiter {
            Some(d) => d,
            None => {
                let d = sniff_delimiter(&mut reader)?;
                reader.rewind()?;
                d
            }
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(Lines::new(reader));
        let headers = reader
            .headers()
            .map_err(TableError::Header)?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        Ok(CsvTable {
            reader,
            headers,
            record: csv::StringRecord::new(),
        })
    }

    /// The header's names, trimmed.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Reads the next row; `None` at the end. A row that cannot be read, that is the tail of
    /// an unterminated quote, or whose field count differs from the header's, is a
    /// [`BadRow`]: the next call reads on after it.
    pub fn next_row(&mut self) -> Next<RowAt> {
        // Lines are told from byte offsets: the CSV reader's own line numbers are off after
        // blank lines and in files with `\r\n` line ends.
        let start = self.reader.position().byte();
        match self.reader.read_record(&mut self.record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => {
                let start = e.position().map_or(start, |p| p.byte());
                let line = self.reader.get_mut().line_at(start);
                let problem = RowError::Unreadable(e.to_string());
                return Ok(Some(Err(BadRow { line, problem })));
            }
        }
        let start = self.record.position().map_or(start, |p| p.byte());
        let line = self.reader.get_mut().line_at(start);
        let end = self.reader.position().byte();
        let bad = |problem| Ok(Some(Err(BadRow { line, problem })));
        if let Some(start) = self.unterminated_quote(end)? {
            return bad(RowError::UnterminatedQuote {
                starts: line + start,
            });
        }
        if self.record.len() != self.headers.len() {
            return bad(RowError::FieldCount {
                fields: self.record.len(),
                header: self.headers.len(),
            });
        }
        Ok(Some(Ok(RowAt { line, end })))
    }

    /// The cells of the row [`CsvTable::next_row`] read last, in header order.
    pub fn cells(&self) -> impl Iterator<Item = &str> {
        self.record.iter()
    }

    /// The row [`CsvTable::next_row`] read last as columns: each cell typed ([`cell_value`])
    /// under the name `names` gives its column; empty cells are absent.
    pub fn columns(&self, names: &[String]) -> Attributes {
        let mut columns = Attributes::new();
        for (name, cell) in names.iter().zip(self.record.iter()) {
            if let Some(value) = cell_value(cell) {
                columns.insert(name.clone(), value);
            }
        }
        columns
    }

    /// When the last row is the tail of an unterminated quote, how many lines after the row's
    /// first line its last field starts. The CSV reader takes an opening quote that is never
    /// closed to run to the end of the input, silently swallowing every later row into one
    /// field: that is a row which ends the input, whose last field spans lines, in an input
    /// that does not end with the closing `"`. `end` is the reader's byte offset after the
    /// row.
    fn unterminated_quote(&mut self, end: u64) -> io::Result<Option<u64>> {
        let last = self.record.iter().next_back();
        if last.is_none_or(|field| line_breaks(field.as_bytes()) == 0) {
            return Ok(None);
        }
        // Rare (a multi-line last field), so reading the input's tail again costs nothing;
        // the CSV reader's own position is put back after.
        let input = &mut self.reader.get_mut().inner;
        let resume = input.stream_position()?;
        let len = input.seek(SeekFrom::End(0))?;
        let closed = if end < len {
            true
        } else {
            // The last non-blank byte is near the end of any real file.
            let mut tail = Vec::new();
            input.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
            input.read_to_end(&mut tail)?;
            tail.iter()
                .rev()
                .find(|b| !b.is_ascii_whitespace())
                .is_none_or(|&b| b == b'"')
        };
        input.seek(SeekFrom::Start(resume))?;
        if closed {
            return Ok(None);
        }
        let before: u64 = self
            .record
            .iter()
            .take(self.record.len() - 1)
            .map(|field| line_breaks(field.as_bytes()))
            .sum();
        Ok(Some(before))
    }

    /// Reads the table as leads or accounts ([`Records`]); `Err` with the header's names when
    /// it has neither an `id` nor an `email` column.
    pub fn into_records(mut self) -> Result<Records<R>, Vec<String>> {
        // `id` and `email` mean something to Sluice (`lead.email` in rules, email aliases), so
        // `ID` or `Email` are stored under those names; other columns keep the case they were
        // given.
        for h in &mut self.headers {
            if let Some(name) = ["id", "email"]
                .into_iter()
                .find(|name| h.eq_ignore_ascii_case(name))
            {
                *h = name.to_string();
            }
        }
        let id_column = self.headers.iter().position(|h| h == "id");
        let email_column = self.headers.iter().position(|h| h == "email");
        if id_column.is_none() && email_column.is_none() {
            return Err(self.headers);
        }
        Ok(Records {
            table: self,
            id_column,
            email_column,
        })
    }
}

/// A lead or an account read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id (`id` column, else `email`).
    pub id: String,
    /// Every other column.
    pub attributes: Attributes,
}

/// A CSV table of leads or accounts, read [`Record`] by record.
pub struct Records<R> {
    table: CsvTable<R>,
    id_column: Option<usize>,
    email_column: Option<usize>,
}

impl<R: Read + Seek> Records<R> {
    /// The next record and its line, or the row that was skipped; `None` at the end. A
    /// record's id is its `id` cell, else its `email` (lower-cased); every other non-empty
    /// cell is an attribute (typed by [`cell_value`]).
    pub fn next_record(&mut self) -> Next<(u64, Record)> {
        let at = match self.table.next_row()? {
            None => return Ok(None),
            Some(Err(bad)) => return Ok(Some(Err(bad))),
            Some(Ok(at)) => at,
        };
        let record = &self.table.record;
        let id = self
            .id_column
            .map(|i| record[i].trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                self.email_column
                    .map(|i| record[i].trim().to_lowercase())
                    .filter(|s| !s.is_empty())
            });
        let Some(id) = id else {
            return Ok(Some(Err(BadRow {
                line: at.line,
                problem: RowError::EmptyId,
            })));
        };
        let mut attributes = Attributes::new();
        for (i, (header, cell)) in self.table.headers.iter().zip(record.iter()).enumerate() {
            if Some(i) == self.id_column {
                continue;
            }
            if let Some(value) = cell_value(cell) {
                attributes.insert(header.clone(), value);
            }
        }
        Ok(Some(Ok((at.line, Record { id, attributes }))))
    }
}

/// The line breaks in `text`: `\n`, `\r\n` or a lone `\r`, as editors count lines.
fn line_breaks(text: &[u8]) -> u64 {
    let mut breaks = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n')) {
            breaks += 1;
        }
    }
    breaks
}

/// A reader that notes where each line that holds something starts, so a row's line can be
/// told from its byte offset. Lines are counted as [`line_breaks`] counts them.
struct Lines<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Line breaks read so far.
    breaks: u64,
    /// The last byte read is a `\r`: a line break, unless a `\n` follows.
    after_cr: bool,
    /// No byte but line ends since the last line break (or the start).
    at_line_start: bool,
    /// The offset and 1-based line of the first byte of each line with something on it, read
    /// but not yet asked about.
    starts: VecDeque<(u64, u64)>,
}

impl<R> Lines<R> {
    fn new(inner: R) -> Self {
        Lines {
            inner,
            offset: 0,
            breaks: 0,
            after_cr: false,
            at_line_start: true,
            starts: VecDeque::new(),
        }
    }

    /// The line of a row that starts at byte `start`: the line of its first byte that is not a
    /// line end (the CSV reader skips blank lines, and counts a `\r\n`'s `\n` into the next
    /// row). Rows are asked about in file order.
    fn line_at(&mut self, start: u64) -> u64 {
        while self.starts.front().is_some_and(|&(at, _)| at < start) {
            self.starts.pop_front();
        }
        match self.starts.front() {
            Some(&(_, line)) => line,
            // Only line ends from `start` on: the row is empty, on the line after the last.
            None => self.breaks + 1,
        }
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if self.after_cr && b != b'\n' {
                self.breaks += 1;
                self.at_line_start = true;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' {
                self.breaks += 1;
                self.at_line_start = true;
            } else if b != b'\r' && self.at_line_start {
                self.starts.push_back((self.offset, self.breaks + 1));
                self.at_line_start = false;
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

/// `,` or `;` (European exports), whichever the first line uses more.
fn sniff_delimiter(reader: &mut impl Read) -> io::Result<u8> {
    let mut first = Vec::new();
    BufReader::new(reader).read_until(b'\n', &mut first)?;
    let count = |delimiter: u8| first.iter().filter(|&&b| b == delimiter).count();
    Ok(if count(b';') > count(b',') {
        b';'
    } else {
        b','
    })
}

/// A CSV cell as a typed value: empty cells are absent; numbers (see [`number`]) and booleans
/// are typed so conditions such as `account.employees >= 200` work; codes with leading zeros
/// stay text.
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
    match number(cell) {
        Some(Number::Int(i)) => Some(Value::from(i)),
        Some(Number::Float(f)) => Some(Value::from(f)),
        None => Some(Value::String(cell.to_string())),
    }
}

/// A number read from a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Written without a fraction.
    Int(i64),
    /// Written with one.
    Float(f64),
}

impl Number {
    /// As a float.
    pub fn value(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A cell as a number, as spreadsheets and CRM exports write them: `250`, `-3.5`, and also
/// with thousands separators (`13,302`, `1,234,567.89`: groups of exactly three digits), a
/// currency symbol before or after (`$1,200`, `1200 €`), a percent sign (`12 %` reads as 12)
/// or accounting parentheses for a negative (`(1,200)`). Codes with leading zeros (`02134`),
/// exponents past the finite range, `NaN` and `inf` are not numbers. A decimal comma
/// (`1,5`) is not read: `1,500` is one thousand five hundred.
pub fn number(cell: &str) -> Option<Number> {
    let cell = cell.trim();
    if let Some(n) = plain_number(cell) {
        return Some(n);
    }
    // Accounting negatives, then a sign, a currency symbol and a percent sign around the
    // digits, in any of the orders people write them ("-$1,200", "$-1,200", "1 200 €" aside).
    let (negative, body) = match cell.strip_prefix('(').and_then(|c| c.strip_suffix(')')) {
        Some(inner) => (true, inner.trim()),
        None => (false, cell),
    };
    let mut body = body;
    let mut sign = false;
    let mut marked = false;
    for _ in 0..2 {
        if let Some(rest) = body.strip_prefix('-') {
            sign = !sign;
            body = rest.trim_start();
        }
        if let Some(rest) = body.strip_prefix(CURRENCY) {
            body = rest.trim_start();
            marked = true;
        }
    }
    if let Some(rest) = body
        .strip_suffix(CURRENCY)
        .or_else(|| body.strip_suffix('%'))
    {
        body = rest.trim_end();
        marked = true;
    }
    let grouped = thousands(body);
    if !marked && grouped.is_none() {
        return None;
    }
    let digits = grouped.unwrap_or_else(|| body.to_string());
    let n = plain_number(&digits)?;
    Some(match (negative != sign, n) {
        (false, n) => n,
        (true, Number::Int(i)) => Number::Int(-i),
        (true, Number::Float(f)) => Number::Float(-f),
    })
}

/// Currency symbols read around a number.
const CURRENCY: [char; 6] = ['$', '€', '£', '¥', '₹', '₩'];

/// `1,234,567.89` without its separators, if the groups are right (1-3 digits, then groups of
/// three), else `None`.
fn thousands(text: &str) -> Option<String> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let mut groups = whole.split(',');
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = first.to_string();
    let mut any = false;
    for group in groups {
        if group.len() != 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push_str(group);
        any = true;
    }
    if !any {
        return None;
    }
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// A number as written in code: digits first (after an optional `-`), no leading zero,
/// finite.
fn plain_number(cell: &str) -> Option<Number> {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let numeric_start = digits.starts_with(|c: char| c.is_ascii_digit());
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !numeric_start || leading_zero {
        return None;
    }
    if let Ok(i) = cell.parse::<i64>() {
        return Some(Number::Int(i));
    }
    cell.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Number::Float)
}

/// One line of a JSON Lines table (trimmed, not blank) as columns: it must be a JSON object.
pub fn json_row(line: &str) -> Result<Attributes, RowError> {
    match serde_json::from_str(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(RowError::NotObject),
        Err(e) => Err(RowError::Json(e.to_string())),
    }
}

/// One line of a JSON Lines file of leads or accounts as a [`Record`] (its id as
/// [`record_id`] finds it).
pub fn json_record(line: &str) -> Result<Record, RowError> {
    let mut attributes = json_row(line)?;
    let id = record_id(&mut attributes).ok_or(RowError::NoId)?;
    Ok(Record { id, attributes })
}

/// The row's id: `id`, else `email` (lower-cased); the `id` field is removed from the
/// attributes.
pub fn record_id(attributes: &mut Attributes) -> Option<String> {
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

    #[test]
    fn numbers_as_exports_write_them() {
        let n = |cell: &str| number(cell).map(Number::value);
        assert_eq!(n("13,302"), Some(13302.0));
        assert_eq!(n("1,234,567.89"), Some(1234567.89));
        assert_eq!(n("$1,200"), Some(1200.0));
        assert_eq!(n("1200 €"), Some(1200.0));
        assert_eq!(n("-$1,200.50"), Some(-1200.5));
        assert_eq!(n("(1,200)"), Some(-1200.0));
        assert_eq!(n("12 %"), Some(12.0));
        assert_eq!(n("12.5%"), Some(12.5));
        assert_eq!(number("13,302"), Some(Number::Int(13302)));
        for text in [
            "1,5", "1,50", "12,3456", ",123", "1,,234", "$", "%", "$02134", "1.2.3", "US$12",
            "12 % off",
        ] {
            assert_eq!(n(text), None, "{text}");
        }
        assert_eq!(cell_value("$1,200"), Some(Value::from(1200)));
        assert_eq!(cell_value("1,5"), Some(Value::from("1,5")));
    }

    /// Every row of `text`: its line and cells, or why it was skipped.
    fn rows(text: &str) -> Vec<Result<(u64, Vec<String>), BadRow>> {
        let mut table = CsvTable::new(io::Cursor::new(text), None).unwrap();
        let mut rows = Vec::new();
        while let Some(row) = table.next_row().unwrap() {
            rows.push(row.map(|at| (at.line, table.cells().map(str::to_string).collect())));
        }
        rows
    }

    #[test]
    fn the_delimiter_is_sniffed_from_the_header() {
        let table = CsvTable::new(io::Cursor::new("a;b,c;d\n"), None).unwrap();
        assert_eq!(table.headers(), ["a", "b,c", "d"]);
        let table = CsvTable::new(io::Cursor::new("\u{feff} a ,b;c\n"), None).unwrap();
        assert_eq!(table.headers(), ["a", "b;c"]);
        let table = CsvTable::new(io::Cursor::new("a\tb,c\n"), Some(b'\t')).unwrap();
        assert_eq!(table.headers(), ["a", "b,c"]);
    }

    #[test]
    fn bad_rows_are_skipped_with_their_line() {
        let bad = |line, problem| Err(BadRow { line, problem });
        assert_eq!(
            rows("a,b\n1,2\n1,2,3\n\"x\ny\",4\n5,6\n"),
            [
                Ok((2, vec!["1".into(), "2".into()])),
                bad(
                    3,
                    RowError::FieldCount {
                        fields: 3,
                        header: 2
                    }
                ),
                Ok((4, vec!["x\ny".into(), "4".into()])),
                Ok((6, vec!["5".into(), "6".into()])),
            ]
        );
        // The quote opened on line 3 swallows the rest of the file.
        assert_eq!(
            rows("a,b\n1,2\n3,\"4\n5,6\n7,8\n"),
            [
                Ok((2, vec!["1".into(), "2".into()])),
                bad(3, RowError::UnterminatedQuote { starts: 3 }),
            ]
        );
        // A closed multi-line last field at the end is a row like any other.
        assert_eq!(
            rows("a,b\n1,\"2\n3\"\n"),
            [Ok((2, vec!["1".into(), "2\n3".into()]))]
        );
    }

    /// Found by fuzzing: the CSV reader's own line numbers were reported, which are one short
    /// on every row of a file with `\r\n` line ends (Excel's), and short by the blank lines
    /// before a row.
    #[test]
    fn rows_are_on_the_lines_an_editor_shows() {
        let lines = |text: &str| -> Vec<u64> {
            rows(text)
                .into_iter()
                .map(|row| row.map_or_else(|bad| bad.line, |(line, _)| line))
                .collect()
        };
        assert_eq!(lines("id,a\r\n1,2\r\n3\r\n4,5\r\n"), [2, 3, 4]);
        assert_eq!(lines("id,a\n1,2\n\n\n3,4\n\n5,6"), [2, 5, 7]);
        assert_eq!(lines("id,a\r\n1,2\r\n\r\n3,4\n5,6\r7,8\r"), [2, 4, 5, 6]);
        assert_eq!(lines("\n\nid,a\n1,2\n"), [4]);
        assert_eq!(lines("id,a\r\n1,\"x\r\ny\"\r\n3,4\r\n"), [2, 4]);
        assert_eq!(
            rows("id,a\r\n1,2\r\n\r\n3,\"4\r\n5,6\r\n"),
            [
                Ok((2, vec!["1".into(), "2".into()])),
                Err(BadRow {
                    line: 4,
                    problem: RowError::UnterminatedQuote { starts: 4 }
                }),
            ]
        );
        // A row that is not UTF-8 is located too.
        let mut table = CsvTable::new(io::Cursor::new(&b"id\r\n1\r\n\xff\r\n"[..]), None).unwrap();
        assert!(table.next_row().unwrap().unwrap().is_ok());
        assert_eq!(table.next_row().unwrap().unwrap().unwrap_err().line, 3);
    }

    #[test]
    fn records_are_keyed_by_id_else_email() {
        let text = "ID,Email,Employees\n7,a@x.io,250\n,B@X.io,\n,,3\n";
        let mut records = CsvTable::new(io::Cursor::new(text), None)
            .unwrap()
            .into_records()
            .unwrap();
        let mut read = Vec::new();
        while let Some(next) = records.next_record().unwrap() {
            read.push(next);
        }
        let record = |id: &str, attributes: Value| Record {
            id: id.into(),
            attributes: attributes.as_object().unwrap().clone(),
        };
        assert_eq!(
            read,
            [
                Ok((
                    2,
                    record(
                        "7",
                        serde_json::json!({"email": "a@x.io", "Employees": 250})
                    )
                )),
                Ok((3, record("b@x.io", serde_json::json!({"email": "B@X.io"})))),
                Err(BadRow {
                    line: 4,
                    problem: RowError::EmptyId
                }),
            ]
        );
        let table = CsvTable::new(io::Cursor::new("name,Mail\nx,y\n"), None).unwrap();
        assert_eq!(table.into_records().err().unwrap(), ["name", "Mail"]);
    }

    #[test]
    fn json_lines_rows_say_what_is_wrong() {
        assert_eq!(json_record(r#"{"id":7,"x":1}"#).unwrap().id, "7");
        assert_eq!(json_record(r#"{"email":" A@B.io "}"#).unwrap().id, "a@b.io");
        assert_eq!(json_record(r#"{"x":1}"#), Err(RowError::NoId));
        assert_eq!(json_row("[1]"), Err(RowError::NotObject));
        assert!(matches!(json_row("{"), Err(RowError::Json(_))));
    }
}
