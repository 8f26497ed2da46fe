//! Time as data: instants and spans are parameters, never read from a clock.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// Why a text could not be read as a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a timestamp (expected RFC 3339, e.g. 2026-10-01T09:30:00Z, or a date, e.g. 2026-10-01)"
)]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 / ISO 8601 (`2026-10-01T09:30:00.123Z`, `+02:00` offsets) or a bare
    /// date (`2026-10-01`, read as midnight UTC).
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = text.trim();
        if let Some(t) = Self::parse_utc(text.as_bytes()) {
            return Ok(t);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp(t.timestamp_millis()));
        }
        // Some SDKs omit the offset; Segment reads those as UTC.
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            return Ok(Timestamp(t.and_utc().timestamp_millis()));
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let t = d.and_hms_opt(0, 0, 0).expect("midnight exists");
            return Ok(Timestamp(t.and_utc().timestamp_millis()));
        }
        Err(TimestampError(text.to_string()))
    }

    /// The form SDKs send most, `2026-10-01T09:30:00Z` or `2026-10-01T09:30:00.123Z`, read
    /// without `chrono`; `None` for anything else (which `chrono` then reads, or refuses).
    fn parse_utc(text: &[u8]) -> Option<Self> {
        let millis = match text.len() {
            20 if text[19] == b'Z' => 0,
            24 if text[19] == b'.' && text[23] == b'Z' => digits(&text[20..23])?,
            _ => return None,
        };
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(i, c)| text[i] != c) {
            return None;
        }
        let (year, month, day) = (
            digits(&text[0..4])?,
            digits(&text[5..7])?,
            digits(&text[8..10])?,
        );
        let (hour, minute, second) = (
            digits(&text[11..13])?,
            digits(&text[14..16])?,
            digits(&text[17..19])?,
        );
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        // Leap seconds (`:60`) and years before 1000 are left to `chrono`.
        if !(1000..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day < 1
            || day > month_days[month as usize - 1]
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        // Days since the epoch in the proleptic Gregorian calendar (Howard Hinnant's
        // `days_from_civil`).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second;
        Some(Timestamp(seconds * 1000 + millis))
    }

    /// This instant as a `chrono` UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// The span from `earlier` to `self` (negative when `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }

    /// This instant moved by `span`.
    pub fn plus(self, span: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(span.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The number written in ASCII digits `text`, if it is only digits.
fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// A length of time in milliseconds, written in model files as `"30d"`, `"12h"`, `"1w"`,
/// `"90m"`, `"45s"` or combinations such as `"1d12h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(i64);

/// Why a text could not be read as a [`Span`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a duration (expected a number and a unit: s, m, h, d or w, e.g. \"30d\" or \"1d12h\")"
)]
pub struct SpanError(pub String);

impl Span {
    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Span(millis)
    }

    /// A span of whole days.
    pub const fn days(days: i64) -> Self {
        Span(days * 86_400_000)
    }

    /// Length in milliseconds.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Parses `"30d"`, `"1d12h"`, `"90m"`; the result is positive.
    pub fn parse(text: &str) -> Result<Self, SpanError> {
        let err = || SpanError(text.to_string());
        let mut total: i64 = 0;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(err());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
            if digits == 0 {
                return Err(err());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match rest[..unit_len].trim() {
                "ms" => 1,
                "s" => 1_000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                _ => return Err(err()),
            };
            rest = &rest[unit_len..];
            total = n
                .checked_mul(unit)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(err)?;
        }
        if total <= 0 {
            return Err(err());
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(i64, &str); 5] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
            (1, "ms"),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        // Days, not weeks: "14d" reads as model files write it.
        for (size, unit) in UNITS {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

/// How fast engagement points fade: after one half-life an action is worth half its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HalfLife {
    /// Points never fade.
    Never,
    /// Points halve every span.
    Every(Span),
}

impl HalfLife {
    /// Parses `"never"` or a duration such as `"30d"`.
    pub fn parse(text: &str) -> Result<Self, SpanError> {
        if text.trim().eq_ignore_ascii_case("never") {
            Ok(HalfLife::Never)
        } else {
            Span::parse(text).map(HalfLife::Every)
        }
    }

    /// The share of its points an action keeps after `age` (1 for the future or no decay).
    #[inline]
    pub fn factor(self, age: Span) -> f64 {
        match self {
            HalfLife::Never => 1.0,
            HalfLife::Every(h) if age.0 > 0 => (-(age.0 as f64) / h.0 as f64).exp2(),
            HalfLife::Every(_) => 1.0,
        }
    }
}

impl fmt::Display for HalfLife {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HalfLife::Never => f.write_str("never"),
            HalfLife::Every(span) => span.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `Timestamp::parse` gave before its fast path: `chrono` alone.
    fn by_chrono(text: &str) -> Option<i64> {
        let text = text.trim();
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_millis())
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|t| t.and_utc().timestamp_millis())
            })
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .expect("midnight exists")
                        .and_utc()
                        .timestamp_millis()
                })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn the_fast_path_reads_as_chrono_does(
            year in prop_oneof![Just(0u32), 999u32..=1001, 1969u32..=2101, Just(9999u32)],
            month in 0u32..=13,
            day in 0u32..=32,
            hour in 0u32..=24,
            minute in 0u32..=60,
            second in 0u32..=61,
            millis in 0u32..=999,
            form in 0u8..6,
        ) {
            let date = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
            let text = match form {
                0 => format!("{date}Z"),
                1 => format!("{date}.{millis:03}Z"),
                2 => format!("{date}.{millis:03}+02:00"),
                3 => format!("{date}.{millis}Z"),
                4 => format!("{date}.{millis:03}z"),
                _ => format!(" {date}.{millis:03}Z "),
            };
            prop_assert_eq!(Timestamp::parse(&text).ok().map(Timestamp::millis), by_chrono(&text), "{}", text);
        }

        #[test]
        fn odd_texts_read_as_chrono_does(text in "[0-9T:.Z+-]{18,26}") {
            prop_assert_eq!(Timestamp::parse(&text).ok().map(Timestamp::millis), by_chrono(&text), "{}", text);
        }
    }

    #[test]
    fn spans_parse_and_print() {
        assert_eq!(Span::parse("30d").unwrap(), Span::days(30));
        assert_eq!(Span::parse("1d12h").unwrap().millis(), 36 * 3_600_000);
        assert_eq!(Span::parse("2w").unwrap().to_string(), "14d");
        assert_eq!(Span::parse("30d").unwrap().to_string(), "30d");
        assert_eq!(Span::parse("90m").unwrap().to_string(), "1h30m");
        for bad in ["", "30", "d", "3x", "-3d", "0d", "99999999999999999w"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_parse() {
        let t = Timestamp::parse("2026-10-01T00:00:00Z").unwrap();
        assert_eq!(Timestamp::parse("2026-10-01").unwrap(), t);
        assert_eq!(Timestamp::parse("2026-10-01T02:00:00+02:00").unwrap(), t);
        assert_eq!(Timestamp::parse("2026-10-01T00:00:00.000").unwrap(), t);
        assert_eq!(t.to_string(), "2026-10-01T00:00:00.000Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn half_life_halves() {
        let h = HalfLife::parse("30d").unwrap();
        assert_eq!(h.factor(Span::days(30)), 0.5);
        assert_eq!(h.factor(Span::days(0)), 1.0);
        assert_eq!(
            HalfLife::parse("never").unwrap().factor(Span::days(900)),
            1.0
        );
    }
}
