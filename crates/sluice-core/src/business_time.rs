//! Business time for SLAs: working hours in a time zone, with holidays, and arithmetic on them.
//!
//! Hours are intervals of local wall-clock time; what counts is the real time that elapses inside
//! them. A 09:00-17:00 day is 8 hours, except when a daylight-saving change happens inside the
//! interval: a `Sun 00:00-24:00` calendar holds 23 hours on a spring-forward Sunday and 25 on a
//! fall-back one. A local time that does not exist (spring forward) stands for the first instant
//! after the gap; an ambiguous one (fall back) for the earlier of its two instants.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone,
    Weekday,
};
use chrono_tz::{GapInfo, Tz};

use crate::time::{Span, Timestamp};

const EXAMPLE: &str = "expected e.g. \"Mon-Fri 09:00-17:00\"";
const MINUTE: i64 = 60_000;
const MINUTES_PER_DAY: u32 = 24 * 60;

/// Working time exists in years 1 to 9999 (UTC) only: outside, every calendar is closed, which
/// bounds every walk and keeps dates inside chrono's calendar. Instants:
/// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
const FIRST_INSTANT: i64 = -62_135_596_800_000;
const END_INSTANT: i64 = 253_402_300_800_000;

/// The answer of [`WorkingHours::add`] when the deadline is after year 9999.
const NEVER: Timestamp = Timestamp::from_millis(i64::MAX);

/// chrono-tz's tables begin in 1844 and end in 2099: a zone's offset never changes on local dates
/// before `FIXED_BEFORE` or from `FIXED_FROM` on, so a week there holds exactly its nominal
/// working time. In between, whole weeks cannot be trusted (Gaza's clocks go back and forth
/// within seven days in 2040), and chrono-tz does not expose its transitions, so days are walked.
/// `tests/business_time.rs` checks these bounds against every zone.
const FIXED_BEFORE: NaiveDate = NaiveDate::from_ymd_opt(1800, 1, 1).expect("a valid date");
const FIXED_FROM: NaiveDate = NaiveDate::from_ymd_opt(2100, 1, 1).expect("a valid date");

/// Skipped weeks end by this local date, so all their instants are before `END_INSTANT`.
const LAST_SKIPPED: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");
/// Every instant of this local date or later is at or after `END_INSTANT` (offsets are < 24 h).
const PAST_END: NaiveDate = NaiveDate::from_ymd_opt(10000, 1, 2).expect("a valid date");

/// Days looked at on either side of an instant's local date: a clock change can move local time
/// by about a day (Samoa skipped one in 2011, Alaska repeated one in 1867), so an interval of a
/// neighbouring date may still cover it.
const NEIGHBOUR_DAYS: u64 = 2;

/// Why working hours could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessTimeError {
    /// The time zone is not an IANA name such as `Europe/Berlin`.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// An entry of the hours is not `<days> <HH:MM-HH:MM>[, <HH:MM-HH:MM>...]`.
    #[error("bad hours {spec:?} ({reason})")]
    BadHours {
        /// The entry as written.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A holiday is not a `YYYY-MM-DD` date.
    #[error("bad holiday date {0:?} (expected e.g. \"2026-12-25\")")]
    BadHoliday(String),
    /// The hours add up to no working time in a week, so no deadline could ever be met.
    #[error("no working time in the calendar ({EXAMPLE})")]
    NoWorkingTime,
}

/// A team's working calendar: a time zone, local working intervals per weekday, and holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    tz: Tz,
    /// Per weekday, Monday first: sorted, disjoint, non-touching local intervals, in minutes
    /// after midnight (an end may be 24:00).
    week: [Vec<(u32, u32)>; 7],
    /// Local dates on which the calendar is closed all day.
    holidays: BTreeSet<NaiveDate>,
    /// Nominal working time in a week, in milliseconds (always positive).
    weekly: i64,
}

