//! Funnel analytics and attribution: what happened to leads after they arrived, and which
//! actions and traits went with pipeline and bookings.
//!
//! The shells gather one [`LeadFacts`] per lead from the stored history (stage moves,
//! outcomes, activities, the event log replayed through the model); this module only counts.
//! [`funnel`] gives counts, conversions, velocity, win rate and dollars per group;
//! [`attribution`] gives, per feature (engagement rule, fit rule, event name, attribute value),
//! the conversion of the leads that had it against the base rate, with a confidence interval,
//! and flags the rules whose points disagree with that evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::event::Attributes;
use crate::lifecycle::Stage;
use crate::model::Model;
use crate::time::Timestamp;

/// The main path of the funnel, in order. `lost` counts as having reached `opportunity`; the
/// side exits (`recycled`, `disqualified`) reach nothing beyond `lead`.
pub const MAIN_PATH: [Stage; 6] = [
    Stage::Lead,
    Stage::Mql,
    Stage::Sal,
    Stage::Sql,
    Stage::Opportunity,
    Stage::Won,
];

/// Position of the furthest main-path stage a move into `stage` implies.
fn rank(stage: Stage) -> usize {
    match stage {
        Stage::Lead | Stage::Recycled | Stage::Disqualified => 0,
        Stage::Mql => 1,
        Stage::Sal => 2,
        Stage::Sql => 3,
        Stage::Opportunity | Stage::Lost => 4,
        Stage::Won => 5,
    }
}

/// Two-sided 95 % normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

const DAY_MS: f64 = 86_400_000.0;

/// What the CRM reported: an opportunity, a win or a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// An opportunity was created (pipeline $).
    Opportunity,
    /// Closed-won (bookings $).
    Won,
    /// Closed-lost.
    Lost,
}

impl FromStr for OutcomeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opportunity" => Ok(OutcomeKind::Opportunity),
            "won" => Ok(OutcomeKind::Won),
            "lost" => Ok(OutcomeKind::Lost),
            other => Err(format!("`{other}` is not opportunity, won or lost")),
        }
    }
}

/// A lead's way through the funnel: when it first reached each main-path stage (a move into
/// the stage or beyond it, or an outcome), and when it first entered each one exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journey {
    reached: [Option<Timestamp>; 6],
    entered: [Option<Timestamp>; 6],
    lost: Option<Timestamp>,
}

fn earliest(slot: &mut Option<Timestamp>, at: Timestamp) {
    if slot.is_none_or(|t| at < t) {
        *slot = Some(at);
    }
}

impl Journey {
    /// A lead first seen at `created`: it has reached `lead`, nothing more.
    pub fn new(created: Timestamp) -> Journey {
        let mut journey = Journey::default();
        journey.reached[0] = Some(created);
        journey.entered[0] = Some(created);
        journey
    }

    fn reach(&mut self, rank: usize, at: Timestamp) {
        for slot in &mut self.reached[..=rank] {
            earliest(slot, at);
        }
    }

    /// A recorded stage move into `to` at `at`.
    pub fn moved(&mut self, to: Stage, at: Timestamp) {
        let rank = rank(to);
        self.reach(rank, at);
        match to {
            Stage::Lost => earliest(&mut self.lost, at),
            Stage::Recycled | Stage::Disqualified | Stage::Lead => {}
            _ => earliest(&mut self.entered[rank], at),
        }
    }

    /// An outcome dated `at`: it counts as reaching `opportunity` (and `won` for a win), even
    /// when no stage move was recorded (a closed or disqualified lead keeps its stage).
    pub fn outcome(&mut self, kind: OutcomeKind, at: Timestamp) {
        match kind {
            OutcomeKind::Opportunity => self.moved(Stage::Opportunity, at),
            OutcomeKind::Won => self.moved(Stage::Won, at),
            OutcomeKind::Lost => self.moved(Stage::Lost, at),
        }
    }

    /// When the lead first reached `stage` (of the main path) or went beyond it; for `lost`,
    /// when it was first lost; `None` for the side exits.
    pub fn reached(&self, stage: Stage) -> Option<Timestamp> {
        match stage {
            Stage::Lost => self.lost,
            Stage::Recycled | Stage::Disqualified => None,
            _ => self.reached[rank(stage)],
        }
    }

