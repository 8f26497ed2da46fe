//! Learning from the history: leads, their accounts, what they did (Segment events) and what
//! became of them (outcomes), turned into one row per lead that [`crate::learn`] learns from.
//!
//! Each lead is watched over a fixed window: from its first event up to `horizon` after its
//! creation. Its label is whether an opportunity came within that window, and for a lead that
//! became one, the window closes at the opportunity, so nothing that happened after the
//! outcome (sales calls, a trial opened by the account executive) is learned from. Every lead
//! gets the same span, whenever it was created: with "up to the end of the data" instead, old
//! leads would have had months more to do everything than recent ones, and the models would
//! learn the calendar. Leads created less than one horizon before the end of the data, without
//! an opportunity yet, are left out: their outcome is not known.
//!
//! A lead that converted is read at its opportunity, just after its latest actions; the others
//! are read just after their last event in the window, when their engagement was freshest too.
//! Read at the window's end instead, their decayed counts would have faded while the converting
//! leads' are fresh, and recency alone would look predictive.
//!
//! Features per lead: its attributes (the leads file, and `identify` traits sent before the
//! cut-off), its account's (as `account.<name>`), and per action (a `track` event by name, a
//! page view by its path's first segment) how often it was done before the cut-off and the
//! decayed count (each occurrence worth `2^(-age / half_life)` at the cut-off), which is
//! what an engagement rule capped at its own points gives.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;
use sluice_core::{Attributes, Event, HalfLife, MessageKind, Span, Timestamp};

use crate::LearnError;
use crate::suggest::slug;
use crate::table::{Dataset, Excluded, ExcludedBecause, RawTable, Roles, Source};

/// Something a lead did, as a feature: a `track` (or `screen`) event by name, or a page view by
/// its path's first segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// A `track` event by name (`screen` for screen views).
    Event(String),
    /// A page view whose path is this first segment or lies under it: `/pricing` for
    /// `/pricing` and `/pricing/teams`, `/` for the home page only.
    Page(String),
}

impl Action {
    /// The action an event stands for; `None` for a page view without a `properties.path`
    /// that starts with `/`.
    pub fn of(event: &Event) -> Option<Action> {
        match event.kind {
            MessageKind::Page => event
                .properties
                .get("path")
                .and_then(Value::as_str)
                .and_then(page_section)
                .map(Action::Page),
            _ => Some(Action::Event(event.name.clone())),
        }
    }

    /// `event` or `page`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Event(_) => "event",
            Action::Page(_) => "page",
        }
    }

    /// The id of its engagement rule: `demo-requested`, `page-pricing`, `page-home`.
    pub fn rule_id(&self) -> String {
        match self {
            Action::Event(name) => slug(name),
            Action::Page(section) if section == "/" => "page-home".into(),
            Action::Page(section) => format!("page-{}", slug(section)),
        }
    }

    /// In words, for a rule's description.
    pub fn describe(&self) -> String {
        match self {
            Action::Event(name) => format!("{name}, at least once"),
            Action::Page(section) if section == "/" => "The home page, at least once".into(),
            Action::Page(section) => format!("A page under {section}, at least once"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Event(name) => f.write_str(name),
            Action::Page(section) => write!(f, "page {section}"),
        }
    }
}

/// The first segment of a page path: `/pricing` for `/pricing/teams` and `/pricing/`, `/` for
/// `/` itself; `None` for a path that does not start with `/` or starts with `//`.
pub fn page_section(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some("/".into());
    }
    match rest.find('/') {
        Some(0) => None,
        Some(i) => Some(path[..=i].to_string()),
        None => Some(path.to_string()),
    }
}

/// How an engagement column counts an action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Occurrences before the cut-off.
    Count,
    /// Occurrences before the cut-off, each worth `2^(-age / half_life)` at the cut-off.
    Decayed(HalfLife),
}