impl WorkingHours {
    /// Reads a calendar, e.g. `parse("Europe/Berlin", &["Mon-Fri 09:00-12:30",
    /// "Mon-Fri 13:30-17:00", "Sat 10:00-14:00"], &["2026-12-25", "2026-12-26"])`.
    ///
    /// Days are `Mon`..`Sun` (or full names), as lists and ranges (`Mon,Wed`, `Mon-Fri`,
    /// `Fri-Mon`); one entry may give several intervals (`Mon-Fri 09:00-12:30, 13:30-17:00`).
    /// Intervals end after they start, at most at `24:00`; overlapping ones are merged.
    /// Holidays are local dates of the zone. A calendar without working time is an error.
    pub fn parse(
        time_zone: &str,
        hours: &[&str],
        holidays: &[&str],
    ) -> Result<WorkingHours, BusinessTimeError> {
        let tz = Tz::from_str(time_zone.trim())
            .map_err(|_| BusinessTimeError::UnknownTimeZone(time_zone.to_string()))?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for spec in hours {
            parse_hours(spec, &mut week)?;
        }
        week.iter_mut().for_each(merge);
        let weekly = week
            .iter()
            .flatten()
            .map(|&(from, to)| i64::from(to - from) * MINUTE)
            .sum();
        if weekly == 0 {
            return Err(BusinessTimeError::NoWorkingTime);
        }
        let holidays = holidays
            .iter()
            .map(|text| {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map_err(|_| BusinessTimeError::BadHoliday(text.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(WorkingHours {
            tz,
            week,
            holidays,
            weekly,
        })
    }

    /// Whether `t` falls in working time (intervals include their start, not their end).
    pub fn is_open(&self, t: Timestamp) -> bool {
        let t = t.millis();
        if !(FIRST_INSTANT..END_INSTANT).contains(&t) {
            return false;
        }
        let first = self.local_date(t) - Days::new(NEIGHBOUR_DAYS);
        first
            .iter_days()
            .take(2 * NEIGHBOUR_DAYS as usize + 1)
            .any(|date| self.day(date).any(|(from, to)| from <= t && t < to))
    }

    /// The instant when `span` of working time has passed after `start` (an SLA deadline).
    ///
    /// Real elapsed time counts, across clock changes too. A deadline that uses up an interval
    /// exactly is that interval's end; a span of 0 is the next opening (`start` itself when
    /// open); negative spans count as 0. After year 9999 the answer is `i64::MAX` ms.
    pub fn add(&self, start: Timestamp, span: Span) -> Timestamp {
        let start = start.millis().max(FIRST_INSTANT);
        if start >= END_INSTANT {
            return NEVER;
        }
        let mut remaining = span.millis().max(0);
        let first = self.local_date(start);
        let mut date = first - Days::new(NEIGHBOUR_DAYS);
        loop {
            // Whole weeks, but never the last one: the deadline must land inside an interval.
            if date > first && remaining > self.weekly {
                let weeks = self
                    .regular_weeks(date)
                    .min(((remaining - 1) / self.weekly) as u64);
                if weeks > 0 {
                    remaining -= weeks as i64 * self.weekly;
                    date = date + Days::new(7 * weeks);
                    continue;
                }
            }
            if date >= PAST_END {
                return NEVER;
            }
            for (from, to) in self.day(date) {
                if to <= start {
                    continue;
                }
                let from = from.max(start);
                if remaining <= to - from {
                    return Timestamp::from_millis(from + remaining);
                }
                remaining -= to - from;
            }
            date = date + Days::new(1);
        }
    }

    /// Working time between two instants (0 if `b <= a`).
    pub fn between(&self, a: Timestamp, b: Timestamp) -> Span {
        let (a, b) = (a.millis().max(FIRST_INSTANT), b.millis().min(END_INSTANT));
        if b <= a {
            return Span::from_millis(0);
        }
        let (first, last) = (self.local_date(a), self.local_date(b));
        let mut total = 0;
        let mut date = first - Days::new(NEIGHBOUR_DAYS);
        while self.instant(date, 0) < b {
            if date > first {
                let until_b = u64::try_from((last - date).num_days()).unwrap_or(0) / 7;
                let weeks = self.regular_weeks(date).min(until_b);
                if weeks > 0 {
                    total += weeks as i64 * self.weekly;
                    date = date + Days::new(7 * weeks);
                    continue;
                }
            }
            for (from, to) in self.day(date) {
                let (from, to) = (from.max(a), to.min(b));
                if from < to {
                    total += to - from;
                }
            }
            date = date + Days::new(1);
        }
        Span::from_millis(total)
    }

    /// The next instant at or after `t` that is working time (`i64::MAX` ms after year 9999).
    pub fn next_open(&self, t: Timestamp) -> Timestamp {
        self.add(t, Span::from_millis(0))
    }

    /// The start of the local day `t` falls in (midnight in the calendar's zone), for
    /// per-day counts such as a rep's new leads today.
    pub fn day_start(&self, t: Timestamp) -> Timestamp {
        let t = t.millis().clamp(FIRST_INSTANT, END_INSTANT - 1);
        Timestamp::from_millis(self.instant(self.local_date(t), 0))
    }

    /// The working intervals of a local date, as real instants `[from, to)` in milliseconds.
    fn day(&self, date: NaiveDate) -> impl Iterator<Item = (i64, i64)> + '_ {
        let hours: &[(u32, u32)] = if self.holidays.contains(&date) {
            &[]
        } else {
            &self.week[date.weekday().num_days_from_monday() as usize]
        };
        hours
            .iter()
            .map(move |&(from, to)| {
                let from = self.instant(date, from).max(FIRST_INSTANT);
                (from, self.instant(date, to).min(END_INSTANT))
            })
            .filter(|(from, to)| from < to)
    }

    /// The real instant, in milliseconds, of `minute` after local midnight of `date`.
    fn instant(&self, date: NaiveDate, minute: u32) -> i64 {
        let local = date.and_time(NaiveTime::MIN) + TimeDelta::minutes(i64::from(minute));
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.timestamp_millis(),
            LocalResult::Ambiguous(a, b) => a.timestamp_millis().min(b.timestamp_millis()),
            LocalResult::None => match GapInfo::new(&local, &self.tz).and_then(|gap| gap.end) {
                Some(after_gap) => after_gap.timestamp_millis(),
                // Only a gap at the very end of chrono-tz's tables has no end; none does.
                None => {
                    let offset = self.tz.offset_from_utc_datetime(&local).fix();
                    (local - offset).and_utc().timestamp_millis()
                }
            },
        }
    }

    /// The local date of an instant in the supported range.
    fn local_date(&self, t: i64) -> NaiveDate {
        let utc = DateTime::from_timestamp_millis(t).unwrap_or_default();
        utc.with_timezone(&self.tz).date_naive()
    }

    /// How many whole weeks from the start of `date` hold exactly the nominal working time: no
    /// holiday in them, and a zone offset that cannot change.
    fn regular_weeks(&self, date: NaiveDate) -> u64 {
        let fixed_until = if date >= FIXED_FROM {
            LAST_SKIPPED
        } else if date < FIXED_BEFORE {
            FIXED_BEFORE
        } else {
            return 0;
        };
        let until = match self.holidays.range(date..).next() {
            Some(&holiday) if holiday < fixed_until => holiday,
            _ => fixed_until,
        };
        u64::try_from((until - date).num_days()).unwrap_or(0) / 7
    }
}

/// Adds one entry of the hours, e.g. `Mon-Fri 09:00-12:30, 13:30-17:00`, to `week`.
fn parse_hours(spec: &str, week: &mut [Vec<(u32, u32)>; 7]) -> Result<(), BusinessTimeError> {
    let bad = |reason: String| BusinessTimeError::BadHours {
        spec: spec.to_string(),
        reason,
    };
    let (days, times) = spec.split_at(spec.find(|c: char| c.is_ascii_digit()).unwrap_or(0));
    if days.trim().is_empty() {
        return Err(bad(EXAMPLE.to_string()));
    }
    let mut weekdays = Vec::new();
    for range in days.split(',') {
        let range = range.trim();
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let weekday = |name: &str| {
            Weekday::from_str(name.trim()).map_err(|_| {
                bad(format!(
                    "unknown day {:?}; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun",
                    name.trim()
                ))
            })
        };
        let (mut day, last) = (weekday(first)?, weekday(last)?);
        weekdays.push(day);
        while day != last {
            day = day.succ();
            weekdays.push(day);
        }
    }
    for interval in times.split(',') {
        let (from, to) = interval
            .split_once('-')
            .and_then(|(from, to)| Some((parse_clock(from)?, parse_clock(to)?)))
            .ok_or_else(|| bad(EXAMPLE.to_string()))?;
        if to <= from {
            return Err(bad(
                "the end must be after the start; split a night shift at midnight, \
                 e.g. \"Mon 22:00-24:00\" and \"Tue 00:00-06:00\""
                    .to_string(),
            ));
        }
        for day in &weekdays {
            week[day.num_days_from_monday() as usize].push((from, to));
        }
    }
    Ok(())
}

/// Minutes after midnight of `HH:MM` (or `H:MM`), from 00:00 to 24:00.
fn parse_clock(text: &str) -> Option<u32> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let digits = |s: &str, len: RangeInclusive<usize>| {
        len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(minutes, 2..=2) {
        return None;
    }
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    let minute = hours * 60 + minutes;
    (minutes < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

/// Sorts intervals and merges those that overlap or touch.
fn merge(intervals: &mut Vec<(u32, u32)>) {
    intervals.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(intervals.len());
    for &(from, to) in intervals.iter() {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    *intervals = merged;
}
