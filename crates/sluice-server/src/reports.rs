//! The funnel and attribution reports: each lead's stored report facts ([`crate::facts`]),
//! rebuilt first where anything changed; the counting is the core's
//! ([`sluice_core::analytics`]). Nothing here replays the event log.

use rustc_hash::FxHashMap as HashMap;

use sluice_core::analytics::{
    AttributionReport, AttributionSettings, Cohort, Feature, FunnelReport, LeadFacts, attribution,
    funnel,
};
use sluice_core::{Model, Timestamp};
use sluice_store::{Store, StoreError};

use crate::facts::{Features, Record};

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
    let facts = gather(store, model, period, None).await?;
    Ok(funnel(&facts.leads, cohort))
}

/// What the leads first seen in `period` did and were, against their conversion.
pub async fn attribution_report(
    store: &Store,
    model: &Model,
    period: Period,
    settings: &AttributionSettings,
) -> Result<AttributionReport, StoreError> {
    let facts = gather(store, model, period, Some(settings.max_values)).await?;
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
    let facts = gather(store, model, period, Some(settings.max_values)).await?;
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
    /// fit rules, then event names and attribute values as they were met.
    pub features: Vec<Feature>,
}

/// Features met in the leads' facts, each given an index once.
struct Catalogue {
    features: Vec<Feature>,
    rules: HashMap<String, u32>,
    fit_rules: HashMap<String, u32>,
    events: HashMap<String, u32>,
    /// Per attribute, its values' indices: up to one more value than the report keeps.
    attributes: HashMap<String, HashMap<String, u32>>,
    max_values: usize,
}

impl Catalogue {
    fn new(model: &Model, max_values: usize) -> Catalogue {
        // Engagement rules come first, then fit rules, as `Feature::rules_of` lists them.
        let engagement = &model.engagement().rules;
        Catalogue {
            features: Feature::rules_of(model),
            rules: engagement
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i as u32))
                .collect(),
            fit_rules: model
                .fit()
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), (engagement.len() + i) as u32))
                .collect(),
            events: HashMap::default(),
            attributes: HashMap::default(),
            max_values,
        }
    }

    fn event(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.events.get(name) {
            return i;
        }
        let i = self.features.len() as u32;
        self.features.push(Feature::event(name));
        self.events.insert(name.to_string(), i);
        i
    }

    /// The index of an attribute value; none once the attribute has more values than the
    /// report keeps (the core then leaves the attribute out), so ids and emails cost nothing.
    fn attribute(&mut self, name: &str, value: &str) -> Option<u32> {
        if !self.attributes.contains_key(name) {
            self.attributes.insert(name.to_string(), HashMap::default());
        }
        let values = self.attributes.get_mut(name).expect("just added");
        if let Some(&i) = values.get(value) {
            return Some(i);
        }
        if values.len() > self.max_values {
            return None;
        }
        let i = self.features.len() as u32;
        self.features.push(Feature::attribute(name, value));
        values.insert(value.to_string(), i);
        Some(i)
    }

    /// The indices of a lead's features.
    fn features_of(&mut self, record: &Features<'_>) -> Vec<u32> {
        let mut out = Vec::with_capacity(record.e.len() + record.r.len() + record.a.len());
        for name in &record.e {
            out.push(self.event(name));
        }
        // Rules of another model (facts not yet rebuilt under this one) are not counted.
        out.extend(record.r.iter().filter_map(|r| self.rules.get(r.as_ref())));
        out.extend(
            record
                .x
                .iter()
                .filter_map(|r| self.fit_rules.get(r.as_ref())),
        );
        for (name, value) in &record.a {
            if let Some(i) = self.attribute(name, value) {
                out.push(i);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
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
    features: Option<usize>,
) -> Result<Facts, StoreError> {
    crate::facts::refresh(store, model).await?;
    let mut catalogue = features.map(|max_values| Catalogue::new(model, max_values));
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
        let corrupt = |column, e: serde_json::Error| StoreError::Corrupt {
            table: "lead_facts",
            column,
            message: format!("a lead in the page ending at {after}: {e}"),
        };
        for line in page.lines.split('\n') {
            let (facts, features) = line.split_once('\t').unwrap_or((line, ""));
            let record: Record<'_> =
                serde_json::from_str(facts).map_err(|e| corrupt("facts", e))?;
            let mut facts = record.lead_facts();
            if let Some(catalogue) = catalogue.as_mut() {
                let features: Features<'_> =
                    serde_json::from_str(features).map_err(|e| corrupt("features", e))?;
                facts.features = catalogue.features_of(&features);
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
