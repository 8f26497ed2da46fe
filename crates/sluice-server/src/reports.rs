//! The funnel and attribution reports: each lead's stored report facts ([`crate::facts`]),
//! rebuilt first where anything changed; the counting is the core's
//! ([`sluice_core::analytics`]). Nothing here replays the event log.

use rustc_hash::FxHashMap as HashMap;

use sluice_core::analytics::{
    Attribution, AttributionReport, AttributionSettings, Cohort, Feature, FeatureKind, Funnel,
    FunnelReport, LeadFacts,
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
    crate::facts::refresh(store, model).await?;
    let mut funnel = Funnel::new(cohort);
    scan(store, period, None, |lead| funnel.add(&lead)).await?;
    Ok(funnel.finish())
}

/// What the leads first seen in `period` did and were, against their conversion.
pub async fn attribution_report(
    store: &Store,
    model: &Model,
    period: Period,
    settings: &AttributionSettings,
) -> Result<AttributionReport, StoreError> {
    crate::facts::refresh(store, model).await?;
    let catalogue = Catalogue::load(store, model).await?;
    let mut attribution = Attribution::new(&catalogue.features);
    scan(store, period, Some(&catalogue), |lead| {
        attribution.add(&lead)
    })
    .await?;
    Ok(attribution.finish(settings))
}

/// Both reports from one pass over the leads (for the dashboard).
pub async fn both_reports(
    store: &Store,
    model: &Model,
    period: Period,
    cohort: Cohort,
    settings: &AttributionSettings,
) -> Result<(FunnelReport, AttributionReport), StoreError> {
    crate::facts::refresh(store, model).await?;
    let catalogue = Catalogue::load(store, model).await?;
    let mut funnel = Funnel::new(cohort);
    let mut attribution = Attribution::new(&catalogue.features);
    scan(store, period, Some(&catalogue), |lead| {
        funnel.add(&lead);
        attribution.add(&lead);
    })
    .await?;
    Ok((funnel.finish(), attribution.finish(settings)))
}

/// Whole dollars with thousands separators, for people: `$1,234,567`.
pub fn dollars(amount: f64) -> String {
    let sign = if amount <= -0.5 { "-" } else { "" };
    format!("{sign}${}", thousands(amount.round().abs() as u64))
}

/// A count with thousands separators, for people: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The catalogue of report features as a report numbers them: engagement rules first, then
/// fit rules (as `Feature::rules_of` lists them), then the rest; rules of other models and the
/// model's BANT fields are left out.
struct Catalogue {
    /// What [`LeadFacts::features`] indexes: the model's engagement rules (in its order), its
    /// fit rules, then the event names and attribute values of the catalogue. An attribute
    /// without a value stands for values beyond those the catalogue keeps: the attribute has
    /// too many values to measure.
    features: Vec<Feature>,
    /// A catalogue id's index in `features` (`NONE` for rules of other models), by id: ids
    /// are dense, as the catalogue numbers them.
    index: Vec<u32>,
}

/// Not a feature of this report.
const NONE: u32 = u32::MAX;

/// Most catalogue ids a report indexes (a catalogue keeps far fewer features).
const MAX_ID: i64 = 1 << 24;

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
        let bant: Vec<&str> = model
            .bant()
            .map(|b| b.criteria.iter().map(|c| c.field.as_str()).collect())
            .unwrap_or_default();
        let mut features = Feature::rules_of(model);
        let mut index = Vec::new();
        for (id, key) in store.report_features().await? {
            let at = match key.kind {
                FeatureKind::EngagementRule => rules.get(key.name.as_str()).copied(),
                FeatureKind::FitRule => fit_rules.get(key.name.as_str()).copied(),
                FeatureKind::Event => {
                    features.push(Feature::event(&key.name));
                    Some(features.len() as u32 - 1)
                }
                // BANT answers are sales' own qualification of the lead, captured on the way
                // to its opportunity: they would only say that qualified leads qualify.
                FeatureKind::Attribute if bant.contains(&key.name.as_str()) => None,
                FeatureKind::Attribute => {
                    let mut feature = Feature::attribute(&key.name, "");
                    feature.value = key.value;
                    features.push(feature);
                    Some(features.len() as u32 - 1)
                }
            };
            let slot = usize::try_from(id).ok().filter(|&i| i < MAX_ID as usize);
            let Some(slot) = slot else {
                return Err(StoreError::Corrupt {
                    table: "report_features",
                    column: "id",
                    message: format!("{id} is out of the range of feature ids"),
                });
            };
            if index.len() <= slot {
                index.resize(slot + 1, NONE);
            }
            index[slot] = at.unwrap_or(NONE);
        }
        Ok(Catalogue { features, index })
    }

    /// The indices of a lead's features, from their stored catalogue ids (space-separated).
    fn features_of(&self, ids: &str) -> Result<Vec<u32>, String> {
        let mut out = Vec::with_capacity(ids.len() / 3);
        for id in ids.split(' ').filter(|id| !id.is_empty()) {
            let id: usize = id.parse().map_err(|e| format!("feature id {id:?}: {e}"))?;
            // Rules of another model (facts not yet rebuilt under this one) are not counted.
            // An id added since the catalogue was read is counted by the next report.
            match self.index.get(id) {
                Some(&i) if i != NONE => out.push(i),
                _ => {}
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Hands each lead first seen in `period` to `each`, from its stored facts row (one row per
/// lead, read a page at a time: memory does not grow with the leads); with a catalogue, with
/// its features (engagement rules and event names seen before its cut-off, fit rules and
/// attribute values as of then). Nothing replays the event log; the caller refreshes the
/// facts first (see [`crate::facts`]).
async fn scan(
    store: &Store,
    period: Period,
    catalogue: Option<&Catalogue>,
    mut each: impl FnMut(LeadFacts),
) -> Result<(), StoreError> {
    let period = (
        period.from.map(|t| t.millis()),
        period.to.map(|t| t.millis()),
    );
    let mut after = String::new();
    while let Some(page) = store
        .facts_after(&after, period, catalogue.is_some(), PAGE)
        .await?
    {
        after = page.last;
        let corrupt = |column, message: String| StoreError::Corrupt {
            table: "lead_facts",
            column,
            message: format!("a lead in the page ending at {after}: {message}"),
        };
        for line in page.lines.split('\n') {
            let (facts, features) = match memchr::memchr(b'\t', line.as_bytes()) {
                Some(tab) => (&line[..tab], &line[tab + 1..]),
                None => (line, ""),
            };
            let record: Record<'_> =
                serde_json::from_str(facts).map_err(|e| corrupt("facts", e.to_string()))?;
            let mut lead = record.lead_facts();
            if let Some(catalogue) = catalogue {
                lead.features = catalogue
                    .features_of(features)
                    .map_err(|e| corrupt("feature_ids", e))?;
            }
            each(lead);
        }
    }
    Ok(())
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
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }
}
