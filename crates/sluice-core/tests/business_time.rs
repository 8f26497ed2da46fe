//! Business-time arithmetic for SLAs, at fixed instants: weekends, breaks, holidays, time zones
//! and daylight-saving changes.

use std::sync::LazyLock;

use chrono::{Days, NaiveDate, Offset, TimeZone};
use proptest::prelude::*;
use sluice_core::business_time::{BusinessTimeError, WorkingHours};
use sluice_core::{Span, Timestamp};

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn span(text: &str) -> Span {
    Span::parse(text).unwrap()
}

fn calendar(zone: &str, hours: &[&str], holidays: &[&str]) -> WorkingHours {
    WorkingHours::parse(zone, hours, holidays).unwrap()
}

fn office(zone: &str) -> WorkingHours {
    calendar(zone, &["Mon-Fri 09:00-17:00"], &[])
}

#[test]
fn weekends_are_skipped() {
    let hours = office("Europe/Berlin");
    let friday = at("2026-02-06T16:00:00+01:00");
    let deadline = hours.add(friday, span("4h"));
    assert_eq!(deadline, at("2026-02-09T12:00:00+01:00"));
    assert_eq!(hours.between(friday, deadline), span("4h"));
    assert!(!hours.is_open(at("2026-02-07T12:00:00+01:00")));
    assert_eq!(
        hours.next_open(at("2026-02-07T12:00:00+01:00")),
        at("2026-02-09T09:00:00+01:00")
    );
}

#[test]
fn a_deadline_that_uses_up_a_day_is_its_close() {
    let hours = office("Europe/Berlin");
    let friday = at("2026-02-06T13:00:00+01:00");
    assert_eq!(
        hours.add(friday, span("4h")),
        at("2026-02-06T17:00:00+01:00")
    );
    assert!(!hours.is_open(at("2026-02-06T17:00:00+01:00")));
    assert!(hours.is_open(at("2026-02-06T09:00:00+01:00")));
}

#[test]
fn a_zero_span_is_the_next_opening() {
    let hours = office("Europe/Berlin");
    let saturday = at("2026-02-07T12:00:00+01:00");
    assert_eq!(
        hours.add(saturday, Span::from_millis(0)),
        at("2026-02-09T09:00:00+01:00")
    );
    let open = at("2026-02-09T10:15:00+01:00");
    assert_eq!(hours.add(open, Span::from_millis(0)), open);
    assert_eq!(hours.next_open(open), open);
    assert_eq!(hours.add(open, Span::from_millis(-5)), open);
}

#[test]
fn lunch_breaks_are_not_working_time() {
    let hours = calendar(
        "Europe/Berlin",
        &[
            "Mon-Fri 09:00-12:30",
            "Mon-Fri 13:30-17:00",
            "Sat 10:00-14:00",
        ],
        &[],
    );
    let monday = at("2026-02-09T11:00:00+01:00");
    assert_eq!(
        hours.add(monday, span("2h")),
        at("2026-02-09T14:00:00+01:00")
    );
    let lunch = at("2026-02-09T12:45:00+01:00");
    assert!(!hours.is_open(lunch));
    assert_eq!(hours.next_open(lunch), at("2026-02-09T13:30:00+01:00"));
    assert_eq!(
        hours.between(monday, at("2026-02-09T17:00:00+01:00")),
        span("5h")
    );
    // Saturday mornings count.
    let friday = at("2026-02-06T16:00:00+01:00");
    assert_eq!(
        hours.add(friday, span("4h")),
        at("2026-02-07T13:00:00+01:00")
    );
}