/// What counts as a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// An opportunity was created.
    Opportunity,
    /// An opportunity was created and later won (lost ones are negatives, open ones are left
    /// out).
    Won,
}

impl Label {
    /// `opportunity` or `won`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Opportunity => "opportunity",
            Label::Won => "won",
        }
    }
}

/// What sales reported about a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// An opportunity was created.
    Opportunity,
    /// It was won.
    Won,
    /// It was lost.
    Lost,
}

/// An outcome and when it was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: OutcomeKind,
}

/// One occurrence of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Touch {
    /// When.
    pub at: Timestamp,
    /// Index of the action in the list handed to [`build`].
    pub action: u32,
}

/// Everything known about one lead.
#[derive(Debug, Clone, Default)]
pub struct LeadHistory {
    /// Its id.
    pub id: String,
    /// Attributes known without a time (the leads file), typed as `sluice score` types them.
    pub attributes: Attributes,
    /// `identify` traits with their times, in the order they apply.
    pub traits: Vec<(Timestamp, Attributes)>,
    /// Its account's attributes, if it has one.
    pub account: Option<Attributes>,
    /// When it was created (the leads file's creation time, else its first identified
    /// event); `None`: its first event.
    pub created: Option<Timestamp>,
    /// What it did, in any order.
    pub touches: Vec<Touch>,
    /// What became of it.
    pub outcomes: Vec<Outcome>,
}

impl LeadHistory {
    /// Its attributes as of `t`: the leads file's, then the traits sent before `t` in order.
    pub fn attributes_at(&self, t: Timestamp) -> Attributes {
        let mut attributes = self.attributes.clone();
        for (at, traits) in &self.traits {
            if *at < t {
                attributes.extend(traits.clone());
            }
        }
        attributes
    }
}

/// How to turn histories into a table.
#[derive(Debug, Clone)]
pub struct HistorySettings {
    /// What counts as a conversion.
    pub label: Label,
    /// How long each lead is watched after its creation (`None`: up to the end of the data).
    pub horizon: Option<Span>,
    /// The half-life of the decayed counts (and of the suggested engagement rules).
    pub half_life: HalfLife,
    /// The end of the data (`None`: just after the latest event or outcome).
    pub end: Option<Timestamp>,
    /// Attribute columns to leave out (`title`, `account.name`).
    pub exclude: Vec<String>,
    /// Identifier columns to leave out.
    pub id_columns: Vec<String>,
    /// The attribute holding the creation time, left out of the features.
    pub time_column: Option<String>,
    /// Text columns with more distinct values than this are left out (free text, names).
    pub max_levels: usize,
    /// Actions done by fewer leads than this get no column.
    pub min_leads: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            label: Label::Opportunity,
            horizon: Some(Span::days(90)),
            half_life: HalfLife::Every(Span::days(30)),
            end: None,
            exclude: Vec::new(),
            id_columns: Vec::new(),
            time_column: None,
            max_levels: 50,
            min_leads: 10,
        }
    }
}

/// The table and how it was made.
#[derive(Debug, Clone)]
pub struct History {
    /// One row per lead used.
    pub data: Dataset,
    /// Per row, the lead and the moments it was read at.
    pub rows: Vec<Watched>,
    /// How the rows were made.
    pub summary: HistorySummary,
}

/// Which lead a row is, and when it was read: what another model would have said of it is
/// its score as of just before `cut_off`, with the traits sent before `window_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    /// Index of the lead in the histories handed to [`build`].
    pub lead: usize,
    /// Events before it were counted.
    pub cut_off: Timestamp,
    /// Traits sent before it applied: the opportunity, or the end of the window.
    pub window_end: Timestamp,
}

