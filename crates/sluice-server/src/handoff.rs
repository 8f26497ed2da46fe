//! The hand-off in the service: routing new MQLs to reps, the SLA scheduler, outcomes that
//! move stages, and the SLA report. The decisions are the core's ([`sluice_core::handoff`]);
//! this module gathers their inputs from storage and records what they decided.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use serde::Serialize;
use serde_json::json;
use sluice_core::business_time::WorkingHours;
use sluice_core::handoff::{
    Assignment, BreachAction, Policy, RepLoad, RouteRequest, SlaCase, SlaReport, SlaState, SlaStep,
    Touch, sla_report,
};
use sluice_core::{Actor, Span, Stage, Timestamp};
use sluice_store::{AssignmentRow, RepRow, SlaEventRow, Store, StoreError, TeamRow};

use crate::live::{Changes, Live};
use crate::webhooks::event;

/// The calendar of a team without one: weekdays 09:00-17:00 UTC.
fn default_calendar() -> WorkingHours {
    WorkingHours::parse("UTC", &["Mon-Fri 09:00-17:00"], &[]).expect("a valid calendar")
}

/// Teams, reps, their calendars and today's assignments, as routing and SLAs need them.
pub struct Roster {
    teams: BTreeMap<String, TeamRow>,
    reps: Vec<RepRow>,
    team_calendars: HashMap<String, WorkingHours>,
    rep_calendars: HashMap<String, WorkingHours>,
    fallback: WorkingHours,
    /// (rep, when) of recent assignments, for capacity per day.
    given: Vec<(String, i64)>,
    /// When each rep was last given a lead, however long ago (for the round robin).
    last: HashMap<String, i64>,
}

impl Default for Roster {
    /// No teams and no reps: every step runs on the default calendar.
    fn default() -> Self {
        Roster {
            teams: BTreeMap::new(),
            reps: Vec::new(),
            team_calendars: HashMap::new(),
            rep_calendars: HashMap::new(),
            fallback: default_calendar(),
            given: Vec::new(),
            last: HashMap::new(),
        }
    }
}

impl Roster {
    /// Reads the roster as of `now`.
    pub async fn load(store: &Store, now: Timestamp) -> Result<Roster, StoreError> {
        let teams: BTreeMap<String, TeamRow> = store
            .teams()
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let reps = store.reps().await?;
        let calendar = |tz: &str, hours: &[String], holidays: &[String]| {
            let hours: Vec<&str> = hours.iter().map(String::as_str).collect();
            let holidays: Vec<&str> = holidays.iter().map(String::as_str).collect();
            // Stored calendars were checked when they were saved.
            WorkingHours::parse(tz, &hours, &holidays).ok()
        };
        let team_calendars: HashMap<String, WorkingHours> = teams
            .values()
            .filter_map(|t| {
                Some((
                    t.id.clone(),
                    calendar(&t.time_zone, &t.working_hours, &t.holidays)?,
                ))
            })
            .collect();
        let rep_calendars = reps
            .iter()
            .filter_map(|r| {
                if r.time_zone.is_none() && r.working_hours.is_none() {
                    return None;
                }
                let team = teams.get(&r.team_id);
                let tz = r
                    .time_zone
                    .as_deref()
                    .or(team.map(|t| t.time_zone.as_str()))
                    .unwrap_or("UTC");
                let hours = r
                    .working_hours
                    .clone()
                    .or(team.map(|t| t.working_hours.clone()))
                    .unwrap_or_else(|| vec!["Mon-Fri 09:00-17:00".into()]);
                let holidays = team.map(|t| t.holidays.clone()).unwrap_or_default();
                Some((r.id.clone(), calendar(tz, &hours, &holidays)?))
            })
            .collect();
        // Two days back covers "today" in every time zone.
        let given = store
            .assignment_times_since(now.millis() - 2 * 86_400_000)
            .await?;
        let mut last = HashMap::new();
        for rep in &reps {
            if let Some(at) = store.last_assigned(&rep.id, now.millis()).await? {
                last.insert(rep.id.clone(), at);
            }
        }
        Ok(Roster {
            teams,
            reps,
            team_calendars,
            rep_calendars,
            fallback: default_calendar(),
            given,
            last,
        })
    }

