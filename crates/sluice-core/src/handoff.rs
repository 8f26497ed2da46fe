//! The hand-off from marketing to sales, as pure functions: which rep a new MQL goes to
//! (routing), when each step of the hand-off is due (SLA clocks in business time), and how a
//! set of hand-offs measures up (the SLA report). The policy itself is part of the model file
//! (`[handoff]`), so both teams sign off the definition and the hand-off together.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::business_time::WorkingHours;
use crate::event::Attributes;
use crate::model::{Condition, Vars};
use crate::time::{Span, Timestamp};

/// Reasons sales may give for rejecting a lead when the model does not list its own.
pub const DEFAULT_REJECT_REASONS: &[&str] = &[
    "not_a_fit",
    "no_budget",
    "no_authority",
    "no_need",
    "bad_timing",
    "wrong_contact",
    "duplicate",
    "student",
    "competitor",
    "unreachable",
    "spam",
];

/// The hand-off policy of a model: routing, rejection reasons, what a recycle resets, SLAs.
#[derive(Debug, Clone)]
pub struct Policy {
    /// What the policy means, for people.
    pub description: Option<String>,
    /// The team new MQLs go to when no routing rule matches (none: they stay unassigned).
    pub default_team: Option<String>,
    /// Whether a lead whose account has an owner goes to that owner first.
    pub account_owner: bool,
    /// Routing rules, first match wins.
    pub routing: Vec<RoutingRule>,
    /// The reasons sales may give when rejecting a lead.
    pub reject_reasons: Vec<String>,
    /// What a move to `recycled` resets.
    pub recycle_reset: RecycleReset,
    /// The service levels of the hand-off's steps.
    pub slas: Vec<SlaPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            description: None,
            default_team: None,
            account_owner: true,
            routing: Vec::new(),
            reject_reasons: DEFAULT_REJECT_REASONS
                .iter()
                .map(|r| r.to_string())
                .collect(),
            recycle_reset: RecycleReset::Engagement,
            slas: Vec::new(),
        }
    }
}

/// A routing rule: leads matching `when` go to `team`.
#[derive(Debug, Clone)]
pub struct RoutingRule {
    /// Unique id, recorded with every assignment it makes.
    pub id: String,
    /// What the rule means.
    pub description: Option<String>,
    /// The condition on the lead and its account.
    pub when: Condition,
    /// The team it routes to.
    pub team: String,
}

/// What moving a lead to `recycled` resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecycleReset {
    /// Engagement before the recycle stops counting: the lead must earn its MQL again.
    Engagement,
    /// Nothing: the score carries on.
    None,
}

impl RecycleReset {
    /// The name used in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            RecycleReset::Engagement => "engagement",
            RecycleReset::None => "none",
        }
    }
}

/// A step of the hand-off that has a service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaStep {
    /// From assignment to the first recorded activity (call, email, meeting).
    FirstTouch,
    /// From assignment to accepting (`sal`) or rejecting the lead.
    Decide,
    /// From acceptance (`sal`) to the qualification decision (`sql`, recycled, disqualified).
    Qualify,
}

impl SlaStep {
    /// Every step.
    pub const ALL: [SlaStep; 3] = [SlaStep::FirstTouch, SlaStep::Decide, SlaStep::Qualify];

    /// The name used in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaStep::FirstTouch => "first_touch",
            SlaStep::Decide => "decide",
            SlaStep::Qualify => "qualify",
        }
    }

    /// Reads a step's name.
    pub fn parse(text: &str) -> Option<SlaStep> {
        SlaStep::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for SlaStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens when a step's SLA is breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BreachAction {
    /// Tell the team's manager (an `sla.breached` notification naming them).
    Notify,
    /// Tell the manager and give the lead to the next rep of the team.
    Reassign,
}

impl BreachAction {
    /// The name used in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            BreachAction::Notify => "notify",
            BreachAction::Reassign => "reassign",
        }
    }
}

/// A service level: a step must be done within a span of business time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaPolicy {
    /// Unique id.
    pub id: String,
    /// What it promises.
    pub description: Option<String>,
    /// The step it times.
    pub step: SlaStep,
    /// Business time allowed, by the assigned team's working hours.
    #[serde(serialize_with = "span_text")]
    pub within: Span,
    /// How long before the deadline to warn (none: no warning).
    #[serde(serialize_with = "opt_span_text")]
    pub warn_before: Option<Span>,
    /// What a breach does.
    pub on_breach: BreachAction,
}

