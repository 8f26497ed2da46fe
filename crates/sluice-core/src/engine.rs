//! The scoring engine: a lead's attributes and activity, at a time T, give its scores, grade,
//! qualification and the explanation of every point.
//!
//! An event is matched against the model once ([`Activity::record`]); what it matched is kept
//! as a small [`Hit`], sorted by time. Scoring at T walks the hits up to T in that order, so
//! the same events in any arrival order, added one by one or all at once, give the same score
//! to the last bit. Decay, `once_per`, `cooldown` and caps are applied at scoring time.

use std::fmt::Write as _;

use rustc_hash::FxHashSet;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::event::{Attributes, Event};
use crate::model::{EngagementGrade, FitGrade, Grade, Model, Rollup, Vars};
use crate::time::Timestamp;

/// Who a lead is: its attributes and its account's.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    /// The lead's attributes (traits).
    pub lead: &'a Attributes,
    /// Its account's attributes, if it belongs to one.
    pub account: Option<&'a Attributes>,
}

/// One engagement rule matched by one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    /// When the event happened.
    pub at: Timestamp,
    /// Index of the engagement rule.
    pub rule: u32,
    /// Hash of the rule's `once_per` value (0 without `once_per`).
    pub key: u64,
}

/// What a lead did, as far as the model cares: the engagement rules its events matched, in
/// time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    hits: Vec<Hit>,
}

impl Activity {
    /// No activity yet.
    pub fn new() -> Self {
        Activity::default()
    }

    /// The activity of a whole set of events, in any order.
    pub fn from_events<'e>(model: &Model, events: impl IntoIterator<Item = &'e Event>) -> Self {
        let mut hits = Vec::new();
        for event in events {
            model.match_event(event, |hit| hits.push(hit));
        }
        hits.sort_unstable();
        Activity { hits }
    }

    /// Adds one event; returns how many rules it matched. Events may arrive in any order.
    pub fn record(&mut self, model: &Model, event: &Event) -> usize {
        let mut n = 0;
        model.match_event(event, |hit| {
            n += 1;
            self.add(hit);
        });
        n
    }

    /// Adds one hit matched elsewhere ([`Model::match_event`], on another thread, say): the
    /// same as recording its event. Hits may arrive in any order.
    pub fn add(&mut self, hit: Hit) {
        // Events mostly arrive in time order: then this appends.
        let at = self.hits.partition_point(|h| *h <= hit);
        self.hits.insert(at, hit);
    }

    /// Adds hits matched elsewhere (e.g. restored from storage).
    pub fn extend(&mut self, hits: impl IntoIterator<Item = Hit>) {
        self.hits.extend(hits);
        self.hits.sort_unstable();
    }

    /// The rule matches so far, in time order.
    pub fn hits(&self) -> &[Hit] {
        &self.hits
    }

    /// Forgets what happened before `t` (a recycled lead earns its engagement again).
    pub fn forget_before(&mut self, t: Timestamp) {
        let keep = self.hits.partition_point(|h| h.at < t);
        self.hits.drain(..keep);
    }

    /// Whether nothing matched yet.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// Where a lead stands against the MQL criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Qualification {
    /// Below the bar.
    Lead,
    /// Marketing-qualified.
    Mql,
    /// Taken out by a disqualifier.
    Disqualified,
}

impl Qualification {
    /// `lead`, `mql` or `disqualified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Qualification::Lead => "lead",
            Qualification::Mql => "mql",
            Qualification::Disqualified => "disqualified",
        }
    }
}

