//! Teams and reps as rows of a file: Sluice's own columns (what `sluice generate` writes:
//! `teams.csv` with `id,name,time_zone,working_hours,holidays,manager`, `reps.csv` with
//! `id,name,email,team_id,capacity`), or a CRM's export of its users (a HubSpot users export:
//! `User ID, First Name, Last Name, Email, Teams, Role...`; a Salesforce users report:
//! `Full Name, Email, Role, Active, Time Zone...`). Column names are matched without case,
//! spaces or punctuation, so `Team ID`, `team_id` and `teamId` are one column.
//!
//! A row read here is checked on its own; whether its team exists is the caller's question
//! ([`TeamRef`]), since it needs the database.

use std::collections::HashMap;

use serde_json::Value;
use sluice_core::Attributes;
use sluice_core::business_time::WorkingHours;
use sluice_store::{RepRow, TeamRow};

/// New leads a day a rep takes when the file does not say.
pub const DEFAULT_CAPACITY: i64 = 25;

/// How a rep's row names their team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamRef {
    /// By id (`team_id`): the team must exist.
    Id(String),
    /// By a CRM's team (or role) name: the team with that id or name, made with the default
    /// calendar when there is none.
    Named(String),
}

/// A rep's row, read.
#[derive(Debug, Clone)]
pub struct RepLine {
    /// The rep, with `team_id` still as the file named it (see `team`).
    pub rep: RepRow,
    /// Their team as the file names it.
    pub team: TeamRef,
}

/// A row's cells by their column's folded name.
struct Cells<'a>(HashMap<String, &'a Value>);

impl<'a> Cells<'a> {
    fn of(row: &'a Attributes) -> Self {
        Cells(row.iter().map(|(k, v)| (fold(k), v)).collect())
    }

