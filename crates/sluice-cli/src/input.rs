//! Reading data files: leads and accounts (CSV or JSON Lines), events (JSON Lines in the
//! Segment message format). A bad row is reported with its file and line and skipped, unless
//! the run is strict.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::str::Utf8Error;
use std::sync::Mutex;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;
use sluice_core::engine::Hit;
use sluice_core::{Attributes, EventFields, Message, Model, Timestamp};

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
            let Ok(line) = line else {
                return rejections.reject(path, line_no, NOT_UTF8);
            };
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

fn read_csv(
    path: &Path,
    rejections: &mut Rejections,
    f: &mut impl FnMut(Record),
) -> anyhow::Result<()> {
    let mut table = CsvTable::open(path)?;
    // `id` and `email` mean something to Sluice (`lead.email` in rules, email aliases), so
    // `ID` or `Email` are stored under those names; other columns keep the case they were
    // given.
    for h in &mut table.headers {
        if let Some(name) = ["id", "email"]
            .into_iter()
            .find(|name| h.eq_ignore_ascii_case(name))
        {
            *h = name.to_string();
        }
    }
    let headers = &table.headers;
    let id_column = headers.iter().position(|h| h == "id");
    let email_column = headers.iter().position(|h| h == "email");
    if id_column.is_none() && email_column.is_none() {
        return Err(UserError(format!(
            "{}:1: no `id` or `email` column (columns: {})",
            path.display(),
            headers.join(", ")
        ))
        .into());
    }
    while let Some((line, _)) = table.next(rejections)? {
        let record = &table.record;
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
        for (i, (header, cell)) in table.headers.iter().zip(record.iter()).enumerate() {
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

/// A CSV file being read row by row; rows that cannot be read are rejected on the way.
struct CsvTable<'p> {
    path: &'p Path,
    reader: csv::Reader<BufReader<File>>,
    /// The header's names, trimmed.
    headers: Vec<String>,
    /// The last row [`CsvTable::next`] returned.
    record: csv::StringRecord,
}

impl<'p> CsvTable<'p> {
    /// Opens a CSV file (`,` or `;` separated, or tab-separated when named `.tsv`) and reads
    /// its header.
    fn open(path: &'p Path) -> anyhow::Result<Self> {
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
        let headers = reader
            .headers()
            .with_context(|| format!("{}: cannot read the header row", path.display()))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        Ok(CsvTable {
            path,
            reader,
            headers,
            record: csv::StringRecord::new(),
        })
    }

    /// Reads the next good row into `self.record`, rejecting unreadable rows, unterminated
    /// quotes and rows whose field count differs from the header's; returns the row's
    /// 1-based line and the byte offset after it, or `None` at the end.
    fn next(&mut self, rejections: &mut Rejections) -> anyhow::Result<Option<(u64, u64)>> {
        let path = self.path;
        loop {
            let line = self.reader.position().line();
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(line, |p| p.line());
                    rejections.reject(path, line, format!("unreadable CSV row: {e}"))?;
                    continue;
                }
            }
            let line = self.record.position().map_or(line, |p| p.line());
            let end = self.reader.position().byte();
            if let Some(start) = unterminated_quote(path, &self.record, end)? {
                rejections.reject(
                    path,
                    line,
                    format!(
                        "unterminated quote (the field starting on line {} runs to the end of the file)",
                        line + start
                    ),
                )?;
                continue;
            }
            if self.record.len() != self.headers.len() {
                rejections.reject(
                    path,
                    line,
                    format!(
                        "{} fields, but the header has {}",
                        self.record.len(),
                        self.headers.len()
                    ),
                )?;
                continue;
            }
            return Ok(Some((line, end)));
        }
    }
}

/// A row of a table file, and where it is.
#[derive(Debug)]
pub struct Row {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset just after the row (for progress).
    pub end: u64,
    /// Its columns, typed as [`cell_value`] types them (CSV) or as given (JSON); empty CSV
    /// cells are absent.
    pub columns: Attributes,
}

/// The column names of a CSV file's header (trimmed), or `None` for JSON Lines.
pub fn csv_header(path: &Path) -> anyhow::Result<Option<Vec<String>>> {
    match table_format(path)? {
        TableFormat::Csv => Ok(Some(CsvTable::open(path)?.headers)),
        TableFormat::JsonLines => Ok(None),
    }
}