    /// When the lead first entered exactly `stage` (of the main path), if it ever did.
    pub fn entered(&self, stage: Stage) -> Option<Timestamp> {
        match stage {
            Stage::Lost => self.lost,
            Stage::Recycled | Stage::Disqualified => None,
            _ => self.entered[rank(stage)],
        }
    }

    /// Behaviour before this instant counts for attribution: the lead's opportunity, if it
    /// became one (what it did afterwards is the sales process, not a cause).
    pub fn cutoff(&self) -> Option<Timestamp> {
        self.reached(Stage::Opportunity)
    }

    /// Closed-won.
    pub fn is_won(&self) -> bool {
        self.reached(Stage::Won).is_some()
    }

    /// Closed-lost, and never won.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some() && !self.is_won()
    }
}

/// A campaign's UTM fields, as Segment's `context.campaign` carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Utm {
    /// `utm_source`: who sent the visitor (`google`, `newsletter`).
    pub source: Option<String>,
    /// `utm_medium`: the channel (`cpc`, `email`, `paid_social`).
    pub medium: Option<String>,
    /// `utm_campaign`: the campaign's name.
    pub name: Option<String>,
}

impl Utm {
    /// The UTM fields of a message's context, if it carries any.
    pub fn from_context(context: &Attributes) -> Option<Utm> {
        let campaign = context.get("campaign")?.as_object()?;
        let field = |key: &str| {
            campaign
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let utm = Utm {
            source: field("source"),
            medium: field("medium"),
            name: field("name"),
        };
        (utm != Utm::default()).then_some(utm)
    }
}

/// What the reports need to know about one lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadFacts {
    /// Its way through the funnel.
    pub journey: Journey,
    /// Its `lead_source` attribute.
    pub source: Option<String>,
    /// The UTM fields of its first event that carried any (first-touch attribution).
    pub first_touch: Option<Utm>,
    /// Its grade when it became an MQL.
    pub grade: Option<String>,
    /// The model version that made it an MQL.
    pub model_version: Option<String>,
    /// Sum of its opportunities' amounts.
    pub pipeline: f64,
    /// Sum of its wins' amounts.
    pub bookings: f64,
    /// Whether a rep recorded at least one activity with it.
    pub contacted: bool,
    /// The features it showed before its cut-off: indices into the feature list given to
    /// [`attribution`], sorted, without repeats.
    pub features: Vec<u32>,
}

impl LeadFacts {
    /// A lead first seen at `created`, with nothing else known yet.
    pub fn new(created: Timestamp) -> LeadFacts {
        LeadFacts {
            journey: Journey::new(created),
            ..LeadFacts::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Funnel
// ---------------------------------------------------------------------------------------------

/// How MQLs are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cohort {
    /// ISO week of the MQL (`2026-W47`, weeks start on Monday, UTC).
    #[default]
    Week,
    /// Calendar month of the MQL (`2026-11`, UTC).
    Month,
}

impl Cohort {
    /// The cohort an instant falls in.
    pub fn key(self, at: Timestamp) -> String {
        let t = at.to_datetime();
        match self {
            Cohort::Week => t.format("%G-W%V").to_string(),
            Cohort::Month => t.format("%Y-%m").to_string(),
        }
    }
}

impl FromStr for Cohort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "week" => Ok(Cohort::Week),
            "month" => Ok(Cohort::Month),
            other => Err(format!("`{other}` is not `week` or `month`")),
        }
    }
}

impl fmt::Display for Cohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cohort::Week => "week",
            Cohort::Month => "month",
        })
    }
}

/// How many leads reached each stage of the main path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    /// Leads (every lead has reached `lead`).
    pub lead: u64,
    /// Reached `mql` or beyond.
    pub mql: u64,
    /// Reached `sal` or beyond.
    pub sal: u64,
    /// Reached `sql` or beyond.
    pub sql: u64,
    /// Reached `opportunity` (won and lost included).
    pub opportunity: u64,
    /// Won.
    pub won: u64,
}