    /// The team of a rep.
    pub fn team_of(&self, rep: &str) -> Option<&str> {
        self.reps
            .iter()
            .find(|r| r.id == rep)
            .map(|r| r.team_id.as_str())
    }

    /// The business calendar a step owned by this rep (or team) runs on: the rep's own hours,
    /// else the team's, else weekdays 09:00-17:00 UTC.
    pub fn calendar(&self, team: Option<&str>, rep: Option<&str>) -> &WorkingHours {
        rep.and_then(|r| self.rep_calendars.get(r))
            .or_else(|| team.and_then(|t| self.team_calendars.get(t)))
            .or_else(|| {
                let team = self.reps.iter().find(|r| Some(r.id.as_str()) == rep)?;
                self.team_calendars.get(&team.team_id)
            })
            .unwrap_or(&self.fallback)
    }

    /// Each rep's load at `now`.
    pub fn loads(&self, now: Timestamp) -> Vec<RepLoad<'_>> {
        self.reps
            .iter()
            .map(|r| {
                let day = self
                    .calendar(Some(&r.team_id), Some(&r.id))
                    .day_start(now)
                    .millis();
                let mine = self.given.iter().filter(|(rep, _)| *rep == r.id);
                RepLoad {
                    id: &r.id,
                    team: &r.team_id,
                    capacity: u32::try_from(r.capacity).unwrap_or(0),
                    assigned_today: mine.clone().filter(|(_, at)| *at >= day).count() as u32,
                    available: r.is_available(now.millis()),
                    last_assigned: mine
                        .map(|(_, at)| *at)
                        .chain(self.last.get(&r.id).copied())
                        .max()
                        .map(Timestamp::from_millis),
                }
            })
            .collect()
    }

    /// The manager of a team.
    pub fn manager(&self, team: Option<&str>) -> Option<&str> {
        self.teams.get(team?)?.manager.as_deref()
    }

    /// Counts an assignment made in this run toward the rep's load.
    fn note(&mut self, rep: &str, at: Timestamp) {
        self.given.push((rep.to_string(), at.millis()));
    }
}

/// Records an assignment: the row, the owner in the live state and the lead row, the webhook.
pub fn record(
    changes: &mut Changes,
    live: &mut Live,
    lead: &str,
    assignment: &Assignment,
    actor: Actor,
    at: Timestamp,
) {
    let row = AssignmentRow {
        lead_id: lead.to_string(),
        rep_id: assignment.rep.clone(),
        team_id: assignment.team.clone(),
        at_ms: at.millis(),
        rule: assignment.rule.clone(),
        why: assignment.why.clone(),
        actor: actor.as_str().to_string(),
    };
    live.set_owner(lead, assignment.rep.clone());
    if let Some(row) = changes.leads.iter_mut().find(|l| l.id == lead) {
        row.owner = assignment.rep.clone();
    }
    changes.webhooks.push(event(
        "lead.assigned",
        at,
        json!({
            "lead_id": lead,
            "rep": assignment.rep,
            "team": assignment.team,
            "rule": assignment.rule,
            "why": assignment.why,
            "actor": actor,
            "at": at,
        }),
    ));
    changes.assignments.push(row);
}