/// Reads a CSV or JSON Lines table, calling `f` with each readable row in file order. Each
/// column (CSV header name, JSON key) is stored under the name `rename` gives it. No column is
/// required: `f` checks what it needs, and rejects a row through the [`Rejections`] it is
/// handed.
pub fn read_rows(
    path: &Path,
    rejections: &mut Rejections,
    rename: &dyn Fn(&str) -> String,
    mut f: impl FnMut(&mut Rejections, Row) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match table_format(path)? {
        TableFormat::Csv => {
            let mut table = CsvTable::open(path)?;
            let names: Vec<String> = table.headers.iter().map(|h| rename(h)).collect();
            while let Some((line, end)) = table.next(rejections)? {
                let mut columns = Attributes::new();
                for (name, cell) in names.iter().zip(table.record.iter()) {
                    if let Some(value) = cell_value(cell) {
                        columns.insert(name.clone(), value);
                    }
                }
                f(rejections, Row { line, end, columns })?;
            }
            Ok(())
        }
        TableFormat::JsonLines => for_each_line_at(path, |line, end, text| {
            let Ok(text) = text else {
                return rejections.reject(path, line, NOT_UTF8);
            };
            let object = match serde_json::from_str(text) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return rejections.reject(path, line, "expected a JSON object"),
                Err(e) => return rejections.reject(path, line, format!("invalid JSON: {e}")),
            };
            let columns = object.into_iter().map(|(k, v)| (rename(&k), v)).collect();
            f(rejections, Row { line, end, columns })
        }),
    }
}

/// When `record` is the tail of an unterminated quote, how many lines after the record's first
/// line its last field starts. The CSV reader takes an opening quote that is never closed to
/// run to the end of the file, silently swallowing every later row into one field: that is a
/// record which ends the file, whose last field spans lines, in a file that does not end with
/// the closing `"`. `end` is the reader's byte offset after the record.
fn unterminated_quote(
    path: &Path,
    record: &csv::StringRecord,
    end: u64,
) -> anyhow::Result<Option<u64>> {
    if !record
        .iter()
        .next_back()
        .is_some_and(|field| field.contains('\n'))
    {
        return Ok(None);
    }
    // Rare (a multi-line last field), so reading the file's tail again costs nothing.
    let mut file = open(path)?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if end < len {
        return Ok(None);
    }
    // The last non-blank byte is near the end of any real file.
    let tail_start = len.saturating_sub(64 * 1024);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(tail_start))
        .and_then(|_| file.read_to_end(&mut tail))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let closed = tail
        .iter()
        .rev()
        .find(|b| !b.is_ascii_whitespace())
        .is_none_or(|&b| b == b'"');
    if closed {
        return Ok(None);
    }
    let before: usize = record
        .iter()
        .take(record.len() - 1)
        .map(|field| field.matches('\n').count())
        .sum();
    Ok(Some(before as u64))
}