/// One figure per stage after `lead`: a conversion from the stage before, or a median time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageFigures {
    /// From `lead` to `mql`.
    pub mql: Option<f64>,
    /// From `mql` to `sal`.
    pub sal: Option<f64>,
    /// From `sal` to `sql`.
    pub sql: Option<f64>,
    /// From `sql` to `opportunity`.
    pub opportunity: Option<f64>,
    /// From `opportunity` to `won`.
    pub won: Option<f64>,
}

impl StageFigures {
    fn from_array(values: [Option<f64>; 5]) -> StageFigures {
        let [mql, sal, sql, opportunity, won] = values;
        StageFigures {
            mql,
            sal,
            sql,
            opportunity,
            won,
        }
    }
}

/// The funnel of one group of leads.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunnelRow {
    /// The group's value (a source, a cohort, a grade...); `null` for the leads without one,
    /// and for the total.
    pub key: Option<String>,
    /// Leads that reached each stage.
    pub reached: StageCounts,
    /// Leads closed-lost (and never won).
    pub lost: u64,
    /// Share of the leads that reached the stage before which reached this one.
    pub conversion: StageFigures,
    /// Share of MQLs that reached `opportunity`.
    pub mql_to_opportunity: Option<f64>,
    /// won / (won + lost).
    pub win_rate: Option<f64>,
    /// Median days from entering the stage before to entering this one, over the leads that
    /// entered both, in that order.
    pub velocity_days: StageFigures,
    /// Sum of opportunity amounts.
    pub pipeline: f64,
    /// Sum of won amounts.
    pub bookings: f64,
    /// Bookings per MQL.
    pub revenue_per_mql: Option<f64>,
    /// MQLs with at least one activity recorded.
    pub contacted_mqls: u64,
    /// Share of MQLs with at least one activity recorded.
    pub mql_contact_rate: Option<f64>,
}

/// The funnel report: everyone, and the same figures per group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunnelReport {
    /// How `by_cohort` groups MQLs.
    pub cohort: Cohort,
    /// All leads.
    pub total: FunnelRow,
    /// Per week or month of reaching `mql` (the leads that never did: `null`), oldest first.
    pub by_cohort: Vec<FunnelRow>,
    /// Per `lead_source` attribute.
    pub by_source: Vec<FunnelRow>,
    /// Per first-touch UTM source.
    pub by_utm_source: Vec<FunnelRow>,
    /// Per first-touch UTM medium (the channel).
    pub by_channel: Vec<FunnelRow>,
    /// Per first-touch UTM campaign name.
    pub by_campaign: Vec<FunnelRow>,
    /// Per grade at MQL.
    pub by_grade: Vec<FunnelRow>,
    /// Per model version that made the MQL.
    pub by_model_version: Vec<FunnelRow>,
}

/// Counts for one group, before the rates are computed.
#[derive(Debug, Default)]
struct Tally {
    reached: [u64; 6],
    lost: u64,
    waits: [Vec<i64>; 5],
    pipeline: f64,
    bookings: f64,
    contacted_mqls: u64,
}

impl Tally {
    fn add(&mut self, lead: &LeadFacts) {
        let journey = &lead.journey;
        for (i, &stage) in MAIN_PATH.iter().enumerate() {
            if journey.reached(stage).is_some() {
                self.reached[i] += 1;
            }
        }
        self.lost += u64::from(journey.is_lost());
        for (i, pair) in MAIN_PATH.windows(2).enumerate() {
            if let (Some(from), Some(to)) = (journey.entered(pair[0]), journey.entered(pair[1]))
                && to >= from
            {
                self.waits[i].push(to.millis() - from.millis());
            }
        }
        self.pipeline += lead.pipeline;
        self.bookings += lead.bookings;
        if lead.contacted && journey.reached(Stage::Mql).is_some() {
            self.contacted_mqls += 1;
        }
    }