/// Routes every lead that became an MQL in `changes`.
pub async fn assign_new_mqls(
    store: &Store,
    live: &RwLock<Live>,
    changes: &mut Changes,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mqls: Vec<String> = changes
        .transitions
        .iter()
        .filter(|t| t.to == Stage::Mql)
        .map(|t| t.lead_id.clone())
        .collect();
    if mqls.is_empty() {
        return Ok(());
    }
    let mut roster = Roster::load(store, now).await?;
    for lead in mqls {
        let Some((attributes, account)) = live.read().expect("live state lock").context(&lead)
        else {
            continue;
        };
        let owner = match &account {
            Some((id, _)) => match changes.account_owners.iter().find(|(a, _)| a == id) {
                Some((_, rep)) => Some(rep.clone()),
                None => store.account_owner(id).await?,
            },
            None => None,
        };
        let mut live = live.write().expect("live state lock");
        let policy = live.model().handoff().clone();
        let assignment = policy.route(
            RouteRequest {
                lead: Some(&attributes),
                account: account.as_ref().map(|(_, a)| a),
                account_owner: account
                    .as_ref()
                    .map(|(id, _)| id.as_str())
                    .zip(owner.as_deref()),
                exclude: None,
                team: None,
            },
            &roster.loads(now),
        );
        if let Some(rep) = &assignment.rep {
            roster.note(rep, now);
        }
        record(changes, &mut live, &lead, &assignment, Actor::System, now);
    }
    Ok(())
}

/// What one run of the SLA scheduler did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TickReport {
    /// Warnings recorded.
    pub warnings: usize,
    /// Breaches recorded.
    pub breaches: usize,
    /// Leads given to another rep.
    pub reassigned: usize,
    /// Leads waiting in a team's queue that a rep could now take.
    pub assigned: usize,
}

/// One run of the SLA scheduler at `now`: warns before deadlines, records breaches and acts on
/// them, and gives waiting leads to reps who have room. Each warning and breach is recorded
/// (and acted on) once, even when several processes share the database: runs hold a lock for
/// their transaction, and a unique key on (lead, SLA, kind, clock start) refuses repeats.
pub async fn sla_tick(
    store: &Store,
    live: &RwLock<Live>,
    now: Timestamp,
) -> Result<TickReport, StoreError> {
    let policy: Policy = live
        .read()
        .expect("live state lock")
        .model()
        .handoff()
        .clone();
    let mut roster = Roster::load(store, now).await?;
    let mut tx = crate::writer::begin_synced(store, live).await?;
    tx.lock_scheduler().await?;
    let open = tx.open_handoffs().await?;
    let mut changes = Changes::default();
    let mut report = TickReport::default();
    for handoff in open {
        let a = &handoff.assignment;
        let lead = a.lead_id.as_str();
        let stage: Stage = handoff.stage.parse().unwrap_or(Stage::Mql);
        if a.rep_id.is_none() {
            // Waiting in a team's queue: someone may have room now.
            if stage == Stage::Mql && a.team_id.is_some() {
                let assignment = policy.route(
                    RouteRequest {
                        team: a.team_id.as_deref(),
                        ..Default::default()
                    },
                    &roster.loads(now),
                );
                if let Some(rep) = &assignment.rep {
                    roster.note(rep, now);
                    let assignment = Assignment {
                        rule: "queue".into(),
                        why: format!(
                            "waited in the queue of team `{}`; {}",
                            a.team_id.as_deref().unwrap_or_default(),
                            assignment.why
                        ),
                        ..assignment
                    };
                    record(
                        &mut changes,
                        &mut live.write().expect("live state lock"),
                        lead,
                        &assignment,
                        Actor::System,
                        now,
                    );
                    report.assigned += 1;
                }
            }
            continue;
        }
        for sla in &policy.slas {
            let started = match sla.step {
                SlaStep::FirstTouch => {
                    if tx.first_activity_since(lead, a.at_ms).await?.is_some() {
                        continue;
                    }
                    a.at_ms
                }
                SlaStep::Decide if stage == Stage::Mql => a.at_ms,
                SlaStep::Qualify if stage == Stage::Sal => match tx.last_accepted(lead).await? {
                    Some(at) => at,
                    None => continue,
                },
                _ => continue,
            };
            let calendar = roster.calendar(a.team_id.as_deref(), a.rep_id.as_deref());
            let clock = sla.clock(calendar, Timestamp::from_millis(started));
            let state = clock.state(None, now);
            if !matches!(state, SlaState::Warning | SlaState::Breached) {
                continue;
            }
            let breached = state == SlaState::Breached;
            let reassign = (breached && sla.on_breach == BreachAction::Reassign).then(|| {
                policy.route(
                    RouteRequest {
                        team: a.team_id.as_deref(),
                        exclude: a.rep_id.as_deref(),
                        ..Default::default()
                    },
                    &roster.loads(now),
                )
            });
            let action = match &reassign {
                Some(r) => format!("reassign:{}", r.rep.as_deref().unwrap_or("none")),
                None if breached => "notify".to_string(),
                None => "warn".to_string(),
            };
            let row = SlaEventRow {
                lead_id: lead.to_string(),
                policy: sla.id.clone(),
                step: sla.step.as_str().to_string(),
                kind: if breached { "breached" } else { "warning" }.to_string(),
                started_ms: started,
                due_ms: clock.due.millis(),
                at_ms: now.millis(),
                rep_id: a.rep_id.clone(),
                team_id: a.team_id.clone(),
                action: Some(action.clone()),
            };
            if !tx.claim_sla_event(&row).await? {
                continue;
            }
            let kind = if breached {
                "sla.breached"
            } else {
                "sla.warning"
            };
            changes.webhooks.push(event(
                kind,
                now,
                json!({
                    "lead_id": lead,
                    "sla": sla.id,
                    "step": sla.step,
                    "started": Timestamp::from_millis(started),
                    "due": clock.due,
                    "rep": a.rep_id,
                    "team": a.team_id,
                    "manager": roster.manager(a.team_id.as_deref()),
                    "action": action,
                }),
            ));
            if breached {
                report.breaches += 1;
            } else {
                report.warnings += 1;
            }
            if let Some(assignment) = reassign
                && let Some(rep) = &assignment.rep
            {
                roster.note(rep, now);
                let assignment = Assignment {
                    why: format!(
                        "SLA `{}` breached by `{}`; {}",
                        sla.id,
                        a.rep_id.as_deref().unwrap_or_default(),
                        assignment.why
                    ),
                    ..assignment
                };
                record(
                    &mut changes,
                    &mut live.write().expect("live state lock"),
                    lead,
                    &assignment,
                    Actor::System,
                    now,
                );
                report.reassigned += 1;
                // The new rep's clocks start now; this run is done with the lead.
                break;
            }
        }
    }
    crate::writer::write(&mut tx, live, &changes).await?;
    tx.commit().await?;
    metrics::counter!("sluice_sla_warnings_total").increment(report.warnings as u64);
    metrics::counter!("sluice_sla_breaches_total").increment(report.breaches as u64);
    Ok(report)
}