fn span_text<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&span_display(*span))
}

fn opt_span_text<S: serde::Serializer>(span: &Option<Span>, s: S) -> Result<S::Ok, S::Error> {
    match span {
        Some(span) => s.collect_str(&span_display(*span)),
        None => s.serialize_none(),
    }
}

/// A span as a model file writes it: `4h`, `1h30m`, `45s`.
pub fn span_display(span: Span) -> String {
    let mut ms = span.millis();
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// When a step started and when it is due, warned and breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaClock {
    /// The step started.
    pub started: Timestamp,
    /// The warning is due (none: the policy does not warn).
    pub warn_at: Option<Timestamp>,
    /// The deadline.
    pub due: Timestamp,
}

impl SlaPolicy {
    /// The clock of this step started at `started`, in the team's business time.
    pub fn clock(&self, hours: &WorkingHours, started: Timestamp) -> SlaClock {
        let warn_at = self.warn_before.map(|before| {
            let lead_time = Span::from_millis((self.within.millis() - before.millis()).max(0));
            hours.add(started, lead_time)
        });
        SlaClock {
            started,
            warn_at,
            due: hours.add(started, self.within),
        }
    }
}

/// Where a step stands against its SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Not done, not yet near the deadline.
    Running,
    /// Not done, past the warning point.
    Warning,
    /// Not done, past the deadline.
    Breached,
    /// Done by the deadline.
    Met,
    /// Done, after the deadline.
    MetLate,
}

impl SlaClock {
    /// The state at `now` of a step done at `done` (if it is).
    pub fn state(&self, done: Option<Timestamp>, now: Timestamp) -> SlaState {
        match done {
            Some(at) if at <= self.due => SlaState::Met,
            Some(_) => SlaState::MetLate,
            None if now >= self.due => SlaState::Breached,
            None if self.warn_at.is_some_and(|w| now >= w) => SlaState::Warning,
            None => SlaState::Running,
        }
    }
}

/// A rep as routing sees them at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepLoad<'a> {
    /// The rep's id.
    pub id: &'a str,
    /// Their team.
    pub team: &'a str,
    /// New leads per day they take.
    pub capacity: u32,
    /// New leads given to them today (their local day).
    pub assigned_today: u32,
    /// Whether they take leads now (not out of office).
    pub available: bool,
    /// When they were last given a lead.
    pub last_assigned: Option<Timestamp>,
}

/// The lead being routed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteRequest<'a> {
    /// The lead's attributes.
    pub lead: Option<&'a Attributes>,
    /// Its account's attributes.
    pub account: Option<&'a Attributes>,
    /// Its account's id and owner, if the account has one.
    pub account_owner: Option<(&'a str, &'a str)>,
    /// A rep who must not get it (the one whose SLA was breached).
    pub exclude: Option<&'a str>,
    /// Route within this team instead of by the rules (reassignment keeps the team).
    pub team: Option<&'a str>,
}

/// Whom a lead goes to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// The rep (none: nobody could take it; the lead waits in the team's queue).
    pub rep: Option<String>,
    /// The team.
    pub team: Option<String>,
    /// What chose: a routing rule id, `account_owner`, `default_team`, or `reassign`.
    pub rule: String,
    /// Why, in words.
    pub why: String,
}

