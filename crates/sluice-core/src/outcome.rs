//! Outcome rows as people have them: Sluice's own shape (`type`, `amount`, `date`, `reason`),
//! or a CRM's export of deals: a HubSpot deals export or a Salesforce opportunities report,
//! one row per deal, read into the opportunity and, once the deal is closed, its win or loss.
//!
//! Every problem is named by its field; a row is read whole or not at all.

use serde_json::Value;

use crate::{Attributes, Timestamp};

/// The shape of an outcomes file (or of one API row), told by its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `lead_id` / `email` / `crm_id`, `type`, `amount`, `date`, `reason`.
    Sluice,
    /// A HubSpot deals export: `Deal Stage`, `Amount`, `Create Date`, `Close Date`,
    /// `Associated Contact` (`Name (email)`), `Associated Contact IDs`, `Closed Lost Reason`.
    Hubspot,
    /// A Salesforce opportunities report: `Stage`, `Amount`, `Created Date`, `Close Date`,
    /// `Email` (or `Contact: Email`), `Contact ID` / `Lead ID`, `Loss Reason`.
    Salesforce,
}

impl Shape {
    /// The shape of a row with these column names (matched ignoring case).
    pub fn of<'a>(columns: impl IntoIterator<Item = &'a str>) -> Shape {
        let columns: Vec<String> = columns.into_iter().map(normalise).collect();
        let has = |name: &str| columns.iter().any(|c| *c == normalise(name));
        if has("type") {
            Shape::Sluice
        } else if has("Deal Stage") || has("dealstage") {
            Shape::Hubspot
        } else if has("Stage") && (has("Opportunity Name") || has("Close Date")) {
            Shape::Salesforce
        } else {
            Shape::Sluice
        }
    }

    /// For people: `HubSpot deals export`.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::Sluice => "Sluice outcomes",
            Shape::Hubspot => "HubSpot deals export",
            Shape::Salesforce => "Salesforce opportunities report",
        }
    }
}

/// How a row names its lead; at least one is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadRef {
    /// Sluice's lead id (or any id it knows the lead by).
    pub lead_id: Option<String>,
    /// The lead's email, lower case.
    pub email: Option<String>,
    /// The CRM's id of the lead or contact (matched against the lead attribute `crm_id`).
    pub crm_id: Option<String>,
}

/// One outcome read from a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `opportunity`, `won` or `lost`.
    pub kind: String,
    /// Pipeline (opportunity) or bookings (won); required for both, never negative.
    pub amount: Option<f64>,
    /// When.
    pub at: Timestamp,
    /// Why (required for `lost`).
    pub reason: Option<String>,
}

/// A row read: its lead and what happened (a deal: the opportunity, then its close).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The lead it names.
    pub lead: LeadRef,
    /// Its outcomes, oldest first.
    pub outcomes: Vec<Outcome>,
}

/// The field a problem of [`read`] is about: the name it starts with, between backticks.
pub fn field_of(problem: &str) -> Option<&str> {
    problem.strip_prefix('`')?.split('`').next()
}

/// Which number of a date written `a/b/yyyy` is the month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateOrder {
    /// Neither is assumed: `3/5/2026` is refused as ambiguous, `25/5/2026` and `5/25/2026` are
    /// read (only one way is a date).
    #[default]
    Unambiguous,
    /// `3/5/2026` is 5 March (US exports).
    MonthFirst,
    /// `3/5/2026` is 3 May.
    DayFirst,
}

/// How rows are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Stands for a missing date where one may be missing (the API); without it, a missing
    /// date is a problem.
    pub now: Option<Timestamp>,
    /// How `a/b/yyyy` dates are read.
    pub dates: DateOrder,
}

/// Reads a row of `shape`. The problems are named by field.
pub fn read(row: &Attributes, shape: Shape, reading: Reading) -> Result<Read, Vec<String>> {
    let row = Row(row, reading.dates);
    let now = reading.now;
    match shape {
        Shape::Sluice => read_sluice(&row, now),
        Shape::Hubspot | Shape::Salesforce => read_deal(&row, shape, now),
    }
}