/// `,` or `;` (European exports), whichever the header uses more.
fn sniff_delimiter(path: &Path) -> anyhow::Result<u8> {
    let mut first = Vec::new();
    BufReader::new(open(path)?)
        .read_until(b'\n', &mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let count = |delimiter: u8| first.iter().filter(|&&b| b == delimiter).count();
    Ok(if count(b';') > count(b',') {
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

/// Why a line was rejected without being parsed.
pub const NOT_UTF8: &str = "line is not UTF-8 text";

/// Refuses an events file that is not named as JSON Lines.
pub fn require_events_file(path: &Path) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "jsonl" | "ndjson" | "json") {
        return Err(UserError(format!(
            "{}: events must be JSON Lines (one Segment message per line, named .jsonl)",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// Calls `f` with each non-blank line of a text file and its 1-based number. A line that is
/// not UTF-8 is passed as an error for the caller to reject, so one bad line does not end the
/// run. A byte-order mark at the start of the file is dropped.
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(u64, Result<&str, Utf8Error>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for_each_line_at(path, |number, _, line| f(number, line))
}

/// [`for_each_line`], also giving the byte offset just after each line (for progress).
pub fn for_each_line_at(
    path: &Path,
    mut f: impl FnMut(u64, u64, Result<&str, Utf8Error>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, open(path)?);
    let mut line = Vec::new();
    let mut number = 0;
    let mut offset = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("{}:{}: cannot read", path.display(), number + 1))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        offset += read as u64;
        let bytes = match line.strip_prefix("\u{feff}".as_bytes()) {
            Some(rest) if number == 1 => rest,
            _ => &line[..],
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                let text = text.trim();
                if !text.is_empty() {
                    f(number, offset, Ok(text))?;
                }
            }
            Err(e) => f(number, offset, Err(e))?,
        }
    }
}

/// Reads a JSON Lines file of Segment messages, calling `f` with each valid message and its
/// event time, in file order.
pub fn read_messages(
    path: &Path,
    rejections: &mut Rejections,
    mut f: impl FnMut(Message, Timestamp),
) -> anyhow::Result<()> {
    let fields = EventFields::all();
    read_lines_parallel(
        path,
        rejections,
        |line| parse_message(line, &fields),
        |(message, at)| f(message, at),
    )
}

/// Reads a JSON Lines file of Segment messages for scoring with `models`, calling `f` in file
/// order with each valid message, its event time and what its event matched: (index of the
/// model, hit). Messages are read with only the fields the models read, their events matched
/// on the reading threads, and handed over without what the history pipeline does not use
/// (properties, context, page name, message id). Rejections are those of [`read_messages`].
pub fn read_matched(
    path: &Path,
    rejections: &mut Rejections,
    models: &[&Model],
    mut f: impl FnMut(Message, Timestamp, &[(usize, Hit)]),
) -> anyhow::Result<()> {
    let mut fields = EventFields::default();
    for model in models {
        fields.union(model.event_fields());
    }
    let fields = &fields;
    read_lines_parallel(
        path,
        rejections,
        |line| {
            let (mut message, at) = parse_message(line, fields)?;
            let mut hits = Vec::new();
            if let Some(event) = message.take_event(at) {
                for (i, model) in models.iter().enumerate() {
                    model.match_event(&event, |hit| hits.push((i, hit)));
                }
            }
            message.message_id = None;
            Ok((message, at, hits))
        },
        |(message, at, hits)| f(message, at, &hits),
    )
}

/// Parses one line of an events file: the message and its event time, or why not.
pub fn parse_message(line: &str, fields: &EventFields) -> Result<(Message, Timestamp), String> {
    let message = Message::parse_with(line, fields).map_err(|e| e.to_string())?;
    let at = message.event_time(None).map_err(|e| e.to_string())?;
    Ok((message, at))
}

/// Reads a JSON Lines file in chunks on every core, each thread reading the next chunk and
/// calling `parse` on each of its non-blank lines, while this thread calls `f` with each
/// parsed line in file order. Lines are numbered, trimmed and rejected exactly as
/// [`for_each_line`] does, and `parse`'s errors are rejected with their line, in line order.
pub fn read_lines_parallel<T: Send>(
    path: &Path,
    rejections: &mut Rejections,
    parse: impl Fn(&str) -> Result<T, String> + Sync,
    mut f: impl FnMut(T),
) -> anyhow::Result<()> {
    require_events_file(path)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let source = Mutex::new(Chunks::new(open(path)?));
    // Emptied line buffers go back to the readers: reusing them spares the allocator (and the
    // kernel) fresh megabytes for every chunk.
    let emptied: Mutex<Vec<Vec<Line<T>>>> = Mutex::new(Vec::new());
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Parsed<T>)>(2 * threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, source, emptied, parse) = (tx.clone(), &source, &emptied, &parse);
            scope.spawn(move || {
                loop {
                    // The lock is held while reading only, so reading overlaps parsing.
                    let next = source.lock().expect("no reader panics").next();
                    let Some((seq, chunk)) = next else { return };
                    let parsed = chunk.map(|chunk| {
                        let lines = emptied.lock().expect("no reader panics").pop();
                        let lines = parse_chunk(&chunk, lines.unwrap_or_default(), parse);
                        let mut source = source.lock().expect("no reader panics");
                        source.spare.push(chunk.bytes);
                        lines
                    });
                    if tx.send((seq, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let result = deliver(path, rx, &emptied, rejections, &mut f);
        // Stops the readers: their next chunk has nowhere to go.
        source.lock().expect("no reader panics").done = true;
        result
    })
}

/// A chunk's lines: each parsed value or its rejection, in line order; or why the file
/// could not be read.
type Parsed<T> = Result<Vec<Line<T>>, ReadError>;

/// Why the file could not be read, and at which line.
type ReadError = (u64, std::io::Error);

/// One line of a chunk, parsed or rejected.
enum Line<T> {
    Parsed(T),
    Rejected(u64, String),
}

/// Hands chunks to `f` in file order as they arrive.
fn deliver<T>(
    path: &Path,
    rx: std::sync::mpsc::Receiver<(u64, Parsed<T>)>,
    emptied: &Mutex<Vec<Vec<Line<T>>>>,
    rejections: &mut Rejections,
    f: &mut impl FnMut(T),
) -> anyhow::Result<()> {
    let mut waiting = std::collections::BTreeMap::new();
    let mut next = 0u64;
    for (seq, parsed) in rx {
        waiting.insert(seq, parsed);
        while let Some(parsed) = waiting.remove(&next) {
            next += 1;
            let mut lines = parsed.map_err(|(line, error)| {
                anyhow::Error::new(error).context(format!("{}:{line}: cannot read", path.display()))
            })?;
            for line in lines.drain(..) {
                match line {
                    Line::Parsed(value) => f(value),
                    Line::Rejected(line, error) => rejections.reject(path, line, error)?,
                }
            }
            emptied.lock().expect("no reader panics").push(lines);
        }
    }
    Ok(())
}

/// The lines of a chunk, parsed, in `lines` (empty).
fn parse_chunk<T>(
    chunk: &Chunk,
    mut lines: Vec<Line<T>>,
    parse: &impl Fn(&str) -> Result<T, String>,
) -> Vec<Line<T>> {
    let mut number = chunk.first_line;
    let mut rest = &chunk.bytes[..];
    while !rest.is_empty() {
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = after;
        let bytes = match line.strip_prefix("\u{feff}".as_bytes()) {
            Some(rest) if number == 1 => rest,
            _ => line,
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                let text = text.trim();
                if !text.is_empty() {
                    lines.push(match parse(text) {
                        Ok(value) => Line::Parsed(value),
                        Err(error) => Line::Rejected(number, error),
                    });
                }
            }
            Err(_) => lines.push(Line::Rejected(number, NOT_UTF8.to_string())),
        }
        number += 1;
    }
    lines
}

/// Whole lines of a file, a few megabytes at a time.
struct Chunk {
    /// The 1-based number of its first line.
    first_line: u64,
    /// Its lines, each ended by `\n` but maybe the file's last.
    bytes: Vec<u8>,
}

/// A file cut into [`Chunk`]s, numbered in file order.
struct Chunks {
    file: File,
    /// Bytes read after the last whole line handed out.
    carry: Vec<u8>,
    /// Buffers of chunks already parsed, to read the next ones into.
    spare: Vec<Vec<u8>>,
    seq: u64,
    line: u64,
    /// The end of the file, an error, or no one waiting any more.
    done: bool,
}

impl Chunks {
    const SIZE: usize = 2 << 20;

    fn new(file: File) -> Self {
        Chunks {
            file,
            carry: Vec::new(),
            spare: Vec::new(),
            seq: 0,
            line: 1,
            done: false,
        }
    }

    /// The next chunk and its number, or why it could not be read; `None` at the end.
    fn next(&mut self) -> Option<(u64, Result<Chunk, ReadError>)> {
        if self.done {
            return None;
        }
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(&self.carry);
        bytes.reserve(Self::SIZE);
        let mut at_end = false;
        // Reads at least one whole line (or to the end of the file).
        let whole = loop {
            let start = bytes.len();
            if let Err(e) = (&mut self.file)
                .take(Self::SIZE as u64)
                .read_to_end(&mut bytes)
            {
                self.done = true;
                let line = self.line + memchr::memchr_iter(b'\n', &bytes[..start]).count() as u64;
                return Some((self.seq, Err((line, e))));
            }
            if bytes.len() == start {
                at_end = true;
                break bytes.len();
            }
            if let Some(i) = memchr::memrchr(b'\n', &bytes[start..]) {
                break start + i + 1;
            }
        };
        if at_end {
            self.done = true;
            if bytes.is_empty() {
                return None;
            }
        }
        self.carry.clear();
        self.carry.extend_from_slice(&bytes[whole..]);
        bytes.truncate(whole);
        let chunk = Chunk {
            first_line: self.line,
            bytes,
        };
        self.line += memchr::memchr_iter(b'\n', &chunk.bytes).count() as u64;
        let seq = self.seq;
        self.seq += 1;
        Some((seq, Ok(chunk)))
    }
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