    fn row(mut self, key: Option<String>) -> FunnelRow {
        let [lead, mql, sal, sql, opportunity, won] = self.reached;
        let conversion = std::array::from_fn(|i| ratio(self.reached[i + 1], self.reached[i]));
        let velocity = std::array::from_fn(|i| {
            median(&mut self.waits[i]).map(|ms| (ms / DAY_MS * 100.0).round() / 100.0)
        });
        FunnelRow {
            key,
            reached: StageCounts {
                lead,
                mql,
                sal,
                sql,
                opportunity,
                won,
            },
            lost: self.lost,
            conversion: StageFigures::from_array(conversion),
            mql_to_opportunity: ratio(opportunity, mql),
            win_rate: ratio(won, won + self.lost),
            velocity_days: StageFigures::from_array(velocity),
            pipeline: self.pipeline,
            bookings: self.bookings,
            revenue_per_mql: (mql > 0).then(|| self.bookings / mql as f64),
            contacted_mqls: self.contacted_mqls,
            mql_contact_rate: ratio(self.contacted_mqls, mql),
        }
    }
}

/// `part / whole`; none of nothing.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The median (the mean of the two middle values of an even count).
fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
    })
}

/// The funnel of `leads`, in total and per cohort, source, first-touch UTM source, channel and
/// campaign, grade at MQL and model version.
pub fn funnel(leads: &[LeadFacts], cohort: Cohort) -> FunnelReport {
    let mut funnel = Funnel::new(cohort);
    for lead in leads {
        funnel.add(lead);
    }
    funnel.finish()
}

/// The funnel, counted one lead at a time (its memory does not grow with the leads, only with
/// the groups): [`funnel`] over leads read in pages.
#[derive(Debug)]
pub struct Funnel {
    cohort: Cohort,
    total: Tally,
    groups: [BTreeMap<Option<String>, Tally>; 7],
}

impl Funnel {
    /// An empty funnel with MQL cohorts of `cohort`.
    pub fn new(cohort: Cohort) -> Funnel {
        Funnel {
            cohort,
            total: Tally::default(),
            groups: Default::default(),
        }
    }

    /// Counts one lead.
    pub fn add(&mut self, lead: &LeadFacts) {
        type Key = fn(&LeadFacts, Cohort) -> Option<String>;
        const DIMENSIONS: [Key; 7] = [
            |l, c| l.journey.reached(Stage::Mql).map(|at| c.key(at)),
            |l, _| l.source.clone(),
            |l, _| l.first_touch.as_ref().and_then(|u| u.source.clone()),
            |l, _| l.first_touch.as_ref().and_then(|u| u.medium.clone()),
            |l, _| l.first_touch.as_ref().and_then(|u| u.name.clone()),
            |l, _| l.grade.clone(),
            |l, _| l.model_version.clone(),
        ];
        self.total.add(lead);
        for (key, map) in DIMENSIONS.iter().zip(&mut self.groups) {
            map.entry(key(lead, self.cohort)).or_default().add(lead);
        }
    }

    /// The report of the leads counted.
    pub fn finish(self) -> FunnelReport {
        let Funnel {
            cohort,
            total,
            groups,
        } = self;
        let [
            by_cohort,
            by_source,
            by_utm_source,
            by_channel,
            by_campaign,
            by_grade,
            by_model_version,
        ] = groups.map(|map| {
            map.into_iter()
                .map(|(key, tally)| tally.row(key))
                .collect::<Vec<_>>()
        });
        // Time and grades read in their own order (the leads without one last); the others by size.
        let natural = |mut rows: Vec<FunnelRow>| {
            rows.sort_by(|a, b| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)));
            rows
        };
        let by_size = |mut rows: Vec<FunnelRow>| {
            rows.sort_by(|a, b| {
                b.reached
                    .lead
                    .cmp(&a.reached.lead)
                    .then_with(|| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)))
            });
            rows
        };
        FunnelReport {
            cohort,
            total: total.row(None),
            by_cohort: natural(by_cohort),
            by_source: by_size(by_source),
            by_utm_source: by_size(by_utm_source),
            by_channel: by_size(by_channel),
            by_campaign: by_size(by_campaign),
            by_grade: natural(by_grade),
            by_model_version: natural(by_model_version),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Attribution
// ---------------------------------------------------------------------------------------------

/// What kind of thing a feature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// An engagement rule of the model: the lead had at least one hit of it.
    EngagementRule,
    /// A fit rule of the model: its condition held for the lead.
    FitRule,
    /// An event name (`track` name, `page`, `screen`): the lead sent at least one.
    Event,
    /// A lead attribute (or `account.` attribute) with this value.
    Attribute,
}