fn read_sluice(row: &Row<'_>, now: Option<Timestamp>) -> Result<Read, Vec<String>> {
    let mut problems = Vec::new();
    let lead = LeadRef {
        lead_id: row.text("lead_id"),
        email: row.text("email").map(|e| e.to_lowercase()),
        crm_id: row.text("crm_id"),
    };
    if lead == LeadRef::default() {
        problems.push("no `lead_id`, `email` or `crm_id`".to_string());
    }
    let kind = match row.text("type").map(|t| t.to_lowercase()).as_deref() {
        Some(k @ ("opportunity" | "won" | "lost")) => Some(k.to_string()),
        Some(other) => {
            problems.push(format!("`type`: `{other}` is not opportunity, won or lost"));
            None
        }
        None => {
            problems.push("`type` is missing (opportunity, won or lost)".to_string());
            None
        }
    };
    let amount = row.amount("amount", &mut problems);
    let at = row.time("date", now, &mut problems);
    let reason = row.text("reason");
    let outcome = kind.and_then(|kind| {
        let outcome = Outcome {
            kind,
            amount: amount.ok()?,
            at: at?,
            reason,
        };
        check(&outcome, "amount", "reason", &mut problems);
        Some(outcome)
    });
    match outcome {
        Some(outcome) if problems.is_empty() => Ok(Read {
            lead,
            outcomes: vec![outcome],
        }),
        _ => Err(problems),
    }
}

/// The rules every outcome meets: an amount for an opportunity or a win, a reason for a loss.
fn check(outcome: &Outcome, amount: &str, reason: &str, problems: &mut Vec<String>) {
    if outcome.amount.is_none() && outcome.kind != "lost" {
        problems.push(format!("`{amount}` is required for `{}`", outcome.kind));
    }
    if outcome.reason.is_none() && outcome.kind == "lost" {
        problems.push(format!("`{reason}` is required for `lost`"));
    }
}

/// The column names of a CRM's deal export, per field.
struct DealColumns {
    stage: &'static [&'static str],
    amount: &'static [&'static str],
    created: &'static [&'static str],
    closed: &'static [&'static str],
    email: &'static [&'static str],
    crm_id: &'static [&'static str],
    lead_id: &'static [&'static str],
    reason: &'static [&'static str],
}

const HUBSPOT: DealColumns = DealColumns {
    stage: &["Deal Stage", "dealstage"],
    amount: &["Amount", "amount"],
    created: &["Create Date", "createdate"],
    closed: &["Close Date", "closedate"],
    email: &[
        "Associated Email",
        "Associated Contact Email",
        "Contact Email",
        "Email",
        "Associated Contact",
        "Associated Contacts",
    ],
    crm_id: &[
        "Associated Contact IDs",
        "Associated Contact ID",
        "Contact ID",
    ],
    lead_id: &["lead_id"],
    reason: &["Closed Lost Reason", "closed_lost_reason", "Lost Reason"],
};

const SALESFORCE: DealColumns = DealColumns {
    stage: &["Stage", "StageName"],
    amount: &["Amount"],
    created: &["Created Date", "CreatedDate"],
    closed: &["Close Date", "CloseDate"],
    email: &[
        "Email",
        "Contact: Email",
        "Contact Email",
        "Primary Contact Email",
        "Lead: Email",
    ],
    crm_id: &["Contact ID", "Lead ID", "Contact: Contact ID", "ContactId"],
    lead_id: &["lead_id"],
    reason: &["Loss Reason", "Closed Lost Reason", "Reason Lost"],
};

/// A stage, as what it means for the deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Open,
    Won,
    Lost,
}

/// `closedwon`, `Closed Won`, `Closed - Won`: won; the same for lost; any other stage is open.
fn close_of(stage: &str) -> Close {
    let words = normalise(stage);
    if words.contains("lost") {
        Close::Lost
    } else if words.contains("won") || words == "closedwin" {
        Close::Won
    } else {
        Close::Open
    }
}