/// How the histories became rows.
#[derive(Debug, Clone, Serialize)]
pub struct HistorySummary {
    /// Leads given.
    pub leads: usize,
    /// Leads used (rows).
    pub rows: usize,
    /// Rows with the label.
    pub positives: usize,
    /// What counts as a conversion.
    pub label: Label,
    /// The window after creation, `none` for up to the end of the data.
    pub horizon: String,
    /// The decayed counts' half-life.
    pub half_life: String,
    /// The end of the data.
    pub end: Timestamp,
    /// How each lead's cut-off was chosen, in words.
    pub cut_off: String,
    /// Leads left out, and why.
    pub left_out: LeftOut,
    /// Negative rows whose opportunity came after the horizon.
    pub opportunities_after_horizon: usize,
    /// Occurrences of actions before the leads' cut-offs (learned from).
    pub touches_used: usize,
    /// Occurrences at or after the cut-offs (not learned from).
    pub touches_after_cut_off: usize,
    /// The actions with columns.
    pub actions: Vec<ActionSummary>,
    /// Actions done by too few leads to get a column.
    pub rare_actions: usize,
}

/// Leads that are not rows, by reason.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeftOut {
    /// Created less than one horizon before the end of the data, without an opportunity yet.
    pub undecided: usize,
    /// With `won`: an opportunity not closed yet.
    pub open: usize,
    /// Neither a creation time nor any event.
    pub no_time: usize,
}

/// An action with columns: how many leads did it before their cut-off.
#[derive(Debug, Clone, Serialize)]
pub struct ActionSummary {
    /// The action.
    pub action: String,
    /// `event` or `page`.
    pub kind: &'static str,
    /// Leads that did it.
    pub leads: usize,
    /// Of those, how many converted.
    pub positives: usize,
}

/// One lead's place in the table.
struct Row<'a> {
    index: usize,
    lead: &'a LeadHistory,
    start: Timestamp,
    /// Events before it are counted.
    cut_off: Timestamp,
    /// Traits sent before it apply: the opportunity, or the end of the window.
    window_end: Timestamp,
    label: bool,
}

