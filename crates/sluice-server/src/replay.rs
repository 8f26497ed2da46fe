//! A company's history lived in time order: its messages and outcomes replayed through the
//! writer's own paths on a clock that walks from the first message to `end`, while a simulated
//! sales team works the MQLs Sluice hands it (touches, accepts and rejects with reasons, BANT,
//! SQL), and the SLA scheduler runs as it would have. The result is what a company that had run
//! Sluice for that year would hold: MQLs dated when they qualified, routed then, touched inside
//! and outside their SLAs, some breached and reassigned, and stage histories in time order.
//!
//! `sluice import company` lives a company's files with it, and `sluice serve --demo` seeds
//! its generated company that way. Nothing is made up
//! beside what a team would have done: every stage move, assignment and SLA event comes from
//! the same functions that serve live traffic, with the replay's time.
//!
//! The team's habits are drawn from a hash of the seed and the lead (or rep), so the same
//! company and seed give the same history.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::RwLock;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sluice_core::{Actor, Span, Stage, Timestamp};
use sluice_store::{ActivityRow, OutcomeRow, Store, StoreError};

use crate::handoff::Roster;
use crate::ingest::{Times, prepare};
use crate::live::Live;
use crate::state::Clock;
use crate::writer::{Accepted, MoveFailure, move_lead, store_batch_at, store_outcomes};

/// Messages committed together: those within this span of the first (the replay's step).
const STEP_MS: i64 = 8 * HOUR_MS;
/// How often the SLA scheduler runs in the replay (the service runs it every 30 s: a breach
/// is recorded up to this late, with its due time exact).
const TICK_MS: i64 = 3 * HOUR_MS;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Storing a move failed.
    #[error("storing a stage move failed: {0}")]
    Storage(String),
    /// A message the team sends was refused.
    #[error("a BANT message was refused: {0}")]
    Message(String),
}

/// What the history holds at the end.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Lived {
    /// Leads handed to a rep (by routing, a queue, or a reassignment after a breach).
    pub assignments: usize,
    /// First touches recorded by reps.
    pub touches: usize,
    /// MQLs accepted by sales.
    pub accepted: usize,
    /// MQLs rejected by sales, with a reason.
    pub rejected: usize,
    /// Leads moved to `sql` after their BANT was captured.
    pub qualified: usize,
    /// SLA breaches the scheduler recorded.
    pub breaches: usize,
    /// Leads reassigned after a breach.
    pub reassigned: usize,
}

/// What a rep does next, and when.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    /// The first call or e-mail of an assignment (made at `assigned`).
    Touch { rep: String, assigned: i64 },
    /// Accept or reject the MQL.
    Decide { rep: String },
    /// Capture BANT and move to `sql`.
    Qualify { rep: String },
    /// Give an accepted (or qualified) lead that went nowhere back to marketing.
    Recycle { rep: String },
    /// Capture BANT ahead of an opportunity (a lead sales worked outside the hand-off).
    Bant,
}