impl Policy {
    /// Chooses the rep for a lead: the account's owner first (if the policy says so and they
    /// are available), else the team of the first matching routing rule (or the default team),
    /// then within the team the rep with the most spare capacity today (leads today over daily
    /// capacity; ties go to whoever waited longest), skipping reps who are away or full.
    pub fn route(&self, request: RouteRequest<'_>, reps: &[RepLoad<'_>]) -> Assignment {
        if self.account_owner
            && request.team.is_none()
            && let Some((account, owner)) = request.account_owner
            && request.exclude != Some(owner)
        {
            match reps.iter().find(|r| r.id == owner) {
                Some(rep) if rep.available => {
                    return Assignment {
                        rep: Some(owner.to_string()),
                        team: Some(rep.team.to_string()),
                        rule: "account_owner".into(),
                        why: format!("account `{account}` is owned by `{owner}`"),
                    };
                }
                // An away owner does not hold the lead up: it is routed as usual.
                _ => {}
            }
        }
        let (team, rule, reason) = match request.team {
            Some(team) => (
                team.to_string(),
                "reassign".to_string(),
                format!("reassigned within team `{team}`"),
            ),
            None => {
                let vars = Vars {
                    lead: request.lead,
                    account: request.account,
                    event: None,
                };
                match self.routing.iter().find(|r| r.when.matches(vars)) {
                    Some(r) => (
                        r.team.clone(),
                        r.id.clone(),
                        format!("routing rule `{}` sends it to team `{}`", r.id, r.team),
                    ),
                    None => match &self.default_team {
                        Some(team) => (
                            team.clone(),
                            "default_team".to_string(),
                            format!("no routing rule matched: default team `{team}`"),
                        ),
                        None => {
                            return Assignment {
                                rep: None,
                                team: None,
                                rule: "unrouted".into(),
                                why: "no routing rule matched and the model names no default_team"
                                    .into(),
                            };
                        }
                    },
                }
            }
        };
        let mut skipped = Vec::new();
        let mut best: Option<&RepLoad> = None;
        for rep in reps.iter().filter(|r| r.team == team) {
            if request.exclude == Some(rep.id) {
                skipped.push(format!("{} (missed the SLA)", rep.id));
            } else if !rep.available {
                skipped.push(format!("{} (away)", rep.id));
            } else if rep.assigned_today >= rep.capacity {
                skipped.push(format!(
                    "{} (at capacity, {}/{})",
                    rep.id, rep.assigned_today, rep.capacity
                ));
            } else if best.is_none_or(|b| lighter(rep, b)) {
                best = Some(rep);
            }
        }
        let skipped = if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped {}", skipped.join(", "))
        };
        match best {
            Some(rep) => Assignment {
                rep: Some(rep.id.to_string()),
                team: Some(team),
                rule,
                why: format!(
                    "{reason}; `{}` has the most spare capacity ({} of {} today){skipped}",
                    rep.id, rep.assigned_today, rep.capacity
                ),
            },
            None => Assignment {
                rep: None,
                why: format!("{reason}; no rep of team `{team}` can take it{skipped}"),
                team: Some(team),
                rule,
            },
        }
    }

    /// The SLA policy for a step, if the model sets one.
    pub fn sla(&self, step: SlaStep) -> Option<&SlaPolicy> {
        self.slas.iter().find(|s| s.step == step)
    }
}

/// Whether `a` should get the next lead before `b`: a smaller share of capacity used, then
/// the longer wait, then the id (so the choice never depends on list order).
fn lighter(a: &RepLoad<'_>, b: &RepLoad<'_>) -> bool {
    // a.today / a.cap < b.today / b.cap, without division.
    let (x, y) = (
        u64::from(a.assigned_today) * u64::from(b.capacity),
        u64::from(b.assigned_today) * u64::from(a.capacity),
    );
    if x != y {
        return x < y;
    }
    match (a.last_assigned, b.last_assigned) {
        (None, Some(_)) => return true,
        (Some(_), None) => return false,
        (Some(p), Some(q)) if p != q => return p < q,
        _ => {}
    }
    a.id < b.id
}

/// One timed step of one lead, for the SLA report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaCase {
    /// The lead.
    pub lead: String,
    /// The SLA policy's id.
    pub policy: String,
    /// The step.
    pub step: SlaStep,
    /// The team that owned the step.
    pub team: Option<String>,
    /// The rep who owned it.
    pub rep: Option<String>,
    /// Its clock.
    pub clock: SlaClock,
    /// When it was done, if it was.
    pub done: Option<Timestamp>,
    /// Business time from start to done (or to now, if not done).
    pub business_elapsed: Span,
}

/// One MQL's first-touch story, for contact rate and time to first touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// The lead.
    pub lead: String,
    /// The team it was first assigned to.
    pub team: Option<String>,
    /// The rep it was first assigned to.
    pub rep: Option<String>,
    /// Business time from assignment to the first touch, if it was touched.
    pub first_touch_after: Option<Span>,
}

/// Compliance and speed of the hand-off for one group (all, a team or a rep).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SlaFigures {
    /// MQLs assigned.
    pub mqls: u64,
    /// MQLs with at least one recorded activity.
    pub touched: u64,
    /// Share of MQLs ever touched (0 to 1; none without MQLs).
    pub contact_rate: Option<f64>,
    /// Median business hours from assignment to first touch.
    pub first_touch_median_hours: Option<f64>,
    /// 90th percentile of the same.
    pub first_touch_p90_hours: Option<f64>,
    /// Per SLA policy: steps decided (done or breached), met, breached, compliance.
    pub policies: BTreeMap<String, Compliance>,
}