/// Builds the table: one row per lead whose outcome is known, its cut-off and label as the
/// module documentation says. `actions[i]` is the action of [`Touch::action`] `i`.
pub fn build(
    leads: &[LeadHistory],
    actions: &[Action],
    settings: &HistorySettings,
) -> Result<History, LearnError> {
    let end = settings.end.unwrap_or_else(|| {
        let latest = leads
            .iter()
            .flat_map(|l| {
                l.touches
                    .iter()
                    .map(|t| t.at)
                    .chain(l.outcomes.iter().map(|o| o.at))
                    .chain(l.created)
            })
            .max()
            .unwrap_or_default();
        latest.plus(Span::from_millis(1))
    });

    let mut left_out = LeftOut::default();
    let mut after_horizon = 0;
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (index, lead) in leads.iter().enumerate() {
        let Some(start) = lead
            .created
            .or_else(|| lead.touches.iter().map(|t| t.at).min())
        else {
            left_out.no_time += 1;
            continue;
        };
        let deadline = settings.horizon.map(|h| start.plus(h));
        let opportunity = lead.outcomes.iter().map(|o| o.at).min();
        let within = opportunity.filter(|&at| deadline.is_none_or(|d| at < d));
        let (cut_off, label) = match within {
            Some(at) => {
                let label = match settings.label {
                    Label::Opportunity => true,
                    Label::Won => {
                        let has = |kind| lead.outcomes.iter().any(|o| o.kind == kind);
                        if has(OutcomeKind::Won) {
                            true
                        } else if has(OutcomeKind::Lost) {
                            false
                        } else {
                            left_out.open += 1;
                            continue;
                        }
                    }
                };
                (at, label)
            }
            None => {
                let cut_off = deadline.unwrap_or(end);
                if cut_off > end {
                    left_out.undecided += 1;
                    continue;
                }
                after_horizon += usize::from(opportunity.is_some());
                (cut_off, false)
            }
        };
        rows.push(Row {
            index,
            lead,
            start,
            cut_off,
            window_end: cut_off,
            label,
        });
    }
    // A lead that did not convert is read just after its last event in the window, when its
    // engagement was freshest, as a converting lead's is when the opportunity is opened.
    for row in rows.iter_mut().filter(|r| !r.label) {
        let last = row
            .lead
            .touches
            .iter()
            .map(|t| t.at)
            .filter(|&at| at < row.cut_off)
            .max();
        if let Some(last) = last {
            row.cut_off = last.plus(Span::from_millis(1));
        }
    }

    // Engagement per row and action: occurrences and decayed occurrences before the cut-off.
    let n_actions = actions.len();
    let mut counts = vec![0u32; rows.len() * n_actions];
    let mut decayed = vec![0.0f64; rows.len() * n_actions];
    let (mut used, mut after) = (0, 0);
    for (r, row) in rows.iter().enumerate() {
        for touch in &row.lead.touches {
            if touch.at >= row.cut_off {
                after += 1;
                continue;
            }
            used += 1;
            let i = r * n_actions + touch.action as usize;
            counts[i] += 1;
            decayed[i] += settings.half_life.factor(row.cut_off.since(touch.at));
        }
    }
    let mut kept: Vec<(usize, usize, usize)> = Vec::new();
    let mut rare = 0;
    for a in 0..n_actions {
        let did: Vec<usize> = (0..rows.len())
            .filter(|&r| counts[r * n_actions + a] > 0)
            .collect();
        if did.is_empty() {
            continue;
        }
        if did.len() < settings.min_leads.max(1) {
            rare += 1;
            continue;
        }
        let positives = did.iter().filter(|&&r| rows[r].label).count();
        kept.push((a, did.len(), positives));
    }
    kept.sort_by(|a, b| actions[a.0].cmp(&actions[b.0]));

    // Attributes as of each row's window end.
    let attributes: Vec<(Attributes, Option<&Attributes>)> = rows
        .iter()
        .map(|row| {
            (
                row.lead.attributes_at(row.window_end),
                row.lead.account.as_ref(),
            )
        })
        .collect();
    let label_column = settings.label.as_str().to_string();
    let mut excluded = Vec::new();
    let mut lead_columns: Vec<String> = Vec::new();
    let mut account_columns: Vec<String> = Vec::new();
    let (mut seen_lead, mut seen_account) = (HashSet::new(), HashSet::new());
    for (lead, account) in &attributes {
        for key in lead.keys() {
            if seen_lead.insert(key.clone()) {
                lead_columns.push(key.clone());
            }
        }
        for key in account.iter().flat_map(|a| a.keys()) {
            if seen_account.insert(key.clone()) {
                account_columns.push(key.clone());
            }
        }
    }
    let mut left_out_column = |name: &str, reason| {
        excluded.push(Excluded {
            column: name.to_string(),
            reason,
        })
    };
    lead_columns.retain(|c| {
        let reason = if *c == label_column {
            Some(ExcludedBecause::Label)
        } else if Some(c) == settings.time_column.as_ref() {
            Some(ExcludedBecause::TimeColumn)
        } else if c == "account_id" {
            Some(ExcludedBecause::AccountLink)
        } else {
            None
        };
        if let Some(reason) = reason {
            left_out_column(c, reason);
        }
        reason.is_none()
    });

    let mut headers = vec![label_column.clone()];
    headers.extend(lead_columns.iter().cloned());
    headers.extend(account_columns.iter().map(|c| format!("account.{c}")));
    let mut sources: HashMap<String, Source> = HashMap::new();
    for c in &account_columns {
        sources.insert(format!("account.{c}"), Source::Account(c.clone()));
    }
    for &(a, _, _) in &kept {
        let action = &actions[a];
        let count = format!("{action} (count)");
        let decay = format!("{action} (decayed {})", settings.half_life);
        sources.insert(
            count.clone(),
            Source::Engagement {
                action: action.clone(),
                measure: Measure::Count,
            },
        );
        sources.insert(
            decay.clone(),
            Source::Engagement {
                action: action.clone(),
                measure: Measure::Decayed(settings.half_life),
            },
        );
        headers.push(count);
        headers.push(decay);
    }

    let mut raw = RawTable::new(headers);
    let mut cells: Vec<String> = Vec::new();
    for (r, (row, (lead, account))) in rows.iter().zip(&attributes).enumerate() {
        cells.clear();
        cells.push(if row.label { "1" } else { "0" }.to_string());
        cells.extend(lead_columns.iter().map(|c| text(lead.get(c))));
        cells.extend(
            account_columns
                .iter()
                .map(|c| text(account.and_then(|a| a.get(c)))),
        );
        for &(a, _, _) in &kept {
            let i = r * n_actions + a;
            cells.push(counts[i].to_string());
            // Three decimals: enough for any rule, and bins that read well.
            cells.push(format!("{:.3}", decayed[i]));
        }
        raw.push(r as u64 + 1, cells.iter().map(String::as_str))?;
    }
    let roles = Roles {
        label: label_column,
        exclude: settings.exclude.clone(),
        id_columns: settings.id_columns.clone(),
        time_column: None,
        max_levels: Some(settings.max_levels),
        ..Roles::default()
    };
    let mut data = Dataset::build(raw, &roles)?;
    for feature in &mut data.features {
        if let Some(source) = sources.get(&feature.name) {
            feature.source = source.clone();
        }
    }
    data.excluded.extend(excluded);
    data.time_column = Some(
        settings
            .time_column
            .clone()
            .unwrap_or_else(|| "first event".into()),
    );
    data.times = Some(rows.iter().map(|r| r.start.millis()).collect());

    let horizon = settings
        .horizon
        .map_or_else(|| "none".to_string(), |h| h.to_string());
    let cut_off = match settings.horizon {
        Some(h) => format!(
            "the opportunity's date for leads that became one within {h} of their creation; \
             for the others, just after their last event in those {h}; leads created less \
             than {h} before the end of the data without an opportunity are left out"
        ),
        None => "the opportunity's date for leads that became one; for the others, just \
                 after their last event"
            .to_string(),
    };
    let summary = HistorySummary {
        leads: leads.len(),
        rows: data.len(),
        positives: data.positives(),
        label: settings.label,
        horizon,
        half_life: settings.half_life.to_string(),
        end,
        cut_off,
        left_out,
        opportunities_after_horizon: after_horizon,
        touches_used: used,
        touches_after_cut_off: after,
        actions: kept
            .iter()
            .map(|&(a, leads, positives)| ActionSummary {
                action: actions[a].to_string(),
                kind: actions[a].kind(),
                leads,
                positives,
            })
            .collect(),
        rare_actions: rare,
    };
    let watched = rows
        .iter()
        .map(|r| Watched {
            lead: r.index,
            cut_off: r.cut_off,
            window_end: r.window_end,
        })
        .collect();
    Ok(History {
        data,
        rows: watched,
        summary,
    })
}

/// An attribute as a cell: text as it is, numbers and booleans written out; no value, and
/// values no rule compares with (lists, objects), as an empty cell.
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sections_are_first_path_segments() {
        assert_eq!(page_section("/pricing").as_deref(), Some("/pricing"));
        assert_eq!(page_section("/pricing/").as_deref(), Some("/pricing"));
        assert_eq!(page_section("/docs/api/auth").as_deref(), Some("/docs"));
        assert_eq!(page_section("/").as_deref(), Some("/"));
        assert_eq!(page_section("//cdn"), None);
        assert_eq!(page_section("pricing"), None);
        assert_eq!(
            Action::Page("/pricing".into()).rule_id(),
            "page-pricing".to_string()
        );
        assert_eq!(Action::Page("/".into()).rule_id(), "page-home");
        assert_eq!(
            Action::Event("Demo Requested".into()).rule_id(),
            "demo-requested"
        );
    }
}
