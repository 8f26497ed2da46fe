//! A leads, accounts or outcomes file, read as `sluice import`, `score`, `backtest` and
//! `learn` read one (`sluice_core::table`): CSV with its delimiter sniffed, or tab-separated,
//! as rows and as records keyed by `id` or `email`; and each line as a JSON Lines row. Never a
//! panic; every row is a row of the file (its line and end inside it, in file order), bad
//! rows say where they are, and a record's id is a trimmed, non-empty cell.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::{Corpus, fuzz_target};
use sluice_core::table::{self, BadRow, CsvTable, RowError};

fuzz_target!(|data: &[u8]| -> Corpus {
    let len = data.len() as u64;
    // Lines as an editor counts them: ended by `\n`, `\r\n` or a lone `\r`.
    let lines = data
        .split(|&b| b == b'\n')
        .map(|line| line.split(|&b| b == b'\r').count() as u64 - u64::from(line.ends_with(b"\r")))
        .sum::<u64>()
        .max(1);
    let check_bad = |bad: &BadRow, last: &mut u64| {
        assert!(
            bad.line >= 1 && bad.line <= lines,
            "{bad:?}: not a line of the file"
        );
        if let RowError::UnterminatedQuote { starts } = bad.problem {
            assert!(starts >= bad.line && starts <= lines, "{bad:?}");
        }
        let _ = bad.to_string();
        *last = (*last).max(bad.line);
    };
    for delimiter in [None, Some(b'\t')] {
        let Ok(mut rows) = CsvTable::new(Cursor::new(data), delimiter) else {
            continue;
        };
        let names: Vec<String> = rows.headers().iter().map(|h| h.to_lowercase()).collect();
        let (mut last_line, mut last_end) = (0, 0);
        while let Some(next) = rows.next_row().expect("reading memory cannot fail") {
            match next {
                Ok(at) => {
                    assert!(at.line > last_line, "row {at:?} after line {last_line}");
                    assert!(at.line <= lines, "{at:?}: not a line of the file");
                    assert!(at.end >= last_end && at.end <= len, "{at:?}: ends outside");
                    (last_line, last_end) = (at.line, at.end);
                    assert_eq!(rows.cells().count(), rows.headers().len());
                    let columns = rows.columns(&names);
                    assert!(columns.len() <= names.len());
                }
                Err(bad) => check_bad(&bad, &mut last_line),
            }
        }

        let table = CsvTable::new(Cursor::new(data), delimiter).expect("read once already");
        let Ok(mut records) = table.into_records() else {
            continue;
        };
        let mut last = 0;
        while let Some(next) = records.next_record().expect("reading memory cannot fail") {
            match next {
                Ok((line, record)) => {
                    assert!(line > last && line <= lines, "record on line {line}");
                    last = line;
                    assert!(!record.id.is_empty(), "a record without an id");
                    assert_eq!(record.id.trim(), record.id, "an id with spaces");
                }
                Err(bad) => check_bad(&bad, &mut last),
            }
        }
    }
    // The same bytes as JSON Lines, a row a line.
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let row = table::json_row(line);
            match table::json_record(line) {
                Ok(record) => {
                    assert!(row.is_ok());
                    assert!(!record.id.is_empty());
                }
                Err(RowError::NoId) => assert!(row.is_ok()),
                Err(e) => assert_eq!(row.err(), Some(e)),
            }
        }
    }
    Corpus::Keep
});