/// How often one SLA was kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Compliance {
    /// Steps done on time.
    pub met: u64,
    /// Steps done late, or not done by the deadline.
    pub breached: u64,
    /// Steps still running within their time.
    pub open: u64,
    /// met / (met + breached); none when nothing is decided yet.
    pub compliance: Option<f64>,
}

/// One breach, with its lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// The lead.
    pub lead: String,
    /// The SLA policy.
    pub policy: String,
    /// The step.
    pub step: SlaStep,
    /// The team.
    pub team: Option<String>,
    /// The rep.
    pub rep: Option<String>,
    /// The deadline that passed.
    pub due: Timestamp,
    /// When the step was done (late), if it was.
    pub done: Option<Timestamp>,
}

/// The SLA report: everyone, per team, per rep, and the breaches.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SlaReport {
    /// All MQLs in the period.
    pub total: SlaFigures,
    /// Per team.
    pub teams: BTreeMap<String, SlaFigures>,
    /// Per rep.
    pub reps: BTreeMap<String, SlaFigures>,
    /// Every breach, latest deadline first.
    pub breaches: Vec<Breach>,
}

/// Builds the SLA report from the timed steps and first-touch stories at `now`.
pub fn sla_report(cases: &[SlaCase], touches: &[Touch], now: Timestamp) -> SlaReport {
    let mut report = SlaReport::default();
    let mut waits: BTreeMap<Group, Vec<i64>> = BTreeMap::new();
    for touch in touches {
        for group in groups(touch.team.as_deref(), touch.rep.as_deref()) {
            let figures = report.figures(&group);
            figures.mqls += 1;
            if let Some(after) = touch.first_touch_after {
                figures.touched += 1;
                waits.entry(group).or_default().push(after.millis());
            }
        }
    }
    for case in cases {
        let state = case.clock.state(case.done, now);
        for group in groups(case.team.as_deref(), case.rep.as_deref()) {
            let compliance = report
                .figures(&group)
                .policies
                .entry(case.policy.clone())
                .or_default();
            match state {
                SlaState::Met => compliance.met += 1,
                SlaState::MetLate | SlaState::Breached => compliance.breached += 1,
                SlaState::Running | SlaState::Warning => compliance.open += 1,
            }
        }
        if matches!(state, SlaState::MetLate | SlaState::Breached) {
            report.breaches.push(Breach {
                lead: case.lead.clone(),
                policy: case.policy.clone(),
                step: case.step,
                team: case.team.clone(),
                rep: case.rep.clone(),
                due: case.clock.due,
                done: case.done,
            });
        }
    }
    report
        .breaches
        .sort_by(|a, b| b.due.cmp(&a.due).then_with(|| a.lead.cmp(&b.lead)));
    let finish = |figures: &mut SlaFigures, waits: Option<&mut Vec<i64>>| {
        figures.contact_rate =
            (figures.mqls > 0).then(|| figures.touched as f64 / figures.mqls as f64);
        if let Some(waits) = waits {
            waits.sort_unstable();
            figures.first_touch_median_hours = quantile(waits, 0.5).map(hours);
            figures.first_touch_p90_hours = quantile(waits, 0.9).map(hours);
        }
        for c in figures.policies.values_mut() {
            let decided = c.met + c.breached;
            c.compliance = (decided > 0).then(|| c.met as f64 / decided as f64);
        }
    };
    finish(&mut report.total, waits.get_mut(&Group::Total));
    for (team, figures) in &mut report.teams {
        finish(figures, waits.get_mut(&Group::Team(team.clone())));
    }
    for (rep, figures) in &mut report.reps {
        finish(figures, waits.get_mut(&Group::Rep(rep.clone())));
    }
    report
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Total,
    Team(String),
    Rep(String),
}

fn groups(team: Option<&str>, rep: Option<&str>) -> Vec<Group> {
    let mut out = vec![Group::Total];
    out.extend(team.map(|t| Group::Team(t.to_string())));
    out.extend(rep.map(|r| Group::Rep(r.to_string())));
    out
}

impl SlaReport {
    fn figures(&mut self, group: &Group) -> &mut SlaFigures {
        match group {
            Group::Total => &mut self.total,
            Group::Team(t) => self.teams.entry(t.clone()).or_default(),
            Group::Rep(r) => self.reps.entry(r.clone()).or_default(),
        }
    }
}

/// The nearest-rank quantile of sorted values.
fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn hours(ms: i64) -> f64 {
    (ms as f64 / 3_600_000.0 * 100.0).round() / 100.0
}