/// The SLA report for leads assigned in `[from, to)`, as of `now`.
pub async fn report(
    store: &Store,
    policy: &Policy,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<SlaReport, StoreError> {
    let roster = Roster::load(store, now).await?;
    let assignments = store.assignments_between(from.millis(), i64::MAX).await?;
    let transitions = store.transitions_of_assigned_since(from.millis()).await?;
    let activities = store.activities_of_assigned_since(from.millis()).await?;
    let mut by_lead: BTreeMap<&str, Vec<&AssignmentRow>> = BTreeMap::new();
    for a in &assignments {
        by_lead.entry(a.lead_id.as_str()).or_default().push(a);
    }
    let mut moves: HashMap<&str, Vec<&sluice_store::TransitionRow>> = HashMap::new();
    for t in &transitions {
        moves.entry(t.lead_id.as_str()).or_default().push(t);
    }
    let mut touches_of: HashMap<&str, Vec<i64>> = HashMap::new();
    for a in &activities {
        touches_of
            .entry(a.lead_id.as_str())
            .or_default()
            .push(a.at_ms);
    }
    let in_period = |at: i64| at >= from.millis() && at < to.millis();
    let mut cases = Vec::new();
    let mut touches = Vec::new();
    for (lead, list) in &by_lead {
        let moves = moves.get(lead).map(Vec::as_slice).unwrap_or_default();
        let acts = touches_of.get(lead).map(Vec::as_slice).unwrap_or_default();
        let stage_at = |at: i64| {
            moves
                .iter()
                .rev()
                .find(|t| t.at_ms <= at)
                .map_or(Stage::Lead, |t| t.to)
        };
        if let Some(first) = list
            .iter()
            .find(|a| in_period(a.at_ms) && a.rep_id.is_some())
        {
            let calendar = roster.calendar(first.team_id.as_deref(), first.rep_id.as_deref());
            let touched = acts.iter().find(|&&at| at >= first.at_ms);
            touches.push(Touch {
                lead: lead.to_string(),
                team: first.team_id.clone(),
                rep: first.rep_id.clone(),
                first_touch_after: touched.map(|&at| {
                    calendar.between(
                        Timestamp::from_millis(first.at_ms),
                        Timestamp::from_millis(at),
                    )
                }),
            });
        }
        for (i, a) in list.iter().enumerate() {
            if !in_period(a.at_ms) || a.rep_id.is_none() {
                continue;
            }
            let end = list.get(i + 1).map_or(i64::MAX, |next| next.at_ms);
            let calendar = roster.calendar(a.team_id.as_deref(), a.rep_id.as_deref());
            let start = Timestamp::from_millis(a.at_ms);
            let mut case = |step: SlaStep, start: Timestamp, done: Option<i64>| {
                let Some(sla) = policy.sla(step) else { return };
                let done = done.map(Timestamp::from_millis);
                cases.push(SlaCase {
                    lead: lead.to_string(),
                    policy: sla.id.clone(),
                    step,
                    team: a.team_id.clone(),
                    rep: a.rep_id.clone(),
                    clock: sla.clock(calendar, start),
                    done,
                    business_elapsed: calendar.between(start, done.unwrap_or(now)),
                });
            };
            let touched = acts.iter().copied().find(|&at| at >= a.at_ms && at < end);
            if stage_at(a.at_ms) != Stage::Sal {
                case(SlaStep::FirstTouch, start, touched);
            }
            if stage_at(a.at_ms) == Stage::Mql {
                let decided = moves
                    .iter()
                    .find(|t| t.from == Stage::Mql && t.at_ms >= a.at_ms && t.at_ms < end)
                    .map(|t| t.at_ms);
                case(SlaStep::Decide, start, decided);
            }
            for accepted in moves
                .iter()
                .filter(|t| t.to == Stage::Sal && t.at_ms >= a.at_ms && t.at_ms < end)
            {
                let qualified = moves
                    .iter()
                    .find(|t| t.from == Stage::Sal && t.at_ms >= accepted.at_ms)
                    .map(|t| t.at_ms);
                case(
                    SlaStep::Qualify,
                    Timestamp::from_millis(accepted.at_ms),
                    qualified,
                );
            }
        }
    }
    Ok(sla_report(&cases, &touches, now))
}

/// The open SLA clocks of one lead in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueClock {
    /// The SLA policy.
    pub sla: String,
    /// Its step.
    pub step: SlaStep,
    /// Its deadline.
    pub due: Timestamp,
    /// Where it stands.
    pub state: SlaState,
}

/// The clocks running for a lead with this latest assignment, at `now`.
pub fn queue_clocks(
    policy: &Policy,
    roster: &Roster,
    assignment: &AssignmentRow,
    stage: Stage,
    touched: bool,
    accepted_ms: Option<i64>,
    now: Timestamp,
) -> Vec<QueueClock> {
    if assignment.rep_id.is_none() {
        return Vec::new();
    }
    let calendar = roster.calendar(assignment.team_id.as_deref(), assignment.rep_id.as_deref());
    policy
        .slas
        .iter()
        .filter_map(|sla| {
            let started = match sla.step {
                SlaStep::FirstTouch if !touched => assignment.at_ms,
                SlaStep::Decide if stage == Stage::Mql => assignment.at_ms,
                SlaStep::Qualify if stage == Stage::Sal => accepted_ms?,
                _ => return None,
            };
            let clock = sla.clock(calendar, Timestamp::from_millis(started));
            Some(QueueClock {
                sla: sla.id.clone(),
                step: sla.step,
                due: clock.due,
                state: clock.state(None, now),
            })
        })
        .collect()
}

/// Business hours in a span, for people.
pub fn hours(span: Span) -> f64 {
    (span.millis() as f64 / 36_000.0).round() / 100.0
}