/// A lead's scores at a point in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadScore {
    /// Points from who the lead is.
    #[serde(serialize_with = "rounded")]
    pub fit: f64,
    /// Points from what the lead did, decayed to the scoring time.
    #[serde(serialize_with = "rounded")]
    pub engagement: f64,
    /// Fit plus engagement.
    #[serde(serialize_with = "rounded")]
    pub score: f64,
    /// Fit band and engagement band.
    pub grade: Grade,
    /// Score per score group.
    pub groups: Vec<GroupScore>,
    /// Disqualifiers that hold.
    pub disqualified: Vec<DisqualifyHit>,
    /// Lead, MQL or disqualified.
    pub qualification: Qualification,
    /// What made it an MQL: `score` and/or score group ids.
    pub qualified_by: Vec<String>,
    /// What it would take to become an MQL.
    pub to_mql: ToMql,
    /// The chance of an opportunity (or win), when the model calibrates its score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// A score group's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScore {
    /// The group id.
    pub id: String,
    /// Its score.
    #[serde(serialize_with = "rounded")]
    pub score: f64,
    /// Whether it reached the group's `mql`.
    pub qualified: bool,
}

/// A disqualifier that holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisqualifyHit {
    /// The rule id.
    pub rule: String,
    /// Its reason code.
    pub reason: String,
}

/// The distance to the MQL bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToMql {
    /// Points missing to the MQL threshold (0 when reached).
    #[serde(serialize_with = "rounded")]
    pub points: f64,
    /// Fit points missing to reach the minimum fit grade, when it is not met.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rounded_opt"
    )]
    pub fit_points: Option<f64>,
    /// Engagement points missing to reach the minimum engagement grade, when not met.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rounded_opt"
    )]
    pub engagement_points: Option<f64>,
    /// Disqualifier reasons that block qualification whatever the score.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
}

/// Every point of a score, traced to its rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Fit rules that hold.
    pub fit: Vec<FitContribution>,
    /// The fit cap, when the rules that hold add up to more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit_capped_at: Option<f64>,
    /// Engagement rules that matched at least one event.
    pub engagement: Vec<RuleContribution>,
}

/// A fit rule that holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitContribution {
    /// The rule id.
    pub rule: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its points.
    #[serde(serialize_with = "rounded")]
    pub points: f64,
}

/// An engagement rule's share of the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleContribution {
    /// The rule id.
    pub rule: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Events that matched it up to the scoring time.
    pub matched: u32,
    /// Events that counted (not skipped by `once_per` or `cooldown`).
    pub counted: u32,
    /// Raw points of the counted events.
    #[serde(serialize_with = "rounded")]
    pub raw_points: f64,
    /// Their points after decay.
    #[serde(serialize_with = "rounded")]
    pub decayed_points: f64,
    /// What the rule adds to the engagement score, after caps.
    #[serde(serialize_with = "rounded")]
    pub points: f64,
    /// The cap that limited it: `max_points` or a shared cap id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capped_by: Option<String>,
    /// Each matching event.
    pub events: Vec<EventContribution>,
}

/// One event's contribution to a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventContribution {
    /// When it happened.
    pub at: Timestamp,
    /// Its raw points.
    #[serde(serialize_with = "rounded")]
    pub raw_points: f64,
    /// Its points after decay (0 when skipped).
    #[serde(serialize_with = "rounded")]
    pub points: f64,
    /// Why it did not count, if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skip>,
}

/// Why a matching event did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// Its `once_per` value had counted already.
    OncePer,
    /// Within the rule's `cooldown` of the last counted event.
    Cooldown,
}

/// An account's score: its own fit plus its leads' engagement, rolled up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountScore {
    /// Points from account fit rules.
    #[serde(serialize_with = "rounded")]
    pub fit: f64,
    /// Lead engagement, rolled up.
    #[serde(serialize_with = "rounded")]
    pub engagement: f64,
    /// Fit plus engagement.
    #[serde(serialize_with = "rounded")]
    pub score: f64,
    /// Whether it reached `account.mql`.
    pub qualified: bool,
    /// Account fit rules that hold.
    pub rules: Vec<String>,
}

/// Where a lead stands on BANT.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BantStatus {
    /// Weighted share of the criteria met (0-1).
    #[serde(serialize_with = "rounded")]
    pub completeness: f64,
    /// Whether it reaches `bant.sql_min`.
    pub meets_sql: bool,
    /// Each criterion.
    pub criteria: Vec<BantAnswer>,
}