#[test]
fn several_intervals_in_one_entry_and_overlaps_merge() {
    let one = calendar("UTC", &["Mon-Fri 9:00-12:30, 13:30-17:00"], &[]);
    let two = calendar(
        "UTC",
        &["Mon-Fri 09:00-12:30", "Mon,Tue,Wed-Fri 13:30-17:00"],
        &[],
    );
    assert_eq!(one, two);
    // Ranges may wrap around the weekend; full and lower-case names work too.
    let wrapped = calendar("UTC", &["friday-Mon 10:00-11:00"], &[]);
    let week = (at("2026-02-09T00:00:00Z"), at("2026-02-16T00:00:00Z"));
    assert_eq!(wrapped.between(week.0, week.1), span("4h"));
    let merged = calendar("UTC", &["Mon 09:00-13:00", "Mon 12:00-17:00"], &[]);
    let monday = at("2026-02-09T00:00:00Z");
    assert_eq!(
        merged.between(monday, at("2026-02-10T00:00:00Z")),
        span("8h")
    );
}

#[test]
fn holidays_are_closed_all_day() {
    let hours = calendar(
        "Europe/Berlin",
        &["Mon-Fri 09:00-17:00"],
        &["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"],
    );
    let wednesday = at("2026-12-23T16:00:00+01:00");
    assert_eq!(
        hours.add(wednesday, span("4h")),
        at("2026-12-28T12:00:00+01:00")
    );
    assert!(!hours.is_open(at("2026-12-24T10:00:00+01:00")));
    assert_eq!(
        hours.between(wednesday, at("2027-01-05T09:00:00+01:00")),
        span("33h")
    );
}

#[test]
fn a_deadline_across_berlin_spring_forward() {
    let hours = office("Europe/Berlin");
    let friday = at("2026-03-27T15:00:00+01:00");
    let deadline = hours.add(friday, span("4h"));
    assert_eq!(deadline, at("2026-03-30T11:00:00+02:00"));
    assert_eq!(hours.between(friday, deadline), span("4h"));
    // The lost hour is on Sunday night, outside working time.
    assert_eq!(deadline.since(friday), span("67h"));
}

#[test]
fn a_deadline_across_berlin_fall_back() {
    let hours = office("Europe/Berlin");
    let friday = at("2026-10-23T15:00:00+02:00");
    let deadline = hours.add(friday, span("4h"));
    assert_eq!(deadline, at("2026-10-26T11:00:00+01:00"));
    assert_eq!(hours.between(friday, deadline), span("4h"));
    assert_eq!(deadline.since(friday), span("69h"));
}

#[test]
fn a_clock_change_inside_working_hours_counts_real_time() {
    let always = calendar("Europe/Berlin", &["Mon-Sun 00:00-24:00"], &[]);
    let spring = (
        at("2026-03-29T00:00:00+01:00"),
        at("2026-03-30T00:00:00+02:00"),
    );
    let fall = (
        at("2026-10-25T00:00:00+02:00"),
        at("2026-10-26T00:00:00+01:00"),
    );
    assert_eq!(always.between(spring.0, spring.1), span("23h"));
    assert_eq!(always.between(fall.0, fall.1), span("25h"));
    assert_eq!(
        always.add(spring.0, span("24h")),
        at("2026-03-30T01:00:00+02:00")
    );

    let night = calendar("Europe/Berlin", &["Sun 01:00-04:00"], &[]);
    assert_eq!(night.between(spring.0, spring.1), span("2h"));
    assert_eq!(night.between(fall.0, fall.1), span("4h"));
    assert_eq!(
        night.add(at("2026-03-29T01:00:00+01:00"), span("2h")),
        at("2026-03-29T04:00:00+02:00")
    );
    assert_eq!(
        night.add(at("2026-10-25T01:00:00+02:00"), span("3h")),
        at("2026-10-25T03:00:00+01:00")
    );
}

#[test]
fn nonexistent_times_start_after_the_gap_and_ambiguous_ones_at_the_earlier() {
    let hours = calendar("Europe/Berlin", &["Sun 02:30-05:00"], &[]);
    // 02:30 does not exist on 2026-03-29: work starts when clocks read 03:00.
    let spring = at("2026-03-29T00:00:00+01:00");
    assert_eq!(hours.next_open(spring), at("2026-03-29T03:00:00+02:00"));
    assert_eq!(
        hours.between(spring, at("2026-03-30T00:00:00+02:00")),
        span("2h")
    );
    // 02:30 happens twice on 2026-10-25: work starts at the first.
    let fall = at("2026-10-25T00:00:00+02:00");
    assert_eq!(hours.next_open(fall), at("2026-10-25T02:30:00+02:00"));
    assert_eq!(
        hours.between(fall, at("2026-10-26T00:00:00+01:00")),
        span("3h30m")
    );
}

