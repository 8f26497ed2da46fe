//! The model: the shared, versioned definition of a qualified lead. A [`Model`] can only be
//! built by [`Model::from_toml`], which checks every rule, so a compiled model cannot fail at
//! scoring time.

mod cond;
pub mod diff;
mod file;

use rustc_hash::FxHashMap;
use std::fmt;
use std::ops::Range;

use serde::Serialize;

pub use cond::{CondError, Condition, EVENT_FIELDS, Scope, Vars};

use crate::time::{HalfLife, Span};

/// The shared definition of qualification, compiled from a model file.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) description: Option<String>,
    pub(crate) thresholds: Thresholds,
    pub(crate) fit: Fit,
    pub(crate) disqualifiers: Vec<Disqualifier>,
    pub(crate) engagement: Engagement,
    pub(crate) caps: Vec<Cap>,
    pub(crate) groups: Vec<Group>,
    pub(crate) grades: Grades,
    pub(crate) account: AccountModel,
    pub(crate) bant: Option<Bant>,
    pub(crate) handoff: crate::handoff::Policy,
    pub(crate) probability: Option<Probability>,
    /// The roles that must each sign a proposed change of this model (`[governance]`).
    pub(crate) approvers: Vec<String>,
    /// What the contract's words mean here (`[glossary]`): term → definition.
    pub(crate) glossary: std::collections::BTreeMap<String, String>,
    /// Engagement rules by event name, so most events touch few rules.
    pub(crate) by_event: FxHashMap<String, Vec<u32>>,
    /// Engagement rules for `event = "*"`.
    pub(crate) any_event: Vec<u32>,
    /// What of events' properties and context the engagement rules read.
    pub(crate) event_fields: crate::event::EventFields,
}

/// A calibration of the score into a probability (fitted by `sluice learn`): the log-odds of
/// `of` are `intercept + per_point * score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probability {
    /// What the probability is of: `opportunity`, `won`, `converted`...
    pub of: String,
    /// Log-odds at a score of 0.
    pub intercept: f64,
    /// Log-odds per point.
    pub per_point: f64,
    /// Where the calibration comes from, for people.
    pub description: Option<String>,
}

impl Probability {
    /// The probability at a score.
    pub fn at(&self, score: f64) -> f64 {
        1.0 / (1.0 + (-(self.intercept + self.per_point * score)).exp())
    }
}

/// When a lead is marketing-qualified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Score (fit + engagement) at or above which a lead is an MQL.
    pub mql: f64,
    /// The lowest fit grade an MQL may have, if any.
    pub min_fit_grade: Option<FitGrade>,
    /// The lowest engagement grade an MQL may have, if any.
    pub min_engagement_grade: Option<EngagementGrade>,
}

/// Explicit fit: who the lead is.
#[derive(Debug, Clone)]
pub struct Fit {
    /// Cap on the fit score.
    pub max_points: Option<f64>,
    /// The rules.
    pub rules: Vec<FitRule>,
}

/// A fit rule: points when a condition on the lead (and its account) holds.
#[derive(Debug, Clone)]
pub struct FitRule {
    /// Unique id.
    pub id: String,
    /// What the rule means, for people.
    pub description: Option<String>,
    /// The condition.
    pub when: Condition,
    /// Points, positive or negative.
    pub points: f64,
    /// Score groups the points also count toward.
    pub groups: Vec<u32>,
}

/// A disqualifier: takes a lead out regardless of its score.
#[derive(Debug, Clone)]
pub struct Disqualifier {
    /// Unique id.
    pub id: String,
    /// What the rule means.
    pub description: Option<String>,
    /// The condition.
    pub when: Condition,
    /// Reason code recorded with the disqualification.
    pub reason: String,
}

/// Implicit engagement: what the lead did.
#[derive(Debug, Clone)]
pub struct Engagement {
    /// Default half-life of engagement points.
    pub half_life: HalfLife,
    /// Cap on the engagement score.
    pub max_points: Option<f64>,
    /// The rules.
    pub rules: Vec<EngagementRule>,
}

/// Which events an engagement rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventMatch {
    /// Events with this name (`page` for page views, `screen` for screen views).
    Named(String),
    /// Every event (`"*"`).
    Any,
}

impl fmt::Display for EventMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventMatch::Named(name) => f.write_str(name),
            EventMatch::Any => f.write_str("*"),
        }
    }
}