/// One BANT criterion's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BantAnswer {
    /// `budget`, `authority`, `need` or `timeline`.
    pub id: &'static str,
    /// The attribute read.
    pub field: String,
    /// The answer, if captured.
    pub value: Option<String>,
    /// Its credit (0-1).
    #[serde(serialize_with = "rounded")]
    pub credit: f64,
}

/// Receives the details of a scoring pass; the plain score uses a sink that ignores them.
trait Sink {
    fn fit(&mut self, _rule: usize) {}
    fn counted(&mut self, _hit: &Hit, _raw: f64, _decayed: f64) {}
    fn skipped(&mut self, _hit: &Hit, _why: Skip) {}
}

impl Sink for () {}

struct Recorder {
    fit: Vec<usize>,
    events: Vec<(Hit, f64, f64, Option<Skip>)>,
}

impl Sink for Recorder {
    fn fit(&mut self, rule: usize) {
        self.fit.push(rule);
    }
    fn counted(&mut self, hit: &Hit, raw: f64, decayed: f64) {
        self.events.push((*hit, raw, decayed, None));
    }
    fn skipped(&mut self, hit: &Hit, why: Skip) {
        self.events.push((*hit, 0.0, 0.0, Some(why)));
    }
}

/// Engagement after caps: per rule, and which cap bit.
struct EngagementPoints {
    per_rule: Vec<f64>,
    capped_by: Vec<Option<String>>,
    total: f64,
}

impl Model {
    /// Calls `f` with each engagement rule `event` matches.
    pub fn match_event(&self, event: &Event, mut f: impl FnMut(Hit)) {
        let named = self.by_event.get(event.name.as_str());
        let rules = named
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .chain(&self.any_event);
        for &index in rules {
            let rule = &self.engagement.rules[index as usize];
            if let Some(when) = &rule.when {
                let vars = Vars {
                    event: Some(event),
                    ..Vars::default()
                };
                if !when.matches(vars) {
                    continue;
                }
            }
            let key = rule.once_per.as_ref().map_or(0, |once_per| {
                let map = if once_per.in_context {
                    &event.context
                } else {
                    &event.properties
                };
                once_per_key(map, &once_per.path)
            });
            f(Hit {
                at: event.timestamp,
                rule: index,
                key,
            });
        }
    }

    /// The lead's scores at `as_of`, counting only activity up to then.
    pub fn score(&self, profile: Profile<'_>, activity: &Activity, as_of: Timestamp) -> LeadScore {
        self.evaluate(profile, activity, as_of, &mut ())
    }

    /// The lead's scores at `as_of`, with every point traced to its rule and event.
    pub fn explain(
        &self,
        profile: Profile<'_>,
        activity: &Activity,
        as_of: Timestamp,
    ) -> (LeadScore, Explanation) {
        let mut recorder = Recorder {
            fit: Vec::new(),
            events: Vec::new(),
        };
        let score = self.evaluate(profile, activity, as_of, &mut recorder);
        let points = self.engagement_points(activity, as_of, &mut ());
        let fit: Vec<FitContribution> = recorder
            .fit
            .iter()
            .map(|&i| {
                let rule = &self.fit.rules[i];
                FitContribution {
                    rule: rule.id.clone(),
                    description: rule.description.clone(),
                    points: rule.points,
                }
            })
            .collect();
        let mut engagement: Vec<RuleContribution> = Vec::new();
        let mut slot: Vec<Option<usize>> = vec![None; self.engagement.rules.len()];
        for (hit, raw, decayed, skipped) in recorder.events {
            let rule = &self.engagement.rules[hit.rule as usize];
            let entry = match slot[hit.rule as usize] {
                Some(i) => &mut engagement[i],
                None => {
                    slot[hit.rule as usize] = Some(engagement.len());
                    engagement.push(RuleContribution {
                        rule: rule.id.clone(),
                        description: rule.description.clone(),
                        matched: 0,
                        counted: 0,
                        raw_points: 0.0,
                        decayed_points: 0.0,
                        points: points.per_rule[hit.rule as usize],
                        capped_by: points.capped_by[hit.rule as usize].clone(),
                        events: Vec::new(),
                    });
                    engagement.last_mut().expect("just pushed")
                }
            };
            entry.matched += 1;
            if skipped.is_none() {
                entry.counted += 1;
                entry.raw_points += raw;
                entry.decayed_points += decayed;
            }
            entry.events.push(EventContribution {
                at: hit.at,
                raw_points: if skipped.is_none() { raw } else { rule.points },
                points: decayed,
                skipped,
            });
        }
        engagement.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
        let fit_capped_at = self.fit.max_points.filter(|&max| {
            recorder
                .fit
                .iter()
                .map(|&i| self.fit.rules[i].points)
                .sum::<f64>()
                > max
        });
        (
            score,
            Explanation {
                fit,
                fit_capped_at,
                engagement,
            },
        )
    }