#[test]
fn deadlines_across_new_york_changes() {
    let hours = office("America/New_York");
    let march = at("2026-03-06T16:00:00-05:00");
    assert_eq!(
        hours.add(march, span("4h")),
        at("2026-03-09T12:00:00-04:00")
    );
    let november = at("2026-10-30T16:00:00-04:00");
    assert_eq!(
        hours.add(november, span("4h")),
        at("2026-11-02T12:00:00-05:00")
    );
    let always = calendar("America/New_York", &["Mon-Sun 00:00-24:00"], &[]);
    assert_eq!(
        always.between(
            at("2026-03-08T00:00:00-05:00"),
            at("2026-03-09T00:00:00-04:00")
        ),
        span("23h")
    );
    assert_eq!(
        always.between(
            at("2026-11-01T00:00:00-04:00"),
            at("2026-11-02T00:00:00-05:00")
        ),
        span("25h")
    );
}

#[test]
fn tokyo_mondays_begin_on_utc_sundays() {
    let hours = calendar("Asia/Tokyo", &["Mon-Fri 07:00-16:00"], &[]);
    // Sunday 22:30 in UTC is Monday 07:30 in Tokyo; Friday 23:00 UTC is Saturday there.
    assert!(hours.is_open(at("2026-03-08T22:30:00Z")));
    assert!(!hours.is_open(at("2026-03-06T23:00:00Z")));
    assert_eq!(
        hours.next_open(at("2026-03-07T00:00:00Z")),
        at("2026-03-08T22:00:00Z")
    );
    let friday = at("2026-03-06T15:00:00+09:00");
    assert_eq!(hours.add(friday, span("2h")), at("2026-03-08T23:00:00Z"));
    assert_eq!(
        hours.between(at("2026-03-08T00:00:00Z"), at("2026-03-09T00:00:00Z")),
        span("2h")
    );
}

#[test]
fn auckland_keeps_its_own_dates_and_clock_changes() {
    let hours = calendar("Pacific/Auckland", &["Mon-Fri 08:30-17:00"], &[]);
    // Sunday 2026-01-04 in UTC, Monday 09:00 in Auckland.
    assert!(hours.is_open(at("2026-01-04T20:00:00Z")));
    assert_eq!(
        hours.next_open(at("2026-01-03T12:00:00Z")),
        at("2026-01-04T19:30:00Z")
    );
    // Holidays are Auckland dates: Monday the 5th there is still the 4th in UTC.
    let holiday = calendar(
        "Pacific/Auckland",
        &["Mon-Fri 08:30-17:00"],
        &["2026-01-05"],
    );
    assert!(!holiday.is_open(at("2026-01-04T20:00:00Z")));
    assert_eq!(
        holiday.next_open(at("2026-01-03T12:00:00Z")),
        at("2026-01-06T08:30:00+13:00")
    );
    // Daylight saving ends on Sunday 2026-04-05.
    let friday = at("2026-04-03T16:00:00+13:00");
    assert_eq!(
        hours.add(friday, span("2h")),
        at("2026-04-06T09:30:00+12:00")
    );
}

#[test]
fn huge_spans_skip_whole_weeks() {
    let hours = office("Europe/Berlin");
    // After 2099 chrono-tz keeps Berlin on +01:00, so weeks are exactly 40 h.
    let wednesday = at("2200-01-01T12:00:00+01:00");
    let thousand_weeks = Span::from_millis(span("40h").millis() * 1000);
    assert_eq!(
        hours.add(wednesday, thousand_weeks),
        at("2219-03-03T12:00:00+01:00")
    );
    // A holiday breaks the shortcut on its own date only: one more day.
    let holiday = calendar("Europe/Berlin", &["Mon-Fri 09:00-17:00"], &["2210-01-09"]);
    let deadline = holiday.add(wednesday, thousand_weeks);
    assert_eq!(deadline, at("2219-03-04T12:00:00+01:00"));
    assert_eq!(holiday.between(wednesday, deadline), thousand_weeks);

    // A century from 2026, through every clock change until 2099.
    let start = at("2026-01-07T12:00:00+01:00");
    let century = Span::from_millis(span("40h").millis() * 5200);
    let deadline = hours.add(start, century);
    assert_eq!(deadline, at("2125-09-05T12:00:00+01:00"));
    assert_eq!(hours.between(start, deadline), century);
}