impl FeatureKind {
    /// Its name in reports: `engagement_rule`, `fit_rule`, `event`, `attribute`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::EngagementRule => "engagement_rule",
            FeatureKind::FitRule => "fit_rule",
            FeatureKind::Event => "event",
            FeatureKind::Attribute => "attribute",
        }
    }
}

/// Something a lead did or is, that attribution measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feature {
    /// Its kind.
    pub kind: FeatureKind,
    /// The rule id, event name or attribute name.
    pub name: String,
    /// The attribute's value (attributes only).
    pub value: Option<String>,
    /// The rule's points (rules only).
    pub points: Option<f64>,
}

impl Feature {
    /// The engagement rule `id`, worth `points`.
    pub fn engagement_rule(id: &str, points: f64) -> Feature {
        Feature {
            kind: FeatureKind::EngagementRule,
            name: id.to_string(),
            value: None,
            points: Some(points),
        }
    }

    /// The fit rule `id`, worth `points`.
    pub fn fit_rule(id: &str, points: f64) -> Feature {
        Feature {
            kind: FeatureKind::FitRule,
            name: id.to_string(),
            value: None,
            points: Some(points),
        }
    }

    /// The event name `name`.
    pub fn event(name: &str) -> Feature {
        Feature {
            kind: FeatureKind::Event,
            name: name.to_string(),
            value: None,
            points: None,
        }
    }

    /// The attribute `name` with the value `value`.
    pub fn attribute(name: &str, value: &str) -> Feature {
        Feature {
            kind: FeatureKind::Attribute,
            name: name.to_string(),
            value: Some(value.to_string()),
            points: None,
        }
    }

    /// How people read it: `demo-request`, `Demo Requested`, `industry = Software`.
    pub fn label(&self) -> String {
        match &self.value {
            Some(value) => format!("{} = {value}", self.name),
            None => self.name.clone(),
        }
    }

    /// Every rule of `model` as a feature: engagement rules (in the model's order, so a hit's
    /// rule index is its position here), then fit rules.
    pub fn rules_of(model: &Model) -> Vec<Feature> {
        let engagement = model
            .engagement()
            .rules
            .iter()
            .map(|r| Feature::engagement_rule(&r.id, r.points));
        let fit = model
            .fit()
            .rules
            .iter()
            .map(|r| Feature::fit_rule(&r.id, r.points));
        engagement.chain(fit).collect()
    }
}

/// The categorical values among `attributes`, as (`prefix` + name, value) pairs: strings
/// (trimmed, non-empty) and booleans. Numbers, lists and objects are left out: numeric traits
/// are measured through the fit rules that test them.
pub fn categorical<'a>(
    attributes: &'a Attributes,
    prefix: &'a str,
) -> impl Iterator<Item = (String, String)> + 'a {
    attributes.iter().filter_map(move |(name, value)| {
        let value = match value {
            Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        Some((format!("{prefix}{name}"), value))
    })
}

/// Thresholds of the attribution report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AttributionSettings {
    /// Features shown by fewer leads are left out (too little evidence).
    pub min_leads: u64,
    /// Attributes with more distinct values than this are left out (ids, emails, names).
    pub max_values: usize,
    /// A lift whose interval lies above this is strong.
    pub strong_lift: f64,
    /// A rule with at least these points gives many points.
    pub many_points: f64,
}

impl Default for AttributionSettings {
    fn default() -> Self {
        AttributionSettings {
            min_leads: 20,
            max_values: 50,
            strong_lift: 1.5,
            many_points: 10.0,
        }
    }
}

impl AttributionSettings {
    /// The defaults, with "many points" at a tenth of `model`'s MQL threshold.
    pub fn for_model(model: &Model) -> AttributionSettings {
        AttributionSettings {
            many_points: model.thresholds().mql / 10.0,
            ..AttributionSettings::default()
        }
    }
}

/// A lift (a rate divided by the base rate) with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lift {
    /// The rate of the leads with the feature ÷ the base rate.
    pub value: f64,
    /// Lower bound: the Wilson interval's lower bound ÷ the base rate.
    pub low: f64,
    /// Upper bound: the Wilson interval's upper bound ÷ the base rate.
    pub high: f64,
}

