//! The funnel and attribution reports: each lead's stored report facts ([`crate::facts`]),
//! rebuilt first where anything changed; the counting is the core's
//! ([`sluice_core::analytics`]). Nothing here replays the event log.

use rustc_hash::FxHashMap as HashMap;

use sluice_core::analytics::{
    AttributionReport, AttributionSettings, Cohort, Feature, FeatureKind, FunnelReport, LeadFacts,
    attribution, funnel,
};
use sluice_core::{Model, Timestamp};
use sluice_store::{Store, StoreError};

use crate::facts::Record;

/// Leads read per query (one packed row).
const PAGE: i64 = 20_000;

/// Which leads a report covers: those first seen at or after `from` and before `to` (either
/// open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
}

/// The funnel of the leads first seen in `period`.
pub async fn funnel_report(
    store: &Store,
    model: &Model,
    period: Period,
    cohort: Cohort,
) -> Result<FunnelReport, StoreError> {
    let facts = gather(store, model, period, false).await?;
    Ok(funnel(&facts.leads, cohort))
}

/// What the leads first seen in `period` did and were, against their conversion.
pub async fn attribution_report(
    store: &Store,
    model: &Model,
    period: Period,
    settings: &AttributionSettings,
) -> Result<AttributionReport, StoreError> {
    let facts = gather(store, model, period, true).await?;
    Ok(attribution(&facts.features, &facts.leads, settings))
}

/// Both reports from one pass over the history (for the dashboard).
pub async fn both_reports(
    store: &Store,
    model: &Model,
    period: Period,
    cohort: Cohort,
    settings: &AttributionSettings,
) -> Result<(FunnelReport, AttributionReport), StoreError> {
    let facts = gather(store, model, period, true).await?;
    Ok((
        funnel(&facts.leads, cohort),
        attribution(&facts.features, &facts.leads, settings),
    ))
}

/// Whole dollars with thousands separators, for people: `$1,234,567`.
pub fn dollars(amount: f64) -> String {
    let digits = (amount.round().abs() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    let sign = if amount <= -0.5 { "-" } else { "" };
    format!("{sign}${out}")
}

/// Every lead's facts, and the features their indices point to.
pub struct Facts {
    /// One per lead first seen in the period.
    pub leads: Vec<LeadFacts>,
    /// What [`LeadFacts::features`] indexes: the model's engagement rules (in its order), its
    /// fit rules, then the event names and attribute values of the catalogue of report
    /// features. An attribute without a value stands for values beyond those the catalogue
    /// keeps: the attribute has too many values to measure.
    pub features: Vec<Feature>,
}

/// The catalogue of report features as a report numbers them: engagement rules first, then
/// fit rules (as `Feature::rules_of` lists them), then the rest; rules of other models are left
/// out.
struct Catalogue {
    features: Vec<Feature>,
    /// A catalogue id's index in `features`.
    index: HashMap<i64, u32>,
}

impl Catalogue {
    async fn load(store: &Store, model: &Model) -> Result<Catalogue, StoreError> {
        let engagement = &model.engagement().rules;
        let rules: HashMap<&str, u32> = engagement
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i as u32))
            .collect();
        let fit_rules: HashMap<&str, u32> = model
            .fit()
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), (engagement.len() + i) as u32))
            .collect();
        let mut features = Feature::rules_of(model);
        let mut index = HashMap::default();
        for (id, key) in store.report_features().await? {
            let at = match key.kind {
                FeatureKind::EngagementRule => rules.get(key.name.as_str()).copied(),
                FeatureKind::FitRule => fit_rules.get(key.name.as_str()).copied(),
                FeatureKind::Event => {
                    features.push(Feature::event(&key.name));
                    Some(features.len() as u32 - 1)
                }
                FeatureKind::Attribute => {
                    let mut feature = Feature::attribute(&key.name, "");
                    feature.value = key.value;
                    features.push(feature);
                    Some(features.len() as u32 - 1)
                }
            };
            if let Some(at) = at {
                index.insert(id, at);
            }
        }
        Ok(Catalogue { features, index })
    }

    /// The indices of a lead's features, from their stored catalogue ids.
    fn features_of(&self, ids: &str) -> Result<Vec<u32>, String> {
        let mut out = Vec::with_capacity(ids.len() / 3);
        for id in ids.split_ascii_whitespace() {
            let id: i64 = id.parse().map_err(|e| format!("feature id {id:?}: {e}"))?;
            // Rules of another model (facts not yet rebuilt under this one) are not counted.
            // An id added since the catalogue was read is counted by the next report.
            if let Some(&i) = self.index.get(&id) {
                out.push(i);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Reads the facts of the leads first seen in `period`: one stored row per lead, rebuilt
/// first where anything changed (see [`crate::facts`]). Nothing replays the event log. With
/// `features`, also what attribution needs: engagement rules and event names seen before
/// each lead's cut-off, and fit rules and attribute values as of then.
pub async fn gather(
    store: &Store,
    model: &Model,
    period: Period,
    features: bool,
) -> Result<Facts, StoreError> {
    crate::facts::refresh(store, model).await?;
    let catalogue = match features {
        true => Some(Catalogue::load(store, model).await?),
        false => None,
    };
    let mut leads = Vec::new();
    let mut after = String::new();
    loop {
        let period = (
            period.from.map(|t| t.millis()),
            period.to.map(|t| t.millis()),
        );
        let Some(page) = store
            .facts_after(&after, period, catalogue.is_some(), PAGE)
            .await?
        else {
            break;
        };
        after = page.last;
        let corrupt = |column, message: String| StoreError::Corrupt {
            table: "lead_facts",
            column,
            message: format!("a lead in the page ending at {after}: {message}"),
        };
        for line in page.lines.split('\n') {
            let (facts, features) = line.split_once('\t').unwrap_or((line, ""));
            let record: Record<'_> =
                serde_json::from_str(facts).map_err(|e| corrupt("facts", e.to_string()))?;
            let mut facts = record.lead_facts();
            if let Some(catalogue) = &catalogue {
                facts.features = catalogue
                    .features_of(features)
                    .map_err(|e| corrupt("feature_ids", e))?;
            }
            leads.push(facts);
        }
    }
    Ok(Facts {
        leads,
        features: catalogue.map(|c| c.features).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped() {
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(dollars(999.4), "$999");
        assert_eq!(dollars(1234.0), "$1,234");
        assert_eq!(dollars(1_234_567.0), "$1,234,567");
        assert_eq!(dollars(-2500.0), "-$2,500");
    }
}
