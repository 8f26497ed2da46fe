//! Byte-level formatting into a reused `Vec<u8>`: RFC 3339 timestamps, CSV fields and JSON
//! strings. Hand-written because formatting dominates the generator's run time.

use std::io::Write;

/// Appends `ms` (Unix milliseconds) as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn timestamp(buf: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    if (0..=9999).contains(&year) {
        digits(buf, year as u32, 4);
    } else {
        // Out of RFC 3339's range; still written, so nothing is silently lost.
        let _ = write!(buf, "{year}");
    }
    buf.push(b'-');
    digits(buf, month, 2);
    buf.push(b'-');
    digits(buf, day, 2);
    buf.push(b'T');
    digits(buf, h as u32, 2);
    buf.push(b':');
    digits(buf, m as u32, 2);
    buf.push(b':');
    digits(buf, s as u32, 2);
    buf.push(b'.');
    digits(buf, milli as u32, 3);
    buf.push(b'Z');
}

/// Appends `value` zero-padded to `width` digits.
fn digits(buf: &mut Vec<u8>, value: u32, width: usize) {
    let mut tmp = [b'0'; 10];
    let mut v = value;
    let mut i = tmp.len();
    while v > 0 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = (tmp.len() - width).min(i);
    buf.extend_from_slice(&tmp[start..]);
}

/// Appends an unsigned integer in decimal.
pub(crate) fn uint(buf: &mut Vec<u8>, value: u64) {
    let mut tmp = [0u8; 20];
    let mut v = value;
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `value` zero-padded to at least `width` digits (ids like `lead-0000042`).
pub(crate) fn padded(buf: &mut Vec<u8>, value: u64, width: usize) {
    let mut tmp = Vec::with_capacity(20);
    uint(&mut tmp, value);
    for _ in tmp.len()..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp);
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends one CSV field, quoted only when it must be (RFC 4180).
pub(crate) fn csv_field(buf: &mut Vec<u8>, field: &str) {
    if field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        buf.push(b'"');
        for b in field.bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(field.as_bytes());
    }
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            let _ = write!(buf, "\\u{b:04x}");
        } else {
            buf.extend_from_slice(escape);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat};

    #[test]
    fn timestamps_match_chrono() {
        let samples = [
            0_i64,
            1,
            999,
            951_782_400_000,   // 2000-02-29
            1_772_619_072_345, // 2026-03-04T10:11:12.345Z
            4_102_444_799_999, // 2099-12-31T23:59:59.999Z
            -86_400_000,       // 1969-12-31
            1_709_164_800_000, // 2024-02-29
        ];
        for ms in samples
            .into_iter()
            .chain((0..2000).map(|i| i * 7_919_000_123_i64))
        {
            let mut buf = Vec::new();
            timestamp(&mut buf, ms);
            let expected = DateTime::from_timestamp_millis(ms)
                .expect("in range")
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(String::from_utf8(buf).expect("ascii"), expected, "ms {ms}");
        }
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut buf = Vec::new();
        csv_field(&mut buf, "VP, Engineering");
        buf.push(b',');
        csv_field(&mut buf, "plain");
        buf.push(b',');
        csv_field(&mut buf, "say \"hi\"");
        assert_eq!(buf, b"\"VP, Engineering\",plain,\"say \"\"hi\"\"\"");
    }

    #[test]
    fn json_strings_round_trip() {
        for s in [
            "plain",
            "O'Brien",
            "a\"b\\c",
            "line\nbreak\t\u{1}",
            "Ünïcode",
        ] {
            let mut buf = Vec::new();
            json_str(&mut buf, s);
            let back: String = serde_json::from_slice(&buf).expect("valid JSON");
            assert_eq!(back, s);
        }
    }

    #[test]
    fn integers() {
        let mut buf = Vec::new();
        uint(&mut buf, 0);
        buf.push(b' ');
        uint(&mut buf, u64::MAX);
        buf.push(b' ');
        padded(&mut buf, 42, 7);
        buf.push(b' ');
        padded(&mut buf, 123_456_789, 7);
        assert_eq!(buf, b"0 18446744073709551615 0000042 123456789");
    }
}