impl Lift {
    /// The lift of `successes` out of `n` over `base`; none without leads or without a base.
    pub fn of(successes: u64, n: u64, base: Option<f64>) -> Option<Lift> {
        let base = base.filter(|&b| b > 0.0)?;
        let (low, high) = wilson(successes, n)?;
        Some(Lift {
            value: successes as f64 / n as f64 / base,
            low: low / base,
            high: high / base,
        })
    }
}

/// The Wilson score interval (95 %) of a proportion `successes / n`; none when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Where a rule's points and the evidence disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Many points, but the leads with it do not convert better (the interval of the lift
    /// includes 1 or lies below it).
    PointsWithoutLift,
    /// Few or no points (or points off), but the leads with it convert much better (the
    /// interval of the lift lies above the strong-lift threshold).
    LiftWithoutPoints,
}

/// One feature's evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributionRow {
    /// Its kind.
    pub kind: FeatureKind,
    /// How people read it (`industry = Software`).
    pub feature: String,
    /// The rule id, event name or attribute name.
    pub name: String,
    /// The attribute's value (attributes only).
    pub value: Option<String>,
    /// The rule's points (rules only).
    pub points: Option<f64>,
    /// Leads that showed it (before their cut-off).
    pub leads: u64,
    /// Of those, how many reached `opportunity`.
    pub opportunities: u64,
    /// opportunities / leads.
    pub opportunity_rate: f64,
    /// The opportunity rate against the base rate.
    pub opportunity_lift: Option<Lift>,
    /// Of those, how many were won.
    pub won: u64,
    /// won / leads.
    pub won_rate: f64,
    /// The win rate against the base rate.
    pub won_lift: Option<Lift>,
    /// Their opportunities' amounts.
    pub pipeline: f64,
    /// Their wins' amounts.
    pub bookings: f64,
    /// pipeline / leads.
    pub pipeline_per_lead: f64,
    /// bookings / leads.
    pub bookings_per_lead: f64,
    /// For rules: where the points disagree with the evidence.
    pub flag: Option<Flag>,
}

/// The attribution report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributionReport {
    /// Its thresholds.
    pub settings: AttributionSettings,
    /// Leads considered.
    pub leads: u64,
    /// Of those, reached `opportunity`.
    pub opportunities: u64,
    /// Of those, won.
    pub won: u64,
    /// The base rate: opportunities / leads.
    pub opportunity_rate: Option<f64>,
    /// won / leads.
    pub won_rate: Option<f64>,
    /// Features with enough leads, by opportunity lift (highest first).
    pub rows: Vec<AttributionRow>,
    /// Features seen, but by fewer than `min_leads` leads.
    pub below_support: u64,
    /// Attributes left out for having more than `max_values` distinct values.
    pub skipped_attributes: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct FeatureTally {
    leads: u64,
    opportunities: u64,
    won: u64,
    pipeline: f64,
    bookings: f64,
}

/// Measures each of `features` against conversion: for the leads that showed it, the rate of
/// opportunities and wins, their lift over the base rate with a 95 % interval (Wilson, divided
/// by the base rate), and the dollars; flags rules whose points the evidence contradicts.
/// Attributes with more than `max_values` values among the leads are left out, as is an
/// attribute one of whose features has no value (its source kept only some of its values).
pub fn attribution(
    features: &[Feature],
    leads: &[LeadFacts],
    settings: &AttributionSettings,
) -> AttributionReport {
    let mut attribution = Attribution::new(features);
    for lead in leads {
        attribution.add(lead);
    }
    attribution.finish(settings)
}

/// Attribution, counted one lead at a time (its memory grows with the features, not the
/// leads): [`attribution`] over leads read in pages.
#[derive(Debug)]
pub struct Attribution<'a> {
    features: &'a [Feature],
    tallies: Vec<FeatureTally>,
    leads: u64,
    opportunities: u64,
    won: u64,
}