    /// The first of `names` that holds text (numbers as written).
    fn text(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|name| match self.0.get(*name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    }

    /// The first of `names` present, with the column name it was found under.
    fn value(&self, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        names
            .iter()
            .find_map(|name| self.0.get(*name).map(|v| (*name, *v)))
            .filter(|(_, v)| !matches!(v, Value::Null) && v.as_str() != Some(""))
    }

    /// A `;`-separated cell.
    fn list(&self, names: &[&str]) -> Option<Vec<String>> {
        let cell = self.text(names)?;
        Some(
            cell.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
}

/// A column name without case, spaces or punctuation: `Team ID` → `teamid`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// An id made of a name: lower case, words joined by `-` (`EMEA Sales` → `emea-sales`).
pub fn slug(name: &str) -> String {
    let mut id = String::new();
    for word in name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !id.is_empty() {
            id.push('-');
        }
        id.extend(word.chars().flat_map(char::to_lowercase));
    }
    id
}

/// A time zone as CRMs write it: `America/New_York`, or Salesforce's
/// `(GMT-05:00) Eastern Standard Time (America/New_York)`: the IANA name in the last
/// parentheses.
pub fn time_zone(cell: &str) -> String {
    let cell = cell.trim();
    if let Some(open) = cell.rfind('(')
        && let Some(close) = cell[open..].find(')')
    {
        let inner = cell[open + 1..open + close].trim();
        if inner.contains('/') || inner == "UTC" {
            return inner.to_string();
        }
    }
    cell.to_string()
}

/// Checks a calendar as routing will read it.
pub fn calendar(time_zone: &str, hours: &[String], holidays: &[String]) -> Result<(), String> {
    let hours: Vec<&str> = hours.iter().map(String::as_str).collect();
    let holidays: Vec<&str> = holidays.iter().map(String::as_str).collect();
    WorkingHours::parse(time_zone, &hours, &holidays)
        .map(|_| ())
        .map_err(|e| format!("time_zone / working_hours / holidays: {e}"))
}

/// A team with the default calendar (UTC, Mon-Fri 09:00-17:00), as a CRM's team name makes
/// it.
pub fn default_team(id: String, name: String, now_ms: i64) -> TeamRow {
    TeamRow {
        id,
        name,
        time_zone: "UTC".into(),
        working_hours: vec!["Mon-Fri 09:00-17:00".into()],
        holidays: Vec::new(),
        manager: None,
        created_ms: now_ms,
        updated_ms: now_ms,
    }
}

/// A row of a teams file, checked: `id` (or made of `name`), `name`, `time_zone`,
/// `working_hours`, `holidays`, `manager`.
pub fn team_row(row: &Attributes, now_ms: i64) -> Result<TeamRow, String> {
    let cells = Cells::of(row);
    let name = cells.text(&["name", "teamname"]);
    let id = cells
        .text(&["id", "teamid"])
        .or_else(|| name.as_deref().map(slug).filter(|s| !s.is_empty()))
        .ok_or("id: missing (an `id` or a `name` column)")?;
    let time_zone = cells
        .text(&["timezone", "timezonesidkey"])
        .map_or_else(|| "UTC".into(), |tz| self::time_zone(&tz));
    let working_hours = cells
        .list(&["workinghours", "hours"])
        .unwrap_or_else(|| vec!["Mon-Fri 09:00-17:00".into()]);
    let holidays = cells.list(&["holidays"]).unwrap_or_default();
    calendar(&time_zone, &working_hours, &holidays)?;
    Ok(TeamRow {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        time_zone,
        working_hours,
        holidays,
        manager: cells.text(&["manager", "manageremail"]),
        created_ms: now_ms,
        updated_ms: now_ms,
    })
}

/// A row of a reps file or a CRM's users export, checked (its team is checked when it is
/// saved).
pub fn rep_row(row: &Attributes, now_ms: i64) -> Result<RepLine, String> {
    let cells = Cells::of(row);
    let email = cells
        .text(&["email", "emailaddress", "useremail"])
        .ok_or("email: missing")?;
    if !email.contains('@') {
        return Err(format!("email: `{email}` is not an email address"));
    }
    let email = email.to_lowercase();
    let id = cells
        .text(&["id", "repid"])
        .unwrap_or_else(|| email.clone());
    let name = cells.text(&["name", "fullname"]).or_else(|| {
        let first = cells.text(&["firstname"]);
        let last = cells.text(&["lastname"]);
        match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (one, other) => one.or(other),
        }
    });
    let team = if let Some(id) = cells.text(&["teamid"]) {
        TeamRef::Id(id)
    } else if let Some(teams) = cells.text(&[
        "team",
        "primaryteam",
        "teams",
        "assignedteams",
        "teamname",
        "role",
        "userrole",
        "rolename",
    ]) {
        // A user in several teams is routed in the first (HubSpot lists the primary first).
        let first = teams
            .split([';', ','])
            .map(str::trim)
            .find(|t| !t.is_empty());
        TeamRef::Named(first.unwrap_or(&teams).to_string())
    } else {
        return Err("team_id: missing (a `team_id`, `Team`, `Teams` or `Role` column)".into());
    };
    let capacity = match cells.value(&["capacity", "leadsperday"]) {
        None => DEFAULT_CAPACITY,
        Some((_, Value::Number(n))) => n
            .as_i64()
            .filter(|c| *c >= 0)
            .ok_or_else(|| format!("capacity: `{n}` must be a whole number, 0 or more"))?,
        Some((_, other)) => {
            return Err(format!(
                "capacity: `{}` must be a whole number",
                shown(other)
            ));
        }
    };
    let available = match cells.value(&["available", "active", "isactive", "deactivated", "status"])
    {
        None => true,
        Some((column, value)) => {
            let yes = flag(value).ok_or_else(|| {
                format!(
                    "{column}: `{}` must be true or false (or yes / no, 1 / 0)",
                    shown(value)
                )
            })?;
            if column == "deactivated" { !yes } else { yes }
        }
    };
    Ok(RepLine {
        rep: RepRow {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            email,
            team_id: match &team {
                TeamRef::Id(id) | TeamRef::Named(id) => id.clone(),
            },
            time_zone: cells
                .text(&["timezone", "timezonesidkey"])
                .map(|tz| time_zone(&tz)),
            working_hours: cells.list(&["workinghours", "hours"]),
            capacity,
            available,
            away_until_ms: None,
            created_ms: now_ms,
            updated_ms: now_ms,
        },
        team,
    })
}

/// A cell as it was written.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A yes or no as CRMs write it: a boolean, `1` / `0`, `true`, `yes`, `active`,
/// `deactivated`...
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64()? {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "active" | "enabled" => Some(true),
            "false" | "no" | "n" | "0" | "inactive" | "deactivated" | "disabled" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The team a [`TeamRef::Named`] means among `teams`: by id, by the id its name makes, or by
/// name without case.
pub fn find_named<'a>(teams: &'a [TeamRow], name: &str) -> Option<&'a TeamRow> {
    let id = slug(name);
    teams
        .iter()
        .find(|t| t.id == name || t.id == id)
        .or_else(|| teams.iter().find(|t| t.name.eq_ignore_ascii_case(name)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn sluices_own_columns_name_the_team_by_id() {
        let line = rep_row(
            &row(
                json!({"id": "maya", "name": "Maya Chen", "email": "Maya@Example.com",
                "team_id": "sdr", "capacity": 30}),
            ),
            0,
        )
        .unwrap();
        assert_eq!(line.team, TeamRef::Id("sdr".into()));
        assert_eq!(
            (
                line.rep.id.as_str(),
                line.rep.email.as_str(),
                line.rep.capacity
            ),
            ("maya", "maya@example.com", 30)
        );
    }

    #[test]
    fn a_hubspot_users_export_is_read_by_its_headers() {
        let line = rep_row(
            &row(
                json!({"User ID": 4411, "First Name": "Omar", "Last Name": "Haddad",
                "Email": "omar@example.com", "Teams": "EMEA Sales; Partners",
                "Last login": "2026-11-30", "Deactivated": "false"}),
            ),
            0,
        )
        .unwrap();
        assert_eq!(line.team, TeamRef::Named("EMEA Sales".into()));
        assert_eq!(line.rep.name, "Omar Haddad");
        assert_eq!(line.rep.id, "omar@example.com");
        assert!(line.rep.available);
        assert_eq!(line.rep.capacity, DEFAULT_CAPACITY);
    }

    #[test]
    fn a_salesforce_users_report_gives_role_time_zone_and_activity() {
        let line = rep_row(
            &row(
                json!({"Full Name": "Lucia Ortiz", "Email": "lucia@example.com",
                "Role": "SDR", "Active": 0,
                "Time Zone": "(GMT-05:00) Eastern Standard Time (America/New_York)"}),
            ),
            0,
        )
        .unwrap();
        assert_eq!(line.team, TeamRef::Named("SDR".into()));
        assert_eq!(line.rep.time_zone.as_deref(), Some("America/New_York"));
        assert!(!line.rep.available);
    }

    #[test]
    fn a_row_without_email_or_team_says_which_column() {
        let error = rep_row(&row(json!({"name": "x", "team_id": "sdr"})), 0).unwrap_err();
        assert!(error.starts_with("email: missing"), "{error}");
        let error = rep_row(&row(json!({"email": "x@example.com"})), 0).unwrap_err();
        assert!(error.starts_with("team_id: missing"), "{error}");
        let error = rep_row(
            &row(json!({"email": "x@example.com", "team": "a", "Active": "maybe"})),
            0,
        )
        .unwrap_err();
        assert!(error.starts_with("active: `maybe`"), "{error}");
    }

    #[test]
    fn teams_by_name_or_the_id_it_makes() {
        let teams = vec![
            default_team("emea-sales".into(), "EMEA Sales".into(), 0),
            default_team("ae".into(), "Account Executives".into(), 0),
        ];
        assert_eq!(find_named(&teams, "EMEA Sales").unwrap().id, "emea-sales");
        assert_eq!(find_named(&teams, "account executives").unwrap().id, "ae");
        assert_eq!(find_named(&teams, "ae").unwrap().id, "ae");
        assert!(find_named(&teams, "APAC").is_none());
        assert_eq!(slug("  EMEA / Sales "), "emea-sales");
    }

    #[test]
    fn a_team_without_id_takes_one_from_its_name() {
        let team = team_row(&row(json!({"Team name": "APAC Sales"})), 0).unwrap();
        assert_eq!(
            (team.id.as_str(), team.name.as_str()),
            ("apac-sales", "APAC Sales")
        );
        let error = team_row(&row(json!({"id": "x", "time_zone": "Mars/Base"})), 0).unwrap_err();
        assert!(error.starts_with("time_zone"), "{error}");
    }
}
