//! Reading data files: leads and accounts (CSV or JSON Lines), events (JSON Lines in the
//! Segment message format). A bad row is reported with its file and line and skipped, unless
//! the run is strict.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::Utf8Error;
use std::sync::Mutex;

use anyhow::Context as _;
use serde::Serialize;
use sluice_core::engine::Hit;
use sluice_core::history::{Gather, History};
use sluice_core::table::{self, CsvTable, Record, TableError};
use sluice_core::{Attributes, EventFields, Message, MessageKind, MessageRef, Model, Timestamp};

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
            match table::json_record(line) {
                Ok(record) => {
                    f(record);
                    Ok(())
                }
                Err(e) => rejections.reject(path, line_no, e.to_string()),
            }
        }),
    }
}

fn read_csv(
    path: &Path,
    rejections: &mut Rejections,
    f: &mut impl FnMut(Record),
) -> anyhow::Result<()> {
    let mut records = open_table(path)?.into_records().map_err(|headers| {
        anyhow::Error::from(UserError(format!(
            "{}:1: no `id` or `email` column (columns: {})",
            path.display(),
            headers.join(", ")
        )))
    })?;
    while let Some(next) = records.next_record().map_err(|e| table_error(path, e))? {
        match next {
            Ok((_, record)) => f(record),
            Err(bad) => rejections.reject(path, bad.line, bad.to_string())?,
        }
    }
    Ok(())
}

/// Opens a CSV file (`,` or `;` separated, or tab-separated when named `.tsv`) and reads its
/// header.
fn open_table(path: &Path) -> anyhow::Result<CsvTable<File>> {
    let delimiter = path
        .extension()
        .is_some_and(|e| e == "tsv")
        .then_some(b'\t');
    CsvTable::new(open(path)?, delimiter).map_err(|e| table_error(path, e))
}

/// A table that cannot be read, naming the file.
fn table_error(path: &Path, error: TableError) -> anyhow::Error {
    match error {
        TableError::Header(e) => {
            anyhow::Error::new(e).context(format!("{}: cannot read the header row", path.display()))
        }
        TableError::Io(e) => {
            anyhow::Error::new(e).context(format!("cannot read {}", path.display()))
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
    /// Its columns, typed as [`table::cell_value`] types them (CSV) or as given (JSON); empty CSV
    /// cells are absent.
    pub columns: Attributes,
}

/// The column names of a CSV file's header (trimmed), or `None` for JSON Lines.
pub fn csv_header(path: &Path) -> anyhow::Result<Option<Vec<String>>> {
    match table_format(path)? {
        TableFormat::Csv => Ok(Some(open_table(path)?.headers().to_vec())),
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
            let mut table = open_table(path)?;
            let names: Vec<String> = table.headers().iter().map(|h| rename(h)).collect();
            while let Some(next) = table.next_row().map_err(|e| table_error(path, e))? {
                match next {
                    Ok(at) => {
                        let columns = table.columns(&names);
                        let (line, end) = (at.line, at.end);
                        f(rejections, Row { line, end, columns })?;
                    }
                    Err(bad) => rejections.reject(path, bad.line, bad.to_string())?,
                }
            }
            Ok(())
        }
        TableFormat::JsonLines => for_each_line_at(path, |line, end, text| {
            let Ok(text) = text else {
                return rejections.reject(path, line, NOT_UTF8);
            };
            let object = match table::json_row(text) {
                Ok(object) => object,
                Err(e) => return rejections.reject(path, line, e.to_string()),
            };
            let columns = object.into_iter().map(|(k, v)| (rename(&k), v)).collect();
            f(rejections, Row { line, end, columns })
        }),
    }
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
        |_| Ok(()),
        |line, _| parse_message(line, &fields),
        |(), (message, at), _| f(message, at),
    )
}