fn read_deal(row: &Row<'_>, shape: Shape, now: Option<Timestamp>) -> Result<Read, Vec<String>> {
    let columns = if shape == Shape::Hubspot {
        &HUBSPOT
    } else {
        &SALESFORCE
    };
    let mut problems = Vec::new();
    let pick = |names: &[&str]| names.iter().find_map(|n| row.find(n));
    let email = pick(columns.email).and_then(|(_, text)| email_in(&text));
    let lead = LeadRef {
        lead_id: pick(columns.lead_id).map(|(_, t)| t),
        email,
        crm_id: pick(columns.crm_id)
            .map(|(_, t)| {
                t.split([';', ','])
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .filter(|t| !t.is_empty()),
    };
    if lead == LeadRef::default() {
        problems.push(format!(
            "no contact to link the deal to (a column `{}` with an email, or `{}`)",
            columns.email[0], columns.crm_id[0]
        ));
    }
    let (stage_name, stage) = match pick(columns.stage) {
        Some((name, text)) => (name, Some(text)),
        None => (columns.stage[0].to_string(), None),
    };
    let close = match &stage {
        Some(stage) => close_of(stage),
        None => {
            problems.push(format!("`{stage_name}` is missing"));
            Close::Open
        }
    };
    let amount_name = pick(columns.amount).map_or(columns.amount[0].to_string(), |(n, _)| n);
    let amount = row.amount(&amount_name, &mut problems);
    let amount_bad = amount.is_err();
    let amount = amount.ok().flatten();
    let closed_name = pick(columns.closed).map_or(columns.closed[0].to_string(), |(n, _)| n);
    let created_name = pick(columns.created).map(|(n, _)| n);
    let closed = row.time(&closed_name, None, &mut Vec::new());
    let created = created_name
        .as_deref()
        .and_then(|n| row.time(n, None, &mut problems));
    // An open deal is an opportunity from its creation (else its expected close, else now); a
    // closed one also closes on its close date.
    let opened = created.or(if close == Close::Open { closed } else { None });
    let opened = match opened.or(now) {
        Some(at) => Some(at),
        None => {
            // A date that is there but not a date has said so already.
            if created_name.is_none() {
                problems.push(format!("`{}` is missing", columns.created[0]));
            }
            None
        }
    };
    let closed = if close == Close::Open {
        None
    } else {
        match closed {
            Some(at) => Some(at),
            None => {
                let mut why = Vec::new();
                row.time(&closed_name, None, &mut why);
                problems.extend(why);
                if !problems.iter().any(|p| p.contains(&closed_name)) {
                    problems.push(format!("`{closed_name}` is missing for a closed deal"));
                }
                None
            }
        }
    };
    let mut outcomes = Vec::new();
    if let Some(at) = opened {
        outcomes.push(Outcome {
            kind: "opportunity".into(),
            amount,
            at: at.min(closed.unwrap_or(at)),
            reason: None,
        });
    }
    if let Some(at) = closed {
        let reason_name = pick(columns.reason).map(|(n, _)| n);
        let reason = reason_name.as_deref().and_then(|n| row.text(n));
        outcomes.push(match close {
            Close::Won => Outcome {
                kind: "won".into(),
                amount,
                at,
                reason: None,
            },
            _ => Outcome {
                kind: "lost".into(),
                amount: None,
                at,
                // A CRM keeps the reason of a loss only when asked; the stage says it was lost.
                reason: Some(reason.unwrap_or_else(|| {
                    format!("{} (no reason given)", stage.clone().unwrap_or_default())
                })),
            },
        });
    }
    for outcome in outcomes.iter().filter(|_| !amount_bad) {
        check(outcome, &amount_name, "reason", &mut problems);
    }
    problems.dedup();
    if problems.is_empty() {
        Ok(Read { lead, outcomes })
    } else {
        Err(problems)
    }
}

/// The email in a cell: the cell itself, or the part in angle brackets or parentheses of
/// `Ada Lovelace (ada@example.com)`; the first of several.
fn email_in(text: &str) -> Option<String> {
    text.split([';', ',', ' ', '(', ')', '<', '>'])
        .map(str::trim)
        .find(|part| part.contains('@') && !part.starts_with('@') && !part.ends_with('@'))
        .map(str::to_lowercase)
}

/// A row's cells, found by name ignoring case, spaces and punctuation, and how its dates read.
struct Row<'a>(&'a Attributes, DateOrder);

impl Row<'_> {
    /// The column matching `name`, and its text.
    fn find(&self, name: &str) -> Option<(String, String)> {
        let wanted = normalise(name);
        self.0
            .iter()
            .find(|(k, _)| normalise(k) == wanted)
            .and_then(|(k, v)| cell_text(v).map(|t| (k.clone(), t)))
    }

    fn text(&self, name: &str) -> Option<String> {
        self.find(name).map(|(_, t)| t)
    }

    /// `Ok(None)` when absent; a problem when it is not an amount.
    fn amount(&self, name: &str, problems: &mut Vec<String>) -> Result<Option<f64>, ()> {
        let value = self
            .0
            .iter()
            .find(|(k, _)| normalise(k) == normalise(name))
            .map(|(_, v)| v);
        let number = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => parse_amount(s),
            Some(_) => None,
        };
        match number {
            Some(n) if n < 0.0 => {
                problems.push(format!("`{name}`: {n} is negative"));
                Err(())
            }
            Some(n) => Ok(Some(n)),
            None => {
                let shown = value.map(Value::to_string).unwrap_or_default();
                problems.push(format!("`{name}`: {shown} is not a number"));
                Err(())
            }
        }
    }

    /// The time in `name`, else `now`; a problem when it is missing (without `now`) or not a
    /// time.
    fn time(
        &self,
        name: &str,
        now: Option<Timestamp>,
        problems: &mut Vec<String>,
    ) -> Option<Timestamp> {
        match self.text(name) {
            None => {
                if now.is_none() {
                    problems.push(format!("`{name}` is missing"));
                }
                now
            }
            Some(text) => match parse_time(&text, self.1) {
                Some(t) => Some(t),
                None if ambiguous(&text) => {
                    problems.push(format!(
                        "`{name}`: `{text}` could be read month first or day first (write YYYY-MM-DD, or say which with --dates mdy or dmy)"
                    ));
                    None
                }
                None => {
                    problems.push(format!(
                        "`{name}`: `{text}` is not a time (use RFC 3339, YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], M/D/YYYY or D.M.YYYY, in UTC)"
                    ));
                    None
                }
            },
        }
    }
}