    fn evaluate<S: Sink>(
        &self,
        profile: Profile<'_>,
        activity: &Activity,
        as_of: Timestamp,
        sink: &mut S,
    ) -> LeadScore {
        let vars = Vars {
            lead: Some(profile.lead),
            account: profile.account,
            event: None,
        };
        let mut groups: Vec<f64> = vec![0.0; self.groups.len()];
        let mut fit = 0.0;
        for (i, rule) in self.fit.rules.iter().enumerate() {
            if rule.when.matches(vars) {
                fit += rule.points;
                for &g in &rule.groups {
                    groups[g as usize] += rule.points;
                }
                sink.fit(i);
            }
        }
        if let Some(max) = self.fit.max_points {
            fit = fit.min(max);
        }

        let points = self.engagement_points(activity, as_of, sink);
        for (rule, &p) in self.engagement.rules.iter().zip(&points.per_rule) {
            for &g in &rule.groups {
                groups[g as usize] += p;
            }
        }
        let engagement = points.total;
        let score = fit + engagement;
        let grade = Grade {
            fit: self.grades.fit_grade(fit),
            engagement: self.grades.engagement_grade(engagement),
        };

        let disqualified: Vec<DisqualifyHit> = self
            .disqualifiers
            .iter()
            .filter(|d| d.when.matches(vars))
            .map(|d| DisqualifyHit {
                rule: d.id.clone(),
                reason: d.reason.clone(),
            })
            .collect();

        let groups: Vec<GroupScore> = self
            .groups
            .iter()
            .zip(groups)
            .map(|(group, score)| {
                let score = group.max_points.map_or(score, |max| score.min(max));
                GroupScore {
                    id: group.id.clone(),
                    score,
                    qualified: group.mql.is_some_and(|mql| score >= mql),
                }
            })
            .collect();

        let thresholds = &self.thresholds;
        let fit_points = thresholds
            .min_fit_grade
            .filter(|&min| grade.fit > min)
            .and_then(|min| self.grades.fit_floor(min))
            .map(|floor| floor - fit);
        let engagement_points = thresholds
            .min_engagement_grade
            .filter(|&min| grade.engagement > min)
            .and_then(|min| self.grades.engagement_floor(min))
            .map(|floor| floor - engagement);
        let mut qualified_by = Vec::new();
        if score >= thresholds.mql {
            qualified_by.push("score".to_string());
        }
        qualified_by.extend(groups.iter().filter(|g| g.qualified).map(|g| g.id.clone()));
        let grade_ok = fit_points.is_none() && engagement_points.is_none();
        let qualification = if !disqualified.is_empty() {
            Qualification::Disqualified
        } else if grade_ok && !qualified_by.is_empty() {
            Qualification::Mql
        } else {
            Qualification::Lead
        };
        if !grade_ok {
            qualified_by.clear();
        }
        let to_mql = ToMql {
            points: if qualified_by.is_empty() {
                (thresholds.mql - score).max(0.0)
            } else {
                0.0
            },
            fit_points,
            engagement_points,
            blocked_by: disqualified.iter().map(|d| d.reason.clone()).collect(),
        };
        LeadScore {
            probability: self.probability.as_ref().map(|p| round3(p.at(score))),
            fit,
            engagement,
            score,
            grade,
            groups,
            disqualified,
            qualification,
            qualified_by,
            to_mql,
        }
    }