/// A message of an events file as [`read_matched`] hands it over: what the history pipeline
/// reads of it.
pub enum Matched<'a> {
    /// A `track`, `page` or `screen` call: its ids (read from the file's text).
    Event {
        user_id: Option<&'a str>,
        anonymous_id: Option<&'a str>,
    },
    /// Any other message, without its properties, context, page name and message id.
    Message(Box<Message>),
}

impl Matched<'_> {
    /// Folds the message into `history` at its event time; for an event, what its id
    /// gathers, to record its hits in.
    pub fn fold<T: Gather>(self, history: &mut History<T>, at: Timestamp) -> Option<&mut T> {
        match self {
            Matched::Event {
                user_id,
                anonymous_id,
            } => history.event(user_id, anonymous_id, at),
            Matched::Message(message) => history.message(*message, at).map(|(_, data)| data),
        }
    }
}

/// What a reading thread hands over for one message of [`read_matched`].
enum Handed {
    /// An event, its ids as ranges of the chunk's bytes.
    Event {
        user_id: Option<(u32, u32)>,
        anonymous_id: Option<(u32, u32)>,
    },
    Message(Box<Message>),
}

/// Reads a JSON Lines file of Segment messages for scoring with `models`: first calls
/// `before` (reading the leads, say) while the file's first chunks are already being parsed,
/// then `f`, with what `before` made, in file order with each valid message, its event time
/// and what its event matched: (index of the model, hit). Returns what `before` made.
///
/// Messages are read with only the fields the models read, their events matched on the
/// reading threads, and handed over with only what the history pipeline uses: for an event
/// its ids, borrowed from the file's text. Rejections are those of [`read_messages`], after
/// those of `before`.
pub fn read_matched<S>(
    path: &Path,
    rejections: &mut Rejections,
    models: &[&Model],
    before: impl FnOnce(&mut Rejections) -> anyhow::Result<S>,
    mut f: impl FnMut(&mut S, Matched<'_>, Timestamp, &[(usize, Hit)]),
) -> anyhow::Result<S> {
    let mut fields = EventFields::default();
    for model in models {
        fields.union(model.event_fields());
    }
    let fields = &fields;
    // A page's name becomes its event's `name` property: not worth building when no rule
    // reads it.
    let page_names = fields.properties.keeps("name");
    read_lines_parallel(
        path,
        rejections,
        before,
        |line, chunk| {
            let mut message = MessageRef::parse_with(line, fields).map_err(|e| e.to_string())?;
            let at = message.event_time(None).map_err(|e| e.to_string())?;
            let mut hits = Hits::default();
            if !page_names && matches!(message.kind, MessageKind::Page | MessageKind::Screen) {
                message.name = None;
            }
            let Some(event) = message.take_event(at) else {
                let mut message = message.into_owned();
                message.message_id = None;
                return Ok((Handed::Message(Box::new(message)), at, hits));
            };
            for (i, model) in models.iter().enumerate() {
                model.match_event(&event, |hit| hits.push((i, hit)));
            }
            let read = match (
                borrowed(&message.user_id, chunk),
                borrowed(&message.anonymous_id, chunk),
            ) {
                (Some(user_id), Some(anonymous_id)) => Handed::Event {
                    user_id,
                    anonymous_id,
                },
                _ => {
                    let mut message = message.into_owned();
                    message.message_id = None;
                    Handed::Message(Box::new(message))
                }
            };
            Ok((read, at, hits))
        },
        |state, (read, at, hits), chunk| {
            let matched = match read {
                Handed::Event {
                    user_id,
                    anonymous_id,
                } => Matched::Event {
                    user_id: user_id.map(|range| text(chunk, range)),
                    anonymous_id: anonymous_id.map(|range| text(chunk, range)),
                },
                Handed::Message(message) => Matched::Message(message),
            };
            f(state, matched, at, hits.as_slice())
        },
    )
}

/// An event's hits, (index of the model, hit): the first few kept inline, as most events
/// match a rule or two, without an allocation each.
enum Hits {
    Few(usize, [(usize, Hit); Hits::FEW]),
    Many(Vec<(usize, Hit)>),
}

impl Default for Hits {
    fn default() -> Self {
        let none = Hit {
            at: Timestamp::from_millis(0),
            rule: 0,
            key: 0,
        };
        Hits::Few(0, [(0, none); Hits::FEW])
    }
}

impl Hits {
    const FEW: usize = 3;

    fn push(&mut self, hit: (usize, Hit)) {
        match self {
            Hits::Few(n, few) if *n < Hits::FEW => {
                few[*n] = hit;
                *n += 1;
            }
            Hits::Few(_, few) => {
                let mut many = few.to_vec();
                many.push(hit);
                *self = Hits::Many(many);
            }
            Hits::Many(many) => many.push(hit),
        }
    }

    fn as_slice(&self) -> &[(usize, Hit)] {
        match self {
            Hits::Few(n, few) => &few[..*n],
            Hits::Many(many) => many,
        }
    }
}

/// Where an id borrowed from a chunk's text is in it (start, length): `Some(None)` for no id,
/// `None` for an id that is not in the text (it had escapes, or the chunk is not all text).
fn borrowed(id: &Option<Cow<'_, str>>, chunk: &str) -> Option<Option<(u32, u32)>> {
    match id {
        None => Some(None),
        Some(Cow::Owned(_)) => None,
        Some(Cow::Borrowed(id)) => {
            let start = (id.as_ptr() as usize).checked_sub(chunk.as_ptr() as usize)?;
            if start + id.len() > chunk.len() {
                return None;
            }
            Some(Some((
                u32::try_from(start).ok()?,
                u32::try_from(id.len()).ok()?,
            )))
        }
    }
}

/// The text at `range` (start, length) of a chunk, which [`borrowed`] found in it.
fn text(chunk: &str, (start, len): (u32, u32)) -> &str {
    let (start, len) = (start as usize, len as usize);
    &chunk[start..start + len]
}

/// Parses one line of an events file: the message and its event time, or why not.
pub fn parse_message(line: &str, fields: &EventFields) -> Result<(Message, Timestamp), String> {
    let message = Message::parse_with(line, fields).map_err(|e| e.to_string())?;
    let at = message.event_time(None).map_err(|e| e.to_string())?;
    Ok((message, at))
}

/// Reads a JSON Lines file in chunks on every core, each thread reading the next chunk and
/// calling `parse` on each of its non-blank lines, while this thread calls `before` (so the
/// readers get ahead meanwhile), then `f` with what `before` made and each parsed line in file
/// order; returns what `before` made. `parse` and `f` are also handed the text of the line's
/// chunk (of which the line is a part; empty for a chunk that is not all UTF-8), so what
/// `parse` finds in it can be read there by `f` without a copy. Lines are numbered, trimmed
/// and rejected exactly as [`for_each_line`] does, and `parse`'s errors are rejected with
/// their line, in line order, after `before`'s. When the file cannot be opened, `before`'s
/// error comes first.
pub fn read_lines_parallel<T: Send, S>(
    path: &Path,
    rejections: &mut Rejections,
    before: impl FnOnce(&mut Rejections) -> anyhow::Result<S>,
    parse: impl Fn(&str, &str) -> Result<T, String> + Sync,
    mut f: impl FnMut(&mut S, T, &str),
) -> anyhow::Result<S> {
    let file = match require_events_file(path).and_then(|()| open(path)) {
        Ok(file) => file,
        Err(e) => {
            before(rejections)?;
            return Err(e);
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let source = Mutex::new(Chunks::new(file));
    // Emptied line buffers go back to the readers: reusing them spares the allocator (and the
    // kernel) fresh megabytes for every chunk.
    let emptied: Mutex<Vec<Vec<Line<T>>>> = Mutex::new(Vec::new());
    // Room for the chunks parsed while `before` runs (a few megabytes).
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Parsed<T>)>(Chunks::AHEAD);
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
                        let lines = lines.unwrap_or_default();
                        // A chunk of text (the usual case) is checked once, not line by line.
                        match String::from_utf8(chunk.bytes) {
                            Ok(text) => {
                                let bytes = text.as_bytes();
                                let lines =
                                    parse_chunk(chunk.first_line, bytes, &text, lines, parse);
                                (lines, Bytes::Text(text))
                            }
                            Err(e) => {
                                let bytes = e.into_bytes();
                                let lines = parse_chunk(chunk.first_line, &bytes, "", lines, parse);
                                (lines, Bytes::Raw(bytes))
                            }
                        }
                    });
                    if tx.send((seq, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let result = before(rejections).and_then(|mut state| {
            deliver(
                path,
                rx,
                &source,
                &emptied,
                rejections,
                &mut |value, text| f(&mut state, value, text),
            )
            .map(|()| state)
        });
        // Stops the readers: their next chunk has nowhere to go.
        source.lock().expect("no reader panics").done = true;
        result
    })
}