fn cell_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Lower case, without spaces, `_`, `-`, `:`, `.`: `Deal Stage` and `dealstage` are one name.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | ':' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// An amount as CRMs export it: `12000`, `12,000.50`, `$12,000.50`, `USD 12,000.50`,
/// `12.000,50 €`, `1 234,5`. The last `.` or `,` followed by one or two digits is the decimal
/// mark; other separators group thousands.
pub fn parse_amount(text: &str) -> Option<f64> {
    let mut digits = String::new();
    let mut kept = String::new();
    for c in text.trim().chars() {
        match c {
            '0'..='9' | '.' | ',' | '-' => kept.push(c),
            // Currency symbols, codes and spaces (also non-breaking and thin ones) go.
            c if c.is_alphabetic() || c.is_whitespace() || "$€£¥₹'’\u{202f}".contains(c) => {
            }
            _ => return None,
        }
    }
    let negative = kept.starts_with('-');
    let body = kept.trim_start_matches('-');
    if body.is_empty() || body.contains('-') {
        return None;
    }
    let decimal = body
        .rfind(['.', ','])
        .filter(|&i| (1..=2).contains(&(body.len() - i - 1)));
    for (i, c) in body.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            _ if Some(i) == decimal => digits.push('.'),
            _ => {}
        }
    }
    let value: f64 = digits.parse().ok().filter(|v: &f64| v.is_finite())?;
    Some(if negative { -value } else { value })
}

/// A time as CRMs export it, read as UTC: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`,
/// `M/D/YYYY [H:MM[ AM|PM]]` (month first, as US exports write it; day first when the first
/// number is over 12), or `D.M.YYYY` (day first).
pub fn parse_time(text: &str, order: DateOrder) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Some(t);
    }
    let (date, clock) = match text.split_once([' ', 'T']) {
        Some((d, c)) => (d.trim_end_matches(','), c.trim()),
        None => (text, ""),
    };
    let (y, m, d) = if date.len() == 10 && date.as_bytes()[4] == b'-' {
        let mut parts = date.split('-').map(|p| p.parse::<u32>().ok());
        (parts.next()??, parts.next()??, parts.next()??)
    } else if let Some((a, rest)) = date.split_once('/') {
        let (b, y) = rest.split_once('/')?;
        let (a, b, y) = (
            a.parse::<u32>().ok()?,
            b.parse::<u32>().ok()?,
            y.parse().ok()?,
        );
        match order {
            _ if a > 12 => (y, b, a),
            _ if b > 12 || a == b => (y, a, b),
            DateOrder::MonthFirst => (y, a, b),
            DateOrder::DayFirst => (y, b, a),
            DateOrder::Unambiguous => return None,
        }
    } else if let Some((d, rest)) = date.split_once('.') {
        let (m, y) = rest.split_once('.')?;
        (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    } else {
        return None;
    };
    let (mut hour, minute, second) = if clock.is_empty() {
        (0, 0, 0)
    } else {
        let upper = clock.to_ascii_uppercase();
        let (hm, meridiem) = match upper.split_once(' ') {
            Some((hm, m)) => (hm.to_string(), Some(m.trim().to_string())),
            None => (upper.clone(), None),
        };
        let mut parts = hm.split(':').map(|p| p.parse::<u32>().ok());
        let hour = parts.next()??;
        let minute = parts.next().flatten().unwrap_or(0);
        let second = parts.next().flatten().unwrap_or(0);
        let hour = match meridiem.as_deref() {
            Some("PM") if hour < 12 => hour + 12,
            Some("AM") if hour == 12 => 0,
            Some("AM" | "PM") | None => hour,
            Some(_) => return None,
        };
        (hour, minute, second)
    };
    if hour == 24 && minute == 0 && second == 0 {
        hour = 0;
    }
    let text = format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}Z");
    Timestamp::parse(&text).ok()
}

