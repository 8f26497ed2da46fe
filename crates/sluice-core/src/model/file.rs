//! The model file as written: TOML, read with the span of every value so errors can point at
//! the line and column. Only [`super::compile`] reads these types.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub model: ModelSection,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub fit: Fit,
    #[serde(default)]
    pub disqualify: Vec<Disqualifier>,
    #[serde(default)]
    pub engagement: Option<Engagement>,
    #[serde(default)]
    pub caps: Vec<Cap>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub grades: Option<Grades>,
    #[serde(default)]
    pub account: Option<Account>,
    #[serde(default)]
    pub bant: Option<Bant>,
    #[serde(default)]
    pub handoff: Option<Handoff>,
    #[serde(default)]
    pub probability: Option<Probability>,
    #[serde(default)]
    pub governance: Option<Governance>,
    /// What the words of the contract mean here: `mql`, `sal`, `sql`... → a definition.
    #[serde(default)]
    pub glossary: BTreeMap<S<String>, S<String>>,
}

/// Who must sign a proposed change of this model before it is put in force.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Governance {
    pub approvers: S<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Probability {
    #[serde(default)]
    pub description: Option<String>,
    pub of: S<String>,
    pub intercept: S<f64>,
    pub per_point: S<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelSection {
    pub name: S<String>,
    pub version: S<Version>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A version as people write it: `"1.2"`, or a bare number (`version = 1`, read as `"1"`).
pub(super) struct Version(pub String);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Whole(i64),
            Number(f64),
        }
        match Written::deserialize(d) {
            Ok(Written::Text(s)) => Ok(Version(s)),
            Ok(Written::Whole(n)) => Ok(Version(n.to_string())),
            Ok(Written::Number(n)) => Ok(Version(n.to_string())),
            Err(_) => Err(serde::de::Error::custom(
                "model.version must be a string or a number, e.g. \"1.2\"",
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Thresholds {
    pub mql: S<f64>,
    #[serde(default)]
    pub min_fit_grade: Option<S<String>>,
    #[serde(default)]
    pub min_engagement_grade: Option<S<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Fit {
    #[serde(default)]
    pub max_points: Option<S<f64>>,
    #[serde(default)]
    pub rules: Vec<FitRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FitRule {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub when: S<String>,
    pub points: S<f64>,
    #[serde(default)]
    pub groups: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Disqualifier {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub when: S<String>,
    pub reason: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Engagement {
    pub half_life: S<String>,
    #[serde(default)]
    pub max_points: Option<S<f64>>,
    #[serde(default)]
    pub rules: Vec<EngagementRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EngagementRule {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub event: S<String>,
    #[serde(default)]
    pub when: Option<S<String>>,
    pub points: S<f64>,
    #[serde(default)]
    pub half_life: Option<S<String>>,
    #[serde(default)]
    pub once_per: Option<S<String>>,
    #[serde(default)]
    pub cooldown: Option<S<String>>,
    #[serde(default)]
    pub max_points: Option<S<f64>>,
    #[serde(default)]
    pub cap: Option<S<String>>,
    #[serde(default)]
    pub groups: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cap {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub max_points: S<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Group {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mql: Option<S<f64>>,
    #[serde(default)]
    pub max_points: Option<S<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Grades {
    pub fit: S<FitBands>,
    pub engagement: S<EngagementBands>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FitBands {
    #[serde(rename = "A")]
    pub a: f64,
    #[serde(rename = "B")]
    pub b: f64,
    #[serde(rename = "C")]
    pub c: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EngagementBands {
    #[serde(rename = "1")]
    pub one: f64,
    #[serde(rename = "2")]
    pub two: f64,
    #[serde(rename = "3")]
    pub three: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Account {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub rollup: Option<S<String>>,
    #[serde(default)]
    pub top: Option<S<i64>>,
    #[serde(default)]
    pub mql: Option<S<f64>>,
    #[serde(default)]
    pub rules: Vec<FitRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Bant {
    #[serde(default)]
    pub description: Option<String>,
    pub sql_min: S<f64>,
    #[serde(default)]
    pub budget: Option<Criterion>,
    #[serde(default)]
    pub authority: Option<Criterion>,
    #[serde(default)]
    pub need: Option<Criterion>,
    #[serde(default)]
    pub timeline: Option<Criterion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Criterion {
    #[serde(default)]
    pub description: Option<String>,
    pub field: S<String>,
    #[serde(default = "one")]
    pub weight: S<f64>,
    pub values: S<BTreeMap<String, f64>>,
}

fn one() -> S<f64> {
    Spanned::new(0..0, 1.0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Handoff {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default_team: Option<S<String>>,
    #[serde(default)]
    pub account_owner: Option<bool>,
    #[serde(default)]
    pub reject_reasons: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub recycle_reset: Option<S<String>>,
    #[serde(default)]
    pub routing: Vec<RoutingRule>,
    #[serde(default)]
    pub sla: Vec<Sla>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoutingRule {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub when: S<String>,
    pub team: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Sla {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub step: S<String>,
    pub within: S<String>,
    #[serde(default)]
    pub warn_before: Option<S<String>>,
    #[serde(default)]
    pub on_breach: Option<S<String>>,
}