    fn engagement_points<S: Sink>(
        &self,
        activity: &Activity,
        as_of: Timestamp,
        sink: &mut S,
    ) -> EngagementPoints {
        let rules = &self.engagement.rules;
        let mut totals = vec![0.0; rules.len()];
        let mut last_counted: Vec<Option<Timestamp>> = vec![None; rules.len()];
        let mut seen: FxHashSet<(u32, u64)> = FxHashSet::default();
        let hits = activity.hits();
        let end = hits.partition_point(|h| h.at <= as_of);
        for hit in &hits[..end] {
            let rule = &rules[hit.rule as usize];
            if rule.once_per.is_some() && seen.contains(&(hit.rule, hit.key)) {
                sink.skipped(hit, Skip::OncePer);
                continue;
            }
            if let Some(cooldown) = rule.cooldown {
                let last = &mut last_counted[hit.rule as usize];
                if last.is_some_and(|last| hit.at.since(last) < cooldown) {
                    sink.skipped(hit, Skip::Cooldown);
                    continue;
                }
                *last = Some(hit.at);
            }
            if rule.once_per.is_some() {
                seen.insert((hit.rule, hit.key));
            }
            let decayed = rule.points * rule.half_life.factor(as_of.since(hit.at));
            totals[hit.rule as usize] += decayed;
            sink.counted(hit, rule.points, decayed);
        }

        let mut capped_by: Vec<Option<String>> = vec![None; rules.len()];
        for (i, rule) in rules.iter().enumerate() {
            if let Some(max) = rule.max_points
                && totals[i].abs() > max
            {
                totals[i] = max.copysign(totals[i]);
                capped_by[i] = Some("max_points".to_string());
            }
        }
        for (c, cap) in self.caps.iter().enumerate() {
            let member = |i: usize| rules[i].cap == Some(c as u32);
            if scale_positive(&mut totals, member, cap.max_points) {
                for i in (0..rules.len()).filter(|&i| member(i)) {
                    capped_by[i] = Some(cap.id.clone());
                }
            }
        }
        if let Some(max) = self.engagement.max_points
            && scale_positive(&mut totals, |_| true, max)
        {
            for (total, by) in totals.iter().zip(&mut capped_by) {
                if *total > 0.0 {
                    *by = Some("engagement.max_points".to_string());
                }
            }
        }
        // `+ 0.0` turns the empty sum's -0.0 into 0.0.
        let total: f64 = totals.iter().sum::<f64>() + 0.0;
        EngagementPoints {
            per_rule: totals,
            capped_by,
            total,
        }
    }

    /// An account's score from its attributes and its leads' engagement scores.
    pub fn score_account(&self, account: &Attributes, lead_engagement: &[f64]) -> AccountScore {
        let vars = Vars {
            account: Some(account),
            ..Vars::default()
        };
        let mut fit = 0.0;
        let mut rules = Vec::new();
        for rule in &self.account.rules {
            if rule.when.matches(vars) {
                fit += rule.points;
                rules.push(rule.id.clone());
            }
        }
        let engagement = match self.account.rollup {
            Rollup::Sum => lead_engagement.iter().sum(),
            Rollup::Max => lead_engagement
                .iter()
                .copied()
                .reduce(f64::max)
                .unwrap_or(0.0),
            Rollup::Top(n) => {
                let mut sorted = lead_engagement.to_vec();
                sorted.sort_by(|a, b| b.total_cmp(a));
                sorted.iter().take(n).sum()
            }
        };
        let score = fit + engagement;
        AccountScore {
            fit,
            engagement,
            score,
            qualified: self.account.mql.is_some_and(|mql| score >= mql),
            rules,
        }
    }