/// Replays `messages` and `outcomes` in time order up to `end` (see the module); with `team`
/// (a seed), a simulated sales team whose habits follow it works the MQLs, else only the
/// routing and the SLA scheduler run. Messages are stored with `source`. The store must hold the teams and reps; the live state
/// the model in force.
pub async fn live_through(
    store: &Store,
    live: &RwLock<Live>,
    mut messages: Vec<Accepted>,
    mut outcomes: Vec<OutcomeRow>,
    end: Timestamp,
    team: Option<u64>,
    source: &str,
) -> Result<Lived, ReplayError> {
    let (simulated, seed) = (team.is_some(), team.unwrap_or_default());
    messages.retain(|m| m.at < end);
    messages.sort_by_key(|m| m.at);
    outcomes.retain(|o| o.at_ms < end.millis());
    outcomes.sort_by_key(|o| o.at_ms);
    let roster = Roster::load(store, end).await?;
    let mut team = Team {
        simulated,
        seed,
        roster,
        opportunities: HashMap::new(),
        plan: BinaryHeap::new(),
        planned: HashSet::new(),
        bant_done: HashSet::new(),
        lived: Lived::default(),
        seen_from: i64::MIN,
    };
    for o in &outcomes {
        if o.kind == "opportunity" {
            team.opportunities
                .entry(o.lead_id.clone())
                .or_insert(o.at_ms);
        }
    }
    // A lead with an opportunity has its BANT captured before it, whoever worked it.
    let opportunities: Vec<(String, i64)> = team
        .opportunities
        .iter()
        .map(|(lead, at)| (lead.clone(), *at))
        .collect();
    for (lead, at) in opportunities {
        let lead = lead.as_str();
        let before = DAY_MS + (team.draw(lead, 11) * 3.0 * DAY_MS as f64) as i64;
        team.plan(at - before, lead, Act::Bant);
    }

    let mut messages = messages.into_iter().peekable();
    let mut outcomes = outcomes.into_iter().peekable();
    let mut last_tick: Option<i64> = None;
    loop {
        let next_message = messages.peek().map(|m| m.at.millis());
        let next_outcome = outcomes.peek().map(|o| o.at_ms);
        let next_act = team.plan.peek().map(|Reverse((at, _, _))| *at);
        let Some(at) = [next_message, next_outcome, next_act]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        if at >= end.millis() {
            break;
        }
        if next_message == Some(at) {
            // A step's messages, scored as of the last of them.
            // Up to what the team or the CRM does next, so everything keeps its order.
            let until = [Some(at + STEP_MS), next_outcome, next_act]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(at + STEP_MS)
                .max(at + 1);
            let mut batch = Vec::new();
            while let Some(m) = messages.next_if(|m| m.at.millis() < until) {
                batch.push(m);
            }
            let now = Timestamp::from_millis(batch.last().map_or(at, |m| m.at.millis()) + 1);
            store_batch_at(store, live, batch, source, &Clock::manual(now)).await?;
            team.follow(store, now).await?;
        } else if next_outcome == Some(at) {
            let mut batch = Vec::new();
            while let Some(o) = outcomes.next_if(|o| o.at_ms == at) {
                batch.push(o);
            }
            store_outcomes(store, live, batch, Timestamp::from_millis(at)).await?;
        } else if let Some(Reverse((at, lead, act))) = team.plan.pop() {
            team.act(store, live, &lead, act, Timestamp::from_millis(at))
                .await?;
            team.follow(store, Timestamp::from_millis(at)).await?;
        }
        if last_tick.is_none_or(|last| at - last >= TICK_MS) {
            last_tick = Some(at);
            let now = Timestamp::from_millis(at);
            let tick = crate::handoff::sla_tick(store, live, now).await?;
            team.lived.breaches += tick.breaches;
            team.lived.reassigned += tick.reassigned;
            team.follow(store, now).await?;
        }
    }
    let tick = crate::handoff::sla_tick(store, live, end).await?;
    team.lived.breaches += tick.breaches;
    team.lived.reassigned += tick.reassigned;
    Ok(team.lived)
}

/// The simulated sales team.
struct Team {
    /// Whether it works the leads (else it only counts what routing and the scheduler did).
    simulated: bool,
    seed: u64,
    roster: Roster,
    /// Each lead's first opportunity.
    opportunities: HashMap<String, i64>,
    /// What is to be done: (when, lead, act), earliest first.
    plan: BinaryHeap<Reverse<(i64, String, Act)>>,
    /// Assignments already planned for: (lead, time).
    planned: HashSet<(String, i64)>,
    /// Leads whose BANT is captured.
    bant_done: HashSet<String>,
    lived: Lived,
    /// Assignments made from this time on are not planned for yet.
    seen_from: i64,
}