#[test]
fn deadlines_after_year_9999_saturate() {
    let hours = office("Europe/Berlin");
    let start = at("2026-01-07T12:00:00+01:00");
    let never = Timestamp::from_millis(i64::MAX);
    assert_eq!(hours.add(start, Span::from_millis(i64::MAX)), never);
    assert_eq!(hours.next_open(never), never);
    assert!(!hours.is_open(never));
    assert!(!hours.is_open(Timestamp::from_millis(i64::MIN)));
    let all = hours.between(Timestamp::from_millis(i64::MIN), never);
    assert!(all > Span::from_millis(0));
    assert_eq!(hours.between(never, start), Span::from_millis(0));
}

#[test]
fn parse_errors_name_what_is_wrong() {
    let error = |zone: &str, hours: &[&str], holidays: &[&str]| {
        WorkingHours::parse(zone, hours, holidays)
            .unwrap_err()
            .to_string()
    };
    let week = &["Mon-Fri 09:00-17:00"][..];
    assert_eq!(
        error("Europe/Berln", week, &[]),
        r#"unknown time zone "Europe/Berln""#
    );
    assert_eq!(
        error("Europe/Berlin", &["9-17"], &[]),
        r#"bad hours "9-17" (expected e.g. "Mon-Fri 09:00-17:00")"#
    );
    for bad in [
        "Mon-Fri",
        "Mon-Fri 09:00",
        "Mon-Fri 9-17",
        "Mon-Fri 09:00-25:00",
        "Mon-Fri 09:60-17:00",
        "Mon-Fri 09:00-17:00,",
        "Mon-Fri 009:00-17:00",
        "Mon-Fri 24:00-24:00",
    ] {
        assert!(
            matches!(
                WorkingHours::parse("Europe/Berlin", &[bad], &[]),
                Err(BusinessTimeError::BadHours { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        error("Europe/Berlin", &["Mox-Fri 09:00-17:00"], &[]),
        r#"bad hours "Mox-Fri 09:00-17:00" (unknown day "Mox"; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)"#
    );
    assert!(error("Europe/Berlin", &["Mon 22:00-06:00"], &[]).contains("end must be after"));
    assert_eq!(
        error("Europe/Berlin", week, &["2026-02-30"]),
        r#"bad holiday date "2026-02-30" (expected e.g. "2026-12-25")"#
    );
    assert_eq!(
        WorkingHours::parse("Europe/Berlin", &[], &["2026-12-25"]),
        Err(BusinessTimeError::NoWorkingTime)
    );
    assert_eq!(
        error("Europe/Berlin", &[], &[]),
        r#"no working time in the calendar (expected e.g. "Mon-Fri 09:00-17:00")"#
    );
}

/// `add` and `between` skip whole weeks arithmetically only on local dates before 1800 and from
/// 2100 on, outside chrono-tz's tables, where no zone changes its offset. A chrono-tz whose tables
/// reach further fails here, and the bounds in `business_time.rs` must move.
#[test]
fn offsets_never_change_where_whole_weeks_are_skipped() {
    let offset = |tz: chrono_tz::Tz, date: NaiveDate| {
        let utc = date.and_hms_opt(0, 0, 0).unwrap();
        tz.offset_from_utc_datetime(&utc).fix()
    };
    let ranges = [
        (
            NaiveDate::from_ymd_opt(1797, 1, 1),
            NaiveDate::from_ymd_opt(1800, 1, 2),
        ),
        (
            NaiveDate::from_ymd_opt(2099, 12, 31),
            NaiveDate::from_ymd_opt(2103, 1, 1),
        ),
    ];
    for tz in chrono_tz::TZ_VARIANTS {
        for (from, to) in ranges {
            let (from, to) = (from.unwrap(), to.unwrap());
            let mut date = from;
            while date <= to {
                assert_eq!(offset(tz, date), offset(tz, from), "{tz} on {date}");
                date = date + Days::new(5);
            }
        }
    }
}

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z and 2027-01-01T00:00:00Z.
const YEAR_2026: std::ops::Range<i64> = 1_767_225_600_000..1_798_761_600_000;

/// 2200-01-01T00:00:00Z and 2201-01-01T00:00:00Z.
const YEAR_2200: std::ops::Range<i64> = 7_258_118_400_000..7_289_654_400_000;

static CALENDARS: LazyLock<Vec<WorkingHours>> = LazyLock::new(|| {
    vec![
        calendar(
            "Europe/Berlin",
            &["Mon-Fri 09:00-12:30, 13:30-17:00", "Sat 10:00-14:00"],
            &[
                "2026-04-03",
                "2026-04-06",
                "2026-12-25",
                "2026-12-26",
                "2200-06-02",
            ],
        ),
        // Every clock change falls inside working time.
        calendar("America/New_York", &["Mon-Sun 00:00-24:00"], &[]),
        calendar("Asia/Tokyo", &["Mon-Fri 09:00-18:00"], &[]),
        calendar(
            "Pacific/Auckland",
            &["Mon-Fri 08:30-17:00"],
            &["2026-01-01", "2026-02-06"],
        ),
        // Intervals in the hours that do not exist or happen twice.
        calendar(
            "Europe/Berlin",
            &["Mon-Fri 08:00-18:00", "Sun 01:30-03:30"],
            &[],
        ),
    ]
});

fn any_calendar() -> impl Strategy<Value = &'static WorkingHours> {
    (0..CALENDARS.len()).prop_map(|i| &CALENDARS[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn between_of_add_is_the_span(
        hours in any_calendar(),
        start in YEAR_2026,
        span in 0..=60 * DAY,
    ) {
        let start = Timestamp::from_millis(start);
        let span = Span::from_millis(span);
        let deadline = hours.add(start, span);
        prop_assert!(deadline >= start);
        prop_assert_eq!(hours.between(start, deadline), span);
    }

    #[test]
    fn whole_weeks_skipped_after_2099_add_up(
        hours in any_calendar(),
        start in YEAR_2200,
        span in 0..=1000 * DAY,
    ) {
        let start = Timestamp::from_millis(start);
        let span = Span::from_millis(span);
        prop_assert_eq!(hours.between(start, hours.add(start, span)), span);
    }

    #[test]
    fn add_is_monotone_in_start_and_span(
        hours in any_calendar(),
        starts in (YEAR_2026, YEAR_2026),
        spans in (0..=60 * DAY, 0..=60 * DAY),
    ) {
        let (early, late) = (starts.0.min(starts.1), starts.0.max(starts.1));
        let (short, long) = (spans.0.min(spans.1), spans.0.max(spans.1));
        let (early, late) = (Timestamp::from_millis(early), Timestamp::from_millis(late));
        let (short, long) = (Span::from_millis(short), Span::from_millis(long));
        prop_assert!(hours.add(early, short) <= hours.add(late, short));
        prop_assert!(hours.add(early, short) <= hours.add(early, long));
    }

    #[test]
    fn is_open_agrees_with_between(hours in any_calendar(), t in YEAR_2026) {
        let t = Timestamp::from_millis(t);
        let next = Timestamp::from_millis(t.millis() + 1);
        prop_assert_eq!(hours.is_open(t), hours.between(t, next) == Span::from_millis(1));
        let open = hours.next_open(t);
        prop_assert!(open >= t);
        prop_assert!(hours.is_open(open));
        prop_assert_eq!(hours.between(t, open), Span::from_millis(0));
    }
}