    /// Where a lead stands on BANT, from the attributes sales captured.
    pub fn bant_status(&self, lead: &Attributes) -> Option<BantStatus> {
        let bant = self.bant.as_ref()?;
        let mut weighted = 0.0;
        let mut total_weight = 0.0;
        let criteria = bant
            .criteria
            .iter()
            .map(|c| {
                let value = lead.get(&c.field).and_then(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                });
                let credit = value.as_deref().map_or(0.0, |v| {
                    let v = v.to_lowercase();
                    c.values
                        .iter()
                        .find(|(k, _)| *k == v)
                        .map_or(0.0, |(_, credit)| *credit)
                });
                weighted += c.weight * credit;
                total_weight += c.weight;
                BantAnswer {
                    id: c.id,
                    field: c.field.clone(),
                    value,
                    credit,
                }
            })
            .collect();
        let completeness = if total_weight > 0.0 {
            weighted / total_weight
        } else {
            0.0
        };
        Some(BantStatus {
            completeness,
            meets_sql: completeness >= bant.sql_min,
            criteria,
        })
    }
}

/// Scales the positive totals of the rules `member` selects so that the members add up to at most `max`;
/// negative points are left whole. Returns whether it had to.
fn scale_positive(totals: &mut [f64], member: impl Fn(usize) -> bool, max: f64) -> bool {
    let members = || (0..totals.len()).filter(|&i| member(i));
    let (positive, negative) = members().fold((0.0, 0.0), |(p, n), i| {
        if totals[i] > 0.0 {
            (p + totals[i], n)
        } else {
            (p, n + totals[i])
        }
    });
    if positive + negative <= max || positive <= 0.0 {
        return false;
    }
    let factor = ((max - negative) / positive).clamp(0.0, 1.0);
    for (i, total) in totals.iter_mut().enumerate() {
        if member(i) && *total > 0.0 {
            *total *= factor;
        }
    }
    true
}

/// A stable 64-bit key for a property value (FNV-1a of its text), without allocating.
fn once_per_key(properties: &Attributes, path: &[String]) -> u64 {
    struct Fnv(u64);
    impl std::fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes() {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            Ok(())
        }
    }
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    let mut map = properties;
    let mut value = None;
    for (i, segment) in path.iter().enumerate() {
        match map.get(segment) {
            Some(Value::Object(inner)) if i + 1 < path.len() => map = inner,
            Some(v) if i + 1 == path.len() => value = Some(v),
            _ => break,
        }
    }
    let _ = match value {
        Some(Value::String(s)) => hasher.write_str(s),
        Some(other) => write!(hasher, "{other}"),
        // Events without the property share one key: they count once together.
        None => hasher.write_str("\u{0}missing"),
    };
    hasher.0.max(1)
}

fn rounded<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round3(*x))
}

fn rounded_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => s.serialize_some(&round3(*x)),
        None => s.serialize_none(),
    }
}

/// Three decimals: enough for points, without float noise in reports.
pub fn round3(x: f64) -> f64 {
    let r = (x * 1000.0).round() / 1000.0;
    if r == 0.0 { 0.0 } else { r }
}

impl FitGrade {
    /// Parses `A`-`D`.
    pub fn parse(text: &str) -> Option<FitGrade> {
        match text {
            "A" => Some(FitGrade::A),
            "B" => Some(FitGrade::B),
            "C" => Some(FitGrade::C),
            "D" => Some(FitGrade::D),
            _ => None,
        }
    }
}

impl EngagementGrade {
    /// The band number, 1 (most engaged) to 4.
    pub fn number(self) -> u8 {
        self.0
    }
}