impl Team {
    /// A number in [0, 1) drawn for this lead (or rep) and purpose.
    fn draw(&self, key: &str, purpose: u64) -> f64 {
        let mut h = self.seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        (splitmix(h) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn plan(&mut self, at: i64, lead: &str, act: Act) {
        self.plan.push(Reverse((at, lead.to_string(), act)));
    }

    /// `hours` of the rep's working time after `from`.
    fn after(&self, rep: &str, from: i64, hours: f64) -> i64 {
        let calendar = self.roster.calendar(self.roster.team_of(rep), Some(rep));
        let span = Span::from_millis((hours * HOUR_MS as f64) as i64);
        calendar.add(Timestamp::from_millis(from), span).millis()
    }

    /// Plans the first touch of every assignment to a rep made since the last call.
    async fn follow(&mut self, store: &Store, now: Timestamp) -> Result<(), ReplayError> {
        let fresh = store.assignments_between(self.seen_from, i64::MAX).await?;
        self.seen_from = now.millis();
        for a in fresh {
            let Some(rep) = a.rep_id.clone() else {
                continue;
            };
            if a.actor != "system" || !self.planned.insert((a.lead_id.clone(), a.at_ms)) {
                continue;
            }
            self.lived.assignments += 1;
            if !self.simulated {
                continue;
            }
            // Most touches come inside the rep's SLA; each rep has their own habit, and one
            // lead in twenty-five is left alone until the scheduler hands it to someone else.
            let habit = 0.8 + 0.17 * self.draw(&rep, 1);
            let key = format!("{}@{}", a.lead_id, a.at_ms);
            let roll = self.draw(&key, 2);
            if roll > 0.96 {
                continue;
            }
            // A lead about to become an opportunity is one the rep is already talking to.
            let hot = self
                .opportunities
                .get(&a.lead_id)
                .is_some_and(|&o| o > a.at_ms && o - a.at_ms < 7 * DAY_MS);
            let hours = if hot {
                0.1 + 1.5 * self.draw(&key, 3)
            } else if roll < habit * 0.96 {
                0.1 + 3.6 * self.draw(&key, 3)
            } else {
                4.5 + 12.0 * self.draw(&key, 3)
            };
            let at = self.after(&rep, a.at_ms, hours);
            self.plan(
                at,
                &a.lead_id,
                Act::Touch {
                    rep,
                    assigned: a.at_ms,
                },
            );
        }
        Ok(())
    }

    /// Does `act` for `lead` at `at`, if it still makes sense then.
    async fn act(
        &mut self,
        store: &Store,
        live: &RwLock<Live>,
        lead: &str,
        act: Act,
        at: Timestamp,
    ) -> Result<(), ReplayError> {
        let opportunity = self.opportunities.get(lead).copied();
        let (stage, owner) = match live.read().expect("live state lock").stage_and_owner(lead) {
            Some((stage, owner)) => (stage, owner.map(str::to_string)),
            None => {
                // A lead created days before its opportunity: its BANT comes just before it.
                if act == Act::Bant
                    && let Some(o) = opportunity.filter(|&o| o - HOUR_MS > at.millis())
                {
                    self.plan(o - HOUR_MS, lead, Act::Bant);
                }
                return Ok(());
            }
        };
        match act {
            Act::Touch { rep, assigned } => {
                // Reassigned meanwhile, or no longer sales' to work.
                let latest = store.assignments_of(lead).await?.into_iter().last();
                if latest.is_none_or(|a| a.at_ms != assigned || a.rep_id.as_deref() != Some(&rep))
                    || !matches!(stage, Stage::Mql | Stage::Sal)
                {
                    return Ok(());
                }
                let kind = if self.draw(lead, 4) < 0.6 {
                    "call"
                } else {
                    "email"
                };
                self.activity(store, lead, &rep, kind, at, "first touch")
                    .await?;
                self.lived.touches += 1;
                if stage == Stage::Mql {
                    let key = format!("{lead}@{assigned}");
                    let hot = opportunity.is_some_and(|o| o > at.millis());
                    let hours = if hot {
                        0.1 + 0.9 * self.draw(&key, 6)
                    } else if self.draw(&key, 5) < 0.85 {
                        0.25 + 3.75 * self.draw(&key, 6)
                    } else {
                        9.0 + 16.0 * self.draw(&key, 6)
                    };
                    let when = self.after(&rep, at.millis(), hours);
                    self.plan(when, lead, Act::Decide { rep });
                }
            }
            Act::Decide { rep } => {
                if stage != Stage::Mql || owner.as_deref() != Some(&rep) {
                    return Ok(());
                }
                let promising = opportunity.is_some_and(|o| o > at.millis());
                if promising || self.draw(lead, 7) < 0.4 {
                    if self
                        .moved(store, live, lead, Stage::Sal, None, &rep, at)
                        .await?
                    {
                        self.lived.accepted += 1;
                        let (when, act) = match opportunity {
                            Some(o) if o > at.millis() => {
                                let hours = 2.0 + 30.0 * self.draw(lead, 8);
                                let when = self.after(&rep, at.millis(), hours).min(o - HOUR_MS);
                                (when, Act::Qualify { rep })
                            }
                            // Some go as far as a discovery call and a BANT that qualifies,
                            // then stall; the rest go back to marketing after a while.
                            _ if self.draw(lead, 13) < 0.3 => {
                                let hours = 2.0 + 30.0 * self.draw(lead, 8);
                                (self.after(&rep, at.millis(), hours), Act::Qualify { rep })
                            }
                            _ => {
                                let hours = 8.0 + 38.0 * self.draw(lead, 9);
                                (self.after(&rep, at.millis(), hours), Act::Recycle { rep })
                            }
                        };
                        self.plan(when.max(at.millis() + 1), lead, act);
                    }
                } else {
                    let reasons = live
                        .read()
                        .expect("live state lock")
                        .model()
                        .handoff()
                        .reject_reasons
                        .clone();
                    let reason = pick(&reasons, self.draw(lead, 10)).unwrap_or("not_a_fit");
                    if self
                        .moved(store, live, lead, Stage::Recycled, Some(reason), &rep, at)
                        .await?
                    {
                        self.lived.rejected += 1;
                    }
                }
            }
            Act::Qualify { rep } => {
                if stage != Stage::Sal {
                    return Ok(());
                }
                self.activity(store, lead, &rep, "meeting", at, "discovery call")
                    .await?;
                self.capture_bant(store, live, lead, at).await?;
                let later = Timestamp::from_millis(at.millis() + 1);
                if self
                    .moved(store, live, lead, Stage::Sql, None, &rep, later)
                    .await?
                {
                    self.lived.qualified += 1;
                    // No opportunity to come: the deal stalls within a few weeks.
                    if opportunity.is_none_or(|o| o <= at.millis()) {
                        let hours = 40.0 + 120.0 * self.draw(lead, 14);
                        let when = self.after(&rep, later.millis(), hours);
                        self.plan(when, lead, Act::Recycle { rep });
                    }
                }
            }
            Act::Recycle { rep } => {
                if matches!(stage, Stage::Sal | Stage::Sql) {
                    let reason = match (stage, self.draw(lead, 12) < 0.5) {
                        (Stage::Sql, true) => "no_budget",
                        (_, true) => "bad_timing",
                        (_, false) => "unreachable",
                    };
                    self.moved(store, live, lead, Stage::Recycled, Some(reason), &rep, at)
                        .await?;
                }
            }
            Act::Bant => {
                if !matches!(stage, Stage::Opportunity | Stage::Won | Stage::Lost) {
                    self.capture_bant(store, live, lead, at).await?;
                }
            }
        }
        Ok(())
    }

    /// Moves a lead as `rep`; false when the lifecycle refuses (the lead moved on).
    #[allow(clippy::too_many_arguments)]
    async fn moved(
        &mut self,
        store: &Store,
        live: &RwLock<Live>,
        lead: &str,
        to: Stage,
        reason: Option<&str>,
        rep: &str,
        at: Timestamp,
    ) -> Result<bool, ReplayError> {
        match move_lead(
            store,
            live,
            lead,
            (to, Actor::Sales, reason),
            Some(rep.to_string()),
            at,
        )
        .await
        {
            Ok(_) => Ok(true),
            Err(MoveFailure::Refused(_)) => Ok(false),
            Err(MoveFailure::Storage(e)) => Err(ReplayError::Storage(e)),
        }
    }

    async fn activity(
        &self,
        store: &Store,
        lead: &str,
        rep: &str,
        kind: &str,
        at: Timestamp,
        note: &str,
    ) -> Result<(), ReplayError> {
        let row = ActivityRow {
            lead_id: lead.to_string(),
            kind: kind.to_string(),
            at_ms: at.millis(),
            rep_id: Some(rep.to_string()),
            note: Some(note.to_string()),
            source: "simulated".into(),
            external_id: Some(format!("sim-{lead}-{}", at.millis())),
            recorded_ms: at.millis(),
        };
        store.record_activities(&[row]).await?;
        Ok(())
    }

    /// Records the lead's BANT answers (as the CRM would send them: an `identify`), good
    /// enough for `sql` under the model in force.
    async fn capture_bant(
        &mut self,
        store: &Store,
        live: &RwLock<Live>,
        lead: &str,
        at: Timestamp,
    ) -> Result<(), ReplayError> {
        if !self.bant_done.insert(lead.to_string()) {
            return Ok(());
        }
        let Some(bant) = live
            .read()
            .expect("live state lock")
            .model()
            .bant()
            .cloned()
        else {
            return Ok(());
        };
        // The best answer to each criterion, but for one that gets the second best when the
        // rest still meet the bar.
        let total: f64 = bant.criteria.iter().map(|c| c.weight).sum();
        let softened = (self.draw(lead, 13) * bant.criteria.len() as f64) as usize;
        let mut traits = Map::new();
        let ranked: Vec<Vec<(String, f64)>> = bant
            .criteria
            .iter()
            .map(|c| {
                let mut values = c.values.clone();
                values.sort_by(|a, b| b.1.total_cmp(&a.1));
                values
            })
            .collect();
        for (i, (c, values)) in bant.criteria.iter().zip(&ranked).enumerate() {
            let Some(best) = values.first() else { continue };
            let second = values.get(1).filter(|s| {
                let rest: f64 = total - c.weight * (best.1 - s.1);
                i == softened && rest / total >= bant.sql_min
            });
            let (value, _) = second.unwrap_or(best);
            traits.insert(c.field.clone(), Value::from(value.clone()));
        }
        let message = json!({
            "type": "identify",
            "userId": lead,
            "messageId": format!("sim-bant-{lead}"),
            "timestamp": at.to_string(),
            "traits": traits,
            "context": {"library": {"name": "sluice-simulated-team"}},
        });
        let Value::Object(message) = message else {
            unreachable!("an object")
        };
        let accepted =
            prepare(message, at, Times::Trust).map_err(|e| ReplayError::Message(e.message))?;
        store_batch_at(store, live, vec![accepted], "crm", &Clock::manual(at)).await?;
        Ok(())
    }
}

/// The value at `share` (0-1) of a list.
fn pick(list: &[String], share: f64) -> Option<&str> {
    let i = ((share * list.len() as f64) as usize).min(list.len().checked_sub(1)?);
    list.get(i).map(String::as_str)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_within_the_list() {
        let list: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(pick(&list, 0.0), Some("a"));
        assert_eq!(pick(&list, 0.99), Some("c"));
        assert_eq!(pick(&list, 1.0), Some("c"));
        assert_eq!(pick(&[], 0.5), None);
    }

    #[test]
    fn draws_are_repeatable_and_spread() {
        let team = |seed| Team {
            simulated: true,
            seed,
            roster: Roster::default(),
            opportunities: HashMap::new(),
            plan: BinaryHeap::new(),
            planned: HashSet::new(),
            bant_done: HashSet::new(),
            lived: Lived::default(),
            seen_from: 0,
        };
        let (a, b) = (team(1), team(2));
        assert_eq!(a.draw("lead-1", 1), a.draw("lead-1", 1));
        assert_ne!(a.draw("lead-1", 1), b.draw("lead-1", 1));
        let mean: f64 = (0..1000).map(|i| a.draw(&format!("l{i}"), 3)).sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "mean {mean}");
    }
}