/// An engagement rule: points for an action, fading with time.
#[derive(Debug, Clone)]
pub struct EngagementRule {
    /// Unique id.
    pub id: String,
    /// What the rule means.
    pub description: Option<String>,
    /// Which events.
    pub event: EventMatch,
    /// Extra condition on the event.
    pub when: Option<Condition>,
    /// Points per counted event.
    pub points: f64,
    /// How fast the points fade (the rule's own half-life, or the model's).
    pub half_life: HalfLife,
    /// The rule's own half-life, if it sets one.
    pub own_half_life: Option<HalfLife>,
    /// Count once per distinct value of this event path (e.g. `asset_id`).
    pub once_per: Option<OncePer>,
    /// Count at most once per this period.
    pub cooldown: Option<Span>,
    /// Cap on this rule's total.
    pub max_points: Option<f64>,
    /// Shared cap this rule's points count toward.
    pub cap: Option<u32>,
    /// Score groups the points also count toward.
    pub groups: Vec<u32>,
}

/// Where a rule's `once_per` value is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OncePer {
    /// In the event's context (`context.campaign.name`) rather than its properties.
    pub in_context: bool,
    /// The path within.
    pub path: Vec<String>,
}

impl fmt::Display for OncePer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_context {
            f.write_str("context.")?;
        }
        f.write_str(&self.path.join("."))
    }
}

/// A cap shared by several engagement rules.
#[derive(Debug, Clone)]
pub struct Cap {
    /// Unique id.
    pub id: String,
    /// What it limits.
    pub description: Option<String>,
    /// The most points the rules under it may give together.
    pub max_points: f64,
}

/// A named score besides the main one (e.g. per product line), with its own threshold.
#[derive(Debug, Clone)]
pub struct Group {
    /// Unique id.
    pub id: String,
    /// What it measures.
    pub description: Option<String>,
    /// Score at which a lead qualifies through this group.
    pub mql: Option<f64>,
    /// Cap on the group score.
    pub max_points: Option<f64>,
}

/// Fit bands A-D and engagement bands 1-4: the lowest score of each band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grades {
    /// Lowest fit score for A, B and C (below C is D).
    pub fit: [f64; 3],
    /// Lowest engagement score for 1, 2 and 3 (below 3 is 4).
    pub engagement: [f64; 3],
}

/// A fit band: A is the best fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum FitGrade {
    /// Best fit.
    A,
    /// Good fit.
    B,
    /// Weak fit.
    C,
    /// Poor fit.
    D,
}

/// An engagement band: 1 is the most engaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EngagementGrade(pub u8);

/// A lead's grade: fit band and engagement band, e.g. `A1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grade {
    /// Fit band.
    pub fit: FitGrade,
    /// Engagement band.
    pub engagement: EngagementGrade,
}

impl fmt::Display for FitGrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FitGrade::A => "A",
            FitGrade::B => "B",
            FitGrade::C => "C",
            FitGrade::D => "D",
        })
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.fit, self.engagement.0)
    }
}

impl Serialize for Grade {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Grades {
    /// The fit band of a fit score.
    pub fn fit_grade(&self, fit: f64) -> FitGrade {
        match self.fit {
            [a, ..] if fit >= a => FitGrade::A,
            [_, b, _] if fit >= b => FitGrade::B,
            [_, _, c] if fit >= c => FitGrade::C,
            _ => FitGrade::D,
        }
    }

    /// The engagement band of an engagement score.
    pub fn engagement_grade(&self, engagement: f64) -> EngagementGrade {
        let band = self.engagement.iter().position(|&min| engagement >= min);
        EngagementGrade(band.map_or(4, |i| i as u8 + 1))
    }

    /// The lowest fit score of a band (D: no minimum).
    pub fn fit_floor(&self, grade: FitGrade) -> Option<f64> {
        match grade {
            FitGrade::A => Some(self.fit[0]),
            FitGrade::B => Some(self.fit[1]),
            FitGrade::C => Some(self.fit[2]),
            FitGrade::D => None,
        }
    }

    /// The lowest engagement score of a band (4: no minimum).
    pub fn engagement_floor(&self, grade: EngagementGrade) -> Option<f64> {
        self.engagement
            .get(usize::from(grade.0).checked_sub(1)?)
            .copied()
    }
}

/// How an account's engagement rolls up from its leads'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollup {
    /// Sum of all leads.
    Sum,
    /// The most engaged lead.
    Max,
    /// Sum of the N most engaged leads.
    Top(usize),
}

impl fmt::Display for Rollup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollup::Sum => f.write_str("sum"),
            Rollup::Max => f.write_str("max"),
            Rollup::Top(n) => write!(f, "top {n}"),
        }
    }
}

/// Account scoring: fit rules on the account plus its leads' engagement, rolled up.
#[derive(Debug, Clone)]
pub struct AccountModel {
    /// What the account score means.
    pub description: Option<String>,
    /// How lead engagement rolls up.
    pub rollup: Rollup,
    /// Account score at which the account is qualified (an MQA), if set.
    pub mql: Option<f64>,
    /// Fit rules over `account`.
    pub rules: Vec<FitRule>,
}