/// A date `a/b/yyyy` both of whose first numbers could be the month.
fn ambiguous(text: &str) -> bool {
    let date = text.split([' ', ',', 'T']).next().unwrap_or_default();
    let parts: Vec<Option<u32>> = date.split('/').map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [Some(a), Some(b), Some(_)] => (1..=12).contains(a) && (1..=12).contains(b) && a != b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn us() -> Reading {
        Reading {
            now: None,
            dates: DateOrder::MonthFirst,
        }
    }

    fn row(value: Value) -> Attributes {
        value.as_object().unwrap().clone().into_iter().collect()
    }

    #[test]
    fn amounts_as_crms_write_them() {
        for (text, want) in [
            ("12000", 12000.0),
            ("12,000.50", 12000.5),
            ("$12,000.50", 12000.5),
            ("USD 12,000.50", 12000.5),
            ("12.000,50 €", 12000.5),
            ("1 234,5", 1234.5),
            ("€1.234.567", 1_234_567.0),
            ("12,000", 12000.0),
            ("-5", -5.0),
        ] {
            assert_eq!(parse_amount(text), Some(want), "{text}");
        }
        for text in ["", "twelve", "12-3", "#12", "-"] {
            assert_eq!(parse_amount(text), None, "{text}");
        }
    }

    #[test]
    fn times_as_crms_write_them() {
        let t = |s: &str| parse_time(s, DateOrder::MonthFirst).map(|t| t.to_string());
        assert_eq!(t("2026-03-05").unwrap(), "2026-03-05T00:00:00.000Z");
        assert_eq!(t("2026-03-05 14:22").unwrap(), "2026-03-05T14:22:00.000Z");
        assert_eq!(t("3/5/2026").unwrap(), "2026-03-05T00:00:00.000Z");
        assert_eq!(t("25/5/2026").unwrap(), "2026-05-25T00:00:00.000Z");
        assert_eq!(t("3/5/2026, 2:30 PM").unwrap(), "2026-03-05T14:30:00.000Z");
        assert_eq!(t("3/5/2026 12:10 AM").unwrap(), "2026-03-05T00:10:00.000Z");
        assert_eq!(t("05.03.2026").unwrap(), "2026-03-05T00:00:00.000Z");
        assert_eq!(
            t("2026-03-05T14:22:10Z").unwrap(),
            "2026-03-05T14:22:10.000Z"
        );
        assert_eq!(t("13/13/2026"), None);
        assert_eq!(t("soon"), None);
        let day_first = parse_time("3/5/2026", DateOrder::DayFirst).unwrap();
        assert_eq!(day_first.to_string(), "2026-05-03T00:00:00.000Z");
        assert_eq!(parse_time("3/5/2026", DateOrder::Unambiguous), None);
        assert!(ambiguous("3/5/2026") && !ambiguous("3/25/2026") && !ambiguous("5/5/2026"));
        let five_five = parse_time("5/5/2026", DateOrder::Unambiguous).unwrap();
        assert_eq!(five_five.to_string(), "2026-05-05T00:00:00.000Z");
    }

    #[test]
    fn shapes_are_told_by_their_columns() {
        assert_eq!(Shape::of(["lead_id", "type", "amount"]), Shape::Sluice);
        assert_eq!(
            Shape::of(["Record ID", "Deal Name", "Deal Stage", "Amount"]),
            Shape::Hubspot
        );
        assert_eq!(
            Shape::of(["Opportunity Name", "Stage", "Amount", "Close Date"]),
            Shape::Salesforce
        );
    }

    #[test]
    fn a_won_hubspot_deal_is_an_opportunity_then_a_win() {
        let deal = row(json!({
            "Deal Name": "Acme expansion",
            "Deal Stage": "Closed Won",
            "Amount": "$24,000.00",
            "Create Date": "2026-02-01 10:00",
            "Close Date": "2026-03-15 16:30",
            "Associated Contact": "Ada Lovelace (Ada@Example.com)",
        }));
        let read = read(&deal, Shape::Hubspot, Reading::default()).unwrap();
        assert_eq!(read.lead.email.as_deref(), Some("ada@example.com"));
        let kinds: Vec<(&str, Option<f64>, String)> = read
            .outcomes
            .iter()
            .map(|o| (o.kind.as_str(), o.amount, o.at.to_string()))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    "opportunity",
                    Some(24000.0),
                    "2026-02-01T10:00:00.000Z".into()
                ),
                ("won", Some(24000.0), "2026-03-15T16:30:00.000Z".into()),
            ]
        );
    }

    #[test]
    fn a_lost_salesforce_opportunity_keeps_its_reason_and_an_open_one_is_pipeline() {
        let lost = row(json!({
            "Opportunity Name": "Globex",
            "Stage": "Closed Lost",
            "Amount": "USD 9,500",
            "Created Date": "1/10/2026",
            "Close Date": "2/20/2026",
            "Contact ID": "003XYZ",
            "Loss Reason": "Price",
        }));
        let read = read(&lost, Shape::Salesforce, us()).unwrap();
        assert_eq!(read.lead.crm_id.as_deref(), Some("003XYZ"));
        assert_eq!(read.outcomes[1].kind, "lost");
        assert_eq!(read.outcomes[1].reason.as_deref(), Some("Price"));
        assert_eq!(read.outcomes[1].at.to_string(), "2026-02-20T00:00:00.000Z");

        let open = row(json!({
            "Opportunity Name": "Initech",
            "Stage": "Proposal/Price Quote",
            "Amount": "12000",
            "Close Date": "6/30/2026",
            "Email": "bob@initech.com",
        }));
        let read = super::read(&open, Shape::Salesforce, us()).unwrap();
        assert_eq!(read.outcomes.len(), 1);
        assert_eq!(read.outcomes[0].kind, "opportunity");
    }

    #[test]
    fn a_deal_that_cannot_be_read_says_why_by_column() {
        let bad = row(json!({
            "Deal Stage": "closedwon",
            "Amount": "lots",
            "Create Date": "yesterday",
        }));
        let problems = read(&bad, Shape::Hubspot, Reading::default())
            .unwrap_err()
            .join("; ");
        assert!(problems.contains("no contact"), "{problems}");
        assert!(
            problems.contains("`Amount`: \"lots\" is not a number"),
            "{problems}"
        );
        assert!(!problems.contains("missing or not a date"), "{problems}");
        assert!(
            problems.contains("`Create Date`: `yesterday`"),
            "{problems}"
        );
    }

    #[test]
    fn sluice_rows_keep_their_rules() {
        let ok =
            row(json!({"email": "A@x.com", "type": "won", "amount": 10, "date": "2026-01-02"}));
        let read = read(&ok, Shape::Sluice, Reading::default()).unwrap();
        assert_eq!(read.lead.email.as_deref(), Some("a@x.com"));
        let lost = row(json!({"lead_id": "l1", "type": "lost", "date": "2026-01-02"}));
        assert_eq!(
            super::read(&lost, Shape::Sluice, Reading::default()).unwrap_err(),
            ["`reason` is required for `lost`"]
        );
        let bogus = row(json!({"lead_id": "l1", "type": "bogus", "date": "2026-01-02"}));
        assert_eq!(
            super::read(&bogus, Shape::Sluice, Reading::default()).unwrap_err(),
            ["`type`: `bogus` is not opportunity, won or lost"]
        );
    }
}