impl<'a> Attribution<'a> {
    /// Nothing counted yet, for these features ([`LeadFacts::features`] index them).
    pub fn new(features: &'a [Feature]) -> Attribution<'a> {
        Attribution {
            features,
            tallies: vec![FeatureTally::default(); features.len()],
            leads: 0,
            opportunities: 0,
            won: 0,
        }
    }

    /// Counts one lead.
    pub fn add(&mut self, lead: &LeadFacts) {
        let opportunity = lead.journey.cutoff().is_some();
        let is_won = lead.journey.is_won();
        self.leads += 1;
        self.opportunities += u64::from(opportunity);
        self.won += u64::from(is_won);
        let mut previous = None;
        for &i in &lead.features {
            // Each feature counts once per lead, even if given twice.
            if previous == Some(i) {
                continue;
            }
            previous = Some(i);
            let Some(t) = self.tallies.get_mut(i as usize) else {
                continue;
            };
            t.leads += 1;
            t.opportunities += u64::from(opportunity);
            t.won += u64::from(is_won);
            t.pipeline += lead.pipeline;
            t.bookings += lead.bookings;
        }
    }

    /// The report of the leads counted.
    pub fn finish(self, settings: &AttributionSettings) -> AttributionReport {
        let Attribution {
            features,
            tallies,
            leads: n,
            opportunities,
            won,
        } = self;
        let base = ratio(opportunities, n);
        let won_base = ratio(won, n);

        let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        // An attribute without a value stands for more values than its source keeps: too many.
        let mut too_many: BTreeSet<&str> = BTreeSet::new();
        for (feature, tally) in features.iter().zip(&tallies) {
            if feature.kind == FeatureKind::Attribute && tally.leads > 0 {
                match feature.value.as_deref() {
                    Some(value) => {
                        values.entry(&feature.name).or_default().insert(value);
                    }
                    None => {
                        too_many.insert(&feature.name);
                    }
                }
            }
        }
        let mut skipped: BTreeSet<&str> = values
            .iter()
            .filter(|(_, v)| v.len() > settings.max_values)
            .map(|(name, _)| *name)
            .collect();
        skipped.extend(too_many);

        let mut rows = Vec::new();
        let mut below_support = 0;
        for (feature, t) in features.iter().zip(&tallies) {
            if t.leads == 0
                || (feature.kind == FeatureKind::Attribute
                    && skipped.contains(feature.name.as_str()))
            {
                continue;
            }
            if t.leads < settings.min_leads.max(1) {
                below_support += 1;
                continue;
            }
            let lift = Lift::of(t.opportunities, t.leads, base);
            let leads = t.leads as f64;
            rows.push(AttributionRow {
                kind: feature.kind,
                feature: feature.label(),
                name: feature.name.clone(),
                value: feature.value.clone(),
                points: feature.points,
                leads: t.leads,
                opportunities: t.opportunities,
                opportunity_rate: t.opportunities as f64 / leads,
                opportunity_lift: lift,
                won: t.won,
                won_rate: t.won as f64 / leads,
                won_lift: Lift::of(t.won, t.leads, won_base),
                pipeline: t.pipeline,
                bookings: t.bookings,
                pipeline_per_lead: t.pipeline / leads,
                bookings_per_lead: t.bookings / leads,
                flag: flag(feature, lift, settings),
            });
        }
        rows.sort_by(|a, b| {
            let lift = |r: &AttributionRow| r.opportunity_lift.map(|l| l.value);
            lift(b)
                .partial_cmp(&lift(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| b.leads.cmp(&a.leads))
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.feature.cmp(&b.feature))
        });
        AttributionReport {
            settings: *settings,
            leads: n,
            opportunities,
            won,
            opportunity_rate: base,
            won_rate: won_base,
            rows,
            below_support,
            skipped_attributes: skipped.into_iter().map(str::to_string).collect(),
        }
    }
}

/// Whether a rule's points disagree with its lift.
fn flag(feature: &Feature, lift: Option<Lift>, settings: &AttributionSettings) -> Option<Flag> {
    let points = feature.points?;
    let lift = lift?;
    if points >= settings.many_points && lift.low <= 1.0 {
        Some(Flag::PointsWithoutLift)
    } else if points < settings.many_points && lift.low > settings.strong_lift {
        Some(Flag::LiftWithoutPoints)
    } else {
        None
    }
}