/// BANT qualification: budget, authority, need and timeline, as captured by sales.
#[derive(Debug, Clone)]
pub struct Bant {
    /// What the criteria mean.
    pub description: Option<String>,
    /// Completeness (0-1) a lead needs to become `sql`.
    pub sql_min: f64,
    /// The criteria that are defined, in B-A-N-T order.
    pub criteria: Vec<BantCriterion>,
}

/// One BANT criterion: which attribute holds it and what each value is worth.
#[derive(Debug, Clone)]
pub struct BantCriterion {
    /// `budget`, `authority`, `need` or `timeline`.
    pub id: &'static str,
    /// What counts, for people.
    pub description: Option<String>,
    /// The lead attribute holding the answer.
    pub field: String,
    /// Weight in the completeness.
    pub weight: f64,
    /// Credit (0-1) for each answer, keyed by lower-cased value.
    pub values: Vec<(String, f64)>,
}

/// A problem in a model file, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The rule (or section) concerned.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(rule) = &self.rule {
            write!(f, "rule `{rule}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ModelErrors(pub Vec<ModelError>);

impl fmt::Display for ModelErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Model {
    /// Compiles a model file's text; `file` names it in errors.
    pub fn from_toml(source: &str, file: &str) -> Result<Model, ModelErrors> {
        compile::compile(source, file)
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The keys of events' `properties` and `context` its engagement rules read (conditions
    /// and `once_per`): scoring an event read with [`Message::parse_with`] these fields gives
    /// the same hits as scoring it read in full.
    ///
    /// [`Message::parse_with`]: crate::event::Message::parse_with
    pub fn event_fields(&self) -> &crate::event::EventFields {
        &self.event_fields
    }

    /// What the model is for.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// MQL thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Fit rules.
    pub fn fit(&self) -> &Fit {
        &self.fit
    }

    /// Disqualifiers.
    pub fn disqualifiers(&self) -> &[Disqualifier] {
        &self.disqualifiers
    }

    /// Engagement rules.
    pub fn engagement(&self) -> &Engagement {
        &self.engagement
    }

    /// Shared caps.
    pub fn caps(&self) -> &[Cap] {
        &self.caps
    }

    /// Score groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Grade bands.
    pub fn grades(&self) -> &Grades {
        &self.grades
    }

    /// Account scoring.
    pub fn account(&self) -> &AccountModel {
        &self.account
    }

    /// BANT criteria.
    pub fn bant(&self) -> Option<&Bant> {
        self.bant.as_ref()
    }

    /// The roles that must each approve a proposal to replace this model, one signature per
    /// role (`[governance] approvers`; by default `marketing` and `sales_manager`).
    pub fn approvers(&self) -> &[String] {
        &self.approvers
    }

    /// What the contract's words mean here, as both sides agreed (`[glossary]`): term (`mql`,
    /// `sal`, `sql`...) → definition, in the terms' order.
    pub fn glossary(&self) -> &std::collections::BTreeMap<String, String> {
        &self.glossary
    }

    /// The score's calibration into a probability, if the model has one.
    pub fn probability(&self) -> Option<&Probability> {
        self.probability.as_ref()
    }

    /// The hand-off policy: routing, rejection reasons, recycling, SLAs (defaults when the
    /// file has no `[handoff]`).
    pub fn handoff(&self) -> &crate::handoff::Policy {
        &self.handoff
    }

    /// The same model with every condition run by the CEL interpreter (the baseline that
    /// native predicates are measured against).
    pub fn interpreted(&self) -> Model {
        let mut model = self.clone();
        let fit = model.fit.rules.iter_mut().chain(&mut model.account.rules);
        for rule in fit {
            rule.when = rule.when.interpreted();
        }
        for d in &mut model.disqualifiers {
            d.when = d.when.interpreted();
        }
        for rule in &mut model.engagement.rules {
            rule.when = rule.when.as_ref().map(Condition::interpreted);
        }
        for rule in &mut model.handoff.routing {
            rule.when = rule.when.interpreted();
        }
        model
    }

    /// How many conditions run natively and how many in the CEL interpreter.
    pub fn condition_counts(&self) -> (usize, usize) {
        let all = self
            .fit
            .rules
            .iter()
            .chain(&self.account.rules)
            .map(|r| &r.when)
            .chain(self.disqualifiers.iter().map(|d| &d.when))
            .chain(self.engagement.rules.iter().filter_map(|r| r.when.as_ref()))
            .chain(self.handoff.routing.iter().map(|r| &r.when));
        all.fold((0, 0), |(native, interpreted), c| {
            if c.is_native() {
                (native + 1, interpreted)
            } else {
                (native, interpreted + 1)
            }
        })
    }
}

mod compile;

/// Byte span in the model file.
pub(crate) type SpanRange = Range<usize>;