/// A chunk's lines (each parsed value or its rejection, in line order) and its bytes; or why
/// the file could not be read.
type Parsed<T> = Result<(Vec<Line<T>>, Bytes), ReadError>;

/// A chunk's bytes: text (all UTF-8), or not.
enum Bytes {
    Text(String),
    Raw(Vec<u8>),
}

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
    source: &Mutex<Chunks>,
    emptied: &Mutex<Vec<Vec<Line<T>>>>,
    rejections: &mut Rejections,
    f: &mut impl FnMut(T, &str),
) -> anyhow::Result<()> {
    let mut waiting = std::collections::BTreeMap::new();
    let mut next = 0u64;
    for (seq, parsed) in rx {
        waiting.insert(seq, parsed);
        while let Some(parsed) = waiting.remove(&next) {
            next += 1;
            let (mut lines, bytes) = parsed.map_err(|(line, error)| {
                anyhow::Error::new(error).context(format!("{}:{line}: cannot read", path.display()))
            })?;
            let text = match &bytes {
                Bytes::Text(text) => text.as_str(),
                Bytes::Raw(_) => "",
            };
            for line in lines.drain(..) {
                match line {
                    Line::Parsed(value) => f(value, text),
                    Line::Rejected(line, error) => rejections.reject(path, line, error)?,
                }
            }
            emptied.lock().expect("no reader panics").push(lines);
            let bytes = match bytes {
                Bytes::Text(text) => text.into_bytes(),
                Bytes::Raw(bytes) => bytes,
            };
            source.lock().expect("no reader panics").spare.push(bytes);
        }
    }
    Ok(())
}

/// The lines of a chunk starting at line `first_line`, parsed, in `lines` (empty). `text` is
/// the chunk as text when it is all UTF-8 (then lines are not checked again), else empty.
fn parse_chunk<T>(
    first_line: u64,
    bytes: &[u8],
    text: &str,
    mut lines: Vec<Line<T>>,
    parse: &impl Fn(&str, &str) -> Result<T, String>,
) -> Vec<Line<T>> {
    let whole = text.len() == bytes.len();
    let mut number = first_line;
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = if whole {
            Ok(&text[start..end])
        } else {
            std::str::from_utf8(&bytes[start..end])
        };
        start = end + 1;
        match line {
            Ok(line) => {
                let line = match line.strip_prefix('\u{feff}') {
                    Some(rest) if number == 1 => rest,
                    _ => line,
                };
                let line = line.trim();
                if !line.is_empty() {
                    lines.push(match parse(line, text) {
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

/// Whole lines of a file, a few hundred kilobytes at a time.
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
    /// Small enough for a chunk to be parsed while the processor's cache still holds it from
    /// the reading.
    const SIZE: usize = 256 << 10;

    /// Chunks parsed ahead of the one being handed over, at most.
    const AHEAD: usize = 64;

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
