//! The funnel and attribution reports: gathers each lead's facts from what the writer
//! maintains (stage moves, outcomes, activities, the durable scoring state); the counting is
//! the core's ([`sluice_core::analytics`]). Nothing here replays the event log.
//!
//! Ids are resolved as the live state resolves them (`sluice_core::history`): the history of
//! a lead merged into another (by `alias`) counts for the lead it joined.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sluice_core::analytics::{
    AttributionReport, AttributionSettings, Cohort, Feature, FunnelReport, Journey, LeadFacts,
    OutcomeKind, Utm, attribution, categorical, funnel,
};
use sluice_core::model::Vars;
use sluice_core::{Attributes, Model, Stage, Timestamp};
use sluice_store::{Store, StoreError};

/// Rows read per query.
const PAGE: i64 = 5_000;

/// Which leads a report covers: those first seen at or after `from` and before `to` (either
/// open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
}

impl Period {
    fn contains(&self, ms: i64) -> bool {
        self.from.is_none_or(|f| ms >= f.millis()) && self.to.is_none_or(|t| ms < t.millis())
    }
}

/// The funnel of the leads first seen in `period`.
pub async fn funnel_report(
    store: &Store,
    period: Period,
    cohort: Cohort,
) -> Result<FunnelReport, StoreError> {
    let facts = gather(store, None, period, 0).await?;
    Ok(funnel(&facts.leads, cohort))
}

/// What the leads first seen in `period` did and were, against their conversion.
pub async fn attribution_report(
    store: &Store,
    model: &Model,
    period: Period,
    settings: &AttributionSettings,
) -> Result<AttributionReport, StoreError> {
    let facts = gather(store, Some(model), period, settings.max_values).await?;
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
    let facts = gather(store, Some(model), period, settings.max_values).await?;
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

/// Features met during the replay, each given an index once.
struct Catalogue {
    features: Vec<Feature>,
    events: HashMap<String, u32>,
    attributes: HashMap<(String, String), u32>,
    /// Distinct values seen per attribute, up to one more than the report keeps.
    values: HashMap<String, usize>,
    max_values: usize,
}

impl Catalogue {
    fn new(model: &Model, max_values: usize) -> Catalogue {
        Catalogue {
            features: Feature::rules_of(model),
            events: HashMap::new(),
            attributes: HashMap::new(),
            values: HashMap::new(),
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
    fn attribute(&mut self, name: String, value: String) -> Option<u32> {
        let key = (name, value);
        if let Some(&i) = self.attributes.get(&key) {
            return Some(i);
        }
        let seen = self.values.entry(key.0.clone()).or_default();
        if *seen > self.max_values {
            return None;
        }
        *seen += 1;
        let i = self.features.len() as u32;
        self.features.push(Feature::attribute(&key.0, &key.1));
        self.attributes.insert(key, i);
        Some(i)
    }
}

/// What the durable scoring state says about the leads, for reports: per lead, its first touch,
/// and (for attribution) the trails of its ids.
#[derive(Default)]
struct Trails {
    of_lead: HashMap<String, Vec<sluice_store::ReportTrail>>,
    first_touch: HashMap<String, (i64, Value)>,
}

impl Trails {
    /// Every trail's first touch; with `features`, the trails whole.
    async fn read(store: &Store, features: bool) -> Result<Trails, StoreError> {
        let mut trails = Trails::default();
        let mut touch = |root: String, text: &str| {
            if let Some((at, campaign)) = crate::live::decode_first_touch(text) {
                let best = trails
                    .first_touch
                    .entry(root)
                    .or_insert((at, campaign.clone()));
                if at < best.0 {
                    *best = (at, campaign);
                }
            }
        };
        let mut after = String::new();
        if features {
            let mut of_lead: HashMap<String, Vec<sluice_store::ReportTrail>> = HashMap::new();
            loop {
                let page = store.report_trails_after(&after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.id.clone();
                for t in page {
                    if let Some(text) = &t.first_touch {
                        touch(t.root.clone(), text);
                    }
                    of_lead.entry(t.root.clone()).or_default().push(t);
                }
            }
            trails.of_lead = of_lead;
        } else {
            loop {
                let page = store.first_touches_after(&after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.0.clone();
                for (_, root, text) in page {
                    touch(root, &text);
                }
            }
        }
        Ok(trails)
    }
}

/// Re-keys records made under a lead id that has since joined another lead.
async fn follow_merges<T>(
    store: &Store,
    leads: &HashSet<String>,
    by_lead: HashMap<String, Vec<T>>,
) -> Result<HashMap<String, Vec<T>>, StoreError> {
    let gone: Vec<String> = by_lead
        .keys()
        .filter(|id| !leads.contains(*id))
        .cloned()
        .collect();
    if gone.is_empty() {
        return Ok(by_lead);
    }
    let roots: HashMap<String, String> = store
        .trails(&gone)
        .await?
        .into_iter()
        .map(|t| (t.id, t.root))
        .collect();
    let mut out: HashMap<String, Vec<T>> = HashMap::new();
    for (id, records) in by_lead {
        let id = roots.get(&id).cloned().unwrap_or(id);
        out.entry(id).or_default().extend(records);
    }
    Ok(out)
}

/// Reads the facts of the leads first seen in `period`, from what the writer maintains: stage
/// moves, outcomes, activities, and the durable scoring state (each id's traits with their set
/// times, first touch, and when each event name and engagement rule was first seen). Nothing
/// replays the event log. With a model, also what attribution needs: engagement rules and
/// event names seen before each lead's cut-off, and fit rules and attribute values as of then.
pub async fn gather(
    store: &Store,
    model: Option<&Model>,
    period: Period,
    max_values: usize,
) -> Result<Facts, StoreError> {
    let mut rows = Vec::new();
    let mut after = String::new();
    loop {
        // The funnel needs only each lead's source: the database picks it out.
        let page = match model {
            Some(_) => store.report_leads_after(&after, PAGE).await?,
            None => store.report_lead_sources_after(&after, PAGE).await?,
        };
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        rows.extend(page.into_iter().filter(|r| period.contains(r.created_ms)));
    }
    let ids: HashSet<String> = rows.iter().map(|r| r.id.clone()).collect();
    let trails = Trails::read(store, model.is_some()).await?;

    let mut moves: HashMap<String, Vec<sluice_store::StageMove>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.stage_moves_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for m in page {
            moves.entry(m.lead_id.clone()).or_default().push(m);
        }
    }
    let moves = follow_merges(store, &ids, moves).await?;
    let mut outcomes: HashMap<String, Vec<sluice_store::ReportOutcome>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.outcomes_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for o in page {
            outcomes.entry(o.lead_id.clone()).or_default().push(o);
        }
    }
    let outcomes = follow_merges(store, &ids, outcomes).await?;
    let contacted: HashMap<String, Vec<()>> = store
        .contacted_leads()
        .await?
        .into_iter()
        .map(|(lead, _)| (lead, vec![()]))
        .collect();
    let contacted: HashSet<String> = follow_merges(store, &ids, contacted)
        .await?
        .into_keys()
        .collect();
    let mut accounts: HashMap<String, Attributes> = HashMap::new();
    if model.is_some() {
        let mut after = String::new();
        loop {
            let page = store.accounts_after(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            accounts.extend(page.into_iter().map(|a| (a.id, a.attributes)));
        }
    }
    let rule_index: HashMap<&str, u32> = model
        .map(|m| {
            m.engagement()
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.as_str(), i as u32))
                .collect()
        })
        .unwrap_or_default();

    let mut catalogue = model.map(|m| Catalogue::new(m, max_values));
    let mut leads: Vec<LeadFacts> = Vec::new();
    {
        for row in rows {
            let mut facts = LeadFacts::new(Timestamp::from_millis(row.created_ms));
            facts.journey = journey(
                row.created_ms,
                moves.get(&row.id).map(Vec::as_slice).unwrap_or_default(),
                outcomes.get(&row.id).map(Vec::as_slice).unwrap_or_default(),
            );
            if let Some(first) = moves
                .get(&row.id)
                .into_iter()
                .flatten()
                .filter(|m| m.to == Stage::Mql)
                .min_by_key(|m| (m.at_ms, m.seq))
            {
                facts.grade = first.grade.clone();
                facts.model_version = first.model_version.clone();
            }
            for o in outcomes.get(&row.id).into_iter().flatten() {
                match o.kind.parse::<OutcomeKind>() {
                    Ok(OutcomeKind::Opportunity) => facts.pipeline += o.amount.unwrap_or(0.0),
                    Ok(OutcomeKind::Won) => facts.bookings += o.amount.unwrap_or(0.0),
                    _ => {}
                }
            }
            facts.source = match row.attributes.get("lead_source") {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                _ => None,
            };
            facts.contacted = contacted.contains(&row.id);
            let own = trails
                .of_lead
                .get(&row.id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            facts.first_touch =
                trails
                    .first_touch
                    .get(&row.id)
                    .cloned()
                    .and_then(|(_, campaign)| {
                        let context: Attributes =
                            [("campaign".to_string(), campaign)].into_iter().collect();
                        Utm::from_context(&context)
                    });
            if let (Some(model), Some(catalogue)) = (model, catalogue.as_mut()) {
                let cutoff = facts.journey.cutoff().map(|c| c.millis());
                let before = |ms: i64| cutoff.is_none_or(|c| ms < c);
                for t in own {
                    let (events, rules) = crate::live::decode_seen(&t.seen);
                    for (name, ms) in events {
                        if before(ms) {
                            facts.features.push(catalogue.event(&name));
                        }
                    }
                    for (rule, ms) in rules {
                        // Engagement rules come first in the catalogue: a rule's index is its
                        // feature's.
                        if before(ms)
                            && let Some(&i) = rule_index.get(rule.as_str())
                        {
                            facts.features.push(i);
                        }
                    }
                }
                let account = row.account_id.as_ref().and_then(|a| accounts.get(a));
                match cutoff {
                    // What it looked like before its cut-off: later traits would leak the
                    // outcome into its features.
                    Some(cutoff) => {
                        let mut traits = sluice_core::history::Traits::new();
                        for t in own {
                            traits.absorb(&crate::live::decode_traits(&t.traits));
                        }
                        let attributes = traits.as_of(Timestamp::from_millis(cutoff));
                        who_it_is(model, catalogue, &mut facts, &attributes, account);
                    }
                    None => who_it_is(model, catalogue, &mut facts, &row.attributes, account),
                }
            }
            facts.features.sort_unstable();
            facts.features.dedup();
            leads.push(facts);
        }
    }
    Ok(Facts {
        leads,
        features: catalogue.map(|c| c.features).unwrap_or_default(),
    })
}

/// A lead's journey from its creation, its stage moves and its outcomes.
fn journey(
    created_ms: i64,
    moves: &[sluice_store::StageMove],
    outcomes: &[sluice_store::ReportOutcome],
) -> Journey {
    let mut journey = Journey::new(Timestamp::from_millis(created_ms));
    for m in moves {
        journey.moved(m.to, Timestamp::from_millis(m.at_ms));
    }
    for o in outcomes {
        if let Ok(kind) = o.kind.parse() {
            journey.outcome(kind, Timestamp::from_millis(o.at_ms));
        }
    }
    journey
}

/// Records the fit rules that hold for a lead and its categorical attribute values (its own,
/// and its account's as `account.<name>`).
fn who_it_is(
    model: &Model,
    catalogue: &mut Catalogue,
    facts: &mut LeadFacts,
    lead: &Attributes,
    account: Option<&Attributes>,
) {
    let engagement_rules = model.engagement().rules.len();
    let vars = Vars {
        lead: Some(lead),
        account,
        event: None,
    };
    for (i, rule) in model.fit().rules.iter().enumerate() {
        if rule.when.matches(vars) {
            facts.features.push((engagement_rules + i) as u32);
        }
    }
    let empty = Attributes::new();
    let values = categorical(lead, "").chain(categorical(account.unwrap_or(&empty), "account."));
    for (name, value) in values {
        if let Some(i) = catalogue.attribute(name, value) {
            facts.features.push(i);
        }
    }
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
